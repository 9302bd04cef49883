// kiln/backend/vulkan/vm/op_shaders.hpp: compute shaders for one call of a dynamic module's op,
// written for the call's concrete shapes and dtypes (shapes are known when a module is
// prepared, so extents and strides are constants in the module). Each maker returns the
// module and what the call binds, or the reason the op cannot run on the Vulkan device (then
// the CPU kernel runs it). Elementwise ops broadcast through their slots' strides.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "../../../relax/attributes.hpp"
#include "../../../relax/infer_reduce.hpp"
#include "../../../relax/op_kind.hpp"
#include "../../../vm/op_kernel.hpp"
#include "../../../vm/ops/linear.hpp"
#include "../../../vm/ops/movement.hpp"
#include "../../../vm/ops/pool.hpp"
#include "../../../vm/slot.hpp"
#include "../shader_builder.hpp"
#include "../shader_features.hpp"

namespace kiln::vulkan::vm_ops {

using relax::OpKind;

inline constexpr std::uint32_t kGroupSize = 64;

// A module for one call: its words, the slots it binds (inputs first, outputs next), the
// constant table it reads, if any (a buffer of i32 words bound last: positions and weights
// the host computed for the call's shapes), and how many invocations it needs.
struct OpShader {
  std::vector<std::uint32_t> words;
  std::vector<const vm::Slot*> inputs;
  std::vector<const vm::Slot*> outputs;
  std::vector<std::uint32_t> table;
  std::int64_t invocations = 0;

  std::size_t bindings() const noexcept { return inputs.size() + outputs.size() + (table.empty() ? 0 : 1); }

  // The device features its buffers need.
  ShaderFeatures needs() const;
};
using OpShaderResult = std::variant<OpShader, std::string>;  // the shader, or why not

// How a dtype lives in a buffer; none where Vulkan buffers cannot hold it yet.
inline std::optional<ShaderBuilder::Storage> storage_for(DType t) {
  using S = ShaderBuilder::Storage;
  switch (t) {
    case DType::f32: return S::f32;
    case DType::i32: return S::i32;
    case DType::f16: return S::f16;
    case DType::i8: return S::i8;
    case DType::i64: return S::i64;
    case DType::f64: return S::f64;
    case DType::i16: return S::i16;
    case DType::u16: return S::u16;
    case DType::u32: return S::u32;
    case DType::u8:
    case DType::boolean: return S::u8;
    default: return std::nullopt;
  }
}

inline ShaderFeatures OpShader::needs() const {
  ShaderFeatures f;
  for (const std::vector<const vm::Slot*>* slots : {&inputs, &outputs})
    for (const vm::Slot* s : *slots)
      if (const std::optional<ShaderBuilder::Storage> storage = storage_for(s->dtype)) f.add(ShaderBuilder::features_of(*storage));
  return f;
}

// A shader over the elements of a call's output, one invocation each.
class OpShaderEmitter : public ShaderBuilder {
 public:
  // Declares the buffers (the dtypes must have storages; then an i32 table when `table`) and
  // opens the invocation's element index, guarded by the element count.
  void begin_elements(const std::vector<const vm::Slot*>& slots, std::int64_t elements, bool table = false) {
    std::vector<Storage> storages;
    for (const vm::Slot* s : slots) storages.push_back(*storage_for(s->dtype));
    for (const vm::Slot* s : slots) booleans_.push_back(s->dtype == DType::boolean);
    if (table) {
      storages.push_back(Storage::i32);
      booleans_.push_back(false);
    }
    begin(storages.data(), static_cast<int>(storages.size()), 0);
    using spirv::Op;
    const spirv::Id base = m_.value(Op::i_mul, t_i32_, {folded_workgroup_x(), m_.constant_i32(static_cast<std::int32_t>(kGroupSize))});
    element_ = m_.value(Op::i_add, t_i32_, {base, local_id(0)});
    open_if(m_.value(Op::s_less_than, t_bool_, {element_, i32(elements)}));
  }
  spirv::Id element() const noexcept { return element_; }
  spirv::Id i32(std::int64_t v) { return m_.constant_i32(static_cast<std::int32_t>(v)); }

  // Coordinate `axis` of the row-major element `linear` in a tensor of dims `dims`.
  spirv::Id coordinate(spirv::Id linear, const std::int64_t* dims, int rank, int axis) {
    using spirv::Op;
    std::int64_t inner = 1;
    for (int a = axis + 1; a < rank; ++a) inner *= dims[a];
    const spirv::Id q = inner == 1 ? linear : m_.value(Op::s_div, t_i32_, {linear, i32(inner)});
    return axis == 0 ? q : m_.value(Op::s_rem, t_i32_, {q, i32(dims[axis])});
  }
  // The element offset in `in` of the output element at `coords` (one per output axis),
  // NumPy-broadcast: axes aligned on the right, extents of 1 read index 0.
  spirv::Id broadcast_offset(const std::vector<spirv::Id>& coords, const vm::Slot& in) {
    using spirv::Op;
    const int shift = static_cast<int>(coords.size()) - in.rank;
    spirv::Id offset = i32(0);
    for (int a = 0; a < in.rank; ++a) {
      if (in.dims[a] == 1) continue;
      const spirv::Id c = coords[static_cast<std::size_t>(a + shift)];
      const spirv::Id term = in.strides[a] == 1 ? c : m_.value(Op::i_mul, t_i32_, {c, i32(in.strides[a])});
      offset = m_.value(Op::i_add, t_i32_, {offset, term});
    }
    return offset;
  }
  std::vector<spirv::Id> coordinates(spirv::Id linear, const vm::Slot& out) {
    std::vector<spirv::Id> coords;
    for (int a = 0; a < out.rank; ++a) coords.push_back(coordinate(linear, out.dims, out.rank, a));
    return coords;
  }
  // The offset of output element `linear` in `out` (its own strides).
  spirv::Id own_offset(const std::vector<spirv::Id>& coords, const vm::Slot& out) { return broadcast_offset(coords, out); }

  Value load(int binding, spirv::Id at) {
    const Value v = load_element(binding, at);
    return booleans_[static_cast<std::size_t>(binding)] ? convert(v, Kind::boolean) : v;
  }
  void store(int binding, spirv::Id at, Value v) {
    if (booleans_[static_cast<std::size_t>(binding)]) v = convert(convert(v, Kind::boolean), Kind::i32);
    store_element(binding, at, v);
  }
  spirv::ModuleBuilder& module() noexcept { return m_; }
  spirv::Id type_f32() const noexcept { return t_f32_; }
  spirv::Id type_i32() const noexcept { return t_i32_; }
  spirv::Id type_bool() const noexcept { return t_bool_; }

