// kiln/backend/cpu/kernel.hpp: the CPU backend. build<schedule>(compute) checks and lowers every
// stage of the kernel that `compute` ends at compile time and returns a Kernel whose loops are
// instantiated from the loop programs: static extents become constants, the vectorized loop
// becomes xsimd batches, the outermost parallel loop runs on a ThreadPool. Inlined stages are
// folded into the expressions of their consumers; a reverse-inlined stage runs as the
// epilogue of its producer.
#pragma once

#include <xsimd/xsimd.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../config.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../runtime/aligned_alloc.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../../te/inline.hpp"
#include "../../te/tensor.hpp"
#include "../../tir/stage_rewrites.hpp"
#include "../../tir/compute_spec.hpp"
#include "../../tir/lower.hpp"
#include "../../tir/stage_graph.hpp"
#include "../../tir/stage_plan.hpp"
#include "../../tir/region.hpp"
#include "../../tir/tensorize.hpp"
#include "buffer.hpp"
#include "tensor_intrinsic.hpp"
#include "vector_eval.hpp"

namespace kiln::cpu {

// The SIMD architecture kernels are built for: the best one the compile flags enable.
using default_arch = xsimd::default_arch;

// An illegal schedule stops compilation here. g++ prints the diagnostic in the template
// argument: schedule_error<kiln::tir::Diagnostic{true, "vectorize(\"k\"): ..."}>.
template <tir::Diagnostic D>
struct schedule_error {
  static_assert(!D.failed, "kiln: illegal schedule; the message is in schedule_error<...> above");
  static constexpr bool ok = !D.failed;
};

namespace detail {


template <class List> struct input_buffers;
template <class... Ps> struct input_buffers<te::TypeList<Ps...>> {
  using type = std::tuple<Buffer<const typename Ps::value_type, Ps::rank>...>;
};
template <class List> struct stage_buffers;
template <class... Ss> struct stage_buffers<te::TypeList<Ss...>> {
  using type = std::tuple<Buffer<typename Ss::value_type, Ss::rank>...>;
};

// The expression a statement evaluates: the body, or what a reduction combines.
template <class B> struct statement_expr { using type = B; };
template <class R, class B, class... A> struct statement_expr<te::Reduce<R, B, A...>> { using type = B; };

// All argument and intermediate buffers of one run.
template <class Last>
struct Buffers {
  typename input_buffers<typename Last::inputs>::type inputs;
  typename stage_buffers<typename Last::stages>::type stages;
  // For a stage computed at another stage's loop: the elements between the buffers of two
  // chunks of a parallel loop (each chunk computes its regions into its own buffer).
  std::int64_t chunk_elements[Last::stages::size] = {};
};

// What the innermost statement of stage St sees: its axis values and every buffer.
template <class PlanT, class St, class Last>
struct Env {
  static constexpr const tir::LoopProgram& P = PlanT::template program<St>;
  using Output = typename St::value_type;

  std::int64_t axes[tir::kMaxAxes] = {};
  Buffers<Last>* buffers = nullptr;  // an attached stage's buffer takes the shape of each region
  const std::int64_t* symbols = nullptr;
  Output epilogue_input{};

  template <Name N>
  KILN_FORCEINLINE std::int64_t symbol() const noexcept {
    constexpr int slot = [] {
      for (int i = 0; i < P.symbol_count; ++i)
        if (P.symbols[i] == N) return i;
      return -1;
    }();
    static_assert(slot >= 0, "kiln: extent_of names an extent the kernel does not have");
    return symbols[slot];
  }

  template <Name N>
  KILN_FORCEINLINE std::int64_t var() const noexcept {
    constexpr int a = P.find_axis(N);
    static_assert(a >= 0, "kiln: the expression uses a loop variable that is not an axis of its stage");
    return axes[a];
  }
  template <Name N>
  KILN_FORCEINLINE void advance(std::int64_t by) noexcept {
    constexpr int a = P.find_axis(N);  // at compile time: names compare by their bytes
    axes[a] += by;
  }
  template <class Placeholder>
  KILN_FORCEINLINE const auto& buffer() const noexcept {
    return std::get<te::index_by_name<typename Last::inputs, Placeholder::name>::value>(buffers->inputs);
  }
  template <class Stage>
  KILN_FORCEINLINE const auto& stage_buffer() const noexcept {
    return std::get<te::index_by_name<typename Last::stages, Stage::name>::value>(buffers->stages);
  }
  template <class Placeholder, class... Idx>
  KILN_FORCEINLINE auto load(Idx... idx) const noexcept {
    return *buffer<Placeholder>().at(idx...);
  }
  // The layout of a tensor's buffer: an input's is strided as the caller passed it; a
  // stage's is set by transform_layout in the program of the stage that writes it.
  template <class Tensor>
  static constexpr tir::BufferLayout layout_of = [] {
    if constexpr (requires { Tensor::body; }) {
      using Writer = std::tuple_element_t<PlanT::writer_of(PlanT::template index_of<Tensor>),
                                          typename te::tuple_of<typename PlanT::Stages>::type>;
      return PlanT::template program<Writer>.layout;
    } else {
      return tir::BufferLayout{};
    }
  }();
  template <class Stage, class... Idx>
  KILN_FORCEINLINE auto* stage_element(Idx... idx) const noexcept {
    constexpr tir::BufferLayout L = layout_of<Stage>;
    return stage_buffer<Stage>().template at_blocked<L.blocked_axis, L.block>(idx...);
  }
  template <class Stage, class... Idx>
  KILN_FORCEINLINE auto load_stage(Idx... idx) const noexcept {
    return *stage_element<Stage>(idx...);
  }
  KILN_FORCEINLINE Output epilogue_value() const noexcept { return epilogue_input; }
  // The element the statement writes: in this stage's buffer or its epilogue consumer's.
  // (This stage writes that buffer, so its program holds the buffer's layout.)
  KILN_FORCEINLINE auto* out() const noexcept {
    const auto& buf = std::get<PlanT::output_of(PlanT::template index_of<St>)>(buffers->stages);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return buf.template at_blocked<P.layout.blocked_axis, P.layout.block>(axes[I]...);
    }(std::make_index_sequence<St::rank>{});
  }
  // Whether the elements out() addresses for `lanes` steps of `axis` are consecutive.
  KILN_FORCEINLINE bool out_unit_run(std::size_t axis, std::int64_t lanes) const noexcept {
    return std::get<PlanT::output_of(PlanT::template index_of<St>)>(buffers->stages)
        .template unit_run<P.layout.blocked_axis, P.layout.block>(axis, axes[axis], lanes);
  }
};

template <class PlanT, class St, class Last, class Arch, class Exprs, class AllExprs>
struct Codegen {
  static constexpr const tir::LoopProgram& P = PlanT::template program<St>;
  using T = typename St::value_type;
  using EnvT = Env<PlanT, St, Last>;
  using Body = typename Exprs::first_type;
  using Stmt = typename statement_expr<Body>::type;
  static constexpr bool is_reduction = St::is_reduction;
  static constexpr bool has_epilogue = !std::is_same_v<typename Exprs::second_type, int>;
  static constexpr bool has_simd = !std::is_same_v<Arch, xsimd::unavailable> && xsimd::has_simd_register<T, Arch>::value;
  static constexpr std::size_t width = [] {
    if constexpr (has_simd) return xsimd::batch<T, Arch>::size;
    else return std::size_t{1};
  }();
  // The outermost reduction loop: the init nest runs before it; the write-back of a local
  // accumulator and the epilogue run after it, over the spatial loops inside it.
  static constexpr int first_reduction_loop = [] {
    for (int i = 0; i < P.loop_count; ++i)
      if (P.loops[i].reduction) return i;
    return -1;
  }();
  static constexpr bool local_accumulator = P.local_accumulator;
  static constexpr bool decomposed_init = P.decomposed_init && !P.local_accumulator;
  static constexpr std::int64_t tile_size = local_accumulator ? tir::reduction_tile(P) : 1;
  // The position of each loop (by id) in the local tile: row-major over the spatial loops
  // inside the first reduction loop.
  static constexpr auto tile_stride = [] {
    std::array<std::int64_t, tir::kMaxLoops * 4> stride{};
    std::int64_t s = 1;
    for (int i = P.loop_count - 1; i > first_reduction_loop && first_reduction_loop >= 0; --i) {
      if (P.loops[i].reduction) continue;
      stride[static_cast<std::size_t>(P.loops[i].id)] = s;
      s *= P.static_value(P.loops[i].extent);
    }
    return stride;
  }();

