// kiln/vm/ops/resize.hpp: the dynamic module's CPU kernel for resize (ONNX Resize, opsets 10
// to 19): nearest, linear and cubic interpolation over any axes of a tensor of any rank.
//
// Each resized axis maps output position j to an input coordinate x by ONNX's coordinate
// transform, with length_resized = scale * length_original:
//   half_pixel            x = (j + 0.5) / scale - 0.5
//   half_pixel_symmetric  x = in / 2 * (1 - out / length_resized) + (j + 0.5) / scale - 0.5
//   pytorch_half_pixel    x = length_resized > 1 ? (j + 0.5) / scale - 0.5 : 0
//   align_corners         x = j * (in - 1) / (length_resized - 1)     (0 when length_resized <= 1)
//   asymmetric            x = j / scale
//   tf_crop_and_resize    x = start * (in - 1) + j * (end - start) * (in - 1) / (length_resized - 1),
//                             or (start + end) / 2 * (in - 1) when length_resized <= 1
// The scale is the one given; with sizes it is out / in, or under a keep-aspect-ratio policy
// the one factor common to the listed axes. So length_resized is the size itself when sizes
// are stretched, and fractional when it comes from a scale: align_corners shrinking 4 by 0.6
// divides by 2.4 - 1, as ONNX's reference and its test data do. pytorch_half_pixel's 0 is
// the spec's (ONNX's Python reference takes -0.5, which only cubic can tell apart).
//
// nearest rounds x (round_prefer_floor, round_prefer_ceil, floor, ceil) and clamps it into
// the input. linear and cubic interpolate separably: along each axis, the taps around x
// (positions ceil(x) - 1 + i) are weighted by the kernel at distance x - position, a tent of
// radius 1 or the cubic convolution kernel with coefficient a of radius 2. antialias, when an
// axis shrinks, widens the kernel by 1 / scale (more taps, the weights normalized to sum to
// 1); exclude_outside drops the taps outside the input and renormalizes the rest; other taps
// outside the input read the edge. Under tf_crop_and_resize, an output element with any
// coordinate outside [0, in - 1] is extrapolation_value. antialias and exclude_outside do not
// apply to nearest, which picks one position and has no weights to widen or renormalize.
//
// At run start, each axis's taps go into scratch: the input position of every output
// position for nearest, a run of consecutive input positions and their weights for linear
// and cubic (taps that clamp to the same edge merged). nearest then gathers elements of any
// dtype; linear and cubic run one pass per resized axis (shrinking axes first, in the order
// that costs least) between two f32 buffers in scratch, vectorized along the contiguous
// extent behind the axis. The weights are computed in double and applied in f32; f16 and
// bf16 interpolate in f32, rounding once at the end.
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/infer_resize.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "encode_scalar.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace resize_impl {

using relax::AspectRatioPolicy;
using relax::OpKind;
using relax::ResizeAttrs;
using relax::ResizeCoordinates;
using relax::ResizeMode;
using relax::ResizeRounding;
using cpu_support::op_error;

inline constexpr OpKind kOp = OpKind::resize;

// ---- the geometry of every axis ---------------------------------------------------------------

// How one axis maps output positions back to input coordinates.
struct AxisMap {
  std::int64_t in = 1;
  std::int64_t out = 1;
  double scale = 1.0;          // what the coordinate transforms divide by
  double resized_length = 1.0; // the spec's length_resized: scale * in
  double roi_start = 0.0;      // tf_crop_and_resize's region, as fractions of in - 1
  double roi_end = 1.0;
  bool resized = false;        // false: output position j reads input position j
  std::int64_t taps = 1;       // linear and cubic: the most input positions one output reads
};

// Consecutive input positions [first, first + count) read by one output position; count 0
// marks a position outside tf_crop_and_resize's region.
struct TapRun {
  std::int64_t first = 0;
  std::int64_t count = 0;
};

// Everything a call derives from its shapes and attributes, scratch_bytes and run alike.
struct Plan {
  int rank = 0;
  AxisMap axes[kMaxRank];
  int passes = 0;                           // linear and cubic: one per resized axis, in `order`
  int order[kMaxRank] = {};
  std::size_t table_offset[kMaxRank] = {};  // where each axis's taps start in scratch
  std::size_t buffer_offset[2] = {};        // linear and cubic: f32 results between passes
  std::size_t bytes = 0;
};

