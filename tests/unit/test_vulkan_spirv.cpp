// The SPIR-V emitter without a device: modules assembled at compile time equal the ones
// assembled at run time, their headers and entry points are what Vulkan expects, schedules the
// Vulkan backend cannot run are refused with the primitive and the loop named, and every module
// is written to KILN_SPIRV_DIR, where ctest's spirv_val test runs spirv-val on each.
#include <doctest/doctest.h>

#include "vulkan_test_kernels.hpp"

#include <kiln/backend/vulkan/shader_codegen.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace kiln;
namespace sh = kiln::test::shaders;

namespace {

// Writes a module where the spirv-val test finds it (nothing when KILN_SPIRV_DIR is unset).
void save(const std::string& name, const std::vector<std::uint32_t>& words) {
  const char* dir = std::getenv("KILN_SPIRV_DIR");
  if (dir == nullptr) return;
  std::filesystem::create_directories(dir);
  std::ofstream out(std::filesystem::path(dir) / (name + ".spv"), std::ios::binary);
  out.write(reinterpret_cast<const char*>(words.data()), static_cast<std::streamsize>(words.size() * 4));
  REQUIRE(out.good());
}

// The words of the instruction with `opcode` that comes first, or empty.
std::vector<std::uint32_t> first_instruction(const std::vector<std::uint32_t>& words, std::uint32_t opcode) {
  for (std::size_t i = 5; i < words.size();) {
    const std::uint32_t count = words[i] >> 16;
    if (count == 0) break;
    if ((words[i] & 0xffffu) == opcode) return {words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i + count)};
    i += count;
  }
  return {};
}

void check_module(const std::vector<std::uint32_t>& words, std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  REQUIRE(words.size() > 5);
  CHECK(words[0] == vulkan::spirv::kMagic);
  CHECK(words[1] == vulkan::spirv::kVersion);
  CHECK(words[3] > 1);  // the id bound
  // The instruction stream tiles the words exactly.
  std::size_t i = 5;
  while (i < words.size() && (words[i] >> 16) != 0) i += words[i] >> 16;
  CHECK(i == words.size());
  const auto entry = first_instruction(words, 15);  // OpEntryPoint GLCompute %main "main"
  REQUIRE(entry.size() >= 4);
  CHECK(entry[1] == vulkan::spirv::execution_model::gl_compute);
  CHECK(std::string_view(reinterpret_cast<const char*>(&entry[3])) == "main");
  const auto mode = first_instruction(words, 16);  // OpExecutionMode %main LocalSize x y z
  REQUIRE(mode.size() == 6);
  CHECK(mode[3] == x);
  CHECK(mode[4] == y);
  CHECK(mode[5] == z);
}

constexpr auto gelu_schedule = vulkan::default_gpu_schedule<std::remove_cvref_t<decltype(sh::bias_gelu)>>();

} // namespace

TEST_CASE("a static kernel's module is assembled at compile time, word for word the run-time one") {
  constexpr const auto& baked = vulkan::baked_shader<gelu_schedule, sh::bias_gelu>;
  static_assert(baked[0] == vulkan::spirv::kMagic);
  static_assert(baked.size() > 100);
  const std::vector<std::uint32_t> at_run_time = vulkan::emit_shader(sh::bias_gelu);
  CHECK(std::vector<std::uint32_t>(baked.begin(), baked.end()) == at_run_time);
  check_module(at_run_time, 64, 1, 1);
  save("bias_gelu", at_run_time);

  constexpr const auto& tiles = vulkan::baked_shader<sh::matmul_tiles, sh::matmul_static>;
  static_assert(tiles[0] == vulkan::spirv::kMagic);
  const std::vector<std::uint32_t> matmul = vulkan::emit_shader<sh::matmul_tiles>(sh::matmul_static);
  CHECK(std::vector<std::uint32_t>(tiles.begin(), tiles.end()) == matmul);
  check_module(matmul, 8, 8, 1);
  save("matmul_tiles", matmul);
}

