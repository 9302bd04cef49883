// kiln/tir/stage_graph.hpp: the stages of a kernel as data (names, which stages each one reads
// and how) and the legality of the stage-level primitives (compute_inline,
// reverse_compute_inline) and of the stage names a schedule uses.
#pragma once

#include <type_traits>

#include "../core/name.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "lower.hpp"
#include "schedule.hpp"

namespace kiln::tir {

inline constexpr int kMaxStages = 8;

struct StageInfo {
  Name name;
  bool reduction = false;
  Name reads[kMaxStages] = {};  // the stages it reads
  bool reads_at_own_axes[kMaxStages] = {};  // every read of that stage uses exactly this stage's axes, in order
  int read_count = 0;
};

struct StageGraph {
  StageInfo stages[kMaxStages] = {};
  int count = 0;
  bool too_many = false;

  constexpr int find(const Name& n) const noexcept {
    for (int i = 0; i < count; ++i)
      if (stages[i].name == n) return i;
    return -1;
  }
  constexpr int consumer_count(const Name& producer) const noexcept {
    int n = 0;
    for (int i = 0; i < count; ++i)
      for (int r = 0; r < stages[i].read_count; ++r)
        if (stages[i].reads[r] == producer) ++n;
    return n;
  }
};

namespace detail {
// Whether every read of stage P in E indexes it with exactly the axes Axes, in order.
template <Name P, class E, class Axes> struct reads_at_axes : std::true_type {};
template <Name P, class C, class... Idx, class... Axes>
struct reads_at_axes<P, te::StageLoad<C, Idx...>, te::TypeList<Axes...>> {
  static constexpr bool here = !(C::name == P) || std::is_same_v<te::TypeList<Idx...>, te::TypeList<Axes...>>;
  static constexpr bool value = here && (reads_at_axes<P, Idx, te::TypeList<Axes...>>::value && ...);
};
template <Name P, class Ph, class... Idx, class Axes>
struct reads_at_axes<P, te::Load<Ph, Idx...>, Axes> : std::bool_constant<(reads_at_axes<P, Idx, Axes>::value && ...)> {};
template <Name P, class Op, class L, class R, class Axes>
struct reads_at_axes<P, te::Binary<Op, L, R>, Axes>
    : std::bool_constant<reads_at_axes<P, L, Axes>::value && reads_at_axes<P, R, Axes>::value> {};
template <Name P, class Op, class A, class Axes>
struct reads_at_axes<P, te::Unary<Op, A>, Axes> : reads_at_axes<P, A, Axes> {};
template <Name P, class T, class A, class Axes>
struct reads_at_axes<P, te::Cast<T, A>, Axes> : reads_at_axes<P, A, Axes> {};
template <Name P, class C, class T, class F, bool L, class Axes>
struct reads_at_axes<P, te::Select<C, T, F, L>, Axes>
    : std::bool_constant<reads_at_axes<P, C, Axes>::value && reads_at_axes<P, T, Axes>::value &&
                         reads_at_axes<P, F, Axes>::value> {};
template <Name P, class R, class B, class... A, class Axes>
struct reads_at_axes<P, te::Reduce<R, B, A...>, Axes> : reads_at_axes<P, B, Axes> {};

template <class S, class... Read>
constexpr StageInfo stage_info(te::TypeList<Read...>) noexcept {
  StageInfo info;
  info.name = S::name;
  info.reduction = S::is_reduction;
  [[maybe_unused]] auto add = [&]<class R>(std::type_identity<R>) {
    for (int i = 0; i < info.read_count; ++i)
      if (info.reads[i] == R::name) return;
    if (info.read_count == kMaxStages) return;
    info.reads[info.read_count] = R::name;
    info.reads_at_own_axes[info.read_count] =
        reads_at_axes<R::name, typename S::body_type, typename S::spatial_axes>::value;
    ++info.read_count;
  };
  (add(std::type_identity<Read>{}), ...);
  return info;
}

template <class... Stages>
constexpr StageGraph make_graph(te::TypeList<Stages...>) noexcept {
  StageGraph g;
  if (sizeof...(Stages) > static_cast<std::size_t>(kMaxStages)) {
    g.too_many = true;
    return g;
  }
  ((g.stages[g.count++] = stage_info<Stages>(typename te::stages_read<typename Stages::body_type>::type{})), ...);
  return g;
}
} // namespace detail

// The stage graph of the kernel that ends with stage Last (stages in execution order).
template <class Last>
constexpr StageGraph stage_graph() noexcept {
  return detail::make_graph(typename Last::stages{});
}

// Checks the stage names of a schedule and its stage-level primitives. Returns a failed
// Diagnostic naming the primitive and the stage when something is illegal.
constexpr Diagnostic check_stages(const StageGraph& g, const Schedule& s) noexcept {
  detail::Builder b;  // only its diagnostic helper is used
  if (g.too_many) {
    b.fail("schedule", s.current, "the kernel has more stages than kiln::tir::kMaxStages");
    return b.p.error;
  }
  const Name last = g.stages[g.count - 1].name;
  for (int i = 0; i < s.count && !b.failed(); ++i) {
    const Primitive& p = s.primitives[i];
    const char* primitive = to_string(p.kind);
    const int at = g.find(p.stage);
    if (at < 0) {
      b.fail(primitive, p.stage, "no stage of that name in the kernel");
      break;
    }
    const StageInfo& stage = g.stages[at];
    const bool inlined = s.has(PrimitiveKind::compute_inline, p.stage);
    const bool reverse_inlined = s.has(PrimitiveKind::reverse_compute_inline, p.stage);
    // Padding and transform_layout change the stage's buffer; the kernel's output is the
    // caller's, also where a reverse-inlined output makes its producer write it.
    const bool pads = p.kind == PrimitiveKind::pad || (p.kind == PrimitiveKind::split && p.tail == Tail::round_up);
    bool writes_output = p.stage == last;
    const StageInfo& output = g.stages[g.count - 1];
    if (s.has(PrimitiveKind::reverse_compute_inline, last))
      for (int r = 0; r < output.read_count; ++r) writes_output = writes_output || output.reads[r] == p.stage;
    if (p.kind == PrimitiveKind::transform_layout && writes_output && !inlined && !reverse_inlined) {
      b.fail(primitive, p.stage,
             "the stage writes the kernel's output, whose layout the caller chose (cache_write(global) first)");
    } else if (p.kind == PrimitiveKind::storage_align && p.stage == last) {
      b.fail(primitive, p.loops[0], "the stage is the output of the kernel, whose buffer the caller lays out");
    } else if (pads && writes_output && !inlined && !reverse_inlined) {
      b.fail(primitive, p.loops[0],
             "padding needs a buffer of the stage's own, but it writes the kernel's output (cache_write(global) first)");
    } else if (p.kind == PrimitiveKind::compute_inline) {
      if (p.stage == last) b.fail(primitive, p.stage, "the stage is the output of the kernel and cannot be inlined");
      else if (stage.reduction) b.fail(primitive, p.stage, "the stage is a reduction; only injective stages can be inlined");
      else if (reverse_inlined) b.fail(primitive, p.stage, "the stage is also reverse-inlined");
    } else if (p.kind == PrimitiveKind::reverse_compute_inline) {
      // Its producer: the one stage it reads that is not inlined away.
      int producer = -1, producers = 0;
      bool at_own_axes = false;
      for (int r = 0; r < stage.read_count; ++r) {
        if (s.has(PrimitiveKind::compute_inline, stage.reads[r])) continue;
        producer = g.find(stage.reads[r]);
        at_own_axes = stage.reads_at_own_axes[r];
        ++producers;
      }
      if (stage.reduction) b.fail(primitive, p.stage, "the stage is a reduction; only injective stages can be reverse-inlined");
      else if (producers != 1) b.fail(primitive, p.stage, "the stage must read exactly one materialized stage");
      else if (!at_own_axes) b.fail(primitive, p.stage, "the stage does not read its producer at its own axes, in order");
      else if (g.consumer_count(g.stages[producer].name) != 1)
        b.fail(primitive, p.stage, "its producer has other consumers and must stay materialized");
      else if (s.has(PrimitiveKind::reverse_compute_inline, g.stages[producer].name))
        b.fail(primitive, p.stage, "its producer is itself reverse-inlined");
    } else if (p.kind == PrimitiveKind::rfactor) {
      // The kernel was rewritten already: the partial stage exists when the axis could be factored.
      if (p.factor <= 0) b.fail(primitive, p.loops[0], "the factor must be positive");
      else if (g.find(rfactor_name(p.stage)) < 0)
        b.fail(primitive, p.loops[0], "the stage has no reduction axis of that name");
    } else if (p.kind == PrimitiveKind::cache_read) {
      // The kernel was rewritten already: the copy exists where the stage read the tensor.
      bool reads_copy = false;
      const Name copy = cache_name(p.loops[0], p.scope);
      for (int r = 0; r < stage.read_count; ++r) reads_copy = reads_copy || stage.reads[r] == copy;
      if (!reads_copy) b.fail(primitive, p.loops[0], "the stage does not read a tensor of that name");
      else if (inlined || reverse_inlined) b.fail(primitive, p.loops[0], "the stage is inlined");
    } else if (p.kind == PrimitiveKind::compute_at || p.kind == PrimitiveKind::reverse_compute_at) {
      const int host = g.find(p.results[0]);
      const bool forward = p.kind == PrimitiveKind::compute_at;
      int read = -1;  // where the consumer's reads list the producer
      const StageInfo& consumer = forward ? (host >= 0 ? g.stages[host] : stage) : stage;
      const Name producer = forward ? p.stage : p.results[0];
      for (int r = 0; r < consumer.read_count; ++r)
        if (consumer.reads[r] == producer) read = r;
      if (host < 0) {
        b.fail(primitive, p.loops[0], "the stage it names is not in the kernel");
      } else if (s.attachment(p.stage) != i) {
        b.fail(primitive, p.loops[0], "the stage is already attached to another loop");
      } else if (inlined || reverse_inlined || s.has(PrimitiveKind::compute_inline, p.results[0]) ||
                 s.has(PrimitiveKind::reverse_compute_inline, p.results[0])) {
        b.fail(primitive, p.loops[0], "an inlined stage has no loops to attach to or at");
      } else if (read < 0) {
        b.fail(primitive, p.loops[0], forward ? "the consumer it names does not read the stage"
                                              : "the stage does not read the producer it names");
      } else if (forward && g.consumer_count(p.stage) != 1) {
        b.fail(primitive, p.loops[0], "the stage has other consumers, which would read it unfinished");
      } else if (!forward && (stage.reduction || !stage.reads_at_own_axes[read])) {
        b.fail(primitive, p.loops[0], "the stage must be injective and read the producer at its own axes, in order");
      } else if (!forward) {
        // Everything else it reads must be complete when the producer's loop runs.
        for (int r = 0; r < stage.read_count; ++r)
          if (g.find(stage.reads[r]) > host)
            b.fail(primitive, p.loops[0], "the stage reads a stage computed after the producer");
      }
    } else if (inlined || reverse_inlined) {
      b.fail(primitive, p.stage, inlined ? "the stage is inlined; it has no loops to schedule"
                                         : "the stage is reverse-inlined; it has no loops to schedule");
    }
  }
  return b.p.error;
}

} // namespace kiln::tir
