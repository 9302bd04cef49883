// kiln/backend/vulkan/vm/scatter_shaders.hpp: scatter_elements and scatter_nd on the Vulkan
// device, each in one dispatch. Updates that can land on the same output element go to the
// same invocation, which copies its part of the data first and then applies those updates in
// the indices' row-major order, as the CPU kernel does: so a repeated index (the last update
// wins, or the reduction combines them) needs no atomics and no second dispatch.
//   scatter_elements: an invocation per row along the axis (every other coordinate fixed);
//   scatter_nd:       an invocation per element of an updated slice (data[i0..i(depth-1)]),
//                     walking every index tuple.
// Indices are checked on the host first; a call with one out of range runs on the CPU, which
// reports it.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "../../../relax/attributes.hpp"
#include "op_shaders.hpp"

namespace kiln::vulkan::vm_ops {

namespace detail {

// out[at] = combine(out[at], update) under `reduction`, as vm/ops/indexing.hpp's combine:
// add and mul wrap for integers, max and min let a NaN update win.
inline void combine_into(OpShaderEmitter& e, int binding, spirv::Id at, Value update, relax::ScatterReduction reduction) {
  using spirv::Op;
  using R = relax::ScatterReduction;
  auto& m = e.module();
  if (reduction == R::none) {
    e.store(binding, at, update);
    return;
  }
  const Value old = e.load(binding, at);
  Value result;
  if (reduction == R::add) result = e.arithmetic(Op::f_add, Op::i_add, old, update);
  else if (reduction == R::mul) result = e.arithmetic(Op::f_mul, Op::i_mul, old, update);
  else {
    const bool is_float = update.kind == Kind::f32;
    const spirv::Id wins_order = reduction == R::max ? e.less(update.kind, old.id, update.id) : e.less(update.kind, update.id, old.id);
    const spirv::Id wins = is_float ? m.value(Op::logical_or, e.type_bool(), {wins_order, m.value(Op::f_unord_not_equal, e.type_bool(), {update.id, update.id})})
                                    : wins_order;
    result = {e.pick(update.kind, wins, update.id, old.id), update.kind};
  }
  e.store(binding, at, result);
}

inline const relax::ScatterAttrs* scatter_attrs(const vm::OpCall& call) {
  return std::get_if<relax::ScatterAttrs>(call.attrs);
}

// What both scatters need of their operands before a shader: dtypes the device holds, the
// data's dtype throughout, integer indices, a reduction the dtype computes.
inline std::string scatter_operand_reason(const vm::OpCall& call) {
  if (call.inputs.size() != 3 || call.input(0) == nullptr || call.input(1) == nullptr || call.input(2) == nullptr)
    return "scatter needs data, indices and updates";
  const vm::Slot& data = *call.input(0);
  const vm::Slot& indices = *call.input(1);
  const vm::Slot& updates = *call.input(2);
  const vm::Slot& out = call.output();
  if (!on_device(&data)) return dtype_reason(data);
  if (updates.dtype != data.dtype || out.dtype != data.dtype) return "the updates and the output must have the data's dtype";
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64) return "indices must be i32 or i64";
  if (!on_device(&indices)) return dtype_reason(indices);
  const relax::ScatterAttrs* attrs = scatter_attrs(call);
  if (attrs == nullptr) return "scatter without its attributes";
  if (attrs->reduction != relax::ScatterReduction::none && data.dtype == DType::boolean) return "bool data has no reduction";
  if (out.rank != data.rank) return "the output must have the data's shape";
  for (int a = 0; a < data.rank; ++a)
    if (out.dims[a] != data.dims[a]) return "the output must have the data's shape";
  if (data.elements() == 0) return "empty data";
  return {};
}

// The operands of a scatter that scatter_operand_reason accepted.
struct ScatterOperands {
  const vm::Slot& data;
  const vm::Slot& indices;
  const vm::Slot& updates;
  const vm::Slot& out;
  const relax::ScatterAttrs& attrs;
};
inline ScatterOperands scatter_operands(const vm::OpCall& call) {
  return {*call.input(0), *call.input(1), *call.input(2), call.output(), *scatter_attrs(call)};
}

} // namespace detail

