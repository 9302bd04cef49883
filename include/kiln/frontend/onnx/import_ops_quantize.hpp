// kiln/frontend/onnx/import_ops_quantize.hpp: ONNX's linear quantization ops written with
// float arithmetic: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul
// and QLinearConv.
//
//   quantize:   q = saturate(round_half_even(x / scale) + zero_point)
//   dequantize: x = (q - zero_point) * scale
// A scale (and zero point) is a scalar, or one value per slice of `axis` (opset 13).
// QLinearMatMul multiplies the centered integers exactly (in i64) and requantizes; QLinearConv
// convolves them in f32, exact while the partial sums stay below 2^24.
#pragma once

#include <cstdint>
#include <limits>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

// The range of an integer dtype, for saturation.
inline void integer_range(DType dtype, double& lowest, double& highest) {
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      lowest = static_cast<double>(std::numeric_limits<T>::lowest());
      highest = static_cast<double>(std::numeric_limits<T>::max());
    }
  });
}

// A per-axis parameter [C] shaped to broadcast along `axis` of a rank-`rank` tensor; scalars
// and one-element tensors broadcast as they are.
inline Result<Var> along_axis(NodeContext& ctx, Var p, std::int64_t axis, int rank) {
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType pt = ctx.type(p);
  if (pt.rank == 0 || pt.element_count().is_constant(1)) return p;
  if (pt.rank != 1) return ctx.invalid("a scale or zero point must be a scalar or 1-D, got ", to_string(pt));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ctx.invalid("axis ", axis, " is out of range for rank ", rank);
  relax::Dims dims;
  for (int a = 0; a < rank; ++a) dims.push_back(a == axis ? pt.dims[0] : relax::SymDim(1));
  return ctx.b().reshape(p, dims);
}

// saturate(round(x / scale) + zero_point) as `out`; x, scale in f32 (already broadcastable).
inline Var quantize(NodeContext& ctx, Var x, Var scale, Var zero_point, DType out) {
  relax::Builder& b = ctx.b();
  Var q = b.unary(OpKind::round, b.divide(x, scale));
  if (zero_point.valid()) q = b.add(q, b.cast(zero_point, DType::f32));
  double lowest = 0, highest = 0;
  integer_range(out, lowest, highest);
  return b.cast(b.clip(q, ctx.scalar(DType::f32, lowest), ctx.scalar(DType::f32, highest)), out);
}

inline Status convert_quantize_linear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(Var zero_point, ctx.optional_input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType out = zero_point.valid() ? ctx.dtype(zero_point) : DType::u8;
  if (!is_integer(out)) return ctx.unsupported("quantizing to ", to_string(out), " is not supported");
  const std::int64_t axis = ctx.attr_int("axis", 1);
  const int rank = ctx.rank(x);
  KILN_ASSIGN_OR_RETURN(scale, along_axis(ctx, scale, axis, rank));
  if (zero_point.valid()) {
    KILN_ASSIGN_OR_RETURN(zero_point, along_axis(ctx, zero_point, axis, rank));
  }
  if (ctx.dtype(scale) != DType::f32) scale = ctx.b().cast(scale, DType::f32);
  return ctx.set_output(0, quantize(ctx, ctx.b().cast(x, DType::f32), scale, zero_point, out));
}

inline Status convert_dequantize_linear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(Var zero_point, ctx.optional_input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t axis = ctx.attr_int("axis", 1);
  const int rank = ctx.rank(x);
  KILN_ASSIGN_OR_RETURN(scale, along_axis(ctx, scale, axis, rank));
  relax::Builder& b = ctx.b();
  const DType out = ctx.dtype(scale);
  Var centered = b.cast(x, out);
  if (zero_point.valid()) {
    KILN_ASSIGN_OR_RETURN(zero_point, along_axis(ctx, zero_point, axis, rank));
    centered = b.subtract(centered, b.cast(zero_point, out));
  }
  return ctx.set_output(0, b.multiply(centered, scale));
}

