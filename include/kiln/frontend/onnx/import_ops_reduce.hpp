// kiln/frontend/onnx/import_ops_reduce.hpp: ONNX's reductions, ArgMax/ArgMin, TopK and CumSum.
//
// The axes of a reduction are an attribute until ReduceSum's opset 13 and the others'
// opset 18, an optional input after. ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp and
// ReduceSumSquare are written with reduce_sum, reduce_max and elementwise ops.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

enum class ReduceKind : std::uint8_t { sum, mean, max, min, prod, l1, l2, log_sum, log_sum_exp, sum_square };

// The reduction attributes of the node: axes from the attribute or (from `axes_input_opset`
// on) the optional second input, keepdims, noop_with_empty_axes.
inline Result<relax::ReduceAttrs> reduce_attrs(const NodeContext& ctx, std::int64_t axes_input_opset) {
  relax::ReduceAttrs attrs;
  attrs.keepdims = ctx.attr_int("keepdims", 1) != 0;
  if (ctx.opset() >= axes_input_opset) {
    attrs.noop_with_empty_axes = ctx.attr_int("noop_with_empty_axes", 0) != 0;
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> axes, ctx.constant_ints(1, "axes"));
      attrs.axes = to_relax_ints(axes);
    }
  } else {
    attrs.axes = to_relax_ints(ctx.attr_ints("axes"));
  }
  return attrs;
}

// The kernels reduce f32 and i64. Narrower integers reduce in i64 (a sum wrapped back to the
// narrow type is the narrow type's wrapping sum), f16 and bf16 in f32; other dtypes (f64)
// are left to the kernel, which refuses them.
inline DType reduction_dtype(OpKind op, DType dtype) {
  if (is_integer(dtype) && op != OpKind::reduce_mean) return DType::i64;
  if (dtype == DType::f16 || dtype == DType::bf16) return DType::f32;
  return dtype;
}

inline Var reduce_any(NodeContext& ctx, OpKind op, Var x, const relax::ReduceAttrs& attrs) {
  relax::Builder& b = ctx.b();
  const DType dtype = ctx.dtype(x);
  const DType wide = reduction_dtype(op, dtype);
  if (wide == dtype) return b.reduce(op, x, attrs);
  return b.cast(b.reduce(op, b.cast(x, wide), attrs), dtype);
}

template <ReduceKind Kind>
Status convert_reduce(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  KILN_ASSIGN_OR_RETURN(const relax::ReduceAttrs attrs, reduce_attrs(ctx, Kind == ReduceKind::sum ? 13 : 18));
  relax::Builder& b = ctx.b();
  if (attrs.axes.empty() && attrs.noop_with_empty_axes) return ctx.set_output(0, ctx.emit(OpKind::identity, {x}));
  const auto sum = [&](Var v) { return reduce_any(ctx, OpKind::reduce_sum, v, attrs); };
  switch (Kind) {
    case ReduceKind::sum: return ctx.set_output(0, sum(x));
    case ReduceKind::mean: return ctx.set_output(0, reduce_any(ctx, OpKind::reduce_mean, x, attrs));
    case ReduceKind::max: return ctx.set_output(0, reduce_any(ctx, OpKind::reduce_max, x, attrs));
    case ReduceKind::min: return ctx.set_output(0, reduce_any(ctx, OpKind::reduce_min, x, attrs));
    case ReduceKind::prod: return ctx.set_output(0, reduce_any(ctx, OpKind::reduce_prod, x, attrs));
    case ReduceKind::l1: return ctx.set_output(0, sum(b.unary(OpKind::abs, x)));
    case ReduceKind::l2: return ctx.set_output(0, b.sqrt(sum(b.multiply(x, x))));
    case ReduceKind::log_sum: return ctx.set_output(0, b.unary(OpKind::log, sum(x)));
    case ReduceKind::sum_square: return ctx.set_output(0, sum(b.multiply(x, x)));
    case ReduceKind::log_sum_exp: {
      // log(sum(exp(x - m))) + m with m the maximum, so that exp cannot overflow.
      relax::ReduceAttrs kept = attrs;
      kept.keepdims = true;
      const Var peak = reduce_any(ctx, OpKind::reduce_max, x, kept);
      const Var shifted_sum = sum(b.exp(b.subtract(x, peak)));
      const Var peak_out = attrs.keepdims ? peak : reduce_any(ctx, OpKind::reduce_max, x, attrs);
      return ctx.set_output(0, b.add(b.unary(OpKind::log, shifted_sum), peak_out));
    }
  }
  return ctx.error(StatusCode::internal, "unknown reduction");
}