inline OpShaderResult scatter_elements_shader(const vm::OpCall& call) {
  using spirv::Op;
  if (std::string why = detail::scatter_operand_reason(call); !why.empty()) return why;
  const auto [data, indices, updates, out, attrs] = detail::scatter_operands(call);
  const int axis = static_cast<int>(attrs.axis < 0 ? attrs.axis + data.rank : attrs.axis);
  if (axis < 0 || axis >= data.rank) return std::string("the axis is out of range");
  if (indices.rank != data.rank || updates.rank != data.rank) return std::string("scatter_elements' shapes do not fit");
  for (int a = 0; a < data.rank; ++a) {
    if (indices.dims[a] != updates.dims[a]) return std::string("the updates must have the indices' shape");
    if (a != axis && indices.dims[a] > data.dims[a]) return std::string("the indices reach past the data");
  }
  if (!detail::indices_in_range(indices, data.dims[axis])) return std::string("an index is out of range");

  const detail::AxisRows rows = detail::rows_around(out, axis);
  OpShader shader;
  shader.inputs = {&data, &indices, &updates};
  shader.outputs = {&out};
  shader.invocations = rows.count;
  OpShaderEmitter e;
  auto& m = e.module();
  e.begin_elements({&data, &indices, &updates, &out}, rows.count);
  const spirv::Id t_i32 = e.type_i32();  // made by begin_elements
  const spirv::Id row = e.element();
  const spirv::Id out_row = detail::row_start(e, rows, row, out);
  const spirv::Id data_row = detail::row_start(e, rows, row, data);
  {  // the row of data
    const spirv::Id i = e.open_loop([&] { return e.i32(data.dims[axis]); });
    const detail::Value v = e.load(0, detail::add_term(e, data_row, i, data.strides[axis]));
    e.store(3, detail::add_term(e, out_row, i, out.strides[axis]), v);
    e.close();
  }
  // The updates of this row, when its coordinates are inside the indices' shape.
  spirv::Id inside = m.constant_bool(true);
  spirv::Id index_row = e.i32(0), update_row = e.i32(0);
  for (int k = 0; k < rows.rank; ++k) {
    const int a = rows.axes[k];
    const spirv::Id c = e.coordinate(row, rows.dims, rows.rank, k);
    inside = m.value(Op::logical_and, e.type_bool(), {inside, e.less(detail::Kind::i32, c, e.i32(indices.dims[a]))});
    index_row = detail::add_term(e, index_row, c, indices.strides[a]);
    update_row = detail::add_term(e, update_row, c, updates.strides[a]);
  }
  e.open_if(inside);
  const spirv::Id u = e.open_loop([&] { return e.i32(indices.dims[axis]); });
  const spirv::Id target = detail::read_index(e, 1, detail::add_term(e, index_row, u, indices.strides[axis]), data.dims[axis]);
  const detail::Value update = e.load(2, detail::add_term(e, update_row, u, updates.strides[axis]));
  detail::combine_into(e, 3, m.value(Op::i_add, t_i32, {out_row, m.value(Op::i_mul, t_i32, {target, e.i32(out.strides[axis])})}), update,
                       attrs.reduction);
  e.close();
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

inline OpShaderResult scatter_nd_shader(const vm::OpCall& call) {
  using spirv::Op;
  if (std::string why = detail::scatter_operand_reason(call); !why.empty()) return why;
  const auto [data, indices, updates, out, attrs] = detail::scatter_operands(call);
  for (const vm::Slot* s : {&data, &indices, &updates, &out})
    if (!s->contiguous()) return std::string("scatter_nd's operands must be contiguous");
  if (indices.rank < 1) return std::string("scatter_nd's indices need a rank");
  const std::int64_t depth = indices.dims[indices.rank - 1];
  if (depth > data.rank) return std::string("the indices address more axes than the data has");
  std::int64_t slice = 1, tuples = 1;
  for (int a = static_cast<int>(depth); a < data.rank; ++a) slice *= data.dims[a];
  for (int a = 0; a + 1 < indices.rank; ++a) tuples *= indices.dims[a];
  if (updates.elements() != tuples * slice) return std::string("the updates do not fit the indices and the data");
  // Every index inside its axis.
  for (std::int64_t p = 0; p < tuples * depth; ++p) {
    const std::int64_t v = indices.dtype == DType::i64 ? indices.data_as<std::int64_t>()[p] : std::int64_t{indices.data_as<std::int32_t>()[p]};
    const std::int64_t extent = data.dims[p % depth];
    if (v < -extent || v >= extent) return std::string("an index is out of range");
  }
  const std::int64_t prefix = data.elements() / slice;

  OpShader shader;
  shader.inputs = {&data, &indices, &updates};
  shader.outputs = {&out};
  shader.invocations = slice;
  OpShaderEmitter e;
  auto& m = e.module();
  e.begin_elements({&data, &indices, &updates, &out}, slice);
  const spirv::Id t_i32 = e.type_i32();  // made by begin_elements
  const spirv::Id column = e.element();
  {  // this column of every slice of data
    const spirv::Id p = e.open_loop([&] { return e.i32(prefix); });
    const spirv::Id at = detail::add_term(e, column, p, slice);
    e.store(3, at, e.load(0, at));
    e.close();
  }
  const spirv::Id u = e.open_loop([&] { return e.i32(tuples); });
  spirv::Id target = column;
  std::int64_t stride = slice;
  for (int c = static_cast<int>(depth); c-- > 0;) {
    const spirv::Id index_at = m.value(Op::i_add, t_i32, {m.value(Op::i_mul, t_i32, {u, e.i32(depth)}), e.i32(c)});
    target = detail::add_term(e, target, detail::read_index(e, 1, index_at, data.dims[c]), stride);
    stride *= data.dims[c];
  }
  const detail::Value update = e.load(2, detail::add_term(e, column, u, slice));
  detail::combine_into(e, 3, target, update, attrs.reduction);
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

} // namespace kiln::vulkan::vm_ops
