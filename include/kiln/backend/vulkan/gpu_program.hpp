// kiln/backend/vulkan/gpu_program.hpp: a kernel's schedule lowered for a GPU. The loop nest
// is the one tir::lower builds (the bind primitives set aside), plus which loop each GPU
// thread axis runs: a loop bound to a block axis is the workgroup's index, one bound to a
// thread axis the invocation's index inside the workgroup (its extent, static, is the
// workgroup size). What the GPU code generator does not do yet is refused here, at compile
// time, with the primitive and the loop named. A stage's shared copies (cache_read with
// Scope::shared, shared_cache.hpp) are planned here too: the loop that makes them and the
// static region of each; and a reduction loop bound to a thread axis, which the workgroup
// reduces as a tree.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../../te/tensor.hpp"
#include "../../tir/compute_spec.hpp"
#include "../../tir/lower.hpp"
#include "../../tir/schedule.hpp"
#include "shared_cache.hpp"

namespace kiln::vulkan {

inline constexpr int kThreadAxes = 6;
// The most invocations a workgroup may have on every Vulkan device (the specification's
// minimum for maxComputeWorkGroupInvocations); a device may allow more, kiln does not ask.
inline constexpr std::int64_t kMaxWorkgroupInvocations = 128;

struct GpuProgram {
  tir::LoopProgram program;
  int bound_loop[kThreadAxes] = {-1, -1, -1, -1, -1, -1};  // by tir::ThreadAxis: a loop position, or -1
  std::uint32_t workgroup_size[3] = {1, 1, 1};
  tir::Diagnostic error;

  // The tensors copied into workgroup memory, all at each iteration of loop `shared_attach`
  // (a serial loop or one bound to a block axis; -1 when there are none).
  SharedCache shared[kMaxSharedCaches] = {};
  int shared_count = 0;
  int shared_attach = -1;
  // A reduction loop bound to thread axis x, y or z (0, 1, 2; -1: none): each invocation
  // reduces its share, then the workgroup combines the shares as a tree in workgroup memory.
  int tree_axis = -1;

  constexpr bool is_bound(int loop) const noexcept { return is_bound(loop, 0, kThreadAxes); }
  constexpr bool is_block_bound(int loop) const noexcept { return is_bound(loop, 0, 3); }
  constexpr bool is_thread_bound(int loop) const noexcept { return is_bound(loop, 3, kThreadAxes); }
  // Whether a loop ranges over the region a shared copy holds: the loops bound to thread
  // axes and those inside the attach loop (every unbound loop when it is a block loop).
  constexpr bool ranges_in_copy(int loop) const noexcept {
    if (shared_attach < 0 || loop == shared_attach || is_block_bound(loop)) return false;
    return is_thread_bound(loop) || is_block_bound(shared_attach) || loop > shared_attach;
  }

