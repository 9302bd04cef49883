// The dynamic module's CPU kernel for resize (kiln/vm/ops/resize.hpp) against a naive
// reference written here from ONNX's Resize specification: for every output element, each
// resized axis's input coordinate, its neighbours and their coefficients are worked out in
// double as the spec's reference describes them (neighbours edge-padded), and the element is
// the sum over every combination of the axes' taps. Every
// mode, coordinate transform and nearest rounding, up and down, extents 1, 3 and 17, ranks 1
// to 4, subsets of axes, antialias, exclude_outside, tf_crop_and_resize with extrapolation,
// the aspect-ratio policies, other dtypes, the thread pool, known answers from the spec's own
// examples and the refusals.
#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/executable.hpp>
#include <kiln/vm/execution_context.hpp>
#include <kiln/vm/ops/resize.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allocation_counter.hpp"
#include "test_data.hpp"
#include "vm_op_harness.hpp"

using namespace kiln;
using namespace kiln::relax;
using kiln::test::at;
using kiln::test::pattern;
namespace vm_ops = kiln::test::vm_ops;

namespace {

using vm_ops::finished;
using vm_ops::host;
using vm_ops::host_type;
using vm_ops::Host;
using vm_ops::Outcome;
using Index = std::vector<std::int64_t>;

std::int64_t product(const Index& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

std::string text(const Index& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}


std::string_view name_of(ResizeMode m) {
  switch (m) {
    case ResizeMode::nearest: return "nearest";
    case ResizeMode::linear: return "linear";
    case ResizeMode::cubic: return "cubic";
  }
  return "?";
}
std::string_view name_of(ResizeCoordinates c) {
  switch (c) {
    case ResizeCoordinates::half_pixel: return "half_pixel";
    case ResizeCoordinates::half_pixel_symmetric: return "half_pixel_symmetric";
    case ResizeCoordinates::pytorch_half_pixel: return "pytorch_half_pixel";
    case ResizeCoordinates::align_corners: return "align_corners";
    case ResizeCoordinates::asymmetric: return "asymmetric";
    case ResizeCoordinates::tf_crop_and_resize: return "tf_crop_and_resize";
  }
  return "?";
}
std::string_view name_of(ResizeRounding r) {
  switch (r) {
    case ResizeRounding::round_prefer_floor: return "round_prefer_floor";
    case ResizeRounding::round_prefer_ceil: return "round_prefer_ceil";
    case ResizeRounding::floor: return "floor";
    case ResizeRounding::ceil: return "ceil";
  }
  return "?";
}

// What one case is about, for the messages of failed checks.
std::string describe(const Index& dims, const ResizeAttrs& a) {
  std::string s = "x " + text(dims) + ", " + std::string(name_of(a.mode)) + ", " + std::string(name_of(a.coordinates));
  if (a.mode == ResizeMode::nearest) s += ", " + std::string(name_of(a.nearest_rounding));
  if (!a.scales.empty()) {
    s += ", scales [";
    for (int i = 0; i < a.scales.size(); ++i) s += (i ? ", " : "") + std::to_string(a.scales[i]);
    s += "]";
  } else {
    s += ", sizes [";
    for (int i = 0; i < a.sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(a.sizes[i].constant_value());
    s += "]";
  }
  if (!a.axes.empty()) {
    s += ", axes [";
    for (int i = 0; i < a.axes.size(); ++i) s += (i ? ", " : "") + std::to_string(a.axes[i]);
    s += "]";
  }
  if (a.antialias) s += ", antialias";
  if (a.exclude_outside) s += ", exclude_outside";
  if (a.keep_aspect_ratio == AspectRatioPolicy::not_larger) s += ", not_larger";
  if (a.keep_aspect_ratio == AspectRatioPolicy::not_smaller) s += ", not_smaller";
  return s;
}

// ---- the reference, from the spec ---------------------------------------------------------------

// One listed axis as the spec sees it.
struct SpecAxis {
  std::int64_t in = 1;
  std::int64_t out = 1;
  double scale = 1.0;   // given, or out / in from sizes, or the policy's common factor
  double length = 1.0;  // length_resized: the output length, fractional when from a scale
  double roi_start = 0.0;
  double roi_end = 1.0;
};

struct SpecShape {
  Index out;
  std::vector<int> listed;  // per axis: its index among the listed ones, or -1
  std::vector<SpecAxis> axes;
};

// The output shape and every listed axis's scale: floor(scale * in) from scales, the sizes,
// or round-half-up(factor * in) under a keep-aspect-ratio policy.
SpecShape spec_shape(const Index& dims, const ResizeAttrs& a) {
  const int rank = static_cast<int>(dims.size());
  SpecShape s;
  s.out = dims;
  s.listed.assign(dims.size(), -1);
  s.axes.assign(dims.size(), SpecAxis{});
  const int n = a.axes.empty() ? rank : a.axes.size();
  for (int i = 0; i < n; ++i) {
    const std::int64_t axis = a.axes.empty() ? i : (a.axes[i] < 0 ? a.axes[i] + rank : a.axes[i]);
    s.listed[at(axis)] = i;
  }
  double factor = 0.0;
  if (!a.sizes.empty() && a.keep_aspect_ratio != AspectRatioPolicy::stretch) {
    std::vector<double> ratios;
    for (int axis = 0; axis < rank; ++axis)
      if (s.listed[at(axis)] >= 0)
        ratios.push_back(static_cast<double>(a.sizes[s.listed[at(axis)]].constant_value()) /
                         static_cast<double>(dims[at(axis)]));
    factor = a.keep_aspect_ratio == AspectRatioPolicy::not_larger ? *std::min_element(ratios.begin(), ratios.end())
                                                                   : *std::max_element(ratios.begin(), ratios.end());
  }
  for (int axis = 0; axis < rank; ++axis) {
    const int i = s.listed[at(axis)];
    if (i < 0) continue;
    SpecAxis& ax = s.axes[at(axis)];
    ax.in = dims[at(axis)];
    const double in = static_cast<double>(ax.in);
    if (!a.scales.empty()) {
      ax.scale = a.scales[i];
      ax.length = ax.scale * in;
      ax.out = static_cast<std::int64_t>(std::floor(ax.length + 1e-9));  // the scales here are exact in decimal
    } else if (factor != 0.0) {
      ax.scale = factor;
      ax.length = factor * in;
      ax.out = static_cast<std::int64_t>(ax.length + 0.5);
    } else {
      ax.out = a.sizes[i].constant_value();
      ax.scale = static_cast<double>(ax.out) / in;
      ax.length = static_cast<double>(ax.out);
    }
    if (a.coordinates == ResizeCoordinates::tf_crop_and_resize) {
      ax.roi_start = a.roi[i];
      ax.roi_end = a.roi[n + i];
    }
    s.out[at(axis)] = ax.out;
  }
  return s;
}

// x_original of output coordinate x_resized, as the spec writes each transform.
double spec_coordinate(const SpecAxis& ax, ResizeCoordinates mode, std::int64_t x_resized) {
  const double x = static_cast<double>(x_resized);
  const double length_original = static_cast<double>(ax.in);
  const double length_resized = ax.length;
  switch (mode) {
    case ResizeCoordinates::half_pixel: return (x + 0.5) / ax.scale - 0.5;
    case ResizeCoordinates::half_pixel_symmetric: {
      const double adjustment = static_cast<double>(ax.out) / length_resized;  // output_width_int / output_width
      const double center = length_original / 2.0;
      const double offset = center * (1.0 - adjustment);
      return offset + (x + 0.5) / ax.scale - 0.5;
    }
    case ResizeCoordinates::pytorch_half_pixel: return length_resized > 1.0 ? (x + 0.5) / ax.scale - 0.5 : 0.0;
    case ResizeCoordinates::align_corners:
      return length_resized > 1.0 ? x * (length_original - 1.0) / (length_resized - 1.0) : 0.0;
    case ResizeCoordinates::asymmetric: return x / ax.scale;
    case ResizeCoordinates::tf_crop_and_resize:
      if (!(length_resized > 1.0)) return 0.5 * (ax.roi_start + ax.roi_end) * (length_original - 1.0);
      return ax.roi_start * (length_original - 1.0) +
             x * (ax.roi_end - ax.roi_start) * (length_original - 1.0) / (length_resized - 1.0);
  }
  return x;
}

// The cubic convolution kernel at distance d.
double cubic_kernel(double d, double a) {
  d = std::fabs(d);
  if (d <= 1.0) return (a + 2.0) * d * d * d - (a + 3.0) * d * d + 1.0;
  if (d < 2.0) return a * d * d * d - 5.0 * a * d * d + 8.0 * a * d - 4.0 * a;
  return 0.0;
}

// The coefficients of the neighbours of a coordinate whose distance past its left neighbour
// is ratio, in (0, 1]; `first` is the offset of the first neighbour from the left one.
std::vector<double> spec_coefficients(const ResizeAttrs& a, double ratio, double scale, std::int64_t& first) {
  const double A = a.cubic_coeff_a;
  std::vector<double> c;
  first = a.mode == ResizeMode::linear ? 0 : -1;
  if (a.mode == ResizeMode::linear && !a.antialias) return {1.0 - ratio, ratio};
  if (a.mode == ResizeMode::cubic && !a.antialias) {
    const double r = ratio, q = 1.0 - ratio;
    return {((A * (r + 1.0) - 5.0 * A) * (r + 1.0) + 8.0 * A) * (r + 1.0) - 4.0 * A,
            ((A + 2.0) * r - (A + 3.0)) * r * r + 1.0,
            ((A + 2.0) * q - (A + 3.0)) * q * q + 1.0,
            ((A * (q + 1.0) - 5.0 * A) * (q + 1.0) + 8.0 * A) * (q + 1.0) - 4.0 * A};
  }
  // Antialiasing stretches the kernel by 1 / scale when shrinking; the weights are normalized.
  const double s = std::min(scale, 1.0);
  const double radius = a.mode == ResizeMode::linear ? 1.0 : 2.0;
  const auto start = static_cast<std::int64_t>(std::floor(-radius / s) + 1.0);
  const std::int64_t end = 2 - start;
  first = start;
  double sum = 0.0;
  for (std::int64_t i = start; i < end; ++i) {
    const double arg = s * (static_cast<double>(i) - ratio);
    c.push_back(a.mode == ResizeMode::linear ? std::clamp(1.0 - std::fabs(arg), 0.0, 1.0) : cubic_kernel(arg, A));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

struct Tap {
  std::int64_t index;
  double weight;
};

// The taps of output position j of one listed axis; false outside tf_crop_and_resize's region.
bool spec_taps(const SpecAxis& ax, const ResizeAttrs& a, std::int64_t j, std::vector<Tap>& taps) {
  taps.clear();
  const double x = spec_coordinate(ax, a.coordinates, j);
  const double last = static_cast<double>(ax.in - 1);
  if (a.coordinates == ResizeCoordinates::tf_crop_and_resize && (x < 0.0 || x > last)) return false;
  const auto clamp = [&](std::int64_t i) { return std::clamp<std::int64_t>(i, 0, ax.in - 1); };
  const double floor_x = std::floor(x);
  const bool whole = floor_x == x;
  if (a.mode == ResizeMode::nearest) {
    const double fraction = x - floor_x;
    double pick = floor_x + 1.0;  // a whole x picks itself: its neighbours are x - 1 and x
    if (whole) pick = x;
    else if (a.nearest_rounding == ResizeRounding::round_prefer_floor) pick = fraction <= 0.5 ? floor_x : floor_x + 1.0;
    else if (a.nearest_rounding == ResizeRounding::round_prefer_ceil) pick = fraction < 0.5 ? floor_x : floor_x + 1.0;
    else if (a.nearest_rounding == ResizeRounding::floor) pick = floor_x;
    taps.push_back({clamp(static_cast<std::int64_t>(pick)), 1.0});
    return true;
  }
  // The left neighbour is the position below x, or x - 1 when x is whole, so the ratio is in
  // (0, 1]; the neighbours follow it one by one.
  const double ratio = whole ? 1.0 : x - floor_x;
  const std::int64_t left = static_cast<std::int64_t>(floor_x) - (whole ? 1 : 0);
  std::int64_t first = 0;
  std::vector<double> c = spec_coefficients(a, ratio, ax.scale, first);
  std::vector<std::int64_t> neighbours;
  for (std::size_t i = 0; i < c.size(); ++i) neighbours.push_back(left + first + static_cast<std::int64_t>(i));
  if (a.exclude_outside) {
    double sum = 0.0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (neighbours[i] < 0 || neighbours[i] >= ax.in) c[i] = 0.0;
      sum += c[i];
    }
    for (double& v : c) v /= sum;
  }
  for (std::size_t i = 0; i < c.size(); ++i) taps.push_back({clamp(neighbours[i]), c[i]});
  return true;
}

// Resize by the spec, element by element.
std::vector<double> spec_resize(const std::vector<double>& x, const Index& dims, const ResizeAttrs& a,
                                const SpecShape& s) {
  const std::size_t rank = dims.size();
  std::vector<double> y(at(product(s.out)));
  Index index(rank, 0);
  std::vector<std::vector<Tap>> taps(rank);
  for (std::size_t e = 0; e < y.size(); ++e) {
    bool outside = false;
    for (std::size_t axis = 0; axis < rank; ++axis) {
      if (s.listed[axis] < 0) taps[axis] = {{index[axis], 1.0}};
      else outside = !spec_taps(s.axes[axis], a, index[axis], taps[axis]) || outside;
    }
    if (outside) {
      y[e] = a.extrapolation_value;
    } else {
      // Every combination of one tap per axis.
      std::vector<std::size_t> pick(rank, 0);
      double sum = 0.0;
      for (bool more = true; more;) {
        double weight = 1.0;
        std::int64_t offset = 0;
        for (std::size_t axis = 0; axis < rank; ++axis) {
          weight *= taps[axis][pick[axis]].weight;
          offset = offset * dims[axis] + taps[axis][pick[axis]].index;
        }
        sum += weight * x[at(offset)];
        more = false;
        for (std::size_t axis = rank; axis-- > 0;) {
          if (++pick[axis] < taps[axis].size()) {
            more = true;
            break;
          }
          pick[axis] = 0;
        }
      }
      y[e] = sum;
    }
    for (std::size_t axis = rank; axis-- > 0;) {
      if (++index[axis] < s.out[axis]) break;
      index[axis] = 0;
    }
  }
  return y;
}

// ---- running the kernel ------------------------------------------------------------------------

Module resize_module(const TensorType& x, const ResizeAttrs& attrs) {
  Builder b;
  Var xv = b.input("x", x);
  return finished(b, b.emit(OpKind::resize, {xv}, attrs));
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tolerance) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool same_nan = std::isnan(got[i]) && std::isnan(want[i]);
    if (!same_nan && !(std::fabs(got[i] - want[i]) <= tolerance * (1.0 + std::fabs(want[i]))) && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " differ; first at ", first, ": got ", bad ? got[first] : 0.0,
                ", want ", bad ? want[first] : 0.0);
}

template <class T>
std::vector<double> as_doubles(const std::vector<T>& values) {
  std::vector<double> out;
  for (const T& v : values) out.push_back(static_cast<double>(static_cast<float>(v)));
  return out;
}

// Runs resize of an f32 tensor and compares it with the spec's reference.
void check_resize(const Index& dims, const ResizeAttrs& attrs, ThreadPool* pool = nullptr, float phase = 0.3f) {
  const std::string what = describe(dims, attrs);
  CAPTURE(what);
  Host x = host(pattern(at(product(dims)), phase, 2.0f), dims);
  const Module m = resize_module(host_type(x), attrs);
  const Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_resize_kernel, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  const SpecShape s = spec_shape(dims, attrs);
  REQUIRE(o.dims() == s.out);
  const std::vector<double> want = spec_resize(as_doubles(x.values<float>()), dims, attrs, s);
  check_close(as_doubles(o.out()), want, attrs.mode == ResizeMode::nearest ? 0.0 : 1e-5);
}

ResizeAttrs by_scales(std::vector<double> scales, Ints axes = {}) {
  ResizeAttrs a;
  for (double s : scales) a.scales.push_back(s);
  a.axes = axes;
  return a;
}
ResizeAttrs by_sizes(const Index& sizes, Ints axes = {}) {
  ResizeAttrs a;
  for (std::int64_t s : sizes) a.sizes.push_back(SymDim(s));
  a.axes = axes;
  return a;
}

// A region per listed axis: starts, then ends.
void set_roi(ResizeAttrs& a, const std::vector<double>& starts, const std::vector<double>& ends) {
  a.roi = {};
  for (double v : starts) a.roi.push_back(v);
  for (double v : ends) a.roi.push_back(v);
}

// A region inside the input for each listed axis, different per axis.
void inner_roi(ResizeAttrs& a, int listed) {
  std::vector<double> starts, ends;
  for (int i = 0; i < listed; ++i) {
    starts.push_back(0.1 + 0.05 * i);
    ends.push_back(0.85 - 0.1 * i);
  }
  set_roi(a, starts, ends);
}

int listed_count(const Index& dims, const ResizeAttrs& a) {
  return a.axes.empty() ? static_cast<int>(dims.size()) : a.axes.size();
}

constexpr ResizeCoordinates kTransforms[] = {
    ResizeCoordinates::half_pixel,   ResizeCoordinates::half_pixel_symmetric, ResizeCoordinates::pytorch_half_pixel,
    ResizeCoordinates::align_corners, ResizeCoordinates::asymmetric,          ResizeCoordinates::tf_crop_and_resize,
};
constexpr ResizeRounding kRoundings[] = {ResizeRounding::round_prefer_floor, ResizeRounding::round_prefer_ceil,
                                         ResizeRounding::floor, ResizeRounding::ceil};

// Shapes and scales or sizes: up and down, extents 1, 3 and 17, ranks 1 to 4, axes subsets.
struct Geometry {
  Index x;
  ResizeAttrs attrs;
};

std::vector<Geometry> geometries() {
  return {
      {{17}, by_scales({2.5})},                          // 1-D up: 42
      {{17}, by_scales({0.6})},                          // 1-D down: 10
      {{1}, by_scales({3.0})},                           // one element to three
      {{3}, by_scales({0.5})},                           // three to one
      {{3}, by_sizes({17})},                             // sizes: scale 17 / 3
      {{3, 17}, by_scales({3.0, 0.6})},                  // one axis up, one down
      {{5, 4}, by_sizes({1, 9})},                        // an output of length 1
      {{2, 3, 5}, by_scales({1.5, 2.2}, {1, 2})},        // 3-D, the last two axes
      {{3, 4, 2, 5}, by_scales({1.7, 2.0}, {0, 2})},     // 4-D, leading and inner axes
      {{2, 3, 4, 5}, by_scales({1.0, 1.0, 0.5, 1.4})},   // 4-D, all axes listed, two unchanged
      {{1, 2, 3, 5}, by_sizes({7, 2}, {-1, 2})},         // negative axes, listed out of order
      {{2, 17, 3}, by_sizes({5, 3}, {1, 2})},            // a listed axis of unchanged extent
  };
}

} // namespace

TEST_CASE("vm resize: every mode, coordinate transform and nearest rounding against the spec, ranks 1 to 4") {
  for (const Geometry& g : geometries())
    for (ResizeCoordinates transform : kTransforms)
      for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::linear, ResizeMode::cubic})
        for (ResizeRounding rounding : kRoundings) {
          if (mode != ResizeMode::nearest && rounding != ResizeRounding::round_prefer_floor) continue;
          ResizeAttrs a = g.attrs;
          a.mode = mode;
          a.coordinates = transform;
          a.nearest_rounding = rounding;
          if (transform == ResizeCoordinates::tf_crop_and_resize) inner_roi(a, listed_count(g.x, a));
          check_resize(g.x, a);
        }
}

