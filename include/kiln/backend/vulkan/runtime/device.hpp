// kiln/backend/vulkan/runtime/device.hpp: a Vulkan device with one compute queue, made by kiln
// (its own instance, the best device present) or adopted from an application that already has
// an instance, a device and a queue. Built on Vulkan-Hpp; Vulkan's errors (thrown by
// Vulkan-Hpp) come back as kiln Status values, so this part needs exceptions enabled.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../../core/result.hpp"
#include "../../../core/status.hpp"
#include "../shader_features.hpp"

namespace kiln::vulkan {

struct DeviceOptions {
  // The physical device to use, by its index in Vulkan's list; -1 picks the best: a discrete
  // GPU, then an integrated one, then any other (a CPU implementation such as lavapipe).
  int index = -1;
  // Keep kernels' buffers in device-local memory and move data through host-visible staging
  // buffers even where the device has memory that is both (unified memory, lavapipe).
  bool stage_transfers = false;
  // A pipeline cache saved by Device::pipeline_cache_data() (read_pipeline_cache_file): data
  // from another device or driver is ignored (pipeline_cache_reused() says which happened).
  std::vector<std::byte> pipeline_cache = {};
  // For Device::adopt: the features the application enabled on its VkDevice (kiln cannot
  // ask Vulkan which were); a made device turns on every one it has.
  ShaderFeatures adopted_features = {};
};

// Vulkan's error as a kiln Status naming what was being done.
inline Status vulkan_error(const char* doing, const vk::SystemError& e) {
  return make_error(StatusCode::unavailable, "vulkan: ", doing, ": ", e.what());
}

class Device {
 public:
  // Creates an instance and a device. No Vulkan loader, no driver or no device with a compute
  // queue is a StatusCode::unavailable error saying which.
  static Result<Device> create(const DeviceOptions& options = {}) {
    auto s = std::make_unique<State>();
    try {
      const vk::ApplicationInfo app("kiln", 1, "kiln", 1, VK_API_VERSION_1_2);
      s->instance = vk::createInstance(vk::InstanceCreateInfo({}, &app));
      s->owns_instance = true;
      const std::vector<vk::PhysicalDevice> all = s->instance.enumeratePhysicalDevices();
      if (all.empty()) return make_error(StatusCode::unavailable, "vulkan: no Vulkan device is present");
      int pick = options.index;
      if (pick >= static_cast<int>(all.size()))
        return make_error(StatusCode::not_found, "vulkan: device ", pick, " asked for, but only ", all.size(), " present");
      if (pick < 0) pick = best_device(all);
      s->physical = all[static_cast<std::size_t>(pick)];
      const int family = compute_family(s->physical);
      if (family < 0)
        return make_error(StatusCode::unavailable, "vulkan: device ", s->physical.getProperties().deviceName.data(),
                          " has no compute queue");
      s->queue_family = static_cast<std::uint32_t>(family);
      const float priority = 1.0f;
      const vk::DeviceQueueCreateInfo queue_info({}, s->queue_family, 1, &priority);
      // The storage features kernels of narrow types need, where the device has them.
      const std::uint32_t version = s->physical.getProperties().apiVersion;
      bool has_8bit_extension = false;
      for (const vk::ExtensionProperties& e : s->physical.enumerateDeviceExtensionProperties())
        has_8bit_extension = has_8bit_extension || std::string_view(e.extensionName.data()) == VK_KHR_8BIT_STORAGE_EXTENSION_NAME;
      const bool core_8bit = VK_API_VERSION_MAJOR(version) > 1 || VK_API_VERSION_MINOR(version) >= 2;
      vk::PhysicalDevice16BitStorageFeatures storage16;
      vk::PhysicalDevice8BitStorageFeatures storage8;
      vk::PhysicalDeviceFeatures2 query;
      query.pNext = &storage16;
      if (core_8bit || has_8bit_extension) storage16.pNext = &storage8;
      s->physical.getFeatures2(&query);
      vk::PhysicalDevice16BitStorageFeatures enable16;
      enable16.storageBuffer16BitAccess = storage16.storageBuffer16BitAccess;
      vk::PhysicalDevice8BitStorageFeatures enable8;
      enable8.storageBuffer8BitAccess = storage8.storageBuffer8BitAccess;
      enable16.pNext = storage8.storageBuffer8BitAccess ? &enable8 : nullptr;
      std::vector<const char*> extensions;
      if (storage8.storageBuffer8BitAccess && !core_8bit) extensions.push_back(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
      vk::PhysicalDeviceFeatures core;
      core.shaderInt64 = query.features.shaderInt64;
      core.shaderFloat64 = query.features.shaderFloat64;
      vk::DeviceCreateInfo device_info({}, queue_info, {}, extensions, &core);
      device_info.pNext = &enable16;
      s->device = s->physical.createDevice(device_info);
      s->features.storage_16bit = storage16.storageBuffer16BitAccess == VK_TRUE;
      s->features.storage_8bit = storage8.storageBuffer8BitAccess == VK_TRUE;
      s->features.int64 = query.features.shaderInt64 == VK_TRUE;
      s->features.float64 = query.features.shaderFloat64 == VK_TRUE;
      s->owns_device = true;
      s->queue = s->device.getQueue(s->queue_family, 0);
      s->finish_setup(options);
    } catch (const vk::IncompatibleDriverError&) {
      return make_error(StatusCode::unavailable,
                        "vulkan: no Vulkan driver is installed (on Debian, mesa-vulkan-drivers provides lavapipe)");
    } catch (const vk::SystemError& e) {
      return vulkan_error("creating the device", e);
    }
    return Device(std::move(s));
  }

  // Runs on an application's own Vulkan objects; kiln makes its command pool and fence on
  // `device` and destroys only what it made.
  static Result<Device> adopt(VkInstance instance, VkPhysicalDevice physical, VkDevice device, VkQueue queue,
                              std::uint32_t queue_family, const DeviceOptions& options = {}) {
    auto s = std::make_unique<State>();
    s->instance = instance;
    s->physical = physical;
    s->device = device;
    s->queue = queue;
    s->queue_family = queue_family;
    s->features = options.adopted_features;
    try {
      s->finish_setup(options);
    } catch (const vk::SystemError& e) {
      return vulkan_error("adopting the device", e);
    }
    return Device(std::move(s));
  }

  Device(Device&&) noexcept = default;
  Device& operator=(Device&&) noexcept = default;
  ~Device() = default;

  vk::Device handle() const noexcept { return state_->device; }
  vk::PhysicalDevice physical() const noexcept { return state_->physical; }
  const vk::PhysicalDeviceProperties& properties() const noexcept { return state_->properties; }
  std::string name() const { return state_->properties.deviceName.data(); }
  bool is_cpu() const noexcept { return state_->properties.deviceType == vk::PhysicalDeviceType::eCpu; }
  // The features kiln enabled: what kernels of narrow element types need.
  const ShaderFeatures& features() const noexcept { return state_->features; }
  // Whether kernels keep their buffers in device-local memory and copy through staging buffers.
  bool stages_transfers() const noexcept { return state_->stage_transfers; }

  // The pipeline cache every kernel's pipelines go through, and its contents to save for the
  // next start (compiling shaders is most of a cold start).
  vk::PipelineCache pipeline_cache() const noexcept { return state_->cache; }
  bool pipeline_cache_reused() const noexcept { return state_->cache_reused; }
  Result<std::vector<std::byte>> pipeline_cache_data() const {
    try {
      const std::vector<std::uint8_t> data = state_->device.getPipelineCacheData(state_->cache);
      std::vector<std::byte> out(data.size());
      if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
      return out;
    } catch (const vk::SystemError& e) {
      return vulkan_error("reading the pipeline cache", e);
    }
  }

  // Records commands into a fresh command buffer, submits them and waits for them.
  template <class Record>
  Status submit_and_wait(Record&& record) const {
    State& s = *state_;
    try {
      s.device.resetCommandPool(s.pool);
      vk::CommandBuffer cb = s.command_buffer;
      cb.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
      record(cb);
      cb.end();
      s.device.resetFences(s.fence);
      s.queue.submit(vk::SubmitInfo({}, {}, cb), s.fence);
      if (s.device.waitForFences(s.fence, VK_TRUE, UINT64_MAX) != vk::Result::eSuccess)
        return make_error(StatusCode::unavailable, "vulkan: waiting for the queue failed");
    } catch (const vk::SystemError& e) {
      return vulkan_error("running commands", e);
    }
    return {};
  }

  // The index of a memory type with all of `wanted` among `allowed` types, or -1.
  int memory_type(std::uint32_t allowed, vk::MemoryPropertyFlags wanted) const noexcept {
    const auto& m = state_->memory;
    for (std::uint32_t i = 0; i < m.memoryTypeCount; ++i)
      if ((allowed & (1u << i)) != 0 && (m.memoryTypes[i].propertyFlags & wanted) == wanted) return static_cast<int>(i);
    return -1;
  }

 private:
  struct State {
    vk::Instance instance;
    vk::PhysicalDevice physical;
    vk::Device device;
    vk::Queue queue;
    std::uint32_t queue_family = 0;
    bool owns_instance = false, owns_device = false;
    vk::PhysicalDeviceProperties properties;
    vk::PhysicalDeviceMemoryProperties memory;
    vk::CommandPool pool;
    vk::CommandBuffer command_buffer;
    vk::Fence fence;
    vk::PipelineCache cache;
    bool cache_reused = false;
    ShaderFeatures features;
    bool stage_transfers = false;

    void finish_setup(const DeviceOptions& options) {
      properties = physical.getProperties();
      memory = physical.getMemoryProperties();
      pool = device.createCommandPool(vk::CommandPoolCreateInfo({}, queue_family));
      command_buffer = device.allocateCommandBuffers(vk::CommandBufferAllocateInfo(pool, vk::CommandBufferLevel::ePrimary, 1))[0];
      fence = device.createFence({});
      using F = vk::MemoryPropertyFlagBits;
      bool unified = false;
      for (std::uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
        const vk::MemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
        unified = unified || (f & (F::eDeviceLocal | F::eHostVisible | F::eHostCoherent)) == (F::eDeviceLocal | F::eHostVisible | F::eHostCoherent);
      }
      stage_transfers = options.stage_transfers || !unified;
      cache_reused = cache_matches(options.pipeline_cache);
      vk::PipelineCacheCreateInfo info;
      if (cache_reused) info.setInitialDataSize(options.pipeline_cache.size()).setPInitialData(options.pipeline_cache.data());
      cache = device.createPipelineCache(info);
    }
    // Vulkan's cache header: its length, version 1, the vendor and device ids and the
    // driver's cache UUID; data made by another device or driver is not handed over.
    bool cache_matches(const std::vector<std::byte>& data) const {
      if (data.size() < 16 + VK_UUID_SIZE) return false;
      std::uint32_t head[4];
      std::memcpy(head, data.data(), sizeof(head));
      return head[0] >= 16 + VK_UUID_SIZE && head[1] == static_cast<std::uint32_t>(VK_PIPELINE_CACHE_HEADER_VERSION_ONE) &&
             head[2] == properties.vendorID && head[3] == properties.deviceID &&
             std::memcmp(data.data() + 16, properties.pipelineCacheUUID.data(), VK_UUID_SIZE) == 0;
    }
    ~State() {
      if (device) {
        device.waitIdle();
        if (cache) device.destroyPipelineCache(cache);
        if (fence) device.destroyFence(fence);
        if (pool) device.destroyCommandPool(pool);
        if (owns_device) device.destroy();
      }
      if (owns_instance && instance) instance.destroy();
    }
  };

  static int best_device(const std::vector<vk::PhysicalDevice>& all) {
    auto rank = [](vk::PhysicalDeviceType t) {
      switch (t) {
        case vk::PhysicalDeviceType::eDiscreteGpu: return 0;
        case vk::PhysicalDeviceType::eIntegratedGpu: return 1;
        case vk::PhysicalDeviceType::eVirtualGpu: return 2;
        default: return 3;
      }
    };
    int best = -1;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (compute_family(all[i]) < 0) continue;
      if (best < 0 || rank(all[i].getProperties().deviceType) < rank(all[static_cast<std::size_t>(best)].getProperties().deviceType))
        best = static_cast<int>(i);
    }
    return best < 0 ? 0 : best;
  }
  static int compute_family(vk::PhysicalDevice physical) {
    const auto families = physical.getQueueFamilyProperties();
    for (std::size_t i = 0; i < families.size(); ++i)
      if (families[i].queueFlags & vk::QueueFlagBits::eCompute) return static_cast<int>(i);
    return -1;
  }

  explicit Device(std::unique_ptr<State> s) noexcept : state_(std::move(s)) {}
  std::unique_ptr<State> state_;
};

// The bytes of a saved pipeline cache; empty when the file does not exist.
inline std::vector<std::byte> read_pipeline_cache_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}
inline Status save_pipeline_cache_file(const Device& device, const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::byte> data, device.pipeline_cache_data());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) return make_error(StatusCode::unavailable, "vulkan: cannot write the pipeline cache to ", path);
  return {};
}

} // namespace kiln::vulkan
