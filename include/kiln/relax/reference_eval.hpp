// kiln/relax/reference_eval.hpp: a naive evaluator of the light ops, on constant tensors.
//
// Constant folding needs the value of an op whose inputs are all constants. The ops that
// matter at load time are the cheap ones: elementwise arithmetic and the data movement of
// shape computations (reshape, transpose, concat, slice, gather on small i64 tensors).
// This evaluator does those one element at a time, in double (floating dtypes) or int64
// (integer dtypes) arithmetic; anything else, heavy ops included, is `unsupported`, and
// the folder leaves it alone. It favours being obviously right over being fast.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/tensor.hpp"
#include "attributes.hpp"
#include "op_kind.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

// The dims of a type whose dims are all constants.
inline std::optional<std::vector<std::int64_t>> static_dims(const TensorType& t) {
  if (!t.is_static()) return std::nullopt;
  std::vector<std::int64_t> dims;
  for (int i = 0; i < t.rank; ++i) dims.push_back(t.dims[i].constant_value());
  return dims;
}

namespace detail {

using Index = std::vector<std::int64_t>;

// Element `offset` (in elements, strides included) of `t`, as a double or an int64.
inline double load_real(const Tensor& t, std::int64_t offset) {
  return visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return static_cast<double>(static_cast<const T*>(t.data())[offset]);
  });
}
inline std::int64_t load_int(const Tensor& t, std::int64_t offset) {
  return visit_dtype(t.dtype(), [&](auto zero) -> std::int64_t {
    using T = decltype(zero);
    if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(static_cast<const T*>(t.data())[offset]);
    else return static_cast<std::int64_t>(static_cast<double>(static_cast<const T*>(t.data())[offset]));
  });
}
inline void store_real(const Tensor& t, std::int64_t offset, double v) {
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) static_cast<T*>(t.data())[offset] = v != 0.0;
    else static_cast<T*>(t.data())[offset] = static_cast<T>(v);
  });
}
inline void store_int(const Tensor& t, std::int64_t offset, std::int64_t v) {
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) static_cast<T*>(t.data())[offset] = v != 0;
    else if constexpr (std::is_integral_v<T>) static_cast<T*>(t.data())[offset] = static_cast<T>(v);
    else static_cast<T*>(t.data())[offset] = static_cast<T>(static_cast<double>(v));
  });
}

// Steps a row-major multi-index; false after the last one.
inline bool next_index(Index& index, std::span<const std::int64_t> dims) {
  for (std::size_t a = index.size(); a-- > 0;) {
    if (++index[a] < dims[a]) return true;
    index[a] = 0;
  }
  return false;
}

// Calls fn(index) for every index of `dims`, in row-major order.
template <class Fn>
void for_each_index(std::span<const std::int64_t> dims, Fn&& fn) {
  for (std::int64_t d : dims)
    if (d == 0) return;
  Index index(dims.size(), 0);
  do {
    fn(index);
  } while (next_index(index, dims));
}

inline std::int64_t offset_of(const Tensor& t, const Index& index) {
  std::int64_t offset = 0;
  for (int a = 0; a < t.rank(); ++a) offset += index[static_cast<std::size_t>(a)] * t.stride(a);
  return offset;
}

// The offset in `t` of the element an output index reads when `t` broadcasts to the output.
inline std::int64_t broadcast_offset(const Tensor& t, const Index& out_index) {
  const std::size_t shift = out_index.size() - static_cast<std::size_t>(t.rank());
  std::int64_t offset = 0;
  for (int a = 0; a < t.rank(); ++a)
    if (t.dim(a) != 1) offset += out_index[shift + static_cast<std::size_t>(a)] * t.stride(a);
  return offset;
}

// Copies elements: output element `index` is element in_offset(index) of `in`.
template <class Fn>
void gather_copy(const Tensor& out, const Tensor& in, Fn&& in_offset) {
  const std::size_t item = out.itemsize();
  auto* dst = static_cast<std::byte*>(out.data());
  const auto* src = static_cast<const std::byte*>(in.data());
  std::int64_t n = 0;
  for_each_index(out.dims(), [&](const Index& index) {
    std::memcpy(dst + static_cast<std::size_t>(n++) * item,
                src + static_cast<std::size_t>(in_offset(index)) * item, item);
  });
}

inline Status not_evaluated(OpKind op, std::string_view why) {
  return make_error(StatusCode::unsupported, "reference evaluation of ", to_string(op), ": ", why);
}

