// kiln/frontend/onnx/import_ops_shape.hpp: ONNX's ops that reshape, cut, join, pad and
// create tensors: Reshape, Expand, Flatten, Squeeze, Unsqueeze, Transpose, Shape, Size,
// Concat, Split, Slice, Pad, Tile, DepthToSpace, SpaceToDepth, Constant, ConstantOfShape,
// Range, EyeLike and Trilu.
//
// Inputs that relax takes as attributes (axes, pads, repeats, ...) must be known at load
// time. Reshape and Expand may also take a shape computed from other shapes (shape_of and
// arithmetic), whose elements relax tracks symbolically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

// Reshape and Expand: a known shape becomes the attribute; otherwise the shape tensor is
// passed on, and relax needs its elements tracked (shape arithmetic).
template <OpKind Op>
Status convert_reshape_like(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  const bool allowzero = ctx.attr_int("allowzero", 0) != 0;
  if (Op == OpKind::reshape && ctx.opset() < 5) {
    return ctx.set_output(0, ctx.emit(Op, {x}, relax::ShapeAttrs{to_relax_dims(ctx.attr_ints("shape")), false}));
  }
  KILN_ASSIGN_OR_RETURN(const Var shape, ctx.input(1));
  if (std::optional<Tensor> known = ctx.known_value(shape)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> dims, NodeContext::ints_of(*known, "shape"));
    if (dims.size() > static_cast<std::size_t>(kMaxRank))
      return ctx.unsupported("the shape has ", dims.size(), " dims, above kiln's maximum rank ", kMaxRank);
    return ctx.set_output(0, ctx.emit(Op, {x}, relax::ShapeAttrs{to_relax_dims(dims), allowzero}));
  }
  return ctx.set_output(0, ctx.emit(Op, {x, shape}, relax::ShapeAttrs{{}, allowzero}));
}

inline Status convert_flatten(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  return ctx.set_output(0, ctx.b().flatten(x, ctx.attr_int("axis", 1)));
}

// Squeeze and Unsqueeze: axes an attribute before opset 13, an input from 13 on.
template <OpKind Op>
Status convert_squeeze_like(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  std::vector<std::int64_t> axes;
  if (ctx.opset() < 13) {
    axes = ctx.attr_ints("axes");
  } else if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(axes, ctx.constant_ints(1, "axes"));
  }
  if (Op == OpKind::unsqueeze && axes.empty()) return ctx.invalid("axes are required");
  return ctx.set_output(0, ctx.emit(Op, {x}, relax::AxesAttrs{to_relax_ints(axes)}));
}

inline Status convert_transpose(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  return ctx.set_output(0, ctx.b().transpose(x, to_relax_ints(ctx.attr_ints("perm"))));
}

inline Status convert_shape(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::ShapeOfAttrs attrs;
  attrs.start = ctx.attr_int("start", 0);
  if (ctx.has_attr("end")) attrs.end = ctx.attr_int("end", 0);
  return ctx.set_output(0, ctx.emit(OpKind::shape_of, {x}, attrs));
}

// Size: the element count as an i64 scalar, a constant when the dims are.
inline Status convert_size(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::SymDim count = ctx.type(x).element_count();
  if (count.is_constant()) return ctx.set_output(0, ctx.scalar(DType::i64, static_cast<double>(count.constant_value())));
  const Var dims = ctx.emit(OpKind::shape_of, {x});
  return ctx.set_output(0, ctx.b().reduce(OpKind::reduce_prod, dims, relax::ReduceAttrs{.keepdims = false}));
}

inline Status convert_concat(NodeContext& ctx) {
  std::vector<Var> inputs;
  for (int i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(i));
    inputs.push_back(v);
  }
  if (inputs.empty()) return ctx.invalid("needs at least one input");
  return ctx.set_output(0, ctx.b().concat(inputs, ctx.attr_int("axis", 0)));
}

// Split: sizes an attribute before opset 13, an optional input from 13 on; without sizes,
// equal parts, one per output (num_outputs from opset 18).
inline Status convert_split(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::SplitAttrs attrs;
  attrs.axis = ctx.attr_int("axis", 0);
  std::vector<std::int64_t> sizes;
  if (ctx.opset() < 13) {
    sizes = ctx.attr_ints("split");
  } else if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(sizes, ctx.constant_ints(1, "split"));
  }
  if (!sizes.empty()) {
    if (sizes.size() != static_cast<std::size_t>(ctx.output_count()))
      return ctx.invalid("split has ", sizes.size(), " sizes for ", ctx.output_count(), " outputs");
    attrs.sizes = to_relax_ints(sizes);
  } else {
    attrs.num_outputs = ctx.attr_int("num_outputs", ctx.output_count());
  }
  const std::vector<Var> parts = ctx.b().split(x, attrs);
  KILN_RETURN_IF_ERROR(ctx.status());
  for (std::size_t i = 0; i < parts.size(); ++i) KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(i), parts[i]));
  return {};
}