TEST_CASE("vm resize: antialias and exclude_outside, shrinking and growing, with every transform") {
  const Geometry cases[] = {
      {{17}, by_scales({0.6})},
      {{17}, by_scales({0.25})},                      // a kernel 4 times wider: 8 or 16 taps
      {{3, 17}, by_scales({0.34, 0.3})},              // three rows to one
      {{2, 3, 17, 9}, by_sizes({5, 3}, {2, 3})},      // sizes: 5 / 17 and 3 / 9
      {{2, 9, 13}, by_scales({0.5, 1.6}, {1, 2})},    // one shrinks, one grows (no antialias there)
      {{4, 5}, by_scales({2.0, 3.0})},                // growing only: antialias changes nothing
  };
  for (const Geometry& g : cases)
    for (ResizeMode mode : {ResizeMode::linear, ResizeMode::cubic})
      for (ResizeCoordinates transform : kTransforms)
        for (bool antialias : {false, true})
          for (bool exclude : {false, true}) {
            ResizeAttrs a = g.attrs;
            a.mode = mode;
            a.coordinates = transform;
            a.antialias = antialias;
            a.exclude_outside = exclude;
            if (transform == ResizeCoordinates::tf_crop_and_resize) inner_roi(a, listed_count(g.x, a));
            check_resize(g.x, a);
            a.cubic_coeff_a = -0.5;
            if (mode == ResizeMode::cubic) check_resize(g.x, a);
          }
}

