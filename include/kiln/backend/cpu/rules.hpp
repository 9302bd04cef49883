// kiln/backend/cpu/rules.hpp: default CPU schedules chosen by rules from a kernel's stages, in
// the spirit of TVM's dlight: injective stages other than the output are inlined into their
// consumers; each remaining stage is scheduled by its kind:
//  - injective: the outer axes in parallel (the two outermost fused when there are three
//    or more), the last axis split by the vector width and vectorized;
//  - matmul-like (two spatial axes, one sum): tiled 4 x 2W, the reduction between the tile
//    loops, the inner tile unrolled and vectorized, the row tiles in parallel;
//  - convolution-like (rank 4 or 5, a sum over three reduction axes of an expression that
//    reads two tensors and vectorizes along the last axis, as conv2d_nchwc makes; the
//    bounds-checked reads of conv2d_nchw do not yet): the outer axes fused and in
//    parallel (n, k in NCHW; n, k, oh in NCHWc), the last axis (ow in NCHW, the contiguous
//    channel block in NCHWc) vectorized with the reductions outside it and its outputs
//    accumulated in a local tile; a dynamic last axis is split by the vector width first;
//  - other reductions: the outer spatial axes in parallel (fused when there are two or more);
// and a stage that only applies an elementwise epilogue to a reduction is reverse-inlined.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <tuple>
#include <type_traits>

#include "../../te/tensor.hpp"
#include "../../tir/schedule.hpp"
#include "../../tir/stage_graph.hpp"
#include "kernel.hpp"

