// kiln/backend/vulkan/vm/norm_shaders.hpp: batch_norm, instance_norm, group_norm and layer_norm
// on the Vulkan device, in f32 with contiguous operands, as the CPU kernel computes them
// (vm/ops/normalize.hpp): the mean, then the mean squared deviation (biased), inv_std =
// 1 / sqrt(variance + epsilon), and y = x * a + (bias - mean * a) with a = scale * inv_std.
//   batch_norm:                   one invocation per element (the statistics are inputs);
//   instance_norm and group_norm: one invocation per image and group, walking its channels;
//   layer_norm:                   one invocation per row (the axes from `axis` on), when the
//                                 scale and bias hold exactly a row's elements.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "../../../relax/attributes.hpp"
#include "op_shaders.hpp"

namespace kiln::vulkan::vm_ops {

namespace detail {

// Why the device leaves a norm to the CPU: dtypes, layout, absent operands; empty when it can run.
inline std::string norm_operand_reason(const vm::OpCall& call, std::size_t parameters, std::int64_t min_rank) {
  if (call.input(0) == nullptr || call.outputs.size() != 1) return "a norm with other outputs runs on the CPU";
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (x.dtype != DType::f32 || out.dtype != DType::f32) return "norms run on the device in f32 only";
  if (x.rank < min_rank || out.rank != x.rank || !x.contiguous() || !out.contiguous()) return "a norm's input does not fit";
  for (int a = 0; a < x.rank; ++a)
    if (x.dims[a] != out.dims[a]) return "a norm's output does not fit";
  for (std::size_t i = 1; i <= parameters; ++i) {
    const vm::Slot* p = call.input(i);
    if (p == nullptr || p->dtype != DType::f32 || !p->contiguous()) return "a norm's parameters must be contiguous f32";
  }
  if (std::get_if<relax::NormAttrs>(call.attrs) == nullptr) return "a norm without its attributes";
  if (x.elements() == 0) return "an empty norm";
  return {};
}

// The mean and 1 / sqrt(variance + epsilon) of `count` elements of binding 0 from `first`.
inline std::pair<spirv::Id, spirv::Id> moments(OpShaderEmitter& e, spirv::Id first, std::int64_t count, double epsilon) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  const spirv::Id sum = e.variable(Kind::f32);
  m.code(Op::store, {sum, m.constant_f32(0.0f)});
  {
    const spirv::Id i = e.open_loop([&] { return e.i32(count); });
    const spirv::Id v = e.load(0, m.value(Op::i_add, e.type_i32(), {first, i})).id;
    m.code(Op::store, {sum, m.value(Op::f_add, f, {m.value(Op::load, f, {sum}), v})});
    e.close();
  }
  const spirv::Id mean = m.value(Op::f_div, f, {m.value(Op::load, f, {sum}), m.constant_f32(static_cast<float>(count))});
  const spirv::Id squares = e.variable(Kind::f32);
  m.code(Op::store, {squares, m.constant_f32(0.0f)});
  {
    const spirv::Id i = e.open_loop([&] { return e.i32(count); });
    const spirv::Id d = m.value(Op::f_sub, f, {e.load(0, m.value(Op::i_add, e.type_i32(), {first, i})).id, mean});
    m.code(Op::store, {squares, m.value(Op::f_add, f, {m.value(Op::load, f, {squares}), m.value(Op::f_mul, f, {d, d})})});
    e.close();
  }
  const spirv::Id variance = m.value(Op::f_div, f, {m.value(Op::load, f, {squares}), m.constant_f32(static_cast<float>(count))});
  const spirv::Id shifted = m.value(Op::f_add, f, {variance, m.constant_f32(static_cast<float>(epsilon))});
  return {mean, m.value(Op::f_div, f, {m.constant_f32(1.0f), e.glsl(spirv::glsl::sqrt, {shifted, Kind::f32}).id})};
}

// out[at] = x[at] * a + (bias - mean * a).
inline void store_affine(OpShaderEmitter& e, int out_binding, spirv::Id at, spirv::Id a, spirv::Id bias, spirv::Id mean) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  const spirv::Id shift = m.value(Op::f_sub, f, {bias, m.value(Op::f_mul, f, {mean, a})});
  e.store(out_binding, at, {m.value(Op::f_add, f, {m.value(Op::f_mul, f, {e.load(0, at).id, a}), shift}), Kind::f32});
}

} // namespace detail

