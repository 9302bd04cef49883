// kiln/frontend/onnx/import_ops_index.hpp: ONNX's ops that read or write through indices:
// Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, OneHot, Compress
// and ReverseSequence.
//
// GatherND becomes a gather along one flattened axis (the index tuples turned into linear
// indices); OneHot a comparison with a constant iota; Compress (with a condition known at
// load time) a gather of the kept positions; ReverseSequence a gather_elements of constant
// indices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"
#include "import_ops_shape.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline Status convert_gather(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var data, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var indices, ctx.input(1));
  return ctx.set_output(0, ctx.b().gather(data, indices, ctx.attr_int("axis", 0)));
}

inline Status convert_gather_elements(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var data, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var indices, ctx.input(1));
  return ctx.set_output(0, ctx.emit(OpKind::gather_elements, {data, indices}, relax::AxisAttrs{ctx.attr_int("axis", 0)}));
}

inline Result<relax::ScatterReduction> scatter_reduction(const NodeContext& ctx) {
  const std::string reduction = ctx.attr_string("reduction", "none");
  if (reduction == "none") return relax::ScatterReduction::none;
  if (reduction == "add") return relax::ScatterReduction::add;
  if (reduction == "mul") return relax::ScatterReduction::mul;
  if (reduction == "max") return relax::ScatterReduction::max;
  if (reduction == "min") return relax::ScatterReduction::min;
  return ctx.invalid("reduction '", reduction, "' is not one of none, add, mul, max, min");
}

template <OpKind Op>
Status convert_scatter(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var data, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var indices, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var updates, ctx.input(2));
  relax::ScatterAttrs attrs;
  if (Op == OpKind::scatter_elements) attrs.axis = ctx.attr_int("axis", 0);
  KILN_ASSIGN_OR_RETURN(attrs.reduction, scatter_reduction(ctx));
  return ctx.set_output(0, ctx.emit(Op, {data, indices, updates}, attrs));
}

// Negative indices counted from the end: index + (index < 0) * extent.
inline Var wrap_negative(NodeContext& ctx, Var index, Var extent) {
  relax::Builder& b = ctx.b();
  const Var negative = b.cast(b.compare(OpKind::less, index, ctx.scalar(DType::i64, 0)), DType::i64);
  return b.add(index, b.multiply(negative, extent));
}

// GatherND: data [b..., d_0 .. d_{k-1}, rest...] and indices [b..., m..., k] give
// [b..., m..., rest...]. The batch dims and the k indexed dims of the data are flattened into
// one axis, each index tuple becomes a linear index into it, and a gather reads the rows.
inline Status convert_gather_nd(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var data, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var indices, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::int64_t batch = ctx.attr_int("batch_dims", 0);
  const relax::TensorType dt = ctx.type(data);
  const relax::TensorType it = ctx.type(indices);
  if (it.rank < 1 || !it.dims[it.rank - 1].is_constant())
    return ctx.unsupported("the last dim of the indices must be known at load time, got ", to_string(it));
  const std::int64_t k = it.dims[it.rank - 1].constant_value();
  if (batch < 0 || batch >= it.rank || batch + k > dt.rank)
    return ctx.invalid("batch_dims ", batch, " and index depth ", k, " do not fit data ", to_string(dt), " and indices ",
                       to_string(it));
  std::vector<std::int64_t> indexed;  // the extents of the batch dims, then of the k indexed dims
  for (std::int64_t a = 0; a < batch + k; ++a) {
    if (!dt.dims[a].is_constant())
      return ctx.unsupported("the batch and indexed dims of the data must be known at load time, got ", to_string(dt));
    indexed.push_back(dt.dims[a].constant_value());
  }
  relax::Builder& b = ctx.b();
  indices = b.cast(indices, DType::i64);
  // Row-major strides of the flattened axis.
  std::vector<std::int64_t> strides(indexed.size(), 1);
  for (std::size_t a = indexed.size(); a-- > 1;) strides[a - 1] = strides[a] * indexed[a];
  std::int64_t rows = indexed.empty() ? 1 : strides[0] * indexed[0];
  const std::vector<std::int64_t> tuple_extents(indexed.begin() + batch, indexed.end());
  const std::vector<std::int64_t> tuple_strides(strides.begin() + batch, strides.end());
  const Var tuples = wrap_negative(ctx, indices, ctx.i64_vector(tuple_extents));
  Var linear = b.reduce(OpKind::reduce_sum, b.multiply(tuples, ctx.i64_vector(tuple_strides)),
                        relax::ReduceAttrs{.axes = {-1}, .keepdims = false});
  if (batch > 0) {
    // Each position's batch coordinates, as a constant over the batch dims (1 elsewhere).
    std::vector<std::int64_t> offset_dims(static_cast<std::size_t>(it.rank - 1), 1);
    std::int64_t batch_count = 1;
    for (std::int64_t a = 0; a < batch; ++a) {
      offset_dims[static_cast<std::size_t>(a)] = indexed[static_cast<std::size_t>(a)];
      batch_count *= indexed[static_cast<std::size_t>(a)];
    }
    std::vector<std::int64_t> offsets(static_cast<std::size_t>(batch_count));
    for (std::int64_t i = 0; i < batch_count; ++i) offsets[static_cast<std::size_t>(i)] = i * strides[static_cast<std::size_t>(batch - 1)];
    linear = b.add(linear, ctx.i64_constant(offsets, offset_dims));
  }
  relax::Dims flat{rows};
  for (int a = static_cast<int>(batch + k); a < dt.rank; ++a) flat.push_back(dt.dims[a]);
  return ctx.set_output(0, b.gather(b.reshape(data, flat), linear, 0));
}

