// kiln/vm/ops/elementwise.hpp: the CPU kernels of the dynamic module's elementwise ops: unary
// math, binary arithmetic with NumPy broadcasting, comparisons, logic, where, clip and cast.
//
// Every op runs over a loop nest made from the output's shape: each input gets a stride per
// output axis (0 where it is broadcast), and adjacent axes merge wherever every operand
// allows, so same-shape inputs become one row and a per-channel bias becomes rows with a
// fixed second operand. The rows are cut among the pool's threads when there is enough work.
//
// f32 rows run kiln's own tensor-expression kernels, built once for a dynamic 1-D extent
// (one per op, and per binary op one for each of "both operands vary", "first fixed" and
// "second fixed" along the row, so a broadcast operand is a vector broadcast, not a gather).
// Other dtypes (and the f32 ops without such a kernel: sin, cos, mod, comparisons, rows too
// short to be worth a kernel call) take a generic loop that computes in double or int64 on
// blocks of a row. Integer arithmetic wraps; integer division and modulo by zero give 0 instead of
// trapping; casts from floating point to integers saturate (NaN gives 0).
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../../backend/cpu/rules.hpp"
#include "../../core/dtype.hpp"
#include "../../kernels/elementwise.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/tensor_view.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace elementwise_impl {

using relax::OpFamily;
using relax::OpKind;

// ---- the loop nest ------------------------------------------------------------------------------

inline constexpr int kMaxOperands = 4;  // the output, then up to three inputs (where)

// The output's axes after merging, and each operand's stride along them (operand 0 is the
// output; a stride of 0 broadcasts).
struct Nest {
  int operands = 0;
  int rank = 0;
  std::int64_t dims[kMaxRank] = {};
  std::int64_t strides[kMaxOperands][kMaxRank] = {};

  std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (int a = 0; a < rank; ++a) n *= dims[a];
    return n;
  }
  std::int64_t row_stride(int operand) const noexcept { return strides[operand][rank - 1]; }
  std::int64_t row_length() const noexcept { return dims[rank - 1]; }
};

// The nest of `out` and `inputs` (null entries are skipped by the caller, never passed). An
// input that does not broadcast to the output is an error naming the op.
inline Status make_nest(OpKind op, const Slot& out, std::initializer_list<const Slot*> inputs, Nest& nest) {
  Nest full;
  full.operands = 1 + static_cast<int>(inputs.size());
  full.rank = out.rank;
  for (int a = 0; a < out.rank; ++a) {
    full.dims[a] = out.dims[a];
    full.strides[0][a] = out.strides[a];
  }
  int k = 1;
  for (const Slot* in : inputs) {
    const int shift = out.rank - in->rank;
    if (shift < 0)
      return cpu_support::op_error(StatusCode::shape_mismatch, op, "input ", k - 1, " has rank ", in->rank,
                                   ", more than the output's ", out.rank);
    for (int a = 0; a < out.rank; ++a) {
      std::int64_t stride = 0;
      if (a >= shift) {
        const std::int64_t d = in->dims[a - shift];
        if (d == out.dims[a]) stride = out.dims[a] == 1 ? 0 : in->strides[a - shift];
        else if (d != 1)
          return cpu_support::op_error(StatusCode::shape_mismatch, op, "input ", k - 1, " has extent ", d,
                                       " on axis ", a - shift, ", which does not broadcast to ", out.dims[a]);
      }
      full.strides[k][a] = stride;
    }
    ++k;
  }
  // Drop axes of extent 1 and merge an axis into the one inside it when every operand
  // steps through both as through one.
  nest = Nest{};
  nest.operands = full.operands;
  for (int a = 0; a < full.rank; ++a) {
    if (full.dims[a] == 1) continue;
    bool merges = nest.rank > 0;
    for (int op_index = 0; merges && op_index < full.operands; ++op_index)
      merges = full.strides[op_index][a] * full.dims[a] == nest.strides[op_index][nest.rank - 1];
    if (merges) {
      nest.dims[nest.rank - 1] *= full.dims[a];
      for (int op_index = 0; op_index < full.operands; ++op_index)
        nest.strides[op_index][nest.rank - 1] = full.strides[op_index][a];
    } else {
      nest.dims[nest.rank] = full.dims[a];
      for (int op_index = 0; op_index < full.operands; ++op_index)
        nest.strides[op_index][nest.rank] = full.strides[op_index][a];
      ++nest.rank;
    }
  }
  if (nest.rank == 0) {  // a single element
    nest.rank = 1;
    nest.dims[0] = 1;
  }
  return {};
}

// A row function: called with the row's length and each operand's element offset at its start.
using RowFunction = void (*)(const void* context, std::int64_t n, const std::int64_t* offsets);

