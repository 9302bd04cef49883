// kiln/backend/vulkan/default_schedule.hpp: the schedule a kernel gets on a GPU when none is
// given, chosen per dispatched stage from the shape of its expression:
//   - a matrix product (one reduction axis k, the output's last two axes i and j, and the
//     reads that step k indexed by plain axes, one of them by i and k, the other by k and j):
//     8 x 16 output tiles per workgroup, one output per invocation, and each 16-step of k of
//     the operands copied into workgroup memory first (cache_read(shared) at k.o), so the
//     workgroup reads each element of A once instead of 16 times and of B 8 times; axes before
//     i fused onto the third workgroup axis (a batch);
//   - another reduction over one axis that is long (its extent named, or static and at least
//     64): a workgroup of 64 invocations per output, each reducing every 64th element, then
//     combining their shares as a tree in workgroup memory (softmax's and layer norm's row
//     reductions, reductions over the last axis);
//   - anything else: the spatial axes fused into one loop, in workgroups of 64 invocations (a
//     guard skips the tail), the reductions run in each invocation.
#pragma once

#include <type_traits>

#include "../../core/extent.hpp"
#include "../../core/name.hpp"
#include "../../te/tensor.hpp"
#include "../../te/var_traits.hpp"
#include "../../tir/schedule.hpp"
#include "gpu_program.hpp"
#include "shared_cache.hpp"

