// kiln/backend/vulkan/shader_builder.hpp: the parts of a compute shader that do not depend on
// where its loops and expressions come from: the element types buffers store and the kinds
// values compute in (f32, i32, bool), conversions and arithmetic with C++'s semantics, GLSL's
// math functions, storage buffers and push constants, workgroup and invocation ids, and
// structured control flow (loops and selections). The tensor-expression emitter
// (shader_codegen.hpp) builds on it; so can a shader written for one concrete op call.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../core/float16.hpp"
#include "shader_features.hpp"
#include "spirv/module_builder.hpp"

namespace kiln::vulkan {

inline constexpr int kMaxBindings = 32;
inline constexpr int kMaxConstructs = 48;

class ShaderBuilder {
 public:
  // i64 needs the Int64 capability, f64 the Float64 one (a module with an f64 buffer has it).
  enum class Kind : std::uint8_t { f32, i32, boolean, i64, f64 };
  static constexpr bool is_float(Kind k) { return k == Kind::f32 || k == Kind::f64; }
  struct Value {
    spirv::Id id = 0;
    Kind kind = Kind::f32;
  };
  // How a buffer stores its elements; loads widen them to the kind they compute in.
  // u32 computes in i64 (its values all fit), so it needs the Int64 capability too.
  enum class Storage : std::uint8_t { f32, i32, f16, i8, u8, i64, f64, i16, u16, u32 };
  template <class T>
  static constexpr Storage storage_of() {
    if constexpr (std::is_same_v<T, float>) return Storage::f32;
    else if constexpr (std::is_same_v<T, std::int32_t>) return Storage::i32;
    else if constexpr (std::is_same_v<T, f16>) return Storage::f16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return Storage::i8;
    else if constexpr (std::is_same_v<T, std::int64_t>) return Storage::i64;
    else if constexpr (std::is_same_v<T, double>) return Storage::f64;
    else return Storage::u8;
  }

  // What a buffer of this storage asks of the device (and the module's capabilities).
  static constexpr ShaderFeatures features_of(Storage s) {
    ShaderFeatures f;
    f.storage_16bit = s == Storage::f16 || s == Storage::i16 || s == Storage::u16;
    f.storage_8bit = s == Storage::i8 || s == Storage::u8;
    f.int64 = s == Storage::i64 || s == Storage::u32;
    f.float64 = s == Storage::f64;
    return f;
  }

  // The module's capabilities and types, then the function's first block. `storages` are the
  // buffers' element types, by binding.
  constexpr void begin(const Storage* storages, int buffer_count, int push_constant_words) {
    using namespace spirv;
    ShaderFeatures needs;
    for (int b = 0; b < buffer_count; ++b) needs.add(features_of(storages[b]));
    m_.capability(capability::shader);
    if (needs.int64) m_.capability(capability::int64);
    if (needs.float64) m_.capability(capability::float64);
    if (needs.storage_16bit) m_.capability(capability::storage_buffer_16bit_access);
    if (needs.storage_8bit) {
      m_.capability(capability::storage_buffer_8bit_access);
      m_.extension("SPV_KHR_8bit_storage");
    }
    t_void_ = m_.type_void();
    t_bool_ = m_.type_bool();
    t_i32_ = m_.type_int(32, true);
    t_u32_ = m_.type_int(32, false);
    t_f32_ = m_.type_float(32);
    for (int b = 0; b < buffer_count; ++b) add_buffer(storages[b]);
    if (push_constant_words > 0) {
      const Id array = m_.type_array(t_i32_, m_.constant_u32(static_cast<std::uint32_t>(push_constant_words)), 4);
      const Id block = m_.type_block(array);
      push_constants_ = m_.global_variable(m_.type_pointer(storage::push_constant, block), storage::push_constant);
      m_.name(push_constants_, "extents");
    }
    const Id uvec3 = m_.type_pointer(storage::input, m_.type_vector(t_u32_, 3));
    auto built_in = [&](std::uint32_t which, std::string_view name) {
      const Id var = m_.global_variable(uvec3, storage::input);
      m_.decorate(var, decoration::built_in, {which});
      m_.name(var, name);
      return var;
    };
    workgroup_id_ = built_in(built_in::workgroup_id, "workgroup_id");
    local_id_ = built_in(built_in::local_invocation_id, "local_id");
    workgroup_count_ = built_in(built_in::num_workgroups, "workgroup_count");
    function_ = m_.fresh();
    function_type_ = m_.type_function(t_void_);
    m_.name(function_, "main");
    m_.entry_label();
  }
  // Closes what is open and returns the module, whose workgroups are x * y * z invocations.
  constexpr std::vector<std::uint32_t> finish(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
    while (depth_ > 0) close();
    m_.code(spirv::Op::return_, {});
    m_.compute_entry_point(function_, "main", {workgroup_id_, local_id_, workgroup_count_}, x, y, z);
    return m_.finish(function_, function_type_);
  }
  // Names a buffer's variable (spirv-dis shows it).
  constexpr void name_buffer(int binding, std::string_view name) { m_.name(buffer_var_[binding], name); }