// OneHot: on where the iota along `axis` equals the (wrapped) index, off elsewhere.
inline Status convert_onehot(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var indices, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var values, ctx.input(2));
  KILN_ASSIGN_OR_RETURN(const Tensor depth_value, ctx.constant_input(1, "depth"));
  KILN_RETURN_IF_ERROR(ctx.status());
  if (depth_value.numel() != 1) return ctx.invalid("depth must have one element");
  const auto depth = static_cast<std::int64_t>(NodeContext::reals_of(depth_value)[0]);
  if (depth < 1) return ctx.invalid("depth must be positive, got ", depth);
  const int rank = ctx.rank(indices) + 1;
  std::int64_t axis = ctx.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ctx.invalid("axis ", ctx.attr_int("axis", -1), " is out of range for rank ", rank);
  relax::Builder& b = ctx.b();
  Var index = b.cast(indices, DType::i64);
  index = wrap_negative(ctx, index, ctx.scalar(DType::i64, static_cast<double>(depth)));
  std::vector<std::int64_t> iota_dims(static_cast<std::size_t>(rank), 1);
  iota_dims[static_cast<std::size_t>(axis)] = depth;
  std::vector<std::int64_t> iota(static_cast<std::size_t>(depth));
  for (std::int64_t i = 0; i < depth; ++i) iota[static_cast<std::size_t>(i)] = i;
  const Var hot = b.compare(OpKind::equal, b.unsqueeze(index, {axis}), ctx.i64_constant(iota, iota_dims));
  const Var off = b.gather(values, ctx.scalar(DType::i64, 0), 0);
  const Var on = b.gather(values, ctx.scalar(DType::i64, 1), 0);
  return ctx.set_output(0, b.where(hot, on, off));
}

// Compress with a condition known at load time: a gather of the kept positions (along
// `axis`, or of the flattened input when there is none).
inline Status convert_compress(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Tensor condition, ctx.constant_input(1, "condition"));
  KILN_RETURN_IF_ERROR(ctx.status());
  std::int64_t axis = 0;
  if (ctx.has_attr("axis")) {
    axis = ctx.attr_int("axis", 0);
  } else {
    x = ctx.b().reshape(x, relax::Dims{ctx.type(x).element_count()});
  }
  const relax::TensorType xt = ctx.type(x);
  if (axis < 0) axis += xt.rank;
  if (axis < 0 || axis >= xt.rank) return ctx.invalid("axis ", ctx.attr_int("axis", 0), " is out of range");
  const std::vector<double> keep = NodeContext::reals_of(condition);
  std::vector<std::int64_t> positions;
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (keep[i] != 0.0) positions.push_back(static_cast<std::int64_t>(i));
  return ctx.set_output(0, ctx.b().gather(x, ctx.i64_vector(positions), axis));
}

// ReverseSequence: along time_axis, the first sequence_lens[b] elements of each batch entry b
// reversed; a gather_elements with constant indices broadcast over the other axes.
inline Status convert_reverse_sequence(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> lengths, ctx.constant_ints(1, "sequence_lens"));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType xt = ctx.type(x);
  const std::int64_t time_axis = ctx.attr_int("time_axis", 0);
  const std::int64_t batch_axis = ctx.attr_int("batch_axis", 1);
  if (xt.rank < 2 || time_axis < 0 || batch_axis < 0 || time_axis >= xt.rank || batch_axis >= xt.rank ||
      time_axis == batch_axis)
    return ctx.invalid("time_axis ", time_axis, " and batch_axis ", batch_axis, " do not fit ", to_string(xt));
  const relax::SymDim& time_dim = xt.dims[time_axis];
  if (!time_dim.is_constant()) return ctx.unsupported("the time axis must have an extent known at load time");
  const std::int64_t steps = time_dim.constant_value();
  const auto batches = static_cast<std::int64_t>(lengths.size());
  std::vector<std::int64_t> dims(static_cast<std::size_t>(xt.rank), 1);
  dims[static_cast<std::size_t>(time_axis)] = steps;
  dims[static_cast<std::size_t>(batch_axis)] = batches;
  std::vector<std::int64_t> index(static_cast<std::size_t>(steps * batches));
  for (std::int64_t t = 0; t < steps; ++t) {
    for (std::int64_t bi = 0; bi < batches; ++bi) {
      const std::int64_t n = lengths[static_cast<std::size_t>(bi)];
      const std::int64_t at = time_axis < batch_axis ? t * batches + bi : bi * steps + t;
      index[static_cast<std::size_t>(at)] = t < n ? n - 1 - t : t;
    }
  }
  relax::Builder& b = ctx.b();
  const Var positions = b.expand(ctx.i64_constant(index, dims), dims_of(xt));
  return ctx.set_output(0, b.emit(OpKind::gather_elements, {x, positions}, relax::AxisAttrs{time_axis}));
}

inline constexpr ConverterEntry kIndexConverters[] = {
    {"Gather", convert_gather},
    {"GatherElements", convert_gather_elements},
    {"GatherND", convert_gather_nd},
    {"Scatter", convert_scatter<OpKind::scatter_elements>},
    {"ScatterElements", convert_scatter<OpKind::scatter_elements>},
    {"ScatterND", convert_scatter<OpKind::scatter_nd>},
    {"OneHot", convert_onehot},
    {"Compress", convert_compress},
    {"ReverseSequence", convert_reverse_sequence},
};

} // namespace kiln::onnx::detail