// Slice: starts, ends, axes as attributes before opset 10; starts, ends, axes, steps as
// inputs from 10 on.
inline Status convert_slice(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  relax::SliceAttrs attrs;
  if (ctx.opset() < 10) {
    attrs.starts = to_relax_ints(ctx.attr_ints("starts"));
    attrs.ends = to_relax_ints(ctx.attr_ints("ends"));
    attrs.axes = to_relax_ints(ctx.attr_ints("axes"));
  } else {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> starts, ctx.constant_ints(1, "starts"));
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> ends, ctx.constant_ints(2, "ends"));
    attrs.starts = to_relax_ints(starts);
    attrs.ends = to_relax_ints(ends);
    if (ctx.has_input(3)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> axes, ctx.constant_ints(3, "axes"));
      attrs.axes = to_relax_ints(axes);
    }
    if (ctx.has_input(4)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> steps, ctx.constant_ints(4, "steps"));
      attrs.steps = to_relax_ints(steps);
    }
  }
  return ctx.set_output(0, ctx.b().slice(x, attrs));
}

// One axis of x sliced [start, end) with `step` (negative values count from the end).
inline Var slice_axis(relax::Builder& b, Var x, std::int64_t axis, std::int64_t start, std::int64_t end,
                      std::int64_t step = 1) {
  relax::SliceAttrs attrs;
  attrs.starts = {start};
  attrs.ends = {end};
  attrs.axes = {axis};
  attrs.steps = {step};
  return b.slice(x, attrs);
}

// Pad in reflect, edge or wrap mode along one axis, by slices and a concat.
inline Var pad_axis_by_copies(NodeContext& ctx, Var x, int axis, std::int64_t before, std::int64_t after,
                              const std::string& mode) {
  relax::Builder& b = ctx.b();
  constexpr std::int64_t kToEnd = std::numeric_limits<std::int64_t>::max();
  // The edge slice repeated `count` times along the axis.
  const auto repeated = [&](Var edge, std::int64_t count) {
    relax::Ints repeats;
    for (int a = 0; a < ctx.rank(x); ++a) repeats.push_back(a == axis ? count : 1);
    return b.tile(edge, repeats);
  };
  std::vector<Var> parts;
  if (before > 0) {
    if (mode == "reflect") parts.push_back(slice_axis(b, x, axis, before, 0, -1));  // x[before], ..., x[1]
    else if (mode == "wrap") parts.push_back(slice_axis(b, x, axis, -before, kToEnd));
    else parts.push_back(repeated(slice_axis(b, x, axis, 0, 1), before));
  }
  parts.push_back(x);
  if (after > 0) {
    if (mode == "reflect") parts.push_back(slice_axis(b, x, axis, -2, -2 - after, -1));  // x[n-2], ..., x[n-1-after]
    else if (mode == "wrap") parts.push_back(slice_axis(b, x, axis, 0, after));
    else parts.push_back(repeated(slice_axis(b, x, axis, -1, kToEnd), after));
  }
  return parts.size() == 1 ? x : b.concat(parts, axis);
}