// Calls row(context, n, offsets) for every run of the innermost axis; rows (or pieces of few
// long rows) are shared among the pool's threads when there is enough work. Not a template,
// so that the ops share one copy of the nest walk.
inline void for_each_row_of(const Nest& nest, ThreadPool* pool, const void* context, RowFunction row) {
  const int last = nest.rank - 1;
  const std::int64_t length = nest.dims[last];
  std::int64_t rows = 1;
  for (int a = 0; a < last; ++a) rows *= nest.dims[a];
  if (rows == 0 || length == 0) return;
  std::int64_t segment = length;
  const int threads = pool != nullptr ? pool->size() : 1;
  if (threads > 1 && rows < 2 * threads && rows * length >= cpu_support::kParallelMinElements) {
    const std::int64_t pieces = (2 * threads + rows - 1) / rows;
    segment = std::max<std::int64_t>((length + pieces - 1) / pieces, 1024);
    segment = (segment + 63) / 64 * 64;  // whole vectors in every piece but the last
  }
  const std::int64_t segments = (length + segment - 1) / segment;
  cpu_support::parallel_items(pool, rows * segments, segment, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t index[kMaxRank] = {};
    std::int64_t base[kMaxOperands] = {};
    std::int64_t remaining = begin / segments;
    for (int a = last - 1; a >= 0; --a) {
      index[a] = remaining % nest.dims[a];
      remaining /= nest.dims[a];
      for (int k = 0; k < nest.operands; ++k) base[k] += index[a] * nest.strides[k][a];
    }
    std::int64_t seg = begin % segments;
    std::int64_t offsets[kMaxOperands] = {};
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t start = seg * segment;
      for (int k = 0; k < nest.operands; ++k) offsets[k] = base[k] + start * nest.strides[k][last];
      row(context, std::min(segment, length - start), offsets);
      if (++seg < segments) continue;
      seg = 0;
      for (int a = last - 1; a >= 0; --a) {  // the next row: an odometer over the outer axes
        for (int k = 0; k < nest.operands; ++k) base[k] += nest.strides[k][a];
        if (++index[a] < nest.dims[a]) break;
        for (int k = 0; k < nest.operands; ++k) base[k] -= nest.strides[k][a] * nest.dims[a];
        index[a] = 0;
      }
    }
  });
}

// for_each_row_of with a callable row(n, offsets).
template <class Row>
void for_each_row(const Nest& nest, ThreadPool* pool, const Row& row) {
  for_each_row_of(nest, pool, &row, [](const void* context, std::int64_t n, const std::int64_t* offsets) {
    (*static_cast<const Row*>(context))(n, offsets);
  });
}

// ---- element types and conversions ------------------------------------------------------------

// The type arithmetic happens in: f16 and bf16 compute in f32.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float, T>;

template <class T>
inline constexpr bool is_narrow_float_v = std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

// A value converted to another element type: to bool as "not zero", from floating point to
// an integer truncated and saturated (NaN gives 0), integers to integers modulo 2^bits.
template <class To, class From>
To convert_element(From v) noexcept {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_narrow_float_v<From>) return static_cast<float>(v) != 0.0f;
    else return v != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    if constexpr (is_narrow_float_v<To>) return To(v ? 1.0f : 0.0f);
    else return static_cast<To>(v ? 1 : 0);
  } else if constexpr (std::is_integral_v<To>) {
    if constexpr (std::is_integral_v<From>) {
      return static_cast<To>(v);
    } else {
      const double d = static_cast<double>(static_cast<compute_t<From>>(v));
      constexpr double lowest = static_cast<double>(std::numeric_limits<To>::lowest());
      constexpr double highest = static_cast<double>(std::numeric_limits<To>::max());
      if (!(d == d)) return To(0);
      if (d <= lowest) return std::numeric_limits<To>::lowest();
      if (d >= highest) return std::numeric_limits<To>::max();
      return static_cast<To>(d);
    }
  } else if constexpr (is_narrow_float_v<To>) {
    if constexpr (std::is_same_v<From, double>) return To(v);
    else return To(static_cast<float>(static_cast<compute_t<From>>(v)));
  } else {
    return static_cast<To>(static_cast<compute_t<From>>(v));
  }
}

// x < 0 without a warning for unsigned types.
template <class C>
constexpr bool is_negative(C x) noexcept {
  if constexpr (std::is_signed_v<C>) return x < C(0);
  else return false;
}

// Two's-complement wrap-around for integer arithmetic (no undefined overflow).
template <class T>
T wrap(std::uint64_t bits) noexcept {
  return static_cast<T>(bits);
}
template <class T>
std::uint64_t bits_of(T v) noexcept {
  return static_cast<std::uint64_t>(v);
}

// ---- element functions ------------------------------------------------------------------------
// Each `with_*` calls use(fn) with the scalar function of `op` in compute type C, one
// instantiation of the caller's loop per op; false when the op has no function for C.

template <class C, class Use>
bool with_float_unary(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::identity: use([](C x) { return x; }); return true;
    case OpKind::neg: use([](C x) { return -x; }); return true;
    case OpKind::abs: use([](C x) { return std::fabs(x); }); return true;
    case OpKind::sign: use([](C x) { return x > C(0) ? C(1) : (x < C(0) ? C(-1) : x); }); return true;
    case OpKind::relu: use([](C x) { return x < C(0) ? C(0) : x; }); return true;
    case OpKind::sigmoid: use([](C x) { return C(1) / (C(1) + std::exp(-x)); }); return true;
    case OpKind::tanh: use([](C x) { return std::tanh(x); }); return true;
    case OpKind::exp: use([](C x) { return std::exp(x); }); return true;
    case OpKind::log: use([](C x) { return std::log(x); }); return true;
    case OpKind::sqrt: use([](C x) { return std::sqrt(x); }); return true;
    case OpKind::rsqrt: use([](C x) { return C(1) / std::sqrt(x); }); return true;
    case OpKind::reciprocal: use([](C x) { return C(1) / x; }); return true;
    case OpKind::floor: use([](C x) { return std::floor(x); }); return true;
    case OpKind::ceil: use([](C x) { return std::ceil(x); }); return true;
    case OpKind::round: use([](C x) { return std::nearbyint(x); }); return true;  // halves to even
    case OpKind::sin: use([](C x) { return std::sin(x); }); return true;
    case OpKind::cos: use([](C x) { return std::cos(x); }); return true;
    case OpKind::tan: use([](C x) { return std::tan(x); }); return true;
    case OpKind::asin: use([](C x) { return std::asin(x); }); return true;
    case OpKind::acos: use([](C x) { return std::acos(x); }); return true;
    case OpKind::atan: use([](C x) { return std::atan(x); }); return true;
    case OpKind::sinh: use([](C x) { return std::sinh(x); }); return true;
    case OpKind::cosh: use([](C x) { return std::cosh(x); }); return true;
    case OpKind::asinh: use([](C x) { return std::asinh(x); }); return true;
    case OpKind::acosh: use([](C x) { return std::acosh(x); }); return true;
    case OpKind::atanh: use([](C x) { return std::atanh(x); }); return true;
    case OpKind::erf: use([](C x) { return std::erf(x); }); return true;
    case OpKind::gelu:
      use([](C x) { return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440))); });
      return true;
    case OpKind::silu: use([](C x) { return x / (C(1) + std::exp(-x)); }); return true;
    default: return false;
  }
}

