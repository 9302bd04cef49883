// kiln/frontend/onnx/import_ops_nn.hpp: ONNX's neural-network ops: matrix products,
// convolutions, pooling, normalizations, the softmax family and dropout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

// A list attribute as relax's fixed-capacity Ints (an overflow is reported by inference).
inline relax::Ints to_relax_ints(const std::vector<std::int64_t>& values) {
  relax::Ints out;
  for (std::int64_t v : values) out.push_back(v);
  return out;
}

// A list of extents as relax Dims (a reshape target).
inline relax::Dims to_relax_dims(const std::vector<std::int64_t>& values) {
  relax::Dims out;
  for (std::int64_t v : values) out.push_back(v);
  return out;
}

// The dims of a type as a reshape target.
inline relax::Dims dims_of(const relax::TensorType& t) {
  relax::Dims out;
  for (int i = 0; i < t.rank; ++i) out.push_back(t.dims[i]);
  return out;
}

inline Result<relax::AutoPad> auto_pad_of(const NodeContext& ctx) {
  const std::string pad = ctx.attr_string("auto_pad", "NOTSET");
  if (pad == "NOTSET" || pad.empty()) return relax::AutoPad::explicit_pads;
  if (pad == "SAME_UPPER") return relax::AutoPad::same_upper;
  if (pad == "SAME_LOWER") return relax::AutoPad::same_lower;
  if (pad == "VALID") return relax::AutoPad::valid;
  return ctx.invalid("auto_pad '", pad, "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
}

// ---- matrix products ----------------------------------------------------------------------

// numpy.matmul of any dtype. The CPU kernel computes f32; f16 and bf16 run through it (their
// products and sums are exact enough in f32), other dtypes multiply and sum exactly in their
// own type: a [..., m, k, 1] * b [..., 1, k, n], summed over k.
inline Var matmul_any(NodeContext& ctx, Var a, Var b) {
  relax::Builder& bld = ctx.b();
  const DType dtype = ctx.dtype(a);
  if (dtype == DType::f32) return bld.matmul(a, b);
  if (dtype == DType::f16 || dtype == DType::bf16)
    return bld.cast(bld.matmul(bld.cast(a, DType::f32), bld.cast(b, DType::f32)), dtype);
  const bool vector_a = ctx.rank(a) == 1;
  const bool vector_b = ctx.rank(b) == 1;
  if (vector_a) a = bld.unsqueeze(a, {0});
  if (vector_b) b = bld.unsqueeze(b, {1});
  // Summed in i64 (the kernel's integer type); wrapping back to a narrower type afterwards
  // gives what summing in it would.
  const bool widen = is_integer(dtype) && dtype != DType::i64;
  if (widen) {
    a = bld.cast(a, DType::i64);
    b = bld.cast(b, DType::i64);
  }
  const Var products = bld.multiply(bld.unsqueeze(a, {-1}), bld.unsqueeze(b, {-3}));
  Var out = bld.reduce(OpKind::reduce_sum, products, relax::ReduceAttrs{.axes = {-2}, .keepdims = false});
  if (widen) out = bld.cast(out, dtype);
  if (vector_b) out = bld.squeeze(out, {-1});
  if (vector_a) out = bld.squeeze(out, {-2});
  return out;
}

inline Status convert_matmul(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var b, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, matmul_any(ctx, a, b));
}

// x - zero_point in i32 (a missing zero point is 0).
inline Result<Var> centered_i32(NodeContext& ctx, int input, int zero_point_input) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(input));
  KILN_ASSIGN_OR_RETURN(const Var zero_point, ctx.optional_input(zero_point_input));
  Var centered = ctx.b().cast(x, DType::i32);
  if (zero_point.valid()) centered = ctx.b().subtract(centered, ctx.b().cast(zero_point, DType::i32));
  return centered;
}

// MatMulInteger: (a - a_zero_point) @ (b - b_zero_point) in i32, exactly.
inline Status convert_matmul_integer(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, centered_i32(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(const Var b, centered_i32(ctx, 1, 3));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, matmul_any(ctx, a, b));
}