inline constexpr std::size_t kScratchAlignment = 64;

// About how much faster a pass runs along a strided axis (whole vectors of the contiguous
// extent behind it) than along the contiguous axis (one element at a time).
inline constexpr double kVectorSpeedup = 8.0;

inline std::size_t align_up(std::size_t n) noexcept {
  return (n + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment;
}

// The radius of the interpolation kernel in input positions.
inline double kernel_radius(ResizeMode mode) noexcept { return mode == ResizeMode::cubic ? 2.0 : 1.0; }

// What distances in input positions are multiplied by before the kernel weighs them: the
// scale when antialiasing a shrinking axis (which widens the kernel to radius / scale
// positions a side), else 1.
inline double distance_scale(const ResizeAttrs& attrs, double scale) noexcept {
  return attrs.antialias ? std::min(scale, 1.0) : 1.0;
}

// The first tap's offset from ceil(x) - 1; the taps run from it to 1 - it.
inline std::int64_t first_tap_offset(double radius, double distance_factor) noexcept {
  return static_cast<std::int64_t>(std::floor(-radius / distance_factor)) + 1;
}

// The checks supports() and run() share: every list has the length the listed axes ask for.
inline Status check_attrs(const ResizeAttrs& attrs, int rank) {
  if (rank < 1) return op_error(StatusCode::unsupported, kOp, "inputs of rank 0 are not supported");
  if (attrs.scales.overflow || attrs.sizes.overflow || attrs.axes.overflow || attrs.roi.overflow)
    return op_error(StatusCode::invalid_argument, kOp, "an attribute list holds too many values");
  if (attrs.scales.empty() == attrs.sizes.empty())
    return op_error(StatusCode::invalid_argument, kOp, "give either scales or sizes");
  bool listed[kMaxRank] = {};
  for (std::int64_t axis : attrs.axes) {
    const int resolved = cpu_support::resolve_axis(axis, rank);
    if (resolved < 0)
      return op_error(StatusCode::invalid_argument, kOp, "axis ", axis, " is out of range for rank ", rank);
    if (listed[resolved]) return op_error(StatusCode::invalid_argument, kOp, "axis ", axis, " is repeated");
    listed[resolved] = true;
  }
  const int n = attrs.axes.empty() ? rank : attrs.axes.size();
  const int given = attrs.scales.empty() ? attrs.sizes.size() : attrs.scales.size();
  if (given != n)
    return op_error(StatusCode::invalid_argument, kOp, attrs.scales.empty() ? "sizes" : "scales", " has ", given,
                    " values, expected ", n);
  for (double s : attrs.scales)
    if (!(s > 0.0) || !std::isfinite(s))
      return op_error(StatusCode::invalid_argument, kOp, "scales must be positive and finite, got ", s);
  if (!attrs.sizes.empty() && attrs.keep_aspect_ratio != AspectRatioPolicy::stretch)
    for (const relax::SymDim& size : attrs.sizes)
      if (!size.is_constant() || size.constant_value() <= 0)
        return op_error(StatusCode::unsupported, kOp, "keep_aspect_ratio_policy needs positive constant sizes");
  if (attrs.mode != ResizeMode::nearest && attrs.mode != ResizeMode::linear && attrs.mode != ResizeMode::cubic)
    return op_error(StatusCode::invalid_argument, kOp, "unknown mode ", static_cast<int>(attrs.mode));
  if (static_cast<int>(attrs.coordinates) > static_cast<int>(ResizeCoordinates::tf_crop_and_resize))
    return op_error(StatusCode::invalid_argument, kOp, "unknown coordinate transform ",
                    static_cast<int>(attrs.coordinates));
  if (static_cast<int>(attrs.nearest_rounding) > static_cast<int>(ResizeRounding::ceil))
    return op_error(StatusCode::invalid_argument, kOp, "unknown nearest mode ",
                    static_cast<int>(attrs.nearest_rounding));
  if (!std::isfinite(attrs.cubic_coeff_a))
    return op_error(StatusCode::invalid_argument, kOp, "cubic_coeff_a must be finite");
  if (attrs.coordinates == ResizeCoordinates::tf_crop_and_resize) {
    if (attrs.roi.size() != 2 * n)
      return op_error(StatusCode::invalid_argument, kOp, "tf_crop_and_resize needs a roi of ", 2 * n,
                      " values (starts, then ends), got ", attrs.roi.size());
    for (double r : attrs.roi)
      if (!std::isfinite(r)) return op_error(StatusCode::invalid_argument, kOp, "roi values must be finite");
  }
  return {};
}

// The plan of a call: each axis's geometry, the order of the passes and the scratch layout.
inline Status make_plan(const ResizeAttrs& attrs, const Slot& x, const Slot& y, Plan& plan) {
  KILN_RETURN_IF_ERROR(check_attrs(attrs, x.rank));
  if (y.rank != x.rank || y.dtype != x.dtype)
    return op_error(StatusCode::shape_mismatch, kOp, "the output must have the input's rank and dtype");
  plan.rank = x.rank;
  int listed_as[kMaxRank];
  std::fill_n(listed_as, kMaxRank, -1);
  const int n = attrs.axes.empty() ? x.rank : attrs.axes.size();
  for (int i = 0; i < n; ++i) listed_as[attrs.axes.empty() ? i : cpu_support::resolve_axis(attrs.axes[i], x.rank)] = i;

  // Under a keep-aspect-ratio policy every listed axis takes one factor: the largest that fits
  // inside the sizes (not_larger) or the smallest that covers them (not_smaller).
  const bool common_factor = !attrs.sizes.empty() && attrs.keep_aspect_ratio != AspectRatioPolicy::stretch;
  double factor = 0.0;
  if (common_factor)
    for (int axis = 0; axis < x.rank; ++axis) {
      const int i = listed_as[axis];
      if (i < 0) continue;
      if (x.dims[axis] <= 0)
        return op_error(StatusCode::invalid_argument, kOp, "keep_aspect_ratio_policy needs non-empty axes (axis ", axis,
                        ")");
      const double ratio =
          static_cast<double>(attrs.sizes[i].constant_value()) / static_cast<double>(x.dims[axis]);
      if (factor == 0.0 || (attrs.keep_aspect_ratio == AspectRatioPolicy::not_larger ? ratio < factor : ratio > factor))
        factor = ratio;
    }

  const bool empty_output = y.elements() == 0;
  for (int axis = 0; axis < x.rank; ++axis) {
    AxisMap& m = plan.axes[axis];
    m = AxisMap{};
    m.in = x.dims[axis];
    m.out = y.dims[axis];
    const int i = listed_as[axis];
    if (i < 0) {
      if (m.in != m.out)
        return op_error(StatusCode::shape_mismatch, kOp, "axis ", axis, " is not resized, yet the input has ", m.in,
                        " and the output ", m.out);
      continue;
    }
    if (m.in == 0 && m.out != 0 && !empty_output)
      return op_error(StatusCode::invalid_argument, kOp, "axis ", axis, " is empty and cannot be resized to ", m.out);
    if (m.in == 0 || m.out == 0) continue;  // nothing to read or nothing to write
    if (!attrs.scales.empty()) {
      m.scale = attrs.scales[i];
      m.resized_length = m.scale * static_cast<double>(m.in);
    } else if (common_factor) {
      m.scale = factor;
      m.resized_length = factor * static_cast<double>(m.in);
    } else {
      m.scale = static_cast<double>(m.out) / static_cast<double>(m.in);
      m.resized_length = static_cast<double>(m.out);
    }
    if (attrs.coordinates == ResizeCoordinates::tf_crop_and_resize) {
      m.roi_start = attrs.roi[i];
      m.roi_end = attrs.roi[n + i];
    }
    // Every transform maps j to j when nothing changes (the region included).
    m.resized = !(m.in == m.out && m.scale == 1.0 && m.resized_length == static_cast<double>(m.in) &&
                  m.roi_start == 0.0 && m.roi_end == 1.0);
    if (m.resized && attrs.mode != ResizeMode::nearest) {
      const double radius = kernel_radius(attrs.mode);
      const double distance_factor = distance_scale(attrs, m.scale);
      // A scale that produced this output (out >= 1, so scale * in >= 1/2) widens the
      // kernel to at most radius * 2 * in positions a side; a smaller one cannot be this call's.
      if (!(radius / distance_factor <= 4.0 * static_cast<double>(m.in) + 4.0))
        return op_error(StatusCode::invalid_argument, kOp, "the scale of axis ", axis, " (", m.scale,
                        ") is too small for its extents ", m.in, " and ", m.out);
      const std::int64_t raw = 2 - 2 * first_tap_offset(radius, distance_factor);
      m.taps = std::min(raw, m.in);  // merged taps are distinct input positions
    }
  }

  std::size_t bytes = 0;
  if (empty_output) return {};
  if (attrs.mode == ResizeMode::nearest) {
    for (int axis = 0; axis < x.rank; ++axis) {
      plan.table_offset[axis] = bytes;
      bytes += align_up(static_cast<std::size_t>(plan.axes[axis].out) * sizeof(std::int64_t));
    }
    plan.bytes = bytes;
    return {};
  }

  // The cheapest order of the passes. A pass writes the elements it is given times its ratio
  // r = out / in, each at a cost c: its taps, divided by kVectorSpeedup unless the axis is the
  // contiguous one, whose pass reads one element at a time. Swapping two neighbouring passes
  // shows that a goes before b when c_a r_a (1 - r_b) <= c_b r_b (1 - r_a): shrinking axes
  // first, by c r / (1 - r) rising, then those that keep their extent, then growing axes, by
  // c r / (r - 1) falling.
  int contiguous = x.rank - 1;
  while (contiguous > 0 && x.dims[contiguous] == 1) --contiguous;
  const auto rank_key = [&](int axis, double& key) {
    const AxisMap& m = plan.axes[axis];
    const double r = static_cast<double>(m.out) / static_cast<double>(m.in);
    const double cost = static_cast<double>(m.taps) / (axis == contiguous ? 1.0 : kVectorSpeedup);
    key = r < 1.0 ? cost * r / (1.0 - r) : r > 1.0 ? -cost * r / (r - 1.0) : 0.0;
    return r < 1.0 ? 0 : r > 1.0 ? 2 : 1;
  };
  const auto before = [&](int first_axis, int second_axis) {
    double first_key = 0.0, second_key = 0.0;
    const int first_group = rank_key(first_axis, first_key), second_group = rank_key(second_axis, second_key);
    return first_group != second_group ? first_group < second_group : first_key < second_key;
  };
  for (int axis = 0; axis < x.rank; ++axis)
    if (plan.axes[axis].resized) plan.order[plan.passes++] = axis;
  for (int k = 1; k < plan.passes; ++k)  // an insertion sort: stable, and it does not allocate
    for (int i = k; i > 0 && before(plan.order[i], plan.order[i - 1]); --i) std::swap(plan.order[i], plan.order[i - 1]);

  for (int k = 0; k < plan.passes; ++k) {
    const AxisMap& m = plan.axes[plan.order[k]];
    plan.table_offset[plan.order[k]] = bytes;
    bytes += align_up(static_cast<std::size_t>(m.out) * sizeof(TapRun));
    bytes += align_up(static_cast<std::size_t>(m.out * m.taps) * sizeof(float));
  }
  // The results between passes: the last pass writes the output.
  std::int64_t dims[kMaxRank];
  std::copy_n(x.dims, x.rank, dims);
  std::int64_t largest = 0;
  for (int k = 0; k + 1 < plan.passes; ++k) {
    dims[plan.order[k]] = plan.axes[plan.order[k]].out;
    std::int64_t elements = 1;
    for (int axis = 0; axis < x.rank; ++axis) elements *= dims[axis];
    largest = std::max(largest, elements);
  }
  const std::size_t buffer = align_up(static_cast<std::size_t>(largest) * sizeof(float));
  plan.buffer_offset[0] = bytes;
  plan.buffer_offset[1] = bytes + buffer;
  bytes += buffer * (plan.passes >= 3 ? 2 : plan.passes == 2 ? 1 : 0);
  plan.bytes = bytes;
  return {};
}

// ---- coordinates and taps -----------------------------------------------------------------------

// The input coordinate output position j maps to (see the top of the file).
inline double source_coordinate(const AxisMap& m, ResizeCoordinates transform, std::int64_t j) noexcept {
  const double o = static_cast<double>(j);
  const double in = static_cast<double>(m.in);
  switch (transform) {
    case ResizeCoordinates::half_pixel: return (o + 0.5) / m.scale - 0.5;
    case ResizeCoordinates::half_pixel_symmetric: {
      // Centers the output on the input when rounding cut the output short.
      const double adjustment = static_cast<double>(m.out) / m.resized_length;
      const double offset = in / 2.0 * (1.0 - adjustment);
      return offset + (o + 0.5) / m.scale - 0.5;
    }
    case ResizeCoordinates::pytorch_half_pixel: return m.resized_length > 1.0 ? (o + 0.5) / m.scale - 0.5 : 0.0;
    case ResizeCoordinates::align_corners:
      return m.resized_length > 1.0 ? o * (in - 1.0) / (m.resized_length - 1.0) : 0.0;
    case ResizeCoordinates::asymmetric: return o / m.scale;
    case ResizeCoordinates::tf_crop_and_resize:
      return m.resized_length > 1.0 ? m.roi_start * (in - 1.0) +
                                           o * (m.roi_end - m.roi_start) * (in - 1.0) / (m.resized_length - 1.0)
                                     : 0.5 * (m.roi_start + m.roi_end) * (in - 1.0);
  }
  return o;
}

inline bool outside_input(double x, std::int64_t in) noexcept {
  return !(x >= 0.0 && x <= static_cast<double>(in - 1));
}

// The input position output position j reads in nearest mode; -1 outside tf_crop_and_resize's
// region.
inline std::int64_t nearest_position(const AxisMap& m, const ResizeAttrs& attrs, std::int64_t j) noexcept {
  if (!m.resized) return j;
  const double x = source_coordinate(m, attrs.coordinates, j);
  if (attrs.coordinates == ResizeCoordinates::tf_crop_and_resize && outside_input(x, m.in)) return -1;
  const double below = std::floor(x);
  const double fraction = x - below;
  double rounded = below;
  switch (attrs.nearest_rounding) {
    case ResizeRounding::round_prefer_floor: rounded = fraction <= 0.5 ? below : below + 1.0; break;
    case ResizeRounding::round_prefer_ceil: rounded = fraction < 0.5 ? below : below + 1.0; break;
    case ResizeRounding::floor: rounded = below; break;
    case ResizeRounding::ceil: rounded = std::ceil(x); break;
  }
  return static_cast<std::int64_t>(std::clamp(rounded, 0.0, static_cast<double>(m.in - 1)));
}

// The kernel's weight at distance d: the tent of radius 1, or the cubic convolution kernel
// with coefficient cubic_a (radius 2).
inline double kernel_weight(ResizeMode mode, double cubic_a, double d) noexcept {
  d = std::fabs(d);
  if (mode == ResizeMode::linear) return d < 1.0 ? 1.0 - d : 0.0;
  if (d <= 1.0) return ((cubic_a + 2.0) * d - (cubic_a + 3.0)) * d * d + 1.0;
  if (d < 2.0) return ((cubic_a * d - 5.0 * cubic_a) * d + 8.0 * cubic_a) * d - 4.0 * cubic_a;
  return 0.0;
}

// The taps of every output position of axis m: runs[j] and weights[j * m.taps, + count).
inline void build_taps(const AxisMap& m, const ResizeAttrs& attrs, TapRun* runs, float* weights) noexcept {
  const double distance_factor = distance_scale(attrs, m.scale);
  const std::int64_t first_offset = first_tap_offset(kernel_radius(attrs.mode), distance_factor);
  const std::int64_t raw = 2 - 2 * first_offset;
  const std::int64_t last_position = m.in - 1;
  for (std::int64_t j = 0; j < m.out; ++j) {
    float* w = weights + j * m.taps;
    const double x = source_coordinate(m, attrs.coordinates, j);
    if (attrs.coordinates == ResizeCoordinates::tf_crop_and_resize && outside_input(x, m.in)) {
      runs[j] = TapRun{};
      continue;
    }
    // The taps sit around the position left of x (x - 1 when x is whole), at distance
    // ratio in (0, 1] from x. Far outside the input every tap reads the same edge, so the
    // base is kept within reach of it.
    const double left = std::ceil(x) - 1.0;
    const double ratio = x - left;
    const auto base = static_cast<std::int64_t>(
        std::clamp(left, -static_cast<double>(raw) - 1.0, static_cast<double>(m.in + raw)));
    const auto weight = [&](std::int64_t t) {  // of tap t, at first_offset + t - ratio from x
      const double distance = static_cast<double>(first_offset + t) - ratio;
      return kernel_weight(attrs.mode, attrs.cubic_coeff_a, distance_factor * distance);
    };
    const auto dropped = [&](std::int64_t position) {
      return attrs.exclude_outside && (position < 0 || position > last_position);
    };
    double sum = 0.0;
    for (std::int64_t t = 0; t < raw; ++t)
      if (!dropped(base + first_offset + t)) sum += weight(t);
    const double normalize = sum != 0.0 ? 1.0 / sum : 1.0;
    const std::int64_t first = std::clamp<std::int64_t>(base + first_offset, 0, last_position);
    const std::int64_t last = std::clamp<std::int64_t>(base + first_offset + raw - 1, 0, last_position);
    runs[j] = TapRun{first, last - first + 1};
    // Taps that clamp to the same edge add up, in double, before they are stored.
    std::int64_t current = first;
    double merged = 0.0;
    for (std::int64_t t = 0; t < raw; ++t) {
      const std::int64_t position = base + first_offset + t;
      const std::int64_t clamped = std::clamp<std::int64_t>(position, 0, last_position);
      if (clamped != current) {
        w[current - first] = static_cast<float>(merged * normalize);
        current = clamped;
        merged = 0.0;
      }
      if (!dropped(position)) merged += weight(t);
    }
    w[current - first] = static_cast<float>(merged * normalize);
  }
}

// ---- nearest: a gather of elements of any dtype ----------------------------------------------------

// Copies output rows (all axes but the last) [row_begin, row_end): element j of a row is the
// input element at the sum of the axes' offsets, or `fill` where an offset is -1.
template <std::size_t Bytes>
void gather_rows(const Plan& plan, const std::int64_t* const* offsets, const std::byte* x, std::byte* y,
                 const unsigned char* fill, std::int64_t row_begin, std::int64_t row_end) noexcept {
  const int last = plan.rank - 1;
  const std::int64_t width = plan.axes[last].out;
  const std::int64_t* columns = offsets[last];
  std::int64_t index[kMaxRank] = {};  // of row_begin, over the axes before the last
  std::int64_t rest = row_begin;
  for (int axis = last; axis-- > 0;) {
    index[axis] = rest % plan.axes[axis].out;
    rest /= plan.axes[axis].out;
  }
  for (std::int64_t row = row_begin; row < row_end; ++row) {
    std::int64_t base = 0;
    bool outside = false;
    for (int axis = 0; axis < last; ++axis) {
      const std::int64_t offset = offsets[axis][index[axis]];
      outside = outside || offset < 0;
      base += offset;
    }
    std::byte* out = y + static_cast<std::size_t>(row * width) * Bytes;
    for (std::int64_t j = 0; j < width; ++j) {
      const bool blank = outside || columns[j] < 0;
      std::memcpy(out + static_cast<std::size_t>(j) * Bytes,
                  blank ? static_cast<const void*>(fill) : x + static_cast<std::size_t>(base + columns[j]) * Bytes,
                  Bytes);
    }
    for (int axis = last; axis-- > 0;) {
      if (++index[axis] < plan.axes[axis].out) break;
      index[axis] = 0;
    }
  }
}

inline Status run_nearest(const OpCall& call, const ResizeAttrs& attrs, const Plan& plan, const Slot& x,
                          const Slot& y) {
  const std::int64_t* offsets[kMaxRank] = {};
  std::int64_t stride = 1;
  for (int axis = plan.rank; axis-- > 0;) {
    const AxisMap& m = plan.axes[axis];
    auto* table = reinterpret_cast<std::int64_t*>(call.scratch.data() + plan.table_offset[axis]);
    for (std::int64_t j = 0; j < m.out; ++j) {
      const std::int64_t position = nearest_position(m, attrs, j);
      table[j] = position < 0 ? -1 : position * stride;
    }
    offsets[axis] = table;
    stride *= m.in;
  }
  unsigned char fill[8] = {};
  encode_scalar(y.dtype, attrs.extrapolation_value, fill);
  const auto* in = static_cast<const std::byte*>(x.data);
  auto* out = static_cast<std::byte*>(y.data);
  const std::int64_t rows = cpu_support::extent_product(y, 0, y.rank - 1);
  const std::int64_t width = y.dims[y.rank - 1];
  const auto gather = [&](auto bytes) {
    constexpr std::size_t kBytes = decltype(bytes)::value;
    cpu_support::parallel_items(call.pool, rows, width, [&](std::int64_t begin, std::int64_t end) {
      gather_rows<kBytes>(plan, offsets, in, out, fill, begin, end);
    });
  };
  switch (size_of(y.dtype)) {
    case 1: gather(std::integral_constant<std::size_t, 1>{}); break;
    case 2: gather(std::integral_constant<std::size_t, 2>{}); break;
    case 4: gather(std::integral_constant<std::size_t, 4>{}); break;
    default: gather(std::integral_constant<std::size_t, 8>{}); break;
  }
  return {};
}

// ---- linear and cubic: one pass per resized axis ------------------------------------------------------

// to[i] = sum over t of w[t] * from[t * stride + i], for i < inner.
template <class Src, class Dst>
void blend_rows(Dst* to, const Src* from, std::int64_t stride, std::int64_t inner, const float* w,
                std::int64_t count) noexcept {
  std::int64_t i = 0;
  if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, float>) {
    using cpu_support::f32_batch;
    for (; i + cpu_support::kLanes <= inner; i += cpu_support::kLanes) {
      f32_batch acc(0.0f);
      for (std::int64_t t = 0; t < count; ++t)
        acc = xsimd::fma(f32_batch(w[t]), f32_batch::load_unaligned(from + t * stride + i), acc);
      acc.store_unaligned(to + i);
    }
  }
  for (; i < inner; ++i) {
    float acc = 0.0f;
    for (std::int64_t t = 0; t < count; ++t) acc += w[t] * static_cast<float>(from[t * stride + i]);
    to[i] = static_cast<Dst>(acc);
  }
}