 private:
  constexpr bool is_bound(int loop, int first, int last) const noexcept {
    for (int a = first; a < last; ++a)
      if (bound_loop[a] == loop) return true;
    return false;
  }
};

// The stages a GPU kernel runs, each as a dispatch of its own into a buffer: the reductions
// and the last stage, producers before consumers. Every other stage is inlined into the
// expressions that read it.
template <class List, class Last> struct gpu_stages_of;
template <class... Ss, class Last>
struct gpu_stages_of<te::TypeList<Ss...>, Last> {
  using type = te::concat_t<std::conditional_t<(Ss::is_reduction && !std::is_same_v<Ss, Last>), te::TypeList<Ss>, te::TypeList<>>...,
                            te::TypeList<Last>>;
};
template <class Last>
using gpu_stages_t = typename gpu_stages_of<typename Last::stages, Last>::type;

template <class St, class Last>
inline constexpr bool is_gpu_stage_v = St::is_reduction || std::is_same_v<St, Last>;

namespace detail {

constexpr void fail(tir::Diagnostic& d, const char* primitive, const Name& loop, const char* what) noexcept {
  if (d.failed) return;
  d.failed = true;
  int n = 0;
  auto put = [&](const char* s) {
    for (; *s != '\0' && n + 1 < static_cast<int>(sizeof(d.message)); ++s) d.message[n++] = *s;
  };
  put("vulkan: ");
  put(primitive);
  put("(\"");
  put(loop.c_str());
  put("\"): ");
  put(what);
}

template <class... Ss>
constexpr bool names_gpu_stage(te::TypeList<Ss...>, const Name& stage) noexcept {
  return ((Ss::name == stage) || ...);
}

// Whether `stage` is the shared copy that a cache_read of S makes (for any reader).
constexpr bool is_shared_copy(const tir::Schedule& s, const Name& stage) noexcept {
  for (int i = 0; i < s.count; ++i) {
    const tir::Primitive& p = s.primitives[i];
    if (p.kind == tir::PrimitiveKind::cache_read && p.scope == tir::Scope::shared && tir::cache_name(p.loops[0], p.scope) == stage)
      return true;
  }
  return false;
}
// Whether stage `reader` reads a tensor through a shared copy.
constexpr bool has_shared_copy(const tir::Schedule& s, const Name& reader) noexcept {
  for (int i = 0; i < s.count; ++i)
    if (s.primitives[i].kind == tir::PrimitiveKind::cache_read && s.primitives[i].scope == tir::Scope::shared &&
        s.primitives[i].stage == reader)
      return true;
  return false;
}

// Plans the shared copies of stage St (lowered into g) that S asks for.
template <tir::Schedule S, class St, class Last>
constexpr void plan_shared_copies(GpuProgram& g) noexcept {
  const tir::LoopProgram& p = g.program;
  for (int i = 0; i < S.count && !g.error.failed; ++i) {
    const tir::Primitive& read = S.primitives[i];
    if (read.kind != tir::PrimitiveKind::cache_read || !(read.stage == St::name)) continue;
    const Name tensor = read.loops[0];
    const Name copy = tir::cache_name(tensor, tir::Scope::shared);
    const int at = S.attachment(copy);
    if (at < 0) {
      fail(g.error, "cache_read", tensor, "place the copy \"<tensor>_shared\" with compute_at(reader, loop)");
      return;
    }
    const tir::Primitive& place = S.primitives[at];
    const int loop = p.find_loop(place.loops[0]);
    if (place.kind != tir::PrimitiveKind::compute_at) fail(g.error, "reverse_compute_at", copy, "a shared copy is computed at a loop of its reader");
    else if (!(place.results[0] == St::name)) fail(g.error, "compute_at", copy, "a shared copy is computed at a loop of the stage that reads it");
    else if (loop < 0) fail(g.error, "compute_at", place.loops[0], "the stage has no loop of that name");
    else if (g.is_thread_bound(loop)) fail(g.error, "compute_at", place.loops[0], "the loop is bound to a thread axis; copy at a block loop or a serial loop");
    else if (g.shared_attach >= 0 && g.shared_attach != loop) fail(g.error, "compute_at", place.loops[0], "every shared copy of a stage is made at the same loop");
    else if (g.shared_count == kMaxSharedCaches) fail(g.error, "cache_read", tensor, "a stage has at most kiln::vulkan::kMaxSharedCaches shared copies");
    if (g.error.failed) return;
    g.shared_attach = loop;
    // How far each axis of the stage steps while the ranging loops run.
    std::int64_t widths[tir::kMaxAxes] = {};
    for (int a = 0; a < p.axis_count; ++a) {
      for (int l = 0; l < p.loop_count && widths[a] >= 0; ++l) {
        if (!g.ranges_in_copy(l) || !p.depends_on_loop(p.axis_value[a], p.loops[l].id)) continue;
        const std::int64_t step = p.unit_coefficient(p.axis_value[a], p.loops[l].id), extent = p.static_value(p.loops[l].extent);
        widths[a] = step > 0 && extent > 0 ? widths[a] + step * (extent - 1) : -1;
      }
    }
    SharedCache cache;
    bool found = false;
    auto plan = [&]<class X>(std::type_identity<X>, bool dispatched) {
      if (found || !(X::name == tensor)) return;
      found = true;
      cache = dispatched ? plan_shared_cache<X::name, St, true>(p, widths) : plan_shared_cache<X::name, St, false>(p, widths);
    };
    [&]<class... Ps>(te::TypeList<Ps...>) { (plan(std::type_identity<Ps>{}, false), ...); }(typename Last::inputs{});
    [&]<class... Ss>(te::TypeList<Ss...>) { (plan(std::type_identity<Ss>{}, is_gpu_stage_v<Ss, Last>), ...); }(typename Last::stages{});
    if (!found) fail(g.error, "cache_read", tensor, "the kernel has no input or stage of that name");
    else if (cache.problem != nullptr) fail(g.error, "cache_read", tensor, cache.problem);
    else g.shared[g.shared_count++] = cache;
  }
  std::int64_t bytes = 0;
  for (int c = 0; c < g.shared_count; ++c) bytes += 4 * g.shared[c].elements;
  if (!g.error.failed && bytes > kMaxSharedBytes)
    fail(g.error, "cache_read", St::name, "the shared copies together need more than the 16 KiB of workgroup memory every device has");
}

} // namespace detail

// Lowers stage St of the kernel that `Last` ends under schedule S for a GPU. Primitives on
// other dispatched stages are theirs; on an inlined stage only compute_inline is meaningful.
template <tir::Schedule S, class St, class Last>
constexpr GpuProgram lower_for_gpu() noexcept {
  GpuProgram g;
  tir::Schedule loops_only(S.current);
  for (int i = 0; i < S.count; ++i) {
    const tir::Primitive& p = S.primitives[i];
    if (!(p.stage == St::name)) {
      if (detail::is_shared_copy(S, p.stage)) {
        // Its reader plans it; the invocations of a workgroup share the copying.
        if (p.kind != tir::PrimitiveKind::compute_at && p.kind != tir::PrimitiveKind::reverse_compute_at)
          detail::fail(g.error, tir::to_string(p.kind), p.stage, "a shared copy is only placed (compute_at); the workgroup copies it together");
        continue;
      }
      if (p.kind != tir::PrimitiveKind::compute_inline && !detail::names_gpu_stage(gpu_stages_t<Last>{}, p.stage))
        detail::fail(g.error, tir::to_string(p.kind), p.stage,
                     "the Vulkan backend inlines this stage (it is not a reduction or the last stage)");
      continue;
    }
    switch (p.kind) {
      case tir::PrimitiveKind::bind: continue;
      case tir::PrimitiveKind::cache_read:
        if (p.scope == tir::Scope::shared) continue;  // planned below
        detail::fail(g.error, "cache_read", p.loops[0], "the Vulkan backend copies into workgroup memory only (Scope::shared)");
        continue;
      case tir::PrimitiveKind::cache_write:
      case tir::PrimitiveKind::rfactor:
      case tir::PrimitiveKind::compute_at:
      case tir::PrimitiveKind::reverse_compute_at:
      case tir::PrimitiveKind::compute_inline:
      case tir::PrimitiveKind::reverse_compute_inline:
      case tir::PrimitiveKind::tensorize:
      case tir::PrimitiveKind::storage_align:
      case tir::PrimitiveKind::pad:
      case tir::PrimitiveKind::transform_layout:
        detail::fail(g.error, tir::to_string(p.kind), p.loops[0], "not supported by the Vulkan backend yet");
        continue;
      default: break;
    }
    if (p.kind == tir::PrimitiveKind::split && p.tail != tir::Tail::guard)
      detail::fail(g.error, "split", p.loops[0], "the Vulkan backend takes guarded tails only (Tail::guard)");
    loops_only.primitives[loops_only.count++] = p;
  }
  if (g.error.failed) return g;

  g.program = tir::lower(tir::compute_spec<St, Last>(), loops_only);
  if (g.program.error.failed) {
    g.error = g.program.error;
    return g;
  }
  const tir::LoopProgram& p = g.program;
  for (int i = 0; i < S.count; ++i) {
    const tir::Primitive& prim = S.primitives[i];
    if (prim.kind != tir::PrimitiveKind::bind || !(prim.stage == St::name)) continue;
    const int loop = p.find_loop(prim.loops[0]);
    const int axis = static_cast<int>(prim.thread_axis);
    if (loop < 0) detail::fail(g.error, "bind", prim.loops[0], "the stage has no loop of that name");
    else if (g.bound_loop[axis] >= 0) detail::fail(g.error, "bind", prim.loops[0], "the thread axis is bound already");
    else if (g.is_bound(loop)) detail::fail(g.error, "bind", prim.loops[0], "the loop is bound already");
    else if (p.loops[loop].reduction && axis < 3)
      detail::fail(g.error, "bind", prim.loops[0], "a reduction loop binds to a thread axis only (its workgroup reduces it as a tree)");
    else if (p.loops[loop].reduction && g.tree_axis >= 0)
      detail::fail(g.error, "bind", prim.loops[0], "one reduction loop at most is bound to a thread axis");
    else if (p.loops[loop].kind != tir::LoopKind::serial)
      detail::fail(g.error, "bind", prim.loops[0], "the loop is also parallel, vectorized or unrolled");
    else {
      g.bound_loop[axis] = loop;
      if (p.loops[loop].reduction) g.tree_axis = axis - 3;
    }
  }
  std::int64_t invocations = 1;
  for (int t = 0; t < 3; ++t) {
    const int loop = g.bound_loop[3 + t];
    if (loop < 0) continue;
    const std::int64_t extent = p.static_value(p.loops[loop].extent);
    if (extent <= 0) {
      detail::fail(g.error, "bind", p.loops[loop].name, "a loop bound to a thread axis must have a static extent");
      continue;
    }
    g.workgroup_size[t] = static_cast<std::uint32_t>(extent);
    invocations *= extent;
  }
  if (invocations > kMaxWorkgroupInvocations)
    detail::fail(g.error, "bind", St::name, "the thread axes make a workgroup of more than 128 invocations");
  bool in_reduction = false;
  for (int i = 0; i < p.loop_count; ++i) {
    const tir::Loop& l = p.loops[i];
    if (l.tail_bound >= 0) detail::fail(g.error, "split", l.name, "the Vulkan backend takes guarded tails only");
    if (g.is_bound(i)) continue;
    if (l.reduction) in_reduction = true;
    else if (in_reduction)
      detail::fail(g.error, "reorder", l.name, "a spatial loop inside a reduction loop; the Vulkan backend "
                                               "keeps reduction loops innermost");
  }
  if (p.has_padding()) detail::fail(g.error, "pad", St::name, "padding is not supported by the Vulkan backend yet");
  if constexpr (detail::has_shared_copy(S, St::name)) {
    if (!g.error.failed) detail::plan_shared_copies<S, St, Last>(g);
    if (!g.error.failed && g.tree_axis >= 0)
      detail::fail(g.error, "cache_read", St::name, "a stage with shared copies cannot also reduce across its invocations yet");
  }
  return g;
}

// The first reason the kernel cannot run on a GPU under S, over all its dispatched stages.
template <tir::Schedule S, class Last>
constexpr tir::Diagnostic gpu_schedule_diagnostic() noexcept {
  tir::Diagnostic d;
  [&]<class... Ss>(te::TypeList<Ss...>) {
    ((d = d.failed ? d : lower_for_gpu<S, Ss, Last>().error), ...);
  }(gpu_stages_t<Last>{});
  return d;
}

} // namespace kiln::vulkan