  struct State {
    std::int64_t loop[tir::kMaxLoops * 4] = {};  // loop variable values, by loop id
    const std::int64_t* symbols = nullptr;
    EnvT env;
    const Exprs* exprs = nullptr;
    const AllExprs* all = nullptr;  // every stage's, for the stages attached to this one's loops
    T* tile = nullptr;  // the local accumulator while the reduction runs
  };

  static KILN_FORCEINLINE std::int64_t tile_index(const State& s) noexcept {
    return [&]<int... L>(std::integer_sequence<int, L...>) {
      return (std::int64_t{0} + ... + (s.loop[P.loops[L].id] * tile_stride[static_cast<std::size_t>(P.loops[L].id)]));
    }(std::make_integer_sequence<int, P.loop_count>{});
  }
  // Where the statement accumulates: the local tile, or the output element.
  static KILN_FORCEINLINE T* target(const State& s) noexcept {
    if constexpr (local_accumulator) return s.tile + tile_index(s);
    else return s.env.out();
  }

  template <int Node>
  static KILN_FORCEINLINE std::int64_t index(const State& s) noexcept {
    constexpr tir::IndexNode n = P.nodes[Node];
    if constexpr (n.op == tir::IndexNode::constant) return n.value;
    else if constexpr (n.op == tir::IndexNode::symbol) return s.symbols[n.value];
    else if constexpr (n.op == tir::IndexNode::loop_var) return s.loop[n.value];
    else {
      const std::int64_t a = index<n.a>(s), b = index<n.b>(s);
      if constexpr (n.op == tir::IndexNode::add) return a + b;
      else if constexpr (n.op == tir::IndexNode::sub) return a - b;
      else if constexpr (n.op == tir::IndexNode::mul) return a * b;
      else if constexpr (n.op == tir::IndexNode::floordiv) return a / b;  // operands are never negative
      else if constexpr (n.op == tir::IndexNode::floormod) return a % b;
      else if constexpr (n.op == tir::IndexNode::ceildiv) return (a + b - 1) / b;
      else return a < b ? a : b;
    }
  }

  static KILN_FORCEINLINE void compute_axes(State& s) noexcept {
    [&]<int... A>(std::integer_sequence<int, A...>) { ((s.env.axes[A] = index<P.axis_value[A]>(s)), ...); }(
        std::make_integer_sequence<int, P.axis_count>{});
  }
  // Per axis, the position of the innermost loop its value depends on (-1: none). An axis is
  // recomputed when that loop steps and keeps its value below it, so a statement deep in a
  // nest of fused loops does not divide its way back to every axis each time.
  static constexpr auto axis_depth = [] {
    std::array<int, tir::kMaxAxes> depth{};
    for (int a = 0; a < P.axis_count; ++a) {
      depth[static_cast<std::size_t>(a)] = -1;
      for (int i = 0; i < P.loop_count; ++i)
        if (P.depends_on_loop(P.axis_value[a], P.loops[i].id)) depth[static_cast<std::size_t>(a)] = i;
    }
    return depth;
  }();
  template <int Depth>
  static KILN_FORCEINLINE void update_axes(State& s) noexcept {
    [&]<int... A>(std::integer_sequence<int, A...>) {
      ((axis_depth[A] == Depth ? (s.env.axes[A] = index<P.axis_value[A]>(s), 0) : 0), ...);
    }(std::make_integer_sequence<int, P.axis_count>{});
  }
  static constexpr bool guard_uses_reduction(int g) noexcept {
    for (int i = 0; i < P.loop_count; ++i)
      if (P.loops[i].reduction && P.depends_on_loop(P.guards[g].value, P.loops[i].id)) return true;
    return false;
  }
  // Guarded tails that do not involve the loop `SkipId` (-1: all of them); with SpatialOnly,
  // only the guards of spatial axes. Pad guards are not among them (see in_tensor_extent).
  template <int SkipId, bool SpatialOnly = false>
  static KILN_FORCEINLINE bool guards_hold(const State& s) noexcept {
    return [&]<int... G>(std::integer_sequence<int, G...>) {
      return (... && (P.guards[G].pad || P.depends_on_loop(P.guards[G].value, SkipId) ||
                      (SpatialOnly && guard_uses_reduction(G)) ||
                      index<P.guards[G].value>(s) < index<P.guards[G].bound>(s)));
    }(std::make_integer_sequence<int, P.guard_count>{});
  }
  // False where the statement lies in the padding of a padded axis (it then stores zero).
  static constexpr bool padded = P.has_padding();
  static KILN_FORCEINLINE bool in_tensor_extent(const State& s) noexcept {
    return [&]<int... G>(std::integer_sequence<int, G...>) {
      return (... && (!P.guards[G].pad || index<P.guards[G].value>(s) < index<P.guards[G].bound>(s)));
    }(std::make_integer_sequence<int, P.guard_count>{});
  }
  // How many of `limit` steps of loop LoopId, from its current value, the guarded tails on it
  // let run (WithPads: the pad guards too, which leaves the steps inside the tensor).
  template <int LoopId, bool WithPads = false>
  static KILN_FORCEINLINE std::int64_t guarded_steps(const State& s, std::int64_t limit) noexcept {
    [&]<int... G>(std::integer_sequence<int, G...>) {
      (((WithPads || !P.guards[G].pad) && P.depends_on_loop(P.guards[G].value, LoopId)
            ? (limit = std::min(limit, index<P.guards[G].bound>(s) - index<P.guards[G].value>(s)), 0)
            : 0),
       ...);
    }(std::make_integer_sequence<int, P.guard_count>{});
    return limit;
  }
  // The statement in the padding: zero (a local accumulator's tile is written back later).
  static KILN_FORCEINLINE void store_padding(const State& s) noexcept {
    if constexpr (!local_accumulator) *s.env.out() = T{};
  }
  // The reduction starts at an output element when every reduction axis is at 0.
  static KILN_FORCEINLINE bool at_reduction_start(const State& s) noexcept {
    return [&]<int... A>(std::integer_sequence<int, A...>) {
      return (... && (!P.axis_reduction[A] || s.env.axes[A] == 0));
    }(std::make_integer_sequence<int, P.axis_count>{});
  }