 private:
  std::vector<bool> booleans_;
  spirv::Id element_ = 0;
};

namespace detail {

inline bool on_device(const vm::Slot* s) { return s != nullptr && storage_for(s->dtype).has_value(); }
inline std::string dtype_reason(const vm::Slot& s) {
  return std::string("Vulkan buffers do not hold ") + std::string(to_string(s.dtype)) + " yet";
}

using Kind = ShaderBuilder::Kind;
using Value = ShaderBuilder::Value;

// The kind a dtype's elements compute in (f16 in f32, 8-bit integers in i32); its storage must
// exist.
inline Kind kind_for(DType t) { return t == DType::boolean ? Kind::boolean : ShaderBuilder::kind_of(*storage_for(t)); }

// y = f(x) for the f64 unary ops computed here; false for the others (they run on the CPU).
inline bool unary_value_f64(OpShaderEmitter& e, OpKind op, Value x, Value& y) {
  using spirv::Op;
  namespace g = spirv::glsl;
  auto& m = e.module();
  const spirv::Id t = e.scalar(Kind::f64), zero = m.constant_f64(0.0), one = m.constant_f64(1.0);
  switch (op) {
    case OpKind::identity: y = x; return true;
    case OpKind::neg: y = {m.value(Op::f_negate, t, {x.id}), Kind::f64}; return true;
    case OpKind::abs: y = e.glsl(g::f_abs, x); return true;
    case OpKind::relu: y = {e.pick(Kind::f64, e.less(Kind::f64, x.id, zero), zero, x.id), Kind::f64}; return true;
    case OpKind::exp: y = e.exp64(x); return true;
    case OpKind::log: y = e.log64(x); return true;
    case OpKind::sqrt: y = e.glsl(g::sqrt, x); return true;
    case OpKind::reciprocal: y = {m.value(Op::f_div, t, {one, x.id}), Kind::f64}; return true;
    case OpKind::floor: y = e.glsl(g::floor, x); return true;
    case OpKind::ceil: y = e.glsl(g::ceil, x); return true;
    case OpKind::round: y = e.glsl(g::round_even, x); return true;
    default: return false;
  }
}

// The rows along `axis`: every other axis indexes one (softmax, arg reductions, cumsum).
struct AxisRows {
  std::int64_t dims[kMaxRank] = {};
  int axes[kMaxRank] = {};
  int rank = 0;
  std::int64_t count = 1;
};
inline AxisRows rows_around(const vm::Slot& x, int axis) {
  AxisRows r;
  for (int a = 0; a < x.rank; ++a)
    if (a != axis) {
      r.axes[r.rank] = a;
      r.dims[r.rank++] = x.dims[a];
      r.count *= x.dims[a];
    }
  return r;
}
// The offset in `s` of the first element of row `row`.
inline spirv::Id row_start(OpShaderEmitter& e, const AxisRows& r, spirv::Id row, const vm::Slot& s) {
  using spirv::Op;
  auto& m = e.module();
  spirv::Id at = e.i32(0);
  for (int k = 0; k < r.rank; ++k) {
    const spirv::Id c = e.coordinate(row, r.dims, r.rank, k);
    at = m.value(Op::i_add, e.type_i32(), {at, m.value(Op::i_mul, e.type_i32(), {c, e.i32(s.strides[r.axes[k]])})});
  }
  return at;
}

// y = f(x) for the float unary ops GLSL (or a few lines) computes; false for the others.
inline bool unary_value(OpShaderEmitter& e, OpKind op, Value x, Value& y) {
  using spirv::Op;
  namespace g = spirv::glsl;
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  auto one = [&] { return m.constant_f32(1.0f); };
  auto ext = [&](std::uint32_t fn) { return Value{m.ext(f, fn, {x.id}), Kind::f32}; };
  switch (op) {
    case OpKind::identity: y = x; return true;
    case OpKind::neg: y = {m.value(Op::f_negate, f, {x.id}), Kind::f32}; return true;
    case OpKind::abs: y = ext(g::f_abs); return true;
    case OpKind::relu: y = {e.pick(Kind::f32, e.less(Kind::f32, x.id, m.constant_f32(0.0f)), m.constant_f32(0.0f), x.id), Kind::f32}; return true;
    case OpKind::sigmoid: {
      const spirv::Id ex = m.ext(f, g::exp, {m.value(Op::f_negate, f, {x.id})});
      y = {m.value(Op::f_div, f, {one(), m.value(Op::f_add, f, {one(), ex})}), Kind::f32};
      return true;
    }
    case OpKind::silu: {
      const spirv::Id ex = m.ext(f, g::exp, {m.value(Op::f_negate, f, {x.id})});
      y = {m.value(Op::f_div, f, {x.id, m.value(Op::f_add, f, {one(), ex})}), Kind::f32};
      return true;
    }
    case OpKind::tanh: y = ext(g::tanh); return true;
    case OpKind::exp: y = ext(g::exp); return true;
    case OpKind::log: y = ext(g::log); return true;
    case OpKind::sqrt: y = ext(g::sqrt); return true;
    case OpKind::rsqrt: y = {m.value(Op::f_div, f, {one(), m.ext(f, g::sqrt, {x.id})}), Kind::f32}; return true;
    case OpKind::reciprocal: y = {m.value(Op::f_div, f, {one(), x.id}), Kind::f32}; return true;
    case OpKind::floor: y = ext(g::floor); return true;
    case OpKind::ceil: y = ext(g::ceil); return true;
    case OpKind::round: y = ext(g::round_even); return true;
    case OpKind::erf: y = e.erf(x); return true;
    case OpKind::sin: y = ext(g::sin); return true;
    case OpKind::cos: y = ext(g::cos); return true;
    case OpKind::tan: y = ext(g::tan); return true;
    case OpKind::asin: y = ext(g::asin); return true;
    case OpKind::acos: y = ext(g::acos); return true;
    case OpKind::atan: y = ext(g::atan); return true;
    case OpKind::sinh: y = ext(g::sinh); return true;
    case OpKind::cosh: y = ext(g::cosh); return true;
    case OpKind::asinh: y = ext(g::asinh); return true;
    case OpKind::acosh: y = ext(g::acosh); return true;
    case OpKind::atanh: y = ext(g::atanh); return true;
    case OpKind::sign: {
      const spirv::Id zero = m.constant_f32(0.0f);
      const spirv::Id neg = e.pick(Kind::f32, e.less(Kind::f32, x.id, zero), m.constant_f32(-1.0f), x.id);
      y = {e.pick(Kind::f32, e.less(Kind::f32, zero, x.id), one(), neg), Kind::f32};
      return true;
    }
    case OpKind::gelu: {
      const Value inner = e.erf({m.value(Op::f_mul, f, {x.id, m.constant_f32(0.70710678f)}), Kind::f32});
      const spirv::Id half_x = m.value(Op::f_mul, f, {m.constant_f32(0.5f), x.id});
      y = {m.value(Op::f_mul, f, {half_x, m.value(Op::f_add, f, {one(), inner.id})}), Kind::f32};
      return true;
    }
    default: return false;
  }
}

// a / b truncating, as the CPU: by zero gives 0, by -1 negates (the lowest value wraps).
inline Value integer_divide(OpShaderEmitter& e, Value a, Value b) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id t = e.scalar(a.kind), zero = e.zero(a.kind), minus_one = e.constant(a.kind, -1).id;
  const spirv::Id safe_b = e.pick(a.kind, m.value(Op::i_equal, e.type_bool(), {b.id, zero}), e.constant(a.kind, 1).id, b.id);
  const spirv::Id divisor = e.pick(a.kind, m.value(Op::i_equal, e.type_bool(), {b.id, minus_one}), e.constant(a.kind, 1).id, safe_b);
  spirv::Id q = m.value(Op::s_div, t, {a.id, divisor});
  q = e.pick(a.kind, m.value(Op::i_equal, e.type_bool(), {b.id, minus_one}), m.value(Op::i_sub, t, {zero, a.id}), q);
  return {e.pick(a.kind, m.value(Op::i_equal, e.type_bool(), {b.id, zero}), zero, q), a.kind};
}
// ONNX's integer Mod: the divisor's sign; by zero gives 0. Vulkan leaves OpSRem and OpSMod
// undefined for negative operands, so the remainder of the magnitudes (OpUMod) takes the
// dividend's sign and then moves to the divisor's.
inline Value integer_mod(OpShaderEmitter& e, Value a, Value b) {
  using spirv::Op;
  auto& m = e.module();
  const Kind k = a.kind;
  const spirv::Id t = e.scalar(k), boolean = e.type_bool(), zero = e.zero(k);
  const spirv::Id is_zero = m.value(Op::i_equal, boolean, {b.id, zero});
  const spirv::Id safe_b = e.pick(k, is_zero, e.constant(k, 1).id, b.id);
  const spirv::Id a_negative = e.less(k, a.id, zero), b_negative = e.less(k, safe_b, zero);
  const spirv::Id abs_a = e.pick(k, a_negative, m.value(Op::i_sub, t, {zero, a.id}), a.id);
  const spirv::Id abs_b = e.pick(k, b_negative, m.value(Op::i_sub, t, {zero, safe_b}), safe_b);
  const spirv::Id unsigned_t = m.type_int(k == Kind::i64 ? 64 : 32, false);  // OpUMod's result is unsigned
  const spirv::Id unsigned_mod = m.value(Op::u_mod, unsigned_t, {m.value(Op::bitcast, unsigned_t, {abs_a}), m.value(Op::bitcast, unsigned_t, {abs_b})});
  const spirv::Id magnitude = m.value(Op::bitcast, t, {unsigned_mod});
  const spirv::Id r = e.pick(k, a_negative, m.value(Op::i_sub, t, {zero, magnitude}), magnitude);
  const spirv::Id differs = m.value(Op::logical_and, boolean, {m.value(Op::i_not_equal, boolean, {r, zero}),
                                                               m.value(Op::logical_not_equal, boolean, {e.less(k, r, zero), b_negative})});
  const spirv::Id moved = e.pick(k, differs, m.value(Op::i_add, t, {r, safe_b}), r);
  return {e.pick(k, is_zero, zero, moved), k};
}
// fmod: the dividend's sign, a - b * trunc(a / b).
inline Value float_mod(OpShaderEmitter& e, Value a, Value b) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id f = e.scalar(a.kind);
  const spirv::Id q = m.ext(f, spirv::glsl::trunc, {m.value(Op::f_div, f, {a.id, b.id})});
  return {m.value(Op::f_sub, f, {a.id, m.value(Op::f_mul, f, {b.id, q})}), a.kind};
}
// Integer powers as the CPU computes them: by squaring, wrapping at the kind's width (a
// narrower store keeps the low bits, which is the same wrap); a negative exponent truncates
// 1 / base^-e, which leaves 1 for base 1, +-1 for base -1 and 0 for the others.
inline Value integer_power(OpShaderEmitter& e, Value a, Value b) {
  using spirv::Op;
  auto& m = e.module();
  const Kind k = a.kind;
  const spirv::Id t = e.scalar(k), boolean = e.type_bool(), zero = e.zero(k), one = e.constant(k, 1).id;
  const spirv::Id result = e.variable(k), factor = e.variable(k), rest = e.variable(k);
  m.code(Op::store, {result, one});
  m.code(Op::store, {factor, a.id});
  m.code(Op::store, {rest, b.id});
  e.open_loop([&] { return e.i32(k == Kind::i64 ? 64 : 32); });
  const spirv::Id bits = m.value(Op::load, t, {rest});
  const spirv::Id f = m.value(Op::load, t, {factor});
  const spirv::Id r = m.value(Op::load, t, {result});
  const spirv::Id odd = m.value(Op::i_not_equal, boolean, {m.value(Op::bitwise_and, t, {bits, one}), zero});
  m.code(Op::store, {result, e.pick(k, odd, m.value(Op::i_mul, t, {r, f}), r)});
  m.code(Op::store, {factor, m.value(Op::i_mul, t, {f, f})});
  m.code(Op::store, {rest, m.value(Op::shift_right_logical, t, {bits, one})});
  e.close();
  const spirv::Id power = m.value(Op::load, t, {result});
  const spirv::Id minus_one = e.constant(k, -1).id;
  const spirv::Id odd_exponent = m.value(Op::i_not_equal, boolean, {m.value(Op::bitwise_and, t, {b.id, one}), zero});
  const spirv::Id reciprocal = e.pick(k, m.value(Op::i_equal, boolean, {a.id, one}), one,
                                      e.pick(k, m.value(Op::i_equal, boolean, {a.id, minus_one}), e.pick(k, odd_exponent, minus_one, one), zero));
  return {e.pick(k, e.less(k, b.id, zero), reciprocal, power), k};
}