// ArgMax, ArgMin. select_last_index reverses the axis first: the first extreme of the
// reversed tensor is the last of the original, at extent - 1 - index.
template <OpKind Op>
Status convert_arg_reduce(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t axis = ctx.attr_int("axis", 0);
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  relax::Builder& b = ctx.b();
  if (ctx.attr_int("select_last_index", 0) == 0) return ctx.set_output(0, b.emit(Op, {x}, relax::ArgReduceAttrs{axis, keepdims}));
  const relax::TensorType xt = ctx.type(x);
  const std::int64_t a = axis < 0 ? axis + xt.rank : axis;
  if (a < 0 || a >= xt.rank) return ctx.invalid("axis ", axis, " is out of range for rank ", xt.rank);
  relax::SliceAttrs reverse;
  reverse.starts = {-1};
  reverse.ends = {std::numeric_limits<std::int64_t>::min()};
  reverse.axes = {a};
  reverse.steps = {-1};
  const Var index = b.emit(Op, {b.slice(x, reverse)}, relax::ArgReduceAttrs{axis, keepdims});
  Var last;
  const relax::SymDim& extent = xt.dims[a];
  if (extent.is_constant()) {
    last = ctx.scalar(DType::i64, static_cast<double>(extent.constant_value() - 1));
  } else {
    relax::ShapeOfAttrs one{.start = a, .end = a + 1};
    last = b.subtract(b.squeeze(b.emit(OpKind::shape_of, {x}, one), {0}), ctx.scalar(DType::i64, 1));
  }
  return ctx.set_output(0, b.subtract(last, index));
}

// TopK: k an attribute before opset 10, a one-element input from 10 on.
inline Status convert_topk(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::TopKAttrs attrs;
  if (ctx.opset() < 10) {
    attrs.k = ctx.attr_int("k", 0);
  } else {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> k, ctx.constant_ints(1, "k"));
    if (k.size() != 1) return ctx.invalid("k must have one element, got ", k.size());
    attrs.k = k[0];
  }
  attrs.axis = ctx.attr_int("axis", -1);
  attrs.largest = ctx.attr_int("largest", 1) != 0;
  attrs.sorted = ctx.attr_int("sorted", 1) != 0;
  const std::vector<Var> out = ctx.b().emit_multi(OpKind::topk, {x}, attrs);
  KILN_RETURN_IF_ERROR(ctx.status());
  KILN_RETURN_IF_ERROR(ctx.set_output(0, out[0]));
  return ctx.set_output(1, out[1]);
}

inline Status convert_cumsum(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> axis, ctx.constant_ints(1, "axis"));
  if (axis.size() != 1) return ctx.invalid("axis must have one element, got ", axis.size());
  relax::CumSumAttrs attrs;
  attrs.axis = axis[0];
  attrs.exclusive = ctx.attr_int("exclusive", 0) != 0;
  attrs.reverse = ctx.attr_int("reverse", 0) != 0;
  return ctx.set_output(0, ctx.emit(OpKind::cumsum, {x}, attrs));
}

inline constexpr ConverterEntry kReduceConverters[] = {
    {"ReduceSum", convert_reduce<ReduceKind::sum>},
    {"ReduceMean", convert_reduce<ReduceKind::mean>},
    {"ReduceMax", convert_reduce<ReduceKind::max>},
    {"ReduceMin", convert_reduce<ReduceKind::min>},
    {"ReduceProd", convert_reduce<ReduceKind::prod>},
    {"ReduceL1", convert_reduce<ReduceKind::l1>},
    {"ReduceL2", convert_reduce<ReduceKind::l2>},
    {"ReduceLogSum", convert_reduce<ReduceKind::log_sum>},
    {"ReduceLogSumExp", convert_reduce<ReduceKind::log_sum_exp>},
    {"ReduceSumSquare", convert_reduce<ReduceKind::sum_square>},
    {"ArgMax", convert_arg_reduce<OpKind::argmax>},
    {"ArgMin", convert_arg_reduce<OpKind::argmin>},
    {"TopK", convert_topk},
    {"CumSum", convert_cumsum},
};

} // namespace kiln::onnx::detail