TEST_CASE("vm resize: tf_crop_and_resize regions beyond the input take the extrapolation value") {
  struct Region {
    std::vector<double> starts, ends;
  };
  const Region regions[] = {
      {{-0.3, 0.2}, {0.7, 1.4}},   // overhangs at the start of one axis and the end of the other
      {{0.9, 0.1}, {0.2, 0.95}},   // a reversed region (flips the first axis)
      {{-1.0, -0.5}, {-0.1, 2.0}}, // wholly outside along the first axis
      {{0.5, 0.5}, {0.5, 0.5}},    // one point
  };
  for (const Region& r : regions)
    for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::linear, ResizeMode::cubic})
      for (bool exclude : {false, true})
        for (const Index& sizes : {Index{7, 9}, Index{1, 5}, Index{3, 1}}) {
          ResizeAttrs a = by_sizes(sizes, {1, 2});
          a.mode = mode;
          a.coordinates = ResizeCoordinates::tf_crop_and_resize;
          a.exclude_outside = exclude;
          a.extrapolation_value = -7.5;
          set_roi(a, r.starts, r.ends);
          check_resize({2, 5, 6}, a);
          a.axes = {};  // all axes listed: the first with the region [0, 1]
          a.sizes = {SymDim(2), SymDim(sizes[0]), SymDim(sizes[1])};
          set_roi(a, {0.0, r.starts[0], r.starts[1]}, {1.0, r.ends[0], r.ends[1]});
          check_resize({2, 5, 6}, a);
        }
}