// std::pow for floats: GLSL's pow leaves a negative or zero base undefined, so the magnitude
// goes through exp2(b * log2|a|) and the sign, zeros and non-integer exponents are handled here.
inline Value power(OpShaderEmitter& e, Value a, Value b) {
  using spirv::Op;
  namespace g = spirv::glsl;
  auto& m = e.module();
  const spirv::Id f = e.type_f32(), boolean = e.type_bool();
  const spirv::Id zero = m.constant_f32(0.0f), one = m.constant_f32(1.0f);
  const spirv::Id magnitude = m.ext(f, g::f_abs, {a.id});
  const spirv::Id r = m.ext(f, g::exp2, {m.value(Op::f_mul, f, {b.id, m.ext(f, g::log2, {magnitude})})});
  const spirv::Id integral = m.value(Op::f_ord_equal, boolean, {m.ext(f, g::floor, {b.id}), b.id});
  const spirv::Id half = m.value(Op::f_mul, f, {b.id, m.constant_f32(0.5f)});
  const spirv::Id odd = m.value(Op::logical_and, boolean, {integral, m.value(Op::f_unord_not_equal, boolean, {m.ext(f, g::floor, {half}), half})});
  const spirv::Id negative = e.less(Kind::f32, a.id, zero);
  const spirv::Id signed_r = e.pick(Kind::f32, m.value(Op::logical_and, boolean, {negative, odd}), m.value(Op::f_negate, f, {r}), r);
  const spirv::Id nan = m.constant_f32(std::numeric_limits<float>::quiet_NaN());
  spirv::Id y = e.pick(Kind::f32, m.value(Op::logical_and, boolean, {negative, m.value(Op::logical_not, boolean, {integral})}), nan, signed_r);
  // A zero base: 0 for positive exponents, infinity (signed for odd ones) for negative.
  const spirv::Id base_zero = m.value(Op::f_ord_equal, boolean, {a.id, zero});
  const spirv::Id inf = e.pick(Kind::f32, odd, m.value(Op::f_div, f, {one, a.id}), m.constant_f32(std::numeric_limits<float>::infinity()));
  const spirv::Id at_zero = e.pick(Kind::f32, e.less(Kind::f32, b.id, zero), inf, e.pick(Kind::f32, e.less(Kind::f32, zero, b.id), e.pick(Kind::f32, odd, a.id, zero), one));
  y = e.pick(Kind::f32, base_zero, at_zero, y);
  // pow(x, 0) and pow(1, y) are 1, NaN included.
  const spirv::Id exact_one = m.value(Op::logical_or, boolean, {m.value(Op::f_ord_equal, boolean, {b.id, zero}), m.value(Op::f_ord_equal, boolean, {a.id, one})});
  return {e.pick(Kind::f32, exact_one, one, y), Kind::f32};
}

} // namespace detail

// Unary, binary, comparison and logical ops, where and clip, with broadcasting.
inline OpShaderResult elementwise_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  using detail::Value;
  const relax::OpFamily family = relax::op_info(call.op).family;
  const bool is_where = call.op == OpKind::where, is_clip = call.op == OpKind::clip;
  if (family != relax::OpFamily::unary && family != relax::OpFamily::binary && family != relax::OpFamily::compare &&
      family != relax::OpFamily::logical && !is_where && !is_clip)
    return std::string("not an elementwise op");
  OpShader shader;
  for (std::size_t i = 0; i < call.inputs.size(); ++i) {
    const vm::Slot* in = call.inputs[i];
    if (in == nullptr) {
      if (is_clip) continue;  // an absent bound
      return std::string("an input is absent");
    }
    if (!detail::on_device(in)) return detail::dtype_reason(*in);
    shader.inputs.push_back(in);
  }
  const vm::Slot& out = call.output();
  if (!detail::on_device(&out)) return detail::dtype_reason(out);
  shader.outputs.push_back(&out);
  const DType t = call.inputs[is_where ? 1 : 0]->dtype;
  const bool floating = t == DType::f32 || t == DType::f16 || t == DType::f64;
  // Integer semantics the CPU kernels give (wrapping, truncating or flooring division, powers)
  // stay there; so do the float ops GLSL has no exact form for.
  if (family == relax::OpFamily::unary && !floating && call.op != OpKind::identity && call.op != OpKind::logical_not)
    return std::string("integer unary ops run on the CPU");
  // 8- and 16-bit integers compute in i32 and u32 in i64: storing keeps the low bits, which is
  // the wrap the CPU gives (unsigned ones load as their non-negative values, so division and
  // order hold too).
  const bool integer = t == DType::i32 || t == DType::i64 || t == DType::i8 || t == DType::u8 || t == DType::i16 || t == DType::u16 ||
                       t == DType::u32;
  if (family == relax::OpFamily::binary && !floating && !integer) return std::string("this integer arithmetic runs on the CPU");
  if (call.op == OpKind::power && t == DType::f64) return std::string("f64 powers run on the CPU");

  OpShaderEmitter e;
  std::vector<const vm::Slot*> slots = shader.inputs;
  slots.push_back(&out);
  shader.invocations = out.elements();
  e.begin_elements(slots, shader.invocations);
  auto& m = e.module();
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  std::vector<Value> v;
  for (std::size_t i = 0; i < shader.inputs.size(); ++i)
    v.push_back(e.load(static_cast<int>(i), e.broadcast_offset(coords, *shader.inputs[i])));
  Value y;
  const Kind k = t == DType::boolean ? Kind::i32 : detail::kind_for(t);
  switch (family) {
    case relax::OpFamily::unary:
      if (call.op == OpKind::logical_not) y = {m.value(Op::logical_not, e.type_bool(), {e.convert(v[0], Kind::boolean).id}), Kind::boolean};
      else if (!(k == Kind::f64 ? detail::unary_value_f64(e, call.op, v[0], y) : detail::unary_value(e, call.op, v[0], y)))
        return std::string("this unary op runs on the CPU");
      break;
    case relax::OpFamily::binary: {
      const Value a = e.convert(v[0], k), b = e.convert(v[1], k);
      switch (call.op) {
        case OpKind::add: y = e.arithmetic(Op::f_add, Op::i_add, a, b); break;
        case OpKind::subtract: y = e.arithmetic(Op::f_sub, Op::i_sub, a, b); break;
        case OpKind::multiply: y = e.arithmetic(Op::f_mul, Op::i_mul, a, b); break;
        case OpKind::divide: y = floating ? e.arithmetic(Op::f_div, Op::s_div, a, b) : detail::integer_divide(e, a, b); break;
        case OpKind::power: y = floating ? detail::power(e, a, b) : detail::integer_power(e, a, b); break;
        case OpKind::mod: y = floating ? detail::float_mod(e, a, b) : detail::integer_mod(e, a, b); break;
        case OpKind::maximum: y = {e.pick(k, e.less(k, a.id, b.id), b.id, a.id), k}; break;
        case OpKind::minimum: y = {e.pick(k, e.less(k, a.id, b.id), a.id, b.id), k}; break;
        default: return std::string("this binary op runs on the CPU");
      }
      break;
    }
    case relax::OpFamily::compare: {
      const Kind ck = t == DType::boolean ? Kind::boolean : k;
      const Value a = e.convert(v[0], ck), b = e.convert(v[1], ck);
      switch (call.op) {
        case OpKind::equal: y = e.compare(Op::f_ord_equal, Op::i_equal, Op::logical_equal, a, b); break;
        case OpKind::not_equal: y = e.compare(Op::f_unord_not_equal, Op::i_not_equal, Op::logical_not_equal, a, b); break;
        case OpKind::less: y = e.compare(Op::f_ord_less_than, Op::s_less_than, Op::s_less_than, a, b); break;
        case OpKind::less_equal: y = e.compare(Op::f_ord_less_than_equal, Op::s_less_than_equal, Op::s_less_than_equal, a, b); break;
        case OpKind::greater: y = e.compare(Op::f_ord_greater_than, Op::s_greater_than, Op::s_greater_than, a, b); break;
        case OpKind::greater_equal:
          y = e.compare(Op::f_ord_greater_than_equal, Op::s_greater_than_equal, Op::s_greater_than_equal, a, b);
          break;
        default: return std::string("this comparison runs on the CPU");
      }
      if (ck == Kind::boolean && call.op != OpKind::equal && call.op != OpKind::not_equal)
        return std::string("ordering booleans runs on the CPU");
      break;
    }
    case relax::OpFamily::logical: {
      const Value a = e.convert(v[0], Kind::boolean), b = e.convert(v[1], Kind::boolean);
      const Op op = call.op == OpKind::logical_and ? Op::logical_and : call.op == OpKind::logical_or ? Op::logical_or : Op::logical_not_equal;
      y = {m.value(op, e.type_bool(), {a.id, b.id}), Kind::boolean};
      break;
    }
    default:
      if (is_where) {
        const Value c = e.convert(v[0], Kind::boolean);
        const Kind wk = t == DType::boolean ? Kind::boolean : k;
        const Value a = e.convert(v[1], wk), b = e.convert(v[2], wk);
        y = {e.pick(wk, c.id, a.id, b.id), wk};
      } else {  // clip: the bounds that are present, max then min as ONNX orders them
        if (!floating && !integer) return std::string("clip of this dtype runs on the CPU");
        y = e.convert(v[0], k);
        std::size_t next = 1;
        for (std::size_t i = 1; i < call.inputs.size(); ++i) {
          if (call.inputs[i] == nullptr) continue;
          const Value bound = e.convert(v[next++], k);
          y = i == 1 ? Value{e.pick(k, e.less(k, y.id, bound.id), bound.id, y.id), k}
                     : Value{e.pick(k, e.less(k, bound.id, y.id), bound.id, y.id), k};
        }
      }
      break;
  }
  e.store(static_cast<int>(shader.inputs.size()), e.own_offset(coords, out), y);
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// matmul (both operands of rank 2 or more, batch axes broadcast) and gemm, in f32.
inline OpShaderResult linear_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  using detail::Value;
  const bool gemm = call.op == OpKind::gemm;
  if (call.op != OpKind::matmul && !gemm) return std::string("not matmul or gemm");
  const vm::Slot* a = call.input(0);
  const vm::Slot* b = call.input(1);
  const vm::Slot* c = gemm ? call.input(2) : nullptr;
  const vm::Slot& out = call.output();
  for (const vm::Slot* s : {a, b, c, &out})
    if (s != nullptr && s->dtype != DType::f32) return std::string("matmul and gemm run on the device in f32 only");
  if (a->rank < 2 || b->rank < 2) return std::string("a one-dimensional matmul operand runs on the CPU");
  bool trans_a = false, trans_b = false;
  double alpha = 1.0, beta = 1.0;
  if (gemm) {
    const auto* attrs = std::get_if<relax::GemmOpAttrs>(call.attrs);
    if (attrs == nullptr) return std::string("gemm without its attributes");
    trans_a = attrs->trans_a;
    trans_b = attrs->trans_b;
    alpha = attrs->alpha;
    beta = attrs->beta;
  }
  const int ra = a->rank, rb = b->rank, ro = out.rank;
  const std::int64_t k = trans_a ? a->dims[ra - 2] : a->dims[ra - 1];
  OpShader shader;
  shader.inputs = {a, b};
  if (c != nullptr) shader.inputs.push_back(c);
  shader.outputs = {&out};
  shader.invocations = out.elements();
  OpShaderEmitter e;
  std::vector<const vm::Slot*> slots = shader.inputs;
  slots.push_back(&out);
  e.begin_elements(slots, shader.invocations);
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  const spirv::Id row = coords[static_cast<std::size_t>(ro - 2)], col = coords[static_cast<std::size_t>(ro - 1)];
  // The batch part of each operand's offset (broadcast), then the walk along k.
  auto batch_offset = [&](const vm::Slot& s) {
    const int shift = ro - s.rank;
    spirv::Id offset = e.i32(0);
    for (int x = 0; x + 2 < s.rank; ++x) {
      if (s.dims[x] == 1) continue;
      offset = m.value(Op::i_add, e.type_i32(), {offset, m.value(Op::i_mul, e.type_i32(), {coords[static_cast<std::size_t>(x + shift)], e.i32(s.strides[x])})});
    }
    return offset;
  };
  const spirv::Id row_term = m.value(Op::i_mul, e.type_i32(), {row, e.i32(trans_a ? a->strides[ra - 1] : a->strides[ra - 2])});
  const spirv::Id a_base = m.value(Op::i_add, e.type_i32(), {batch_offset(*a), row_term});
  const spirv::Id col_term = m.value(Op::i_mul, e.type_i32(), {col, e.i32(trans_b ? b->strides[rb - 2] : b->strides[rb - 1])});
  const spirv::Id b_base = m.value(Op::i_add, e.type_i32(), {batch_offset(*b), col_term});
  const std::int64_t a_step = trans_a ? a->strides[ra - 2] : a->strides[ra - 1];
  const std::int64_t b_step = trans_b ? b->strides[rb - 1] : b->strides[rb - 2];
  const spirv::Id sum = e.variable(Kind::f32);
  m.code(Op::store, {sum, m.constant_f32(0.0f)});
  const spirv::Id p = e.open_loop([&] { return e.i32(k); });
  const spirv::Id at_a = m.value(Op::i_add, e.type_i32(), {a_base, m.value(Op::i_mul, e.type_i32(), {p, e.i32(a_step)})});
  const spirv::Id at_b = m.value(Op::i_add, e.type_i32(), {b_base, m.value(Op::i_mul, e.type_i32(), {p, e.i32(b_step)})});
  const Value va = e.load(0, at_a), vb = e.load(1, at_b);
  const spirv::Id product = m.value(Op::f_mul, f, {va.id, vb.id});
  m.code(Op::store, {sum, m.value(Op::f_add, f, {m.value(Op::load, f, {sum}), product})});
  e.close();
  spirv::Id y = m.value(Op::load, f, {sum});
  if (alpha != 1.0) y = m.value(Op::f_mul, f, {y, m.constant_f32(static_cast<float>(alpha))});
  if (c != nullptr && beta != 0.0) {
    const Value vc = e.load(2, e.broadcast_offset(coords, *c));
    const spirv::Id scaled = beta == 1.0 ? vc.id : m.value(Op::f_mul, f, {vc.id, m.constant_f32(static_cast<float>(beta))});
    y = m.value(Op::f_add, f, {y, scaled});
  }
  e.store(static_cast<int>(shader.inputs.size()), e.own_offset(coords, out), {y, Kind::f32});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// reduce_sum, reduce_mean, reduce_max, reduce_min and reduce_prod over any axes, in f32, f64