inline std::optional<double> unary_real(OpKind op, double x) {
  switch (op) {
    case OpKind::identity: return x;
    case OpKind::neg: return -x;
    case OpKind::abs: return std::fabs(x);
    case OpKind::sign: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case OpKind::relu: return x > 0 ? x : 0.0;
    case OpKind::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case OpKind::tanh: return std::tanh(x);
    case OpKind::exp: return std::exp(x);
    case OpKind::log: return std::log(x);
    case OpKind::sqrt: return std::sqrt(x);
    case OpKind::rsqrt: return 1.0 / std::sqrt(x);
    case OpKind::reciprocal: return 1.0 / x;
    case OpKind::floor: return std::floor(x);
    case OpKind::ceil: return std::ceil(x);
    case OpKind::round: return std::nearbyint(x);  // halves to even, as ONNX rounds
    case OpKind::sin: return std::sin(x);
    case OpKind::cos: return std::cos(x);
    case OpKind::tan: return std::tan(x);
    case OpKind::asin: return std::asin(x);
    case OpKind::acos: return std::acos(x);
    case OpKind::atan: return std::atan(x);
    case OpKind::sinh: return std::sinh(x);
    case OpKind::cosh: return std::cosh(x);
    case OpKind::asinh: return std::asinh(x);
    case OpKind::acosh: return std::acosh(x);
    case OpKind::atanh: return std::atanh(x);
    case OpKind::erf: return std::erf(x);
    case OpKind::gelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case OpKind::silu: return x / (1.0 + std::exp(-x));
    default: return std::nullopt;
  }
}

// Integer arithmetic wraps, as the int64 kernels do, instead of being undefined.
inline std::int64_t wrap_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
inline std::uint64_t bits_of(std::int64_t v) { return static_cast<std::uint64_t>(v); }

inline std::optional<std::int64_t> unary_int(OpKind op, std::int64_t x) {
  switch (op) {
    case OpKind::identity: return x;
    case OpKind::neg: return wrap_int(0 - bits_of(x));
    case OpKind::abs: return x < 0 ? wrap_int(0 - bits_of(x)) : x;
    case OpKind::sign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case OpKind::relu: return x > 0 ? x : 0;
    case OpKind::logical_not: return x == 0 ? 1 : 0;
    default: return std::nullopt;
  }
}

inline std::optional<double> binary_real(OpKind op, double a, double b) {
  switch (op) {
    case OpKind::add: return a + b;
    case OpKind::subtract: return a - b;
    case OpKind::multiply: return a * b;
    case OpKind::divide: return a / b;
    case OpKind::power: return std::pow(a, b);
    case OpKind::maximum: return a > b ? a : b;
    case OpKind::minimum: return a < b ? a : b;
    case OpKind::mod: return std::fmod(a, b);
    case OpKind::equal: return a == b;
    case OpKind::not_equal: return a != b;
    case OpKind::less: return a < b;
    case OpKind::less_equal: return a <= b;
    case OpKind::greater: return a > b;
    case OpKind::greater_equal: return a >= b;
    default: return std::nullopt;
  }
}

// nullopt for an op this evaluator does not do, or a value it cannot give (division by 0).
inline std::optional<std::int64_t> binary_int(OpKind op, std::int64_t a, std::int64_t b) {
  switch (op) {
    case OpKind::add: return wrap_int(bits_of(a) + bits_of(b));
    case OpKind::subtract: return wrap_int(bits_of(a) - bits_of(b));
    case OpKind::multiply: return wrap_int(bits_of(a) * bits_of(b));
    case OpKind::divide:  // truncating, as ONNX's integer Div
      if (b == 0 || (b == -1 && a == detail::kNegInf)) return std::nullopt;
      return a / b;
    case OpKind::mod:  // the sign of the divisor, as ONNX's integer Mod
      if (b == 0 || b == -1) return b == 0 ? std::nullopt : std::optional<std::int64_t>(0);
      return ((a % b) + b) % b;
    case OpKind::power: {
      if (b < 0) return std::nullopt;
      std::uint64_t r = 1;
      for (std::int64_t i = 0; i < b && i < 64; ++i) r *= bits_of(a);
      return wrap_int(r);
    }
    case OpKind::maximum: return a > b ? a : b;
    case OpKind::minimum: return a < b ? a : b;
    case OpKind::equal: return a == b;
    case OpKind::not_equal: return a != b;
    case OpKind::less: return a < b;
    case OpKind::less_equal: return a <= b;
    case OpKind::greater: return a > b;
    case OpKind::greater_equal: return a >= b;
    case OpKind::logical_and: return (a != 0) && (b != 0);
    case OpKind::logical_or: return (a != 0) || (b != 0);
    case OpKind::logical_xor: return (a != 0) != (b != 0);
    default: return std::nullopt;
  }
}

