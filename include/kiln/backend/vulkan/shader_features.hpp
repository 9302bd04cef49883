// kiln/backend/vulkan/shader_features.hpp: the optional Vulkan features kiln's shaders use:
// what a kernel needs (from its element types) and what a device has enabled.
#pragma once

namespace kiln::vulkan {

struct ShaderFeatures {
  bool storage_16bit = false;  // storageBuffer16BitAccess: f16 buffers
  bool storage_8bit = false;   // storageBuffer8BitAccess: int8 / uint8 buffers
  bool int64 = false;          // shaderInt64: i64 buffers and arithmetic
  bool float64 = false;        // shaderFloat64: f64 buffers and arithmetic

  // Adds what `other` asks for.
  constexpr void add(const ShaderFeatures& other) noexcept {
    storage_16bit = storage_16bit || other.storage_16bit;
    storage_8bit = storage_8bit || other.storage_8bit;
    int64 = int64 || other.int64;
    float64 = float64 || other.float64;
  }
  // Whether a device with these features has everything `needs` asks for.
  constexpr bool covers(const ShaderFeatures& needs) const noexcept {
    return (storage_16bit || !needs.storage_16bit) && (storage_8bit || !needs.storage_8bit) && (int64 || !needs.int64) &&
           (float64 || !needs.float64);
  }
};

} // namespace kiln::vulkan
