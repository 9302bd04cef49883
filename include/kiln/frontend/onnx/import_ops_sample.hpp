// kiln/frontend/onnx/import_ops_sample.hpp: ONNX's GridSample (4-D) and RoiAlign, written with
// elementwise coordinate arithmetic and gather_elements.
//
// Grid coordinates in [-1, 1] are mapped to pixel coordinates (align_corners: -1 and 1 are
// the centers of the corner pixels; otherwise their outer edges), brought inside the image
// by the padding mode (zeros reads 0 outside, border clamps, reflection mirrors), and the
// image is read at the nearest pixel (halves to even), bilinearly from 4 pixels, or
// bicubically from 16 (coefficient -0.75, each tap brought inside by the padding mode).
// Each read flattens the image to [N, C, H * W] and gathers the pixel y * W + x.
#pragma once

#include <cstdint>
#include <string>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_shape.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

class GridSampler {
 public:
  enum class Padding : std::uint8_t { zeros, border, reflection };

  GridSampler(NodeContext& ctx, Var image, std::int64_t height, std::int64_t width, std::int64_t pixels_per_map,
              Padding padding, bool align_corners, DType dtype)
      : ctx_(ctx), b_(ctx.b()), height_(height), width_(width), padding_(padding), align_(align_corners), t_(dtype) {
    const relax::TensorType it = ctx.type(image);
    flat_ = b_.reshape(image, relax::Dims{it.dims[0], it.dims[1], height * width});
    batch_ = it.dims[0];
    channels_ = it.dims[1];
    pixels_ = pixels_per_map;
  }

  Var constant(double v) { return ctx_.scalar(t_, v); }

  // A grid coordinate in [-1, 1] as a pixel coordinate along an axis of `size` pixels.
  Var unnormalize(Var g, std::int64_t size) {
    const double n = static_cast<double>(size);
    if (align_) return b_.multiply(b_.add(g, constant(1)), constant((n - 1) / 2));
    return b_.divide(b_.subtract(b_.multiply(b_.add(g, constant(1)), constant(n)), constant(1)), constant(2));
  }

  // A pixel coordinate brought inside [0, size - 1] by border or reflection padding.
  Var pad(Var x, std::int64_t size) {
    const double n = static_cast<double>(size);
    if (padding_ == Padding::zeros) return x;
    if (padding_ == Padding::reflection) {
      // Mirror at -0.5 and n - 0.5 (the pixel centers 0 and n - 1 with align_corners).
      const double low = align_ ? 0.0 : -0.5;
      const double span = align_ ? n - 1 : n;
      if (span <= 0) return constant(0);
      const Var distance = b_.unary(OpKind::abs, b_.subtract(x, constant(low)));
      const Var extra = b_.emit(OpKind::mod, {distance, constant(span)});
      const Var flips = b_.unary(OpKind::floor, b_.divide(distance, constant(span)));
      const Var even = b_.compare(OpKind::equal, b_.emit(OpKind::mod, {flips, constant(2)}), constant(0));
      x = b_.where(even, b_.add(extra, constant(low)), b_.add(b_.subtract(constant(span), extra), constant(low)));
    }
    return b_.clip(x, constant(0), constant(n - 1));
  }

  // The image at integer-valued pixel coordinates (y, x) [N, Ho, Wo] -> [N, C, Ho, Wo]; zero
  // outside the image.
  Var read(Var y, Var x, std::int64_t out_h, std::int64_t out_w) {
    Var inside;
    if (padding_ == Padding::zeros) {
      const auto within = [&](Var v, std::int64_t size) {
        return b_.binary(OpKind::logical_and, b_.compare(OpKind::greater_equal, v, constant(0)),
                         b_.compare(OpKind::less_equal, v, constant(static_cast<double>(size - 1))));
      };
      inside = b_.binary(OpKind::logical_and, within(y, height_), within(x, width_));
    }
    const Var yc = b_.clip(y, constant(0), constant(static_cast<double>(height_ - 1)));
    const Var xc = b_.clip(x, constant(0), constant(static_cast<double>(width_ - 1)));
    const Var index = b_.cast(b_.add(b_.multiply(yc, constant(static_cast<double>(width_))), xc), DType::i64);
    const Var spread = b_.expand(b_.reshape(index, relax::Dims{batch_, 1, pixels_}), relax::Dims{batch_, channels_, pixels_});
    Var value = b_.reshape(b_.emit(OpKind::gather_elements, {flat_, spread}, relax::AxisAttrs{2}),
                           relax::Dims{batch_, channels_, out_h, out_w});
    if (inside.valid()) value = b_.where(b_.unsqueeze(inside, {1}), value, constant(0));
    return value;
  }

