// kiln/backend/vulkan/shader_codegen.hpp: a kernel as Vulkan compute shaders, in SPIR-V words
// that kiln writes itself. A kernel runs as one dispatch per reduction stage and one for its
// last stage (gpu_stages_t); every other stage is inlined into the expressions that read it.
// A dispatched stage's loop nest (lowered for a GPU) becomes the shader's control flow: loops
// bound to block axes read the workgroup id, loops bound to thread axes the invocation id,
// other loops are structured loops, guarded tails are selections. Every module of a kernel
// has the same interface: the inputs as storage buffers (bindings 0, 1, ... in order of first
// use), then one buffer per dispatched stage (the last is the output); named extents travel as
// push constants (one i32 each, in the kernel's symbol order).
//
// The emitter is constexpr: `baked_shader<schedule, compute>` is a module assembled while the
// application compiles; `emit_shaders<schedule>(compute)` the same words at run time, for
// kernels built at load time.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../../core/float16.hpp"
#include "../../te/inline.hpp"
#include "../../te/tensor.hpp"
#include "../../tir/loop_program.hpp"
#include "gpu_program.hpp"
#include "shader_features.hpp"
#include "spirv/module_builder.hpp"

namespace kiln::vulkan {

// A schedule the Vulkan backend cannot run stops compilation here; g++ prints the message in
// the template argument: gpu_schedule_error<kiln::tir::Diagnostic{true, "vulkan: bind(...)..."}>.
template <tir::Diagnostic D>
struct gpu_schedule_error {
  static_assert(!D.failed, "kiln: the schedule cannot run on the Vulkan backend; the message is in gpu_schedule_error<...> above");
  static constexpr bool ok = !D.failed;
};

// The element types a kernel's buffers may hold. f16 is stored as 16 bits and computed in
// f32 (as kiln's expressions compute it); int8 and uint8 are stored as 8 bits and computed in
// i32. Both need the device's 16-bit or 8-bit storage buffer feature.
template <class T>
inline constexpr bool is_buffer_element_v = std::is_same_v<T, float> || std::is_same_v<T, std::int32_t> ||
                                            std::is_same_v<T, f16> || std::is_same_v<T, std::int8_t> ||
                                            std::is_same_v<T, std::uint8_t>;

// What a kernel's buffers ask of the device.
template <class... Ts>
constexpr ShaderFeatures features_of(te::TypeList<Ts...>) noexcept {
  ShaderFeatures f;
  f.storage_16bit = (std::is_same_v<typename Ts::value_type, f16> || ...);
  f.storage_8bit = (std::is_same_v<typename Ts::value_type, std::int8_t> || ...) ||
                   (std::is_same_v<typename Ts::value_type, std::uint8_t> || ...);
  return f;
}

namespace detail {

template <class T>
inline constexpr bool unsupported_type_v = false;

template <class List> struct all_buffer_elements;
template <class... Ps>
struct all_buffer_elements<te::TypeList<Ps...>> {
  static constexpr bool value = (is_buffer_element_v<typename Ps::value_type> && ...);
};

// Emits the module of one dispatched stage St of the kernel that Last ends.
template <tir::Schedule S, class St, class Last>
class ShaderEmitter {
 public:
  static constexpr GpuProgram G = lower_for_gpu<S, St, Last>();
  static constexpr const tir::LoopProgram& P = G.program;
  using Inputs = typename Last::inputs;
  using Stages = gpu_stages_t<Last>;
  static constexpr int kInputs = static_cast<int>(Inputs::size);
  static constexpr int kBuffers = kInputs + static_cast<int>(Stages::size);
  template <class C>
  static constexpr int binding_of = kInputs + static_cast<int>(te::index_by_name<Stages, C::name>::value);
  static constexpr int kOutput = binding_of<St>;
  static constexpr int kMaxLoopIds = 64;

