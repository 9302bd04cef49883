// The Vulkan device tests' main: makes the device, or exits with 77 (ctest's SKIP_RETURN_CODE
// for these tests) after saying why, so a machine without Vulkan reports them skipped and never
// passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "vulkan_device.hpp"

#include <cstdio>
#include <optional>

namespace {
std::optional<kiln::vulkan::Device> shared_device;
}

const kiln::vulkan::Device& kiln::test::shaders::device() { return *shared_device; }

int main(int argc, char** argv) {
  auto made = kiln::vulkan::Device::create();
  if (!made.ok()) {
    std::printf("skipped: no Vulkan device: %s\n", made.status().message().c_str());
    return 77;
  }
  shared_device.emplace(std::move(*made));
  std::printf("Vulkan device: %s\n", shared_device->name().c_str());
  doctest::Context context(argc, argv);
  const int failed = context.run();
  shared_device.reset();
  return failed;
}
