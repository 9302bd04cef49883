// kiln/backend/vulkan/vm/topk_shader.hpp: topk on the Vulkan device, in the CPU kernel's order
// (vm/ops/topk.hpp): a better value first, equal values by lower index, NaN above every
// number. One invocation per row along the axis makes k passes over the row, each picking the
// best element that comes after the previous pick in that strict total order, so the k
// outputs come sorted (which `sorted` false allows too) and k * n comparisons are spent.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "../../../relax/attributes.hpp"
#include "op_shaders.hpp"

namespace kiln::vulkan::vm_ops {

inline OpShaderResult topk_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const auto* attrs = std::get_if<relax::TopKAttrs>(call.attrs);
  if (attrs == nullptr || call.input(0) == nullptr || call.outputs.size() != 2) return std::string("topk without its attributes");
  const vm::Slot& x = *call.input(0);
  const vm::Slot& values = call.output(0);
  const vm::Slot& indices = call.output(1);
  if (!detail::on_device(&x) || x.dtype == DType::boolean) return detail::dtype_reason(x);
  if (values.dtype != x.dtype || indices.dtype != DType::i64) return std::string("topk's outputs do not fit");
  const int axis = static_cast<int>(attrs->axis < 0 ? attrs->axis + x.rank : attrs->axis);
  if (axis < 0 || axis >= x.rank || values.rank != x.rank || indices.rank != x.rank) return std::string("the axis is out of range");
  const std::int64_t k = values.dims[axis];
  for (int a = 0; a < x.rank; ++a)
    if ((a != axis && values.dims[a] != x.dims[a]) || indices.dims[a] != values.dims[a]) return std::string("topk's outputs do not fit");
  if (k > x.dims[axis]) return std::string("k is larger than the axis");
  const detail::AxisRows rows = detail::rows_around(x, axis);
  if (rows.count == 0 || k == 0) return std::string("an empty topk");

  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&values, &indices};
  shader.invocations = rows.count;
  OpShaderEmitter e;
  e.begin_elements({&x, &values, &indices}, rows.count);
  auto& m = e.module();
  const spirv::Id i32 = e.type_i32(), boolean = e.type_bool();
  const Kind kind = detail::kind_for(x.dtype);
  const bool floating = ShaderBuilder::is_float(kind);
  const spirv::Id t = e.scalar(kind);
  const spirv::Id row = e.element();
  const spirv::Id x_row = detail::row_start(e, rows, row, x);
  const spirv::Id values_row = detail::row_start(e, rows, row, values);
  const spirv::Id indices_row = detail::row_start(e, rows, row, indices);
  const auto is_nan = [&](spirv::Id v) { return floating ? m.value(Op::f_unord_not_equal, boolean, {v, v}) : m.constant_bool(false); };
  // a before b: a better value (NaN the largest), or an equal one at a lower index.
  const auto before = [&](spirv::Id av, spirv::Id ai, spirv::Id bv, spirv::Id bi) {
    const spirv::Id a_nan = is_nan(av), b_nan = is_nan(bv);
    const spirv::Id ordered = attrs->largest ? e.less(kind, bv, av) : e.less(kind, av, bv);
    const spirv::Id nan_wins = attrs->largest ? m.value(Op::logical_and, boolean, {a_nan, m.value(Op::logical_not, boolean, {b_nan})})
                                              : m.value(Op::logical_and, boolean, {b_nan, m.value(Op::logical_not, boolean, {a_nan})});
    const spirv::Id equal = floating ? m.value(Op::logical_or, boolean, {m.value(Op::f_ord_equal, boolean, {av, bv}), m.value(Op::logical_and, boolean, {a_nan, b_nan})})
                                     : m.value(Op::i_equal, boolean, {av, bv});
    const spirv::Id tie = m.value(Op::logical_and, boolean, {equal, e.less(Kind::i32, ai, bi)});
    return m.value(Op::logical_or, boolean, {m.value(Op::logical_or, boolean, {ordered, nan_wins}), tie});
  };
  const spirv::Id previous_value = e.variable(kind), previous_index = e.variable(Kind::i32);
  const spirv::Id best_value = e.variable(kind), best_index = e.variable(Kind::i32);
  m.code(Op::store, {previous_value, e.zero(kind)});
  m.code(Op::store, {previous_index, e.i32(-1)});
  const spirv::Id j = e.open_loop([&] { return e.i32(k); });
  m.code(Op::store, {best_value, e.zero(kind)});
  m.code(Op::store, {best_index, e.i32(-1)});
  {
    const spirv::Id i = e.open_loop([&] { return e.i32(x.dims[axis]); });
    const spirv::Id v = e.convert(e.load(0, detail::add_term(e, x_row, i, x.strides[axis])), kind).id;
    const spirv::Id pv = m.value(Op::load, t, {previous_value}), pi = m.value(Op::load, i32, {previous_index});
    const spirv::Id bv = m.value(Op::load, t, {best_value}), bi = m.value(Op::load, i32, {best_index});
    const spirv::Id after_previous = m.value(Op::logical_or, boolean, {e.less(Kind::i32, pi, e.i32(0)), before(pv, pi, v, i)});
    const spirv::Id better = m.value(Op::logical_or, boolean, {e.less(Kind::i32, bi, e.i32(0)), before(v, i, bv, bi)});
    const spirv::Id take = m.value(Op::logical_and, boolean, {after_previous, better});
    m.code(Op::store, {best_value, e.pick(kind, take, v, bv)});
    m.code(Op::store, {best_index, e.pick(Kind::i32, take, i, bi)});
    e.close();
  }
  const spirv::Id chosen_value = m.value(Op::load, t, {best_value}), chosen_index = m.value(Op::load, i32, {best_index});
  e.store(1, detail::add_term(e, values_row, j, values.strides[axis]), {chosen_value, kind});
  e.store(2, detail::add_term(e, indices_row, j, indices.strides[axis]), {chosen_index, Kind::i32});
  m.code(Op::store, {previous_value, chosen_value});
  m.code(Op::store, {previous_index, chosen_index});
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

} // namespace kiln::vulkan::vm_ops