// Pad: pads (and value, mode) attributes before opset 11; pads, constant_value and (18) axes
// as inputs after. Constant mode is relax's pad; reflect, edge and wrap copy slices.
inline Status convert_pad(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::string mode = ctx.attr_string("mode", "constant");
  std::vector<std::int64_t> pads;
  std::vector<std::int64_t> axes;
  double value = 0.0;
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    value = ctx.attr_float("value", 0.0);
  } else {
    KILN_ASSIGN_OR_RETURN(pads, ctx.constant_ints(1, "pads"));
    if (ctx.has_input(2)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<double> v, ctx.constant_reals(2, "constant_value"));
      if (!v.empty()) value = v[0];
    }
    if (ctx.has_input(3)) {
      KILN_ASSIGN_OR_RETURN(axes, ctx.constant_ints(3, "axes"));
    }
  }
  if (mode == "constant") {
    relax::PadAttrs attrs;
    attrs.pads = to_relax_ints(pads);
    attrs.axes = to_relax_ints(axes);
    attrs.value = value;
    return ctx.set_output(0, ctx.b().pad(x, attrs));
  }
  if (mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.invalid("mode '", mode, "' is not one of constant, reflect, edge, wrap");
  const int rank = ctx.rank(x);
  const std::size_t n = axes.empty() ? static_cast<std::size_t>(rank) : axes.size();
  if (pads.size() != 2 * n) return ctx.invalid("pads has ", pads.size(), " values for ", n, " axes");
  Var y = x;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t axis = axes.empty() ? static_cast<std::int64_t>(i) : axes[i];
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.invalid("axis ", axes[i], " is out of range for rank ", rank);
    std::int64_t before = pads[i];
    std::int64_t after = pads[n + i];
    // Negative pads crop first.
    if (before < 0 || after < 0) {
      y = slice_axis(ctx.b(), y, axis, before < 0 ? -before : 0,
                     after < 0 ? after : std::numeric_limits<std::int64_t>::max());
      before = before < 0 ? 0 : before;
      after = after < 0 ? 0 : after;
    }
    if (mode != "edge") {
      // One mirror image (reflect: the edge not repeated) or one copy (wrap) per side.
      const relax::SymDim extent = ctx.type(y).dims[axis];
      const std::int64_t most = std::max(before, after);
      if (!extent.is_constant() || (mode == "reflect" ? most >= extent.constant_value() : most > extent.constant_value()))
        return ctx.unsupported(mode, " pads of ", before, " and ", after, " need a known extent ",
                               mode == "reflect" ? "above" : "at least", " them, axis ", axis, " has ", to_string(extent));
    }
    y = pad_axis_by_copies(ctx, y, static_cast<int>(axis), before, after, mode);
  }
  return ctx.set_output(0, y);
}

inline Status convert_tile(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> repeats, ctx.constant_ints(1, "repeats"));
  return ctx.set_output(0, ctx.b().tile(x, to_relax_ints(repeats)));
}

// DepthToSpace: [n, c, h, w] -> [n, c / b^2, h * b, w * b] by a reshape, a transpose and a
// reshape; DCR takes the block offsets from the outer part of the channels, CRD the inner.
inline Status convert_depth_to_space(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t block = ctx.attr_int("blocksize", 0);
  if (block < 1) return ctx.invalid("blocksize must be positive, got ", block);
  const relax::TensorType t = ctx.type(x);
  if (t.rank != 4) return ctx.invalid("the input must have rank 4, got ", to_string(t));
  const relax::SymDim channels = floordiv(t.dims[1], block * block);
  const std::string mode = ctx.attr_string("mode", "DCR");
  relax::Builder& b = ctx.b();
  Var y;
  if (mode == "DCR") {
    y = b.reshape(x, relax::Dims{t.dims[0], block, block, channels, t.dims[2], t.dims[3]});
    y = b.transpose(y, {0, 3, 4, 1, 5, 2});
  } else if (mode == "CRD") {
    y = b.reshape(x, relax::Dims{t.dims[0], channels, block, block, t.dims[2], t.dims[3]});
    y = b.transpose(y, {0, 1, 4, 2, 5, 3});
  } else {
    return ctx.invalid("mode must be DCR or CRD, got '", mode, "'");
  }
  return ctx.set_output(0, b.reshape(y, relax::Dims{t.dims[0], channels, t.dims[2] * block, t.dims[3] * block}));
}

// SpaceToDepth: [n, c, h, w] -> [n, c * b^2, h / b, w / b].
inline Status convert_space_to_depth(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t block = ctx.attr_int("blocksize", 0);
  if (block < 1) return ctx.invalid("blocksize must be positive, got ", block);
  const relax::TensorType t = ctx.type(x);
  if (t.rank != 4) return ctx.invalid("the input must have rank 4, got ", to_string(t));
  const relax::SymDim h = floordiv(t.dims[2], block);
  const relax::SymDim w = floordiv(t.dims[3], block);
  relax::Builder& b = ctx.b();
  Var y = b.reshape(x, relax::Dims{t.dims[0], t.dims[1], h, block, w, block});
  y = b.transpose(y, {0, 3, 5, 1, 2, 4});
  return ctx.set_output(0, b.reshape(y, relax::Dims{t.dims[0], t.dims[1] * (block * block), h, w}));
}

// A tensor of `dtype` and `dims` from doubles.
inline Result<Tensor> tensor_from(DType dtype, const std::vector<std::int64_t>& dims, const std::vector<double>& values) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(dtype, dims));
  for (std::size_t i = 0; i < values.size(); ++i) NodeContext::store(t, static_cast<std::int64_t>(i), values[i]);
  return t;
}

