// kiln/backend/vulkan/shader_features.hpp: the optional Vulkan features kiln's shaders use:
// what a kernel needs (from its element types) and what a device has enabled.
#pragma once

namespace kiln::vulkan {

struct ShaderFeatures {
  bool storage_16bit = false;  // storageBuffer16BitAccess: f16 buffers
  bool storage_8bit = false;   // storageBuffer8BitAccess: int8 / uint8 buffers
  bool int64 = false;          // shaderInt64: i64 buffers and arithmetic
  bool float64 = false;        // shaderFloat64: f64 buffers and arithmetic
};

} // namespace kiln::vulkan
