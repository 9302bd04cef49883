// kiln/backend/vulkan/gpu_program.hpp: a kernel's schedule lowered for a GPU. The loop nest
// is the one tir::lower builds (the bind primitives set aside), plus which loop each GPU
// thread axis runs: a loop bound to a block axis is the workgroup's index, one bound to a
// thread axis the invocation's index inside the workgroup (its extent, static, is the
// workgroup size). What the GPU code generator does not do yet is refused here, at compile
// time, with the primitive and the loop named.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../../te/tensor.hpp"
#include "../../tir/compute_spec.hpp"
#include "../../tir/lower.hpp"
#include "../../tir/schedule.hpp"

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

  constexpr bool is_bound(int loop) const noexcept {
    for (int a = 0; a < kThreadAxes; ++a)
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
      if (p.kind != tir::PrimitiveKind::compute_inline && !detail::names_gpu_stage(gpu_stages_t<Last>{}, p.stage))
        detail::fail(g.error, tir::to_string(p.kind), p.stage,
                     "the Vulkan backend inlines this stage (it is not a reduction or the last stage)");
      continue;
    }
    switch (p.kind) {
      case tir::PrimitiveKind::bind: continue;
      case tir::PrimitiveKind::cache_read:
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
    else if (p.loops[loop].reduction) detail::fail(g.error, "bind", prim.loops[0], "the loop is a reduction loop");
    else if (p.loops[loop].kind != tir::LoopKind::serial)
      detail::fail(g.error, "bind", prim.loops[0], "the loop is also parallel, vectorized or unrolled");
    else g.bound_loop[axis] = loop;
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

// The schedule a kernel gets when none is given: in each dispatched stage the spatial axes
// fused into one loop, split into workgroups of 64 invocations (a guard skips the tail), the
// reductions run in each invocation.
template <class St>
constexpr tir::Schedule default_gpu_stage_schedule(tir::Schedule s) noexcept {
  if constexpr (St::rank == 0) {
    return s;  // one invocation computes the one element
  } else {
    s = s.stage(St::name);
    Name fused;
    [&]<class... Axes>(te::TypeList<Axes...>) {
      bool first = true;
      for (Name axis : {Name(Axes::name)...}) {
        if (first) fused = axis;
        else {
          const Name next = Name::fits(fused.size() + 1 + axis.size()) ? fused + "_" + axis : Name("fused");
          s = s.fuse(fused, axis, next);
          fused = next;
        }
        first = false;
      }
    }(typename St::spatial_axes{});
    return s.split(fused, 64).bind(fused + ".o", tir::ThreadAxis::block_x).bind(fused + ".i", tir::ThreadAxis::thread_x);
  }
}
template <class Last>
constexpr tir::Schedule default_gpu_schedule() noexcept {
  tir::Schedule s(Last::name);
  [&]<class... Ss>(te::TypeList<Ss...>) { ((s = default_gpu_stage_schedule<Ss>(s)), ...); }(gpu_stages_t<Last>{});
  return s;
}

} // namespace kiln::vulkan
