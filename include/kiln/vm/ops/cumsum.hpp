// kiln/vm/ops/cumsum.hpp: the CPU kernel of the dynamic module's cumsum, with ONNX's
// semantics: running sums along one axis (an attribute here, not an input), inclusive or
// exclusive (each element left out of its own sum, the first sum 0), forward or reversed
// (summing from the end).
//
// The input is [outer, n, inner] around the axis. Each work item takes one outer index and a
// block of up to kColumnBlock inner columns, keeps their running sums on the stack and walks
// the n rows once, so reads and writes stay on contiguous rows whatever the axis. Items are
// independent and shared among the pool's threads.
//
// Every numeric dtype: f32 and f64 sum in their own type, f16 and bf16 in f32 (rounded once
// per output), integers modulo 2^bits (they wrap, as the elementwise add does). Each input
// element is read before its output is written, so the output may be the input itself.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace cumsum_impl {

using relax::OpKind;
using cpu_support::op_error;

// Inner columns whose running sums one item keeps on the stack.
inline constexpr std::int64_t kColumnBlock = 64;

inline constexpr std::string_view kAccepted = "numeric dtypes only";

// What a running sum of T is kept in: f32 for the 16-bit floats, a wrapping u64 for integers.
template <class T>
using Sum = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float,
                               std::conditional_t<std::is_integral_v<T>, std::uint64_t, T>>;

template <class T>
inline Sum<T> widen(T v) noexcept {
  return static_cast<Sum<T>>(v);  // integers: sign-extended, modulo 2^64
}
template <class T>
inline T narrow(Sum<T> s) noexcept {
  return static_cast<T>(s);  // integers: the low bits
}

// Columns [0, width) of an [n, inner] block: y holds the running sums of x down the rows.
template <class T, bool Exclusive>
void scan_columns(const T* x, T* y, std::int64_t n, std::int64_t inner, std::int64_t width, bool reverse) noexcept {
  Sum<T> sum[kColumnBlock] = {};
  const std::int64_t first = reverse ? n - 1 : 0;
  const std::int64_t step = reverse ? -inner : inner;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t row = first * inner + i * step;
    for (std::int64_t j = 0; j < width; ++j) {
      const Sum<T> v = widen(x[row + j]);
      if constexpr (Exclusive) {
        y[row + j] = narrow<T>(sum[j]);
        sum[j] += v;
      } else {
        sum[j] += v;
        y[row + j] = narrow<T>(sum[j]);
      }
    }
  }
}

template <class T>
void cumsum(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool exclusive, bool reverse,
            ThreadPool* pool) {
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const std::int64_t width = std::min(inner, kColumnBlock);
  cpu_support::parallel_items(pool, outer * blocks, n * width, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t o = item / blocks;
      const std::int64_t column = (item % blocks) * kColumnBlock;
      const std::int64_t offset = o * n * inner + column;
      const std::int64_t columns = std::min(kColumnBlock, inner - column);
      if (exclusive) scan_columns<T, true>(x + offset, y + offset, n, inner, columns, reverse);
      else scan_columns<T, false>(x + offset, y + offset, n, inner, columns, reverse);
    }
  });
}

inline Status run(const OpCall& call) {
  constexpr OpKind op = OpKind::cumsum;
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  const auto* attrs = std::get_if<relax::CumSumAttrs>(call.attrs);
  if (attrs == nullptr) return op_error(StatusCode::internal, op, "expects cumsum attributes");
  const int axis = cpu_support::resolve_axis(attrs->axis, x.rank);
  if (axis < 0) return op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", x.rank);
  if (!x.contiguous() || !y.contiguous())
    return op_error(StatusCode::unsupported, op, "non-contiguous operands are not supported");
  if (y.dtype != x.dtype) return cpu_support::dtype_unsupported(op, "output", y.dtype, "the input's dtype");
  if (!cpu_support::same_dims(x, y))
    return op_error(StatusCode::shape_mismatch, op, "the output must have the input's shape");
  if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(op, "input", x.dtype, kAccepted);
  const std::int64_t outer = cpu_support::extent_product(x, 0, axis);
  const std::int64_t n = x.dims[axis];
  const std::int64_t inner = cpu_support::extent_product(x, axis + 1, x.rank);
  if (outer * n * inner == 0) return {};
  visit_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same_v<T, bool>)
      cumsum(x.data_as<const T>(), y.data_as<T>(), outer, n, inner, attrs->exclusive, attrs->reverse, call.pool);
  });
  return {};
}

inline Status supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 1, 1));
  const relax::TensorType& x = *cpu_support::input_type(b, fn, 0);
  const relax::TensorType& y = *cpu_support::output_type(b, fn);
  if (x.rank < 1 || x.rank > kMaxRank)
    return op_error(StatusCode::unsupported, b.op, "inputs of rank ", x.rank, " are not supported (1 to ", kMaxRank,
                    ")");
  if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(b.op, "input", x.dtype, kAccepted);
  if (y.dtype != x.dtype) return cpu_support::dtype_unsupported(b.op, "output", y.dtype, "the input's dtype");
  const auto* attrs = std::get_if<relax::CumSumAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, b.op, "expects cumsum attributes");
  if (cpu_support::resolve_axis(attrs->axis, x.rank) < 0)
    return op_error(StatusCode::invalid_argument, b.op, "the axis is out of range for rank ", x.rank);
  return {};
}

inline constexpr OpKernel kKernel{&supports, nullptr, &run};

} // namespace cumsum_impl

// The CPU kernel of cumsum; null for other ops.
inline const OpKernel* cpu_cumsum_kernel(relax::OpKind op) {
  return op == relax::OpKind::cumsum ? &cumsum_impl::kKernel : nullptr;
}

} // namespace kiln::vm