inline Status eval_elementwise(OpKind op, std::span<const Tensor> in, const Tensor& out) {
  const OpFamily family = op_info(op).family;
  const bool real = is_floating_point(in[0].dtype());
  std::int64_t n = 0;
  Status status;
  for_each_index(out.dims(), [&](const Index& index) {
    if (!status.ok()) return;
    const std::int64_t o = n++;
    if (family == OpFamily::unary) {
      const std::int64_t a = broadcast_offset(in[0], index);
      if (real) {
        const std::optional<double> v = unary_real(op, load_real(in[0], a));
        if (!v) status = not_evaluated(op, "not for floating-point elements");
        else store_real(out, o, *v);
      } else {
        const std::optional<std::int64_t> v = unary_int(op, load_int(in[0], a));
        if (!v) status = not_evaluated(op, "not for integer elements");
        else store_int(out, o, *v);
      }
      return;
    }
    const std::int64_t a = broadcast_offset(in[0], index);
    const std::int64_t b = broadcast_offset(in[1], index);
    if (real) {
      const std::optional<double> v = binary_real(op, load_real(in[0], a), load_real(in[1], b));
      if (!v) status = not_evaluated(op, "not for floating-point elements");
      else store_real(out, o, *v);
    } else {
      const std::optional<std::int64_t> v = binary_int(op, load_int(in[0], a), load_int(in[1], b));
      if (!v) status = not_evaluated(op, "an integer division by zero, or not for integer elements");
      else store_int(out, o, *v);
    }
  });
  return status;
}

inline Status eval_where(std::span<const Tensor> in, const Tensor& out) {
  std::int64_t n = 0;
  const bool real = is_floating_point(out.dtype());
  for_each_index(out.dims(), [&](const Index& index) {
    const bool take_x = load_int(in[0], broadcast_offset(in[0], index)) != 0;
    const Tensor& from = take_x ? in[1] : in[2];
    const std::int64_t offset = broadcast_offset(from, index);
    if (real) store_real(out, n++, load_real(from, offset));
    else store_int(out, n++, load_int(from, offset));
  });
  return {};
}

inline Status eval_cast(const Tensor& in, const Tensor& out) {
  std::int64_t n = 0;
  Status status;
  const bool real_in = is_floating_point(in.dtype());
  for_each_index(out.dims(), [&](const Index& index) {
    const std::int64_t offset = offset_of(in, index);
    if (!real_in) {
      store_int(out, n++, load_int(in, offset));
      return;
    }
    const double v = load_real(in, offset);
    if (is_floating_point(out.dtype()) || out.dtype() == DType::boolean) {
      store_real(out, n++, v);
    } else if (!(v > -9.2e18 && v < 9.2e18)) {
      status = not_evaluated(OpKind::cast, "a value outside the integer range");
    } else {
      store_int(out, n++, static_cast<std::int64_t>(v));  // truncates towards zero
    }
  });
  return status;
}

inline Status eval_clip(std::span<const Tensor> in, const Tensor& out) {
  const bool real = is_floating_point(out.dtype());
  const auto bound = [&](std::size_t i) -> const Tensor* {
    return i < in.size() && in[i].defined() ? &in[i] : nullptr;
  };
  std::int64_t n = 0;
  for_each_index(out.dims(), [&](const Index& index) {
    const std::int64_t offset = offset_of(in[0], index);
    if (real) {
      double v = load_real(in[0], offset);
      if (const Tensor* lo = bound(1); lo && v < load_real(*lo, 0)) v = load_real(*lo, 0);
      if (const Tensor* hi = bound(2); hi && v > load_real(*hi, 0)) v = load_real(*hi, 0);
      store_real(out, n++, v);
    } else {
      std::int64_t v = load_int(in[0], offset);
      if (const Tensor* lo = bound(1); lo && v < load_int(*lo, 0)) v = load_int(*lo, 0);
      if (const Tensor* hi = bound(2); hi && v > load_int(*hi, 0)) v = load_int(*hi, 0);
      store_int(out, n++, v);
    }
  });
  return {};
}