TEST_CASE("vm resize: keep_aspect_ratio_policy not_larger and not_smaller scale every listed axis by one factor") {
  const Geometry cases[] = {
      {{1, 2, 4, 6}, by_sizes({7, 8}, {2, 3})},   // 1.75 and 1.33: 5 x 8 or 7 x 11 (10.5 rounds up)
      {{1, 2, 4, 6}, by_sizes({3, 2}, {2, 3})},   // shrinking: 0.75 and 0.33
      {{3, 5, 2}, by_sizes({17, 1, 3})},          // every axis listed
      {{5, 7}, by_sizes({9, 9}, {-1, 0})},
  };
  for (const Geometry& g : cases)
    for (AspectRatioPolicy policy : {AspectRatioPolicy::not_larger, AspectRatioPolicy::not_smaller})
      for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::linear, ResizeMode::cubic})
        for (ResizeCoordinates transform : kTransforms) {
          ResizeAttrs a = g.attrs;
          a.keep_aspect_ratio = policy;
          a.mode = mode;
          a.coordinates = transform;
          if (transform == ResizeCoordinates::tf_crop_and_resize) inner_roi(a, listed_count(g.x, a));
          check_resize(g.x, a);
          a.antialias = true;
          if (mode != ResizeMode::nearest) check_resize(g.x, a);
        }
}

TEST_CASE("vm resize: large enough for the thread pool, one pass per axis between the scratch buffers") {
  ThreadPool pool(3);
  const Geometry cases[] = {
      {{2, 3, 37, 45}, by_scales({1.7, 0.6}, {2, 3})},
      {{3, 20, 30, 4}, by_scales({0.5, 1.5, 2.0}, {1, 2, 3})},  // three passes, the last along the contiguous axis
      {{5, 6, 7, 8}, by_scales({0.6, 1.5, 0.7, 1.3})},  // four passes: both buffers in turn
      {{64, 3, 33}, by_sizes({65}, {2})},
  };
  for (const Geometry& g : cases)
    for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::linear, ResizeMode::cubic}) {
      ResizeAttrs a = g.attrs;
      a.mode = mode;
      check_resize(g.x, a, &pool);
      a.antialias = true;
      a.coordinates = ResizeCoordinates::align_corners;
      check_resize(g.x, a, &pool, 1.1f);
    }
}