inline Status convert_gemm(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var b, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var c, ctx.optional_input(2));
  relax::GemmOpAttrs attrs;
  attrs.trans_a = ctx.attr_int("transA", 0) != 0;
  attrs.trans_b = ctx.attr_int("transB", 0) != 0;
  attrs.alpha = ctx.attr_float("alpha", 1.0);
  attrs.beta = ctx.attr_float("beta", 1.0);
  return ctx.set_output(0, ctx.b().gemm(a, b, c, attrs));
}

// ---- convolutions -------------------------------------------------------------------------

template <class Attrs>
Status fill_window(const NodeContext& ctx, Attrs& attrs) {
  attrs.strides = to_relax_ints(ctx.attr_ints("strides"));
  attrs.pads = to_relax_ints(ctx.attr_ints("pads"));
  attrs.dilations = to_relax_ints(ctx.attr_ints("dilations"));
  KILN_ASSIGN_OR_RETURN(attrs.auto_pad, auto_pad_of(ctx));
  return {};
}

inline Status convert_conv(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var w, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var bias, ctx.optional_input(2));
  relax::ConvAttrs attrs;
  KILN_RETURN_IF_ERROR(fill_window(ctx, attrs));
  attrs.groups = ctx.attr_int("group", 1);
  return ctx.set_output(0, ctx.b().conv(x, w, bias, attrs));
}