inline Status convert_constant(NodeContext& ctx) {
  if (ctx.node().attribute.size() != 1) return ctx.invalid("needs exactly one value attribute");
  const AttributeProto& a = ctx.node().attribute[0];
  Result<Tensor> t = make_error(StatusCode::unsupported, "Constant's attribute '", a.name, "' is not supported");
  if (a.name == "value") {
    if (!a.t) return ctx.invalid("the value attribute holds no tensor");
    t = to_tensor(*a.t, ctx.graph().model().model_dir);
  } else if (a.name == "value_float") {
    t = tensor_from(DType::f32, {}, {static_cast<double>(a.f)});
  } else if (a.name == "value_int") {
    t = Tensor::from_values<std::int64_t>(std::span<const std::int64_t>{}, std::span<const std::int64_t>(&a.i, 1));
  } else if (a.name == "value_floats") {
    std::vector<double> values(a.floats.begin(), a.floats.end());
    t = tensor_from(DType::f32, {static_cast<std::int64_t>(values.size())}, values);
  } else if (a.name == "value_ints") {
    const std::int64_t n = static_cast<std::int64_t>(a.ints.size());
    t = Tensor::from_values<std::int64_t>(std::span<const std::int64_t>(&n, 1), a.ints);
  } else if (a.name == "value_string" || a.name == "value_strings") {
    return ctx.unsupported("string constants: kiln has no string dtype");
  }
  if (!t.ok()) return std::move(t).status();
  return ctx.set_output(0, ctx.constant(std::move(*t)));
}

// ConstantOfShape: the value (f32 0 by default) broadcast to the shape, a constant when the
// shape is known, an expand of the shape tensor otherwise.
inline Status convert_constant_of_shape(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var shape, ctx.input(0));
  Tensor value;
  if (const AttributeProto* a = ctx.attr("value"); a != nullptr && a->t) {
    KILN_ASSIGN_OR_RETURN(value, to_tensor(*a->t, ctx.graph().model().model_dir));
    if (value.numel() != 1) return ctx.invalid("value must have one element, got ", value.numel());
  } else {
    KILN_ASSIGN_OR_RETURN(value, tensor_from(DType::f32, {}, {0.0}));
  }
  const double element = NodeContext::reals_of(value)[0];
  if (std::optional<Tensor> known = ctx.known_value(shape)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> dims, NodeContext::ints_of(*known, "shape"));
    std::int64_t count = 1;
    for (std::int64_t d : dims)
      if (d < 0 || __builtin_mul_overflow(count, d, &count))
        return ctx.invalid("shape ", Tensor::shape_string(dims), " is negative or has too many elements");
    // Filled at load time only up to constant folding's limit: the shape is the file's, and
    // a larger fill is an expand, made when the model runs.
    if (count <= (std::int64_t{1} << 16)) {
      KILN_ASSIGN_OR_RETURN(Tensor filled, Tensor::empty(value.dtype(), dims));
      for (std::int64_t i = 0; i < filled.numel(); ++i) NodeContext::store(filled, i, element);
      return ctx.set_output(0, ctx.constant(std::move(filled)));
    }
  }
  return ctx.set_output(0, ctx.b().expand(ctx.scalar(value.dtype(), element), shape));
}

// Range with inputs known at load time: a constant, computed as ONNX specifies
// (start + i * delta for i < max(ceil((limit - start) / delta), 0)).
inline Status convert_range(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Tensor start, ctx.constant_input(0, "start"));
  KILN_ASSIGN_OR_RETURN(const Tensor limit, ctx.constant_input(1, "limit"));
  KILN_ASSIGN_OR_RETURN(const Tensor delta, ctx.constant_input(2, "delta"));
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
    return ctx.invalid("start, limit and delta must be scalars");
  const DType dtype = start.dtype();
  std::vector<double> values;
  if (is_integer(dtype)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> first_value, NodeContext::ints_of(start, "start"));
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> last_value, NodeContext::ints_of(limit, "limit"));
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> step_value, NodeContext::ints_of(delta, "delta"));
    const std::int64_t first = first_value[0], last = last_value[0], step = step_value[0];
    if (step == 0) return ctx.invalid("delta must not be 0");
    for (std::int64_t v = first; step > 0 ? v < last : v > last; v += step) values.push_back(static_cast<double>(v));
  } else {
    const double first = NodeContext::reals_of(start)[0];
    const double step = NodeContext::reals_of(delta)[0];
    const double count = std::ceil((NodeContext::reals_of(limit)[0] - first) / step);
    if (!(count < 1e9)) return ctx.invalid("the range has too many elements");
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(count); ++i)
      values.push_back(first + static_cast<double>(i) * step);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, tensor_from(dtype, {static_cast<std::int64_t>(values.size())}, values));
  return ctx.set_output(0, ctx.constant(std::move(out)));
}