// or i64: one invocation per output element walks its reduced elements.
inline OpShaderResult reduce_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const OpKind op = call.op;
  if (op != OpKind::reduce_sum && op != OpKind::reduce_mean && op != OpKind::reduce_max && op != OpKind::reduce_min &&
      op != OpKind::reduce_prod)
    return std::string("not a reduction");
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  // The dtypes the CPU kernel takes: f32, f64, and i64 but for the mean.
  const bool integer = x.dtype == DType::i64 && op != OpKind::reduce_mean;
  if ((x.dtype != DType::f32 && x.dtype != DType::f64 && !integer) || out.dtype != x.dtype)
    return std::string("reductions run on the device in f32, f64 and i64");
  const Kind k = detail::kind_for(x.dtype);
  const auto* attrs = std::get_if<relax::ReduceAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("a reduction without its attributes");
  bool marked[kMaxRank] = {};
  if (attrs->axes.empty() && attrs->noop_with_empty_axes) return std::string("an identity reduction runs on the CPU");
  for (int a = 0; a < x.rank; ++a) marked[a] = attrs->axes.empty();
  for (std::int64_t axis : attrs->axes) {
    const int a = axis < 0 ? static_cast<int>(axis) + x.rank : static_cast<int>(axis);
    if (a < 0 || a >= x.rank || marked[a]) return std::string("an axis is out of range or repeated");
    marked[a] = true;
  }
  // The kept axes index the output (row-major over them); the reduced ones are walked.
  std::int64_t kept_dims[kMaxRank] = {}, reduced_dims[kMaxRank] = {};
  int kept[kMaxRank] = {}, reduced[kMaxRank] = {};
  int kept_rank = 0, reduced_rank = 0;
  std::int64_t reduced_count = 1;
  for (int a = 0; a < x.rank; ++a) {
    if (marked[a]) {
      reduced[reduced_rank] = a;
      reduced_dims[reduced_rank++] = x.dims[a];
      reduced_count *= x.dims[a];
    } else {
      kept[kept_rank] = a;
      kept_dims[kept_rank++] = x.dims[a];
    }
  }
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = out.elements();
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, shader.invocations);
  auto& m = e.module();
  const spirv::Id i = e.type_i32();
  spirv::Id base = e.i32(0);
  for (int r = 0; r < kept_rank; ++r) {
    const spirv::Id c = e.coordinate(e.element(), kept_dims, kept_rank, r);
    base = m.value(Op::i_add, i, {base, m.value(Op::i_mul, i, {c, e.i32(x.strides[kept[r]])})});
  }
  spirv::Id identity = 0;
  if (integer) {
    identity = op == OpKind::reduce_max   ? m.constant_i64(std::numeric_limits<std::int64_t>::lowest())
               : op == OpKind::reduce_min ? m.constant_i64(std::numeric_limits<std::int64_t>::max())
                                          : m.constant_i64(op == OpKind::reduce_prod ? 1 : 0);
  } else {
    identity = e.constant(k, op == OpKind::reduce_max   ? -std::numeric_limits<double>::infinity()
                             : op == OpKind::reduce_min ? std::numeric_limits<double>::infinity()
                             : op == OpKind::reduce_prod ? 1.0
                                                         : 0.0).id;
  }
  const spirv::Id acc = e.variable(k);
  m.code(Op::store, {acc, identity});
  const spirv::Id n = e.open_loop([&] { return e.i32(reduced_count); });
  spirv::Id at = base;
  for (int r = 0; r < reduced_rank; ++r) {
    const spirv::Id c = e.coordinate(n, reduced_dims, reduced_rank, r);
    at = m.value(Op::i_add, i, {at, m.value(Op::i_mul, i, {c, e.i32(x.strides[reduced[r]])})});
  }
  const spirv::Id v = e.load(0, at).id;
  const spirv::Id t = e.scalar(k);
  const spirv::Id old = m.value(Op::load, t, {acc});
  spirv::Id next = 0;
  switch (op) {
    case OpKind::reduce_max: next = e.pick(k, e.less(k, old, v), v, old); break;
    case OpKind::reduce_min: next = e.pick(k, e.less(k, v, old), v, old); break;
    case OpKind::reduce_prod: next = m.value(integer ? Op::i_mul : Op::f_mul, t, {old, v}); break;
    default: next = m.value(integer ? Op::i_add : Op::f_add, t, {old, v}); break;
  }
  m.code(Op::store, {acc, next});
  e.close();
  spirv::Id y = m.value(Op::load, t, {acc});
  if (op == OpKind::reduce_mean)  // 0 / 0 is NaN for an empty reduction, as on the CPU
    y = m.value(Op::f_div, t, {y, e.constant(k, static_cast<double>(reduced_count)).id});
  e.store(1, e.element(), {y, k});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// softmax and log_softmax along one axis, in f32: one invocation per row (every other axis)