// ConvInteger: (x - x_zero_point) conv w in f32, then i32. Exact while every partial sum of
// products stays below 2^24 in magnitude (8-bit operands and windows of up to 258 taps).
inline Status convert_conv_integer(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, centered_i32(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(const Var w, centered_i32(ctx, 1, 3));
  relax::ConvAttrs attrs;
  KILN_RETURN_IF_ERROR(fill_window(ctx, attrs));
  attrs.groups = ctx.attr_int("group", 1);
  relax::Builder& b = ctx.b();
  const Var y = b.conv(b.cast(x, DType::f32), b.cast(w, DType::f32), {}, attrs);
  return ctx.set_output(0, b.cast(b.unary(OpKind::round, y), DType::i32));
}

// ConvTranspose's output_shape as ONNX defines it: the total padding each axis needs for
// that extent, split between the ends (the odd one at the end for SAME_UPPER, else at the
// beginning, rounding down); an end "padding" below zero is output padding. False when the
// input or kernel extents are not known at load time, or the padding cannot be expressed.
inline bool explicit_transpose_pads(const relax::TensorType& x, const relax::TensorType& w,
                                    const std::vector<std::int64_t>& extents, relax::ConvTransposeAttrs& attrs) {
  const int spatial = x.rank - 2;
  if (w.rank != x.rank) return false;
  relax::Ints begins, ends, output_padding;
  for (int i = 0; i < spatial; ++i) {
    if (!x.dims[2 + i].is_constant() || !w.dims[2 + i].is_constant()) return false;
    const std::int64_t in = x.dims[2 + i].constant_value();
    const std::int64_t kernel = w.dims[2 + i].constant_value();
    const std::int64_t stride = attrs.strides.empty() ? 1 : attrs.strides[i];
    const std::int64_t dilation = attrs.dilations.empty() ? 1 : attrs.dilations[i];
    const std::int64_t extra = attrs.output_padding.empty() ? 0 : attrs.output_padding[i];
    const std::int64_t total = stride * (in - 1) + extra + (kernel - 1) * dilation + 1 - extents[static_cast<std::size_t>(i)];
    const std::int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor(total / 2)
    std::int64_t begin = attrs.auto_pad == relax::AutoPad::same_upper ? half : total - half;
    std::int64_t end = total - begin;
    std::int64_t grow = extra;
    if (end < 0) {
      grow += -end;
      end = 0;
    }
    if (begin < 0) return false;
    begins.push_back(begin);
    ends.push_back(end);
    output_padding.push_back(grow);
  }
  attrs.pads = begins;
  for (std::int64_t e : ends) attrs.pads.push_back(e);
  attrs.output_padding = output_padding;
  attrs.auto_pad = relax::AutoPad::explicit_pads;
  return true;
}

inline Status convert_conv_transpose(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var w, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var bias, ctx.optional_input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::ConvTransposeAttrs attrs;
  KILN_RETURN_IF_ERROR(fill_window(ctx, attrs));
  attrs.groups = ctx.attr_int("group", 1);
  attrs.output_padding = to_relax_ints(ctx.attr_ints("output_padding"));
  const std::vector<std::int64_t> output_shape = ctx.attr_ints("output_shape");
  if (!output_shape.empty()) {
    // The spatial extents (a full [N, C, ...] shape is accepted too).
    const int spatial = ctx.rank(x) - 2;
    if (spatial < 1 || static_cast<int>(output_shape.size()) < spatial)
      return ctx.invalid("output_shape has ", output_shape.size(), " values for ", spatial, " spatial axes");
    std::vector<std::int64_t> extents(output_shape.end() - spatial, output_shape.end());
    if (!explicit_transpose_pads(ctx.type(x), ctx.type(w), extents, attrs)) {
      for (std::int64_t e : extents) attrs.output_shape.push_back(e);
    }
  }
  return ctx.set_output(0, ctx.b().conv_transpose(x, w, bias, attrs));
}

// ---- pooling ------------------------------------------------------------------------------

// MaxPool's second output: for every window, the flat index of its (first) maximum in the
// input (row-major, or with storage_order 1 the spatial part column-major). Each window tap
// is a strided slice of the input padded with the lowest value; the argmax over the stacked
// taps picks the tap, and constant tables turn tap and output position into the index.
inline Result<Var> max_pool_indices(NodeContext& ctx, Var x, const relax::PoolAttrs& attrs, Var values) {
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const relax::TensorType xt = ctx.type(x);
  const relax::TensorType yt = ctx.type(values);
  const int spatial = xt.rank - 2;
  const bool column_major = ctx.attr_int("storage_order", 0) != 0;
  if (column_major && spatial != 2) return ctx.unsupported("storage_order 1 is defined for 2-D pooling only");
  if (!xt.dims[0].is_constant() || !xt.dims[1].is_constant())
    return ctx.unsupported("the indices need the batch and channels known at load time, got ", to_string(xt));
  const std::size_t n = static_cast<std::size_t>(spatial);
  std::vector<std::int64_t> in(n), out(n), kernel(n), stride(n), dilation(n), begin(n, 0), span(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int a = static_cast<int>(i);
    if (!xt.dims[2 + a].is_constant() || !yt.dims[2 + a].is_constant())
      return ctx.unsupported("the indices need spatial extents known at load time, got ", to_string(xt));
    in[i] = xt.dims[2 + a].constant_value();
    out[i] = yt.dims[2 + a].constant_value();
    kernel[i] = attrs.kernel_shape[a];
    stride[i] = attrs.strides.empty() ? 1 : attrs.strides[a];
    dilation[i] = attrs.dilations.empty() ? 1 : attrs.dilations[a];
    span[i] = (out[i] - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1;
    if (attrs.auto_pad == relax::AutoPad::same_upper || attrs.auto_pad == relax::AutoPad::same_lower) {
      const std::int64_t total = std::max<std::int64_t>(span[i] - in[i], 0);
      begin[i] = attrs.auto_pad == relax::AutoPad::same_lower ? (total + 1) / 2 : total / 2;
    } else if (attrs.auto_pad == relax::AutoPad::explicit_pads && !attrs.pads.empty()) {
      begin[i] = attrs.pads[a];
    }
  }
  // The input padded with the lowest value, so that every tap of every window is a slice.
  relax::PadAttrs pad;
  pad.value = -std::numeric_limits<double>::infinity();
  visit_dtype(xt.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_integral_v<T>) pad.value = static_cast<double>(std::numeric_limits<T>::lowest());
  });
  pad.pads = {0, 0};
  for (std::size_t i = 0; i < n; ++i) pad.pads.push_back(begin[i]);
  pad.pads.push_back(0);
  pad.pads.push_back(0);
  for (std::size_t i = 0; i < n; ++i) pad.pads.push_back(std::max<std::int64_t>(span[i] - begin[i] - in[i], 0));
  const Var padded = b.pad(x, pad);
  std::int64_t taps = 1;
  for (std::int64_t k : kernel) taps *= k;
  std::vector<Var> stacked;
  for (std::int64_t t = 0; t < taps; ++t) {
    relax::SliceAttrs window;
    std::int64_t rest = t;
    for (std::size_t i = n; i-- > 0;) {
      const std::int64_t offset = (rest % kernel[i]) * dilation[i];
      rest /= kernel[i];
      window.starts.push_back(offset);
      window.ends.push_back(offset + (out[i] - 1) * stride[i] + 1);
      window.axes.push_back(2 + static_cast<std::int64_t>(i));
      window.steps.push_back(stride[i]);
    }
    stacked.push_back(b.unsqueeze(b.slice(padded, window), {-1}));
  }
  const Var tap = b.argmax(taps == 1 ? stacked[0] : b.concat(stacked, -1), -1, false);  // [N, C, out...]
  // Spatial position along axis a: out_a * stride - begin + tap_a * dilation; the plane
  // (n, c) adds (n * C + c) * prod(in).
  Var index = ctx.scalar(DType::i64, 0);
  std::int64_t tap_stride = 1;
  for (std::size_t i = n; i-- > 0;) {
    const Var tap_a = b.emit(OpKind::mod, {b.divide(tap, ctx.scalar(DType::i64, static_cast<double>(tap_stride))),
                                           ctx.scalar(DType::i64, static_cast<double>(kernel[i]))});
    tap_stride *= kernel[i];
    std::vector<std::int64_t> origin(static_cast<std::size_t>(out[i]));
    for (std::int64_t o = 0; o < out[i]; ++o) origin[static_cast<std::size_t>(o)] = o * stride[i] - begin[i];
    std::vector<std::int64_t> dims(n, 1);
    dims[i] = out[i];
    const Var position =
        b.add(ctx.i64_constant(origin, dims), b.multiply(tap_a, ctx.scalar(DType::i64, static_cast<double>(dilation[i]))));
    std::int64_t axis_stride = 1;
    if (column_major) {
      for (std::size_t c = 0; c < i; ++c) axis_stride *= in[c];
    } else {
      for (std::size_t c = i + 1; c < n; ++c) axis_stride *= in[c];
    }
    index = b.add(index, b.multiply(position, ctx.scalar(DType::i64, static_cast<double>(axis_stride))));
  }
  std::int64_t plane = 1;
  for (std::int64_t d : in) plane *= d;
  const std::int64_t batch = xt.dims[0].constant_value(), channels = xt.dims[1].constant_value();
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(batch * channels));
  for (std::size_t p = 0; p < offsets.size(); ++p) offsets[p] = static_cast<std::int64_t>(p) * plane;
  std::vector<std::int64_t> offset_dims{batch, channels};
  for (std::size_t i = 0; i < n; ++i) offset_dims.push_back(1);
  return b.add(index, ctx.i64_constant(offsets, offset_dims));
}

