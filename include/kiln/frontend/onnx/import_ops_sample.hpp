// kiln/frontend/onnx/import_ops_sample.hpp: ONNX's GridSample (4-D) written with elementwise
// coordinate arithmetic and gather_elements.
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

inline constexpr ConverterEntry kSampleConverters[] = {
    {"GridSample", convert_grid_sample},
};

} // namespace kiln::onnx::detail
