// kiln/relax/infer_resize.hpp: the type of resize (ONNX Resize), by scales or by sizes.
#pragma once

#include <cstdint>
#include <string_view>

#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

enum class ResizeMode : std::uint8_t { nearest, linear, cubic };

// How an output coordinate maps back to an input coordinate (ONNX's
// coordinate_transformation_mode).
enum class ResizeCoordinates : std::uint8_t {
  half_pixel,
  half_pixel_symmetric,
  pytorch_half_pixel,
  align_corners,
  asymmetric,
  tf_crop_and_resize,
};

// How nearest mode rounds a fractional input coordinate.
enum class ResizeRounding : std::uint8_t { round_prefer_floor, round_prefer_ceil, floor, ceil };

// With sizes: stretch takes each size as it is; not_larger and not_smaller scale every
// listed axis by one factor, the largest that fits inside the sizes or the smallest that
// covers them, so the aspect ratio is kept.
enum class AspectRatioPolicy : std::uint8_t { stretch, not_larger, not_smaller };

// Exactly one of `scales` and `sizes`, for the listed axes (all axes when none are listed).
// The interpolation fields do not change the type; the aspect-ratio policy does.
struct ResizeAttrs {
  FixedVector<double, kMaxRank> scales = {};
  Dims sizes = {};
  Ints axes = {};
  ResizeMode mode = ResizeMode::nearest;
  ResizeCoordinates coordinates = ResizeCoordinates::half_pixel;
  ResizeRounding nearest_rounding = ResizeRounding::round_prefer_floor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;     // cubic: drop taps outside the input and renormalize
  double extrapolation_value = 0.0; // tf_crop_and_resize: the value outside the region
  FixedVector<double, 2 * kMaxRank> roi = {};  // tf_crop_and_resize: starts then ends, per listed axis
  bool antialias = false;           // linear and cubic: widen the filter when shrinking
  AspectRatioPolicy keep_aspect_ratio = AspectRatioPolicy::stretch;
};

namespace detail {

// A positive scale as numerator / denominator, the denominator at most 1024, when the
// double is exactly such a fraction (0.5, 1.5, 2); false otherwise.
constexpr bool scale_as_fraction(double scale, std::int64_t& numerator, std::int64_t& denominator) noexcept {
  for (std::int64_t q = 1; q <= 1024; ++q) {
    const double p = scale * static_cast<double>(q);
    if (p > 4.0e15) return false;
    const auto whole = static_cast<std::int64_t>(p);
    if (static_cast<double>(whole) == p) {
      numerator = whole;
      denominator = q;
      return true;
    }
  }
  return false;
}

// floor(d * scale). A scale that is a simple fraction p / q is applied as floordiv(d * p, q)
// to constant and symbolic extents alike (so 30 * 0.3 is 9, not the 8 of double rounding);
// other scales apply in double precision, to constant extents only.
constexpr Inferred<SymDim> scaled_extent(const SymDim& d, double scale) noexcept {
  std::int64_t p = 0;
  std::int64_t q = 1;
  if (scale_as_fraction(scale, p, q)) {
    const SymDim extent = floordiv(d * p, q);
    if (!extent.valid())
      return type_error(StatusCode::out_of_range, "resize: extent ", d, " scaled is ", to_string(extent.fault()));
    return extent;
  }
  if (!d.is_constant())
    return type_error(StatusCode::unsupported,
                      "resize: a scale that is no simple fraction cannot apply to the symbolic extent ", d);
  const double extent = static_cast<double>(d.constant_value()) * scale;
  if (!(extent < 9.0e18)) return type_error(StatusCode::out_of_range, "resize: extent ", d, " scaled is too large");
  return SymDim(static_cast<std::int64_t>(extent));
}

} // namespace detail

namespace infer {

constexpr Inferred<TensorType> resize(const TensorType& x, const ResizeAttrs& attrs) noexcept {
  constexpr std::string_view op = "resize";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "scales", attrs.scales));
  KILN_RELAX_CHECK(detail::check_list(op, "sizes", attrs.sizes));
  KILN_RELAX_CHECK(detail::normalize_axes(op, attrs.axes, x.rank).failure());
  if (attrs.scales.empty() == attrs.sizes.empty())
    return type_error(StatusCode::invalid_argument, op, ": give either scales or sizes");
  const int n = attrs.axes.empty() ? x.rank : attrs.axes.size();
  const int given = attrs.scales.empty() ? attrs.sizes.size() : attrs.scales.size();
  if (given != n)
    return type_error(StatusCode::invalid_argument, op, ": ", attrs.scales.empty() ? "sizes" : "scales", " has ", given,
                      " values, expected ", n);
  TensorType out = x;
  if (!attrs.sizes.empty() && attrs.keep_aspect_ratio != AspectRatioPolicy::stretch) {
    // One factor for every listed axis; it needs every listed extent and size known.
    double factor = 0.0;
    for (int i = 0; i < n; ++i) {
      int a = i;
      if (!attrs.axes.empty()) {
        KILN_RELAX_ASSIGN(a, detail::normalize_axis(op, attrs.axes[i], x.rank));
      }
      if (!x.dims[a].is_constant() || !attrs.sizes[i].is_constant())
        return type_error(StatusCode::unsupported, op,
                          ": keep_aspect_ratio_policy needs constant extents and sizes, got ", x.dims[a], " and ",
                          attrs.sizes[i]);
      if (x.dims[a].constant_value() <= 0 || attrs.sizes[i].constant_value() <= 0)
        return type_error(StatusCode::invalid_argument, op,
                          ": keep_aspect_ratio_policy needs positive extents and sizes (axis ", a, ")");
      const double ratio = static_cast<double>(attrs.sizes[i].constant_value()) /
                           static_cast<double>(x.dims[a].constant_value());
      if (i == 0 || (attrs.keep_aspect_ratio == AspectRatioPolicy::not_larger ? ratio < factor : ratio > factor))
        factor = ratio;
    }
    for (int i = 0; i < n; ++i) {
      int a = i;
      if (!attrs.axes.empty()) {
        KILN_RELAX_ASSIGN(a, detail::normalize_axis(op, attrs.axes[i], x.rank));
      }
      // Halves round up, as ONNX specifies.
      const double scaled = factor * static_cast<double>(x.dims[a].constant_value());
      out.dims[a] = SymDim(static_cast<std::int64_t>(scaled + 0.5));
    }
    return out;
  }
  for (int i = 0; i < n; ++i) {
    int a = i;
    if (!attrs.axes.empty()) {
      KILN_RELAX_ASSIGN(a, detail::normalize_axis(op, attrs.axes[i], x.rank));
    }
    if (attrs.scales.empty()) {
      out.dims[a] = attrs.sizes[i];
      if (!out.dims[a].valid() || out.dims[a].bounds().hi < 0)
        return type_error(StatusCode::invalid_argument, op, ": sizes must not be negative, got ", attrs.sizes[i]);
      continue;
    }
    if (!(attrs.scales[i] > 0.0))
      return type_error(StatusCode::invalid_argument, op, ": scales must be positive (axis ", a, ")");
    KILN_RELAX_ASSIGN(out.dims[a], detail::scaled_extent(x.dims[a], attrs.scales[i]));
  }
  return out;
}

} // namespace infer
} // namespace kiln::relax