template <OpKind Op>
Status convert_pool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  if (Op != OpKind::max_pool) KILN_RETURN_IF_ERROR(ctx.no_outputs_from(1, "only MaxPool has a second output"));
  relax::PoolAttrs attrs;
  attrs.kernel_shape = to_relax_ints(ctx.attr_ints("kernel_shape"));
  if (attrs.kernel_shape.empty()) return ctx.invalid("kernel_shape is required");
  KILN_RETURN_IF_ERROR(fill_window(ctx, attrs));
  attrs.ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  attrs.count_include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  if (Op == OpKind::lp_pool) {
    // p is an int from opset 11, a float before.
    const AttributeProto* p = ctx.attr("p");
    attrs.p = p == nullptr ? 2 : (p->has_f && !p->has_i ? static_cast<std::int64_t>(p->f) : p->i);
  }
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType dtype = ctx.dtype(x);
  // The kernel pools f32: small integers and 16-bit floats convert exactly, and a maximum
  // of converted values is the converted maximum.
  const bool widen = Op == OpKind::max_pool && (dtype == DType::u8 || dtype == DType::i8 || dtype == DType::i16 ||
                                                dtype == DType::f16 || dtype == DType::bf16);
  const Var y = widen ? ctx.b().cast(ctx.emit(Op, {ctx.b().cast(x, DType::f32)}, attrs), dtype) : ctx.emit(Op, {x}, attrs);
  KILN_RETURN_IF_ERROR(ctx.set_output(0, y));
  if (Op != OpKind::max_pool || !ctx.wants_output(1)) return {};
  KILN_ASSIGN_OR_RETURN(const Var indices, max_pool_indices(ctx, x, attrs, y));
  return ctx.set_output(1, indices);
}