  constexpr std::vector<std::uint32_t> emit(const St& stage) {
    using spirv::Op;
    m_.capability(spirv::capability::shader);
    constexpr ShaderFeatures needs = features_of(te::concat_t<Inputs, Stages>{});
    if constexpr (needs.storage_16bit) m_.capability(spirv::capability::storage_buffer_16bit_access);
    if constexpr (needs.storage_8bit) {
      m_.capability(spirv::capability::storage_buffer_8bit_access);
      m_.extension("SPV_KHR_8bit_storage");
    }
    t_void_ = m_.type_void();
    t_bool_ = m_.type_bool();
    t_i32_ = m_.type_int(32, true);
    t_u32_ = m_.type_int(32, false);
    t_f32_ = m_.type_float(32);
    declare_interface();
    const spirv::Id function = m_.fresh();
    const spirv::Id function_type = m_.type_function(t_void_);
    m_.name(function, "main");
    m_.entry_label();

    // Loops bound to thread axes first: their values do not change inside the shader.
    for (int axis = 0; axis < kThreadAxes; ++axis) {
      const int loop = G.bound_loop[axis];
      if (loop < 0) continue;
      const tir::Loop& l = P.loops[loop];
      loop_value_[l.id] = thread_index(axis);
      defined_[l.id] = true;
      // Workgroups past a block loop's extent (a dispatch folded onto y) do nothing.
      if (axis < 3) open_if(m_.value(Op::s_less_than, t_bool_, {loop_value_[l.id], index(l.extent)}));
    }
    open_ready_guards();
    spirv::Id out_offset = 0;
    spirv::Id accumulator = 0;
    int reduction_depth = -1;
    using Body = typename St::body_type;
    for (int i = 0; i < P.loop_count; ++i) {
      if (G.is_bound(i)) continue;
      const tir::Loop& l = P.loops[i];
      if constexpr (te::is_reduce<Body>::value) {
        if (l.reduction && reduction_depth < 0) {
          // Everything spatial is open: the output element is fixed from here on.
          out_offset = output_offset();
          accumulator = m_.function_variable(m_.type_pointer(spirv::storage::function, scalar(kind_of<typename Body::value_type>())));
          m_.code(Op::store, {accumulator, identity<typename Body::reducer_type, typename Body::value_type>()});
          reduction_depth = depth_;
        }
      }
      open_loop(l);
      open_ready_guards();
    }
    if constexpr (te::is_reduce<Body>::value) {
      constexpr Kind k = kind_of<typename Body::value_type>();
      if (reduction_depth < 0) {  // every reduction loop bound: impossible, bind refuses them
        out_offset = output_offset();
        accumulator = m_.function_variable(m_.type_pointer(spirv::storage::function, scalar(k)));
        m_.code(Op::store, {accumulator, identity<typename Body::reducer_type, typename Body::value_type>()});
        reduction_depth = depth_;
      }
      const Value v = convert(expr(stage.body.body), k);
      const spirv::Id old = m_.value(Op::load, scalar(k), {accumulator});
      m_.code(Op::store, {accumulator, combine<typename Body::reducer_type>(k, old, v.id)});
      while (depth_ > reduction_depth) close();
      const spirv::Id total = m_.value(Op::load, scalar(k), {accumulator});
      store_output(out_offset, Value{total, k});
    } else {
      // One statement each: the order of the instructions (and of the ids) must not depend on
      // the order a compiler evaluates arguments in, or compile-time and run-time modules differ.
      const spirv::Id at = output_offset();
      const Value v = expr(stage.body);
      store_output(at, v);
    }
    while (depth_ > 0) close();
    m_.code(Op::return_, {});
    m_.compute_entry_point(function, "main", {workgroup_id_, local_id_, workgroup_count_}, G.workgroup_size[0],
                           G.workgroup_size[1], G.workgroup_size[2]);
    if (unresolved_) return {};
    return m_.finish(function, function_type);
  }

 private:
  enum class Kind : std::uint8_t { f32, i32, boolean };
  struct Value {
    spirv::Id id = 0;
    Kind kind = Kind::f32;
  };
  // The values of an inlined producer's axes while its body is emitted.
  struct Frame {
    Name names[tir::kMaxAxes] = {};
    spirv::Id values[tir::kMaxAxes] = {};
    int count = 0;
  };
  struct Construct {
    bool loop = false;
    spirv::Id merge = 0, continue_target = 0, header = 0, counter = 0;
  };

  template <class T>
  static constexpr Kind kind_of() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, f16>) return Kind::f32;  // f16 computes in f32
    else if constexpr (std::is_same_v<T, bool>) return Kind::boolean;
    else if constexpr (std::is_integral_v<T> && (sizeof(T) >= 4 || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>))
      return Kind::i32;  // indices: i64 in kiln, i32 here; 8-bit integers compute in i32
    else static_assert(unsupported_type_v<T>, "kiln::vulkan: the expression computes in a type the Vulkan backend does not support yet (f32, i32, bool)");
  }
  constexpr spirv::Id scalar(Kind k) const { return k == Kind::f32 ? t_f32_ : k == Kind::i32 ? t_i32_ : t_bool_; }

