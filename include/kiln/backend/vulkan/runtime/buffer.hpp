// kiln/backend/vulkan/runtime/buffer.hpp: a storage buffer, either in memory the host maps
// (host visible and coherent: where a CPU implementation or a unified-memory GPU keeps
// everything, and what staging goes through) or in device-local memory the host cannot see,
// filled and read by copy commands. Every buffer can be the source and the target of copies.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstddef>
#include <cstring>
#include <span>
#include <utility>

#include "../../../core/result.hpp"
#include "device.hpp"

namespace kiln::vulkan {

enum class Memory : std::uint8_t {
  host_visible,  // mapped; device-local too where the device has such memory
  device_local,  // not mapped; reached by copies through a host-visible buffer
};

class Buffer {
 public:
  Buffer() = default;
  static Result<Buffer> create(const Device& device, std::size_t bytes, Memory memory = Memory::host_visible) {
    Buffer b;
    b.device_ = device.handle();
    b.bytes_ = bytes;
    const vk::DeviceSize size = bytes == 0 ? 4 : bytes;  // Vulkan has no empty buffers
    try {
      b.buffer_ = b.device_.createBuffer(vk::BufferCreateInfo(
          {}, size, vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eTransferSrc | vk::BufferUsageFlagBits::eTransferDst));
      const vk::MemoryRequirements req = b.device_.getBufferMemoryRequirements(b.buffer_);
      using F = vk::MemoryPropertyFlagBits;
      const vk::MemoryPropertyFlags mapped = F::eHostVisible | F::eHostCoherent;
      int type = -1;
      if (memory == Memory::host_visible) {
        type = device.memory_type(req.memoryTypeBits, mapped | F::eDeviceLocal);
        if (type < 0) type = device.memory_type(req.memoryTypeBits, mapped);
      } else {
        type = device.memory_type(req.memoryTypeBits, F::eDeviceLocal);
      }
      if (type < 0)
        return make_error(StatusCode::unsupported, "vulkan: device ", device.name(), " has no ",
                          memory == Memory::host_visible ? "host-visible coherent" : "device-local", " memory for buffers");
      b.memory_ = b.device_.allocateMemory(vk::MemoryAllocateInfo(req.size, static_cast<std::uint32_t>(type)));
      b.device_.bindBufferMemory(b.buffer_, b.memory_, 0);
      if (memory == Memory::host_visible) b.mapped_ = b.device_.mapMemory(b.memory_, 0, VK_WHOLE_SIZE);
    } catch (const vk::OutOfDeviceMemoryError&) {
      return make_error(StatusCode::out_of_memory, "vulkan: no room for a buffer of ", bytes, " bytes");
    } catch (const vk::OutOfHostMemoryError&) {
      return make_error(StatusCode::out_of_memory, "vulkan: no host memory for a buffer of ", bytes, " bytes");
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
  // The mapped bytes; null for device-local memory.
  void* data() const noexcept { return mapped_; }
  bool mapped() const noexcept { return mapped_ != nullptr; }

  // Copies into / out of a mapped buffer (device-local ones go through copy commands).
  Status upload(std::span<const std::byte> from) {
    if (mapped_ == nullptr) return make_error(StatusCode::internal, "vulkan: uploading into an unmapped buffer");
    if (from.size() > bytes_)
      return make_error(StatusCode::out_of_range, "vulkan: uploading ", from.size(), " bytes into a buffer of ", bytes_);
    if (!from.empty()) std::memcpy(mapped_, from.data(), from.size());
    return {};
  }
  Status download(std::span<std::byte> to) const {
    if (mapped_ == nullptr) return make_error(StatusCode::internal, "vulkan: downloading from an unmapped buffer");
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