template <class C, class Use>
bool with_integer_unary(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::identity: use([](C x) { return x; }); return true;
    case OpKind::neg: use([](C x) { return wrap<C>(0 - bits_of(x)); }); return true;
    case OpKind::abs: use([](C x) { return is_negative(x) ? wrap<C>(0 - bits_of(x)) : x; }); return true;
    case OpKind::sign: use([](C x) { return x > C(0) ? C(1) : (is_negative(x) ? static_cast<C>(-1) : C(0)); }); return true;
    case OpKind::relu: use([](C x) { return is_negative(x) ? C(0) : x; }); return true;
    default: return false;
  }
}

template <class C, class Use>
bool with_float_binary(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::add: use([](C a, C b) { return a + b; }); return true;
    case OpKind::subtract: use([](C a, C b) { return a - b; }); return true;
    case OpKind::multiply: use([](C a, C b) { return a * b; }); return true;
    case OpKind::divide: use([](C a, C b) { return a / b; }); return true;
    case OpKind::power: use([](C a, C b) { return std::pow(a, b); }); return true;
    case OpKind::maximum: use([](C a, C b) { return a < b ? b : a; }); return true;
    case OpKind::minimum: use([](C a, C b) { return a < b ? a : b; }); return true;
    case OpKind::mod: use([](C a, C b) { return std::fmod(a, b); }); return true;  // the dividend's sign
    default: return false;
  }
}

template <class C>
C integer_power(C base, C exponent) noexcept {
  if constexpr (std::is_signed_v<C>) {
    if (exponent < C(0)) {  // 1 / base^-e, truncated
      if (base == C(1)) return C(1);
      if (base == C(-1)) return (bits_of(exponent) & 1) != 0 ? C(-1) : C(1);
      return C(0);
    }
  }
  std::uint64_t result = 1, factor = bits_of(base), e = bits_of(exponent);
  for (; e != 0; e >>= 1) {
    if ((e & 1) != 0) result *= factor;
    factor *= factor;
  }
  return wrap<C>(result);
}

template <class C, class Use>
bool with_integer_binary(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::add: use([](C a, C b) { return wrap<C>(bits_of(a) + bits_of(b)); }); return true;
    case OpKind::subtract: use([](C a, C b) { return wrap<C>(bits_of(a) - bits_of(b)); }); return true;
    case OpKind::multiply: use([](C a, C b) { return wrap<C>(bits_of(a) * bits_of(b)); }); return true;
    case OpKind::divide:  // truncating; by zero gives 0, lowest / -1 wraps
      use([](C a, C b) {
        if (b == C(0)) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (b == C(-1)) return wrap<C>(0 - bits_of(a));
        }
        return static_cast<C>(a / b);
      });
      return true;
    case OpKind::mod:  // the divisor's sign, as ONNX's integer Mod; by zero gives 0
      use([](C a, C b) {
        if (b == C(0)) return C(0);
        if constexpr (std::is_signed_v<C>) {
          if (b == C(-1)) return C(0);
          C r = static_cast<C>(a % b);
          if (r != C(0) && ((r < C(0)) != (b < C(0)))) r = static_cast<C>(r + b);
          return r;
        } else {
          return static_cast<C>(a % b);
        }
      });
      return true;
    case OpKind::power: use([](C a, C b) { return integer_power(a, b); }); return true;
    case OpKind::maximum: use([](C a, C b) { return a < b ? b : a; }); return true;
    case OpKind::minimum: use([](C a, C b) { return a < b ? a : b; }); return true;
    default: return false;
  }
}

template <class C, class Use>
bool with_compare(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::equal: use([](C a, C b) { return a == b; }); return true;
    case OpKind::not_equal: use([](C a, C b) { return a != b; }); return true;
    case OpKind::less: use([](C a, C b) { return a < b; }); return true;
    case OpKind::less_equal: use([](C a, C b) { return a <= b; }); return true;
    case OpKind::greater: use([](C a, C b) { return a > b; }); return true;
    case OpKind::greater_equal: use([](C a, C b) { return a >= b; }); return true;
    default: return false;
  }
}

template <class Use>
bool with_logical(OpKind op, Use&& use) {
  switch (op) {
    case OpKind::logical_and: use([](bool a, bool b) { return a && b; }); return true;
    case OpKind::logical_or: use([](bool a, bool b) { return a || b; }); return true;
    case OpKind::logical_xor: use([](bool a, bool b) { return a != b; }); return true;
    default: return false;
  }
}

