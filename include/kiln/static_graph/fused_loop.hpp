// kiln/static_graph/fused_loop.hpp: one loop over the output of a fused group of f32
// elementwise ops, with every extent and broadcast stride a compile-time constant.
//
// The group's ops are the root and the ops inlined into it (plan.hpp); its leaves are the
// tensors the group reads from memory. The output's dims are collapsed where every leaf
// walks them alike (contiguous across the pair, or broadcast along both), leaving rows of
// the innermost collapsed extent. Per row each leaf is either contiguous (stride 1: SIMD
// loads) or a broadcast scalar (stride 0). The op tree is instantiated as nested calls on
// SIMD batches, so the compiler sees the whole chain as one expression.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "../backend/cpu/element_math.hpp"
#include "../runtime/thread_pool.hpp"
#include "plan.hpp"

namespace kiln::static_graph {

template <class P, int Root>
struct FusedLoop {
  static constexpr int kMaxLeaves = kMaxLoopLeaves + 1;  // the plan fuses no more than kMaxLoopLeaves

  struct Layout {
    int leaves[kMaxLeaves] = {};  // node indices
    int leaf_count = 0;
    int rank = 0;                                  // collapsed dims
    std::int64_t dims[kMaxRank] = {};
    std::int64_t strides[kMaxLeaves][kMaxRank] = {};  // per leaf, per collapsed dim
    std::int64_t rows = 1;                         // product of all but the innermost dim
    std::int64_t row_length = 1;                   // the innermost dim
  };

  static constexpr bool in_group(int i) noexcept {
    return i == Root || (P::node(i).role == Role::inlined && P::node(i).root == Root);
  }

  static constexpr Layout make_layout() noexcept {
    Layout l;
    for (int i = 0; i < P::node_count; ++i) {
      if (!in_group(i)) continue;
      for (int k = 0; k < P::node(i).input_count; ++k) {
        const int in = P::node(i).inputs[k];
        if (in_group(in)) continue;
        bool seen = false;
        for (int j = 0; j < l.leaf_count; ++j) seen = seen || l.leaves[j] == in;
        if (!seen && l.leaf_count < kMaxLeaves) l.leaves[l.leaf_count++] = in;
      }
    }
    // Each leaf's strides over the output's dims (right-aligned broadcasting), dims of 1 dropped.
    const StaticShape& out = P::node(Root).shape;
    std::int64_t dims[kMaxRank] = {};
    std::int64_t strides[kMaxLeaves][kMaxRank] = {};
    int rank = 0;
    for (int a = 0; a < out.rank; ++a) {
      if (out.dims[a] == 1) continue;
      for (int j = 0; j < l.leaf_count; ++j) {
        const StaticShape& s = P::node(l.leaves[j]).shape;
        const int la = a - (out.rank - s.rank);
        std::int64_t stride = 0;
        if (la >= 0 && s.dims[la] != 1) {
          stride = 1;
          for (int b = la + 1; b < s.rank; ++b) stride *= s.dims[b];
        }
        strides[j][rank] = stride;
      }
      dims[rank++] = out.dims[a];
    }
    // Collapse from the innermost dim outwards.
    for (int a = rank; a-- > 0;) {
      const bool merge = l.rank > 0 && [&] {
        for (int j = 0; j < l.leaf_count; ++j)
          if (strides[j][a] != l.strides[j][0] * l.dims[0]) return false;
        return true;
      }();
      if (merge) {
        l.dims[0] *= dims[a];
        continue;
      }
      for (int b = l.rank; b > 0; --b) {  // insert at the front
        l.dims[b] = l.dims[b - 1];
        for (int j = 0; j < l.leaf_count; ++j) l.strides[j][b] = l.strides[j][b - 1];
      }
      l.dims[0] = dims[a];
      for (int j = 0; j < l.leaf_count; ++j) l.strides[j][0] = strides[j][a];
      ++l.rank;
    }
    if (l.rank == 0) {  // a single element
      l.rank = 1;
      l.dims[0] = 1;
    }
    l.row_length = l.dims[l.rank - 1];
    for (int a = 0; a + 1 < l.rank; ++a) l.rows *= l.dims[a];
    return l;
  }

  static constexpr Layout layout = make_layout();
  static_assert(layout.leaf_count < kMaxLeaves, "kiln: a fused loop reads at most 31 tensors");

  template <int Leaf>
  static constexpr int leaf_slot = [] {
    for (int j = 0; j < layout.leaf_count; ++j)
      if (layout.leaves[j] == Leaf) return j;
    return -1;
  }();

  using Nodes = typename P::Nodes;

  // The value of node N at position j of the current row.
  template <class N, class V>
  KILN_FORCEINLINE static V eval(const float* const* row, std::int64_t j) {
    constexpr int index = P::template index_of<N>;
    if constexpr (in_group(index)) {
      using Ins = typename N::inputs;
      if constexpr (Ins::size == 1) {
        return [&]<class X>(TypeList<X>) { return cpu::math::unary<N::op>(eval<X, V>(row, j)); }(Ins{});
      } else {
        return [&]<class A, class B>(TypeList<A, B>) {
          return cpu::math::binary<N::op>(eval<A, V>(row, j), eval<B, V>(row, j));
        }(Ins{});
      }
    } else {
      constexpr int slot = leaf_slot<index>;
      if constexpr (layout.strides[slot][layout.rank - 1] == 0) return V(row[slot][0]);
      else if constexpr (std::is_same_v<V, float>) return row[slot][j];
#if KILN_CPU_HAVE_XSIMD
      else return V::load_unaligned(row[slot] + j);
#endif
    }
  }

  template <class RootNode>
  static void run_rows(const float* const* leaves, float* out, std::int64_t first, std::int64_t last) {
    constexpr Layout l = layout;
    const float* row[kMaxLeaves] = {};
    for (std::int64_t r = first; r < last; ++r) {
      // The row's outer index, digit by digit over the collapsed outer dims.
      for (int j = 0; j < l.leaf_count; ++j) row[j] = leaves[j];
      if constexpr (l.rank > 1) {
        std::int64_t rest = r;
        for (int a = l.rank - 2; a >= 0; --a) {
          const std::int64_t i = rest % l.dims[a];
          rest /= l.dims[a];
          for (int j = 0; j < l.leaf_count; ++j) row[j] += i * l.strides[j][a];
        }
      }
      float* y = out + r * l.row_length;
#if KILN_CPU_HAVE_XSIMD
      constexpr auto w = static_cast<std::int64_t>(cpu::math::batch::size);
      constexpr std::int64_t vector_end = l.row_length / w * w;
      for (std::int64_t j = 0; j < vector_end; j += w) eval<RootNode, cpu::math::batch>(row, j).store_unaligned(y + j);
#else
      constexpr std::int64_t vector_end = 0;
#endif
      for (std::int64_t j = vector_end; j < l.row_length; ++j) y[j] = eval<RootNode, float>(row, j);
    }
  }

  // leaves[k]: the memory of leaf k (layout.leaves[k]); out: the root's output.
  template <class RootNode>
  static void run(const float* const* leaves, float* out, ThreadPool* pool) {
    constexpr std::int64_t min_rows = std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, layout.row_length));
    if (pool != nullptr && layout.rows > min_rows) {
      pool->parallel_for(0, layout.rows, [&](std::int64_t b, std::int64_t e) { run_rows<RootNode>(leaves, out, b, e); },
                         min_rows);
    } else {
      run_rows<RootNode>(leaves, out, 0, layout.rows);
    }
  }
};

} // namespace kiln::static_graph