inline Status eval_transpose(const Tensor& in, const Ints& perm, const Tensor& out) {
  const int rank = in.rank();
  Index source(static_cast<std::size_t>(rank), 0);
  gather_copy(out, in, [&](const Index& index) {
    for (int k = 0; k < rank; ++k) {
      std::int64_t p = perm.empty() ? rank - 1 - k : perm[k];
      if (p < 0) p += rank;
      source[static_cast<std::size_t>(p)] = index[static_cast<std::size_t>(k)];
    }
    return offset_of(in, source);
  });
  return {};
}

inline Status eval_concat(std::span<const Tensor> in, std::int64_t axis, const Tensor& out) {
  const auto a = static_cast<std::size_t>(axis < 0 ? axis + out.rank() : axis);
  const std::size_t item = out.itemsize();
  auto* dst = static_cast<std::byte*>(out.data());
  std::int64_t n = 0;
  for_each_index(out.dims(), [&](const Index& index) {
    Index source = index;
    std::size_t which = 0;
    while (which + 1 < in.size() && source[a] >= in[which].dim(static_cast<int>(a))) {
      source[a] -= in[which].dim(static_cast<int>(a));
      ++which;
    }
    const Tensor& from = in[which];
    std::memcpy(dst + static_cast<std::size_t>(n++) * item,
                static_cast<const std::byte*>(from.data()) + static_cast<std::size_t>(offset_of(from, source)) * item,
                item);
  });
  return {};
}

inline Status eval_slice(const Tensor& in, const SliceAttrs& attrs, const Tensor& out) {
  const int rank = in.rank();
  std::vector<std::int64_t> first(static_cast<std::size_t>(rank), 0);
  std::vector<std::int64_t> step(static_cast<std::size_t>(rank), 1);
  for (int i = 0; i < attrs.starts.size(); ++i) {
    std::int64_t a = attrs.axes.empty() ? i : attrs.axes[i];
    if (a < 0) a += rank;
    const std::int64_t d = in.dim(static_cast<int>(a));
    const std::int64_t s = attrs.steps.empty() ? 1 : attrs.steps[i];
    std::int64_t start = attrs.starts[i];
    if (start < 0) start = start < -d ? -1 : start + d;
    // NumPy clamps: [0, d] stepping forwards, [-1, d - 1] stepping backwards.
    start = s > 0 ? (start < 0 ? 0 : (start > d ? d : start)) : (start < -1 ? -1 : (start > d - 1 ? d - 1 : start));
    first[static_cast<std::size_t>(a)] = start;
    step[static_cast<std::size_t>(a)] = s;
  }
  Index source(static_cast<std::size_t>(rank), 0);
  gather_copy(out, in, [&](const Index& index) {
    for (std::size_t k = 0; k < source.size(); ++k) source[k] = first[k] + index[k] * step[k];
    return offset_of(in, source);
  });
  return {};
}

inline Status eval_gather(const Tensor& data, const Tensor& indices, std::int64_t axis, const Tensor& out) {
  const int a = static_cast<int>(axis < 0 ? axis + data.rank() : axis);
  const int index_rank = indices.rank();
  const std::int64_t extent = data.dim(a);
  Status status;
  Index source(static_cast<std::size_t>(data.rank()), 0);
  Index position(static_cast<std::size_t>(index_rank), 0);
  gather_copy(out, data, [&](const Index& index) -> std::int64_t {
    for (int k = 0; k < a; ++k) source[static_cast<std::size_t>(k)] = index[static_cast<std::size_t>(k)];
    for (int k = 0; k < index_rank; ++k) position[static_cast<std::size_t>(k)] = index[static_cast<std::size_t>(a + k)];
    std::int64_t i = load_int(indices, offset_of(indices, position));
    if (i < 0) i += extent;
    if (i < 0 || i >= extent) {
      if (status.ok()) status = make_error(StatusCode::out_of_range, "gather: index ", i, " is outside [0, ", extent, ")");
      i = 0;
    }
    source[static_cast<std::size_t>(a)] = i;
    for (int k = a + 1; k < data.rank(); ++k)
      source[static_cast<std::size_t>(k)] = index[static_cast<std::size_t>(k - 1 + index_rank)];
    return offset_of(data, source);
  });
  return status;
}

// x [n, c, h, w] -> out [n, ceil(c / b), h, w, b]; the channels past c are zero.
inline Status eval_to_nchwc(const Tensor& x, const Tensor& out) {
  const std::int64_t block = out.dim(4);
  const std::size_t item = out.itemsize();
  auto* dst = static_cast<std::byte*>(out.data());
  std::memset(dst, 0, out.nbytes());
  Index source(4, 0);
  std::int64_t n = 0;
  for_each_index(out.dims(), [&](const Index& index) {
    const std::int64_t channel = index[1] * block + index[4];
    const std::int64_t o = n++;
    if (channel >= x.dim(1)) return;
    source = {index[0], channel, index[2], index[3]};
    std::memcpy(dst + static_cast<std::size_t>(o) * item,
                static_cast<const std::byte*>(x.data()) + static_cast<std::size_t>(offset_of(x, source)) * item, item);
  });
  return {};
}