namespace kiln::cpu {

namespace detail {
template <class... Axes>
constexpr Name axis_name(te::TypeList<Axes...>, int i) noexcept {
  const Name names[] = {Axes::name..., Name()};
  return names[i];
}

// A sum over three reduction axes of an expression that reads two or more tensors (an input
// and weights), with a rank 4 or 5 output: the shape of conv2d_nchw and conv2d_nchwc.
template <class St>
constexpr bool is_conv_like() noexcept {
  if constexpr (!St::is_reduction) {
    return false;
  } else {
    using Body = typename St::body_type;
    using Summed = typename Body::expr_type;
    using Read = te::unique_by_name_t<
        te::concat_t<typename te::placeholders_of<Summed>::type, typename te::stages_read<Summed>::type>>;
    return (St::rank == 4 || St::rank == 5) && St::reduce_axes::size == 3 &&
           std::is_same_v<typename Body::reducer_type, te::reducer::sum> && Read::size >= 2;
  }
}

template <class St>
constexpr tir::Schedule schedule_conv(tir::Schedule s, std::int64_t width) noexcept {
  using Axes = typename St::spatial_axes;
  using Reductions = typename St::reduce_axes;
  constexpr int rank = static_cast<int>(St::rank);
  using Last = typename std::tuple_element_t<rank - 1, typename te::tuple_of<Axes>::type>::extent_type;
  const Name n = axis_name(Axes{}, 0), k = axis_name(Axes{}, 1), y = axis_name(Axes{}, 2);
  const Name last = axis_name(Axes{}, rank - 1);
  const Name rc = axis_name(Reductions{}, 0), rr = axis_name(Reductions{}, 1), rs = axis_name(Reductions{}, 2);
  // NCHW has k parallel tasks per image; NCHWc only k / kb, so its output rows join them.
  s = s.fuse(n, k);
  if constexpr (rank == 4) s = s.parallel(n + "_" + k);
  else s = s.fuse(n + "_" + k, y).parallel(n + "_" + k + "_" + y);
  // A static last axis (up to the local tile's limit) is vectorized whole: the backend steps
  // it by the vector width and ends with scalar steps, where a split would test a guard at
  // every statement. A dynamic one is split by the width first.
  constexpr bool vectorize_whole = [] {
    if constexpr (is_static_v<Last>) return Last::value <= tir::kMaxLocalTile;
    else return false;
  }();
  if constexpr (vectorize_whole) {
    return s.reorder(rc, rr, rs, last).vectorize(last).cache_write(tir::Scope::local);
  } else {
    return s.split(last, width)
        .reorder(last + ".o", rc, rr, rs, last + ".i")
        .vectorize(last + ".i")
        .cache_write(tir::Scope::local);
  }
}

template <class St, class Arch, class T>
constexpr tir::Schedule schedule_stage(tir::Schedule s) noexcept {
  constexpr std::int64_t width = [] {
    if constexpr (!std::is_same_v<Arch, xsimd::unavailable> && xsimd::has_simd_register<T, Arch>::value)
      return static_cast<std::int64_t>(xsimd::batch<T, Arch>::size);
    else return std::int64_t{1};
  }();
  using Axes = typename St::spatial_axes;
  constexpr int rank = static_cast<int>(St::rank);
  s = s.stage(St::name);
  if constexpr (rank == 0) {
    return s;
  } else if constexpr (!St::is_reduction) {
    const Name last = axis_name(Axes{}, rank - 1);
    s = s.split(last, width);
    if constexpr (rank == 1) return s.parallel(last + ".o").vectorize(last + ".i");
    else if constexpr (rank == 2) return s.parallel(axis_name(Axes{}, 0)).vectorize(last + ".i");
    else return s.fuse(axis_name(Axes{}, 0), axis_name(Axes{}, 1)).parallel(axis_name(Axes{}, 0) + "_" + axis_name(Axes{}, 1))
        .vectorize(last + ".i");
  } else if constexpr (rank == 2 && St::reduce_axes::size == 1 &&
                       std::is_same_v<typename St::body_type::reducer_type, te::reducer::sum>) {
    const Name i = axis_name(Axes{}, 0), j = axis_name(Axes{}, 1);
    const Name k = [] {
      return []<class R>(te::TypeList<R>) { return R::name; }(typename St::reduce_axes{});
    }();
    return s.split(i, 4).split(j, 2 * width).reorder(i + ".o", j + ".o", k, i + ".i", j + ".i").parallel(i + ".o")
        .unroll(i + ".i").vectorize(j + ".i");
  } else if constexpr (is_conv_like<St>() &&
                       vectorizable_v<typename St::body_type::expr_type, T, axis_name(Axes{}, rank - 1)>) {
    return schedule_conv<St>(s, width);
  } else if constexpr (rank == 1) {
    return s.parallel(axis_name(Axes{}, 0));
  } else {
    return s.fuse(axis_name(Axes{}, 0), axis_name(Axes{}, 1)).parallel(axis_name(Axes{}, 0) + "_" + axis_name(Axes{}, 1));
  }
}
template <class Last>
inline constexpr tir::StageGraph graph_of = tir::stage_graph<Last>();
} // namespace detail

// The default schedule of the kernel that stage Last ends, for SIMD architecture Arch.
template <class Last, class Arch = xsimd::default_arch>
constexpr tir::Schedule default_schedule() noexcept {
  constexpr const tir::StageGraph& g = detail::graph_of<Last>;
  tir::Schedule s = tir::schedule(Last::name);
  // The stage an elementwise output consumes, when the output can be its epilogue.
  constexpr int epilogue_producer = [] {
    constexpr const tir::StageGraph& graph = detail::graph_of<Last>;
    const tir::StageInfo& last = graph.stages[graph.count - 1];
    if (last.reduction || last.read_count != 1 || !last.reads_at_own_axes[0]) return -1;
    const int p = graph.find(last.reads[0]);
    return graph.stages[p].reduction && graph.consumer_count(last.reads[0]) == 1 ? p : -1;
  }();
  [&]<class... Ss>(te::TypeList<Ss...>) {
    int index = 0;
    auto one = [&]<class St>(std::type_identity<St>) {
      const bool is_last = index == g.count - 1;
      if (is_last && epilogue_producer >= 0) {
        s = s.stage(St::name).reverse_compute_inline();
      } else if (!St::is_reduction && !is_last) {
        s = s.stage(St::name).compute_inline();
      } else {
        s = detail::schedule_stage<St, Arch, typename St::value_type>(s);
      }
      ++index;
    };
    (one(std::type_identity<Ss>{}), ...);
  }(typename Last::stages{});
  return s;
}

// Builds the kernel that `last` ends under its default schedule.
template <class Arch = default_arch, class Last>
  requires requires { Last::stages::size; }
auto build(const Last& last) {
  return build<default_schedule<Last, Arch>(), Arch>(last);
}

} // namespace kiln::cpu
