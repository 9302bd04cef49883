// kiln/frontend/onnx/import_ops_resize.hpp: ONNX's Resize (opsets 10 to 19) and Upsample as
// relax's resize, whose scales, sizes and region of interest are attributes: the inputs that
// carry them must be known at load time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline Result<relax::ResizeMode> resize_mode(const NodeContext& ctx) {
  const std::string mode = ctx.attr_string("mode", "nearest");
  if (mode == "nearest") return relax::ResizeMode::nearest;
  if (mode == "linear" || mode == "bilinear" || mode == "trilinear") return relax::ResizeMode::linear;
  if (mode == "cubic") return relax::ResizeMode::cubic;
  return ctx.invalid("mode '", mode, "' is not one of nearest, linear, cubic");
}

inline Result<relax::ResizeCoordinates> resize_coordinates(const NodeContext& ctx) {
  const std::string mode = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  using C = relax::ResizeCoordinates;
  if (mode == "half_pixel") return C::half_pixel;
  if (mode == "half_pixel_symmetric") return C::half_pixel_symmetric;
  if (mode == "pytorch_half_pixel") return C::pytorch_half_pixel;
  if (mode == "align_corners") return C::align_corners;
  if (mode == "asymmetric") return C::asymmetric;
  if (mode == "tf_crop_and_resize") return C::tf_crop_and_resize;
  return ctx.unsupported("coordinate_transformation_mode '", mode, "' is not supported");
}