  // ---- ids -----------------------------------------------------------------------------
  // Component c (0 = x) of the workgroup id, the invocation id in the workgroup and the
  // workgroup count, as i32.
  constexpr spirv::Id workgroup_id(std::uint32_t c) { return component(workgroup_id_, c); }
  constexpr spirv::Id local_id(std::uint32_t c) { return component(local_id_, c); }
  constexpr spirv::Id workgroup_count(std::uint32_t c) { return component(workgroup_count_, c); }
  // The workgroup's index along x counting the rows of a dispatch folded onto y (when one row
  // cannot hold every workgroup).
  constexpr spirv::Id folded_workgroup_x() {
    using spirv::Op;
    const spirv::Id rows = m_.value(Op::i_mul, t_i32_, {workgroup_id(1), workgroup_count(0)});
    return m_.value(Op::i_add, t_i32_, {workgroup_id(0), rows});
  }
  // The invocation's index in its workgroup of x * y * z invocations, as i32.
  constexpr spirv::Id local_index(std::uint32_t x, std::uint32_t y) {
    using spirv::Op;
    const spirv::Id wx = m_.constant_i32(static_cast<std::int32_t>(x)), wy = m_.constant_i32(static_cast<std::int32_t>(y));
    const spirv::Id plane = m_.value(Op::i_add, t_i32_, {local_id(1), m_.value(Op::i_mul, t_i32_, {local_id(2), wy})});
    return m_.value(Op::i_add, t_i32_, {local_id(0), m_.value(Op::i_mul, t_i32_, {plane, wx})});
  }

  // ---- workgroup memory ------------------------------------------------------------------
  // An array of `elements` values of kind k shared by the invocations of a workgroup.
  constexpr spirv::Id workgroup_array(Kind k, std::uint32_t elements, std::string_view name) {
    using namespace spirv;
    const Id array = m_.type_workgroup_array(scalar(k), elements);
    const Id var = m_.global_variable(m_.type_pointer(storage::workgroup, array), storage::workgroup);
    m_.name(var, name);
    return var;
  }
  constexpr Value load_shared(spirv::Id array, Kind k, spirv::Id at) {
    return {m_.value(spirv::Op::load, scalar(k), {shared_pointer(array, k, at)}), k};
  }
  constexpr void store_shared(spirv::Id array, spirv::Id at, Value v) {
    m_.code(spirv::Op::store, {shared_pointer(array, v.kind, at), v.id});
  }
  // Every invocation of the workgroup waits here until all have arrived, and their writes to
  // workgroup memory before it are seen by the reads after it. Only in uniform control flow.
  constexpr void workgroup_barrier() {
    using namespace spirv;
    const Id workgroup = m_.constant_u32(scope::workgroup);
    const Id semantics = m_.constant_u32(memory_semantics::acquire_release | memory_semantics::workgroup_memory);
    m_.code(Op::control_barrier, {workgroup, workgroup, semantics});
  }