TEST_CASE("vm resize: nearest copies every dtype; linear and cubic take f16 and bf16") {
  // Nearest: element values that name their position, so any wrong pick shows.
  const Index dims{2, 3, 5};
  ResizeAttrs a = by_scales({2.0, 0.6}, {1, 2});
  a.coordinates = ResizeCoordinates::tf_crop_and_resize;
  set_roi(a, {-0.2, 0.1}, {1.1, 0.9});
  a.extrapolation_value = 300.0;  // saturates in i8 and u8
  const SpecShape s = spec_shape(dims, a);
  std::vector<double> positions;
  for (std::int64_t i = 0; i < product(dims); ++i) positions.push_back(static_cast<double>(i % 100));
  const auto check_dtype = [&](auto type_tag, DType dtype, double extrapolated) {
    using T = decltype(type_tag);
    CAPTURE(to_string(dtype));
    std::vector<T> values;
    for (double v : positions) values.push_back(static_cast<T>(v));
    Host x = host(values, dims, dtype);
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), a), {&x}, vm::cpu_resize_kernel);
    REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
    REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
    REQUIRE(o.dims() == s.out);
    ResizeAttrs reference = a;
    reference.extrapolation_value = extrapolated;
    std::vector<double> got;
    for (const T& v : o.out<T>()) got.push_back(static_cast<double>(v));
    check_close(got, spec_resize(positions, dims, reference, s), 0.0);
  };
  check_dtype(float{}, DType::f32, 300.0);
  check_dtype(double{}, DType::f64, 300.0);
  check_dtype(std::int8_t{}, DType::i8, 127.0);
  check_dtype(std::uint8_t{}, DType::u8, 255.0);
  check_dtype(std::int16_t{}, DType::i16, 300.0);
  check_dtype(std::int32_t{}, DType::i32, 300.0);
  check_dtype(std::int64_t{}, DType::i64, 300.0);
  check_dtype(f16{}, DType::f16, 300.0);
  check_dtype(bf16{}, DType::bf16, 300.0);
  // bool: position parity, extrapolated as true.
  {
    std::vector<std::uint8_t> bits;
    std::vector<double> parity;
    for (std::int64_t i = 0; i < product(dims); ++i) {
      bits.push_back(static_cast<std::uint8_t>(i % 2));
      parity.push_back(static_cast<double>(i % 2));
    }
    Host x = host(bits, dims, DType::boolean);
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), a), {&x}, vm::cpu_resize_kernel);
    REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
    ResizeAttrs reference = a;
    reference.extrapolation_value = 1.0;
    std::vector<double> got;
    for (std::uint8_t v : o.out<std::uint8_t>()) got.push_back(v);
    check_close(got, spec_resize(parity, dims, reference, s), 0.0);
  }
  // Linear and cubic in f16 and bf16 interpolate in f32, rounding once at the end.
  const auto check_narrow = [&](auto type_tag, DType dtype, double tolerance) {
    using T = decltype(type_tag);
    CAPTURE(to_string(dtype));
    const Index narrow_dims{2, 9, 7};
    std::vector<T> values;
    for (float v : pattern(at(product(narrow_dims)), 0.2f, 3.0f)) values.push_back(T(v));
    for (ResizeMode mode : {ResizeMode::linear, ResizeMode::cubic}) {
      ResizeAttrs b = by_scales({0.6, 2.5}, {1, 2});
      b.mode = mode;
      b.antialias = true;
      Host x = host(values, narrow_dims, dtype);
      const Outcome o = vm_ops::run_op(resize_module(host_type(x), b), {&x}, vm::cpu_resize_kernel);
      REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
      const SpecShape t = spec_shape(narrow_dims, b);
      check_close(as_doubles(o.out<T>()), spec_resize(as_doubles(values), narrow_dims, b, t), tolerance);
    }
  };
  check_narrow(f16{}, DType::f16, 2e-3);
  // One pass, from f16 straight to f16.
  {
    const Index one_dims{3, 11};
    std::vector<f16> values;
    for (float v : pattern(33, 0.5f)) values.push_back(f16(v));
    ResizeAttrs b = by_scales({2.5}, {1});
    b.mode = ResizeMode::cubic;
    Host x = host(values, one_dims, DType::f16);
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), b), {&x}, vm::cpu_resize_kernel);
    REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
    check_close(as_doubles(o.out<f16>()), spec_resize(as_doubles(values), one_dims, b, spec_shape(one_dims, b)), 2e-3);
  }
  check_narrow(bf16{}, DType::bf16, 1e-2);
}

namespace {

// One of the spec's examples: a 1x1xHxW input, its attributes and the expected output.
void check_known(const Index& dims, const std::vector<float>& data, const ResizeAttrs& attrs, const Index& out,
                 const std::vector<double>& want) {
  const std::string what = describe(dims, attrs);
  CAPTURE(what);
  Host x = host(data, dims);
  const Outcome o = vm_ops::run_op(resize_module(host_type(x), attrs), {&x}, vm::cpu_resize_kernel);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  REQUIRE(o.dims() == out);
  check_close(as_doubles(o.out()), want, 2e-6);
}

std::vector<float> counting(int n) {
  std::vector<float> v;
  for (int i = 1; i <= n; ++i) v.push_back(static_cast<float>(i));
  return v;
}

// ONNX takes scales as f32; an importer folds them into double as they are.
double f32(double scale) { return static_cast<double>(static_cast<float>(scale)); }

ResizeAttrs known(ResizeAttrs a, ResizeMode mode, ResizeCoordinates transform = ResizeCoordinates::half_pixel) {
  a.mode = mode;
  a.coordinates = transform;
  return a;
}

} // namespace

