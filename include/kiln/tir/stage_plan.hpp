// kiln/tir/stage_plan.hpp: what each stage of a kernel becomes under a schedule: folded into
// its consumers (compute_inline), run as its producer's epilogue (reverse_compute_inline), or
// executed as a loop nest that writes its own buffer. Backends and the printer share it.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/name.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "compute_spec.hpp"
#include "lower.hpp"
#include "schedule.hpp"
#include "stage_graph.hpp"
#include "tensorize.hpp"

namespace kiln::tir {

// The roles of the stages, as plain data computed from the stage graph and the schedule.
struct StageRoles {
  int producer[kMaxStages] = {};  // for a reverse-inlined stage, the stage it reads; else -1
  int epilogue[kMaxStages] = {};  // the reverse-inlined consumer run as this stage's epilogue; else -1
  bool executed[kMaxStages] = {};
  int output[kMaxStages] = {};    // the stage whose buffer this stage writes
  bool needs_workspace[kMaxStages] = {};
  // compute_at / reverse_compute_at: the stage whose loop runs this one (else -1), that
  // loop's name, and whether it runs after the loop's body (reverse) or before it.
  int host[kMaxStages] = {};
  Name host_loop[kMaxStages] = {};
  bool after_body[kMaxStages] = {};
  // Stages folded into expressions: the inlined ones, and the injective producers of
  // reverse-inlined stages (for those, running the consumer with the producer inlined is the
  // same computation).
  te::NameSet inlined;
};

constexpr StageRoles stage_roles(const StageGraph& g, const Schedule& s) noexcept {
  StageRoles r;
  for (int i = 0; i < g.count; ++i) {
    r.producer[i] = -1;
    r.epilogue[i] = -1;
    const StageInfo& info = g.stages[i];
    if (!s.has(PrimitiveKind::reverse_compute_inline, info.name)) continue;
    for (int k = 0; k < info.read_count && r.producer[i] < 0; ++k)
      if (!s.has(PrimitiveKind::compute_inline, info.reads[k])) r.producer[i] = g.find(info.reads[k]);
  }
  for (int i = 0; i < g.count; ++i) {
    if (s.has(PrimitiveKind::compute_inline, g.stages[i].name)) r.inlined.names[r.inlined.count++] = g.stages[i].name;
    const int p = r.producer[i];
    if (p < 0) continue;
    if (g.stages[p].reduction) r.epilogue[p] = i;
    else r.inlined.names[r.inlined.count++] = g.stages[p].name;
  }
  for (int i = 0; i < g.count; ++i) {
    const int p = r.producer[i];
    r.executed[i] = !r.inlined.contains(g.stages[i].name) && !(p >= 0 && g.stages[p].reduction);
    r.output[i] = r.epilogue[i] >= 0 ? r.epilogue[i] : i;
  }
  for (int i = 0; i < g.count; ++i)
    if (r.executed[i] && r.output[i] != g.count - 1) r.needs_workspace[r.output[i]] = true;
  for (int i = 0; i < g.count; ++i) {
    r.host[i] = -1;
    if (const int at = s.attachment(g.stages[i].name); at >= 0 && r.executed[i]) {
      const Primitive& p = s.primitives[at];
      r.host[i] = g.find(p.results[0]);
      r.host_loop[i] = p.loops[0];
      r.after_body[i] = p.kind == PrimitiveKind::reverse_compute_at;
    }
  }
  return r;
}

template <Schedule S, class Last>
struct StagePlan {
  using Stages = typename Last::stages;
  static constexpr StageGraph graph = stage_graph<Last>();
  static constexpr Diagnostic stage_error = check_stages(graph, S);
  static constexpr StageRoles roles = stage_roles(graph, S);
  static constexpr te::NameSet inlined = roles.inlined;

  static constexpr int epilogue_of(int stage) noexcept { return roles.epilogue[stage]; }
  static constexpr bool executed(int stage) noexcept { return roles.executed[stage]; }
  static constexpr int output_of(int stage) noexcept { return roles.output[stage]; }
  static constexpr bool needs_workspace(int stage) noexcept { return roles.needs_workspace[stage]; }
  // The executed stage whose statement writes the buffer of `stage`: itself, or its producer
  // when it runs as that producer's epilogue. Its loop program says how the buffer is padded.
  static constexpr int writer_of(int stage) noexcept {
    for (int j = 0; j < graph.count; ++j)
      if (roles.executed[j] && roles.output[j] == stage) return j;
    return stage;
  }
  // Executed on its own, not inside another stage's loop.
  static constexpr bool top_level(int stage) noexcept { return roles.executed[stage] && roles.host[stage] < 0; }
  static constexpr int host_of(int stage) noexcept { return roles.host[stage]; }

