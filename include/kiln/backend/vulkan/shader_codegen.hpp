// kiln/backend/vulkan/shader_codegen.hpp: a kernel as Vulkan compute shaders, in SPIR-V words
// that kiln writes itself. A kernel runs as one dispatch per reduction stage and one for its
// last stage (gpu_stages_t); every other stage is inlined into the expressions that read it.
// A dispatched stage's loop nest (lowered for a GPU) becomes the shader's control flow: loops
// bound to block axes read the workgroup id, loops bound to thread axes the invocation id,
// other loops are structured loops, guarded tails are selections. Every module of a kernel
// has the same interface: the inputs as storage buffers (bindings 0, 1, ... in order of first
// use), then one buffer per dispatched stage (the last is the output); named extents travel as
// push constants (one i32 each, in the kernel's symbol order). A stage's shared copies
// (shared_cache.hpp) are arrays in workgroup memory, filled between two barriers at the top of
// each iteration of their loop; the guards that would make that control flow differ between
// the invocations of a workgroup wait until after the copy.
//
// The emitter is constexpr: `baked_shader<schedule, compute>` is a module assembled while the
// application compiles; `emit_shaders<schedule>(compute)` the same words at run time, for
// kernels built at load time.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>
#include <type_traits>
#include <vector>

#include "../../core/float16.hpp"
#include "../../te/inline.hpp"
#include "../../te/tensor.hpp"
#include "../../tir/loop_program.hpp"
#include "default_schedule.hpp"
#include "gpu_program.hpp"
#include "shader_features.hpp"
#include "shader_builder.hpp"
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
class ShaderEmitter : public ShaderBuilder {
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
    declare_interface();