// takes the row's maximum, the sum of the exponentials, then writes the row.
inline OpShaderResult softmax_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  if (call.op != OpKind::softmax && call.op != OpKind::log_softmax) return std::string("not softmax");
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (x.dtype != DType::f32 || out.dtype != DType::f32) return std::string("softmax runs on the device in f32 only");
  const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("softmax without its axis");
  const int axis = attrs->axis < 0 ? static_cast<int>(attrs->axis) + x.rank : static_cast<int>(attrs->axis);
  if (axis < 0 || axis >= x.rank) return std::string("the axis is out of range");
  const detail::AxisRows row = detail::rows_around(x, axis);
  const std::int64_t rows = row.count;
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = rows;
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, rows);
  auto& m = e.module();
  const spirv::Id f = e.type_f32(), i = e.type_i32();
  const spirv::Id in_base = detail::row_start(e, row, e.element(), x), out_base = detail::row_start(e, row, e.element(), out);
  const std::int64_t n = x.dims[axis];
  auto at = [&](spirv::Id base, spirv::Id j, std::int64_t stride) {
    return m.value(Op::i_add, i, {base, m.value(Op::i_mul, i, {j, e.i32(stride)})});
  };
  const spirv::Id hi = e.variable(Kind::f32), sum = e.variable(Kind::f32);
  m.code(Op::store, {hi, m.constant_f32(-std::numeric_limits<float>::infinity())});
  m.code(Op::store, {sum, m.constant_f32(0.0f)});
  {
    const spirv::Id j = e.open_loop([&] { return e.i32(n); });
    const spirv::Id v = e.load(0, at(in_base, j, x.strides[axis])).id;
    const spirv::Id old = m.value(Op::load, f, {hi});
    m.code(Op::store, {hi, e.pick(Kind::f32, e.less(Kind::f32, old, v), v, old)});
    e.close();
  }
  const spirv::Id top = m.value(Op::load, f, {hi});
  {
    const spirv::Id j = e.open_loop([&] { return e.i32(n); });
    const spirv::Id v = e.load(0, at(in_base, j, x.strides[axis])).id;
    const spirv::Id ex = m.ext(f, spirv::glsl::exp, {m.value(Op::f_sub, f, {v, top})});
    m.code(Op::store, {sum, m.value(Op::f_add, f, {m.value(Op::load, f, {sum}), ex})});
    e.close();
  }
  const spirv::Id total = m.value(Op::load, f, {sum});
  const spirv::Id log_total = m.ext(f, spirv::glsl::log, {total});
  {
    const spirv::Id j = e.open_loop([&] { return e.i32(n); });
    const spirv::Id v = e.load(0, at(in_base, j, x.strides[axis])).id;
    const spirv::Id shifted = m.value(Op::f_sub, f, {v, top});
    const spirv::Id y = call.op == OpKind::log_softmax ? m.value(Op::f_sub, f, {shifted, log_total})
                                                       : m.value(Op::f_div, f, {m.ext(f, spirv::glsl::exp, {shifted}), total});
    e.store(1, at(out_base, j, out.strides[axis]), {y, Kind::f32});
    e.close();
  }
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// ---- ops that move elements: each output element reads one input element ------------------

namespace detail {

// A shader whose invocation copies one element: `source(e, coords)` gives the input binding
// and the offset it reads for the output element at `coords`.
template <class Source>
OpShaderResult copy_shader(const std::vector<const vm::Slot*>& inputs, const vm::Slot& out, Source&& source) {
  for (const vm::Slot* in : inputs)
    if (!on_device(in)) return dtype_reason(*in);
  if (!on_device(&out)) return dtype_reason(out);
  OpShader shader;
  shader.inputs = inputs;
  shader.outputs = {&out};
  shader.invocations = out.elements();
  OpShaderEmitter e;
  std::vector<const vm::Slot*> slots = inputs;
  slots.push_back(&out);
  e.begin_elements(slots, shader.invocations);
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  const Value v = source(e, coords);
  e.store(static_cast<int>(inputs.size()), e.own_offset(coords, out), v);
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

inline spirv::Id add_term(OpShaderEmitter& e, spirv::Id sum, spirv::Id coord, std::int64_t stride) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id term = stride == 1 ? coord : m.value(Op::i_mul, e.type_i32(), {coord, e.i32(stride)});
  return m.value(Op::i_add, e.type_i32(), {sum, term});
}

// Whether `position` lies in [0, extent).
inline spirv::Id inside(OpShaderEmitter& e, spirv::Id position, std::int64_t extent) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id above = m.value(Op::s_greater_than_equal, e.type_bool(), {position, e.i32(0)});
  return m.value(Op::logical_and, e.type_bool(), {above, e.less(Kind::i32, position, e.i32(extent))});
}

// An index read from `indices` (i32 or i64) as i32, with a negative one counted from `extent`.
inline spirv::Id read_index(OpShaderEmitter& e, int binding, spirv::Id at, std::int64_t extent) {
  using spirv::Op;
  auto& m = e.module();
  const Value v = e.convert(e.load(binding, at), Kind::i32);
  const spirv::Id negative = e.less(Kind::i32, v.id, e.i32(0));
  return e.pick(Kind::i32, negative, m.value(Op::i_add, e.type_i32(), {v.id, e.i32(extent)}), v.id);
}

// Whether every index lies in [-extent, extent): checked on the host before the dispatch
// (the data is there), so that a bad index reaches the CPU kernel, which reports it.
inline bool indices_in_range(const vm::Slot& indices, std::int64_t extent) {
  const std::int64_t n = indices.elements();
  std::int64_t position[kMaxRank] = {};
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t offset = 0;
    for (int a = 0; a < indices.rank; ++a) offset += position[a] * indices.strides[a];
    const std::int64_t v = indices.dtype == DType::i64 ? indices.data_as<std::int64_t>()[offset]
                                                       : std::int64_t{indices.data_as<std::int32_t>()[offset]};
    if (v < -extent || v >= extent) return false;
    for (int a = indices.rank; a-- > 0;) {
      if (++position[a] < indices.dims[a]) break;
      position[a] = 0;
    }
  }
  return true;
}

} // namespace detail

// cast between the dtypes Vulkan buffers hold, with C++'s conversions.
inline OpShaderResult cast_shader(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  // Float to an 8-bit integer truncates to i32 first, then keeps the low bits (values past the
  // integer's range are undefined in C++ too).
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    detail::Value v = e.load(0, e.broadcast_offset(coords, x));
    // To a narrower float or integer the store converts; to bool "not zero".
    if (out.dtype == DType::boolean) v = e.convert(v, detail::Kind::boolean);
    return v;
  });
}

inline OpShaderResult transpose_shader(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* attrs = std::get_if<relax::PermAttrs>(call.attrs);
  if (attrs == nullptr || out.rank != x.rank) return std::string("transpose without its permutation");
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    spirv::Id at = e.i32(0);
    for (int i = 0; i < out.rank; ++i) {
      const std::int64_t p = attrs->perm.empty() ? x.rank - 1 - i : attrs->perm[i];
      const int from = static_cast<int>(p < 0 ? p + x.rank : p);
      at = detail::add_term(e, at, coords[static_cast<std::size_t>(i)], x.strides[from]);
    }
    return e.load(0, at);
  });
}

inline OpShaderResult slice_shader(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* a = std::get_if<relax::SliceAttrs>(call.attrs);
  if (a == nullptr || out.rank != x.rank) return std::string("slice without its attributes");
  std::int64_t start[kMaxRank] = {}, step[kMaxRank] = {};
  for (int i = 0; i < x.rank; ++i) step[i] = 1;
  for (int i = 0; i < a->starts.size(); ++i) {
    const std::int64_t axis_attr = a->axes.empty() ? i : a->axes[i];
    const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + x.rank : axis_attr);
    if (axis < 0 || axis >= x.rank) return std::string("a slice axis is out of range");
    const std::int64_t st = a->steps.empty() ? 1 : a->steps[i];
    if (st == 0) return std::string("a slice step is 0");
    const vm::movement_detail::SliceAxis s = vm::movement_detail::slice_axis(x.dims[axis], a->starts[i], a->ends[i], st);
    if (s.count != out.dims[axis]) return std::string("the output does not fit the slice");
    start[axis] = s.start;
    step[axis] = st;
  }
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    std::int64_t base = 0;
    for (int i = 0; i < x.rank; ++i) base += start[i] * x.strides[i];
    spirv::Id at = e.i32(base);
    for (int i = 0; i < x.rank; ++i) at = detail::add_term(e, at, coords[static_cast<std::size_t>(i)], step[i] * x.strides[i]);
    return e.load(0, at);
  });
}

