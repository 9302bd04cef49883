// kiln/relax/infer_data_dependent.hpp: the output types of the ops whose output extent depends
// on the input values (non_zero, unique, non_max_suppression). That extent is the attribute's
// count symbol; bind_shapes() binds it to its bound when planning and the VM to what the
// kernel reports after it runs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "attributes.hpp"
#include "tensor_type.hpp"

namespace kiln::relax::infer {

inline Status check_extent(std::string_view op, const DataDependentExtent& e) {
  if (!e.count.valid() || !e.bound.valid())
    return make_error(StatusCode::invalid_argument, op, ": the data-dependent extent needs a count and a bound");
  return {};
}

// i64[rank, count]: the coordinates of the nonzero elements, one column each.
inline Result<std::vector<TensorType>> non_zero(const TensorType& x, const NonZeroAttrs& a) {
  KILN_RETURN_IF_ERROR(check_extent("non_zero", a.extent));
  return std::vector<TensorType>{TensorType(DType::i64, {SymDim(x.rank), a.extent.count})};
}

// y (the unique values or slices), indices (first occurrence of each), inverse_indices (for
// each input element or slice, its entry in y) and counts.
inline Result<std::vector<TensorType>> unique(const TensorType& x, const UniqueAttrs& a) {
  KILN_RETURN_IF_ERROR(check_extent("unique", a.extent));
  TensorType y(x.dtype, {a.extent.count});
  SymDim along = x.element_count();
  if (a.has_axis) {
    if (a.axis < -x.rank || a.axis >= x.rank)
      return make_error(StatusCode::invalid_argument, "unique: axis ", a.axis, " is out of range for rank ", x.rank);
    const int axis = static_cast<int>(a.axis < 0 ? a.axis + x.rank : a.axis);
    y = x;
    y.dims[axis] = a.extent.count;
    along = x.dims[axis];
  }
  const TensorType per_entry(DType::i64, {a.extent.count});
  return std::vector<TensorType>{y, per_entry, TensorType(DType::i64, {along}), per_entry};
}

// i64[count, 3]: (batch, class, box) of each selected box.
inline Result<std::vector<TensorType>> non_max_suppression(const TensorType& boxes, const TensorType& scores,
                                                           const NonMaxSuppressionAttrs& a) {
  KILN_RETURN_IF_ERROR(check_extent("non_max_suppression", a.extent));
  if (boxes.rank != 3 || scores.rank != 3)
    return make_error(StatusCode::shape_mismatch, "non_max_suppression: boxes must be [batch, boxes, 4] and scores "
                      "[batch, classes, boxes], got ", to_string(boxes), " and ", to_string(scores));
  if (boxes.dtype != scores.dtype || !is_floating_point(boxes.dtype))
    return make_error(StatusCode::dtype_mismatch, "non_max_suppression: boxes and scores must share a floating-point "
                      "dtype, got ", to_string(boxes), " and ", to_string(scores));
  if (boxes.dims[2].is_constant() && !boxes.dims[2].is_constant(4))
    return make_error(StatusCode::shape_mismatch, "non_max_suppression: boxes must have 4 coordinates, got ",
                      to_string(boxes));
  return std::vector<TensorType>{TensorType(DType::i64, {a.extent.count, SymDim(3)})};
}

} // namespace kiln::relax::infer