  // The innermost statement of the nest; the loops keep the axes up to date (update_axes).
  static KILN_FORCEINLINE void scalar_statement(State& s) noexcept {
    if (!guards_hold<-1>(s)) return;
    if constexpr (padded) {
      if (!in_tensor_extent(s)) return store_padding(s);
    }
    statement(s);
  }
  // The statement at the current axes, inside the guards and the tensor.
  static KILN_FORCEINLINE void statement(State& s) noexcept {
    T* out = target(s);
    if constexpr (is_reduction) {
      using R = typename Body::reducer_type;
      if constexpr (!decomposed_init && !local_accumulator) {
        if (at_reduction_start(s)) *out = R::template identity<T>();
      }
      *out = R::combine(*out, static_cast<T>(s.exprs->first.body.eval(s.env)));
    } else {
      *out = static_cast<T>(s.exprs->first.eval(s.env));
    }
  }

  // The axis whose elements lie next to each other in the buffer this stage writes.
  static constexpr int innermost_axis = P.layout.blocked() ? P.layout.blocked_axis
                                        : P.layout.transformed() ? P.layout.order[P.layout.rank - 1]
                                                                 : static_cast<int>(St::rank) - 1;

  // W lanes of the vectorized loop, starting at the current value of its variable.
  template <int Depth>
  static KILN_FORCEINLINE void vector_statement(State& s) noexcept {
    constexpr tir::Loop L = P.loops[Depth];
    constexpr int axis = [] {
      for (int a = 0; a < P.axis_count; ++a)
        if (P.depends_on_loop(P.axis_value[a], L.id)) return a;
      return -1;
    }();
    constexpr Name axis_name = P.axis_names[axis];
    update_axes<Depth>(s);
    if (!guards_hold<L.id>(s)) return;
    // Lanes past a guarded tail are dropped; lanes in the padding store zero one by one.
    const std::int64_t lanes = guarded_steps<L.id>(s, static_cast<std::int64_t>(width));
    // The vector loop is the innermost, so it steps the local tile by one.
    constexpr bool output_contiguous = local_accumulator || axis == innermost_axis;
    if constexpr (has_simd && output_contiguous && vectorizable_v<Stmt, T, axis_name>) {
      bool whole = lanes == static_cast<std::int64_t>(width);
      if constexpr (padded) whole = whole && guarded_steps<L.id, true>(s, lanes) == lanes && in_tensor_extent(s);
      if (whole && (local_accumulator || s.env.out_unit_run(axis, lanes))) {
        using batch = xsimd::batch<T, Arch>;
        using V = VectorEval<T, Arch, axis_name>;
        T* out = target(s);
        if constexpr (is_reduction) {
          using R = typename Body::reducer_type;
          batch acc = batch::load_unaligned(out);
          if constexpr (!decomposed_init && !local_accumulator) {
            if (at_reduction_start(s)) acc = batch(R::template identity<T>());
          }
          const batch v = V::eval_any(s.exprs->first.body, s.env);
          if constexpr (std::is_same_v<R, te::reducer::sum>) acc += v;
          else if constexpr (std::is_same_v<R, te::reducer::prod>) acc *= v;
          else if constexpr (std::is_same_v<R, te::reducer::max>) acc = xsimd::max(acc, v);
          else acc = xsimd::min(acc, v);
          acc.store_unaligned(out);
        } else {
          V::eval_any(s.exprs->first, s.env).store_unaligned(out);
        }
        return;
      }
    }
    // One lane at a time. The guards hold for the lanes counted; only the vector axis moves,
    // by one per lane (vectorize accepts no other loop), so the other axes stay as computed.
    const std::int64_t first = s.loop[L.id], origin = s.env.axes[axis];
    std::int64_t inside = lanes;  // the lanes inside the tensor; the rest is padding
    if constexpr (padded) inside = in_tensor_extent(s) ? guarded_steps<L.id, true>(s, lanes) : 0;
    for (std::int64_t l = 0; l < lanes; ++l) {
      s.loop[L.id] = first + l;  // a local tile's index reads it
      s.env.axes[axis] = origin + l;
      if (padded && l >= inside) store_padding(s);
      else statement(s);
    }
    s.loop[L.id] = first;
    s.env.axes[axis] = origin;
  }

  // ---- around the reduction: nests over the spatial loops inside the first reduction loop
  enum class Around { init, finish };