// ---- the generic path: blocks of double, int64 or uint64 -----------------------------------------
// Any dtype computes in double (floating-point dtypes, exact for all of them), uint64 (u64,
// whose upper half int64 would read as negative) or int64 (the other integers and bool;
// wrapping there and truncating on the store is the element type's own wrap-around). A row is
// loaded into a block, the op runs on the block, and the block is stored back converted: the
// instantiations grow with dtypes plus ops, not their product.

// Calls use.template operator()<Acc>() with the integer block type of an integer dtype.
template <class Use>
decltype(auto) with_integer_block(DType dtype, Use&& use) {
  if (dtype == DType::u64) return use.template operator()<std::uint64_t>();
  return use.template operator()<std::int64_t>();
}

inline constexpr std::int64_t kBlock = 256;

template <class Acc>
void load_block(const Slot& s, std::int64_t offset, std::int64_t stride, std::int64_t n, Acc* out) {
  visit_dtype(s.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = s.data_as<const T>() + offset;
    for (std::int64_t i = 0; i < n; ++i) out[i] = convert_element<Acc>(p[i * stride]);
  });
}

template <class Acc>
void store_block(const Slot& s, std::int64_t offset, std::int64_t stride, std::int64_t n, const Acc* in) {
  visit_dtype(s.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = s.data_as<T>() + offset;
    for (std::int64_t i = 0; i < n; ++i) p[i * stride] = convert_element<T>(in[i]);
  });
}

// out = fn(x) (fn: Acc -> Acc or bool), through blocks of Acc.
template <class Acc, class Fn>
void map_rows(const Nest& nest, ThreadPool* pool, const Slot& out, const Slot& x, Fn fn) {
  const std::int64_t so = nest.row_stride(0), sx = nest.row_stride(1);
  for_each_row(nest, pool, [&](std::int64_t n, const std::int64_t* at) {
    Acc block[kBlock];
    for (std::int64_t i = 0; i < n; i += kBlock) {
      const std::int64_t m = std::min(kBlock, n - i);
      load_block(x, at[1] + i * sx, sx, m, block);
      for (std::int64_t j = 0; j < m; ++j) block[j] = static_cast<Acc>(fn(block[j]));
      store_block(out, at[0] + i * so, so, m, static_cast<const Acc*>(block));
    }
  });
}

// out = fn(a, b), through blocks of Acc.
template <class Acc, class Fn>
void zip_rows(const Nest& nest, ThreadPool* pool, const Slot& out, const Slot& a, const Slot& b, Fn fn) {
  const std::int64_t so = nest.row_stride(0), sa = nest.row_stride(1), sb = nest.row_stride(2);
  for_each_row(nest, pool, [&](std::int64_t n, const std::int64_t* at) {
    Acc lhs[kBlock], rhs[kBlock];
    for (std::int64_t i = 0; i < n; i += kBlock) {
      const std::int64_t m = std::min(kBlock, n - i);
      load_block(a, at[1] + i * sa, sa, m, lhs);
      load_block(b, at[2] + i * sb, sb, m, rhs);
      for (std::int64_t j = 0; j < m; ++j) lhs[j] = static_cast<Acc>(fn(lhs[j], rhs[j]));
      store_block(out, at[0] + i * so, so, m, static_cast<const Acc*>(lhs));
    }
  });
}

// ---- f32 rows through tensor-expression kernels -----------------------------------------------

template <class T>
DynTensorView<T, 1> row_view(T* data, std::int64_t n, std::int64_t stride) noexcept {
  DynShape<1> shape;
  DynStride<1> step;
  shape.dynamic.values[0] = n;
  step.dynamic.values[0] = stride;
  return DynTensorView<T, 1>(data, shape, step);
}

// Whether f32 `op` has a tensor-expression form (the trigonometric and hyperbolic functions
// other than tanh do not; identity is a copy).
constexpr bool has_f32_unary_expression(OpKind op) noexcept {
  switch (op) {
    case OpKind::identity:
    case OpKind::logical_not:
    case OpKind::sin:
    case OpKind::cos:
    case OpKind::tan:
    case OpKind::asin:
    case OpKind::acos:
    case OpKind::atan:
    case OpKind::sinh:
    case OpKind::cosh:
    case OpKind::asinh:
    case OpKind::acosh:
    case OpKind::atanh: return false;
    default: return relax::op_info(op).family == OpFamily::unary;
  }
}

template <OpKind Op, class X>
constexpr auto f32_unary_expression(X x) noexcept {
  if constexpr (Op == OpKind::neg) return -x;
  else if constexpr (Op == OpKind::abs) return te::abs(x);
  else if constexpr (Op == OpKind::sign) return te::select(x > 0.0f, 1.0f, te::select(x < 0.0f, -1.0f, x));
  else if constexpr (Op == OpKind::relu) return te::select(x < 0.0f, 0.0f, x);
  else if constexpr (Op == OpKind::sigmoid) return te::sigmoid(x);
  else if constexpr (Op == OpKind::tanh) return te::tanh(x);
  else if constexpr (Op == OpKind::exp) return te::exp(x);
  else if constexpr (Op == OpKind::log) return te::log(x);
  else if constexpr (Op == OpKind::sqrt) return te::sqrt(x);
  else if constexpr (Op == OpKind::rsqrt) return te::rsqrt(x);
  else if constexpr (Op == OpKind::reciprocal) return 1.0f / x;
  else if constexpr (Op == OpKind::floor) return te::floor(x);
  else if constexpr (Op == OpKind::ceil) return te::ceil(x);
  else if constexpr (Op == OpKind::round) return te::round(x);  // halves to even
  else if constexpr (Op == OpKind::erf) return te::erf(x);
  else if constexpr (Op == OpKind::gelu) return x * 0.5f * (1.0f + te::erf(x * 0.70710678118654752440f));
  else if constexpr (Op == OpKind::silu) return x * te::sigmoid(x);
  else static_assert(Op == OpKind::neg, "no f32 expression for this unary op");
}

