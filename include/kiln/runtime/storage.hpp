// kiln/runtime/storage.hpp: the reference-counted memory block behind one or more tensors.
//
// Tensors that share a block (slices, reshapes, copies of the handle, DLPack exports) keep
// it alive together; the last one out releases it. Memory kiln allocated is freed with
// aligned_free; adopted memory (a DLPack import, a caller's buffer) runs the owner's
// release function instead, or nothing for borrowed memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

#include "aligned_alloc.hpp"
#include "device.hpp"

namespace kiln::detail {

struct StorageBlock {
  using Release = void (*)(void* context, void* data) noexcept;

  std::atomic<long> refs{1};
  void* data = nullptr;
  std::size_t bytes = 0;
  Device device{};
  Release release = nullptr;  // null: the memory is borrowed
  void* release_context = nullptr;
};

// An intrusive shared pointer to a StorageBlock.
class Storage {
 public:
  Storage() noexcept = default;

  // Allocates `bytes` on the CPU with kiln's alignment; an empty Storage on failure.
  static Storage allocate(std::size_t bytes) noexcept {
    void* data = aligned_alloc_bytes(bytes);
    if (!data) return {};
    auto* block = new (std::nothrow) StorageBlock;
    if (!block) {
      aligned_free(data);
      return {};
    }
    block->data = data;
    block->bytes = bytes;
    block->release = [](void*, void* p) noexcept { aligned_free(p); };
    return Storage(block);
  }

  // Takes memory owned elsewhere; `release(context, data)` runs when the last tensor lets
  // go (pass null to borrow memory that outlives every tensor using it). An empty Storage
  // on failure, in which case release is not called.
  static Storage adopt(void* data, std::size_t bytes, Device device, StorageBlock::Release release,
                       void* release_context) noexcept {
    auto* block = new (std::nothrow) StorageBlock;
    if (!block) return {};
    block->data = data;
    block->bytes = bytes;
    block->device = device;
    block->release = release;
    block->release_context = release_context;
    return Storage(block);
  }

  Storage(const Storage& other) noexcept : block_(other.block_) {
    if (block_) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Storage(Storage&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  Storage& operator=(Storage other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~Storage() { drop(); }

  explicit operator bool() const noexcept { return block_ != nullptr; }
  void* data() const noexcept { return block_ ? block_->data : nullptr; }
  std::size_t bytes() const noexcept { return block_ ? block_->bytes : 0; }
  Device device() const noexcept { return block_ ? block_->device : Device{}; }
  long use_count() const noexcept { return block_ ? block_->refs.load(std::memory_order_relaxed) : 0; }

 private:
  explicit Storage(StorageBlock* block) noexcept : block_(block) {}

  void drop() noexcept {
    if (block_ && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (block_->release) block_->release(block_->release_context, block_->data);
      delete block_;
    }
    block_ = nullptr;
  }

  StorageBlock* block_ = nullptr;
};

} // namespace kiln::detail
