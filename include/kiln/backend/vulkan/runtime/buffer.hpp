// kiln/backend/vulkan/runtime/buffer.hpp: a storage buffer in memory the host can map (host
// visible and coherent), which is where a CPU implementation or a unified-memory GPU keeps
// everything and what uploads and downloads go through.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstddef>
#include <cstring>
#include <span>
#include <utility>

#include "../../../core/result.hpp"
#include "device.hpp"

namespace kiln::vulkan {

class Buffer {
 public:
  Buffer() = default;
  static Result<Buffer> create(const Device& device, std::size_t bytes) {
    Buffer b;
    b.device_ = device.handle();
    b.bytes_ = bytes;
    const vk::DeviceSize size = bytes == 0 ? 4 : bytes;  // Vulkan has no empty buffers
    try {
      b.buffer_ = b.device_.createBuffer(vk::BufferCreateInfo({}, size, vk::BufferUsageFlagBits::eStorageBuffer));
      const vk::MemoryRequirements req = b.device_.getBufferMemoryRequirements(b.buffer_);
      const int type = device.memory_type(req.memoryTypeBits, vk::MemoryPropertyFlagBits::eHostVisible |
                                                                   vk::MemoryPropertyFlagBits::eHostCoherent);
      if (type < 0)
        return make_error(StatusCode::unsupported, "vulkan: device ", device.name(), " has no host-visible coherent memory");
      b.memory_ = b.device_.allocateMemory(vk::MemoryAllocateInfo(req.size, static_cast<std::uint32_t>(type)));
      b.device_.bindBufferMemory(b.buffer_, b.memory_, 0);
      b.mapped_ = b.device_.mapMemory(b.memory_, 0, VK_WHOLE_SIZE);
    } catch (const vk::OutOfDeviceMemoryError&) {
      return make_error(StatusCode::out_of_memory, "vulkan: no room for a buffer of ", bytes, " bytes");
    } catch (const vk::SystemError& e) {
      return vulkan_error("creating a buffer", e);
    }
    return b;
  }

  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      device_ = std::exchange(o.device_, {});
      buffer_ = std::exchange(o.buffer_, {});
      memory_ = std::exchange(o.memory_, {});
      mapped_ = std::exchange(o.mapped_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~Buffer() { release(); }

  vk::Buffer handle() const noexcept { return buffer_; }
  std::size_t bytes() const noexcept { return bytes_; }
  void* data() const noexcept { return mapped_; }

  Status upload(std::span<const std::byte> from) {
    if (from.size() > bytes_)
      return make_error(StatusCode::out_of_range, "vulkan: uploading ", from.size(), " bytes into a buffer of ", bytes_);
    if (!from.empty()) std::memcpy(mapped_, from.data(), from.size());
    return {};
  }
  Status download(std::span<std::byte> to) const {
    if (to.size() > bytes_)
      return make_error(StatusCode::out_of_range, "vulkan: downloading ", to.size(), " bytes from a buffer of ", bytes_);
    if (!to.empty()) std::memcpy(to.data(), mapped_, to.size());
    return {};
  }

 private:
  void release() noexcept {
    if (!device_) return;
    if (memory_) {
      if (mapped_ != nullptr) device_.unmapMemory(memory_);
      device_.freeMemory(memory_);
    }
    if (buffer_) device_.destroyBuffer(buffer_);
    device_ = vk::Device{};
  }

  vk::Device device_;
  vk::Buffer buffer_;
  vk::DeviceMemory memory_;
  void* mapped_ = nullptr;
  std::size_t bytes_ = 0;
};

} // namespace kiln::vulkan