  // Weighted by a per-position weight [N, Ho, Wo].
  Var weighted(Var value, Var weight) { return b_.multiply(value, b_.unsqueeze(weight, {1})); }

  // The cubic convolution weights of taps -1, 0, 1, 2 around a point at fraction t.
  void cubic_weights(Var t, Var (&w)[4]) {
    constexpr double a = -0.75;
    const auto far = [&](Var d) {  // |d| in [1, 2]: ((a d - 5a) d + 8a) d - 4a
      return b_.subtract(b_.multiply(b_.add(b_.multiply(b_.subtract(b_.multiply(d, constant(a)), constant(5 * a)), d),
                                            constant(8 * a)),
                                     d),
                         constant(4 * a));
    };
    const auto near = [&](Var d) {  // |d| in [0, 1]: ((a + 2) d - (a + 3)) d^2 + 1
      return b_.add(b_.multiply(b_.subtract(b_.multiply(d, constant(a + 2)), constant(a + 3)), b_.multiply(d, d)),
                    constant(1));
    };
    w[0] = far(b_.add(t, constant(1)));
    w[1] = near(t);
    w[2] = near(b_.subtract(constant(1), t));
    w[3] = far(b_.subtract(constant(2), t));
  }

 private:
  NodeContext& ctx_;
  relax::Builder& b_;
  std::int64_t height_, width_;
  Padding padding_;
  bool align_;
  DType t_;
  Var flat_;
  relax::SymDim batch_, channels_, pixels_;
};

inline Status convert_grid_sample(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var image, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var grid, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType it = ctx.type(image);
  const relax::TensorType gt = ctx.type(grid);
  if (it.rank != 4 || gt.rank != 4) return ctx.unsupported("only 4-D inputs are supported, got ", to_string(it));
  for (int a : {2, 3})
    if (!it.dims[a].is_constant() || !gt.dims[a - 1].is_constant())
      return ctx.unsupported("the image and grid extents must be known at load time");
  const std::int64_t height = it.dims[2].constant_value(), width = it.dims[3].constant_value();
  const std::int64_t out_h = gt.dims[1].constant_value(), out_w = gt.dims[2].constant_value();
  const std::string mode = ctx.attr_string("mode", ctx.opset() >= 20 ? "linear" : "bilinear");
  const std::string padding_mode = ctx.attr_string("padding_mode", "zeros");
  GridSampler::Padding padding;
  if (padding_mode == "zeros") padding = GridSampler::Padding::zeros;
  else if (padding_mode == "border") padding = GridSampler::Padding::border;
  else if (padding_mode == "reflection") padding = GridSampler::Padding::reflection;
  else return ctx.invalid("padding_mode '", padding_mode, "' is not one of zeros, border, reflection");
  const bool align = ctx.attr_int("align_corners", 0) != 0;
  relax::Builder& b = ctx.b();
  GridSampler s(ctx, image, height, width, out_h * out_w, padding, align, it.dtype);
  const Var gx = b.squeeze(slice_axis(b, grid, 3, 0, 1), {3});
  const Var gy = b.squeeze(slice_axis(b, grid, 3, 1, 2), {3});
  Var x = s.unnormalize(gx, width);
  Var y = s.unnormalize(gy, height);
  if (mode == "nearest") {
    x = b.unary(OpKind::round, s.pad(x, width));
    y = b.unary(OpKind::round, s.pad(y, height));
    return ctx.set_output(0, s.read(y, x, out_h, out_w));
  }
  if (mode == "bilinear" || mode == "linear") {
    x = s.pad(x, width);
    y = s.pad(y, height);
    const Var x0 = b.unary(OpKind::floor, x), y0 = b.unary(OpKind::floor, y);
    const Var x1 = b.add(x0, s.constant(1)), y1 = b.add(y0, s.constant(1));
    const Var wx1 = b.subtract(x, x0), wy1 = b.subtract(y, y0);
    const Var wx0 = b.subtract(s.constant(1), wx1), wy0 = b.subtract(s.constant(1), wy1);
    Var out = s.weighted(s.read(y0, x0, out_h, out_w), b.multiply(wy0, wx0));
    out = b.add(out, s.weighted(s.read(y0, x1, out_h, out_w), b.multiply(wy0, wx1)));
    out = b.add(out, s.weighted(s.read(y1, x0, out_h, out_w), b.multiply(wy1, wx0)));
    out = b.add(out, s.weighted(s.read(y1, x1, out_h, out_w), b.multiply(wy1, wx1)));
    return ctx.set_output(0, out);
  }
  if (mode == "bicubic" || mode == "cubic") {
    const Var x0 = b.unary(OpKind::floor, x), y0 = b.unary(OpKind::floor, y);
    Var wx[4], wy[4];
    s.cubic_weights(b.subtract(x, x0), wx);
    s.cubic_weights(b.subtract(y, y0), wy);
    Var out;
    for (int i = 0; i < 4; ++i) {
      const Var yi = s.pad(b.add(y0, s.constant(i - 1)), height);
      for (int j = 0; j < 4; ++j) {
        const Var xj = s.pad(b.add(x0, s.constant(j - 1)), width);
        const Var term = s.weighted(s.read(yi, xj, out_h, out_w), b.multiply(wy[i], wx[j]));
        out = out.valid() ? b.add(out, term) : term;
      }
    }
    return ctx.set_output(0, out);
  }
  return ctx.invalid("mode '", mode, "' is not one of bilinear, nearest, bicubic");
}

