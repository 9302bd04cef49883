// kiln/vm/ops/reduce.hpp: the CPU kernels of the dynamic module's reductions: reduce_sum,
// reduce_mean, reduce_max, reduce_min and reduce_prod over any set of axes, and argmax and
// argmin along one axis.
//
// The input's axes are merged into alternating runs of kept and reduced axes. When the last
// run is reduced, every output element reduces contiguous rows; when it is kept, every
// output row accumulates contiguous input rows element by element. Both inner loops are SIMD
// for f32. Empty reductions give the identity (0 for sum, 1 for prod, -inf / +inf for max /
// min; NaN for mean). f32 and f64 throughout, i64 for sum, prod, max and min; argmax and
// argmin take f32, f64, i64 and i32 (ties give the first index).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../../relax/attributes.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace reduce_impl {

using relax::OpKind;

enum class Reduction : std::uint8_t { sum, prod, max, min };

constexpr Reduction reduction_of(OpKind op) noexcept {
  switch (op) {
    case OpKind::reduce_prod: return Reduction::prod;
    case OpKind::reduce_max: return Reduction::max;
    case OpKind::reduce_min: return Reduction::min;
    default: return Reduction::sum;  // reduce_sum, reduce_mean
  }
}

template <class T>
constexpr T identity_of(Reduction r) noexcept {
  switch (r) {
    case Reduction::sum: return T(0);
    case Reduction::prod: return T(1);
    case Reduction::max:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::lowest();
    case Reduction::min:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  }
  return T(0);
}

template <class T>
T combine(Reduction r, T a, T b) noexcept {
  switch (r) {
    case Reduction::sum:
      if constexpr (std::is_integral_v<T>)  // wraps, as the elementwise kernels do
        return static_cast<T>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
      else return a + b;
    case Reduction::prod:
      if constexpr (std::is_integral_v<T>)
        return static_cast<T>(static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b));
      else return a * b;
    case Reduction::max: return a < b ? b : a;
    case Reduction::min: return b < a ? b : a;
  }
  return a;
}

// The reduction of a contiguous row.
template <class T>
T reduce_row(Reduction r, const T* x, std::int64_t n) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    switch (r) {
      case Reduction::sum: return cpu_support::row_sum(x, n);
      case Reduction::max: return cpu_support::row_max(x, n);
      case Reduction::min: return cpu_support::row_min(x, n);
      case Reduction::prod: break;
    }
  }
  T acc = identity_of<T>(r);
  for (std::int64_t i = 0; i < n; ++i) acc = combine(r, acc, x[i]);
  return acc;
}

// acc[i] = combine(acc[i], x[i]) over a contiguous row.
template <class T>
void accumulate_row(Reduction r, T* acc, const T* x, std::int64_t n) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    switch (r) {
      case Reduction::sum: cpu_support::combine_into(acc, x, n, [](auto a, auto b) { return a + b; }); return;
      case Reduction::prod: cpu_support::combine_into(acc, x, n, [](auto a, auto b) { return a * b; }); return;
      case Reduction::max: cpu_support::combine_into(acc, x, n, [](auto a, auto b) { return xsimd::max(a, b); }); return;
      case Reduction::min: cpu_support::combine_into(acc, x, n, [](auto a, auto b) { return xsimd::min(a, b); }); return;
    }
  }
  for (std::int64_t i = 0; i < n; ++i) acc[i] = combine(r, acc[i], x[i]);
}

// ---- the plan: merged runs of kept and reduced axes -----------------------------------------------

struct Plan {
  int rank = 0;
  std::int64_t dims[kMaxRank] = {};
  std::int64_t strides[kMaxRank] = {};  // of the input, row-major
  bool reduced[kMaxRank] = {};
  std::int64_t kept_count = 1;
  std::int64_t reduced_count = 1;