template <OpKind Op>
Status convert_global_pool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  if (Op == OpKind::global_lp_pool) {
    const AttributeProto* p = ctx.attr("p");
    const std::int64_t order = p == nullptr ? 2 : (p->has_f && !p->has_i ? static_cast<std::int64_t>(p->f) : p->i);
    return ctx.set_output(0, ctx.emit(Op, {x}, relax::LpNormAttrs{order}));
  }
  return ctx.set_output(0, ctx.emit(Op, {x}));
}

// MaxUnpool: the values of x written at their indices (flat positions in the unpooled
// shape the window attributes give, as MaxPool's indices are) into zeros. With an
// output_shape that differs, each index keeps its coordinates in the larger output.
inline Status convert_max_unpool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var indices, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType xt = ctx.type(x);
  const std::vector<std::int64_t> kernel = ctx.attr_ints("kernel_shape");
  const std::vector<std::int64_t> strides = ctx.attr_ints("strides");
  const std::vector<std::int64_t> pads = ctx.attr_ints("pads");
  const int spatial = xt.rank - 2;
  if (spatial < 1 || static_cast<int>(kernel.size()) != spatial)
    return ctx.invalid("kernel_shape must have one value per spatial axis");
  if (!strides.empty() && static_cast<int>(strides.size()) != spatial)
    return ctx.invalid("strides must have one value per spatial axis");
  if (!pads.empty() && static_cast<int>(pads.size()) != 2 * spatial)
    return ctx.invalid("pads must have two values per spatial axis");
  std::vector<std::int64_t> unpooled;
  for (int a = 0; a < xt.rank; ++a) {
    if (!xt.dims[a].is_constant()) return ctx.unsupported("the input's dims must be known at load time");
    std::int64_t d = xt.dims[a].constant_value();
    if (a >= 2) {
      const std::size_t i = static_cast<std::size_t>(a - 2);
      const std::int64_t stride = strides.empty() ? 1 : strides[i];
      const std::int64_t begin = pads.empty() ? 0 : pads[i];
      const std::int64_t end = pads.empty() ? 0 : pads[i + static_cast<std::size_t>(spatial)];
      if (kernel[i] < 1 || stride < 1 || begin < 0 || end < 0)
        return ctx.invalid("axis ", a, ": kernel_shape and strides must be positive and pads not negative");
      // (d - 1) * stride + kernel - pads, overflow-checked: the attributes are the file's.
      if (d < 1 || __builtin_mul_overflow(d - 1, stride, &d) || __builtin_add_overflow(d, kernel[i], &d) ||
          begin > d || end > d - begin || d - begin - end < 1)
        return ctx.invalid("axis ", a, ": the unpooled extent is out of range");
      d -= begin + end;
    }
    unpooled.push_back(d);
  }
  std::vector<std::int64_t> out_dims = unpooled;
  if (ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(out_dims, ctx.constant_ints(2, "output_shape"));
    if (out_dims.size() != unpooled.size()) return ctx.invalid("output_shape must have rank ", unpooled.size());
  }
  // Both element counts must fit: the strides below are their partial products.
  for (const std::vector<std::int64_t>* dims : {&unpooled, &out_dims}) {
    std::int64_t count = 1;
    for (std::int64_t d : *dims)
      if (d < 0 || __builtin_mul_overflow(count, d, &count))
        return ctx.invalid("the output shape ", Tensor::shape_string(*dims), " is out of range");
  }
  relax::Builder& b = ctx.b();
  const relax::Dims flat_x{xt.element_count()};
  Var positions = b.reshape(b.cast(indices, DType::i64), flat_x);
  if (out_dims != unpooled) {
    // Coordinates in the unpooled shape, flattened again in the output's.
    Var moved = ctx.scalar(DType::i64, 0);
    std::int64_t from_stride = 1, to_stride = 1;
    for (std::size_t a = unpooled.size(); a-- > 0;) {
      const Var coordinate = b.emit(OpKind::mod, {b.divide(positions, ctx.scalar(DType::i64, static_cast<double>(from_stride))),
                                                  ctx.scalar(DType::i64, static_cast<double>(unpooled[a]))});
      moved = b.add(moved, b.multiply(coordinate, ctx.scalar(DType::i64, static_cast<double>(to_stride))));
      from_stride *= unpooled[a];
      to_stride *= out_dims[a];
    }
    positions = moved;
  }
  std::int64_t total = 1;
  for (std::int64_t d : out_dims) total *= d;
  const Var zeros = b.expand(ctx.scalar(xt.dtype, 0), relax::Dims{total});
  const Var scattered = b.emit(OpKind::scatter_elements, {zeros, positions, b.reshape(x, flat_x)}, relax::ScatterAttrs{});
  return ctx.set_output(0, b.reshape(scattered, to_relax_dims(out_dims)));
}