// pad (constant mode): an output element reads the input element its coordinates minus the
// leading pads reach, or is the value outside the input (negative pads crop).
inline OpShaderResult pad_shader(const vm::OpCall& call) {
  using spirv::Op;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* a = std::get_if<relax::PadAttrs>(call.attrs);
  if (a == nullptr || out.rank != x.rank || out.dtype != x.dtype) return std::string("pad without its attributes");
  const int n = a->axes.empty() ? x.rank : a->axes.size();
  if (a->pads.size() != 2 * n) return std::string("pads does not fit the axes");
  std::int64_t begin[kMaxRank] = {}, end[kMaxRank] = {};
  for (int i = 0; i < n; ++i) {
    const std::int64_t attr_axis = a->axes.empty() ? i : a->axes[i];
    const int axis = static_cast<int>(attr_axis < 0 ? attr_axis + x.rank : attr_axis);
    if (axis < 0 || axis >= x.rank) return std::string("a pad axis is out of range");
    begin[axis] = a->pads[i];
    end[axis] = a->pads[n + i];
  }
  for (int axis = 0; axis < x.rank; ++axis)  // unpadded axes included, as the CPU kernel checks
    if (out.dims[axis] != x.dims[axis] + begin[axis] + end[axis]) return std::string("the output does not fit the pads");
  if (x.elements() == 0) return std::string("padding an empty input");
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    auto& m = e.module();
    spirv::Id inside = m.constant_bool(true);
    spirv::Id at = e.i32(0);
    for (int i = 0; i < x.rank; ++i) {
      const spirv::Id c = m.value(Op::i_sub, e.type_i32(), {coords[static_cast<std::size_t>(i)], e.i32(begin[i])});
      inside = m.value(Op::logical_and, e.type_bool(), {inside, detail::inside(e, c, x.dims[i])});
      at = detail::add_term(e, at, c, x.strides[i]);
    }
    const detail::Value v = e.load(0, e.pick(detail::Kind::i32, inside, at, e.i32(0)));
    return detail::Value{e.pick(v.kind, inside, v.id, e.constant(v.kind, a->value).id), v.kind};
  });
}

namespace detail {
// The data axis gather and gather_elements index, once their indices are checked (i32 or i64,
// every one inside the axis); or why the CPU kernel runs the call.
inline std::variant<int, std::string> indexed_axis(const vm::OpCall& call) {
  const vm::Slot& data = *call.input(0);
  const vm::Slot& indices = *call.input(1);
  const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("no axis attribute");
  const int axis = static_cast<int>(attrs->axis < 0 ? attrs->axis + data.rank : attrs->axis);
  if (axis < 0 || axis >= data.rank) return std::string("the axis is out of range");
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64) return std::string("indices must be i32 or i64");
  if (!indices_in_range(indices, data.dims[axis])) return std::string("an index is out of range");
  return axis;
}
} // namespace detail

inline OpShaderResult gather_shader(const vm::OpCall& call) {
  const vm::Slot& data = *call.input(0);
  const vm::Slot& indices = *call.input(1);
  const vm::Slot& out = call.output();
  const auto checked = detail::indexed_axis(call);
  if (const auto* why = std::get_if<std::string>(&checked)) return *why;
  const int axis = std::get<int>(checked);
  const int ri = indices.rank;
  if (out.rank != data.rank - 1 + ri) return std::string("gather's shapes do not fit");
  return detail::copy_shader({&data, &indices}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    spirv::Id index_at = e.i32(0);
    for (int a = 0; a < ri; ++a) index_at = detail::add_term(e, index_at, coords[static_cast<std::size_t>(axis + a)], indices.strides[a]);
    const spirv::Id index = detail::read_index(e, 1, index_at, data.dims[axis]);
    spirv::Id at = detail::add_term(e, e.i32(0), index, data.strides[axis]);
    for (int a = 0; a < data.rank; ++a) {
      if (a == axis) continue;
      at = detail::add_term(e, at, coords[static_cast<std::size_t>(a < axis ? a : a + ri - 1)], data.strides[a]);
    }
    return e.load(0, at);
  });
}

inline OpShaderResult gather_elements_shader(const vm::OpCall& call) {
  const vm::Slot& data = *call.input(0);
  const vm::Slot& indices = *call.input(1);
  const vm::Slot& out = call.output();
  const auto checked = detail::indexed_axis(call);
  if (const auto* why = std::get_if<std::string>(&checked)) return *why;
  const int axis = std::get<int>(checked);
  if (indices.rank != data.rank || out.rank != data.rank) return std::string("gather_elements' shapes do not fit");
  return detail::copy_shader({&data, &indices}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    const spirv::Id index = detail::read_index(e, 1, e.broadcast_offset(coords, indices), data.dims[axis]);
    spirv::Id at = detail::add_term(e, e.i32(0), index, data.strides[axis]);
    for (int a = 0; a < data.rank; ++a)
      if (a != axis) at = detail::add_term(e, at, coords[static_cast<std::size_t>(a)], data.strides[a]);
    return e.load(0, at);
  });
}

// concat: each output element reads the input whose range along the axis holds it.
inline OpShaderResult concat_shader(const vm::OpCall& call) {
  using spirv::Op;
  const vm::Slot& out = call.output();
  const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("concat without its axis");
  const int axis = static_cast<int>(attrs->axis < 0 ? attrs->axis + out.rank : attrs->axis);
  std::vector<const vm::Slot*> inputs;
  for (const vm::Slot* in : call.inputs) {
    if (in == nullptr || in->rank != out.rank || in->dtype != out.dtype) return std::string("concat's inputs do not fit");
    inputs.push_back(in);
  }
  if (inputs.size() + 1 > static_cast<std::size_t>(kMaxBindings)) return std::string("concat of too many inputs");
  if (!detail::on_device(&out)) return detail::dtype_reason(out);
  const detail::Kind k = detail::kind_for(out.dtype);
  return detail::copy_shader(inputs, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    auto& m = e.module();
    const spirv::Id result = e.variable(k);
    const spirv::Id c = coords[static_cast<std::size_t>(axis)];
    std::int64_t first = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const vm::Slot& in = *inputs[i];
      const std::int64_t last = first + in.dims[axis];
      if (in.dims[axis] > 0) {
        const spirv::Id above = m.value(Op::s_greater_than_equal, e.type_bool(), {c, e.i32(first)});
        const spirv::Id below = e.less(detail::Kind::i32, c, e.i32(last));
        e.open_if(m.value(Op::logical_and, e.type_bool(), {above, below}));
        spirv::Id at = detail::add_term(e, e.i32(0), m.value(Op::i_sub, e.type_i32(), {c, e.i32(first)}), in.strides[axis]);
        for (int a = 0; a < out.rank; ++a)
          if (a != axis) at = detail::add_term(e, at, coords[static_cast<std::size_t>(a)], in.strides[a]);
        m.code(Op::store, {result, e.convert(e.load(static_cast<int>(i), at), k).id});
        e.close();
      }
      first = last;
    }
    return detail::Value{m.value(Op::load, e.scalar(k), {result}), k};
  });
}

// argmax and argmin along one axis (the first of equal values), and hardmax (1 at that
// first maximum, 0 elsewhere): one invocation per row.
inline OpShaderResult arg_reduce_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const bool hard = call.op == OpKind::hardmax;
  const bool largest = call.op != OpKind::argmin;
  std::int64_t attr_axis = 0;
  if (hard) {
    const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
    if (attrs == nullptr) return std::string("hardmax without its axis");
    attr_axis = attrs->axis;
  } else {
    const auto* attrs = std::get_if<relax::ArgReduceAttrs>(call.attrs);
    if (attrs == nullptr) return std::string("an arg reduction without its axis");
    attr_axis = attrs->axis;
  }
  const int axis = static_cast<int>(attr_axis < 0 ? attr_axis + x.rank : attr_axis);
  if (axis < 0 || axis >= x.rank || x.dims[axis] == 0) return std::string("the axis is out of range or empty");
  if (x.dtype != DType::f32 && x.dtype != DType::i32 && x.dtype != DType::i64) return detail::dtype_reason(x);
  if (hard ? out.dtype != x.dtype : out.dtype != DType::i64) return std::string("an unexpected output dtype");
  const Kind k = detail::kind_for(x.dtype);
  const detail::AxisRows row = detail::rows_around(x, axis);
  const std::int64_t rows = row.count;
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = rows;
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, rows);
  auto& m = e.module();
  const spirv::Id i32 = e.type_i32();
  const spirv::Id in_base = detail::row_start(e, row, e.element(), x);
  const spirv::Id best = e.variable(k), best_index = e.variable(Kind::i32);
  m.code(Op::store, {best, e.load(0, in_base).id});
  m.code(Op::store, {best_index, e.i32(0)});
  {
    const spirv::Id j = e.open_loop([&] { return e.i32(x.dims[axis]); });
    const spirv::Id v = e.load(0, detail::add_term(e, in_base, j, x.strides[axis])).id;
    const spirv::Id held = m.value(Op::load, e.scalar(k), {best});
    const spirv::Id better = largest ? e.less(k, held, v) : e.less(k, v, held);
    m.code(Op::store, {best, e.pick(k, better, v, held)});
    m.code(Op::store, {best_index, e.pick(Kind::i32, better, j, m.value(Op::load, i32, {best_index}))});
    e.close();
  }
  const spirv::Id index = m.value(Op::load, i32, {best_index});
  if (!hard) {
    e.store(1, e.element(), {index, Kind::i32});  // the output is the rows, row-major
  } else {
    const spirv::Id out_base = detail::row_start(e, row, e.element(), out);
    const spirv::Id j = e.open_loop([&] { return e.i32(x.dims[axis]); });
    const spirv::Id hit = m.value(Op::i_equal, e.type_bool(), {j, index});
    e.store(1, detail::add_term(e, out_base, j, out.strides[axis]), e.convert({hit, Kind::boolean}, k));
    e.close();
  }
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// cumsum along one axis (exclusive, reverse): one invocation per row walks it.
inline OpShaderResult cumsum_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* attrs = std::get_if<relax::CumSumAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("cumsum without its attributes");
  const int axis = static_cast<int>(attrs->axis < 0 ? attrs->axis + x.rank : attrs->axis);
  if (axis < 0 || axis >= x.rank) return std::string("the axis is out of range");
  if ((x.dtype != DType::f32 && x.dtype != DType::f64 && x.dtype != DType::i32 && x.dtype != DType::i64) || out.dtype != x.dtype)
    return detail::dtype_reason(x);
  const Kind k = detail::kind_for(x.dtype);
  const detail::AxisRows row = detail::rows_around(x, axis);
  const std::int64_t rows = row.count;
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = rows;
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, rows);
  auto& m = e.module();
  const spirv::Id in_base = detail::row_start(e, row, e.element(), x), out_base = detail::row_start(e, row, e.element(), out);
  const std::int64_t n = x.dims[axis];
  const spirv::Id sum = e.variable(k);
  m.code(Op::store, {sum, e.zero(k)});
  const spirv::Id step = e.open_loop([&] { return e.i32(n); });
  const spirv::Id j = attrs->reverse ? m.value(Op::i_sub, e.type_i32(), {e.i32(n - 1), step}) : step;
  const spirv::Id v = e.load(0, detail::add_term(e, in_base, j, x.strides[axis])).id;
  const spirv::Id before = m.value(Op::load, e.scalar(k), {sum});
  const spirv::Id after = m.value(ShaderBuilder::is_float(k) ? Op::f_add : Op::i_add, e.scalar(k), {before, v});
  m.code(Op::store, {sum, after});
  e.store(1, detail::add_term(e, out_base, j, out.strides[axis]), {attrs->exclusive ? before : after, k});
  e.close();
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// tile: output coordinate c reads input coordinate c mod the input's extent.
inline OpShaderResult tile_shader(const vm::OpCall& call) {
  using spirv::Op;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (out.rank != x.rank) return std::string("tile's ranks differ");
  for (int a = 0; a < x.rank; ++a)
    if (x.dims[a] == 0 || out.dims[a] % x.dims[a] != 0) return std::string("tile's output is not a multiple of its input");
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    spirv::Id at = e.i32(0);
    for (int a = 0; a < x.rank; ++a) {
      const spirv::Id c = x.dims[a] == out.dims[a] ? coords[static_cast<std::size_t>(a)]
                                                   : e.module().value(Op::s_rem, e.type_i32(), {coords[static_cast<std::size_t>(a)], e.i32(x.dims[a])});
      at = detail::add_term(e, at, c, x.strides[a]);
    }
    return e.load(0, at);
  });
}