  // The input offset of position `flat` among the axes of one kind, skipping the last axis
  // when `skip_last` (row-major over those axes).
  std::int64_t offset_of(std::int64_t flat, bool of_reduced, bool skip_last) const noexcept {
    std::int64_t offset = 0;
    for (int a = rank - (skip_last ? 2 : 1); a >= 0; --a) {
      if (reduced[a] != of_reduced) continue;
      offset += (flat % dims[a]) * strides[a];
      flat /= dims[a];
    }
    return offset;
  }
};

// `marked[a]` tells whether input axis a is reduced.
inline Plan make_plan(const Slot& x, const bool* marked) {
  Plan p;
  std::int64_t full_strides[kMaxRank] = {};
  std::int64_t stride = 1;
  for (int a = x.rank; a-- > 0;) {
    full_strides[a] = stride;
    stride *= x.dims[a];
  }
  for (int a = 0; a < x.rank; ++a) {
    if (marked[a]) p.reduced_count *= x.dims[a];
    else p.kept_count *= x.dims[a];
    if (x.dims[a] == 1) continue;  // no effect either way
    if (p.rank > 0 && p.reduced[p.rank - 1] == marked[a]) {  // contiguous with the run before
      p.dims[p.rank - 1] *= x.dims[a];
      p.strides[p.rank - 1] = full_strides[a];
      continue;
    }
    p.dims[p.rank] = x.dims[a];
    p.strides[p.rank] = full_strides[a];
    p.reduced[p.rank] = marked[a];
    ++p.rank;
  }
  if (p.rank == 0) {  // one element
    p.rank = 1;
    p.dims[0] = 1;
    p.strides[0] = 1;
    p.reduced[0] = true;
  }
  return p;
}

template <class T>
void reduce_plan(const Plan& p, Reduction r, const T* x, T* out, ThreadPool* pool) {
  const int last = p.rank - 1;
  const std::int64_t length = p.dims[last];
  if (p.reduced[last]) {
    // Every output element reduces rows of `length` contiguous elements.
    const std::int64_t rows = p.reduced_count / length;
    cpu_support::parallel_items(pool, p.kept_count, p.reduced_count, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t o = begin; o < end; ++o) {
        const T* base = x + p.offset_of(o, false, false);
        T acc = identity_of<T>(r);
        for (std::int64_t row = 0; row < rows; ++row)
          acc = combine(r, acc, reduce_row(r, base + p.offset_of(row, true, true), length));
        out[o] = acc;
      }
    });
    return;
  }
  // Every output row (contiguous, `length` long) accumulates input rows; few long rows are
  // cut into column pieces so that threads share them.
  const std::int64_t rows = p.kept_count / length;
  const std::int64_t piece = rows >= 8 ? length : std::max<std::int64_t>(256, (length + 7) / 8);
  const std::int64_t pieces = (length + piece - 1) / piece;
  cpu_support::parallel_items(pool, rows * pieces, piece * p.reduced_count, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t row = item / pieces, first = (item % pieces) * piece;
      const std::int64_t n = std::min(piece, length - first);
      T* acc = out + row * length + first;
      std::fill(acc, acc + n, identity_of<T>(r));
      const T* base = x + p.offset_of(row, false, true) + first;
      for (std::int64_t k = 0; k < p.reduced_count; ++k) accumulate_row(r, acc, base + p.offset_of(k, true, false), n);
    }
  });
}

// The reduced axes of `x` under the attributes; false when an axis is out of range or
// repeated. `copy` is set when the op is an identity (no axes with noop_with_empty_axes).
inline bool marked_axes(const relax::ReduceAttrs& attrs, int rank, bool* marked, bool& copy) {
  copy = attrs.axes.empty() && attrs.noop_with_empty_axes;
  for (int a = 0; a < rank; ++a) marked[a] = attrs.axes.empty() && !copy;
  for (std::int64_t axis : attrs.axes) {
    const int a = cpu_support::resolve_axis(axis, rank);
    if (a < 0 || marked[a]) return false;
    marked[a] = true;
  }
  return true;
}