namespace kiln::vulkan {

// The output tile of a workgroup under the matrix-product schedule, and the step of k whose
// operands it copies at once.
inline constexpr std::int64_t kGemmTileRows = 8, kGemmTileColumns = 16, kGemmTileDepth = 16;
// The invocations that reduce one output together under the tree schedule.
inline constexpr std::int64_t kTreeWidth = 64;

namespace detail {

// The names of a stage's spatial axes, in order.
template <class St>
constexpr void spatial_axis_names(Name* out) noexcept {
  [&]<class... Axes>(te::TypeList<Axes...>) {
    int a = 0;
    ((out[a++] = Axes::name), ...);
  }(typename St::spatial_axes{});
}

// Fuses the loops of the first `count` spatial axes of stage St (the current stage of s) into
// one; its name.
template <class St>
constexpr Name fuse_spatial_axes(tir::Schedule& s, int count) noexcept {
  Name names[tir::kMaxAxes] = {};
  spatial_axis_names<St>(names);
  Name fused = names[0];
  for (int a = 1; a < count; ++a) {
    const Name next = Name::fits(fused.size() + 1 + names[a].size()) ? fused + "_" + names[a] : Name("fused");
    s = s.fuse(fused, names[a], next);
    fused = next;
  }
  return fused;
}

// A stage read as a matrix product: the names of its axes and of the tensors to copy.
struct GemmShape {
  bool matches = false;
  Name rows, columns, depth;  // i, j, k
  Name operands[2] = {};
  int operand_count = 0;
};

template <class Read>
struct plain_indices;
template <template <class, class...> class Load, class Source, class... Idx>
struct plain_indices<Load<Source, Idx...>> {
  static constexpr bool all_axes = (te::var_name<Idx>::is_var && ...);
  static constexpr bool reads(const Name& axis) noexcept {
    if constexpr (all_axes) return ((te::var_name<Idx>::name == axis) || ...);
    else return false;
  }
};

template <class St, class Last>
constexpr GemmShape gemm_shape() noexcept {
  GemmShape g;
  using Body = typename St::body_type;
  if constexpr (St::rank >= 2 && te::is_reduce<Body>::value) {
    if constexpr (Body::axes::size == 1 && std::is_same_v<typename Body::reducer_type, te::reducer::sum>) {
      Name spatial[tir::kMaxAxes] = {};
      spatial_axis_names<St>(spatial);
      g.rows = spatial[St::rank - 2];
      g.columns = spatial[St::rank - 1];
      g.depth = [&]<class K>(te::TypeList<K>) { return te::var_name<K>::name; }(typename Body::axes{});
      bool rows_operand = false, columns_operand = false, other = false;
      auto inspect = [&]<class Read>(std::type_identity<Read>) {
        using Idx = plain_indices<Read>;
        if (!Idx::reads(g.depth)) return;  // read once per output: not worth a copy
        Name tensor;
        bool buffer = true;
        if constexpr (requires { typename Read::placeholder_type; }) tensor = Read::placeholder_type::name;
        else {
          tensor = Read::stage_type::name;
          buffer = is_gpu_stage_v<typename Read::stage_type, Last>;
        }
        for (int o = 0; o < g.operand_count; ++o) other = other || g.operands[o] == tensor;  // read twice
        const bool by_rows = Idx::reads(g.rows), by_columns = Idx::reads(g.columns);
        if (!Idx::all_axes || !buffer || (by_rows && by_columns) || g.operand_count == 2 ||
            !Name::fits(tensor.size() + 7)) {  // "<tensor>_shared"
          other = true;
          return;
        }
        rows_operand = rows_operand || by_rows;
        columns_operand = columns_operand || by_columns;
        g.operands[g.operand_count++] = tensor;
      };
      [&]<class... Reads>(te::TypeList<Reads...>) {
        (inspect(std::type_identity<Reads>{}), ...);
      }(typename reads_where<te::detail::any_name, Body>::type{});
      g.matches = !other && rows_operand && columns_operand && Name::fits(g.rows.size() + 2) && Name::fits(g.columns.size() + 2) &&
                  Name::fits(g.depth.size() + 2);
    }
  }
  return g;
}

template <class St, class Last>
constexpr tir::Schedule gemm_gpu_stage_schedule(tir::Schedule s, const GemmShape& g) noexcept {
  s = s.stage(St::name);
  if constexpr (St::rank > 2) s = s.bind(fuse_spatial_axes<St>(s, St::rank - 2), tir::ThreadAxis::block_z);
  s = s.tile(g.rows, g.columns, kGemmTileRows, kGemmTileColumns)
          .split(g.depth, kGemmTileDepth)
          .bind(g.rows + ".o", tir::ThreadAxis::block_y)
          .bind(g.columns + ".o", tir::ThreadAxis::block_x)
          .bind(g.rows + ".i", tir::ThreadAxis::thread_y)
          .bind(g.columns + ".i", tir::ThreadAxis::thread_x);
  for (int o = 0; o < g.operand_count; ++o) s = s.stage(St::name).cache_read(g.operands[o], tir::Scope::shared);
  for (int o = 0; o < g.operand_count; ++o)
    s = s.stage(tir::cache_name(g.operands[o], tir::Scope::shared)).compute_at(St::name, g.depth + ".o");
  return s;
}

template <class K> struct reduce_axis_extent;
template <Name N, class E> struct reduce_axis_extent<te::ReduceAxis<N, E>> { using type = E; };

// The axis of a reduction over one long axis (see above), or an empty name.
template <class St>
constexpr Name tree_axis() noexcept {
  using Body = typename St::body_type;
  if constexpr (te::is_reduce<Body>::value) {
    if constexpr (Body::axes::size == 1) {
      return []<class K>(te::TypeList<K>) {
        using E = typename reduce_axis_extent<K>::type;
        bool long_axis = true;
        if constexpr (is_static_v<E>) long_axis = E::value >= kTreeWidth;
        return long_axis && Name::fits(te::var_name<K>::name.size() + 2) ? te::var_name<K>::name : Name();
      }(typename Body::axes{});
    }
  }
  return Name();
}

} // namespace detail

template <class St, class Last = St>
constexpr tir::Schedule default_gpu_stage_schedule(tir::Schedule s) noexcept {
  constexpr detail::GemmShape gemm = detail::gemm_shape<St, Last>();
  constexpr Name tree = detail::tree_axis<St>();
  if constexpr (gemm.matches) {
    return detail::gemm_gpu_stage_schedule<St, Last>(s, gemm);
  } else if constexpr (!tree.empty()) {
    s = s.stage(St::name);
    if constexpr (St::rank > 0) s = s.bind(detail::fuse_spatial_axes<St>(s, St::rank), tir::ThreadAxis::block_x);
    return s.split(tree, kTreeWidth).bind(tree + ".i", tir::ThreadAxis::thread_x);
  } else if constexpr (St::rank == 0) {
    return s;  // one invocation computes the one element
  } else {
    s = s.stage(St::name);
    const Name fused = detail::fuse_spatial_axes<St>(s, St::rank);
    return s.split(fused, 64).bind(fused + ".o", tir::ThreadAxis::block_x).bind(fused + ".i", tir::ThreadAxis::thread_x);
  }
}
template <class Last>
constexpr tir::Schedule default_gpu_schedule() noexcept {
  tir::Schedule s(Last::name);
  [&]<class... Ss>(te::TypeList<Ss...>) { ((s = default_gpu_stage_schedule<Ss, Last>(s)), ...); }(gpu_stages_t<Last>{});
  return s;
}

} // namespace kiln::vulkan