  // Push-constant word `slot` (an extent), as i32.
  constexpr spirv::Id push_constant(int slot) {
    using namespace spirv;
    const Id pointer = m_.type_pointer(storage::push_constant, t_i32_);
    const Id at = m_.value(Op::access_chain, pointer, {push_constants_, m_.constant_i32(0), m_.constant_i32(slot)});
    return m_.value(Op::load, t_i32_, {at});
  }

  // ---- values ----------------------------------------------------------------------------
  // The type of a kind; i64's is made on first use (it needs the Int64 capability).
  constexpr spirv::Id scalar(Kind k) {
    switch (k) {
      case Kind::f32: return t_f32_;
      case Kind::i32: return t_i32_;
      case Kind::i64: return m_.type_int(64, true);
      case Kind::boolean: return t_bool_;
      case Kind::f64: return m_.type_float(64);
    }
    return t_f32_;
  }

  static constexpr Kind kind_of(Storage s) {
    return s == Storage::f32 || s == Storage::f16        ? Kind::f32
           : s == Storage::i64 || s == Storage::u32 ? Kind::i64
           : s == Storage::f64                      ? Kind::f64
                                                    : Kind::i32;
  }
  constexpr spirv::Id stored_type(Storage s) {
    switch (s) {
      case Storage::f32: return t_f32_;
      case Storage::i32: return t_i32_;
      case Storage::f16: return m_.type_float(16);
      case Storage::i8: return m_.type_int(8, true);
      case Storage::u8: return m_.type_int(8, false);
      case Storage::i16: return m_.type_int(16, true);
      case Storage::u16: return m_.type_int(16, false);
      case Storage::u32: return t_u32_;
      case Storage::i64: return m_.type_int(64, true);
      case Storage::f64: return m_.type_float(64);
    }
    return t_f32_;
  }
  constexpr Value load_element(int binding, spirv::Id at) {
    using spirv::Op;
    const Storage s = buffer_storage_[binding];
    const spirv::Id raw = m_.value(Op::load, stored_type(s), {element_pointer(binding, at)});
    switch (s) {
      case Storage::f16: return {m_.value(Op::f_convert, t_f32_, {raw}), Kind::f32};
      case Storage::i8:
      case Storage::i16: return {m_.value(Op::s_convert, t_i32_, {raw}), Kind::i32};
      case Storage::u8:
      case Storage::u16: return {m_.value(Op::bitcast, t_i32_, {m_.value(Op::u_convert, t_u32_, {raw})}), Kind::i32};
      case Storage::u32: {
        const spirv::Id u64 = m_.type_int(64, false);
        return {m_.value(Op::bitcast, scalar(Kind::i64), {m_.value(Op::u_convert, u64, {raw})}), Kind::i64};
      }
      default: return {raw, kind_of(s)};
    }
  }
  constexpr void store_element(int binding, spirv::Id at, Value v) {
    using spirv::Op;
    const Storage s = buffer_storage_[binding];
    spirv::Id word = convert(v, kind_of(s)).id;
    // Narrowing keeps the low bits (a wrap, as a C++ cast to int8 does) or rounds to f16.
    if (s == Storage::f16) word = m_.value(Op::f_convert, stored_type(s), {word});
    else if (s == Storage::i8 || s == Storage::i16) word = m_.value(Op::s_convert, stored_type(s), {word});
    else if (s == Storage::u8 || s == Storage::u16 || s == Storage::u32) word = m_.value(Op::u_convert, stored_type(s), {word});
    m_.code(Op::store, {element_pointer(binding, at), word});
  }