TEST_CASE("every test kernel emits a module with its workgroup size") {
  struct Case {
    const char* name;
    std::vector<std::uint32_t> words;
  };
  const Case cases[] = {
      {"math", vulkan::emit_shader(sh::math)},
      {"integer_ops", vulkan::emit_shader(sh::integer_ops)},
      {"matmul_dynamic", vulkan::emit_shader(sh::matmul_dynamic)},
      {"row_max", vulkan::emit_shader(sh::row_max)},
      {"mirrored", vulkan::emit_shader(sh::mirrored)},
      {"bordered", vulkan::emit_shader(sh::bordered)},
      {"axpb", vulkan::emit_shader(sh::axpb)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    check_module(c.words, 64, 1, 1);
    save(c.name, c.words);
  }
}

TEST_CASE("named extents are push constants; a static kernel has none") {
  const auto dynamic = vulkan::emit_shader(sh::matmul_dynamic);
  const auto fixed = vulkan::emit_shader(sh::bias_gelu);
  auto has_push_constants = [](const std::vector<std::uint32_t>& words) {
    for (std::size_t i = 5; i < words.size(); i += words[i] >> 16)
      if ((words[i] & 0xffffu) == 59 && words[i + 3] == vulkan::spirv::storage::push_constant) return true;  // OpVariable
    return false;
  };
  CHECK(has_push_constants(dynamic));
  CHECK_FALSE(has_push_constants(fixed));
}

TEST_CASE("schedules the Vulkan backend cannot run are refused, naming the primitive and the loop") {
  using Matmul = std::remove_cvref_t<decltype(sh::matmul_static)>;
  using Dynamic = std::remove_cvref_t<decltype(sh::matmul_dynamic)>;
  auto message = [](const tir::Diagnostic& d) { return std::string(d.message); };
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").bind("q", tir::ThreadAxis::block_x), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: bind(\"q\"): the stage has no loop of that name");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").bind("k", tir::ThreadAxis::block_x), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: bind(\"k\"): the loop is a reduction loop");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").bind("i", tir::ThreadAxis::block_x).bind("j", tir::ThreadAxis::block_x), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: bind(\"j\"): the thread axis is bound already");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").bind("i", tir::ThreadAxis::thread_x), Dynamic, Dynamic>();
    CHECK(message(g.error) == "vulkan: bind(\"i\"): a loop bound to a thread axis must have a static extent");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").bind("i", tir::ThreadAxis::thread_x).bind("j", tir::ThreadAxis::thread_y), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: bind(\"C\"): the thread axes make a workgroup of more than 128 invocations");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").reorder("k", "j"), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: reorder(\"j\"): a spatial loop inside a reduction loop; the Vulkan backend keeps reduction loops innermost");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").split("i", 8, tir::Tail::separate), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: split(\"i\"): the Vulkan backend takes guarded tails only (Tail::guard)");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").cache_write(tir::Scope::shared), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: cache_write(\"C\"): not supported by the Vulkan backend yet");
  }
  {
    using Mirrored = std::remove_cvref_t<decltype(sh::mirrored)>;
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("D").split("j", 4), Mirrored, Mirrored>();
    CHECK(message(g.error) == "vulkan: split(\"D\"): the Vulkan backend inlines this stage (it is not a reduction or the last stage)");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<sh::matmul_tiles, Matmul, Matmul>();
    CHECK_FALSE(g.error.failed);
    CHECK(g.workgroup_size[0] == 8);
    CHECK(g.workgroup_size[1] == 8);
  }
}

#include <kiln/kernels/conv2d.hpp>
#include <kiln/kernels/conv2d_nchwc.hpp>
#include <kiln/kernels/elementwise.hpp>
#include <kiln/kernels/layer_norm.hpp>
#include <kiln/kernels/layout.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/kernels/pool2d.hpp>
#include <kiln/kernels/reduce.hpp>
#include <kiln/kernels/reduce_axes.hpp>
#include <kiln/kernels/softmax.hpp>
#include <kiln/kernels/transpose.hpp>