  template <class St>
  static constexpr int index_of = static_cast<int>(te::index_by_name<Stages, St::name>::value);

  template <class St>
  static constexpr LoopProgram program = lower(compute_spec<St, Last>(), S);
};

// The first illegal thing about a schedule for a kernel, for the compile-time report.
template <Schedule S, class Last>
constexpr Diagnostic schedule_diagnostic() noexcept {
  using PlanT = StagePlan<S, Last>;
  if (PlanT::stage_error.failed) return PlanT::stage_error;
  Diagnostic d;
  [&]<class... Ss>(te::TypeList<Ss...>) {
    ((PlanT::executed(PlanT::template index_of<Ss>) && PlanT::template program<Ss>.error.failed && !d.failed
          ? (d = PlanT::template program<Ss>.error, 0)
          : 0),
     ...);
  }(typename PlanT::Stages{});
  if (d.failed) return d;
  // The loop a stage is attached at must exist in the host, hold whole iterations of it and,
  // for reverse_compute_at, lie outside the host's reduction (its outputs are final there).
  [&]<class... Ss>(te::TypeList<Ss...>) {
    auto one = [&]<class St>(std::type_identity<St>) {
      constexpr int i = PlanT::template index_of<St>;
      if constexpr (PlanT::host_of(i) >= 0) {
        using Host = std::tuple_element_t<PlanT::host_of(i), typename te::tuple_of<typename PlanT::Stages>::type>;
        constexpr const LoopProgram& hp = PlanT::template program<Host>;
        constexpr Name loop = PlanT::roles.host_loop[i];
        constexpr int at = hp.find_loop(loop);
        const char* primitive = PlanT::roles.after_body[i] ? "reverse_compute_at" : "compute_at";
        Diagnostic e;
        auto fail = [&](std::string_view what) {
          e.failed = true;
          detail::append(e, primitive);
          detail::append(e, "(\"");
          detail::append(e, loop.view());
          detail::append(e, "\"): ");
          detail::append(e, what);
        };
        if constexpr (at < 0) {
          fail("no loop of that name in the stage it names");
        } else if constexpr (PlanT::host_of(PlanT::host_of(i)) >= 0) {
          // Its buffers would be shared by the chunks of a parallel loop around the host.
          fail("the stage it names is itself computed at another stage's loop; attach both to that stage");
        } else {
          bool inside_reduction = false;
          for (int l = 0; l <= at; ++l) inside_reduction = inside_reduction || hp.loops[l].reduction;
          if (hp.loops[at].kind == LoopKind::vectorized) fail("the loop is vectorized; attach outside it");
          else if (hp.tensorize_at >= 0 && at >= hp.tensorize_at) fail("the loop is inside a tensorized nest");
          else if (PlanT::roles.after_body[i] && inside_reduction)
            fail("the loop is inside the producer's reduction, whose outputs are not final there");
        }
        if (e.failed && !d.failed) d = e;
      }
    };
    (one(std::type_identity<Ss>{}), ...);
  }(typename PlanT::Stages{});
  if (d.failed) return d;
  [&]<class... Ss>(te::TypeList<Ss...>) {
    auto one = [&]<class St>(std::type_identity<St>) {
      if constexpr (PlanT::executed(PlanT::template index_of<St>)) {
        using Body = decltype(te::inline_stages<PlanT::inlined>(std::declval<const typename St::body_type&>()));
        constexpr Diagnostic t = tensorize_diagnostic<St, Body, PlanT::template program<St>>();
        if (t.failed && !d.failed) d = t;
      }
    };
    (one(std::type_identity<Ss>{}), ...);
  }(typename PlanT::Stages{});
  return d;
}

// The run-time form of one executed stage: its expression with inlined stages folded in, and
// its epilogue (a reverse-inlined consumer's body over this stage's axes), if any.
template <class PlanT, class St, class Last>
auto make_stage_exprs(const Last& last) {
  const St stage = te::stage_object<St>(last);
  auto expr = te::inline_stages<PlanT::inlined>(stage.body);
  constexpr int epilogue = PlanT::epilogue_of(PlanT::template index_of<St>);
  if constexpr (epilogue >= 0) {
    using Consumer = std::tuple_element_t<epilogue, typename te::tuple_of<typename PlanT::Stages>::type>;
    const Consumer consumer = te::stage_object<Consumer>(last);
    auto epi = te::make_epilogue<St, Consumer>(te::inline_stages<PlanT::inlined>(consumer.body));
    return std::make_pair(expr, epi);
  } else {
    return std::make_pair(expr, 0);
  }
}

} // namespace kiln::tir