  constexpr spirv::Id shared_pointer(spirv::Id array, Kind k, spirv::Id at) {
    return m_.value(spirv::Op::access_chain, m_.type_pointer(spirv::storage::workgroup, scalar(k)), {array, at});
  }
  constexpr spirv::Id element_pointer(int binding, spirv::Id at) {
    using namespace spirv;
    const Id pointer = m_.type_pointer(storage::storage_buffer, stored_type(buffer_storage_[binding]));
    return m_.value(Op::access_chain, pointer, {buffer_var_[binding], m_.constant_i32(0), at});
  }
  // ---- expressions -----------------------------------------------------------------------
  // C++'s conversions: to bool is "not zero" (NaN included), from bool 0 or 1, float to
  // integer truncates, integers of other widths sign-extend or keep the low bits.
  constexpr Value convert(Value v, Kind to) {
    using spirv::Op;
    if (v.kind == to) return v;
    if (to == Kind::boolean) return {m_.value(is_float(v.kind) ? Op::f_unord_not_equal : Op::i_not_equal, t_bool_, {v.id, zero(v.kind)}), to};
    if (v.kind == Kind::boolean) return {m_.value(Op::select, scalar(to), {v.id, constant(to, 1).id, zero(to)}), to};
    if (is_float(to) && is_float(v.kind)) return {m_.value(Op::f_convert, scalar(to), {v.id}), to};
    if (is_float(to)) return {m_.value(Op::convert_s_to_f, scalar(to), {v.id}), to};
    if (is_float(v.kind)) return {m_.value(Op::convert_f_to_s, scalar(to), {v.id}), to};
    return {m_.value(Op::s_convert, scalar(to), {v.id}), to};  // i32 <-> i64
  }
  constexpr spirv::Id zero(Kind k) { return constant(k, 0).id; }
  constexpr Value constant(Kind k, double v) {
    if (k == Kind::f32) return {m_.constant_f32(static_cast<float>(v)), k};
    if (k == Kind::i32) return {m_.constant_i32(static_cast<std::int32_t>(v)), k};
    if (k == Kind::i64) return {m_.constant_i64(static_cast<std::int64_t>(v)), k};
    if (k == Kind::f64) return {m_.constant_f64(v), k};
    return {m_.constant_bool(v != 0), k};
  }
  constexpr spirv::Id less(Kind k, spirv::Id a, spirv::Id b) {
    return m_.value(is_float(k) ? spirv::Op::f_ord_less_than : spirv::Op::s_less_than, t_bool_, {a, b});
  }
  constexpr spirv::Id pick(Kind k, spirv::Id condition, spirv::Id a, spirv::Id b) {
    return m_.value(spirv::Op::select, scalar(k), {condition, a, b});
  }
  constexpr Value arithmetic(spirv::Op float_op, spirv::Op int_op, Value a, Value b) {
    return {m_.value(is_float(a.kind) ? float_op : int_op, scalar(a.kind), {a.id, b.id}), a.kind};
  }
  constexpr Value compare(spirv::Op float_op, spirv::Op int_op, spirv::Op bool_op, Value a, Value b) {
    const spirv::Op op = is_float(a.kind) ? float_op : a.kind == Kind::boolean ? bool_op : int_op;
    return {m_.value(op, t_bool_, {a.id, b.id}), Kind::boolean};
  }
  // GLSL.std.450's exp, log, pow and the trigonometric functions take 32-bit floats only.
  constexpr Value glsl(std::uint32_t instruction, Value a) {
    return {m_.ext(scalar(a.kind), instruction, {a.id}), a.kind};
  }
  constexpr Value floor_divide(Value a, Value b) {
    using spirv::Op;
    if (is_float(a.kind)) return glsl(spirv::glsl::floor, arithmetic(Op::f_div, Op::f_div, a, b));
    // Truncating quotient, one less where the remainder is not zero and the signs differ.
    // (OpSRem is undefined for negative operands in Vulkan: q * b != a tells an inexact quotient.)
    const spirv::Id q = m_.value(Op::s_div, t_i32_, {a.id, b.id});
    const spirv::Id zero = m_.constant_i32(0);
    const spirv::Id signs_differ = m_.value(Op::logical_not_equal, t_bool_, {less(Kind::i32, a.id, zero), less(Kind::i32, b.id, zero)});
    const spirv::Id inexact = m_.value(Op::i_not_equal, t_bool_, {m_.value(Op::i_mul, t_i32_, {q, b.id}), a.id});
    const spirv::Id adjust = m_.value(Op::logical_and, t_bool_, {inexact, signs_differ});
    return {m_.value(Op::i_sub, t_i32_, {q, m_.value(Op::select, t_i32_, {adjust, m_.constant_i32(1), zero})}), Kind::i32};
  }
  // erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7): GLSL has no erf.
  constexpr Value erf(Value x) {
    using spirv::Op;
    const spirv::Id ax = m_.ext(t_f32_, spirv::glsl::f_abs, {x.id});
    const spirv::Id t = m_.value(Op::f_div, t_f32_, {m_.constant_f32(1.0f), m_.value(Op::f_add, t_f32_, {m_.constant_f32(1.0f), m_.value(Op::f_mul, t_f32_, {m_.constant_f32(0.3275911f), ax})})});
    constexpr float a[] = {1.061405429f, -1.453152027f, 1.421413741f, -0.284496736f, 0.254829592f};
    spirv::Id poly = m_.constant_f32(a[0]);
    for (int i = 1; i < 5; ++i)
      poly = m_.value(Op::f_add, t_f32_, {m_.value(Op::f_mul, t_f32_, {poly, t}), m_.constant_f32(a[i])});
    poly = m_.value(Op::f_mul, t_f32_, {poly, t});
    const spirv::Id gauss = m_.ext(t_f32_, spirv::glsl::exp, {m_.value(Op::f_negate, t_f32_, {m_.value(Op::f_mul, t_f32_, {ax, ax})})});
    const spirv::Id magnitude = m_.value(Op::f_sub, t_f32_, {m_.constant_f32(1.0f), m_.value(Op::f_mul, t_f32_, {poly, gauss})});
    const spirv::Id negative = less(Kind::f32, x.id, m_.constant_f32(0.0f));
    return {pick(Kind::f32, negative, m_.value(Op::f_negate, t_f32_, {magnitude}), magnitude), Kind::f32};
  }