// ---- normalizations -----------------------------------------------------------------------

// BatchNormalization in training mode: normalized by the batch's own mean and (population)
// variance over every axis but the channels; the running statistics move towards them by
// 1 - momentum.
inline Status batch_norm_training(NodeContext& ctx, const Var (&in)[5]) {
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const relax::TensorType xt = ctx.type(in[0]);
  const DType t = xt.dtype;
  const double momentum = ctx.attr_float("momentum", 0.9);
  const double epsilon = ctx.attr_float("epsilon", 1e-5);
  relax::ReduceAttrs over{.keepdims = false};
  over.axes.push_back(0);
  for (int a = 2; a < xt.rank; ++a) over.axes.push_back(a);
  const Var mean = b.reduce(OpKind::reduce_mean, in[0], over);
  relax::Dims per_channel{xt.dims[1]};
  for (int a = 2; a < xt.rank; ++a) per_channel.push_back(1);
  const auto broadcast = [&](Var v) { return b.reshape(v, per_channel); };
  const Var centered = b.subtract(in[0], broadcast(mean));
  const Var variance = b.reduce(OpKind::reduce_mean, b.multiply(centered, centered), over);
  const Var inv_std = b.unary(OpKind::rsqrt, b.add(variance, ctx.scalar(t, epsilon)));
  const Var y = b.add(b.multiply(b.multiply(centered, broadcast(inv_std)), broadcast(in[1])), broadcast(in[2]));
  const auto running = [&](Var old_value, Var batch_value) {
    return b.add(b.multiply(old_value, ctx.scalar(t, momentum)), b.multiply(batch_value, ctx.scalar(t, 1.0 - momentum)));
  };
  KILN_RETURN_IF_ERROR(ctx.set_output(0, y));
  KILN_RETURN_IF_ERROR(ctx.set_output(1, running(in[3], mean)));
  return ctx.set_output(2, running(in[4], variance));
}

inline Status convert_batch_norm(NodeContext& ctx) {
  Var in[5];
  for (int i = 0; i < 5; ++i) {
    KILN_ASSIGN_OR_RETURN(in[i], ctx.input(i));
  }
  if (ctx.attr_int("training_mode", 0) != 0) return batch_norm_training(ctx, in);
  KILN_RETURN_IF_ERROR(ctx.no_outputs_from(1, "a training statistic"));
  return ctx.set_output(0, ctx.b().batch_norm(in[0], in[1], in[2], in[3], in[4], ctx.attr_float("epsilon", 1e-5)));
}

inline Status convert_instance_norm(NodeContext& ctx) {
  Var in[3];
  for (int i = 0; i < 3; ++i) {
    KILN_ASSIGN_OR_RETURN(in[i], ctx.input(i));
  }
  return ctx.set_output(
      0, ctx.emit(OpKind::instance_norm, {in[0], in[1], in[2]}, relax::NormAttrs{.epsilon = ctx.attr_float("epsilon", 1e-5)}));
}

inline Status convert_group_norm(NodeContext& ctx) {
  Var in[3];
  for (int i = 0; i < 3; ++i) {
    KILN_ASSIGN_OR_RETURN(in[i], ctx.input(i));
  }
  relax::NormAttrs attrs;
  attrs.epsilon = ctx.attr_float("epsilon", 1e-5);
  attrs.num_groups = ctx.attr_int("num_groups", 0);
  return ctx.set_output(0, ctx.emit(OpKind::group_norm, {in[0], in[1], in[2]}, attrs));
}

// The axes from `axis` (may be negative) to the last, for a tensor of rank `rank`.
inline relax::Ints trailing_axes(std::int64_t axis, int rank) {
  relax::Ints axes;
  const std::int64_t first = axis < 0 ? axis + rank : axis;
  for (std::int64_t a = first; a < rank; ++a) axes.push_back(a);
  return axes;
}