// One axis's pass: src is [outer, m.in, inner], dst [outer, m.out, inner].
template <class Src, class Dst>
void resize_axis(ThreadPool* pool, const AxisMap& m, const TapRun* runs, const float* weights, const Src* src,
                 Dst* dst, std::int64_t outer, std::int64_t inner) {
  const std::int64_t rows = outer * m.out;
  cpu_support::parallel_items(pool, rows, inner * m.taps, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t o = begin / m.out, j = begin % m.out;
    for (std::int64_t r = begin; r < end; ++r) {
      const TapRun run = runs[j];
      const Src* from = src + (o * m.in + run.first) * inner;
      const float* w = weights + j * m.taps;
      if (inner == 1) {  // the contiguous axis: one dot product per output
        float acc = 0.0f;
        for (std::int64_t t = 0; t < run.count; ++t) acc += w[t] * static_cast<float>(from[t]);
        dst[r] = static_cast<Dst>(acc);
      } else {
        blend_rows(dst + r * inner, from, inner, inner, w, run.count);
      }
      if (++j == m.out) {
        j = 0;
        ++o;
      }
    }
  });
}

// Writes `value` at every output position outside tf_crop_and_resize's region.
template <class T>
void fill_outside(const Plan& plan, const TapRun* const* runs, T* y, T value) noexcept {
  for (int k = 0; k < plan.passes; ++k) {
    const int axis = plan.order[k];
    const AxisMap& m = plan.axes[axis];
    std::int64_t outer = 1, inner = 1;
    for (int other = 0; other < axis; ++other) outer *= plan.axes[other].out;
    for (int other = axis + 1; other < plan.rank; ++other) inner *= plan.axes[other].out;
    for (std::int64_t j = 0; j < m.out; ++j) {
      if (runs[axis][j].count != 0) continue;
      for (std::int64_t o = 0; o < outer; ++o) std::fill_n(y + (o * m.out + j) * inner, inner, value);
    }
  }
}