  // exp and log of an f64 (GLSL.std.450's are 32-bit only), to about one ulp:
  //   exp: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so k ln2 is exact), e^r by its
  //        Taylor series to r^13, scaled by 2^k in two halves (each stays a normal number);
  //   log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1),
  //        by its series to s^21 (|s| < 0.172). Subnormals count where the device keeps them.
  // ln 2 in two parts: the high one has zeros in its low bits, so k * kLn2High is exact.
  static constexpr double kLn2High = 6.93147180369123816490e-01, kLn2Low = 1.90821492927058770002e-10;
  constexpr Value exp64(Value x) {
    using spirv::Op;
    const spirv::Id t = scalar(Kind::f64);
    const auto c = [&](double v) { return m_.constant_f64(v); };
    const auto mul = [&](spirv::Id a, spirv::Id b) { return m_.value(Op::f_mul, t, {a, b}); };
    spirv::Id k = m_.ext(t, spirv::glsl::round_even, {mul(x.id, c(1.4426950408889634))});
    k = pick(Kind::f64, less(Kind::f64, k, c(-1100.0)), c(-1100.0), k);  // past both ends of the range
    k = pick(Kind::f64, less(Kind::f64, c(1100.0), k), c(1100.0), k);
    const spirv::Id r = m_.value(Op::f_sub, t, {m_.value(Op::f_sub, t, {x.id, mul(k, c(kLn2High))}), mul(k, c(kLn2Low))});
    double factorial = 1.0;
    for (int i = 2; i <= 13; ++i) factorial *= i;
    spirv::Id p = c(1.0 / factorial);
    for (int i = 13; i-- > 0;) {
      factorial /= (i + 1);
      p = m_.value(Op::f_add, t, {mul(p, r), c(1.0 / factorial)});
    }
    const spirv::Id n = m_.value(Op::convert_f_to_s, t_i32_, {k});
    const spirv::Id half = m_.value(Op::s_div, t_i32_, {n, m_.constant_i32(2)});
    const spirv::Id scaled = m_.ext(t, spirv::glsl::ldexp, {m_.ext(t, spirv::glsl::ldexp, {p, half}), m_.value(Op::i_sub, t_i32_, {n, half})});
    // Past the ends: 0 below the smallest subnormal's logarithm, infinity above the largest
    // double's; NaN stays.
    spirv::Id y = pick(Kind::f64, less(Kind::f64, x.id, c(-746.0)), c(0.0), scaled);
    y = pick(Kind::f64, less(Kind::f64, c(709.8), x.id), c(std::numeric_limits<double>::infinity()), y);
    const spirv::Id nan = m_.value(Op::f_unord_not_equal, t_bool_, {x.id, x.id});
    return {pick(Kind::f64, nan, x.id, y), Kind::f64};
  }
  constexpr Value log64(Value x) {
    using spirv::Op;
    const spirv::Id t = scalar(Kind::f64);
    const auto c = [&](double v) { return m_.constant_f64(v); };
    const auto mul = [&](spirv::Id a, spirv::Id b) { return m_.value(Op::f_mul, t, {a, b}); };
    // A subnormal x is scaled by 2^54 first (frexp of a subnormal is not reliable everywhere).
    const spirv::Id subnormal = less(Kind::f64, x.id, c(std::numeric_limits<double>::min()));
    const spirv::Id normal_x = pick(Kind::f64, subnormal, mul(x.id, c(18014398509481984.0)), x.id);
    const spirv::Id exponent_variable = variable(Kind::i32);
    spirv::Id m = m_.ext(t, spirv::glsl::frexp, {normal_x, exponent_variable});
    spirv::Id e = m_.value(Op::load, t_i32_, {exponent_variable});
    e = pick(Kind::i32, subnormal, m_.value(Op::i_sub, t_i32_, {e, m_.constant_i32(54)}), e);
    const spirv::Id low = less(Kind::f64, m, c(0.70710678118654752440));
    m = pick(Kind::f64, low, mul(m, c(2.0)), m);
    e = pick(Kind::i32, low, m_.value(Op::i_sub, t_i32_, {e, m_.constant_i32(1)}), e);
    const spirv::Id s = m_.value(Op::f_div, t, {m_.value(Op::f_sub, t, {m, c(1.0)}), m_.value(Op::f_add, t, {m, c(1.0)})});
    const spirv::Id z = mul(s, s);
    spirv::Id p = c(1.0 / 21.0);
    for (int i = 9; i >= 0; --i) p = m_.value(Op::f_add, t, {mul(p, z), c(1.0 / (2 * i + 1))});
    const spirv::Id log_m = mul(mul(c(2.0), s), p);
    const spirv::Id ef = m_.value(Op::convert_s_to_f, t, {e});
    spirv::Id y = m_.value(Op::f_add, t, {mul(ef, c(kLn2High)), m_.value(Op::f_add, t, {log_m, mul(ef, c(kLn2Low))})});
    const double inf = std::numeric_limits<double>::infinity();
    y = pick(Kind::f64, m_.value(Op::f_ord_equal, t_bool_, {x.id, c(inf)}), c(inf), y);
    y = pick(Kind::f64, m_.value(Op::f_ord_equal, t_bool_, {x.id, c(0.0)}), c(-inf), y);
    const spirv::Id undefined = m_.value(Op::logical_or, t_bool_, {less(Kind::f64, x.id, c(0.0)), m_.value(Op::f_unord_not_equal, t_bool_, {x.id, x.id})});
    return {pick(Kind::f64, undefined, c(std::numeric_limits<double>::quiet_NaN()), y), Kind::f64};
  }