// RoiAlign (average mode, a fixed sampling_ratio): for each region of interest [x1, y1, x2,
// y2] (scaled by spatial_scale, shifted by half a pixel in half_pixel mode) and each of the
// output_height x output_width bins, the mean of sampling_ratio^2 bilinear samples at the
// centers of the bin's sub-cells. A sample more than a pixel outside the image is 0; one on
// the last row or column reads that row or column.
inline Status convert_roi_align(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var image, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var rois, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var batch_indices, ctx.input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  if (ctx.attr_string("mode", "avg") != "avg") return ctx.unsupported("mode '", ctx.attr_string("mode", "avg"), "' is not supported (avg is)");
  const std::int64_t out_h = ctx.attr_int("output_height", 1), out_w = ctx.attr_int("output_width", 1);
  const std::int64_t ratio = ctx.attr_int("sampling_ratio", 0);
  if (ratio < 1) return ctx.unsupported("sampling_ratio 0 (a grid that depends on each region's size) is not supported");
  const double scale = ctx.attr_float("spatial_scale", 1.0);
  const std::string mode = ctx.attr_string("coordinate_transformation_mode", ctx.opset() >= 16 ? "half_pixel" : "output_half_pixel");
  if (mode != "half_pixel" && mode != "output_half_pixel")
    return ctx.invalid("coordinate_transformation_mode must be half_pixel or output_half_pixel, got '", mode, "'");
  const bool half_pixel = mode == "half_pixel";
  const relax::TensorType it = ctx.type(image);
  if (it.rank != 4 || !it.dims[2].is_constant() || !it.dims[3].is_constant())
    return ctx.unsupported("the image must be [N, C, H, W] with H and W known at load time, got ", to_string(it));
  const std::int64_t height = it.dims[2].constant_value(), width = it.dims[3].constant_value();
  const relax::SymDim regions = ctx.type(rois).dims[0];
  relax::Builder& b = ctx.b();
  const DType t = it.dtype;
  const auto c = [&](double v) { return ctx.scalar(t, v); };
  // Per region [R]: the start and the bin size along each axis.
  const auto coordinate = [&](std::int64_t k) {
    return b.subtract(b.multiply(b.squeeze(slice_axis(b, rois, 1, k, k + 1), {1}), c(scale)), c(half_pixel ? 0.5 : 0.0));
  };
  const Var x1 = coordinate(0), y1 = coordinate(1), x2 = coordinate(2), y2 = coordinate(3);
  Var roi_w = b.subtract(x2, x1), roi_h = b.subtract(y2, y1);
  if (!half_pixel) {
    roi_w = b.maximum(roi_w, c(1));
    roi_h = b.maximum(roi_h, c(1));
  }
  // Sample coordinates: start + (bin + (cell + 0.5) / ratio) * bin_size, as
  // y [R, out_h, ratio, 1, 1] and x [R, 1, 1, out_w, ratio].
  const auto samples = [&](Var start, Var extent, std::int64_t bins, bool rows) {
    std::vector<double> offsets(static_cast<std::size_t>(bins * ratio));
    for (std::int64_t bin = 0; bin < bins; ++bin)
      for (std::int64_t cell = 0; cell < ratio; ++cell)
        offsets[static_cast<std::size_t>(bin * ratio + cell)] =
            static_cast<double>(bin) + (static_cast<double>(cell) + 0.5) / static_cast<double>(ratio);
    const std::vector<std::int64_t> dims = rows ? std::vector<std::int64_t>{1, bins, ratio, 1, 1}
                                                : std::vector<std::int64_t>{1, 1, 1, bins, ratio};
    Result<Tensor> table = tensor_from(t, dims, offsets);
    const Var bin_size = b.reshape(b.divide(extent, c(static_cast<double>(bins))), relax::Dims{regions, 1, 1, 1, 1});
    return b.add(b.reshape(start, relax::Dims{regions, 1, 1, 1, 1}),
                 b.multiply(table.ok() ? ctx.constant(std::move(*table)) : Var{}, bin_size));
  };
  const Var y = samples(y1, roi_h, out_h, true);
  const Var x = samples(x1, roi_w, out_w, false);
  // Bilinear reads with the clamping rules of RoiAlign.
  const auto outside = [&](Var v, std::int64_t size) {
    return b.binary(OpKind::logical_or, b.compare(OpKind::less, v, c(-1)),
                    b.compare(OpKind::greater, v, c(static_cast<double>(size))));
  };
  const Var invalid = b.binary(OpKind::logical_or, outside(y, height), outside(x, width));
  const auto corners = [&](Var v, std::int64_t size, Var& low, Var& high, Var& frac) {
    v = b.maximum(v, c(0));
    const Var floor_v = b.unary(OpKind::floor, v);
    const Var at_end = b.compare(OpKind::greater_equal, floor_v, c(static_cast<double>(size - 1)));
    low = b.where(at_end, c(static_cast<double>(size - 1)), floor_v);
    high = b.where(at_end, c(static_cast<double>(size - 1)), b.add(floor_v, c(1)));
    frac = b.subtract(b.where(at_end, low, v), low);
  };
  Var y_low, y_high, ly, x_low, x_high, lx;
  corners(y, height, y_low, y_high, ly);
  corners(x, width, x_low, x_high, lx);
  const Var hy = b.subtract(c(1), ly), hx = b.subtract(c(1), lx);
  // The image of each region's batch entry, [R, C, H * W].
  const Var selected = b.gather(image, batch_indices, 0);
  const Var flat = b.reshape(selected, relax::Dims{regions, it.dims[1], height * width});
  const std::int64_t points = out_h * ratio * out_w * ratio;
  const auto read = [&](Var row, Var column) {
    const Var index = b.cast(b.add(b.multiply(row, c(static_cast<double>(width))), column), DType::i64);
    const Var spread = b.expand(b.reshape(index, relax::Dims{regions, 1, points}), relax::Dims{regions, it.dims[1], points});
    return b.emit(OpKind::gather_elements, {flat, spread}, relax::AxisAttrs{2});
  };
  const auto weight = [&](Var wy, Var wx) {
    return b.reshape(b.multiply(wy, wx), relax::Dims{regions, 1, points});
  };
  Var sum = b.multiply(read(y_low, x_low), weight(hy, hx));
  sum = b.add(sum, b.multiply(read(y_low, x_high), weight(hy, lx)));
  sum = b.add(sum, b.multiply(read(y_high, x_low), weight(ly, hx)));
  sum = b.add(sum, b.multiply(read(y_high, x_high), weight(ly, lx)));
  sum = b.where(b.reshape(b.expand(invalid, relax::Dims{regions, out_h, ratio, out_w, ratio}), relax::Dims{regions, 1, points}),
                c(0), sum);
  const Var cells = b.reshape(sum, relax::Dims{regions, it.dims[1], out_h, ratio, out_w, ratio});
  return ctx.set_output(0, b.reduce(OpKind::reduce_mean, cells, relax::ReduceAttrs{.axes = {3, 5}, .keepdims = false}));
}

inline constexpr ConverterEntry kSampleConverters[] = {
    {"RoiAlign", convert_roi_align},
    {"GridSample", convert_grid_sample},
};

} // namespace kiln::onnx::detail
