// kiln/runtime/device.hpp: where a tensor's memory lives.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln {

enum class DeviceKind : std::uint8_t { cpu, cuda, vulkan };

constexpr std::string_view to_string(DeviceKind kind) noexcept {
  switch (kind) {
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::cuda: return "cuda";
    case DeviceKind::vulkan: return "vulkan";
  }
  return "?";
}

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int id = 0;

  static constexpr Device cpu() noexcept { return {DeviceKind::cpu, 0}; }
  friend constexpr bool operator==(const Device&, const Device&) = default;
};

} // namespace kiln