// One kernel per op for the whole program: built on first use, then only run (const and
// allocation-free for a single-stage kernel, so threads may share it).
template <OpKind Op>
const auto& f32_unary_kernel() {
  static const auto kernel = cpu::build(
      kernels::unary(te::extents(te::dim<"n">), [](auto x) { return f32_unary_expression<Op>(x); }));
  return kernel;
}

using F32UnaryRow = Status (*)(const float* x, std::int64_t x_stride, float* y, std::int64_t n);

template <OpKind Op>
Status f32_unary_row(const float* x, std::int64_t x_stride, float* y, std::int64_t n) {
  return f32_unary_kernel<Op>().run(nullptr, row_view(x, n, x_stride), row_view(y, n, std::int64_t{1}));
}

inline F32UnaryRow f32_unary_row_for(OpKind op) noexcept {
  switch (op) {
    case OpKind::neg: return &f32_unary_row<OpKind::neg>;
    case OpKind::abs: return &f32_unary_row<OpKind::abs>;
    case OpKind::sign: return &f32_unary_row<OpKind::sign>;
    case OpKind::relu: return &f32_unary_row<OpKind::relu>;
    case OpKind::sigmoid: return &f32_unary_row<OpKind::sigmoid>;
    case OpKind::tanh: return &f32_unary_row<OpKind::tanh>;
    case OpKind::exp: return &f32_unary_row<OpKind::exp>;
    case OpKind::log: return &f32_unary_row<OpKind::log>;
    case OpKind::sqrt: return &f32_unary_row<OpKind::sqrt>;
    case OpKind::rsqrt: return &f32_unary_row<OpKind::rsqrt>;
    case OpKind::reciprocal: return &f32_unary_row<OpKind::reciprocal>;
    case OpKind::floor: return &f32_unary_row<OpKind::floor>;
    case OpKind::ceil: return &f32_unary_row<OpKind::ceil>;
    case OpKind::round: return &f32_unary_row<OpKind::round>;
    case OpKind::erf: return &f32_unary_row<OpKind::erf>;
    case OpKind::gelu: return &f32_unary_row<OpKind::gelu>;
    case OpKind::silu: return &f32_unary_row<OpKind::silu>;
    default: return nullptr;
  }
}

// How the two operands of a binary row move: both along the row, or one fixed (broadcast).
enum class RowOperands { both_vary, first_fixed, second_fixed };

template <OpKind Op, class A, class B>
constexpr auto f32_binary_expression(A a, B b) noexcept {
  if constexpr (Op == OpKind::add) return a + b;
  else if constexpr (Op == OpKind::subtract) return a - b;
  else if constexpr (Op == OpKind::multiply) return a * b;
  else if constexpr (Op == OpKind::divide) return a / b;
  else if constexpr (Op == OpKind::power) return te::pow(a, b);
  else if constexpr (Op == OpKind::maximum) return te::max(a, b);
  else if constexpr (Op == OpKind::minimum) return te::min(a, b);
  else static_assert(Op == OpKind::add, "no f32 expression for this binary op");
}

template <OpKind Op, RowOperands R>
const auto& f32_binary_kernel() {
  // A fixed operand has the static extent 1: its load ignores the row's axis and becomes a
  // vector broadcast.
  static const auto kernel = [] {
    const auto fn = [](auto a, auto b) { return f32_binary_expression<Op>(a, b); };
    if constexpr (R == RowOperands::both_vary)
      return cpu::build(kernels::broadcast_binary(te::extents(te::dim<"n">), te::extents(te::dim<"n">), fn));
    else if constexpr (R == RowOperands::first_fixed)
      return cpu::build(kernels::broadcast_binary(te::extents(Int<1>{}), te::extents(te::dim<"n">), fn));
    else
      return cpu::build(kernels::broadcast_binary(te::extents(te::dim<"n">), te::extents(Int<1>{}), fn));
  }();
  return kernel;
}

using F32BinaryRow = Status (*)(const float* a, std::int64_t a_stride, const float* b, std::int64_t b_stride,
                                float* y, std::int64_t n);

template <OpKind Op, RowOperands R>
Status f32_binary_row(const float* a, std::int64_t a_stride, const float* b, std::int64_t b_stride, float* y,
                      std::int64_t n) {
  const std::int64_t na = R == RowOperands::first_fixed ? 1 : n;
  const std::int64_t nb = R == RowOperands::second_fixed ? 1 : n;
  return f32_binary_kernel<Op, R>().run(nullptr, row_view(a, na, a_stride), row_view(b, nb, b_stride),
                                        row_view(y, n, std::int64_t{1}));
}

template <OpKind Op>
F32BinaryRow f32_binary_row_of(RowOperands r) noexcept {
  switch (r) {
    case RowOperands::both_vary: return &f32_binary_row<Op, RowOperands::both_vary>;
    case RowOperands::first_fixed: return &f32_binary_row<Op, RowOperands::first_fixed>;
    case RowOperands::second_fixed: return &f32_binary_row<Op, RowOperands::second_fixed>;
  }
  return nullptr;
}