inline Status run_reduce(const OpCall& call, const Slot& x, const Slot& y) {
  const auto* attrs = std::get_if<relax::ReduceAttrs>(call.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::internal, call.op, "expects reduce attributes");
  bool marked[kMaxRank] = {};
  bool copy = false;
  if (!marked_axes(*attrs, x.rank, marked, copy))
    return cpu_support::op_error(StatusCode::invalid_argument, call.op, "an axis is out of range or repeated");
  if (x.dtype != y.dtype) return cpu_support::dtype_unsupported(call.op, "output", y.dtype, "the input's dtype");
  if (copy) {
    if (y.elements() != x.elements())
      return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output must hold the input's elements");
    if (x.elements() > 0) std::memcpy(y.data, x.data, x.bytes());
    return {};
  }
  const Plan plan = make_plan(x, marked);
  if (y.elements() != plan.kept_count)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output holds ", y.elements(),
                                 " elements, the reduction gives ", plan.kept_count);
  if (plan.kept_count == 0) return {};
  const Reduction r = reduction_of(call.op);
  if (x.dtype == DType::f32) {
    float* out = y.data_as<float>();
    if (plan.reduced_count == 0) std::fill(out, out + plan.kept_count, identity_of<float>(r));
    else reduce_plan(plan, r, x.data_as<const float>(), out, call.pool);
    if (call.op == OpKind::reduce_mean) {
      const float scale = 1.0f / static_cast<float>(plan.reduced_count);
      cpu_support::row_scale(out, out, plan.kept_count, scale);
      if (plan.reduced_count == 0) std::fill(out, out + plan.kept_count, std::numeric_limits<float>::quiet_NaN());
    }
    return {};
  }
  if (x.dtype == DType::f64) {
    double* out = y.data_as<double>();
    if (plan.reduced_count == 0) std::fill(out, out + plan.kept_count, identity_of<double>(r));
    else reduce_plan(plan, r, x.data_as<const double>(), out, call.pool);
    if (call.op == OpKind::reduce_mean) {
      const double count = static_cast<double>(plan.reduced_count);
      for (std::int64_t i = 0; i < plan.kept_count; ++i) out[i] /= count;  // 0 / 0: NaN for an empty reduction
    }
    return {};
  }
  if (x.dtype == DType::i64 && call.op != OpKind::reduce_mean) {
    std::int64_t* out = y.data_as<std::int64_t>();
    if (plan.reduced_count == 0) std::fill(out, out + plan.kept_count, identity_of<std::int64_t>(r));
    else reduce_plan(plan, r, x.data_as<const std::int64_t>(), out, call.pool);
    return {};
  }
  return cpu_support::dtype_unsupported(call.op, "input", x.dtype, "f32, f64, and i64 for sum, prod, max and min");
}

// ---- argmax, argmin -----------------------------------------------------------------------------------

// Indices into an [outer, n, inner] input along n.
template <class T>
void arg_reduce(bool largest, const T* x, std::int64_t* out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                ThreadPool* pool) {
  const auto better = [largest](T candidate, T best) { return largest ? best < candidate : candidate < best; };
  cpu_support::parallel_items(pool, outer, n * inner, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      const T* block = x + o * n * inner;
      std::int64_t* index = out + o * inner;
      std::fill(index, index + inner, std::int64_t{0});
      for (std::int64_t i = 1; i < n; ++i) {
        const T* row = block + i * inner;
        for (std::int64_t j = 0; j < inner; ++j)
          if (better(row[j], block[index[j] * inner + j])) index[j] = i;
      }
    }
  });
}

