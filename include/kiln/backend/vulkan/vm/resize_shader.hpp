// kiln/backend/vulkan/vm/resize_shader.hpp: resize (nearest, linear, cubic; every coordinate
// transform, antialias and exclude_outside) on the Vulkan device. The host plans the call
// with the CPU kernel's own code (vm/ops/resize.hpp) and puts each resized axis's taps in the
// shader's table: for nearest the input position of every output position (-1 outside
// tf_crop_and_resize's region), for linear and cubic a run of input positions and its
// weights. One invocation per output element then reads its positions, or sums its taps'
// products over the resized axes (weights multiplied across axes, in f32), so device and
// CPU agree on every tap and weight; only the order of the f32 sums differs.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "../../../relax/attributes.hpp"
#include "../../../vm/ops/resize.hpp"
#include "op_shaders.hpp"

namespace kiln::vulkan::vm_ops {

namespace detail {

// Where each axis's part of the table starts (-1: the axis is not resized).
struct ResizeTable {
  std::vector<std::uint32_t> words;
  std::int64_t start[kMaxRank] = {};
};

inline std::uint32_t table_word(std::int64_t v) { return static_cast<std::uint32_t>(static_cast<std::int32_t>(v)); }

// nearest: per resized axis, the input position of each output position.
inline ResizeTable nearest_table(const vm::resize_impl::Plan& plan, const relax::ResizeAttrs& attrs) {
  ResizeTable t;
  for (int a = 0; a < plan.rank; ++a) {
    const vm::resize_impl::AxisMap& m = plan.axes[a];
    t.start[a] = m.resized ? static_cast<std::int64_t>(t.words.size()) : -1;
    if (!m.resized) continue;
    for (std::int64_t j = 0; j < m.out; ++j) t.words.push_back(table_word(vm::resize_impl::nearest_position(m, attrs, j)));
  }
  return t;
}

// linear and cubic: per resized axis, (first, count) of each output position, then its
// m.taps weights as f32 bits.
inline ResizeTable tap_table(const vm::resize_impl::Plan& plan, const relax::ResizeAttrs& attrs) {
  ResizeTable t;
  for (int a = 0; a < plan.rank; ++a) {
    const vm::resize_impl::AxisMap& m = plan.axes[a];
    t.start[a] = m.resized ? static_cast<std::int64_t>(t.words.size()) : -1;
    if (!m.resized) continue;
    std::vector<vm::resize_impl::TapRun> runs(static_cast<std::size_t>(m.out));
    std::vector<float> weights(static_cast<std::size_t>(m.out * m.taps), 0.0f);
    vm::resize_impl::build_taps(m, attrs, runs.data(), weights.data());
    for (const vm::resize_impl::TapRun& r : runs) {
      t.words.push_back(table_word(r.first));
      t.words.push_back(table_word(r.count));
    }
    for (float w : weights) t.words.push_back(std::bit_cast<std::uint32_t>(w));
  }
  return t;
}

} // namespace detail

inline OpShaderResult resize_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  using detail::Value;
  const auto* attrs = std::get_if<relax::ResizeAttrs>(call.attrs);
  if (attrs == nullptr || call.input(0) == nullptr) return std::string("resize without its attributes");
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (!detail::on_device(&x)) return detail::dtype_reason(x);
  if (x.elements() == 0 || out.elements() == 0) return std::string("an empty resize");
  vm::resize_impl::Plan plan;
  if (!vm::resize_impl::make_plan(*attrs, x, out, plan).ok()) return std::string("the CPU kernel reports this call");
  const bool nearest = attrs->mode == relax::ResizeMode::nearest;
  if (!nearest && x.dtype != DType::f32 && x.dtype != DType::f16) return std::string("linear and cubic interpolate f32 and f16");
  const detail::ResizeTable table = nearest ? detail::nearest_table(plan, *attrs) : detail::tap_table(plan, *attrs);
  if (table.words.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    return std::string("the resize's table is too large");

  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.table = table.words;
  shader.invocations = out.elements();
  OpShaderEmitter e;
  auto& m = e.module();
  e.begin_elements({&x, &out}, shader.invocations, !shader.table.empty());
  const spirv::Id t_i32 = e.type_i32();  // made by begin_elements
  const int table_binding = 2;
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  const auto read_word = [&](spirv::Id at) { return e.load(table_binding, at).id; };
  const auto table_at = [&](std::int64_t base, spirv::Id j, std::int64_t scale, std::int64_t offset) {
    spirv::Id at = scale == 1 ? j : m.value(Op::i_mul, t_i32, {j, e.i32(scale)});
    return m.value(Op::i_add, t_i32, {at, e.i32(base + offset)});
  };
  const bool crop = attrs->coordinates == relax::ResizeCoordinates::tf_crop_and_resize;
  spirv::Id outside = m.constant_bool(false);
  Value result;
  if (nearest) {
    spirv::Id at = e.i32(0);
    for (int a = 0; a < x.rank; ++a) {
      spirv::Id position = coords[static_cast<std::size_t>(a)];
      if (table.start[a] >= 0) {
        position = read_word(table_at(table.start[a], position, 1, 0));
        outside = m.value(Op::logical_or, e.type_bool(), {outside, e.less(Kind::i32, position, e.i32(0))});
        position = e.pick(Kind::i32, e.less(Kind::i32, position, e.i32(0)), e.i32(0), position);
      }
      at = detail::add_term(e, at, position, x.strides[a]);
    }
    result = e.load(0, at);
  } else {
    // acc = sum over the taps of every resized axis of (product of their weights) * x.
    const spirv::Id acc = e.variable(Kind::f32);
    m.code(Op::store, {acc, m.constant_f32(0.0f)});
    spirv::Id at = e.i32(0);
    for (int a = 0; a < x.rank; ++a)
      if (table.start[a] < 0) at = detail::add_term(e, at, coords[static_cast<std::size_t>(a)], x.strides[a]);
    // Every run is read (and the region tested) before the first loop opens: values made
    // inside a loop do not reach past it.
    spirv::Id first[kMaxRank] = {}, count[kMaxRank] = {};
    for (int a = 0; a < x.rank; ++a) {
      if (table.start[a] < 0) continue;
      const spirv::Id j = coords[static_cast<std::size_t>(a)];
      first[a] = read_word(table_at(table.start[a], j, 2, 0));
      count[a] = read_word(table_at(table.start[a], j, 2, 1));
      if (crop) outside = m.value(Op::logical_or, e.type_bool(), {outside, m.value(Op::i_equal, e.type_bool(), {count[a], e.i32(0)})});
    }
    spirv::Id weight = m.constant_f32(1.0f);
    int loops = 0;
    for (int a = 0; a < x.rank; ++a) {
      if (table.start[a] < 0) continue;
      const vm::resize_impl::AxisMap& axis = plan.axes[a];
      const spirv::Id t = e.open_loop([&] { return count[a]; });
      ++loops;
      const spirv::Id weights_at = table_at(table.start[a] + 2 * axis.out, coords[static_cast<std::size_t>(a)], axis.taps, 0);
      const spirv::Id w = m.value(Op::bitcast, e.type_f32(), {read_word(m.value(Op::i_add, t_i32, {weights_at, t}))});
      weight = m.value(Op::f_mul, e.type_f32(), {weight, w});
      at = detail::add_term(e, at, m.value(Op::i_add, t_i32, {first[a], t}), x.strides[a]);
    }
    const spirv::Id v = e.convert(e.load(0, at), Kind::f32).id;
    const spirv::Id sum = m.value(Op::load, e.type_f32(), {acc});
    m.code(Op::store, {acc, m.value(Op::f_add, e.type_f32(), {sum, m.value(Op::f_mul, e.type_f32(), {weight, v})})});
    for (; loops > 0; --loops) e.close();
    result = {m.value(Op::load, e.type_f32(), {acc}), Kind::f32};
  }
  if (crop) {
    const Value fill = e.constant(result.kind, attrs->extrapolation_value);
    result = {e.pick(result.kind, outside, fill.id, result.id), result.kind};
  }
  e.store(1, e.own_offset(coords, out), result);
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

} // namespace kiln::vulkan::vm_ops