// ---- windows: max/average pooling and convolution, 1-D to 3-D --------------------------------

namespace detail {

// One spatial axis of a window as the shader needs it (a missing axis has extent 1).
struct WindowAxis {
  std::int64_t in = 1, out = 1, kernel = 1, stride = 1, dilation = 1, pad_begin = 0, pad_end = 0;
  std::int64_t x_stride = 0, w_stride = 0;  // of the input and the weight, in elements
};

// The input position of tap `k` of output position `o` along `a`.
inline spirv::Id tap_position(OpShaderEmitter& e, const WindowAxis& a, spirv::Id o, spirv::Id k) {
  using spirv::Op;
  auto& m = e.module();
  const spirv::Id start = m.value(Op::i_sub, e.type_i32(), {m.value(Op::i_mul, e.type_i32(), {o, e.i32(a.stride)}), e.i32(a.pad_begin)});
  return m.value(Op::i_add, e.type_i32(), {start, m.value(Op::i_mul, e.type_i32(), {k, e.i32(a.dilation)})});
}

} // namespace detail

// max_pool and average_pool (f32): one invocation per output element visits its window.
inline OpShaderResult pool_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* attrs = std::get_if<relax::PoolAttrs>(call.attrs);
  if (attrs == nullptr || x.rank < 3 || x.rank > 5 || out.rank != x.rank) return std::string("a pool of this rank runs on the CPU");
  if (x.dtype != DType::f32 || out.dtype != DType::f32) return std::string("pools run on the device in f32 only");
  vm::pool_impl::Geometry g;
  if (!vm::pool_impl::check_pool_attrs(call.op, *attrs, x.rank - 2).ok() || !vm::pool_impl::resolve_geometry(call, *attrs, x, out, g).ok())
    return std::string("the CPU kernel reports the window's error");
  const int spatial = x.rank - 2;
  detail::WindowAxis axes[3];
  for (int i = 0; i < spatial; ++i) {
    const vm::pool_impl::Axis& a = g.spatial_axis(spatial, i);
    axes[i] = {a.in, a.out, a.kernel, a.stride, a.dilation, a.pad_begin, a.pad_end, x.strides[2 + i], 0};
  }
  const bool max = call.op == OpKind::max_pool;
  const bool count_padding = attrs->count_include_pad && !max;
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = out.elements();
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, shader.invocations);
  auto& m = e.module();
  const spirv::Id f = e.type_f32(), i32 = e.type_i32();
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  spirv::Id base = detail::add_term(e, e.i32(0), coords[0], x.strides[0]);
  base = detail::add_term(e, base, coords[1], x.strides[1]);
  const spirv::Id acc = e.variable(Kind::f32), count = e.variable(Kind::i32);
  m.code(Op::store, {acc, m.constant_f32(max ? -std::numeric_limits<float>::infinity() : 0.0f)});
  m.code(Op::store, {count, e.i32(0)});
  std::vector<spirv::Id> positions;
  spirv::Id all_inside = m.constant_bool(true);
  spirv::Id at = base;
  for (int i = 0; i < spatial; ++i) {
    const detail::WindowAxis& a = axes[i];
    const spirv::Id k = e.open_loop([&] { return e.i32(a.kernel); });
    const spirv::Id pos = detail::tap_position(e, a, coords[static_cast<std::size_t>(2 + i)], k);
    all_inside = m.value(Op::logical_and, e.type_bool(), {all_inside, detail::inside(e, pos, a.in)});
    positions.push_back(pos);
  }
  e.open_if(all_inside);
  for (int i = 0; i < spatial; ++i) at = detail::add_term(e, at, positions[static_cast<std::size_t>(i)], axes[i].x_stride);
  const spirv::Id v = e.load(0, at).id;
  const spirv::Id held = m.value(Op::load, f, {acc});
  m.code(Op::store, {acc, max ? e.pick(Kind::f32, e.less(Kind::f32, held, v), v, held) : m.value(Op::f_add, f, {held, v})});
  m.code(Op::store, {count, m.value(Op::i_add, i32, {m.value(Op::load, i32, {count}), e.i32(1)})});
  e.close();                                          // the if
  for (int i = 0; i < spatial; ++i) e.close();        // the tap loops
  spirv::Id y = m.value(Op::load, f, {acc});
  if (!max) {
    spirv::Id n = m.value(Op::load, i32, {count});
    if (count_padding) {  // the taps inside the padded input, per axis
      n = e.i32(1);
      for (int i = 0; i < spatial; ++i) {
        const detail::WindowAxis& a = axes[i];
        const spirv::Id start = m.value(Op::i_sub, i32, {m.value(Op::i_mul, i32, {coords[static_cast<std::size_t>(2 + i)], e.i32(a.stride)}), e.i32(a.pad_begin)});
        const spirv::Id room = m.value(Op::i_sub, i32, {e.i32(a.in + a.pad_end), start});
        const spirv::Id taps = m.value(Op::s_div, i32, {m.value(Op::i_add, i32, {room, e.i32(a.dilation - 1)}), e.i32(a.dilation)});
        const spirv::Id capped = e.pick(Kind::i32, e.less(Kind::i32, taps, e.i32(a.kernel)), taps, e.i32(a.kernel));
        n = m.value(Op::i_mul, i32, {n, e.pick(Kind::i32, e.less(Kind::i32, room, e.i32(1)), e.i32(0), capped)});
      }
    }
    const spirv::Id nf = m.value(Op::convert_s_to_f, f, {n});
    const spirv::Id positive = e.less(Kind::i32, e.i32(0), n);
    y = e.pick(Kind::f32, positive, m.value(Op::f_div, f, {y, nf}), m.constant_f32(0.0f));
  }
  e.store(1, e.own_offset(coords, out), {y, Kind::f32});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

