// kiln/relax/infer_reduce.hpp: types of reductions over axes, argmax/argmin, top-k and cumsum.
#pragma once

#include <cstdint>
#include <string_view>

#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

// Axes may be negative (counted from the end). No axes means all of them, unless
// noop_with_empty_axes makes the reduction an identity (ONNX).
struct ReduceAttrs {
  Ints axes = {};
  bool keepdims = true;
  bool noop_with_empty_axes = false;
};

namespace infer {

// reduce_sum, reduce_mean, reduce_max, ...: reduced axes become 1 (keepdims) or disappear.
constexpr Inferred<TensorType> reduce(std::string_view op, const TensorType& x, const ReduceAttrs& attrs = {}) noexcept {
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  if (attrs.axes.empty() && attrs.noop_with_empty_axes) return x;
  KILN_RELAX_ASSIGN(detail::AxisSet reduced, detail::normalize_axes(op, attrs.axes, x.rank));
  if (attrs.axes.empty())
    for (int i = 0; i < x.rank; ++i) reduced.marked[i] = true;
  TensorType out = x.with_no_dims();
  for (int i = 0; i < x.rank; ++i) {
    if (!reduced.marked[i]) out.push_back(x.dims[i]);
    else if (attrs.keepdims) out.push_back(1);
  }
  return out;
}

// argmax, argmin: i64 indices along one axis.
constexpr Inferred<TensorType> arg_reduce(std::string_view op, const TensorType& x, std::int64_t axis = 0,
                                          bool keepdims = true) noexcept {
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_ASSIGN(const int a, detail::normalize_axis(op, axis, x.rank));
  TensorType out = x.with_no_dims();
  out.dtype = DType::i64;
  for (int i = 0; i < x.rank; ++i) {
    if (i != a) out.push_back(x.dims[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

// The k largest (or smallest) elements along `axis`: {values of x's dtype, i64 indices},
// both with extent k along the axis.
constexpr Inferred<TensorTypeList> topk(const TensorType& x, const SymDim& k, std::int64_t axis = -1) noexcept {
  constexpr std::string_view op = "topk";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_ASSIGN(const int a, detail::normalize_axis(op, axis, x.rank));
  if (!k.valid() || k.bounds().hi < 0)
    return type_error(StatusCode::invalid_argument, op, ": k must not be negative, got ", k);
  if (prove_less(x.dims[a], k) == Truth::yes)
    return type_error(StatusCode::out_of_range, op, ": k = ", k, " exceeds the extent ", x.dims[a], " of axis ", a);
  TensorType values = x;
  values.dims[a] = k;
  TensorType indices = values;
  indices.dtype = DType::i64;
  return TensorTypeList{values, indices};
}

// Running sum along `axis`: the input's type.
constexpr Inferred<TensorType> cumsum(const TensorType& x, std::int64_t axis) noexcept {
  constexpr std::string_view op = "cumsum";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::normalize_axis(op, axis, x.rank).failure());
  return x;
}

} // namespace infer
} // namespace kiln::relax