  // ---- structured control flow ---------------------------------------------------------
  constexpr void open_if(spirv::Id condition) {
    using spirv::Op;
    const spirv::Id then = m_.fresh(), merge = m_.fresh();
    m_.code(Op::selection_merge, {merge, spirv::kNoControl});
    m_.code(Op::branch_conditional, {condition, then, merge});
    m_.code(Op::label, {then});
    stack_[depth_++] = Construct{false, merge, 0, 0, 0};
  }
  // A loop from 0 while the counter is below the extent that `extent()` emits (evaluated before
  // each iteration, in the loop's test block); returns the counter's value in the body.
  template <class Extent>
  constexpr spirv::Id open_loop(Extent&& extent, bool unroll = false) {
    using namespace spirv;
    const Id counter = m_.function_variable(m_.type_pointer(storage::function, t_i32_));
    m_.code(Op::store, {counter, m_.constant_i32(0)});
    const Id header = m_.fresh(), test = m_.fresh(), body = m_.fresh(), next = m_.fresh(), merge = m_.fresh();
    m_.code(Op::branch, {header});
    m_.code(Op::label, {header});
    m_.code(Op::loop_merge, {merge, next, unroll ? loop_control::unroll : loop_control::none});
    m_.code(Op::branch, {test});
    m_.code(Op::label, {test});
    const Id i = m_.value(Op::load, t_i32_, {counter});
    const Id bound = extent();
    m_.code(Op::branch_conditional, {m_.value(Op::s_less_than, t_bool_, {i, bound}), body, merge});
    m_.code(Op::label, {body});
    stack_[depth_++] = Construct{true, merge, next, header, counter};
    return i;
  }
  constexpr void close() {
    using spirv::Op;
    const Construct c = stack_[--depth_];
    if (c.loop) {
      m_.code(Op::branch, {c.continue_target});
      m_.code(Op::label, {c.continue_target});
      const spirv::Id i = m_.value(Op::load, t_i32_, {c.counter});
      m_.code(Op::store, {c.counter, m_.value(Op::i_add, t_i32_, {i, m_.constant_i32(1)})});
      m_.code(Op::branch, {c.header});
    } else {
      m_.code(Op::branch, {c.merge});
    }
    m_.code(Op::label, {c.merge});
  }
  constexpr int depth() const noexcept { return depth_; }
  // A variable of the function holding a value of kind k.
  constexpr spirv::Id variable(Kind k) { return m_.function_variable(m_.type_pointer(spirv::storage::function, scalar(k))); }