TEST_CASE("the kernel library's modules: one per dispatch, all for spirv-val") {
  using te::dim;
  using kernels::Reduction;
  int saved = 0;
  auto save_all = [&](const char* name, const std::vector<std::vector<std::uint32_t>>& modules, std::size_t dispatches) {
    CAPTURE(name);
    CHECK(modules.size() == dispatches);
    for (std::size_t i = 0; i < modules.size(); ++i) {
      REQUIRE(modules[i].size() > 5);
      CHECK(modules[i][0] == vulkan::spirv::kMagic);
      save(std::string("library_") + name + "_" + std::to_string(i), modules[i]);
      ++saved;
    }
  };
  save_all("matmul", vulkan::emit_shaders(kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">)), 1);
  save_all("matmul_static", vulkan::emit_shaders(kernels::matmul<float>(17_c, 33_c, 65_c)), 1);
  save_all("batch_matmul", vulkan::emit_shaders(kernels::batch_matmul<float>(dim<"b">, dim<"m">, dim<"n">, dim<"k">)), 1);
  save_all("softmax", vulkan::emit_shaders(kernels::softmax(dim<"rows">, dim<"cols">)), 3);
  save_all("log_softmax", vulkan::emit_shaders(kernels::log_softmax(dim<"rows">, dim<"cols">)), 3);
  save_all("layer_norm", vulkan::emit_shaders(kernels::layer_norm(dim<"rows">, dim<"cols">, 1e-5f)), 3);
  save_all("reduce_mean", vulkan::emit_shaders(kernels::reduce_last_axis<Reduction::mean>(dim<"r">, dim<"c">)), 1);
  save_all("reduce_prod", vulkan::emit_shaders(kernels::reduce_last_axis<Reduction::prod>(dim<"r">, dim<"c">)), 1);
  save_all("reduce_axes", vulkan::emit_shaders(kernels::reduce_axes<Reduction::sum, kernels::AxisList<0, 2>, true>(
                              te::extents(dim<"a">, dim<"b">, dim<"c">, dim<"d">))), 1);
  save_all("transpose", vulkan::emit_shaders(kernels::transpose<std::int32_t>(dim<"r">, dim<"c">)), 1);
  save_all("broadcast", vulkan::emit_shaders(kernels::broadcast_binary(te::extents(dim<"N">, 1_c, dim<"W">), te::extents(dim<"H">, 1_c),
                                                                       [](auto p, auto q) { return p + q * 2.0f; })), 1);
  constexpr kernels::Conv2dParams grouped{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 2};
  save_all("conv2d", vulkan::emit_shaders(kernels::conv2d_nchw<grouped>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">,
                                                                        dim<"S">, dim<"OH">, dim<"OW">)), 1);
  constexpr kernels::Pool2dParams pool{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  save_all("max_pool", vulkan::emit_shaders(kernels::max_pool2d_nchw<pool>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">)), 1);
  save_all("avg_pool", vulkan::emit_shaders(kernels::avg_pool2d_nchw<pool>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">)), 1);
  save_all("global_pool", vulkan::emit_shaders(kernels::global_avg_pool_nchw(dim<"N">, dim<"C">, dim<"H">, dim<"W">)), 1);
  save_all("to_nchwc", vulkan::emit_shaders(kernels::nchw_to_nchwc<4>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"CB">)), 1);
  save_all("from_nchwc", vulkan::emit_shaders(kernels::nchwc_to_nchw<4>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"C">)), 1);
  save_all("pack_weights", vulkan::emit_shaders(kernels::oihw_to_oihwio<4, 4>(dim<"K">, dim<"C">, dim<"R">, dim<"S">, dim<"KB">, dim<"CB">)), 1);
  save_all("conv2d_nchwc", vulkan::emit_shaders(kernels::conv2d_nchwc<kernels::Conv2dParams{}>(
                               dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"KB">, dim<"R">, dim<"S">, dim<"OH">, dim<"OW">, 4_c, 4_c)), 1);
  save_all("matmul_f16", vulkan::emit_shaders(kernels::matmul<f16>(dim<"m">, dim<"n">, dim<"k">)), 1);
  save_all("matmul_int8", vulkan::emit_shaders(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">)), 1);
  save_all("max_uint8", vulkan::emit_shaders(kernels::broadcast_binary<std::uint8_t>(te::extents(dim<"N">), te::extents(dim<"N">),
                                                                                   [](auto u, auto v) { return te::select(u > v, u, v); })), 1);
  save_all("to_f16", vulkan::emit_shaders(kernels::unary<float>(te::extents(dim<"a">), [](auto x) { return te::cast<f16>(x); })), 1);
  CHECK(saved == 29);
}