inline F32BinaryRow f32_binary_row_for(OpKind op, RowOperands r) noexcept {
  switch (op) {
    case OpKind::add: return f32_binary_row_of<OpKind::add>(r);
    case OpKind::subtract: return f32_binary_row_of<OpKind::subtract>(r);
    case OpKind::multiply: return f32_binary_row_of<OpKind::multiply>(r);
    case OpKind::divide: return f32_binary_row_of<OpKind::divide>(r);
    case OpKind::power: return f32_binary_row_of<OpKind::power>(r);
    case OpKind::maximum: return f32_binary_row_of<OpKind::maximum>(r);
    case OpKind::minimum: return f32_binary_row_of<OpKind::minimum>(r);
    default: return nullptr;
  }
}

// clip(x, lo, hi) = min(max(x, lo), hi) with the bounds as 1-element inputs.
inline const auto& f32_clip_kernel() {
  static const auto kernel = [] {
    constexpr auto X = te::placeholder<float, "X">(te::dim<"n">);
    constexpr auto Lo = te::placeholder<float, "Lo">(Int<1>{});
    constexpr auto Hi = te::placeholder<float, "Hi">(Int<1>{});
    return cpu::build(te::compute<"Y">(te::extents(te::dim<"n">),
                                       [=](auto i) { return te::min(te::max(X(i), Lo(0)), Hi(0)); }));
  }();
  return kernel;
}

// Rows shorter than this run the scalar loop: a kernel call per row would cost more.
inline constexpr std::int64_t kMinKernelRow = 16;

// Runs a row function that returns a Status on every row; the first failure is returned.
template <class RowFn>
Status for_each_row_checked(const Nest& nest, ThreadPool* pool, OpKind op, RowFn&& row) {
  std::atomic<bool> failed{false};
  for_each_row(nest, pool, [&](std::int64_t n, const std::int64_t* at) {
    if (!row(n, at).ok()) failed.store(true, std::memory_order_relaxed);
  });
  if (failed.load()) return cpu_support::op_error(StatusCode::internal, op, "an f32 row kernel failed");
  return {};
}

// ---- the op families ------------------------------------------------------------------------------

inline Status run_unary(const OpCall& call, const Slot& out, const Slot& x) {
  Nest nest;
  KILN_RETURN_IF_ERROR(make_nest(call.op, out, {&x}, nest));
  if (nest.elements() == 0) return {};
  const OpKind op = call.op;
  if (op == OpKind::identity && nest.row_stride(0) == 1 && nest.row_stride(1) == 1) {
    const std::size_t item = size_of(x.dtype);
    auto* o = static_cast<std::byte*>(out.data);
    const auto* a = static_cast<const std::byte*>(x.data);
    for_each_row(nest, call.pool, [&](std::int64_t n, const std::int64_t* at) {
      std::memcpy(o + static_cast<std::size_t>(at[0]) * item, a + static_cast<std::size_t>(at[1]) * item,
                  static_cast<std::size_t>(n) * item);
    });
    return {};
  }
  if (x.dtype == DType::f32 && has_f32_unary_expression(op) && nest.row_stride(0) == 1 &&
      nest.row_length() >= kMinKernelRow) {
    const F32UnaryRow row = f32_unary_row_for(op);
    const float* a = x.data_as<const float>();
    float* y = out.data_as<float>();
    const std::int64_t sx = nest.row_stride(1);
    return for_each_row_checked(nest, call.pool, op, [&](std::int64_t n, const std::int64_t* at) {
      return row(a + at[1], sx, y + at[0], n);
    });
  }
  bool done = false;
  if (is_floating_point(x.dtype)) {
    done = with_float_unary<double>(op, [&](auto fn) { map_rows<double>(nest, call.pool, out, x, fn); });
  } else if (x.dtype != DType::boolean) {
    done = with_integer_block(x.dtype, [&]<class Acc>() {
      return with_integer_unary<Acc>(op, [&](auto fn) { map_rows<Acc>(nest, call.pool, out, x, fn); });
    });
  } else if (op == OpKind::logical_not || op == OpKind::identity) {
    const bool negate = op == OpKind::logical_not;
    map_rows<std::int64_t>(nest, call.pool, out, x, [negate](std::int64_t v) { return (v != 0) != negate ? 1 : 0; });
    done = true;
  }
  if (!done) return cpu_support::dtype_unsupported(op, "input", x.dtype, "no kernel for this dtype");
  return {};
}

inline Status run_binary(const OpCall& call, const Slot& out, const Slot& a, const Slot& b) {
  Nest nest;
  KILN_RETURN_IF_ERROR(make_nest(call.op, out, {&a, &b}, nest));
  if (nest.elements() == 0) return {};
  const OpKind op = call.op;
  const OpFamily family = relax::op_info(op).family;
  if (family == OpFamily::binary && a.dtype == DType::f32 && nest.row_stride(0) == 1 &&
      nest.row_length() >= kMinKernelRow) {
    const std::int64_t sa = nest.row_stride(1), sb = nest.row_stride(2);
    const RowOperands shape = sa == 0   ? RowOperands::first_fixed
                              : sb == 0 ? RowOperands::second_fixed
                                        : RowOperands::both_vary;
    if (const F32BinaryRow row = f32_binary_row_for(op, shape)) {
      const float* pa = a.data_as<const float>();
      const float* pb = b.data_as<const float>();
      float* y = out.data_as<float>();
      return for_each_row_checked(nest, call.pool, op, [&](std::int64_t n, const std::int64_t* at) {
        return row(pa + at[1], sa, pb + at[2], sb, y + at[0], n);
      });
    }
  }
  bool done = false;
  const auto zip = [&]<class Acc>(auto fn) { zip_rows<Acc>(nest, call.pool, out, a, b, fn); };
  const bool real = is_floating_point(a.dtype);
  if (family == OpFamily::compare) {
    if (real) done = with_compare<double>(op, [&](auto fn) { zip.template operator()<double>(fn); });
    else done = with_integer_block(a.dtype, [&]<class Acc>() {
      return with_compare<Acc>(op, [&](auto fn) { zip.template operator()<Acc>(fn); });
    });
  } else if (family == OpFamily::logical) {
    if (a.dtype == DType::boolean && b.dtype == DType::boolean)
      done = with_logical(op, [&](auto fn) { zip.template operator()<std::int64_t>(fn); });
  } else if (real) {
    done = with_float_binary<double>(op, [&](auto fn) { zip.template operator()<double>(fn); });
  } else if (a.dtype != DType::boolean) {
    done = with_integer_block(a.dtype, [&]<class Acc>() {
      return with_integer_binary<Acc>(op, [&](auto fn) { zip.template operator()<Acc>(fn); });
    });
  }
  if (!done) return cpu_support::dtype_unsupported(op, "input", a.dtype, "no kernel for this dtype");
  return {};
}