 protected:
  // For emitters built on this class: the module and the scalar types.
  spirv::ModuleBuilder m_;
  spirv::Id t_void_ = 0, t_bool_ = 0, t_i32_ = 0, t_u32_ = 0, t_f32_ = 0;

 private:
  struct Construct {
    bool loop = false;
    spirv::Id merge = 0, continue_target = 0, header = 0, counter = 0;
  };

  constexpr void add_buffer(Storage s) {
    using namespace spirv;
    const int binding = buffer_count_++;
    const std::uint32_t bytes = s == Storage::f16 || s == Storage::i16 || s == Storage::u16 ? 2
                                : s == Storage::i8 || s == Storage::u8                       ? 1
                                : s == Storage::i64 || s == Storage::f64                     ? 8
                                                                                             : 4;
    const Id block = m_.type_block(m_.type_runtime_array(stored_type(s), bytes));
    const Id var = m_.global_variable(m_.type_pointer(storage::storage_buffer, block), storage::storage_buffer);
    m_.decorate(var, decoration::descriptor_set, {0});
    m_.decorate(var, decoration::binding, {static_cast<std::uint32_t>(binding)});
    buffer_var_[binding] = var;
    buffer_storage_[binding] = s;
  }
  constexpr spirv::Id component(spirv::Id vector_variable, std::uint32_t c) {
    using spirv::Op;
    const spirv::Id v = m_.value(Op::load, m_.type_vector(t_u32_, 3), {vector_variable});
    return m_.value(Op::bitcast, t_i32_, {m_.value(Op::composite_extract, t_u32_, {v, c})});
  }

  spirv::Id buffer_var_[kMaxBindings] = {};
  Storage buffer_storage_[kMaxBindings] = {};
  int buffer_count_ = 0;
  spirv::Id push_constants_ = 0, workgroup_id_ = 0, local_id_ = 0, workgroup_count_ = 0;
  spirv::Id function_ = 0, function_type_ = 0;
  Construct stack_[kMaxConstructs] = {};
  int depth_ = 0;
};

} // namespace kiln::vulkan