// The dims of a type whose dims are all constants, or an error naming the op's need.
inline Result<std::vector<std::int64_t>> static_dims_of(const NodeContext& ctx, Var x, std::string_view why) {
  const relax::TensorType t = ctx.type(x);
  std::vector<std::int64_t> dims;
  for (int i = 0; i < t.rank; ++i) {
    if (!t.dims[i].is_constant()) return ctx.unsupported(why, " needs the input's dims known at load time, got ", to_string(t));
    dims.push_back(t.dims[i].constant_value());
  }
  return dims;
}

// EyeLike: ones on diagonal k of a 2-D tensor of the input's shape, as a constant.
inline Status convert_eye_like(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> dims, static_dims_of(ctx, x, "EyeLike"));
  if (dims.size() != 2) return ctx.invalid("the input must be 2-D, got rank ", dims.size());
  DType dtype = ctx.dtype(x);
  if (ctx.has_attr("dtype")) {
    const auto type = static_cast<DataType>(ctx.attr_int("dtype", 0));
    const std::optional<DType> d = to_dtype(type);
    if (!d) return ctx.unsupported("dtype ", describe(type), ": kiln has no such dtype");
    dtype = *d;
  }
  const std::int64_t k = ctx.attr_int("k", 0);
  KILN_ASSIGN_OR_RETURN(Tensor eye, Tensor::zeros(dtype, dims));
  for (std::int64_t r = 0; r < dims[0]; ++r)
    if (r + k >= 0 && r + k < dims[1]) NodeContext::store(eye, r * dims[1] + r + k, 1.0);
  return ctx.set_output(0, ctx.constant(std::move(eye)));
}

// Trilu: x where the (row, column) of its last two dims is on the kept side of diagonal k,
// else 0; the mask is a constant of the last two dims.
inline Status convert_trilu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  std::int64_t k = 0;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> kk, ctx.constant_ints(1, "k"));
    if (kk.size() != 1) return ctx.invalid("k must have one element");
    k = kk[0];
  }
  const bool upper = ctx.attr_int("upper", 1) != 0;
  const relax::TensorType t = ctx.type(x);
  if (t.rank < 2) return ctx.invalid("the input must have rank 2 or more");
  if (!t.dims[t.rank - 2].is_constant() || !t.dims[t.rank - 1].is_constant())
    return ctx.unsupported("the last two dims must be known at load time, got ", to_string(t));
  const std::int64_t rows = t.dims[t.rank - 2].constant_value();
  const std::int64_t cols = t.dims[t.rank - 1].constant_value();
  KILN_ASSIGN_OR_RETURN(Tensor mask, Tensor::zeros(DType::boolean, {rows, cols}));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      if (upper ? c - r >= k : c - r <= k) NodeContext::store(mask, r * cols + c, 1.0);
  const Var zero = ctx.scalar(t.dtype, 0);
  return ctx.set_output(0, ctx.b().where(ctx.constant(std::move(mask)), x, zero));
}

inline constexpr ConverterEntry kShapeConverters[] = {
    {"Reshape", convert_reshape_like<OpKind::reshape>},
    {"Expand", convert_reshape_like<OpKind::expand>},
    {"Flatten", convert_flatten},
    {"Squeeze", convert_squeeze_like<OpKind::squeeze>},
    {"Unsqueeze", convert_squeeze_like<OpKind::unsqueeze>},
    {"Transpose", convert_transpose},
    {"Shape", convert_shape},
    {"Size", convert_size},
    {"Concat", convert_concat},
    {"Split", convert_split},
    {"Slice", convert_slice},
    {"Pad", convert_pad},
    {"Tile", convert_tile},
    {"DepthToSpace", convert_depth_to_space},
    {"SpaceToDepth", convert_space_to_depth},
    {"Constant", convert_constant},
    {"ConstantOfShape", convert_constant_of_shape},
    {"Range", convert_range},
    {"EyeLike", convert_eye_like},
    {"Trilu", convert_trilu},
};

} // namespace kiln::onnx::detail