  // How a buffer stores its elements; loads widen them to the kind they compute in.
  enum class Storage : std::uint8_t { f32, i32, f16, i8, u8 };
  template <class T>
  static constexpr Storage storage_of() {
    if constexpr (std::is_same_v<T, float>) return Storage::f32;
    else if constexpr (std::is_same_v<T, std::int32_t>) return Storage::i32;
    else if constexpr (std::is_same_v<T, f16>) return Storage::f16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return Storage::i8;
    else return Storage::u8;
  }
  static constexpr Kind kind_of(Storage s) { return s == Storage::f32 || s == Storage::f16 ? Kind::f32 : Kind::i32; }
  constexpr spirv::Id stored_type(Storage s) {
    switch (s) {
      case Storage::f32: return t_f32_;
      case Storage::i32: return t_i32_;
      case Storage::f16: return m_.type_float(16);
      case Storage::i8: return m_.type_int(8, true);
      case Storage::u8: return m_.type_int(8, false);
    }
    return t_f32_;
  }
  constexpr Value load_element(int binding, spirv::Id at) {
    using spirv::Op;
    const Storage s = buffer_storage_[binding];
    const spirv::Id raw = m_.value(Op::load, stored_type(s), {element_pointer(binding, at)});
    switch (s) {
      case Storage::f16: return {m_.value(Op::f_convert, t_f32_, {raw}), Kind::f32};
      case Storage::i8: return {m_.value(Op::s_convert, t_i32_, {raw}), Kind::i32};
      case Storage::u8: return {m_.value(Op::bitcast, t_i32_, {m_.value(Op::u_convert, t_u32_, {raw})}), Kind::i32};
      default: return {raw, kind_of(s)};
    }
  }
  constexpr void store_element(int binding, spirv::Id at, Value v) {
    using spirv::Op;
    const Storage s = buffer_storage_[binding];
    spirv::Id word = convert(v, kind_of(s)).id;
    // Narrowing keeps the low bits (a wrap, as a C++ cast to int8 does) or rounds to f16.
    if (s == Storage::f16) word = m_.value(Op::f_convert, stored_type(s), {word});
    else if (s == Storage::i8) word = m_.value(Op::s_convert, stored_type(s), {word});
    else if (s == Storage::u8) word = m_.value(Op::u_convert, stored_type(s), {word});
    m_.code(Op::store, {element_pointer(binding, at), word});
  }