inline Status run_where(const OpCall& call, const Slot& out, const Slot& condition, const Slot& x, const Slot& y) {
  Nest nest;
  KILN_RETURN_IF_ERROR(make_nest(call.op, out, {&condition, &x, &y}, nest));
  if (nest.elements() == 0) return {};
  const std::int64_t so = nest.row_stride(0), sc = nest.row_stride(1), sx = nest.row_stride(2),
                     sy = nest.row_stride(3);
  // Elements are copied, not converted: only their size matters.
  const auto copy = [&]<class Bits>() {
    Bits* o = static_cast<Bits*>(out.data);
    const bool* c = condition.data_as<const bool>();
    const Bits* px = static_cast<const Bits*>(x.data);
    const Bits* py = static_cast<const Bits*>(y.data);
    for_each_row(nest, call.pool, [&](std::int64_t n, const std::int64_t* at) {
      for (std::int64_t i = 0; i < n; ++i)
        o[at[0] + i * so] = c[at[1] + i * sc] ? px[at[2] + i * sx] : py[at[3] + i * sy];
    });
  };
  switch (size_of(out.dtype)) {
    case 1: copy.template operator()<std::uint8_t>(); break;
    case 2: copy.template operator()<std::uint16_t>(); break;
    case 4: copy.template operator()<std::uint32_t>(); break;
    default: copy.template operator()<std::uint64_t>(); break;
  }
  return {};
}

inline Status run_clip(const OpCall& call, const Slot& out, const Slot& x, const Slot* lo, const Slot* hi) {
  for (const Slot* bound : {lo, hi})
    if (bound != nullptr && bound->elements() != 1)
      return cpu_support::op_error(StatusCode::shape_mismatch, call.op, bound == lo ? "min" : "max",
                                   " must hold one element, got ", bound->elements());
  Nest nest;
  KILN_RETURN_IF_ERROR(make_nest(call.op, out, {&x}, nest));
  if (nest.elements() == 0) return {};
  if (x.dtype == DType::f32 && nest.row_stride(0) == 1 && nest.row_length() >= kMinKernelRow) {
    const float low = lo ? *lo->data_as<const float>() : -std::numeric_limits<float>::infinity();
    const float high = hi ? *hi->data_as<const float>() : std::numeric_limits<float>::infinity();
    const float* a = x.data_as<const float>();
    float* y = out.data_as<float>();
    const std::int64_t sx = nest.row_stride(1);
    const auto& kernel = f32_clip_kernel();
    return for_each_row_checked(nest, call.pool, call.op, [&](std::int64_t n, const std::int64_t* at) {
      return kernel.run(nullptr, row_view(a + at[1], n, sx), row_view(&low, 1, 1), row_view(&high, 1, 1),
                        row_view(y + at[0], n, std::int64_t{1}));
    });
  }
  if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(call.op, "input", x.dtype, "numeric dtypes only");
  const auto clamp = [&]<class Acc>() {
    const bool has_lo = lo != nullptr, has_hi = hi != nullptr;
    Acc low = 0, high = 0;
    if (has_lo) load_block(*lo, 0, 1, 1, &low);
    if (has_hi) load_block(*hi, 0, 1, 1, &high);
    map_rows<Acc>(nest, call.pool, out, x, [=](Acc v) {
      if (has_lo && v < low) v = low;
      if (has_hi && high < v) v = high;
      return v;
    });
  };
  if (is_floating_point(x.dtype)) clamp.template operator()<double>();
  else with_integer_block(x.dtype, clamp);
  return {};
}

inline Status run_cast(const OpCall& call, const Slot& out, const Slot& x) {
  Nest nest;
  KILN_RETURN_IF_ERROR(make_nest(call.op, out, {&x}, nest));
  if (nest.elements() == 0) return {};
  const auto convert = [&]<class Acc>() { map_rows<Acc>(nest, call.pool, out, x, [](Acc v) { return v; }); };
  if (is_floating_point(x.dtype)) convert.template operator()<double>();
  else with_integer_block(x.dtype, convert);
  return {};
}

