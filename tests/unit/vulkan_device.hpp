// The Vulkan device the device tests share, made once by vulkan_device_main.cpp.
#pragma once

#include <kiln/backend/vulkan/runtime/device.hpp>

namespace kiln::test::shaders {
const kiln::vulkan::Device& device();
}