inline Status run_arg_reduce(const OpCall& call, const Slot& x, const Slot& y) {
  const auto* attrs = std::get_if<relax::ArgReduceAttrs>(call.attrs);
  const int axis = attrs ? cpu_support::resolve_axis(attrs->axis, x.rank) : -1;
  if (axis < 0) return cpu_support::op_error(StatusCode::invalid_argument, call.op, "the axis is out of range");
  if (y.dtype != DType::i64) return cpu_support::dtype_unsupported(call.op, "output", y.dtype, "i64 only");
  const std::int64_t outer = cpu_support::extent_product(x, 0, axis);
  const std::int64_t n = x.dims[axis];
  const std::int64_t inner = cpu_support::extent_product(x, axis + 1, x.rank);
  if (y.elements() != outer * inner)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output holds ", y.elements(),
                                 " elements, expected ", outer * inner);
  if (outer * inner == 0) return {};
  if (n == 0) return cpu_support::op_error(StatusCode::invalid_argument, call.op, "the reduced axis is empty");
  const bool largest = call.op == OpKind::argmax;
  std::int64_t* out = y.data_as<std::int64_t>();
  switch (x.dtype) {
    case DType::f32: arg_reduce(largest, x.data_as<const float>(), out, outer, n, inner, call.pool); return {};
    case DType::i64: arg_reduce(largest, x.data_as<const std::int64_t>(), out, outer, n, inner, call.pool); return {};
    case DType::i32: arg_reduce(largest, x.data_as<const std::int32_t>(), out, outer, n, inner, call.pool); return {};
    case DType::f64: arg_reduce(largest, x.data_as<const double>(), out, outer, n, inner, call.pool); return {};
    default: return cpu_support::dtype_unsupported(call.op, "input", x.dtype, "f32, f64, i64 and i32");
  }
}

// ---- the entry points -------------------------------------------------------------------------------

inline bool is_arg_reduce(OpKind op) noexcept { return op == OpKind::argmax || op == OpKind::argmin; }

inline Status run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  if (!x.contiguous() || !y.contiguous())
    return cpu_support::op_error(StatusCode::unsupported, call.op, "non-contiguous operands are not supported");
  return is_arg_reduce(call.op) ? run_arg_reduce(call, x, y) : run_reduce(call, x, y);
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  const OpKind op = binding.op;
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, 1, 1));
  const relax::TensorType& x = *cpu_support::input_type(binding, fn, 0);
  const relax::TensorType& y = *cpu_support::output_type(binding, fn);
  if (x.rank < 0 || x.rank > kMaxRank)
    return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported");
  if (is_arg_reduce(op)) {
    if (x.dtype != DType::f32 && x.dtype != DType::f64 && x.dtype != DType::i64 && x.dtype != DType::i32)
      return cpu_support::dtype_unsupported(op, "input", x.dtype, "f32, f64, i64 and i32");
    if (y.dtype != DType::i64) return cpu_support::dtype_unsupported(op, "output", y.dtype, "i64 only");
    const auto* attrs = std::get_if<relax::ArgReduceAttrs>(&binding.attrs);
    if (attrs == nullptr || cpu_support::resolve_axis(attrs->axis, x.rank) < 0)
      return cpu_support::op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", x.rank);
    return {};
  }
  const bool integer_ok = op != OpKind::reduce_mean;
  if (x.dtype != DType::f32 && x.dtype != DType::f64 && !(integer_ok && x.dtype == DType::i64))
    return cpu_support::dtype_unsupported(op, "input", x.dtype, integer_ok ? "f32, f64 and i64" : "f32 and f64");
  if (y.dtype != x.dtype) return cpu_support::dtype_unsupported(op, "output", y.dtype, "the input's dtype");
  const auto* attrs = std::get_if<relax::ReduceAttrs>(&binding.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::invalid_argument, op, "expects reduce attributes");
  bool marked[kMaxRank] = {};
  bool copy = false;
  if (!marked_axes(*attrs, x.rank, marked, copy))
    return cpu_support::op_error(StatusCode::invalid_argument, op, "an axis is out of range or repeated");
  return {};
}

inline constexpr OpKernel kKernel{&supports, nullptr, &run};

} // namespace reduce_impl

// The CPU kernel of reduce_sum, reduce_mean, reduce_max, reduce_min, reduce_prod, argmax and
// argmin; null for other ops.
inline const OpKernel* cpu_reduce_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::reduce_sum:
    case OpKind::reduce_mean:
    case OpKind::reduce_max:
    case OpKind::reduce_min:
    case OpKind::reduce_prod:
    case OpKind::argmax:
    case OpKind::argmin: return &reduce_impl::kKernel;
    default: return nullptr;
  }
}

} // namespace kiln::vm