inline Status run(const OpCall& call) {
  const OpKind op = call.op;
  const relax::OpInfo& info = relax::op_info(op);
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, info.min_inputs));
  const Slot& out = call.output();
  switch (info.family) {
    case OpFamily::unary: return run_unary(call, out, *call.input(0));
    case OpFamily::binary:
    case OpFamily::compare:
    case OpFamily::logical: return run_binary(call, out, *call.input(0), *call.input(1));
    default: break;
  }
  switch (op) {
    case OpKind::where: return run_where(call, out, *call.input(0), *call.input(1), *call.input(2));
    case OpKind::clip: return run_clip(call, out, *call.input(0), call.input(1), call.input(2));
    case OpKind::cast: return run_cast(call, out, *call.input(0));
    default: return cpu_support::op_error(StatusCode::unsupported, op, "is not an elementwise op");
  }
}

// ---- what the kernels accept ----------------------------------------------------------------------

inline Status check_same_dtype(OpKind op, const relax::TensorType& a, const relax::TensorType& b) {
  if (a.dtype == b.dtype) return {};
  return cpu_support::op_error(StatusCode::dtype_mismatch, op, "inputs of dtypes ", to_string(a.dtype), " and ",
                               to_string(b.dtype), " are not supported (they must agree)");
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  using cpu_support::input_type;
  const OpKind op = binding.op;
  const relax::OpInfo& info = relax::op_info(op);
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, info.min_inputs, info.max_inputs));
  const relax::TensorType& x = *input_type(binding, fn, 0);
  const relax::TensorType& out = *cpu_support::output_type(binding, fn);
  for (std::size_t i = 0; i < binding.inputs.size(); ++i)
    if (const relax::TensorType* t = input_type(binding, fn, i); t && (t->rank < 0 || t->rank > out.rank))
      return cpu_support::op_error(StatusCode::unsupported, op, "input ", i, " has rank ", t->rank,
                                   ", which does not broadcast to the output's rank ", out.rank);
  if (out.rank < 0 || out.rank > kMaxRank)
    return cpu_support::op_error(StatusCode::unsupported, op, "outputs of more than ", kMaxRank,
                                 " dimensions are not supported");
  switch (info.family) {
    case OpFamily::unary:
      if (!relax::accepts(info.element, x.dtype))
        return cpu_support::dtype_unsupported(op, "input", x.dtype, str_cat(relax::describe(info.element), " dtype only"));
      if (out.dtype != x.dtype) return cpu_support::dtype_unsupported(op, "output", out.dtype, "the input's dtype");
      return {};
    case OpFamily::binary:
    case OpFamily::compare:
    case OpFamily::logical: {
      const relax::TensorType& y = *input_type(binding, fn, 1);
      if (info.family != OpFamily::logical) KILN_RETURN_IF_ERROR(check_same_dtype(op, x, y));
      for (const relax::TensorType* t : {&x, &y})
        if (!relax::accepts(info.element, t->dtype))
          return cpu_support::dtype_unsupported(op, "input", t->dtype,
                                                str_cat(relax::describe(info.element), " dtype only"));
      const DType expected = info.family == OpFamily::binary ? x.dtype : DType::boolean;
      if (out.dtype != expected) return cpu_support::dtype_unsupported(op, "output", out.dtype, to_string(expected));
      return {};
    }
    default: break;
  }
  switch (op) {
    case OpKind::where: {
      if (x.dtype != DType::boolean) return cpu_support::dtype_unsupported(op, "condition", x.dtype, "bool only");
      const relax::TensorType& a = *input_type(binding, fn, 1);
      const relax::TensorType& b = *input_type(binding, fn, 2);
      KILN_RETURN_IF_ERROR(check_same_dtype(op, a, b));
      if (out.dtype != a.dtype) return cpu_support::dtype_unsupported(op, "output", out.dtype, "the inputs' dtype");
      return {};
    }
    case OpKind::clip:
      if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(op, "input", x.dtype, "numeric dtypes only");
      for (std::size_t i = 1; i < binding.inputs.size(); ++i) {
        const relax::TensorType* bound = input_type(binding, fn, i);
        if (bound == nullptr) continue;
        KILN_RETURN_IF_ERROR(check_same_dtype(op, x, *bound));
        if (relax::prove_equal(bound->element_count(), 1) == relax::Truth::no)
          return cpu_support::op_error(StatusCode::unsupported, op, i == 1 ? "min" : "max",
                                       " must be a single element, got ", relax::to_string(*bound));
      }
      if (out.dtype != x.dtype) return cpu_support::dtype_unsupported(op, "output", out.dtype, "the input's dtype");
      return {};
    case OpKind::cast: {
      if (const auto* attrs = std::get_if<relax::CastAttrs>(&binding.attrs); attrs && attrs->to != out.dtype)
        return cpu_support::op_error(StatusCode::invalid_argument, op, "the output dtype ", to_string(out.dtype),
                                     " differs from the attribute to=", to_string(attrs->to));
      return {};
    }
    default: return cpu_support::op_error(StatusCode::unsupported, op, "is not an elementwise op");
  }
}

inline constexpr OpKernel kKernel{&supports, nullptr, &run};

} // namespace elementwise_impl

// The CPU kernel of an elementwise op (unary, binary, compare, logical, where, clip, cast);
// null for an op of another family.
inline const OpKernel* cpu_elementwise_kernel(relax::OpKind op) {
  const relax::OpFamily family = relax::op_info(op).family;
  const bool elementwise = family == relax::OpFamily::unary || family == relax::OpFamily::binary ||
                           family == relax::OpFamily::compare || family == relax::OpFamily::logical ||
                           op == relax::OpKind::where || op == relax::OpKind::clip || op == relax::OpKind::cast;
  return elementwise ? &elementwise_impl::kKernel : nullptr;
}

} // namespace kiln::vm