inline Result<relax::ResizeRounding> resize_rounding(const NodeContext& ctx) {
  const std::string mode = ctx.attr_string("nearest_mode", "round_prefer_floor");
  using R = relax::ResizeRounding;
  if (mode == "round_prefer_floor") return R::round_prefer_floor;
  if (mode == "round_prefer_ceil") return R::round_prefer_ceil;
  if (mode == "floor") return R::floor;
  if (mode == "ceil") return R::ceil;
  return ctx.invalid("nearest_mode '", mode, "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
}

inline Result<relax::AspectRatioPolicy> aspect_ratio_policy(const NodeContext& ctx) {
  const std::string policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
  using P = relax::AspectRatioPolicy;
  if (policy == "stretch") return P::stretch;
  if (policy == "not_larger") return P::not_larger;
  if (policy == "not_smaller") return P::not_smaller;
  return ctx.invalid("keep_aspect_ratio_policy '", policy, "' is not one of stretch, not_larger, not_smaller");
}

// The scales input `i`, when present and not empty.
inline Result<std::vector<double>> optional_reals(const NodeContext& ctx, int i, std::string_view role) {
  if (!ctx.has_input(i)) return std::vector<double>{};
  return ctx.constant_reals(i, role);
}

// Nearest resizing with opset 11's tf_half_pixel_for_nn coordinates (input coordinate
// (x + 0.5) / scale), which relax's resize lacks: with static extents it is a gather of
// constant indices along each resized axis.
inline Status resize_tf_half_pixel_nearest(NodeContext& ctx, Var x, const std::vector<double>& scales,
                                           const std::vector<std::int64_t>& sizes, relax::ResizeRounding rounding) {
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType xt = ctx.type(x);
  const std::size_t rank = static_cast<std::size_t>(xt.rank);
  if ((!scales.empty() && scales.size() != rank) || (!sizes.empty() && sizes.size() != rank))
    return ctx.invalid("scales or sizes must have one value per axis");
  Var y = x;
  for (int a = 0; a < xt.rank; ++a) {
    if (!xt.dims[a].is_constant()) return ctx.unsupported("tf_half_pixel_for_nn needs extents known at load time");
    const std::int64_t in = xt.dims[a].constant_value();
    const std::size_t i = static_cast<std::size_t>(a);
    const std::int64_t out = sizes.empty() ? static_cast<std::int64_t>(std::floor(static_cast<double>(in) * scales[i])) : sizes[i];
    const double scale = sizes.empty() ? scales[i] : static_cast<double>(out) / static_cast<double>(in);
    if (out == in && scale == 1.0) continue;
    std::vector<std::int64_t> index(static_cast<std::size_t>(out));
    for (std::int64_t o = 0; o < out; ++o) {
      const double source = (static_cast<double>(o) + 0.5) / scale;
      double picked = std::floor(source);
      switch (rounding) {
        case relax::ResizeRounding::floor: break;
        case relax::ResizeRounding::ceil: picked = std::ceil(source); break;
        case relax::ResizeRounding::round_prefer_floor: picked = source - picked > 0.5 ? picked + 1 : picked; break;
        case relax::ResizeRounding::round_prefer_ceil: picked = source - picked >= 0.5 ? picked + 1 : picked; break;
      }
      index[static_cast<std::size_t>(o)] = std::clamp<std::int64_t>(static_cast<std::int64_t>(picked), 0, in - 1);
    }
    y = ctx.b().gather(y, ctx.i64_vector(index), a);
  }
  return ctx.set_output(0, y);
}

inline Status convert_resize(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::ResizeAttrs attrs;
  KILN_ASSIGN_OR_RETURN(attrs.mode, resize_mode(ctx));
  std::vector<double> scales;
  std::vector<std::int64_t> sizes;
  std::vector<double> roi;
  if (ctx.opset() < 11) {
    // Opset 10 (and Upsample): scales only, asymmetric coordinates, nearest rounds down.
    KILN_ASSIGN_OR_RETURN(scales, ctx.constant_reals(1, "scales"));
    attrs.coordinates = relax::ResizeCoordinates::asymmetric;
    attrs.nearest_rounding = relax::ResizeRounding::floor;
  } else if (ctx.opset() < 13 && ctx.attr_string("coordinate_transformation_mode", "") == "tf_half_pixel_for_nn") {
    if (attrs.mode != relax::ResizeMode::nearest) return ctx.invalid("tf_half_pixel_for_nn needs mode nearest");
    KILN_ASSIGN_OR_RETURN(const relax::ResizeRounding rounding, resize_rounding(ctx));
    KILN_ASSIGN_OR_RETURN(scales, optional_reals(ctx, 2, "scales"));
    if (ctx.has_input(3)) {
      KILN_ASSIGN_OR_RETURN(sizes, ctx.constant_ints(3, "sizes"));
    }
    return resize_tf_half_pixel_nearest(ctx, x, sizes.empty() ? scales : std::vector<double>{}, sizes, rounding);
  } else {
    KILN_ASSIGN_OR_RETURN(attrs.coordinates, resize_coordinates(ctx));
    KILN_ASSIGN_OR_RETURN(attrs.nearest_rounding, resize_rounding(ctx));
    attrs.cubic_coeff_a = ctx.attr_float("cubic_coeff_a", -0.75);
    attrs.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
    attrs.extrapolation_value = ctx.attr_float("extrapolation_value", 0.0);
    attrs.antialias = ctx.attr_int("antialias", 0) != 0;
    KILN_ASSIGN_OR_RETURN(attrs.keep_aspect_ratio, aspect_ratio_policy(ctx));
    attrs.axes = to_relax_ints(ctx.attr_ints("axes"));
    KILN_ASSIGN_OR_RETURN(scales, optional_reals(ctx, 2, "scales"));
    if (ctx.has_input(3)) {
      KILN_ASSIGN_OR_RETURN(sizes, ctx.constant_ints(3, "sizes"));
    }
    if (attrs.coordinates == relax::ResizeCoordinates::tf_crop_and_resize) {
      KILN_ASSIGN_OR_RETURN(roi, optional_reals(ctx, 1, "roi"));
    }
  }
  if (!scales.empty() && !sizes.empty()) return ctx.invalid("give scales or sizes, not both");
  if (scales.empty() && sizes.empty()) return ctx.invalid("scales or sizes is required");
  for (double s : scales) attrs.scales.push_back(s);
  for (std::int64_t s : sizes) attrs.sizes.push_back(s);
  for (double r : roi) attrs.roi.push_back(r);
  if (attrs.scales.overflow || attrs.roi.overflow)
    return ctx.unsupported("more scales or roi values than kiln's maximum rank allows");
  return ctx.set_output(0, ctx.emit(OpKind::resize, {x}, attrs));
}

// Upsample (opsets 7 to 9): scales an attribute in 7, an input in 9.
inline Status convert_upsample(NodeContext& ctx) {
  if (ctx.opset() >= 9) return convert_resize(ctx);
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::ResizeAttrs attrs;
  KILN_ASSIGN_OR_RETURN(attrs.mode, resize_mode(ctx));
  attrs.coordinates = relax::ResizeCoordinates::asymmetric;
  attrs.nearest_rounding = relax::ResizeRounding::floor;
  for (float s : ctx.attr_floats("scales")) attrs.scales.push_back(static_cast<double>(s));
  return ctx.set_output(0, ctx.emit(OpKind::resize, {x}, attrs));
}

inline constexpr ConverterEntry kResizeConverters[] = {
    {"Resize", convert_resize},
    {"Upsample", convert_upsample},
};

} // namespace kiln::onnx::detail