TEST_CASE("vm resize: the known answers of the ONNX spec's examples") {
  const std::vector<float> two_by_two{1, 2, 3, 4};
  const std::vector<float> two_by_four = counting(8);
  const std::vector<float> four_by_four = counting(16);
  const Index d22{1, 1, 2, 2}, d24{1, 1, 2, 4}, d44{1, 1, 4, 4};
  using M = ResizeMode;
  using C = ResizeCoordinates;

  // resize_upsample_scales_nearest
  check_known(d22, two_by_two, known(by_scales({1, 1, 2, 3}), M::nearest), {1, 1, 4, 6},
              {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  // resize_downsample_scales_nearest
  check_known(d24, two_by_four, known(by_scales({1, 1, f32(0.6), f32(0.6)}), M::nearest), {1, 1, 1, 2}, {1, 3});
  // resize_upsample_sizes_nearest
  check_known(d22, two_by_two, known(by_sizes({1, 1, 7, 8}), M::nearest), {1, 1, 7, 8},
              {1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2,
               3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4});
  // resize_downsample_sizes_nearest
  check_known(d24, two_by_four, known(by_sizes({1, 1, 1, 3}), M::nearest), {1, 1, 1, 3}, {1, 2, 4});
  // resize_upsample_scales_linear
  check_known(d22, two_by_two, known(by_scales({1, 1, 2, 2}), M::linear), {1, 1, 4, 4},
              {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  // resize_upsample_scales_linear_align_corners
  check_known(d22, two_by_two, known(by_scales({1, 1, 2, 2}), M::linear, C::align_corners), {1, 1, 4, 4},
              {1, 1.33333333, 1.66666667, 2, 1.66666667, 2, 2.33333333, 2.66666667, 2.33333333, 2.66666667, 3,
               3.33333333, 3, 3.33333333, 3.66666667, 4});
  // resize_downsample_scales_linear
  check_known(d24, two_by_four, known(by_scales({1, 1, f32(0.6), f32(0.6)}), M::linear), {1, 1, 1, 2},
              {2.6666665, 4.3333331});
  // resize_downsample_scales_linear_align_corners: length_resized is 0.6 * 4 = 2.4, not 2.
  check_known(d24, two_by_four, known(by_scales({1, 1, f32(0.6), f32(0.6)}), M::linear, C::align_corners),
              {1, 1, 1, 2}, {1, 3.142857});
  // resize_upsample_scales_cubic
  check_known(d44, four_by_four, known(by_scales({1, 1, 2, 2}), M::cubic), {1, 1, 8, 8},
              {0.47265625,  0.76953125,  1.24609375,  1.875,       2.28125,     2.91015625,  3.38671875,  3.68359375,
               1.66015625,  1.95703125,  2.43359375,  3.0625,      3.46875,     4.09765625,  4.57421875,  4.87109375,
               3.56640625,  3.86328125,  4.33984375,  4.96875,     5.375,       6.00390625,  6.48046875,  6.77734375,
               6.08203125,  6.37890625,  6.85546875,  7.484375,    7.890625,    8.51953125,  8.99609375,  9.29296875,
               7.70703125,  8.00390625,  8.48046875,  9.109375,    9.515625,    10.14453125, 10.62109375, 10.91796875,
               10.22265625, 10.51953125, 10.99609375, 11.625,      12.03125,    12.66015625, 13.13671875, 13.43359375,
               12.12890625, 12.42578125, 12.90234375, 13.53125,    13.9375,     14.56640625, 15.04296875, 15.33984375,
               13.31640625, 13.61328125, 14.08984375, 14.71875,    15.125,      15.75390625, 16.23046875, 16.52734375});
  // resize_upsample_scales_cubic_align_corners (first and last rows)
  {
    const std::string what = "resize_upsample_scales_cubic_align_corners";
    CAPTURE(what);
    Host x = host(four_by_four, d44);
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), known(by_scales({1, 1, 2, 2}), M::cubic,
                                                                         C::align_corners)),
                                     {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.status.ok());
    const std::vector<float> y = o.out();
    const std::vector<double> first_row{1, 1.34110787, 1.80029155, 2.32944606, 2.67055394, 3.19970845, 3.65889213, 4};
    const std::vector<double> last_row{13, 13.34110787, 13.80029155, 14.32944606,
                                       14.67055394, 15.19970845, 15.65889213, 16};
    check_close(as_doubles(std::vector<float>(y.begin(), y.begin() + 8)), first_row, 2e-6);
    check_close(as_doubles(std::vector<float>(y.end() - 8, y.end())), last_row, 2e-6);
  }
  // resize_downsample_scales_cubic
  check_known(d44, four_by_four, known(by_scales({1, 1, f32(0.8), f32(0.8)}), M::cubic), {1, 1, 3, 3},
              {1.47119141, 2.78125, 4.08251953, 6.71142578, 8.02148438, 9.32275391, 11.91650391, 13.2265625,
               14.52783203});
  // resize_downsample_scales_cubic_align_corners
  check_known(d44, four_by_four, known(by_scales({1, 1, f32(0.8), f32(0.8)}), M::cubic, C::align_corners),
              {1, 1, 3, 3},
              {1, 2.39519159, 3.79038317, 6.58076634, 7.97595793, 9.37114951, 12.16153268, 13.55672427, 14.95191585});
  // resize_downsample_sizes_cubic
  check_known(d44, four_by_four, known(by_sizes({1, 1, 3, 3}), M::cubic), {1, 1, 3, 3},
              {1.63078704, 3.00462963, 4.37847222, 7.12615741, 8.5, 9.87384259, 12.62152778, 13.99537037,
               15.36921296});
  // resize_downsample_scales_cubic_A_n0p5_exclude_outside
  {
    ResizeAttrs a = known(by_scales({1, 1, f32(0.8), f32(0.8)}), M::cubic);
    a.cubic_coeff_a = -0.5;
    a.exclude_outside = true;
    check_known(d44, four_by_four, a, {1, 1, 3, 3},
                {1.36812675, 2.6695014, 4.0133367, 6.57362535, 7.875, 9.2188353, 11.94896657, 13.25034122,
                 14.59417652});
  }
  // resize_upsample_scales_cubic_asymmetric (first two rows)
  {
    Host x = host(four_by_four, d44);
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), known(by_scales({1, 1, 2, 2}), M::cubic,
                                                                         C::asymmetric)),
                                     {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.status.ok());
    const std::vector<float> y = o.out();
    check_close(as_doubles(std::vector<float>(y.begin(), y.begin() + 16)),
                {1, 1.40625, 2, 2.5, 3, 3.59375, 4, 4.09375, 2.625, 3.03125, 3.625, 4.125, 4.625, 5.21875, 5.625,
                 5.71875},
                2e-6);
  }
  // resize_tf_crop_and_resize and resize_tf_crop_and_resize_extrapolation_value
  {
    ResizeAttrs a = known(by_sizes({1, 1, 3, 3}), M::linear, C::tf_crop_and_resize);
    set_roi(a, {0, 0, f32(0.4), f32(0.6)}, {1, 1, f32(0.6), f32(0.8)});
    check_known(d44, four_by_four, a, {1, 1, 3, 3}, {7.6000004, 7.9, 8.2, 8.8, 9.1, 9.400001, 10, 10.3, 10.6});
    set_roi(a, {0, 0, f32(0.4), f32(0.6)}, {1, 1, f32(1.2), f32(1.7)});
    a.extrapolation_value = 10.0;
    check_known(d44, four_by_four, a, {1, 1, 3, 3}, {7.6000004, 10, 10, 12.400001, 10, 10, 10, 10, 10});
  }
  // resize_downsample_sizes_linear_pytorch_half_pixel
  check_known(d44, four_by_four, known(by_sizes({1, 1, 3, 1}), M::linear, C::pytorch_half_pixel), {1, 1, 3, 1},
              {1.6666666, 7, 12.333333});
  // resize_upsample_sizes_nearest_floor_align_corners, _round_prefer_ceil_asymmetric, _ceil_half_pixel
  {
    ResizeAttrs a = known(by_sizes({1, 1, 8, 8}), M::nearest, C::align_corners);
    a.nearest_rounding = ResizeRounding::floor;
    const std::vector<double> floor_row{1, 1, 1, 2, 2, 3, 3, 4};
    const std::vector<double> rounded_row{1, 2, 2, 3, 3, 4, 4, 4};
    std::vector<double> floor_want, rounded_want;
    const int floor_rows[] = {0, 0, 0, 1, 1, 2, 2, 3};
    const int rounded_rows[] = {0, 1, 1, 2, 2, 3, 3, 3};
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) {
        floor_want.push_back(floor_row[at(c)] + 4 * floor_rows[r]);
        rounded_want.push_back(rounded_row[at(c)] + 4 * rounded_rows[r]);
      }
    check_known(d44, four_by_four, a, {1, 1, 8, 8}, floor_want);
    a.coordinates = C::asymmetric;
    a.nearest_rounding = ResizeRounding::round_prefer_ceil;
    check_known(d44, four_by_four, a, {1, 1, 8, 8}, rounded_want);
    a.coordinates = C::half_pixel;
    a.nearest_rounding = ResizeRounding::ceil;
    check_known(d44, four_by_four, a, {1, 1, 8, 8}, rounded_want);
  }
  // resize_downsample_scales_linear_antialias, resize_downsample_sizes_linear_antialias,
  // resize_downsample_scales_cubic_antialias, resize_downsample_sizes_cubic_antialias
  {
    ResizeAttrs a = known(by_scales({1, 1, f32(0.6), f32(0.6)}), M::linear);
    a.antialias = true;
    check_known(d44, four_by_four, a, {1, 1, 2, 2}, {2.875, 4.5, 9.375, 11});
    a.mode = M::cubic;
    check_known(d44, four_by_four, a, {1, 1, 2, 2}, {2.5180721, 4.2858863, 9.589329, 11.357142});
    ResizeAttrs b = known(by_sizes({1, 1, 3, 3}), M::linear);
    b.antialias = true;
    check_known(d44, four_by_four, b, {1, 1, 3, 3},
                {2.3636363, 3.590909, 4.818182, 7.2727275, 8.5, 9.727273, 12.181818, 13.409091, 14.636364});
    b.mode = M::cubic;
    check_known(d44, four_by_four, b, {1, 1, 3, 3},
                {1.7750092, 3.1200073, 4.4650054, 7.1550016, 8.5, 9.844998, 12.534994, 13.8799925, 15.224991});
  }
  // resize_upsample_sizes_nearest_not_larger / not_smaller, resize_downsample_sizes_nearest_not_larger /
  // not_smaller
  {
    ResizeAttrs a = known(by_sizes({7, 8}, {2, 3}), M::nearest);
    a.keep_aspect_ratio = AspectRatioPolicy::not_larger;
    std::vector<double> want;
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 7; ++c) want.push_back((r < 4 ? 1 : 3) + (c < 4 ? 0 : 1));
    check_known(d22, two_by_two, a, {1, 1, 7, 7}, want);
    a.keep_aspect_ratio = AspectRatioPolicy::not_smaller;
    want.clear();
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) want.push_back((r < 4 ? 1 : 3) + (c < 4 ? 0 : 1));
    check_known(d22, two_by_two, a, {1, 1, 8, 8}, want);
    ResizeAttrs b = known(by_sizes({1, 3}, {2, 3}), M::nearest);
    b.keep_aspect_ratio = AspectRatioPolicy::not_larger;
    check_known(d24, two_by_four, b, {1, 1, 1, 2}, {1, 3});
    b.keep_aspect_ratio = AspectRatioPolicy::not_smaller;
    check_known(d24, two_by_four, b, {1, 1, 2, 3}, {1, 2, 4, 5, 6, 8});
  }
  // resize_downsample_scales_linear_half_pixel_symmetric, resize_upsample_scales_linear_half_pixel_symmetric
  check_known({1, 1, 1, 4}, {1, 2, 3, 4},
              known(by_scales({1, 1, 1, f32(0.6)}), M::linear, C::half_pixel_symmetric), {1, 1, 1, 2},
              {1.6666667, 3.3333333});
  check_known(d22, two_by_two, known(by_scales({1, 1, f32(2.3), f32(2.94)}), M::linear, C::half_pixel_symmetric),
              {1, 1, 4, 5},
              {1, 1.15986395, 1.5, 1.84013605, 2, 1.56521738, 1.72508133, 2.06521738, 2.40535343, 2.56521738,
               2.43478262, 2.59464657, 2.93478262, 3.27491867, 3.43478262, 3, 3.15986395, 3.5, 3.84013605, 4});
}