  // init: the outputs start at the reducer's identity. finish: the local tile is written
  // back and the epilogue applied.
  template <Around What, int Depth>
  static void around_reduction(State& s) noexcept {
    if constexpr (Depth == P.loop_count) {
      compute_axes(s);
      if (!guards_hold<-1, true>(s)) return;
      T* out = s.env.out();
      if constexpr (padded) {
        if (!in_tensor_extent(s)) {
          *out = T{};
          return;
        }
      }
      if constexpr (What == Around::init) {
        *out = Body::reducer_type::template identity<T>();
      } else {
        T value = local_accumulator ? s.tile[tile_index(s)] : *out;
        if constexpr (has_epilogue) {
          s.env.epilogue_input = value;
          value = static_cast<T>(s.exprs->second.eval(s.env));
        }
        *out = value;
      }
    } else {
      constexpr tir::Loop L = P.loops[Depth];
      if constexpr (L.reduction) {
        s.loop[L.id] = 0;
        around_reduction<What, Depth + 1>(s);
      } else {
        std::int64_t trip = 0;
        if constexpr (L.tail_bound >= 0) trip = index<L.tail_bound>(s);
        else trip = index<L.extent>(s);
        for (std::int64_t i = 0; i < trip; ++i) {
          s.loop[L.id] = i;
          around_reduction<What, Depth + 1>(s);
        }
      }
    }
  }

  static constexpr bool reduction_may_be_empty = [] {
    for (int a = P.spatial_count; a < P.axis_count; ++a)
      if (P.static_value(P.axis_extent[a]) <= 0) return true;
    return false;
  }();
  static KILN_FORCEINLINE bool reduction_is_empty(const State& s) noexcept {
    return [&]<int... A>(std::integer_sequence<int, A...>) {
      return (... || (P.axis_reduction[A] && index<P.axis_extent[A]>(s) == 0));
    }(std::make_integer_sequence<int, P.axis_count>{});
  }

  // ---- compute_at / reverse_compute_at: stages run inside this stage's loops
  static constexpr int self = PlanT::template index_of<St>;
  using StageTuple = typename te::tuple_of<typename PlanT::Stages>::type;

  // Whether stage a runs before (or after) the body of this stage's loop at Depth.
  static constexpr bool attached_at(int a, int depth, bool after) noexcept {
    return PlanT::host_of(a) == self && PlanT::roles.after_body[a] == after &&
           P.find_loop(PlanT::roles.host_loop[a]) == depth;
  }
  template <int Depth, bool After>
  static constexpr bool has_attached = [] {
    for (int a = 0; a < PlanT::graph.count; ++a)
      if (attached_at(a, Depth, After)) return true;
    return false;
  }();

  static constexpr int position_of_loop_id(std::int64_t id) noexcept {
    for (int i = 0; i < P.loop_count; ++i)
      if (P.loops[i].id == id) return i;
    return -1;
  }
  // The values a node takes while the loops outside and at Depth keep theirs.
  template <int Node, int Depth>
  static KILN_FORCEINLINE tir::Interval node_interval(const State& s) noexcept {
    constexpr tir::IndexNode n = P.nodes[Node];
    if constexpr (n.op == tir::IndexNode::constant || n.op == tir::IndexNode::symbol) {
      return tir::Interval::point(index<Node>(s));
    } else if constexpr (n.op == tir::IndexNode::loop_var) {
      constexpr int position = position_of_loop_id(n.value);
      if constexpr (position <= Depth) return tir::Interval::point(s.loop[n.value]);
      else return {0, index<P.loops[position].extent>(s) - 1};
    } else {
      const tir::Interval a = node_interval<n.a, Depth>(s), b = node_interval<n.b, Depth>(s);
      if constexpr (n.op == tir::IndexNode::add) return a + b;
      else if constexpr (n.op == tir::IndexNode::sub) return a - b;
      else if constexpr (n.op == tir::IndexNode::mul) return a * b;
      else if constexpr (n.op == tir::IndexNode::floordiv) return tir::floordiv(a, b);
      else if constexpr (n.op == tir::IndexNode::ceildiv) return tir::floordiv(a + b - tir::Interval::point(1), b);
      else if constexpr (n.op == tir::IndexNode::floormod) return tir::floormod(a, b);
      else return tir::min(a, b);
    }
  }

  // Runs stage A (index Ai) over the region that one iteration of the loop at Depth reads of
  // it (compute_at) or wrote of it (reverse_compute_at).
  template <int Depth, class A, int Ai>
  static void run_attached_stage(const State& s) noexcept {
    using AExprs = std::tuple_element_t<Ai, AllExprs>;
    using ACodegen = Codegen<PlanT, A, Last, Arch, AExprs, AllExprs>;
    constexpr const tir::LoopProgram& AP = PlanT::template program<A>;
    // This stage's axes during the iteration, within their extents (the guards skip the rest).
    tir::Interval axes[tir::kMaxAxes];
    [&]<int... X>(std::integer_sequence<int, X...>) {
      ((axes[X] = node_interval<P.axis_value[X], Depth>(s).clamped(0, index<P.axis_extent[X]>(s) - 1)), ...);
    }(std::make_integer_sequence<int, P.axis_count>{});
    tir::Interval region[A::rank > 0 ? A::rank : 1];
    if constexpr (PlanT::roles.after_body[Ai]) {
      for (std::size_t q = 0; q < A::rank; ++q) region[q] = axes[q];
    } else {
      auto axis = [&](const Name& n) {
        const int a = P.find_axis(n);
        return a >= 0 ? axes[a] : tir::Interval::unbounded();
      };
      tir::read_region<A::name>(s.exprs->first, axis, s.env, region);
    }
    typename ACodegen::State as;
    std::int64_t symbols[tir::kMaxSymbols] = {};
    for (int i = 0; i < AP.kernel_symbol_count; ++i) symbols[i] = s.symbols[i];
    as.symbols = symbols;
    const bool empty = [&]<int... Q>(std::integer_sequence<int, Q...>) {
      ((region[Q] = region[Q].clamped(0, ACodegen::template full_extent<Q>(as) - 1)), ...);
      return (... || region[Q].empty());
    }(std::make_integer_sequence<int, static_cast<int>(A::rank)>{});
    if (empty) return;
    for (std::size_t q = 0; q < A::rank; ++q) {
      symbols[AP.region_extent_slot[q]] = region[q].hi - region[q].lo + 1;
      symbols[AP.region_origin_slot[q]] = region[q].lo;
    }
    if constexpr (compacted(Ai)) {
      // Only this iteration reads the region: it is stored densely, indexed by the tensor's
      // indices. (A reverse-attached stage writes its final tensor, which others may read.)
      auto& buffer = std::get<Ai>(s.env.buffers->stages);
      std::int64_t stride = 1, offset = 0;
      for (std::size_t q = A::rank; q-- > 0;) {
        buffer.extent[q] = region[q].hi - region[q].lo + 1;
        buffer.stride[q] = stride;
        offset -= region[q].lo * stride;
        stride *= buffer.extent[q];
      }
      buffer.offset = offset;
    }
    as.env.symbols = symbols;
    as.env.buffers = s.env.buffers;
    as.exprs = &std::get<Ai>(*s.all);
    as.all = s.all;
    ACodegen::start(as);
  }
  template <int Axis>
  static KILN_FORCEINLINE std::int64_t full_extent(const State& s) noexcept {
    return index<P.axis_full_extent[Axis]>(s);
  }