// DynamicQuantizeLinear: u8 with the scale and zero point that map [min(x, 0), max(x, 0)]
// onto [0, 255].
inline Status convert_dynamic_quantize_linear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const relax::ReduceAttrs all{.keepdims = false};
  const Var zero = ctx.scalar(DType::f32, 0);
  const Var low = b.minimum(b.reduce(OpKind::reduce_min, x, all), zero);
  const Var high = b.maximum(b.reduce(OpKind::reduce_max, x, all), zero);
  const Var scale = b.divide(b.subtract(high, low), ctx.scalar(DType::f32, 255));
  const Var zero_point = quantize(ctx, b.neg(low), scale, Var{}, DType::u8);
  KILN_RETURN_IF_ERROR(ctx.set_output(0, quantize(ctx, x, scale, zero_point, DType::u8)));
  KILN_RETURN_IF_ERROR(ctx.set_output(1, scale));
  return ctx.set_output(2, zero_point);
}

// Requantizes exact integer results: saturate(round(acc * multiplier) + y_zero_point).
inline Var requantize(NodeContext& ctx, Var acc, Var multiplier, Var y_zero_point, DType out) {
  relax::Builder& b = ctx.b();
  Var q = b.unary(OpKind::round, b.multiply(b.cast(acc, DType::f32), multiplier));
  q = b.add(q, b.cast(y_zero_point, DType::f32));
  double lowest = 0, highest = 0;
  integer_range(out, lowest, highest);
  return b.cast(b.clip(q, ctx.scalar(DType::f32, lowest), ctx.scalar(DType::f32, highest)), out);
}

inline Status convert_qlinear_matmul(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, centered_i32(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(const Var b_in, centered_i32(ctx, 3, 5));
  KILN_ASSIGN_OR_RETURN(const Var a_scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var b_scale, ctx.input(4));
  KILN_ASSIGN_OR_RETURN(const Var y_scale, ctx.input(6));
  KILN_ASSIGN_OR_RETURN(const Var y_zero_point, ctx.input(7));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const Var multiplier = b.divide(b.multiply(a_scale, b_scale), y_scale);
  const Var acc = matmul_any(ctx, a, b_in);
  return ctx.set_output(0, requantize(ctx, acc, multiplier, y_zero_point, ctx.dtype(y_zero_point)));
}

inline Status convert_qlinear_conv(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, centered_i32(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(Var w_zero_point, ctx.input(5));
  KILN_ASSIGN_OR_RETURN(const Var w_raw, ctx.input(3));
  KILN_ASSIGN_OR_RETURN(const Var x_scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(Var w_scale, ctx.input(4));
  KILN_ASSIGN_OR_RETURN(const Var y_scale, ctx.input(6));
  KILN_ASSIGN_OR_RETURN(const Var y_zero_point, ctx.input(7));
  KILN_ASSIGN_OR_RETURN(const Var bias, ctx.optional_input(8));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const int rank = ctx.rank(w_raw);
  // Weight zero points and scales may be per output channel (axis 0 of the weight).
  KILN_ASSIGN_OR_RETURN(w_zero_point, along_axis(ctx, w_zero_point, 0, rank));
  const Var w = b.subtract(b.cast(w_raw, DType::i32), b.cast(w_zero_point, DType::i32));
  relax::ConvAttrs attrs;
  KILN_RETURN_IF_ERROR(fill_window(ctx, attrs));
  attrs.groups = ctx.attr_int("group", 1);
  Var acc = b.conv(b.cast(x, DType::f32), b.cast(w, DType::f32), {}, attrs);
  KILN_RETURN_IF_ERROR(ctx.status());
  const int out_rank = ctx.rank(acc);
  if (bias.valid()) {
    KILN_ASSIGN_OR_RETURN(const Var per_channel, along_axis(ctx, b.cast(bias, DType::f32), 1, out_rank));
    acc = b.add(acc, per_channel);
  }
  KILN_ASSIGN_OR_RETURN(w_scale, along_axis(ctx, w_scale, 1, out_rank));
  const Var multiplier = b.divide(b.multiply(x_scale, w_scale), y_scale);
  return ctx.set_output(0, requantize(ctx, acc, multiplier, y_zero_point, ctx.dtype(y_zero_point)));
}

inline constexpr ConverterEntry kQuantizeConverters[] = {
    {"QuantizeLinear", convert_quantize_linear},
    {"DequantizeLinear", convert_dequantize_linear},
    {"DynamicQuantizeLinear", convert_dynamic_quantize_linear},
    {"QLinearMatMul", convert_qlinear_matmul},
    {"QLinearConv", convert_qlinear_conv},
};

} // namespace kiln::onnx::detail
