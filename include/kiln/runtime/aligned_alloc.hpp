// kiln/runtime/aligned_alloc.hpp: the one place kiln asks the system for memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "../config.hpp"

namespace kiln {

// Returns `bytes` of memory aligned to `alignment` (a power of two, at least
// alignof(void*)), or nullptr when the request cannot be met. Zero bytes gives a valid,
// unique pointer. Release it with aligned_free.
inline void* aligned_alloc_bytes(std::size_t bytes, std::size_t alignment = kDefaultAlignment) noexcept {
  if (alignment < alignof(void*) || (alignment & (alignment - 1)) != 0) return nullptr;
  if (bytes > std::numeric_limits<std::size_t>::max() - alignment) return nullptr;
  // std::aligned_alloc wants the size to be a multiple of the alignment.
  std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  if (rounded == 0) rounded = alignment;
  return std::aligned_alloc(alignment, rounded);
}

inline void aligned_free(void* p) noexcept { std::free(p); }

inline bool is_aligned(const void* p, std::size_t alignment) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

} // namespace kiln
