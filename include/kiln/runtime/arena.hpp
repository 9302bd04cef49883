// kiln/runtime/arena.hpp: kiln::Arena, aligned bump allocation over one block, freed all at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "aligned_alloc.hpp"

namespace kiln {

// A bump allocator over one contiguous block. Allocation moves an offset forward; nothing is
// freed individually, reset() (or rewind() to a mark) releases everything at once. The block
// is either owned (create()) or borrowed from the caller (adopt()), e.g. the single buffer a
// memory plan lays all intermediate tensors into. Apart from that one block the arena never
// touches the heap, so allocate() is noexcept and cheap enough for the inference hot path.
//
// Alignment is computed on the actual address, so adopted memory need not be aligned itself.
// Not thread-safe: one arena per thread, or external locking.
class Arena {
 public:
  // A position to rewind() to; taken by mark().
  struct Marker {
    std::size_t offset = 0;
  };

  // An empty arena: capacity 0, every allocation fails.
  Arena() noexcept = default;

  // An arena owning a fresh block of `capacity_bytes`, aligned to kDefaultAlignment.
  static Result<Arena> create(std::size_t capacity_bytes) {
    void* block = aligned_alloc_bytes(capacity_bytes, kDefaultAlignment);
    if (block == nullptr) {
      return make_error(StatusCode::out_of_memory, "arena: cannot allocate a block of ", capacity_bytes, " bytes");
    }
    return Arena(static_cast<std::byte*>(block), capacity_bytes, /*owns=*/true);
  }

  // An arena over caller memory, which must outlive it and is never freed by it.
  // A null `memory` gives an empty arena.
  static Arena adopt(void* memory, std::size_t bytes) noexcept {
    if (memory == nullptr) return Arena();
    return Arena(static_cast<std::byte*>(memory), bytes, /*owns=*/false);
  }

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  Arena(Arena&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        used_(std::exchange(other.used_, 0)),
        peak_(std::exchange(other.peak_, 0)),
        owns_(std::exchange(other.owns_, false)) {}

  Arena& operator=(Arena&& other) noexcept {
    if (this != &other) {
      release();
      base_ = std::exchange(other.base_, nullptr);
      capacity_ = std::exchange(other.capacity_, 0);
      used_ = std::exchange(other.used_, 0);
      peak_ = std::exchange(other.peak_, 0);
      owns_ = std::exchange(other.owns_, false);
    }
    return *this;
  }

  ~Arena() { release(); }

  // `bytes` aligned to `alignment` (a power of two), or nullptr when the arena is exhausted
  // or the alignment is invalid. A zero-byte request succeeds with an aligned pointer that
  // must not be dereferenced.
  void* allocate(std::size_t bytes, std::size_t alignment = kDefaultAlignment) noexcept {
    std::size_t start = 0;
    if (KILN_UNLIKELY(!find_room(bytes, alignment, start))) return nullptr;
    used_ = start + bytes;  // cannot wrap: find_room checked bytes <= capacity_ - start
    if (used_ > peak_) peak_ = used_;
    return base_ + start;
  }

  // Like allocate(), but explains a failure.
  Result<void*> try_allocate(std::size_t bytes, std::size_t alignment = kDefaultAlignment) {
    if (!is_power_of_two(alignment)) {
      return make_error(StatusCode::invalid_argument, "arena: alignment ", alignment, " is not a power of two");
    }
    void* p = allocate(bytes, alignment);
    if (p == nullptr) {
      return make_error(StatusCode::out_of_memory, "arena exhausted: requested ", bytes, " bytes (alignment ",
                        alignment, ") with ", used_, " of ", capacity_, " bytes used");
    }
    return p;
  }

  // Room for `count` objects of T, default-initialized (so trivial types stay uninitialized),
  // aligned to at least alignof(T). Returns nullptr when count * sizeof(T) overflows or does
  // not fit. The arena never runs destructors, hence the trivially-destructible requirement.
  template <class T>
  T* allocate_array(std::size_t count, std::size_t alignment = kDefaultAlignment) noexcept(
      std::is_nothrow_default_constructible_v<T>) {
    static_assert(std::is_trivially_destructible_v<T>, "Arena never runs destructors");
    static_assert(std::is_default_constructible_v<T>, "allocate_array default-initializes its elements");
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) return nullptr;
    if (alignment < alignof(T)) alignment = alignof(T);
    void* p = allocate(count * sizeof(T), alignment);
    if (p == nullptr) return nullptr;
    T* first = static_cast<T*>(p);
    std::uninitialized_default_construct_n(first, count);
    return first;
  }

  // Frees everything; the next allocation starts at the beginning of the block again.
  void reset() noexcept { used_ = 0; }

  Marker mark() const noexcept { return Marker{used_}; }

  // Frees everything allocated since `marker` was taken. A marker past the current
  // position (taken before a reset or an earlier rewind) is ignored.
  void rewind(Marker marker) noexcept {
    if (marker.offset <= used_) used_ = marker.offset;
  }

  std::size_t used() const noexcept { return used_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t remaining() const noexcept { return capacity_ - used_; }
  // Largest used() ever reached, across resets and rewinds.
  std::size_t peak() const noexcept { return peak_; }
  void* data() noexcept { return base_; }
  const void* data() const noexcept { return base_; }
  bool owns_memory() const noexcept { return owns_; }

 private:
  Arena(std::byte* base, std::size_t capacity, bool owns) noexcept : base_(base), capacity_(capacity), owns_(owns) {}

  static constexpr bool is_power_of_two(std::size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

  // Sets `start` to the aligned offset of a `bytes` request and says whether it fits.
  // Every comparison is arranged so that no intermediate value can wrap.
  bool find_room(std::size_t bytes, std::size_t alignment, std::size_t& start) const noexcept {
    if (base_ == nullptr || !is_power_of_two(alignment)) return false;
    const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(base_) + used_;
    const std::size_t padding = static_cast<std::size_t>((alignment - (address & (alignment - 1))) & (alignment - 1));
    const std::size_t free_bytes = capacity_ - used_;
    if (padding > free_bytes || bytes > free_bytes - padding) return false;
    start = used_ + padding;
    return true;
  }

  void release() noexcept {
    if (owns_) aligned_free(base_);
    base_ = nullptr;
    capacity_ = used_ = peak_ = 0;
    owns_ = false;
  }

  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  bool owns_ = false;
};

} // namespace kiln