TEST_CASE("vm resize: empty outputs, unchanged axes and scratch") {
  // Nothing to write.
  {
    Host x = host(pattern(15, 0.1f), {3, 5});
    ResizeAttrs a = by_sizes({0}, {1});
    a.mode = ResizeMode::linear;
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), a), {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.status.ok());
    CHECK(o.dims() == Index{3, 0});
  }
  // Every listed axis keeps its positions: a copy, and no scratch for it.
  for (ResizeMode mode : {ResizeMode::linear, ResizeMode::cubic}) {
    Host x = host(pattern(30, 0.1f), {2, 3, 5});
    ResizeAttrs a = by_scales({1.0, 1.0}, {0, 2});
    a.mode = mode;
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), a), {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.status.ok());
    CHECK(o.scratch_bytes == 0);
    CHECK(o.out() == x.values<float>());
  }
  // One pass writes the output directly: scratch holds only its taps.
  {
    Host x = host(pattern(30, 0.1f), {2, 3, 5});
    ResizeAttrs a = by_scales({2.0}, {2});
    a.mode = ResizeMode::cubic;
    const Outcome o = vm_ops::run_op(resize_module(host_type(x), a), {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.status.ok());
    CHECK(o.scratch_bytes > 0);
    CHECK(o.scratch_bytes <= 1024);
  }
}