  template <int Depth, bool After>
  static KILN_FORCEINLINE void run_attached(const State& s) noexcept {
    [&]<std::size_t... A>(std::index_sequence<A...>) {
      auto one = [&]<std::size_t Ai>(std::integral_constant<std::size_t, Ai>) {
        if constexpr (attached_at(static_cast<int>(Ai), Depth, After))
          run_attached_stage<Depth, std::tuple_element_t<Ai, StageTuple>, static_cast<int>(Ai)>(s);
      };
      (one(std::integral_constant<std::size_t, A>{}), ...);
    }(std::make_index_sequence<std::tuple_size_v<StageTuple>>{});
  }

  template <int Depth>
  static KILN_FORCEINLINE void loop_body(State& s, std::int64_t i) noexcept {
    s.loop[P.loops[Depth].id] = i;
    update_axes<Depth>(s);
    if constexpr (has_attached<Depth, false>) run_attached<Depth, false>(s);
    run<Depth + 1>(s);
    if constexpr (has_attached<Depth, true>) run_attached<Depth, true>(s);
  }

  template <int Depth, std::int64_t Trip>
  static KILN_FORCEINLINE void static_loop(State& s) noexcept {
    constexpr tir::Loop L = P.loops[Depth];
    if constexpr (L.kind == tir::LoopKind::vectorized) {
      constexpr std::int64_t w = static_cast<std::int64_t>(width);
      std::int64_t i = 0;
      for (; i + w <= Trip; i += w) {
        s.loop[L.id] = i;
        vector_statement<Depth>(s);
      }
      if constexpr (Trip % w != 0) {
        for (; i < Trip; ++i) loop_body<Depth>(s, i);
      }
    } else if constexpr (L.kind == tir::LoopKind::unrolled) {
      [&]<std::int64_t... I>(std::integer_sequence<std::int64_t, I...>) { (loop_body<Depth>(s, I), ...); }(
          std::make_integer_sequence<std::int64_t, Trip>{});
    } else {
      for (std::int64_t i = 0; i < Trip; ++i) loop_body<Depth>(s, i);
    }
  }

  template <int Depth>
  static KILN_FORCEINLINE void dynamic_loop(State& s, std::int64_t trip) noexcept {
    for (std::int64_t i = 0; i < trip; ++i) loop_body<Depth>(s, i);
  }

  // ---- tensorize: the loops from Depth inwards (k, rows, columns) as one intrinsic call
  template <class Load>
  static KILN_FORCEINLINE const auto& operand_buffer(const EnvT& env) noexcept {
    if constexpr (requires { typename Load::placeholder_type; })
      return env.template buffer<typename Load::placeholder_type>();
    else return env.template stage_buffer<typename Load::stage_type>();
  }
  template <class Load>
  static constexpr tir::BufferLayout operand_layout = [] {
    if constexpr (requires { typename Load::placeholder_type; }) return tir::BufferLayout{};
    else return EnvT::template layout_of<typename Load::stage_type>;
  }();
  template <class Load>
  static KILN_FORCEINLINE auto operand_at(const Load& load, const EnvT& env) noexcept {
    const auto& buf = operand_buffer<Load>(env);
    constexpr tir::BufferLayout L = operand_layout<Load>;
    return std::apply([&](const auto&... idx) { return buf.template at_blocked<L.blocked_axis, L.block>(idx.eval(env)...); },
                      load.indices);
  }
  // Whether an operand (or the output) holds its tile as rows, `run` consecutive elements
  // along the last index from the current position, a constant stride apart (then `ld`):
  // a buffer blocked along its rows has no such stride.
  template <tir::BufferLayout L, class B>
  static KILN_FORCEINLINE bool tile_rows(const B& buf, std::int64_t last_index, std::int64_t run, std::int64_t& ld) noexcept {
    constexpr std::size_t rank = std::extent_v<decltype(B::stride)>;
    if constexpr (L.blocked_axis == static_cast<int>(rank) - 2) {
      return false;
    } else {
      ld = buf.stride[rank - 2];
      return buf.template unit_run<L.blocked_axis, L.block>(rank - 1, last_index, run);
    }
  }
  template <class Load>
  static KILN_FORCEINLINE bool operand_rows(const Load& load, const EnvT& env, std::int64_t run, std::int64_t& ld) noexcept {
    const std::int64_t last_index = std::get<std::tuple_size_v<decltype(load.indices)> - 1>(load.indices).eval(env);
    return tile_rows<operand_layout<Load>>(operand_buffer<Load>(env), last_index, run, ld);
  }

  // Whether every index of an operand's read, at the current axes, lies inside its buffer
  // (a padded stage's buffer extends over its padding).
  template <class Load>
  static KILN_FORCEINLINE bool read_in_buffer(const Load& load, const EnvT& env) noexcept {
    if constexpr (requires { typename Load::stage_type; }) {
      // A region computed at a loop holds no padding (and is indexed from its origin).
      constexpr int stage = PlanT::template index_of<typename Load::stage_type>;
      if constexpr (PlanT::host_of(stage) >= 0) return false;
    }
    const auto& buf = operand_buffer<Load>(env);
    return std::apply(
        [&](const auto&... idx) {
          std::size_t q = 0;
          bool inside = true;
          ((inside = inside && idx.eval(env) < buf.extent[q++]), ...);
          return inside;
        },
        load.indices);
  }