// LayerNormalization. With only Y wanted it is relax's layer_norm; the Mean and InvStdDev
// outputs need the computation written out.
inline Status convert_layer_norm(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var bias, ctx.optional_input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t axis = ctx.attr_int("axis", -1);
  const double epsilon = ctx.attr_float("epsilon", 1e-5);
  relax::Builder& b = ctx.b();
  if (!ctx.wants_output(1) && !ctx.wants_output(2))
    return ctx.set_output(0, b.layer_norm(x, scale, bias, relax::NormAttrs{.epsilon = epsilon, .axis = axis}));
  const DType t = ctx.dtype(x);
  // An axis far out of range would make trailing_axes count through it.
  if (axis < -ctx.rank(x) || axis >= ctx.rank(x))
    return ctx.invalid("axis ", axis, " is out of range for rank ", ctx.rank(x));
  const relax::ReduceAttrs over{.axes = trailing_axes(axis, ctx.rank(x)), .keepdims = true};
  const Var mean = b.reduce(OpKind::reduce_mean, x, over);
  const Var centered = b.subtract(x, mean);
  const Var variance = b.reduce(OpKind::reduce_mean, b.multiply(centered, centered), over);
  const Var inv_std = b.unary(OpKind::rsqrt, b.add(variance, ctx.scalar(t, epsilon)));
  Var y = b.multiply(b.multiply(centered, inv_std), scale);
  if (bias.valid()) y = b.add(y, bias);
  KILN_RETURN_IF_ERROR(ctx.set_output(0, y));
  KILN_RETURN_IF_ERROR(ctx.set_output(1, mean));
  return ctx.set_output(2, inv_std);
}

// LRN: x / (bias + alpha / size * sum of squares over the channel window)^beta. The window
// sum is an average pool over [channels, everything else] with the pads counted, times size.
inline Status convert_lrn(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const double alpha = ctx.attr_float("alpha", 1e-4);
  const double beta = ctx.attr_float("beta", 0.75);
  const double bias = ctx.attr_float("bias", 1.0);
  const std::int64_t size = ctx.attr_int("size", 0);
  if (size < 1) return ctx.invalid("size must be positive, got ", size);
  const relax::TensorType xt = ctx.type(x);
  if (xt.rank < 2) return ctx.invalid("the input must have rank 2 or more");
  relax::Builder& b = ctx.b();
  const DType t = xt.dtype;
  relax::SymDim inner = 1;
  for (int i = 2; i < xt.rank; ++i) inner = inner * xt.dims[i];
  const Var squares = b.reshape(b.multiply(x, x), relax::Dims{xt.dims[0], 1, xt.dims[1], inner});
  relax::PoolAttrs window;
  window.kernel_shape = {size, 1};
  window.pads = {(size - 1) / 2, 0, size / 2, 0};
  window.count_include_pad = true;
  const Var sums = b.multiply(b.average_pool(squares, window), ctx.scalar(t, static_cast<double>(size)));
  const Var scaled = b.add(ctx.scalar(t, bias), b.multiply(sums, ctx.scalar(t, alpha / static_cast<double>(size))));
  const Var denominator = b.power(b.reshape(scaled, dims_of(xt)), ctx.scalar(t, beta));
  return ctx.set_output(0, b.divide(x, denominator));
}

// MeanVarianceNormalization, as its ONNX function: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9).
inline Status convert_mvn(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  std::vector<std::int64_t> axes = ctx.attr_ints("axes");
  if (!ctx.has_attr("axes")) axes = {0, 2, 3};
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  const relax::ReduceAttrs over{.axes = to_relax_ints(axes), .keepdims = true};
  const Var mean = b.reduce(OpKind::reduce_mean, x, over);
  const Var mean_of_squares = b.reduce(OpKind::reduce_mean, b.multiply(x, x), over);
  const Var variance = b.subtract(mean_of_squares, b.multiply(mean, mean));
  const Var std_dev = b.add(b.sqrt(variance), ctx.scalar(t, 1e-9));
  return ctx.set_output(0, b.divide(b.subtract(x, mean), std_dev));
}