TEST_CASE("vm resize: what it cannot do is refused at load, with the op and the reason") {
  // Linear of integers.
  {
    ResizeAttrs a = by_scales({2.0});
    a.mode = ResizeMode::linear;
    const Module m = resize_module(TensorType(DType::i32, {4}), a);
    const Outcome o = vm_ops::run_op(m, {}, vm::cpu_resize_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::unsupported);
    CHECK(o.supported.message() ==
          "resize: i32 input is not supported (linear and cubic take f32, f16 and bf16; nearest takes every dtype)");
  }
  // tf_crop_and_resize without its region.
  {
    ResizeAttrs a = by_scales({2.0, 2.0});
    a.coordinates = ResizeCoordinates::tf_crop_and_resize;
    set_roi(a, {0.0}, {1.0});
    const Module m = resize_module(TensorType(DType::f32, {4, 4}), a);
    const Outcome o = vm_ops::run_op(m, {}, vm::cpu_resize_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::invalid_argument);
    CHECK(o.supported.message() == "resize: tf_crop_and_resize needs a roi of 4 values (starts, then ends), got 2");
  }
  // Attributes a hand-built module may hold: a repeated axis, a list of the wrong length, a
  // scale that is not positive, both scales and sizes.
  {
    const Module base = resize_module(TensorType(DType::f32, {4, 4}), by_scales({2.0, 2.0}));
    const auto refusal = [&](ResizeAttrs a) {
      Module m = base;
      m.main().blocks[0].bindings[0].attrs = a;
      const Outcome o = vm_ops::run_op(m, {}, vm::cpu_resize_kernel);
      REQUIRE_FALSE(o.supported.ok());
      return o.supported.message();
    };
    CHECK(refusal(by_scales({2.0, 2.0}, {1, -1})) == "resize: axis -1 is repeated");
    CHECK(refusal(by_scales({2.0, 2.0}, {0, 2})) == "resize: axis 2 is out of range for rank 2");
    CHECK(refusal(by_scales({2.0})) == "resize: scales has 1 values, expected 2");
    CHECK(refusal(by_scales({2.0, -1.0})) == "resize: scales must be positive and finite, got -1");
    ResizeAttrs both = by_scales({2.0, 2.0});
    both.sizes = {SymDim(8), SymDim(8)};
    CHECK(refusal(both) == "resize: give either scales or sizes");
    ResizeAttrs symbolic = by_sizes({8, 8});
    symbolic.sizes[1] = sym("n");
    symbolic.keep_aspect_ratio = AspectRatioPolicy::not_smaller;
    CHECK(refusal(symbolic) == "resize: keep_aspect_ratio_policy needs positive constant sizes");
  }
  // An output that does not follow from the input: an unlisted axis changed, an empty axis
  // resized.
  {
    Host x = host(pattern(12, 0.1f), {3, 4});
    const Module m = resize_module(TensorType(DType::f32, {2, 4}), by_scales({2.0}, {1}));
    const Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(o.status.message() == "resize: axis 0 is not resized, yet the input has 3 and the output 2");
  }
  {
    Host x = host(std::vector<float>{}, {3, 0});
    const Module m = resize_module(TensorType(DType::f32, {3, 4}), by_sizes({5}, {1}));
    const Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_resize_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::invalid_argument);
    CHECK(o.status.message() == "resize: axis 1 is empty and cannot be resized to 5");
  }
}

TEST_CASE("vm resize: the VM plans its scratch per prepare and runs it without allocating, batch symbolic") {
  const SymDim n = sym("n");
  Builder b;
  Var x = b.input("x", TensorType(DType::f32, {n, 3, 5, 7}));
  ResizeAttrs bilinear = by_scales({1.5, 0.6}, {2, 3});
  bilinear.mode = ResizeMode::linear;
  bilinear.antialias = true;
  ResizeAttrs doubled = by_sizes({0}, {0});
  doubled.sizes[0] = n * 2;  // a symbolic size, bound when the batch is
  ResizeAttrs bicubic = by_scales({2.0, 1.6, 0.5}, {1, 2, 3});
  bicubic.mode = ResizeMode::cubic;
  Module m = finished(b, std::vector<Var>{b.emit(OpKind::resize, {x}, bilinear), b.emit(OpKind::resize, {x}, doubled),
                                          b.emit(OpKind::resize, {x}, bicubic)});
  Result<std::shared_ptr<const vm::Executable>> exe =
      vm::Executable::load(std::move(m), vm::cpu_resize_kernel, vm::LoadOptions{.run_passes = false, .fuse = false});
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  ThreadPool pool(2);
  vm::ExecutionContext ctx(*exe, &pool);
  for (std::int64_t batch : {1, 4, 64}) {
    CAPTURE(batch);
    const Index dims{batch, 3, 5, 7};
    REQUIRE(ctx.prepare({{"x", dims}}).ok());
    const std::vector<float> values = pattern(at(product(dims)), 0.7f);
    Result<Tensor> t = Tensor::empty(DType::f32, std::span<const std::int64_t>(dims));
    REQUIRE(t.ok());
    std::copy(values.begin(), values.end(), t->data_as<float>());
    {
      test::CountAllocations allocations;
      const Status s = ctx.run({*t});
      REQUIRE_MESSAGE(s.ok(), s.to_string());
      CHECK(allocations.count() == 0);
    }
    ResizeAttrs doubled_here = by_sizes({2 * batch}, {0});
    const ResizeAttrs* attrs[] = {&bilinear, &doubled_here, &bicubic};
    for (std::size_t i = 0; i < 3; ++i) {
      const SpecShape s = spec_shape(dims, *attrs[i]);
      const vm::Slot& y = ctx.output(i);
      REQUIRE(Index(y.dims, y.dims + y.rank) == s.out);
      const std::vector<float> got(y.data_as<const float>(), y.data_as<const float>() + y.elements());
      check_close(as_doubles(got), spec_resize(as_doubles(values), dims, *attrs[i], s), 1e-5);
    }
  }
}