  // ---- interface: buffers, push constants, built-ins ------------------------------------
  constexpr void declare_interface() {
    using namespace spirv;
    int binding = 0;
    auto buffer = [&]<class T>(std::type_identity<T>, Name name) {
      static_assert(is_buffer_element_v<T>, "kiln::vulkan: a kernel argument's element type is not supported by the Vulkan backend yet (f32, f16, i32, i8, u8)");
      const Id element = stored_type(storage_of<T>());
      const Id block = m_.type_block(m_.type_runtime_array(element, static_cast<std::uint32_t>(sizeof(T))));
      const Id var = m_.global_variable(m_.type_pointer(storage::storage_buffer, block), storage::storage_buffer);
      m_.decorate(var, decoration::descriptor_set, {0});
      m_.decorate(var, decoration::binding, {static_cast<std::uint32_t>(binding)});
      m_.name(var, name.view());
      buffer_var_[binding] = var;
      buffer_storage_[binding++] = storage_of<T>();
    };
    [&]<class... Ps>(te::TypeList<Ps...>) { (buffer(std::type_identity<typename Ps::value_type>{}, Ps::name), ...); }(Inputs{});
    [&]<class... Ss>(te::TypeList<Ss...>) { (buffer(std::type_identity<typename Ss::value_type>{}, Ss::name), ...); }(Stages{});
    if (P.symbol_count > 0) {
      const Id array = m_.type_array(t_i32_, m_.constant_u32(static_cast<std::uint32_t>(P.symbol_count)), 4);
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
  }

  constexpr spirv::Id component(spirv::Id vector_variable, std::uint32_t c) {
    using spirv::Op;
    const spirv::Id v = m_.value(Op::load, m_.type_vector(t_u32_, 3), {vector_variable});
    return m_.value(Op::bitcast, t_i32_, {m_.value(Op::composite_extract, t_u32_, {v, c})});
  }
  // The value of the loop bound to a thread axis. block_x also counts the rows of a dispatch
  // folded onto y when one row cannot hold every workgroup.
  constexpr spirv::Id thread_index(int axis) {
    using spirv::Op;
    if (axis >= 3) return component(local_id_, static_cast<std::uint32_t>(axis - 3));
    const spirv::Id id = component(workgroup_id_, static_cast<std::uint32_t>(axis));
    if (axis != 0 || G.bound_loop[1] >= 0) return id;
    const spirv::Id rows = m_.value(Op::i_mul, t_i32_, {component(workgroup_id_, 1), component(workgroup_count_, 0)});
    return m_.value(Op::i_add, t_i32_, {id, rows});
  }

  constexpr spirv::Id symbol(int slot) {
    using namespace spirv;
    const Id pointer = m_.type_pointer(storage::push_constant, t_i32_);
    const Id at = m_.value(Op::access_chain, pointer, {push_constants_, m_.constant_i32(0), m_.constant_i32(slot)});
    return m_.value(Op::load, t_i32_, {at});
  }

  // ---- index arithmetic of the loop program ----------------------------------------------
  constexpr spirv::Id index(int node) {
    using spirv::Op;
    const tir::IndexNode& n = P.nodes[node];
    switch (n.op) {
      case tir::IndexNode::constant: return m_.constant_i32(static_cast<std::int32_t>(n.value));
      case tir::IndexNode::symbol: return symbol(static_cast<int>(n.value));
      case tir::IndexNode::loop_var: return loop_value_[n.value];
      default: break;
    }
    const spirv::Id a = index(n.a), b = index(n.b);
    switch (n.op) {
      case tir::IndexNode::add: return m_.value(Op::i_add, t_i32_, {a, b});
      case tir::IndexNode::sub: return m_.value(Op::i_sub, t_i32_, {a, b});
      case tir::IndexNode::mul: return m_.value(Op::i_mul, t_i32_, {a, b});
      // Indices and extents are never negative: truncating division is floor division.
      case tir::IndexNode::floordiv: return m_.value(Op::s_div, t_i32_, {a, b});
      case tir::IndexNode::floormod: return m_.value(Op::s_rem, t_i32_, {a, b});
      case tir::IndexNode::ceildiv: {
        const spirv::Id up = m_.value(Op::i_add, t_i32_, {a, m_.value(Op::i_sub, t_i32_, {b, m_.constant_i32(1)})});
        return m_.value(Op::s_div, t_i32_, {up, b});
      }
      case tir::IndexNode::min:
        return m_.value(Op::select, t_i32_, {m_.value(Op::s_less_than, t_bool_, {a, b}), a, b});
      default: return a;
    }
  }
  constexpr bool ready(int node) const {
    const tir::IndexNode& n = P.nodes[node];
    if (n.op == tir::IndexNode::loop_var) return defined_[n.value];
    if (n.op == tir::IndexNode::constant || n.op == tir::IndexNode::symbol) return true;
    return ready(n.a) && ready(n.b);
  }

  // The extent of a tensor's axis of extent type E.
  template <class E>
  constexpr spirv::Id extent() {
    using spirv::Op;
    if constexpr (is_static_v<E>) {
      return m_.constant_i32(static_cast<std::int32_t>(E::value));
    } else if constexpr (te::is_dim<E>::value) {
      return symbol(tir::compute_spec<Last, Last>().symbol_slot_of(E::name));
    } else {
      const spirv::Id a = extent<typename E::lhs>(), b = extent<typename E::rhs>();
      if constexpr (E::op == te::ExtentOp::add) return m_.value(Op::i_add, t_i32_, {a, b});
      else if constexpr (E::op == te::ExtentOp::sub) return m_.value(Op::i_sub, t_i32_, {a, b});
      else if constexpr (E::op == te::ExtentOp::mul) return m_.value(Op::i_mul, t_i32_, {a, b});
      else if constexpr (E::op == te::ExtentOp::floordiv) return m_.value(Op::s_div, t_i32_, {a, b});
      else if constexpr (E::op == te::ExtentOp::ceildiv)
        return m_.value(Op::s_div, t_i32_, {m_.value(Op::i_add, t_i32_, {a, m_.value(Op::i_sub, t_i32_, {b, m_.constant_i32(1)})}), b});
      else return m_.value(Op::select, t_i32_, {m_.value(Op::s_less_than, t_bool_, {a, b}), a, b});
    }
  }
  // The row-major element offset of `indices` in a tensor of extents Es.
  template <class... Es>
  constexpr spirv::Id offset(te::Extents<Es...>, const spirv::Id* indices) {
    using spirv::Op;
    constexpr std::size_t rank = sizeof...(Es);
    if constexpr (rank == 0) {
      return m_.constant_i32(0);
    } else {
      spirv::Id extents[rank] = {extent<Es>()...};
      spirv::Id result = indices[rank - 1];
      spirv::Id stride = 0;
      for (std::size_t d = rank - 1; d-- > 0;) {
        stride = stride == 0 ? extents[d + 1] : m_.value(Op::i_mul, t_i32_, {stride, extents[d + 1]});
        result = m_.value(Op::i_add, t_i32_, {result, m_.value(Op::i_mul, t_i32_, {indices[d], stride})});
      }
      return result;
    }
  }
  constexpr spirv::Id output_offset() {
    spirv::Id axes[tir::kMaxAxes + 1] = {};
    for (int a = 0; a < P.spatial_count; ++a) axes[a] = index(P.axis_value[a]);
    return offset(typename St::extents_type{}, axes);
  }
  constexpr spirv::Id element_pointer(int binding, spirv::Id at) {
    using namespace spirv;
    const Id pointer = m_.type_pointer(storage::storage_buffer, stored_type(buffer_storage_[binding]));
    return m_.value(Op::access_chain, pointer, {buffer_var_[binding], m_.constant_i32(0), at});
  }
  constexpr void store_output(spirv::Id at, Value v) {
    store_element(kOutput, at, v);
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
  constexpr void open_loop(const tir::Loop& l) {
    using namespace spirv;
    const Id counter = m_.function_variable(m_.type_pointer(storage::function, t_i32_));
    m_.code(Op::store, {counter, m_.constant_i32(0)});
    const Id header = m_.fresh(), test = m_.fresh(), body = m_.fresh(), next = m_.fresh(), merge = m_.fresh();
    m_.code(Op::branch, {header});
    m_.code(Op::label, {header});
    m_.code(Op::loop_merge, {merge, next, l.kind == tir::LoopKind::unrolled ? loop_control::unroll : loop_control::none});
    m_.code(Op::branch, {test});
    m_.code(Op::label, {test});
    const Id i = m_.value(Op::load, t_i32_, {counter});
    m_.code(Op::branch_conditional, {m_.value(Op::s_less_than, t_bool_, {i, index(l.extent)}), body, merge});
    m_.code(Op::label, {body});
    loop_value_[l.id] = i;
    defined_[l.id] = true;
    stack_[depth_++] = Construct{true, merge, next, header, counter};
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
  // Guarded tails: each guard as soon as the loops it reads are open.
  constexpr void open_ready_guards() {
    for (int g = 0; g < P.guard_count; ++g) {
      if (guard_open_[g] || !ready(P.guards[g].value) || !ready(P.guards[g].bound)) continue;
      guard_open_[g] = true;
      open_if(m_.value(spirv::Op::s_less_than, t_bool_, {index(P.guards[g].value), index(P.guards[g].bound)}));
    }
  }

  // ---- expressions -----------------------------------------------------------------------
  constexpr Value convert(Value v, Kind to) {
    using spirv::Op;
    if (v.kind == to) return v;
    switch (to) {
      case Kind::boolean:  // "not zero", NaN included
        return {v.kind == Kind::f32 ? m_.value(Op::f_unord_not_equal, t_bool_, {v.id, m_.constant_f32(0.0f)})
                                    : m_.value(Op::i_not_equal, t_bool_, {v.id, m_.constant_i32(0)}),
                to};
      case Kind::f32:
        if (v.kind == Kind::boolean) return {m_.value(Op::select, t_f32_, {v.id, m_.constant_f32(1.0f), m_.constant_f32(0.0f)}), to};
        return {m_.value(Op::convert_s_to_f, t_f32_, {v.id}), to};
      case Kind::i32:
        if (v.kind == Kind::boolean) return {m_.value(Op::select, t_i32_, {v.id, m_.constant_i32(1), m_.constant_i32(0)}), to};
        return {m_.value(Op::convert_f_to_s, t_i32_, {v.id}), to};
    }
    return v;
  }
  constexpr Value constant(Kind k, double v) {
    if (k == Kind::f32) return {m_.constant_f32(static_cast<float>(v)), k};
    if (k == Kind::i32) return {m_.constant_i32(static_cast<std::int32_t>(v)), k};
    return {m_.constant_bool(v != 0), k};
  }
  template <class R, class T>
  constexpr spirv::Id identity() {
    if constexpr (kind_of<T>() == Kind::f32) return m_.constant_f32(R::template identity<float>());
    else return m_.constant_i32(R::template identity<std::int32_t>());
  }
  template <class R>
  constexpr spirv::Id combine(Kind k, spirv::Id acc, spirv::Id v) {
    using spirv::Op;
    const bool f = k == Kind::f32;
    if constexpr (std::is_same_v<R, te::reducer::sum>) return m_.value(f ? Op::f_add : Op::i_add, scalar(k), {acc, v});
    else if constexpr (std::is_same_v<R, te::reducer::prod>) return m_.value(f ? Op::f_mul : Op::i_mul, scalar(k), {acc, v});
    else if constexpr (std::is_same_v<R, te::reducer::max>) return pick(k, less(k, acc, v), v, acc);
    else return pick(k, less(k, v, acc), v, acc);
  }
  constexpr spirv::Id less(Kind k, spirv::Id a, spirv::Id b) {
    return m_.value(k == Kind::f32 ? spirv::Op::f_ord_less_than : spirv::Op::s_less_than, t_bool_, {a, b});
  }
  constexpr spirv::Id pick(Kind k, spirv::Id condition, spirv::Id a, spirv::Id b) {
    return m_.value(spirv::Op::select, scalar(k), {condition, a, b});
  }
  constexpr Value arithmetic(spirv::Op float_op, spirv::Op int_op, Value a, Value b) {
    return {m_.value(a.kind == Kind::f32 ? float_op : int_op, scalar(a.kind), {a.id, b.id}), a.kind};
  }
  constexpr Value compare(spirv::Op float_op, spirv::Op int_op, spirv::Op bool_op, Value a, Value b) {
    const spirv::Op op = a.kind == Kind::f32 ? float_op : a.kind == Kind::i32 ? int_op : bool_op;
    return {m_.value(op, t_bool_, {a.id, b.id}), Kind::boolean};
  }
  constexpr Value glsl(std::uint32_t instruction, Value a) {
    return {m_.ext(t_f32_, instruction, {a.id}), Kind::f32};
  }
  constexpr Value floor_divide(Value a, Value b) {
    using spirv::Op;
    if (a.kind == Kind::f32) return glsl(spirv::glsl::floor, arithmetic(Op::f_div, Op::f_div, a, b));
    // Truncating quotient, one less where the remainder is not zero and the signs differ.
    const spirv::Id q = m_.value(Op::s_div, t_i32_, {a.id, b.id});
    const spirv::Id r = m_.value(Op::s_rem, t_i32_, {a.id, b.id});
    const spirv::Id zero = m_.constant_i32(0);
    const spirv::Id signs_differ = m_.value(Op::logical_not_equal, t_bool_, {less(Kind::i32, a.id, zero), less(Kind::i32, b.id, zero)});
    const spirv::Id inexact = m_.value(Op::i_not_equal, t_bool_, {r, zero});
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

  template <Name N>
  constexpr Value expr(const te::Var<N>&) {
    if (frame_ != nullptr) {
      for (int i = 0; i < frame_->count; ++i)
        if (frame_->names[i] == N) return {frame_->values[i], Kind::i32};
    }
    // A name that is not this stage's axis belongs to an inlined producer (found in the frame
    // above); one that is neither makes the module empty, which building the kernel reports.
    constexpr int axis = P.find_axis(N);
    if constexpr (axis < 0) {
      unresolved_ = true;
      return {m_.constant_i32(0), Kind::i32};
    } else {
      return {index(P.axis_value[axis]), Kind::i32};
    }
  }
  template <Name N>
  constexpr Value expr(const te::ExtentValue<N>&) {
    return {symbol(tir::compute_spec<Last, Last>().symbol_slot_of(N)), Kind::i32};
  }
  template <std::int64_t V>
  constexpr Value expr(const te::StaticConst<V>&) {
    return {m_.constant_i32(static_cast<std::int32_t>(V)), Kind::i32};
  }
  template <class T>
  constexpr Value expr(const te::Const<T>& c) {
    return constant(kind_of<T>(), static_cast<double>(c.value));
  }
  template <Element T, class A>
  constexpr Value expr(const te::Cast<T, A>& c) {
    if constexpr (std::is_same_v<T, bool>) return convert(convert(expr(c.arg), Kind::f32), Kind::boolean);
    else return convert(expr(c.arg), kind_of<T>());
  }
  template <class C, class T, class F, bool Lazy>
  constexpr Value expr(const te::Select<C, T, F, Lazy>& s) {
    using spirv::Op;
    constexpr Kind k = kind_of<typename te::Select<C, T, F, Lazy>::value_type>();
    const Value condition = convert(expr(s.cond), Kind::boolean);
    if constexpr (!Lazy) {
      const Value a = convert(expr(s.if_true), k), b = convert(expr(s.if_false), k);
      return {pick(k, condition.id, a.id, b.id), k};
    } else {
      // Only the side taken is evaluated: it may read where the other side's index is out of bounds.
      const spirv::Id result = m_.function_variable(m_.type_pointer(spirv::storage::function, scalar(k)));
      const spirv::Id then = m_.fresh(), otherwise = m_.fresh(), merge = m_.fresh();
      m_.code(Op::selection_merge, {merge, spirv::kNoControl});
      m_.code(Op::branch_conditional, {condition.id, then, otherwise});
      m_.code(Op::label, {then});
      m_.code(Op::store, {result, convert(expr(s.if_true), k).id});
      m_.code(Op::branch, {merge});
      m_.code(Op::label, {otherwise});
      m_.code(Op::store, {result, convert(expr(s.if_false), k).id});
      m_.code(Op::branch, {merge});
      m_.code(Op::label, {merge});
      return {m_.value(Op::load, scalar(k), {result}), k};
    }
  }
  template <class Op_, class L, class R>
  constexpr Value expr(const te::Binary<Op_, L, R>& e) {
    using spirv::Op;
    using C = te::promote_t<typename L::value_type, typename R::value_type>;
    constexpr Kind k = kind_of<C>();
    namespace o = te::op;
    if constexpr (std::is_same_v<Op_, o::logical_and> || std::is_same_v<Op_, o::logical_or>) {
      const Value a = convert(expr(e.lhs), Kind::boolean), b = convert(expr(e.rhs), Kind::boolean);
      return {m_.value(std::is_same_v<Op_, o::logical_and> ? Op::logical_and : Op::logical_or, t_bool_, {a.id, b.id}), Kind::boolean};
    } else {
      // Booleans order and add as integers (false < true), as in C++.
      constexpr Kind operand = k == Kind::boolean && !(std::is_same_v<Op_, o::equal> || std::is_same_v<Op_, o::not_equal>) ? Kind::i32 : k;
      const Value a = convert(expr(e.lhs), operand), b = convert(expr(e.rhs), operand);
      if constexpr (std::is_same_v<Op_, o::add>) return arithmetic(Op::f_add, Op::i_add, a, b);
      else if constexpr (std::is_same_v<Op_, o::sub>) return arithmetic(Op::f_sub, Op::i_sub, a, b);
      else if constexpr (std::is_same_v<Op_, o::mul>) return arithmetic(Op::f_mul, Op::i_mul, a, b);
      else if constexpr (std::is_same_v<Op_, o::div>) return arithmetic(Op::f_div, Op::s_div, a, b);
      else if constexpr (std::is_same_v<Op_, o::less>) return compare(Op::f_ord_less_than, Op::s_less_than, Op::s_less_than, a, b);
      else if constexpr (std::is_same_v<Op_, o::less_equal>) return compare(Op::f_ord_less_than_equal, Op::s_less_than_equal, Op::s_less_than_equal, a, b);
      else if constexpr (std::is_same_v<Op_, o::greater>) return compare(Op::f_ord_greater_than, Op::s_greater_than, Op::s_greater_than, a, b);
      else if constexpr (std::is_same_v<Op_, o::greater_equal>) return compare(Op::f_ord_greater_than_equal, Op::s_greater_than_equal, Op::s_greater_than_equal, a, b);
      else if constexpr (std::is_same_v<Op_, o::equal>) return compare(Op::f_ord_equal, Op::i_equal, Op::logical_equal, a, b);
      else if constexpr (std::is_same_v<Op_, o::not_equal>) return compare(Op::f_unord_not_equal, Op::i_not_equal, Op::logical_not_equal, a, b);
      else if constexpr (std::is_same_v<Op_, o::minimum>) return {pick(operand, less(operand, a.id, b.id), a.id, b.id), operand};
      else if constexpr (std::is_same_v<Op_, o::maximum>) return {pick(operand, less(operand, a.id, b.id), b.id, a.id), operand};
      else if constexpr (std::is_same_v<Op_, o::floordiv>) return floor_divide(a, b);
      else if constexpr (std::is_same_v<Op_, o::floormod>) {
        const Value q = floor_divide(a, b);
        const Value qb = arithmetic(Op::f_mul, Op::i_mul, q, b);
        return arithmetic(Op::f_sub, Op::i_sub, a, qb);
      } else if constexpr (std::is_same_v<Op_, o::power>) {
        const Value base = convert(a, Kind::f32), exponent = convert(b, Kind::f32);
        return convert({m_.ext(t_f32_, spirv::glsl::pow, {base.id, exponent.id}), Kind::f32}, operand);
      } else {
        static_assert(unsupported_type_v<Op_>, "kiln::vulkan: a binary operation the Vulkan backend does not emit");
      }
    }
  }
  template <class Op_, class A>
  constexpr Value expr(const te::Unary<Op_, A>& e) {
    using spirv::Op;
    namespace o = te::op;
    if constexpr (std::is_same_v<Op_, o::logical_not>) {
      return {m_.value(Op::logical_not, t_bool_, {convert(expr(e.arg), Kind::boolean).id}), Kind::boolean};
    } else {
      constexpr Kind k = kind_of<typename te::Unary<Op_, A>::value_type>();
      const Value a = convert(expr(e.arg), k == Kind::boolean ? Kind::i32 : k);
      if constexpr (std::is_same_v<Op_, o::negate>) return {m_.value(a.kind == Kind::f32 ? Op::f_negate : Op::s_negate, scalar(a.kind), {a.id}), a.kind};
      else if constexpr (std::is_same_v<Op_, o::abs>) return {m_.ext(scalar(a.kind), a.kind == Kind::f32 ? spirv::glsl::f_abs : spirv::glsl::s_abs, {a.id}), a.kind};
      else {
        // The rest compute in f32 (an integer argument converts, as std::exp(int) would).
        const Value x = convert(a, Kind::f32);
        Value r;
        if constexpr (std::is_same_v<Op_, o::exp>) r = glsl(spirv::glsl::exp, x);
        else if constexpr (std::is_same_v<Op_, o::log>) r = glsl(spirv::glsl::log, x);
        else if constexpr (std::is_same_v<Op_, o::sqrt>) r = glsl(spirv::glsl::sqrt, x);
        else if constexpr (std::is_same_v<Op_, o::rsqrt>) r = glsl(spirv::glsl::inverse_sqrt, x);
        else if constexpr (std::is_same_v<Op_, o::tanh>) r = glsl(spirv::glsl::tanh, x);
        else if constexpr (std::is_same_v<Op_, o::floor>) r = glsl(spirv::glsl::floor, x);
        else if constexpr (std::is_same_v<Op_, o::ceil>) r = glsl(spirv::glsl::ceil, x);
        else if constexpr (std::is_same_v<Op_, o::round>) r = glsl(spirv::glsl::round_even, x);
        else if constexpr (std::is_same_v<Op_, o::erf>) r = erf(x);
        else if constexpr (std::is_same_v<Op_, o::sigmoid>) {
          const spirv::Id e_neg = m_.ext(t_f32_, spirv::glsl::exp, {m_.value(Op::f_negate, t_f32_, {x.id})});
          const spirv::Id one = m_.constant_f32(1.0f);
          r = {m_.value(Op::f_div, t_f32_, {one, m_.value(Op::f_add, t_f32_, {one, e_neg})}), Kind::f32};
        } else {
          static_assert(unsupported_type_v<Op_>, "kiln::vulkan: a unary operation the Vulkan backend does not emit");
        }
        return convert(r, a.kind);
      }
    }
  }
  template <class Ph, class... Idx>
  constexpr Value expr(const te::Load<Ph, Idx...>& load) {
    constexpr int binding = static_cast<int>(te::index_by_name<Inputs, Ph::name>::value);
    spirv::Id indices[sizeof...(Idx) + 1] = {};
    std::apply([&](const auto&... idx) {
      int d = 0;
      ((indices[d++] = convert(expr(idx), Kind::i32).id), ...);
    }, load.indices);
    return load_element(binding, offset(typename Ph::extents_type{}, indices));
  }
  // A producer stage: a read of its buffer when it is dispatched on its own, else its body
  // inlined with its axes bound to the indices read.
  template <class C, class... Idx>
  constexpr Value expr(const te::StageLoad<C, Idx...>& load) {
    if constexpr (is_gpu_stage_v<C, Last>) {
      constexpr int binding = binding_of<C>;
      spirv::Id indices[sizeof...(Idx) + 1] = {};
      std::apply([&](const auto&... idx) {
        int d = 0;
        ((indices[d++] = convert(expr(idx), Kind::i32).id), ...);
      }, load.indices);
      return load_element(binding, offset(typename C::extents_type{}, indices));
    } else {
      return inline_stage(load);
    }
  }
  template <class C, class... Idx>
  constexpr Value inline_stage(const te::StageLoad<C, Idx...>& load) {
    Frame frame;
    std::apply([&](const auto&... idx) { ((frame.values[frame.count++] = convert(expr(idx), Kind::i32).id), ...); }, load.indices);
    [&]<class... Axes>(te::TypeList<Axes...>) {
      int a = 0;
      ((frame.names[a++] = Axes::name), ...);
    }(typename C::spatial_axes{});
    const Frame* outer = frame_;
    frame_ = &frame;
    const Value v = expr(load.source.body);
    frame_ = outer;
    return v;
  }

  spirv::ModuleBuilder m_;
  spirv::Id t_void_ = 0, t_bool_ = 0, t_i32_ = 0, t_u32_ = 0, t_f32_ = 0;
  spirv::Id buffer_var_[kBuffers] = {};
  Storage buffer_storage_[kBuffers] = {};
  spirv::Id push_constants_ = 0, workgroup_id_ = 0, local_id_ = 0, workgroup_count_ = 0;
  spirv::Id loop_value_[kMaxLoopIds] = {};
  bool defined_[kMaxLoopIds] = {};
  bool guard_open_[tir::kMaxGuards] = {};
  Construct stack_[tir::kMaxLoops + tir::kMaxGuards + kThreadAxes] = {};
  int depth_ = 0;
  const Frame* frame_ = nullptr;
  bool unresolved_ = false;
};

template <tir::Schedule S, class Last>
constexpr bool check_gpu_kernel() {
  static_assert(gpu_schedule_error<gpu_schedule_diagnostic<S, Last>()>::ok);
  static_assert(all_buffer_elements<typename Last::inputs>::value && all_buffer_elements<gpu_stages_t<Last>>::value,
                "kiln::vulkan: a kernel argument's element type is not supported by the Vulkan backend yet (f32, f16, i32, i8, u8)");
  return true;
}

} // namespace detail

// The SPIR-V module of stage St (one of gpu_stages_t<Last>) of the kernel that `last` ends,
// under schedule S.
template <tir::Schedule S, class St, class Last>
constexpr std::vector<std::uint32_t> emit_stage_shader(const Last& last) {
  static_assert(detail::check_gpu_kernel<S, Last>());
  static_assert(is_gpu_stage_v<St, Last>, "kiln::vulkan: the stage is inlined, not dispatched on its own");
  return detail::ShaderEmitter<S, St, Last>().emit(te::stage_object<St>(last));
}
// The modules of every dispatched stage, in the order they run.
template <tir::Schedule S, class Last>
constexpr std::vector<std::vector<std::uint32_t>> emit_shaders(const Last& last) {
  std::vector<std::vector<std::uint32_t>> out;
  [&]<class... Ss>(te::TypeList<Ss...>) { (out.push_back(emit_stage_shader<S, Ss>(last)), ...); }(gpu_stages_t<Last>{});
  return out;
}
template <class Last>
constexpr std::vector<std::vector<std::uint32_t>> emit_shaders(const Last& last) {
  return emit_shaders<default_gpu_schedule<Last>()>(last);
}
// The module of a kernel of one dispatch (no reduction before its last stage).
template <tir::Schedule S, class Last>
constexpr std::vector<std::uint32_t> emit_shader(const Last& last) {
  static_assert(gpu_stages_t<Last>::size == 1, "kiln::vulkan: the kernel runs several dispatches; use emit_shaders");
  return emit_stage_shader<S, Last>(last);
}
template <class Last>
constexpr std::vector<std::uint32_t> emit_shader(const Last& last) {
  return emit_shader<default_gpu_schedule<Last>()>(last);
}

// The module of dispatch I (default: the last) assembled at compile time: `Compute` is a
// constexpr compute (its constants are part of the shader), S a schedule.
template <tir::Schedule S, const auto& Compute, std::size_t I = gpu_stages_t<std::remove_cvref_t<decltype(Compute)>>::size - 1>
inline constexpr auto baked_shader = [] {
  using Last = std::remove_cvref_t<decltype(Compute)>;
  using St = std::tuple_element_t<I, typename te::tuple_of<gpu_stages_t<Last>>::type>;
  constexpr std::size_t size = emit_stage_shader<S, St>(Compute).size();
  std::array<std::uint32_t, size> words{};
  const std::vector<std::uint32_t> v = emit_stage_shader<S, St>(Compute);
  for (std::size_t i = 0; i < size; ++i) words[i] = v[i];
  return words;
}();

} // namespace kiln::vulkan
