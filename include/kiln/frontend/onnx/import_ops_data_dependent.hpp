// kiln/frontend/onnx/import_ops_data_dependent.hpp: NonZero, Unique and NonMaxSuppression, the
// ops whose output extent depends on the input values. Each gets a fresh count symbol and a
// bound on it in the inputs' dims (relax::DataDependentExtent): the VM plans memory for the
// bound and binds the count to what the kernel reports.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../../relax/attributes.hpp"
#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

inline relax::DataDependentExtent data_dependent_extent(NodeContext& ctx, std::string_view stem, relax::SymDim bound) {
  return relax::DataDependentExtent{ctx.graph().model().fresh_symbol(stem), std::move(bound)};
}

inline Status convert_non_zero(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const relax::Var x, ctx.input(0));
  const relax::NonZeroAttrs attrs{data_dependent_extent(ctx, "nonzero", ctx.type(x).element_count())};
  return ctx.set_output(0, ctx.emit(relax::OpKind::non_zero, {x}, attrs));
}

// Unique: the distinct values (or slices along `axis`), sorted unless sorted = 0, with the
// first index, inverse indices and count of each.
inline Status convert_unique(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const relax::Var x, ctx.input(0));
  const relax::TensorType type = ctx.type(x);
  relax::UniqueAttrs attrs;
  attrs.sorted = ctx.attr_int("sorted", 1) != 0;
  relax::SymDim bound = type.element_count();
  if (ctx.has_attr("axis")) {
    attrs.has_axis = true;
    attrs.axis = ctx.attr_int("axis", 0);
    if (attrs.axis < -type.rank || attrs.axis >= type.rank)
      return ctx.invalid("axis ", attrs.axis, " is out of range for rank ", type.rank);
    bound = type.dims[static_cast<int>(attrs.axis < 0 ? attrs.axis + type.rank : attrs.axis)];
  }
  attrs.extent = data_dependent_extent(ctx, "unique", bound);
  const std::vector<relax::Var> out = ctx.b().emit_multi(relax::OpKind::unique, {x}, attrs);
  KILN_RETURN_IF_ERROR(ctx.status());
  for (int i = 0; i < 4; ++i) KILN_RETURN_IF_ERROR(ctx.set_output(i, out[static_cast<std::size_t>(i)]));
  return {};
}

// NonMaxSuppression: at most batches * classes * min(boxes, max_output_boxes_per_class) boxes
// are selected; without a known max_output_boxes_per_class, batches * classes * boxes.
inline Status convert_non_max_suppression(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const relax::Var boxes, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const relax::Var scores, ctx.input(1));
  const relax::TensorType boxes_type = ctx.type(boxes), scores_type = ctx.type(scores);
  if (boxes_type.rank != 3 || scores_type.rank != 3)
    return ctx.invalid("boxes must be [batch, boxes, 4] and scores [batch, classes, boxes], got ",
                       relax::to_string(boxes_type), " and ", relax::to_string(scores_type));
  relax::SymDim per_class = boxes_type.dims[1];
  if (ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(const relax::Var limit, ctx.input(2));
    if (std::optional<Tensor> known = ctx.known_value(limit); known && known->numel() == 1) {
      KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> value,
                            NodeContext::ints_of(*known, "max_output_boxes_per_class"));
      per_class = min(per_class, relax::SymDim(std::max<std::int64_t>(value[0], 0)));
    }
  } else {
    per_class = 0;  // the default: no boxes per class
  }
  relax::NonMaxSuppressionAttrs attrs;
  attrs.center_point_box = ctx.attr_int("center_point_box", 0) != 0;
  attrs.extent = data_dependent_extent(ctx, "selected", boxes_type.dims[0] * scores_type.dims[1] * per_class);
  std::vector<relax::Var> inputs{boxes, scores};
  for (int i = 2; i < 5; ++i) {
    KILN_ASSIGN_OR_RETURN(const relax::Var v, ctx.optional_input(i));
    inputs.push_back(v);
  }
  while (!inputs.back().valid()) inputs.pop_back();
  const std::vector<relax::Var> out = ctx.b().emit_multi(relax::OpKind::non_max_suppression, inputs, attrs);
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, out[0]);
}

inline constexpr ConverterEntry kDataDependentConverters[] = {
    {"NonZero", convert_non_zero},
    {"Unique", convert_unique},
    {"NonMaxSuppression", convert_non_max_suppression},
};

} // namespace kiln::onnx::detail
