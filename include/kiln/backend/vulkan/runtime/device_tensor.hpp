// kiln/backend/vulkan/runtime/device_tensor.hpp: kiln Tensors whose memory is a Vulkan buffer
// (Device kind vulkan), so that data stays on the GPU from one kernel to the next. Such a
// tensor's data() is its VkBuffer handle (what its DLPack export carries, kDLVulkan with
// byte_offset 0); the buffer is freed with the last tensor sharing it, which must happen
// before the Device goes. Uploads and downloads go through a staging buffer and copy commands.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>

#include "../../../core/dtype.hpp"
#include "../../../core/result.hpp"
#include "../../../core/status.hpp"
#include "../../../runtime/tensor.hpp"
#include "buffer.hpp"
#include "device.hpp"

namespace kiln::vulkan {

// The buffer of a tensor made by empty_tensor or upload.
inline Result<vk::Buffer> buffer_of(const Tensor& t) {
  if (!t.defined()) return make_error(StatusCode::invalid_argument, "the tensor is undefined");
  if (t.device().kind != DeviceKind::vulkan)
    return make_error(StatusCode::invalid_argument, "the tensor is in ", to_string(t.device().kind), " memory, not a Vulkan buffer");
  return vk::Buffer(reinterpret_cast<VkBuffer>(t.data()));
}

// A tensor of `dtype` and `dims` in a new buffer of the device (device-local where the device
// stages transfers); its contents are undefined.
inline Result<Tensor> empty_tensor(const Device& device, DType dtype, Dims dims) {
  std::size_t count = 1;
  for (const std::int64_t d : dims) {
    if (d < 0) return make_error(StatusCode::invalid_argument, "vulkan::empty_tensor: negative extent ", d);
    if (__builtin_mul_overflow(count, static_cast<std::size_t>(d), &count))
      return make_error(StatusCode::out_of_range, "vulkan::empty_tensor: the element count overflows");
  }
  const Memory memory = device.stages_transfers() ? Memory::device_local : Memory::host_visible;
  KILN_ASSIGN_OR_RETURN(Buffer buffer, Buffer::create(device, count * size_of(dtype), memory));
  auto* owned = new (std::nothrow) Buffer(std::move(buffer));
  if (owned == nullptr) return make_error(StatusCode::out_of_memory, "vulkan: cannot allocate a buffer's owner");
  auto release = [](void* context, void*) noexcept { delete static_cast<Buffer*>(context); };
  Result<Tensor> t = Tensor::adopt(reinterpret_cast<void*>(static_cast<VkBuffer>(owned->handle())), dtype, dims, {},
                                   kiln::Device{DeviceKind::vulkan, 0}, release, owned);
  if (!t.ok()) delete owned;
  return t;
}

namespace detail {
// Copies `bytes` between a host range and a device buffer through a staging buffer.
inline Status transfer(const Device& device, vk::Buffer buffer, std::span<std::byte> host, bool to_device) {
  KILN_ASSIGN_OR_RETURN(Buffer staging, Buffer::create(device, host.size(), Memory::host_visible));
  if (to_device) KILN_RETURN_IF_ERROR(staging.upload(host));
  KILN_RETURN_IF_ERROR(device.submit_and_wait([&](vk::CommandBuffer cb) {
    if (host.empty()) return;
    const vk::BufferCopy region(0, 0, host.size());
    if (to_device) cb.copyBuffer(staging.handle(), buffer, region);
    else cb.copyBuffer(buffer, staging.handle(), region);
    cb.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer, vk::PipelineStageFlagBits::eHost | vk::PipelineStageFlagBits::eComputeShader, {},
                       vk::MemoryBarrier(vk::AccessFlagBits::eTransferWrite, vk::AccessFlagBits::eHostRead | vk::AccessFlagBits::eShaderRead),
                       {}, {});
  }));
  if (!to_device) KILN_RETURN_IF_ERROR(staging.download(host));
  return {};
}
} // namespace detail

// A copy of a contiguous CPU tensor in the device's memory.
inline Result<Tensor> upload(const Device& device, const Tensor& host) {
  if (!host.defined() || host.device().kind != DeviceKind::cpu)
    return make_error(StatusCode::invalid_argument, "vulkan::upload: the tensor is not a CPU tensor");
  if (!host.is_contiguous()) return make_error(StatusCode::invalid_argument, "vulkan::upload: the tensor is not contiguous");
  KILN_ASSIGN_OR_RETURN(Tensor t, empty_tensor(device, host.dtype(), host.dims()));
  KILN_ASSIGN_OR_RETURN(const vk::Buffer buffer, buffer_of(t));
  KILN_RETURN_IF_ERROR(detail::transfer(device, buffer, std::span<std::byte>(static_cast<std::byte*>(host.data()), host.nbytes()), true));
  return t;
}

// A CPU copy of a tensor in the device's memory.
inline Result<Tensor> download(const Device& device, const Tensor& on_device) {
  KILN_ASSIGN_OR_RETURN(const vk::Buffer buffer, buffer_of(on_device));
  KILN_ASSIGN_OR_RETURN(Tensor host, Tensor::empty(on_device.dtype(), on_device.dims()));
  KILN_RETURN_IF_ERROR(detail::transfer(device, buffer, std::span<std::byte>(static_cast<std::byte*>(host.data()), host.nbytes()), false));
  return host;
}

} // namespace kiln::vulkan