  // False when the tile is cut by a guarded tail, reaches into the padding of this stage
  // where an operand is not padded as far, or an operand is not contiguous along its rows;
  // the scheduled loops then run instead.
  template <int Depth>
  static KILN_FORCEINLINE bool tensorized(State& s) noexcept {
    constexpr tir::Loop K = P.loops[Depth], Rows = P.loops[Depth + 1], Cols = P.loops[Depth + 2];
    constexpr int rows = P.intrinsic.rows, cols = P.intrinsic.cols;
    const auto& product = s.exprs->first.body;
    const auto& a = tir::uncast_operand(product.lhs);
    const auto& b = tir::uncast_operand(product.rhs);
    s.loop[K.id] = 0;
    s.loop[Rows.id] = rows - 1;
    s.loop[Cols.id] = cols - 1;
    compute_axes(s);
    if (!guards_hold<K.id>(s)) return false;
    if constexpr (padded) {
      // The far corner of the tile lies in the padding: the intrinsic may fill it from the
      // operands' padding, where they have it.
      if (!in_tensor_extent(s) && !(read_in_buffer(a, s.env) && read_in_buffer(b, s.env))) return false;
    }
    s.loop[Rows.id] = 0;
    s.loop[Cols.id] = 0;
    compute_axes(s);
    // A guarded split of k shortens the run of k in the last chunk.
    std::int64_t kc = 0;
    if constexpr (K.tail_bound >= 0) kc = index<K.tail_bound>(s);
    else kc = index<K.extent>(s);
    kc = std::max<std::int64_t>(guarded_steps<K.id>(s, kc), 0);
    const auto& cbuf = std::get<PlanT::output_of(PlanT::template index_of<St>)>(s.env.buffers->stages);
    std::int64_t lda = 0, ldb = 0, ldc = 0;
    if (!operand_rows(a, s.env, kc, lda) || !operand_rows(b, s.env, cols, ldb) ||
        !tile_rows<P.layout>(cbuf, s.env.axes[St::rank - 1], cols, ldc))
      return false;
    const bool accumulate = decomposed_init || !at_reduction_start(s);
    tensor_intrinsic<P.intrinsic.name>::template run<rows, cols, Arch>(kc, operand_at(a, s.env), lda, operand_at(b, s.env),
                                                                       ldb, s.env.out(), ldc, accumulate);
    return true;
  }

  template <int Depth>
  static KILN_FORCEINLINE void loop(State& s) noexcept {
    if constexpr (Depth == P.tensorize_at) {
      if (tensorized<Depth>(s)) return;
    }
    constexpr tir::Loop L = P.loops[Depth];
    constexpr std::int64_t full = P.static_value(L.extent);
    if constexpr (L.tail_bound >= 0) {
      // A separate tail: full tiles take the static loop, the last one a shorter loop.
      const std::int64_t trip = index<L.tail_bound>(s);
      if (KILN_LIKELY(trip == full)) static_loop<Depth, full>(s);
      else dynamic_loop<Depth>(s, trip);
    } else if constexpr (full >= 0) {
      static_loop<Depth, full>(s);
    } else {
      dynamic_loop<Depth>(s, index<L.extent>(s));
    }
  }

  template <int Depth>
  static KILN_FORCEINLINE void run(State& s) noexcept {
    if constexpr (Depth == P.loop_count) {
      scalar_statement(s);
    } else {
      if constexpr (Depth == first_reduction_loop && local_accumulator) {
        alignas(64) T tile[tile_size];
        for (T& v : tile) v = Body::reducer_type::template identity<T>();
        s.tile = tile;
        loop<Depth>(s);
        around_reduction<Around::finish, Depth + 1>(s);
        s.tile = nullptr;
      } else {
        if constexpr (Depth == first_reduction_loop && decomposed_init) around_reduction<Around::init, Depth + 1>(s);
        // Initialized at the first reduction step, an empty reduction would never be written.
        if constexpr (Depth == first_reduction_loop && !decomposed_init && reduction_may_be_empty) {
          if (reduction_is_empty(s)) around_reduction<Around::init, Depth + 1>(s);
        }
        loop<Depth>(s);
        if constexpr (Depth == first_reduction_loop && has_epilogue) around_reduction<Around::finish, Depth + 1>(s);
      }
    }
  }

  // A stage computed at this stage's loops holds one region at a time.
  static constexpr bool compacted(int stage) noexcept {
    return PlanT::host_of(stage) == self && !PlanT::roles.after_body[stage];
  }
  static constexpr bool hosts_stages = [] {
    for (int a = 0; a < PlanT::graph.count; ++a)
      if (compacted(a)) return true;
    return false;
  }();

  // The whole nest; the outermost loop goes to the pool when it is parallel.
  static void execute(State& s, ThreadPool* pool) {
    if constexpr (P.loop_count > 0 && P.loops[0].kind == tir::LoopKind::parallel) {
      if (pool != nullptr && pool->size() > 1) {
        const std::int64_t trip = index<P.loops[0].extent>(s);
        const std::int64_t chunks = pool->chunk_count(0, trip);
        pool->parallel_for(0, trip, [&](std::int64_t begin, std::int64_t end) {
          State local = s;
          compute_axes(local);
          if constexpr (hosts_stages) {
            // Stages attached to this nest compute into this chunk's own buffers.
            std::int64_t chunk = 0;
            while (chunk + 1 < chunks && ThreadPool::chunk_range(0, trip, chunks, chunk).begin != begin) ++chunk;
            Buffers<Last> mine = *s.env.buffers;
            [&]<std::size_t... A>(std::index_sequence<A...>) {
              ((compacted(static_cast<int>(A)) ? (std::get<A>(mine.stages).data += chunk * mine.chunk_elements[A], 0)
                    : 0),
               ...);
            }(std::make_index_sequence<Last::stages::size>{});
            local.env.buffers = &mine;
            for (std::int64_t i = begin; i < end; ++i) loop_body<0>(local, i);
          } else {
            for (std::int64_t i = begin; i < end; ++i) loop_body<0>(local, i);
          }
        });
        return;
      }
    }
    start(s);
  }
  // The nest from its first loop, every axis computed once before it.
  static KILN_FORCEINLINE void start(State& s) noexcept {
    compute_axes(s);
    run<0>(s);
  }
};

} // namespace detail

// The stages of a kernel lowered under a schedule for the CPU. Call it with the inputs, in the
// order they first appear (earlier stages first), then the output; views or tensors. Each
// Kernel keeps the workspace of its intermediate stages, allocated on the first run and
// reused while shapes do not grow; one Kernel object must not run on two threads at once.
// ArgInputs is the order of the input arguments: the inputs of the kernel as written, before
// cache_read added stages (which can change which input is read first).
template <tir::Schedule S, class Last, class Arch, class ArgInputs = typename Last::inputs>
class Kernel {
  using PlanT = tir::StagePlan<S, Last>;
  using Stages = typename Last::stages;
  using StageTuple = typename te::tuple_of<Stages>::type;

  template <class... Ss>
  static auto all_exprs(te::TypeList<Ss...>, const Last& last) {
    return std::make_tuple(tir::make_stage_exprs<PlanT, Ss>(last)...);
  }

 public:
  using compute_type = Last;

