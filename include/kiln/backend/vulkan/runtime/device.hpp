// kiln/backend/vulkan/runtime/device.hpp: a Vulkan device with one compute queue, made by kiln
// (its own instance, the best device present) or adopted from an application that already has
// an instance, a device and a queue. Built on Vulkan-Hpp; Vulkan's errors (thrown by
// Vulkan-Hpp) come back as kiln Status values, so this part needs exceptions enabled.
#pragma once

#include <vulkan/vulkan.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../../../core/result.hpp"
#include "../../../core/status.hpp"

namespace kiln::vulkan {

struct DeviceOptions {
  // The physical device to use, by its index in Vulkan's list; -1 picks the best: a discrete
  // GPU, then an integrated one, then any other (a CPU implementation such as lavapipe).
  int index = -1;
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
      const vk::ApplicationInfo app("kiln", 1, "kiln", 1, VK_API_VERSION_1_1);
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
      s->device = s->physical.createDevice(vk::DeviceCreateInfo({}, queue_info));
      s->owns_device = true;
      s->queue = s->device.getQueue(s->queue_family, 0);
      s->finish_setup();
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
                              std::uint32_t queue_family) {
    auto s = std::make_unique<State>();
    s->instance = instance;
    s->physical = physical;
    s->device = device;
    s->queue = queue;
    s->queue_family = queue_family;
    try {
      s->finish_setup();
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

    void finish_setup() {
      properties = physical.getProperties();
      memory = physical.getMemoryProperties();
      pool = device.createCommandPool(vk::CommandPoolCreateInfo({}, queue_family));
      command_buffer = device.allocateCommandBuffers(vk::CommandBufferAllocateInfo(pool, vk::CommandBufferLevel::ePrimary, 1))[0];
      fence = device.createFence({});
    }
    ~State() {
      if (device) {
        device.waitIdle();
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

} // namespace kiln::vulkan