template <class T>
Status run_interpolated(const OpCall& call, const ResizeAttrs& attrs, const Plan& plan, const Slot& x, const Slot& y) {
  if (plan.passes == 0) {  // every axis keeps its positions
    std::memcpy(y.data, x.data, x.bytes());
    return {};
  }
  const TapRun* runs[kMaxRank] = {};
  const float* weights[kMaxRank] = {};
  for (int k = 0; k < plan.passes; ++k) {
    const int axis = plan.order[k];
    const AxisMap& m = plan.axes[axis];
    std::byte* table = call.scratch.data() + plan.table_offset[axis];
    auto* axis_runs = reinterpret_cast<TapRun*>(table);
    auto* axis_weights = reinterpret_cast<float*>(table + align_up(static_cast<std::size_t>(m.out) * sizeof(TapRun)));
    build_taps(m, attrs, axis_runs, axis_weights);
    runs[axis] = axis_runs;
    weights[axis] = axis_weights;
  }
  float* buffers[2] = {reinterpret_cast<float*>(call.scratch.data() + plan.buffer_offset[0]),
                       reinterpret_cast<float*>(call.scratch.data() + plan.buffer_offset[1])};
  std::int64_t dims[kMaxRank];
  std::copy_n(x.dims, x.rank, dims);
  const T* input = x.data_as<const T>();
  T* output = y.data_as<T>();
  const float* between = nullptr;  // the previous pass's result
  for (int k = 0; k < plan.passes; ++k) {
    const int axis = plan.order[k];
    const AxisMap& m = plan.axes[axis];
    std::int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= dims[d];
    for (int d = axis + 1; d < plan.rank; ++d) inner *= dims[d];
    const bool first = k == 0, last = k + 1 == plan.passes;
    float* next = buffers[k % 2];
    if (first && last) resize_axis(call.pool, m, runs[axis], weights[axis], input, output, outer, inner);
    else if (first) resize_axis(call.pool, m, runs[axis], weights[axis], input, next, outer, inner);
    else if (last) resize_axis(call.pool, m, runs[axis], weights[axis], between, output, outer, inner);
    else resize_axis(call.pool, m, runs[axis], weights[axis], between, next, outer, inner);
    between = next;
    dims[axis] = m.out;
  }
  if (attrs.coordinates == ResizeCoordinates::tf_crop_and_resize)
    fill_outside(plan, runs, output, static_cast<T>(attrs.extrapolation_value));
  return {};
}

