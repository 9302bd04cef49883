// The Vulkan runtime around kernels: runs through device-local buffers and staging copies,
// tensors that stay in device memory from one kernel to the next (and their DLPack export),
// the pipeline cache saved and reused (and refused when it comes from elsewhere).
#include <doctest/doctest.h>

#include "test_data.hpp"
#include "vulkan_device.hpp"
#include "vulkan_test_kernels.hpp"

#include <kiln/backend/vulkan/kernel.hpp>
#include <kiln/runtime/dlpack.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace kiln;
namespace sh = kiln::test::shaders;
using kiln::test::at;
using kiln::test::pattern;

TEST_CASE("a device that stages transfers runs kernels on device-local buffers") {
  auto staged = vulkan::Device::create({.stage_transfers = true});
  REQUIRE(staged.ok());
  CHECK(staged->stages_transfers());
  auto kernel = vulkan::build(*staged, sh::matmul_dynamic);
  REQUIRE(kernel.ok());
  for (auto [m, n, k] : {std::array<std::int64_t, 3>{3, 5, 7}, {17, 64, 33}}) {
    const auto a = pattern(at(m * k), 0.4f), b = pattern(at(k * n), 1.7f);
    std::vector<float> c(at(m * n), -99.0f);
    REQUIRE((*kernel)(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(c.data(), shape(m, n))).ok());
    const auto want = kiln::test::naive_matmul<float, double>(a, b, m, n, k);
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1.0));
  }
  // A kernel of several dispatches (its intermediate buffers are device-local too).
  auto rows = vulkan::build(*staged, sh::row_max);
  REQUIRE(rows.ok());
  const auto x = pattern(5 * 9, 0.5f, 10.0f);
  std::vector<float> mx(5, -99.0f);
  REQUIRE((*rows)(make_view(x.data(), shape(5, 9)), make_view(mx.data(), shape(5))).ok());
  for (std::int64_t r = 0; r < 5; ++r) CHECK(mx[at(r)] == *std::max_element(x.begin() + r * 9, x.begin() + r * 9 + 9));
}

TEST_CASE("tensors in device memory feed one kernel from another without copies, and export through DLPack") {
  const auto& device = sh::device();
  const std::int64_t n = 1000;
  const auto u = pattern(at(n), 0.3f);
  auto host = Tensor::from_values<float>(std::vector<std::int64_t>{n}, std::span<const float>(u));
  REQUIRE(host.ok());
  auto on_device = vulkan::upload(device, *host);
  REQUIRE(on_device.ok());
  CHECK(on_device->device().kind == DeviceKind::vulkan);
  auto middle = vulkan::empty_tensor(device, DType::f32, std::vector<std::int64_t>{n});
  auto last = vulkan::empty_tensor(device, DType::f32, std::vector<std::int64_t>{n});
  REQUIRE(middle.ok());
  REQUIRE(last.ok());
  auto kernel = vulkan::build(device, sh::axpb);  // u * 2 + 1
  REQUIRE(kernel.ok());
  REQUIRE((*kernel)(*on_device, *middle).ok());
  REQUIRE((*kernel)(*middle, *last).ok());
  auto back = vulkan::download(device, *last);
  REQUIRE(back.ok());
  const float* out = static_cast<const float*>(back->data());
  for (std::int64_t i = 0; i < n; ++i) CHECK(out[i] == (u[at(i)] * 2.0f + 1.0f) * 2.0f + 1.0f);

  // A CPU tensor, or one of another dtype, is refused with the argument named.
  const Status on_cpu = (*kernel)(*host, *last);
  CHECK(on_cpu.code() == StatusCode::invalid_argument);
  CHECK(on_cpu.message() == "vulkan: argument U: the tensor is in cpu memory, not a Vulkan buffer");
  auto ints = vulkan::empty_tensor(device, DType::i32, std::vector<std::int64_t>{n});
  REQUIRE(ints.ok());
  const Status wrong_type = (*kernel)(*ints, *last);
  CHECK(wrong_type.code() == StatusCode::dtype_mismatch);
  CHECK(wrong_type.message() == "vulkan: argument U holds i32 but the kernel expects f32");

  auto exported = to_dlpack(*last);
  REQUIRE(exported.ok());
  DLManagedTensor* managed = *exported;
  CHECK(managed->dl_tensor.device.device_type == kDLVulkan);
  CHECK(managed->dl_tensor.data == last->data());  // the VkBuffer handle
  CHECK(managed->dl_tensor.byte_offset == 0);
  CHECK(managed->dl_tensor.shape[0] == n);
  managed->deleter(managed);
}

TEST_CASE("the pipeline cache is saved, handed to the next device, and ignored when it is not the device's") {
  const std::string path = (std::filesystem::temp_directory_path() / "kiln_vulkan_pipeline_cache_test.bin").string();
  std::filesystem::remove(path);
  {
    auto first = vulkan::Device::create();
    REQUIRE(first.ok());
    CHECK_FALSE(first->pipeline_cache_reused());
    REQUIRE(vulkan::build(*first, sh::math).ok());
    REQUIRE(vulkan::save_pipeline_cache_file(*first, path).ok());
  }
  const std::vector<std::byte> saved = vulkan::read_pipeline_cache_file(path);
  REQUIRE(saved.size() >= 32);
  {
    auto second = vulkan::Device::create({.pipeline_cache = saved});
    REQUIRE(second.ok());
    CHECK(second->pipeline_cache_reused());
    auto kernel = vulkan::build(*second, sh::math);
    REQUIRE(kernel.ok());
    const auto v = pattern(100, 0.2f, 4.0f, 0.37f);
    std::vector<float> w(100);
    REQUIRE((*kernel)(make_view(v.data(), shape(std::int64_t{100})), make_view(w.data(), shape(std::int64_t{100}))).ok());
    for (std::size_t i = 0; i < v.size(); ++i) CHECK(w[i] == doctest::Approx(sh::math_reference(v[i])).epsilon(1e-4).scale(1.0));
  }
  {
    std::vector<std::byte> foreign = saved;
    foreign[8] = static_cast<std::byte>(static_cast<unsigned char>(foreign[8]) ^ 0xff);  // another vendor id
    auto third = vulkan::Device::create({.pipeline_cache = foreign});
    REQUIRE(third.ok());
    CHECK_FALSE(third->pipeline_cache_reused());
    REQUIRE(vulkan::build(*third, sh::math).ok());
    auto garbage = vulkan::Device::create({.pipeline_cache = std::vector<std::byte>(7, std::byte{1})});
    REQUIRE(garbage.ok());
    CHECK_FALSE(garbage->pipeline_cache_reused());
  }
  CHECK(vulkan::read_pipeline_cache_file(path + ".missing").empty());
  std::filesystem::remove(path);
}
