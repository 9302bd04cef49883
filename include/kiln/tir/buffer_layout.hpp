// kiln/tir/buffer_layout.hpp: how a stage's buffer orders its elements in memory when
// transform_layout changed it: a permutation of the stage's axes, optionally with one axis
// stored in blocks (NCHW -> NCHW16c: c becomes c // 16 in its place and c % 16 innermost).
// A stage's expressions keep indexing the buffer by its logical axes; only the offsets a
// backend computes change.
#pragma once

#include <cstdint>

namespace kiln::tir {

inline constexpr int kMaxLayoutDims = 8;

struct BufferLayout {
  // The buffer's dimensions, outermost first, each a spatial axis of the stage; the blocked
  // axis appears as its block index (axis // block). Its position inside a block
  // (axis % block) is the innermost dimension and is not listed.
  std::int8_t order[kMaxLayoutDims] = {};
  int rank = 0;  // 0: row-major over the axes as declared
  int blocked_axis = -1;
  std::int64_t block = 0;

  constexpr bool transformed() const noexcept { return rank > 0; }
  // The buffer's extent along the dimension of axis `axis` whose tensor extent is `extent`:
  // for the blocked axis, its number of blocks.
  constexpr std::int64_t stored_extent(int axis, std::int64_t extent) const noexcept {
    return axis == blocked_axis ? (extent + block - 1) / block : extent;
  }
  constexpr bool blocked() const noexcept { return blocked_axis >= 0; }
};

} // namespace kiln::tir
