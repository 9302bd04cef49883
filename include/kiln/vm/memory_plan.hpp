// kiln/vm/memory_plan.hpp: places every buffer of a run in one arena, reusing memory whose
// contents are dead.
//
// The VM runs instructions in a fixed order, so each buffer is live over a known interval
// of instruction steps: from the step that writes it to the last step that reads it
// (scratch memory lives for its one step). Buffers whose intervals do not overlap may share
// bytes. The planner walks the steps in order, gives each new buffer the smallest free
// block that fits (best fit, which keeps large blocks whole for large buffers), and returns
// blocks to a free list that merges neighbours. A buffer may also ask to take over the
// block of an input that dies at the step that writes it (in place: an elementwise op
// writing over its operand), which saves both the memory and the cache misses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kiln::vm {

inline constexpr std::size_t kBufferAlignment = 64;

constexpr std::size_t align_up(std::size_t bytes, std::size_t to = kBufferAlignment) noexcept {
  return (bytes + to - 1) / to * to;
}

struct BufferRequest {
  std::size_t bytes = 0;
  int first_step = 0;  // the step that writes it
  int last_step = 0;   // the last step that reads it (>= first_step)
  // A request (by index, written earlier) whose block this one may take over when that
  // buffer's last step is this one's first step and the block is large enough; -1: none.
  int in_place_of = -1;
};

struct MemoryPlan {
  std::vector<std::size_t> offsets;  // per request, 64-byte aligned
  std::vector<char> in_place;        // per request: took over its in_place_of block
  std::size_t arena_bytes = 0;
  std::size_t requested_bytes = 0;   // what the buffers would take without any reuse
};

namespace detail {

struct FreeBlock {
  std::size_t offset;
  std::size_t bytes;
};

class FreeList {
 public:
  // The offset of a block of `bytes`: the best-fitting free block, else the end of the arena
  // (extended by any free block that touches it).
  constexpr std::size_t take(std::size_t bytes, std::size_t& arena_end) {
    std::size_t best = blocks_.size();
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      if (blocks_[i].bytes >= bytes && (best == blocks_.size() || blocks_[i].bytes < blocks_[best].bytes)) best = i;
    if (best != blocks_.size()) {
      const std::size_t offset = blocks_[best].offset;
      blocks_[best].offset += bytes;
      blocks_[best].bytes -= bytes;
      if (blocks_[best].bytes == 0) blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(best));
      return offset;
    }
    if (!blocks_.empty() && blocks_.back().offset + blocks_.back().bytes == arena_end) {
      const std::size_t offset = blocks_.back().offset;
      blocks_.pop_back();
      arena_end = offset + bytes;
      return offset;
    }
    const std::size_t offset = arena_end;
    arena_end += bytes;
    return offset;
  }

  constexpr void give_back(std::size_t offset, std::size_t bytes) {
    if (bytes == 0) return;
    auto it = std::lower_bound(blocks_.begin(), blocks_.end(), offset,
                               [](const FreeBlock& b, std::size_t o) { return b.offset < o; });
    it = blocks_.insert(it, FreeBlock{offset, bytes});
    // Merge with the next block, then with the previous one.
    if (it + 1 != blocks_.end() && it->offset + it->bytes == (it + 1)->offset) {
      it->bytes += (it + 1)->bytes;
      blocks_.erase(it + 1);
    }
    if (it != blocks_.begin() && (it - 1)->offset + (it - 1)->bytes == it->offset) {
      (it - 1)->bytes += it->bytes;
      blocks_.erase(it);
    }
  }

 private:
  std::vector<FreeBlock> blocks_;  // sorted by offset, never touching each other
};

} // namespace detail

// Plans the requests. Requests with 0 bytes get offset 0 and take no memory. A constant
// expression too: a static graph plans its arena in the compiler.
constexpr MemoryPlan plan_memory(std::span<const BufferRequest> requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  plan.in_place.assign(requests.size(), 0);
  int last = -1;
  for (const BufferRequest& r : requests) last = std::max(last, r.last_step);

  // Requests by first step and by last step, so each step is visited once.
  std::vector<std::vector<int>> starting(static_cast<std::size_t>(last + 1)), ending(starting.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const BufferRequest& r = requests[i];
    plan.requested_bytes += align_up(r.bytes);
    if (r.bytes == 0) continue;
    starting[static_cast<std::size_t>(r.first_step)].push_back(static_cast<int>(i));
  }

  detail::FreeList free_list;
  std::size_t end = 0;
  std::vector<std::size_t> block_bytes(requests.size(), 0);  // what each live request holds
  std::vector<char> handed_over(requests.size(), 0);         // its block went to another request
  for (int step = 0; step <= last; ++step) {
    // First place what this step writes, while its inputs are still live...
    for (int i : starting[static_cast<std::size_t>(step)]) {
      const BufferRequest& r = requests[static_cast<std::size_t>(i)];
      const std::size_t bytes = align_up(r.bytes);
      const int donor = r.in_place_of;
      if (donor >= 0 && donor < i && !handed_over[static_cast<std::size_t>(donor)] &&
          requests[static_cast<std::size_t>(donor)].last_step == step &&
          block_bytes[static_cast<std::size_t>(donor)] >= bytes) {
        plan.offsets[static_cast<std::size_t>(i)] = plan.offsets[static_cast<std::size_t>(donor)];
        block_bytes[static_cast<std::size_t>(i)] = block_bytes[static_cast<std::size_t>(donor)];
        handed_over[static_cast<std::size_t>(donor)] = 1;
        plan.in_place[static_cast<std::size_t>(i)] = 1;
      } else {
        plan.offsets[static_cast<std::size_t>(i)] = free_list.take(bytes, end);
        block_bytes[static_cast<std::size_t>(i)] = bytes;
      }
      ending[static_cast<std::size_t>(r.last_step)].push_back(i);
    }
    // ...then free what dies here.
    for (int i : ending[static_cast<std::size_t>(step)])
      if (!handed_over[static_cast<std::size_t>(i)])
        free_list.give_back(plan.offsets[static_cast<std::size_t>(i)], block_bytes[static_cast<std::size_t>(i)]);
  }
  plan.arena_bytes = end;
  return plan;
}

} // namespace kiln::vm