// LpNormalization: x divided by its L1 or L2 norm along `axis`.
inline Status convert_lp_normalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t p = ctx.attr_int("p", 2);
  const relax::ReduceAttrs over{.axes = {ctx.attr_int("axis", -1)}, .keepdims = true};
  relax::Builder& b = ctx.b();
  Var norm;
  if (p == 1) norm = b.reduce(OpKind::reduce_sum, b.unary(OpKind::abs, x), over);
  else if (p == 2) norm = b.sqrt(b.reduce(OpKind::reduce_sum, b.multiply(x, x), over));
  else return ctx.invalid("p must be 1 or 2, got ", p);
  return ctx.set_output(0, b.divide(x, norm));
}

// Softmax, LogSoftmax, Hardmax. Before opset 13 the input is coerced to 2-D at `axis`
// (default 1) and the op runs over the whole second dim.
template <OpKind Op>
Status convert_softmax(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType xt = ctx.type(x);
  if (ctx.opset() >= 13) return ctx.set_output(0, ctx.emit(Op, {x}, relax::AxisAttrs{ctx.attr_int("axis", -1)}));
  std::int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0) axis += xt.rank;
  if (axis < 0 || axis > xt.rank) return ctx.invalid("axis ", ctx.attr_int("axis", 1), " is out of range for rank ", xt.rank);
  if (axis == xt.rank - 1) return ctx.set_output(0, ctx.emit(Op, {x}, relax::AxisAttrs{-1}));
  const Var flat = ctx.b().flatten(x, axis);
  const Var y = ctx.emit(Op, {flat}, relax::AxisAttrs{1});
  return ctx.set_output(0, ctx.b().reshape(y, dims_of(xt)));
}

// Dropout at inference is the identity; its mask is all true. Training with a nonzero ratio
// is random and refused.
inline Status convert_dropout(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  bool training = ctx.opset() < 7 && ctx.attr_int("is_test", 0) == 0 && ctx.has_attr("is_test");
  double ratio = ctx.attr_float("ratio", 0.5);
  if (ctx.opset() >= 12) {
    if (ctx.has_input(2)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<double> mode, ctx.constant_reals(2, "training_mode"));
      training = !mode.empty() && mode[0] != 0.0;
    }
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<double> r, ctx.constant_reals(1, "ratio"));
      ratio = r.empty() ? 0.5 : r[0];
    }
  }
  if (training && ratio != 0.0) return ctx.unsupported("training mode with ratio ", ratio, " is random");
  KILN_RETURN_IF_ERROR(ctx.set_output(0, ctx.emit(OpKind::identity, {x})));
  if (!ctx.wants_output(1)) return {};
  const Var all_true = ctx.b().expand(ctx.scalar(DType::boolean, 1), dims_of(ctx.type(x)));
  return ctx.set_output(1, all_true);
}

inline constexpr ConverterEntry kNnConverters[] = {
    {"MatMul", convert_matmul},
    {"MatMulInteger", convert_matmul_integer},
    {"Gemm", convert_gemm},
    {"Conv", convert_conv},
    {"ConvInteger", convert_conv_integer},
    {"ConvTranspose", convert_conv_transpose},
    {"MaxPool", convert_pool<OpKind::max_pool>},
    {"AveragePool", convert_pool<OpKind::average_pool>},
    {"LpPool", convert_pool<OpKind::lp_pool>},
    {"MaxUnpool", convert_max_unpool},
    {"GlobalMaxPool", convert_global_pool<OpKind::global_max_pool>},
    {"GlobalAveragePool", convert_global_pool<OpKind::global_average_pool>},
    {"GlobalLpPool", convert_global_pool<OpKind::global_lp_pool>},
    {"BatchNormalization", convert_batch_norm},
    {"InstanceNormalization", convert_instance_norm},
    {"GroupNormalization", convert_group_norm},
    {"LayerNormalization", convert_layer_norm},
    {"LRN", convert_lrn},
    {"MeanVarianceNormalization", convert_mvn},
    {"LpNormalization", convert_lp_normalization},
    {"Softmax", convert_softmax<OpKind::softmax>},
    {"LogSoftmax", convert_softmax<OpKind::log_softmax>},
    {"Hardmax", convert_softmax<OpKind::hardmax>},
    {"Dropout", convert_dropout},
};

} // namespace kiln::onnx::detail