// ---- the entry points -------------------------------------------------------------------------------

inline bool interpolates(DType t) noexcept { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

inline std::size_t scratch_bytes(const OpCall& call) {
  const auto* attrs = std::get_if<ResizeAttrs>(call.attrs);
  if (attrs == nullptr || call.input(0) == nullptr || call.outputs.size() != 1 || call.outputs[0] == nullptr) return 0;
  Plan plan;
  return make_plan(*attrs, *call.input(0), call.output(), plan).ok() ? plan.bytes : 0;
}

inline Status run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const auto* attrs = std::get_if<ResizeAttrs>(call.attrs);
  if (attrs == nullptr) return op_error(StatusCode::internal, kOp, "expects resize attributes");
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  if (!x.contiguous() || !y.contiguous())
    return op_error(StatusCode::unsupported, kOp, "non-contiguous operands are not supported");
  Plan plan;
  KILN_RETURN_IF_ERROR(make_plan(*attrs, x, y, plan));
  if (y.elements() == 0) return {};
  if (call.scratch.size() < plan.bytes)
    return op_error(StatusCode::internal, kOp, "the scratch is smaller than scratch_bytes()");
  if (attrs->mode == ResizeMode::nearest) return run_nearest(call, *attrs, plan, x, y);
  switch (x.dtype) {
    case DType::f32: return run_interpolated<float>(call, *attrs, plan, x, y);
    case DType::f16: return run_interpolated<f16>(call, *attrs, plan, x, y);
    case DType::bf16: return run_interpolated<bf16>(call, *attrs, plan, x, y);
    default: return cpu_support::dtype_unsupported(kOp, "input", x.dtype, "linear and cubic take f32, f16 and bf16");
  }
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, 1, 1));
  const auto* attrs = std::get_if<ResizeAttrs>(&binding.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, kOp, "expects resize attributes");
  const relax::TensorType& x = *cpu_support::input_type(binding, fn, 0);
  const relax::TensorType& y = *cpu_support::output_type(binding, fn);
  if (y.dtype != x.dtype)
    return op_error(StatusCode::invalid_argument, kOp, "the output's dtype ", to_string(y.dtype),
                    " is not the input's ", to_string(x.dtype));
  KILN_RETURN_IF_ERROR(check_attrs(*attrs, x.rank));
  if (attrs->mode != ResizeMode::nearest && !interpolates(x.dtype))
    return cpu_support::dtype_unsupported(kOp, "input", x.dtype,
                                          "linear and cubic take f32, f16 and bf16; nearest takes every dtype");
  return {};
}

inline constexpr OpKernel kKernel{&supports, &scratch_bytes, &run};

} // namespace resize_impl

// The CPU kernel of resize; null for other ops.
inline const OpKernel* cpu_resize_kernel(relax::OpKind op) {
  return op == relax::OpKind::resize ? &resize_impl::kKernel : nullptr;
}

} // namespace kiln::vm