// x [n, cb, h, w, b] -> out [n, c, h, w]: channel k is lane k % b of block k / b.
inline Status eval_from_nchwc(const Tensor& x, const Tensor& out) {
  const std::int64_t block = x.dim(4);
  Index source(5, 0);
  gather_copy(out, x, [&](const Index& index) {
    source = {index[0], index[1] / block, index[2], index[3], index[1] % block};
    return offset_of(x, source);
  });
  return {};
}

} // namespace detail

// The outputs of `op` on constant `inputs` (an undefined Tensor for an absent optional
// input), with the given (static) output types; `unsupported` for ops it does not do.
inline Result<std::vector<Tensor>> evaluate_reference(OpKind op, const Attrs& attrs, std::span<const Tensor> inputs,
                                                      std::span<const TensorType> output_types) {
  if (output_types.size() != 1) return detail::not_evaluated(op, "only single-output ops are evaluated");
  std::optional<std::vector<std::int64_t>> dims = static_dims(output_types[0]);
  if (!dims) return detail::not_evaluated(op, "the output shape is not static");
  if (inputs.empty()) return detail::not_evaluated(op, "no inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined() && !(op == OpKind::clip && i > 0))
      return detail::not_evaluated(op, "an input is absent");
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(output_types[0].dtype, std::span<const std::int64_t>(*dims)));
  const Tensor& x = inputs[0];
  Status status;
  switch (op_info(op).family) {
    case OpFamily::unary:
    case OpFamily::binary:
    case OpFamily::compare:
    case OpFamily::logical: status = detail::eval_elementwise(op, inputs, out); break;
    case OpFamily::control: return detail::not_evaluated(op, "control flow");
    case OpFamily::other:
      switch (op) {
        case OpKind::where: status = detail::eval_where(inputs, out); break;
        case OpKind::cast: status = detail::eval_cast(x, out); break;
        case OpKind::clip: status = detail::eval_clip(inputs, out); break;
        case OpKind::reshape:
        case OpKind::flatten:
        case OpKind::squeeze:
        case OpKind::unsqueeze: {
          // The same elements in the same order: copy them row-major into the new shape.
          std::int64_t n = 0;
          const std::size_t item = out.itemsize();
          detail::for_each_index(x.dims(), [&](const detail::Index& index) {
            std::memcpy(static_cast<std::byte*>(out.data()) + static_cast<std::size_t>(n++) * item,
                        static_cast<const std::byte*>(x.data()) +
                            static_cast<std::size_t>(detail::offset_of(x, index)) * item,
                        item);
          });
          break;
        }
        case OpKind::expand:
          detail::gather_copy(out, x, [&](const detail::Index& index) { return detail::broadcast_offset(x, index); });
          break;
        case OpKind::transpose: status = detail::eval_transpose(x, std::get<PermAttrs>(attrs).perm, out); break;
        case OpKind::concat: status = detail::eval_concat(inputs, std::get<AxisAttrs>(attrs).axis, out); break;
        case OpKind::slice: status = detail::eval_slice(x, std::get<SliceAttrs>(attrs), out); break;
        case OpKind::gather: status = detail::eval_gather(x, inputs[1], std::get<AxisAttrs>(attrs).axis, out); break;
        case OpKind::to_nchwc: status = detail::eval_to_nchwc(x, out); break;
        case OpKind::from_nchwc: status = detail::eval_from_nchwc(x, out); break;
        case OpKind::shape_of: {
          const auto& a = std::get<ShapeOfAttrs>(attrs);
          std::int64_t start = a.start < 0 ? a.start + x.rank() : a.start;
          start = start < 0 ? 0 : (start > x.rank() ? x.rank() : start);
          for (std::int64_t i = 0; i < out.numel(); ++i) detail::store_int(out, i, x.dim(static_cast<int>(start + i)));
          break;
        }
        default: return detail::not_evaluated(op, "not an op the reference evaluator does");
      }
      break;
  }
  KILN_RETURN_IF_ERROR(status);
  std::vector<Tensor> outputs;
  outputs.push_back(std::move(out));
  return outputs;
}

} // namespace kiln::relax