    declare_shared_copies();
    // Loops bound to thread axes first: their values do not change inside the shader.
    for (int axis = 0; axis < kThreadAxes; ++axis) {
      const int loop = G.bound_loop[axis];
      if (loop < 0) continue;
      const tir::Loop& l = P.loops[loop];
      loop_value_[l.id] = thread_index(axis);
      defined_[l.id] = true;
      // Workgroups past a block loop's extent (a dispatch folded onto y) do nothing; the
      // whole workgroup takes that branch, so a barrier inside it is still uniform.
      if (axis < 3) open_if(m_.value(Op::s_less_than, t_bool_, {loop_value_[l.id], index(l.extent)}));
    }
    if (G.shared_count > 0 && G.is_block_bound(G.shared_attach)) copy_to_shared(stage);
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
          reduction_depth = depth();
        }
      }
      open_loop(l);
      if (i == G.shared_attach) copy_to_shared(stage);
      open_ready_guards();
    }
    if constexpr (te::is_reduce<Body>::value) {
      constexpr Kind k = kind_of<typename Body::value_type>();
      if (reduction_depth < 0) {  // every reduction loop bound: impossible, bind refuses them
        out_offset = output_offset();
        accumulator = m_.function_variable(m_.type_pointer(spirv::storage::function, scalar(k)));
        m_.code(Op::store, {accumulator, identity<typename Body::reducer_type, typename Body::value_type>()});
        reduction_depth = depth();
      }
      for (int g = 0; g < P.guard_count; ++g)
        if (around_body_[g]) open_guard(g);
      const Value v = convert(expr(stage.body.body), k);
      const spirv::Id old = m_.value(Op::load, scalar(k), {accumulator});
      m_.code(Op::store, {accumulator, combine<typename Body::reducer_type>(k, old, v.id)});
      while (depth() > reduction_depth) close();
      spirv::Id total = m_.value(Op::load, scalar(k), {accumulator});
      if (G.tree_axis >= 0) {
        total = reduce_across_workgroup<typename Body::reducer_type>(k, total);
        for (int g = 0; g < P.guard_count; ++g)
          if (deferred_[g]) open_guard(g);
        open_if(m_.value(Op::i_equal, t_bool_, {local_id(static_cast<std::uint32_t>(G.tree_axis)), m_.constant_i32(0)}));
      } else if (deferred_opened_at_ > reduction_depth) {
        // Guards held back for a copy inside the reduction closed with it; the store needs the
        // ones of the spatial loops again.
        for (int g = 0; g < P.guard_count; ++g)
          if (deferred_[g] && !reads_reduction_loop(g)) open_guard(g);
      }
      store_output(out_offset, Value{total, k});
    } else {
      // One statement each: the order of the instructions (and of the ids) must not depend on
      // the order a compiler evaluates arguments in, or compile-time and run-time modules differ.
      const spirv::Id at = output_offset();
      const Value v = expr(stage.body);
      store_output(at, v);
    }
    if (unresolved_) return {};
    return finish(G.workgroup_size[0], G.workgroup_size[1], G.workgroup_size[2]);
  }

 private:
  // The values of an inlined producer's axes while its body is emitted.
  struct Frame {
    Name names[tir::kMaxAxes] = {};
    spirv::Id values[tir::kMaxAxes] = {};
    int count = 0;
  };
  using ShaderBuilder::kind_of;
  template <class T>
  static constexpr Kind kind_of() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, f16>) return Kind::f32;  // f16 computes in f32
    else if constexpr (std::is_same_v<T, bool>) return Kind::boolean;
    else if constexpr (std::is_integral_v<T> && (sizeof(T) >= 4 || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>))
      return Kind::i32;  // indices: i64 in kiln, i32 here; 8-bit integers compute in i32
    else static_assert(unsupported_type_v<T>, "kiln::vulkan: the expression computes in a type the Vulkan backend does not support yet (f32, i32, bool)");
  }
  // ---- interface: the inputs' buffers, then the dispatched stages'; the kernel's extents ----
  constexpr void declare_interface() {
    Storage storages[kBuffers] = {};
    int binding = 0;
    auto buffer = [&]<class T>(std::type_identity<T>) {
      static_assert(is_buffer_element_v<T>, "kiln::vulkan: a kernel argument's element type is not supported by the Vulkan backend yet (f32, f16, i32, i8, u8)");
      storages[binding++] = storage_of<T>();
    };
    [&]<class... Ps>(te::TypeList<Ps...>) { (buffer(std::type_identity<typename Ps::value_type>{}), ...); }(Inputs{});
    [&]<class... Ss>(te::TypeList<Ss...>) { (buffer(std::type_identity<typename Ss::value_type>{}), ...); }(Stages{});
    begin(storages, kBuffers, P.symbol_count);
    binding = 0;
    [&]<class... Ps>(te::TypeList<Ps...>) { (name_buffer(binding++, Ps::name.view()), ...); }(Inputs{});
    [&]<class... Ss>(te::TypeList<Ss...>) { (name_buffer(binding++, Ss::name.view()), ...); }(Stages{});
  }

  // The value of the loop bound to a thread axis. block_x also counts the rows of a dispatch
  // folded onto y when one row cannot hold every workgroup.
  constexpr spirv::Id thread_index(int axis) {
    if (axis >= 3) return local_id(static_cast<std::uint32_t>(axis - 3));
    if (axis != 0 || G.bound_loop[1] >= 0) return workgroup_id(static_cast<std::uint32_t>(axis));
    return folded_workgroup_x();
  }

  // ---- index arithmetic of the loop program ----------------------------------------------
  constexpr spirv::Id index(int node) {
    using spirv::Op;
    const tir::IndexNode& n = P.nodes[node];
    switch (n.op) {
      case tir::IndexNode::constant: return m_.constant_i32(static_cast<std::int32_t>(n.value));
      case tir::IndexNode::symbol: return push_constant(static_cast<int>(n.value));
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
      return push_constant(tir::compute_spec<Last, Last>().symbol_slot_of(E::name));
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
  constexpr void store_output(spirv::Id at, Value v) {
    store_element(kOutput, at, v);
  }

  constexpr void open_loop(const tir::Loop& l) {
    loop_value_[l.id] = ShaderBuilder::open_loop([&] { return index(l.extent); }, l.kind == tir::LoopKind::unrolled);
    defined_[l.id] = true;
  }
  // Guarded tails: each guard as soon as the loops it reads are open; until the shared copies
  // are made, held back (a barrier must be reached by every invocation of the workgroup). A
  // stage reduced as a tree has its barriers after the reduction loops: there a guard of the
  // reduction wraps the accumulation only, one of the output the store.
  constexpr void open_ready_guards() {
    for (int g = 0; g < P.guard_count; ++g) {
      if (guard_open_[g] || !ready(P.guards[g].value) || !ready(P.guards[g].bound)) continue;
      guard_open_[g] = true;
      if (G.tree_axis >= 0) (reads_reduction_loop(g) ? around_body_[g] : deferred_[g]) = true;
      else if (copies_pending()) deferred_[g] = true;
      else open_guard(g);
    }
  }

  // Each invocation's share of the reduction (`partial`) combined over the invocations along
  // the tree axis, by halving strides in workgroup memory with a barrier after each step; every
  // invocation gets its group's total.
  template <class R>
  constexpr spirv::Id reduce_across_workgroup(Kind k, spirv::Id partial) {
    using spirv::Op;
    const std::uint32_t axis = static_cast<std::uint32_t>(G.tree_axis);
    const std::int64_t invocations = std::int64_t{G.workgroup_size[0]} * G.workgroup_size[1] * G.workgroup_size[2];
    std::int64_t unit = 1;  // the step between neighbours along the tree axis
    for (std::uint32_t a = 0; a < axis; ++a) unit *= G.workgroup_size[a];
    const std::int64_t n = G.workgroup_size[axis];
    const spirv::Id tree = workgroup_array(k, static_cast<std::uint32_t>(invocations), "tree");
    const spirv::Id me = local_index(G.workgroup_size[0], G.workgroup_size[1]);
    const spirv::Id lane = local_id(axis);
    workgroup_barrier();  // a previous output's tree is read
    store_shared(tree, me, {partial, k});
    workgroup_barrier();
    std::int64_t stride = 1;
    while (stride * 2 < n) stride *= 2;
    for (; stride >= 1 && n > 1; stride /= 2) {
      const spirv::Id c = m_.constant_i32(static_cast<std::int32_t>(stride));
      const spirv::Id below = m_.value(Op::s_less_than, t_bool_, {lane, c});
      const spirv::Id partner_inside = m_.value(Op::s_less_than, t_bool_, {m_.value(Op::i_add, t_i32_, {lane, c}), m_.constant_i32(static_cast<std::int32_t>(n))});
      open_if(m_.value(Op::logical_and, t_bool_, {below, partner_inside}));
      const spirv::Id partner = m_.value(Op::i_add, t_i32_, {me, m_.constant_i32(static_cast<std::int32_t>(stride * unit))});
      const spirv::Id mine = load_shared(tree, k, me).id, theirs = load_shared(tree, k, partner).id;
      store_shared(tree, me, {combine<R>(k, mine, theirs), k});
      close();
      workgroup_barrier();
    }
    const spirv::Id first = m_.value(Op::i_sub, t_i32_, {me, m_.value(Op::i_mul, t_i32_, {lane, m_.constant_i32(static_cast<std::int32_t>(unit))})});
    return load_shared(tree, k, first).id;
  }
  constexpr void open_guard(int g) {
    open_if(m_.value(spirv::Op::s_less_than, t_bool_, {index(P.guards[g].value), index(P.guards[g].bound)}));
  }
  constexpr bool reads_reduction_loop(int g) const {
    for (int i = 0; i < P.loop_count; ++i)
      if (P.loops[i].reduction && (P.depends_on_loop(P.guards[g].value, P.loops[i].id) || P.depends_on_loop(P.guards[g].bound, P.loops[i].id)))
        return true;
    return false;
  }

  // ---- shared copies ---------------------------------------------------------------------
  constexpr bool copies_pending() const { return G.shared_count > 0 && deferred_opened_at_ < 0; }
  static constexpr Kind kind_of(const SharedCache& cache) { return cache.floating ? Kind::f32 : Kind::i32; }
  constexpr void declare_shared_copies() {
    for (int c = 0; c < G.shared_count; ++c) {
      const SharedCache& cache = G.shared[c];
      shared_var_[c] = workgroup_array(kind_of(cache), static_cast<std::uint32_t>(cache.elements),
                                       (cache.tensor + "_shared").view());
    }
  }
  // Every invocation of the workgroup copies a share of each region, then the guards held
  // back open.
  constexpr void copy_to_shared(const St& stage) {
    workgroup_barrier();  // the previous iteration's reads of the copies are done
    const spirv::Id me = local_index(G.workgroup_size[0], G.workgroup_size[1]);
    [&]<int... C>(std::integer_sequence<int, C...>) { (copy_region<C>(stage, me), ...); }(std::make_integer_sequence<int, G.shared_count>{});
    workgroup_barrier();
    deferred_opened_at_ = depth();
    for (int g = 0; g < P.guard_count; ++g)
      if (deferred_[g]) open_guard(g);
  }
  // `me`: the invocation's index in its workgroup.
  template <int C>
  constexpr void copy_region(const St& stage, spirv::Id me) {
    using spirv::Op;
    constexpr SharedCache cache = G.shared[C];
    const bool found = visit_read<cache.tensor>(stage.body, [&](const auto& read) {
      using Read = std::remove_cvref_t<decltype(read)>;
      // The region's origin: the read's indices where every loop that ranges is zero.
      spirv::Id saved[kMaxLoopIds] = {};
      for (int l = 0; l < P.loop_count; ++l) {
        if (!G.ranges_in_copy(l)) continue;
        saved[P.loops[l].id] = loop_value_[P.loops[l].id];
        loop_value_[P.loops[l].id] = m_.constant_i32(0);
      }
      std::apply([&](const auto&... idx) {
        int d = 0;
        ((shared_origin_[C][d++] = convert(expr(idx), Kind::i32).id), ...);
      }, read.indices);
      for (int l = 0; l < P.loop_count; ++l)
        if (G.ranges_in_copy(l)) loop_value_[P.loops[l].id] = saved[P.loops[l].id];

      constexpr std::int64_t invocations = std::int64_t{G.workgroup_size[0]} * G.workgroup_size[1] * G.workgroup_size[2];
      constexpr std::int64_t trips = (cache.elements + invocations - 1) / invocations;
      const Kind k = kind_of(cache);
      const spirv::Id trip = ShaderBuilder::open_loop([&] { return m_.constant_i32(static_cast<std::int32_t>(trips)); });
      const spirv::Id e = m_.value(Op::i_add, t_i32_, {m_.value(Op::i_mul, t_i32_, {trip, m_.constant_i32(static_cast<std::int32_t>(invocations))}), me});
      open_if(m_.value(Op::s_less_than, t_bool_, {e, m_.constant_i32(static_cast<std::int32_t>(cache.elements))}));
      // Element e of the region, row-major; outside the tensor the copy holds zero.
      spirv::Id at[tir::kMaxAxes + 1] = {};
      spirv::Id inside = m_.constant_bool(true);
      const auto source_extents = extents_of(typename read_source_t<Read>::extents_type{});
      std::int64_t stride = 1;
      for (int d = cache.rank; d-- > 0;) {
        spirv::Id step = m_.value(Op::s_div, t_i32_, {e, m_.constant_i32(static_cast<std::int32_t>(stride))});
        step = m_.value(Op::s_rem, t_i32_, {step, m_.constant_i32(static_cast<std::int32_t>(cache.span[d]))});
        at[d] = m_.value(Op::i_add, t_i32_, {shared_origin_[C][d], step});
        const spirv::Id in_axis = m_.value(Op::logical_and, t_bool_, {m_.value(Op::s_greater_than_equal, t_bool_, {at[d], m_.constant_i32(0)}),
                                                                        m_.value(Op::s_less_than, t_bool_, {at[d], source_extents[d]})});
        inside = m_.value(Op::logical_and, t_bool_, {inside, in_axis});
        stride *= cache.span[d];
      }
      store_shared(shared_var_[C], e, {zero(k), k});
      open_if(inside);
      store_shared(shared_var_[C], e, convert(load_element(binding_of_read<Read>(), offset(typename read_source_t<Read>::extents_type{}, at)), k));
      close();
      close();
      close();
    });
    if (!found) unresolved_ = true;
  }
  // A read of a copied tensor in the stage's own expression: its element of the region.
  template <int C, class Indices>
  constexpr Value read_shared(const Indices& indices) {
    using spirv::Op;
    constexpr SharedCache cache = G.shared[C];
    spirv::Id at = 0;
    std::int64_t stride = 1;
    spirv::Id ids[tir::kMaxAxes + 1] = {};
    std::apply([&](const auto&... idx) {
      int d = 0;
      ((ids[d++] = convert(expr(idx), Kind::i32).id), ...);
    }, indices);
    for (int d = cache.rank; d-- > 0;) {
      spirv::Id step = m_.value(Op::i_sub, t_i32_, {ids[d], shared_origin_[C][d]});
      if (stride != 1) step = m_.value(Op::i_mul, t_i32_, {step, m_.constant_i32(static_cast<std::int32_t>(stride))});
      at = at == 0 ? step : m_.value(Op::i_add, t_i32_, {at, step});
      stride *= cache.span[d];
    }
    if (at == 0) at = m_.constant_i32(0);  // a scalar
    return load_shared(shared_var_[C], kind_of(cache), at);
  }
  template <Name T>
  static constexpr int shared_copy_of() {
    for (int c = 0; c < G.shared_count; ++c)
      if (G.shared[c].tensor == T) return c;
    return -1;
  }
  template <class... Es>
  constexpr std::array<spirv::Id, sizeof...(Es) + 1> extents_of(te::Extents<Es...>) {
    return {extent<Es>()..., 0};
  }
  template <class Read>
  static constexpr int binding_of_read() {
    if constexpr (requires { typename Read::placeholder_type; })
      return static_cast<int>(te::index_by_name<Inputs, Read::placeholder_type::name>::value);
    else
      return binding_of<typename Read::stage_type>;
  }
  // Calls f with the first read of tensor T in e (not looking into inlined producers);
  // whether there was one.
  template <Name T, class E, class F>
  static constexpr bool visit_read(const E& e, F&& f) {
    if constexpr (requires { typename E::placeholder_type; } || requires { typename E::stage_type; }) {
      if constexpr (requires { typename E::placeholder_type; }) {
        if constexpr (E::placeholder_type::name == T) {
          f(e);
          return true;
        }
      } else if constexpr (E::stage_type::name == T) {
        f(e);
        return true;
      }
      return std::apply([&](const auto&... idx) { return (visit_read<T>(idx, f) || ...); }, e.indices);
    } else if constexpr (requires { e.lhs; e.rhs; }) {
      return visit_read<T>(e.lhs, f) || visit_read<T>(e.rhs, f);
    } else if constexpr (requires { e.cond; }) {
      return visit_read<T>(e.cond, f) || visit_read<T>(e.if_true, f) || visit_read<T>(e.if_false, f);
    } else if constexpr (requires { e.arg; }) {
      return visit_read<T>(e.arg, f);
    } else if constexpr (te::is_reduce<E>::value) {
      return visit_read<T>(e.body, f);
    } else {
      return false;
    }
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
    return {push_constant(tir::compute_spec<Last, Last>().symbol_slot_of(N)), Kind::i32};
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
    if constexpr (shared_copy_of<Ph::name>() >= 0) {
      if (frame_ == nullptr) return read_shared<shared_copy_of<Ph::name>()>(load.indices);
    }
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
      if constexpr (shared_copy_of<C::name>() >= 0) {
        if (frame_ == nullptr) return read_shared<shared_copy_of<C::name>()>(load.indices);
      }
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

  spirv::Id loop_value_[kMaxLoopIds] = {};
  bool defined_[kMaxLoopIds] = {};
  bool guard_open_[tir::kMaxGuards] = {};
  bool deferred_[tir::kMaxGuards] = {};  // held back until the shared copies are made
  bool around_body_[tir::kMaxGuards] = {};  // wrap the accumulation only (a tree reduction)
  int deferred_opened_at_ = -1;          // the depth where they opened after the copies
  spirv::Id shared_var_[kMaxSharedCaches] = {};
  spirv::Id shared_origin_[kMaxSharedCaches][tir::kMaxAxes] = {};
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