inline OpShaderResult batch_norm_shader(const vm::OpCall& call) {
  using spirv::Op;
  if (std::string why = detail::norm_operand_reason(call, 4, 2); !why.empty()) return why;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const std::int64_t channels = x.dims[1];
  for (std::size_t i = 1; i <= 4; ++i)
    if (call.input(i)->elements() != channels) return std::string("batch_norm's parameters must hold one value per channel");
  const double epsilon = std::get<relax::NormAttrs>(*call.attrs).epsilon;
  std::int64_t plane = 1;
  for (int a = 2; a < x.rank; ++a) plane *= x.dims[a];
  OpShader shader;
  shader.inputs = {&x, call.input(1), call.input(2), call.input(3), call.input(4)};
  shader.outputs = {&out};
  shader.invocations = x.elements();
  OpShaderEmitter e;
  e.begin_elements({&x, call.input(1), call.input(2), call.input(3), call.input(4), &out}, shader.invocations);
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  const spirv::Id c = m.value(Op::s_rem, e.type_i32(), {m.value(Op::s_div, e.type_i32(), {e.element(), e.i32(plane)}), e.i32(channels)});
  const spirv::Id inv_std = m.value(Op::f_div, f, {m.constant_f32(1.0f),
      e.glsl(spirv::glsl::sqrt, {m.value(Op::f_add, f, {e.load(4, c).id, m.constant_f32(static_cast<float>(epsilon))}), detail::Kind::f32}).id});
  const spirv::Id a = m.value(Op::f_mul, f, {e.load(1, c).id, inv_std});
  detail::store_affine(e, 5, e.element(), a, e.load(2, c).id, e.load(3, c).id);
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// instance_norm (a group per channel) and group_norm (scale and bias per channel, or per group).
inline OpShaderResult group_norm_shader(const vm::OpCall& call) {
  using spirv::Op;
  if (std::string why = detail::norm_operand_reason(call, 2, 2); !why.empty()) return why;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto& attrs = std::get<relax::NormAttrs>(*call.attrs);
  const std::int64_t channels = x.dims[1];
  const std::int64_t groups = call.op == OpKind::instance_norm ? channels : attrs.num_groups;
  if (groups < 1 || channels % groups != 0) return std::string("the channels do not divide into the groups");
  const bool per_group = call.op == OpKind::group_norm && call.input(1)->elements() == groups && groups != channels;
  const std::int64_t params = per_group ? groups : channels;
  if (call.input(1)->elements() != params || call.input(2)->elements() != params) return std::string("the scale or bias does not fit");
  std::int64_t plane = 1;
  for (int a = 2; a < x.rank; ++a) plane *= x.dims[a];
  const std::int64_t per = channels / groups;
  OpShader shader;
  shader.inputs = {&x, call.input(1), call.input(2)};
  shader.outputs = {&out};
  shader.invocations = x.dims[0] * groups;
  OpShaderEmitter e;
  e.begin_elements({&x, call.input(1), call.input(2), &out}, shader.invocations);
  auto& m = e.module();
  const spirv::Id i32 = e.type_i32(), f = e.type_f32();
  const spirv::Id item = e.element();
  const spirv::Id g = m.value(Op::s_rem, i32, {item, e.i32(groups)});
  const spirv::Id first = m.value(Op::i_mul, i32, {item, e.i32(per * plane)});  // the group's channels are contiguous
  const auto [mean, inv_std] = detail::moments(e, first, per * plane, attrs.epsilon);
  const spirv::Id k = e.open_loop([&] { return e.i32(per); });
  const spirv::Id p = per_group ? g : m.value(Op::i_add, i32, {m.value(Op::i_mul, i32, {g, e.i32(per)}), k});
  const spirv::Id a = m.value(Op::f_mul, f, {e.load(1, p).id, inv_std});
  const spirv::Id bias = e.load(2, p).id;
  const spirv::Id channel_first = m.value(Op::i_add, i32, {first, m.value(Op::i_mul, i32, {k, e.i32(plane)})});
  const spirv::Id j = e.open_loop([&] { return e.i32(plane); });
  detail::store_affine(e, 3, m.value(Op::i_add, i32, {channel_first, j}), a, bias, mean);
  e.close();
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

inline OpShaderResult layer_norm_shader(const vm::OpCall& call) {
  using spirv::Op;
  if (std::string why = detail::norm_operand_reason(call, 1, 1); !why.empty()) return why;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto& attrs = std::get<relax::NormAttrs>(*call.attrs);
  const int axis = static_cast<int>(attrs.axis < 0 ? attrs.axis + x.rank : attrs.axis);
  if (axis < 0 || axis >= x.rank) return std::string("the axis is out of range");
  std::int64_t cols = 1;
  for (int a = axis; a < x.rank; ++a) cols *= x.dims[a];
  const vm::Slot* bias = call.inputs.size() > 2 ? call.input(2) : nullptr;
  if (call.input(1)->elements() != cols || (bias != nullptr && (bias->dtype != DType::f32 || !bias->contiguous() || bias->elements() != cols)))
    return std::string("a scale or bias that broadcasts runs on the CPU");
  OpShader shader;
  shader.inputs = {&x, call.input(1)};
  if (bias != nullptr) shader.inputs.push_back(bias);
  shader.outputs = {&out};
  shader.invocations = x.elements() / cols;
  OpShaderEmitter e;
  std::vector<const vm::Slot*> slots = shader.inputs;
  slots.push_back(&out);
  e.begin_elements(slots, shader.invocations);
  auto& m = e.module();
  const spirv::Id i32 = e.type_i32(), f = e.type_f32();
  const spirv::Id first = m.value(Op::i_mul, i32, {e.element(), e.i32(cols)});
  const auto [mean, inv_std] = detail::moments(e, first, cols, attrs.epsilon);
  const spirv::Id j = e.open_loop([&] { return e.i32(cols); });
  const spirv::Id a = m.value(Op::f_mul, f, {e.load(1, j).id, inv_std});
  const spirv::Id shift = bias != nullptr ? e.load(2, j).id : m.constant_f32(0.0f);
  detail::store_affine(e, static_cast<int>(shader.inputs.size()), m.value(Op::i_add, i32, {first, j}), a, shift, mean);
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

} // namespace kiln::vulkan::vm_ops