namespace detail {

// conv and conv_transpose (f32, groups, optional bias) share one shader: each output element
// sums, over the input channels of its group and the window's taps, input times weight. A
// conv's tap reads input position o * stride + k * dilation - pad_begin; a transposed conv's
// output position o gathers input position i where o = i * stride + k * dilation - pad_begin.
inline OpShaderResult window_product_shader(const vm::OpCall& call, const vm::linear_detail::WindowGeometry& g, bool transposed) {
  using spirv::Op;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& weight = *call.input(1);
  const vm::Slot* bias = call.input(2);
  const vm::Slot& out = call.output();
  const int spatial = x.rank - 2;
  WindowAxis axes[3];
  for (int i = 0; i < spatial; ++i) {
    const vm::linear_detail::Axis& a = *std::array<const vm::linear_detail::Axis*, 3>{&g.d, &g.h, &g.w}[static_cast<std::size_t>(3 - spatial + i)];
    axes[i] = {a.in, a.out, a.kernel, a.stride, a.dilation, a.pad_begin, 0, x.strides[2 + i], weight.strides[2 + i]};
  }
  OpShader shader;
  shader.inputs = {&x, &weight};
  if (bias != nullptr) shader.inputs.push_back(bias);
  shader.outputs = {&out};
  shader.invocations = out.elements();
  OpShaderEmitter e;
  std::vector<const vm::Slot*> slots = shader.inputs;
  slots.push_back(&out);
  e.begin_elements(slots, shader.invocations);
  auto& m = e.module();
  const spirv::Id f = e.type_f32(), i32 = e.type_i32(), boolean = e.type_bool();
  const std::vector<spirv::Id> coords = e.coordinates(e.element(), out);
  const spirv::Id channel = coords[1];
  const spirv::Id group = m.value(Op::s_div, i32, {channel, e.i32(g.out_per_group)});
  const spirv::Id first = m.value(Op::i_mul, i32, {group, e.i32(g.in_per_group)});
  const spirv::Id sum = e.variable(Kind::f32);
  m.code(Op::store, {sum, m.constant_f32(0.0f)});
  const spirv::Id c = e.open_loop([&] { return e.i32(g.in_per_group); });
  const spirv::Id in_channel = m.value(Op::i_add, i32, {first, c});
  spirv::Id x_at = add_term(e, add_term(e, e.i32(0), coords[0], x.strides[0]), in_channel, x.strides[1]);
  // The weight is [out, in / groups, taps...] for a conv, [in, out / groups, taps...] transposed.
  spirv::Id w_at = transposed
                       ? add_term(e, add_term(e, e.i32(0), in_channel, weight.strides[0]),
                                  m.value(Op::s_rem, i32, {channel, e.i32(g.out_per_group)}), weight.strides[1])
                       : add_term(e, add_term(e, e.i32(0), channel, weight.strides[0]), c, weight.strides[1]);
  spirv::Id valid = m.constant_bool(true);
  for (int i = 0; i < spatial; ++i) {
    const WindowAxis& a = axes[i];
    const spirv::Id tap = e.open_loop([&] { return e.i32(a.kernel); });
    const spirv::Id o = coords[static_cast<std::size_t>(2 + i)];
    spirv::Id position = 0, ok = 0;
    if (!transposed) {
      position = tap_position(e, a, o, tap);
      ok = inside(e, position, a.in);
    } else {
      const spirv::Id reach = m.value(Op::i_sub, i32, {m.value(Op::i_add, i32, {o, e.i32(a.pad_begin)}), m.value(Op::i_mul, i32, {tap, e.i32(a.dilation)})});
      position = m.value(Op::s_div, i32, {reach, e.i32(a.stride)});
      const spirv::Id exact = m.value(Op::i_equal, boolean, {m.value(Op::i_mul, i32, {position, e.i32(a.stride)}), reach});
      ok = m.value(Op::logical_and, boolean, {exact, inside(e, position, a.in)});
    }
    valid = m.value(Op::logical_and, boolean, {valid, ok});
    x_at = add_term(e, x_at, position, a.x_stride);
    w_at = add_term(e, w_at, tap, a.w_stride);
  }
  e.open_if(valid);
  const spirv::Id product = m.value(Op::f_mul, f, {e.load(0, x_at).id, e.load(1, w_at).id});
  m.code(Op::store, {sum, m.value(Op::f_add, f, {m.value(Op::load, f, {sum}), product})});
  e.close();
  for (int i = 0; i < spatial; ++i) e.close();
  e.close();  // the channels
  spirv::Id y = m.value(Op::load, f, {sum});
  if (bias != nullptr) y = m.value(Op::f_add, f, {y, e.load(2, add_term(e, e.i32(0), channel, bias->strides[0])).id});
  e.store(static_cast<int>(shader.inputs.size()), e.own_offset(coords, out), {y, Kind::f32});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

inline bool all_f32(const vm::OpCall& call) {
  for (const vm::Slot* s : {call.input(0), call.input(1), call.input(2), &call.output()})
    if (s != nullptr && s->dtype != DType::f32) return false;
  return true;
}

} // namespace detail

inline OpShaderResult conv_shader(const vm::OpCall& call) {
  if (!detail::all_f32(call)) return std::string("conv runs on the device in f32 only");
  vm::linear_detail::WindowGeometry g;
  if (!vm::linear_detail::plan_conv_geometry(call, g).ok()) return std::string("the CPU kernel reports the window's error");
  return detail::window_product_shader(call, g, false);
}

inline OpShaderResult conv_transpose_shader(const vm::OpCall& call) {
  if (!detail::all_f32(call)) return std::string("conv_transpose runs on the device in f32 only");
  vm::linear_detail::TransposePlan plan;
  if (!vm::linear_detail::plan_conv_transpose(call, plan).ok()) return std::string("the CPU kernel reports the window's error");
  return detail::window_product_shader(call, plan.g, true);
}

// expand: NumPy broadcasting of one input to the output's shape.
inline OpShaderResult expand_shader(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (out.rank < x.rank || out.dtype != x.dtype) return std::string("expand's shapes do not fit");
  return detail::copy_shader({&x}, out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
    return e.load(0, e.broadcast_offset(coords, x));
  });
}

// global_max_pool and global_average_pool (f32): one invocation per image and channel.
inline OpShaderResult global_pool_shader(const vm::OpCall& call) {
  using spirv::Op;
  using detail::Kind;
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  if (x.dtype != DType::f32 || out.dtype != DType::f32 || x.rank < 2) return std::string("global pools run on the device in f32 only");
  const bool max = call.op == OpKind::global_max_pool;
  std::int64_t plane = 1;
  for (int a = 2; a < x.rank; ++a) plane *= x.dims[a];
  OpShader shader;
  shader.inputs = {&x};
  shader.outputs = {&out};
  shader.invocations = x.dims[0] * x.dims[1];
  if (out.elements() != shader.invocations) return std::string("the output does not fit the pool");
  OpShaderEmitter e;
  e.begin_elements({&x, &out}, shader.invocations);
  auto& m = e.module();
  const spirv::Id f = e.type_f32();
  const std::int64_t planes[2] = {x.dims[0], x.dims[1]};
  spirv::Id base = detail::add_term(e, e.i32(0), e.coordinate(e.element(), planes, 2, 0), x.strides[0]);
  base = detail::add_term(e, base, e.coordinate(e.element(), planes, 2, 1), x.strides[1]);
  const spirv::Id acc = e.variable(Kind::f32);
  m.code(Op::store, {acc, m.constant_f32(max ? -std::numeric_limits<float>::infinity() : 0.0f)});
  const spirv::Id p = e.open_loop([&] { return e.i32(plane); });
  spirv::Id at = base;
  for (int a = 2; a < x.rank; ++a) at = detail::add_term(e, at, e.coordinate(p, x.dims + 2, x.rank - 2, a - 2), x.strides[a]);
  const spirv::Id v = e.load(0, at).id;
  const spirv::Id held = m.value(Op::load, f, {acc});
  m.code(Op::store, {acc, max ? e.pick(Kind::f32, e.less(Kind::f32, held, v), v, held) : m.value(Op::f_add, f, {held, v})});
  e.close();
  spirv::Id y = m.value(Op::load, f, {acc});
  if (!max) y = plane > 0 ? m.value(Op::f_div, f, {y, m.constant_f32(static_cast<float>(plane))}) : m.constant_f32(0.0f);
  e.store(1, e.element(), {y, Kind::f32});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// shape_of: the input's extents from start to end, as i64 constants of the module.
inline OpShaderResult shape_of_shader(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const vm::Slot& out = call.output();
  const auto* a = std::get_if<relax::ShapeOfAttrs>(call.attrs);
  if (a == nullptr || out.dtype != DType::i64 || out.rank != 1) return std::string("shape_of without its attributes");
  const auto clamp = [&](std::int64_t v) -> std::int64_t {
    if (v < 0) v = v < -x.rank ? 0 : v + x.rank;
    return std::min<std::int64_t>(v, x.rank);
  };
  const std::int64_t start = clamp(a->start);
  if (out.dims[0] != std::max<std::int64_t>(clamp(a->end) - start, 0)) return std::string("the output does not fit");
  OpShader shader;
  shader.outputs = {&out};
  shader.invocations = out.dims[0];
  OpShaderEmitter e;
  e.begin_elements({&out}, shader.invocations);
  spirv::Id v = e.constant(detail::Kind::i64, 0).id;
  for (std::int64_t i = 0; i < out.dims[0]; ++i) {
    const spirv::Id here = e.module().value(spirv::Op::i_equal, e.type_bool(), {e.element(), e.i32(i)});
    v = e.pick(detail::Kind::i64, here, e.module().constant_i64(x.dims[start + i]), v);
  }
  e.store(0, detail::add_term(e, e.i32(0), e.element(), out.strides[0]), {v, detail::Kind::i64});
  shader.words = e.finish(kGroupSize, 1, 1);
  return shader;
}

// split: one copy shader per output, each reading its range of the split axis.
inline std::variant<std::vector<OpShader>, std::string> split_shaders(const vm::OpCall& call) {
  const vm::Slot& x = *call.input(0);
  const auto* attrs = std::get_if<relax::SplitAttrs>(call.attrs);
  if (attrs == nullptr) return std::string("split without its axis");
  const int axis = static_cast<int>(attrs->axis < 0 ? attrs->axis + x.rank : attrs->axis);
  if (axis < 0 || axis >= x.rank) return std::string("the axis is out of range");
  std::vector<OpShader> shaders;
  std::int64_t first = 0;
  for (const vm::Slot* out : call.outputs) {
    if (out->rank != x.rank || out->dtype != x.dtype) return std::string("split's outputs do not fit");
    OpShaderResult r = detail::copy_shader({&x}, *out, [&](OpShaderEmitter& e, const std::vector<spirv::Id>& coords) {
      spirv::Id at = e.i32(first * x.strides[axis]);
      for (int a = 0; a < x.rank; ++a) at = detail::add_term(e, at, coords[static_cast<std::size_t>(a)], x.strides[a]);
      return e.load(0, at);
    });
    if (auto* why = std::get_if<std::string>(&r)) return std::move(*why);
    shaders.push_back(std::move(std::get<OpShader>(r)));
    first += out->dims[axis];
  }
  if (first != x.dims[axis]) return std::string("the outputs do not add up to the input");
  return shaders;
}

} // namespace kiln::vulkan::vm_ops