  explicit Kernel(const Last& last) : exprs_(all_exprs(Stages{}, last)) {}

  // Bytes of workspace held for intermediate stages: the most any run so far needed.
  std::size_t workspace_bytes() const noexcept { return workspace_bytes_; }

  // The loop program of one stage, for inspection.
  template <class St>
  static constexpr const tir::LoopProgram& program = PlanT::template program<St>;

  template <class... Args>
  Status operator()(Args&&... args) const {
    return run(nullptr, std::forward<Args>(args)...);
  }

  // Runs the outermost loop of each stage, if the schedule made it parallel, on the pool.
  template <class... Args>
  Status run(ThreadPool* pool, Args&&... args) const {
    static_assert(sizeof...(Args) == Last::inputs::size + 1,
                  "kiln::cpu::Kernel: pass every input (in order of first use) and then the output");
    std::int64_t symbols[tir::kMaxSymbols] = {};
    bool bound[tir::kMaxSymbols] = {};
    detail::Buffers<Last> buffers;
    KILN_RETURN_IF_ERROR(bind_all(buffers, symbols, bound, std::forward_as_tuple(args...),
                                  std::make_index_sequence<Last::inputs::size>{}));
    constexpr tir::LoopProgram last_program = PlanT::template program<Last>;
    for (int i = 0; i < last_program.kernel_symbol_count; ++i)
      if (!bound[i])
        return make_error(StatusCode::invalid_argument, "kernel ", Last::name.view(), ": extent ",
                          last_program.symbols[i].view(), " is not the extent of any argument");
    KILN_RETURN_IF_ERROR(check_all_derived(buffers, symbols, std::make_index_sequence<Last::inputs::size>{}));
    KILN_RETURN_IF_ERROR(place_intermediates(buffers, symbols, pool != nullptr ? pool->size() : 1));
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (run_stage<std::tuple_element_t<I, StageTuple>, I>(buffers, symbols, pool), ...);
    }(std::make_index_sequence<Stages::size>{});
    return {};
  }

 private:
  template <class St, std::size_t I>
  void run_stage(detail::Buffers<Last>& buffers, const std::int64_t* symbols, ThreadPool* pool) const {
    if constexpr (PlanT::top_level(static_cast<int>(I))) {
      using AllExprs = decltype(exprs_);
      using Exprs = std::tuple_element_t<I, AllExprs>;
      using Codegen = detail::Codegen<PlanT, St, Last, Arch, Exprs, AllExprs>;
      typename Codegen::State state;
      state.symbols = symbols;
      state.env.symbols = symbols;
      state.env.buffers = &buffers;
      state.exprs = &std::get<I>(exprs_);
      state.all = &exprs_;
      Codegen::execute(state, pool);
    }
  }

  // Row-major buffers in the workspace for the intermediate stages that are written. A stage
  // computed at another stage's loop gets one buffer per chunk of a parallel run, each large
  // enough for the whole tensor (a region never exceeds it) but holding one region at a time.
  Status place_intermediates(detail::Buffers<Last>& buffers, const std::int64_t* symbols, int chunks) const {
    std::size_t total = 0;
    auto layout = [&]<class St, std::size_t I>(bool assign) {
      if constexpr (PlanT::needs_workspace(static_cast<int>(I))) {
        auto& buf = std::get<I>(buffers.stages);
        std::int64_t count = 1;
        std::size_t axis = 0;
        // Padded axes (pad, Tail::round_up) extend to the multiple the writer's program asks.
        using Writer = std::tuple_element_t<PlanT::writer_of(static_cast<int>(I)), StageTuple>;
        constexpr const tir::LoopProgram& wp = PlanT::template program<Writer>;
        [&]<class... Es>(te::Extents<Es...>) {
          auto one = [&]<class E>(std::type_identity<E>) {
            const std::int64_t e = extent_value<E>(symbols);
            buf.extent[axis] = wp.padded_extent(static_cast<int>(axis), e);
            count *= buf.extent[axis++];
          };
          (one(std::type_identity<Es>{}), ...);
        }(typename St::extents_type{});
        std::int64_t stride = 1;
        if constexpr (wp.layout.transformed()) {
          // transform_layout: the order it gives, innermost last; a blocked axis's position in
          // its block innermost, its stride that of a whole block.
          constexpr tir::BufferLayout L = wp.layout;
          if constexpr (L.blocked()) stride = L.block;
          for (int d = L.rank; d-- > 0;) {
            const int a = L.order[d];
            buf.stride[a] = stride;
            stride *= L.stored_extent(a, buf.extent[a]);
          }
        } else {
          // Row-major, each stride padded as storage_align asks.
          constexpr const tir::LoopProgram& sp = PlanT::template program<St>;
          for (std::size_t a = St::rank; a-- > 0;) {
            if (const std::int64_t f = sp.align_factor[a]; f > 0)
              stride += ((sp.align_offset[a] - stride) % f + f) % f;
            buf.stride[a] = stride;
            stride *= buf.extent[a];
          }
        }
        count = std::max(count, stride);
        const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(typename St::value_type) + 63) / 64 * 64;
        if (assign) buf.data = reinterpret_cast<typename St::value_type*>(workspace_.get() + total);
        buf.offset = 0;
        if constexpr (PlanT::host_of(static_cast<int>(I)) >= 0 && !PlanT::roles.after_body[I]) {
          buffers.chunk_elements[I] = static_cast<std::int64_t>(bytes / sizeof(typename St::value_type));
          total += bytes * static_cast<std::size_t>(chunks);
        } else {
          total += bytes;
        }
      }
    };
    auto pass = [&](bool assign) {
      total = 0;
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (layout.template operator()<std::tuple_element_t<I, StageTuple>, I>(assign), ...);
      }(std::make_index_sequence<Stages::size>{});
    };
    pass(false);
    if (total > workspace_bytes_) {
      workspace_.reset(static_cast<std::byte*>(aligned_alloc_bytes(total)));
      if (!workspace_) {
        workspace_bytes_ = 0;
        return make_error(StatusCode::out_of_memory, "kernel ", Last::name.view(), ": cannot allocate ", total,
                          " bytes of workspace for intermediate stages");
      }
      workspace_bytes_ = total;
    }
    pass(true);
    return {};
  }

  // The value of an extent of the kernel with its symbols bound.
  template <class E>
  static std::int64_t extent_value(const std::int64_t* symbols) noexcept {
    return te::evaluate_extent<E>([symbols]<Name N>() {
      constexpr int slot = tir::compute_spec<Last, Last>().symbol_slot_of(N);
      return symbols[slot];
    });
  }
  // Every derived extent of the arguments against its value once all symbols are bound, and
  // of the stages and reductions: none may be negative.
  template <class... Es, class B>
  static Status check_derived(te::Extents<Es...>, const B& buf, const Name& name, const std::int64_t* symbols) {
    Status status;
    std::size_t axis = 0;
    auto check_one = [&]<class E>(std::type_identity<E>) {
      if constexpr (te::is_derived<E>::value) {
        const std::int64_t expected = extent_value<E>(symbols);
        if (status.ok() && buf.extent[axis] != expected)
          status = make_error(StatusCode::shape_mismatch, "argument ", name.view(), ": extent ", buf.extent[axis],
                              " on axis ", axis, " but ", te::extent_text<E>(), " = ", expected);
      }
      ++axis;
    };
    (check_one(std::type_identity<Es>{}), ...);
    return status;
  }
  template <class... Es>
  static Status check_not_negative(te::Extents<Es...>, const Name& name, const std::int64_t* symbols) {
    Status status;
    auto check_one = [&]<class E>(std::type_identity<E>) {
      if constexpr (te::is_derived<E>::value) {
        if (const std::int64_t e = extent_value<E>(symbols); status.ok() && e < 0)
          status = make_error(StatusCode::shape_mismatch, "kernel ", Last::name.view(), ": ", name.view(), " has extent ",
                              te::extent_text<E>(), " = ", e, ", which is negative for these arguments");
      }
    };
    (check_one(std::type_identity<Es>{}), ...);
    return status;
  }
  template <std::size_t... I>
  static Status check_all_derived(detail::Buffers<Last>& buffers, const std::int64_t* symbols, std::index_sequence<I...>) {
    Status status;
    auto input = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
      using Ph = std::tuple_element_t<K, typename te::tuple_of<typename Last::inputs>::type>;
      if (status.ok())
        status = check_derived(typename Ph::extents_type{}, std::get<K>(buffers.inputs), Ph::name, symbols);
    };
    (input(std::integral_constant<std::size_t, I>{}), ...);
    KILN_RETURN_IF_ERROR(status);
    KILN_RETURN_IF_ERROR(check_derived(typename Last::extents_type{}, std::get<Stages::size - 1>(buffers.stages),
                                       Last::name, symbols));
    [&]<class... Ss>(te::TypeList<Ss...>) {
      auto stage = [&]<class St>(std::type_identity<St>) {
        if (status.ok()) status = check_not_negative(typename St::extents_type{}, St::name, symbols);
        [&]<class... R>(te::TypeList<R...>) {
          ((status = status.ok() ? check_not_negative(te::Extents<typename R::extent_type>{}, R::name, symbols) : status),
           ...);
        }(typename St::reduce_axes{});
      };
      (stage(std::type_identity<Ss>{}), ...);
    }(Stages{});
    return status;
  }

  // Checks one argument's extents against a tensor's declared extents (static extents must
  // match, named ones bind on first use and must agree afterwards; derived ones are checked
  // once every name is bound, by check_all_derived).
  template <class... Es, class B>
  static Status check_extents(te::Extents<Es...>, const B& buf, const Name& name, std::int64_t* symbols, bool* bound) {
    Status status;
    std::size_t axis = 0;
    auto check_one = [&]<class E>(std::type_identity<E>) {
      const std::int64_t actual = buf.extent[axis];
      if (status.ok()) {
        if constexpr (te::is_derived<E>::value) {
        } else if constexpr (is_static_v<E>) {
          if (actual != E::value)
            status = make_error(StatusCode::shape_mismatch, "argument ", name.view(), ": extent ", actual, " on axis ",
                                axis, " but the kernel was built for ", E::value);
        } else {
          constexpr int slot = tir::compute_spec<Last, Last>().symbol_slot_of(E::name);
          if (!bound[slot]) {
            symbols[slot] = actual;
            bound[slot] = true;
          } else if (symbols[slot] != actual) {
            status = make_error(StatusCode::shape_mismatch, "argument ", name.view(), ": extent ", actual, " on axis ",
                                axis, " but ", E::name.view(), " = ", symbols[slot], " from an earlier argument");
          }
        }
      }
      ++axis;
    };
    (check_one(std::type_identity<Es>{}), ...);
    return status;
  }

  template <class ArgTuple, std::size_t... I>
  static Status bind_all(detail::Buffers<Last>& buffers, std::int64_t* symbols, bool* bound, ArgTuple args,
                         std::index_sequence<I...>) {
    Status status;
    auto bind_input = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
      if (!status.ok()) return;
      using Ph = std::tuple_element_t<K, typename te::tuple_of<ArgInputs>::type>;
      auto b = to_buffer<const typename Ph::value_type, Ph::rank>(std::get<K>(args), Ph::name.c_str());
      if (!b.ok()) {
        status = std::move(b).status();
        return;
      }
      std::get<te::index_by_name<typename Last::inputs, Ph::name>::value>(buffers.inputs) = *b;
      status = check_extents(typename Ph::extents_type{}, *b, Ph::name, symbols, bound);
    };
    (bind_input(std::integral_constant<std::size_t, I>{}), ...);
    KILN_RETURN_IF_ERROR(status);
    auto out = to_buffer<typename Last::value_type, Last::rank>(std::get<sizeof...(I)>(args), Last::name.c_str());
    if (!out.ok()) return std::move(out).status();
    std::get<Stages::size - 1>(buffers.stages) = *out;
    return check_extents(typename Last::extents_type{}, *out, Last::name, symbols, bound);
  }

  struct FreeAligned {
    void operator()(std::byte* p) const noexcept { aligned_free(p); }
  };

  decltype(all_exprs(Stages{}, std::declval<const Last&>())) exprs_;
  mutable std::unique_ptr<std::byte, FreeAligned> workspace_;
  mutable std::size_t workspace_bytes_ = 0;
};

// Lowers every stage of the kernel that `last` ends under schedule S, for SIMD architecture
// Arch; an illegal schedule is a compile-time error naming the primitive and the loop.
template <tir::Schedule S, class Arch = default_arch, class Last>
auto build(const Last& last) {
  // The stages that cache_read and cache_write(global) add come first.
  const auto kernel = tir::rewrite_stages<S>(last);
  using Kernel_ = std::remove_const_t<decltype(kernel)>;
  static_assert(schedule_error<tir::schedule_diagnostic<S, Kernel_>()>::ok);
  return Kernel<S, Kernel_, Arch, typename Last::inputs>(kernel);
}

} // namespace kiln::cpu
