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

  constexpr const auto& shared = vulkan::baked_shader<sh::matmul_shared_tiles, sh::matmul_static>;
  const std::vector<std::uint32_t> shared_at_run_time = vulkan::emit_shader<sh::matmul_shared_tiles>(sh::matmul_static);
  CHECK(std::vector<std::uint32_t>(shared.begin(), shared.end()) == shared_at_run_time);
  check_module(shared_at_run_time, 8, 8, 1);
  save("matmul_shared_tiles", shared_at_run_time);
}

namespace {
// How many instructions with `opcode` a module has.
std::size_t count_instructions(const std::vector<std::uint32_t>& words, std::uint32_t opcode) {
  std::size_t n = 0;
  for (std::size_t i = 5; i < words.size() && (words[i] >> 16) != 0; i += words[i] >> 16) n += (words[i] & 0xffffu) == opcode;
  return n;
}
} // namespace

TEST_CASE("shared copies: regions planned at compile time, arrays in workgroup memory between two barriers") {
  using Matmul = std::remove_cvref_t<decltype(sh::matmul_static)>;
  using Dynamic = std::remove_cvref_t<decltype(sh::matmul_dynamic)>;
  using Transposed = std::remove_cvref_t<decltype(sh::transposed)>;
  using Stencil = std::remove_cvref_t<decltype(sh::stencil)>;
  {
    // 8 rows of A (thread_y) by 16 steps of k (inside k.o); 16 steps of k by 8 columns of B.
    constexpr auto g = vulkan::lower_for_gpu<sh::matmul_shared_tiles, Matmul, Matmul>();
    REQUIRE_FALSE(g.error.failed);
    REQUIRE(g.shared_count == 2);
    CHECK(g.program.loops[g.shared_attach].name == Name("k.o"));
    CHECK(g.shared[0].tensor == Name("A"));
    CHECK((g.shared[0].span[0] == 8 && g.shared[0].span[1] == 16));
    CHECK((g.shared[1].span[0] == 16 && g.shared[1].span[1] == 8));
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<sh::matmul_dynamic_shared, Dynamic, Dynamic>();
    REQUIRE_FALSE(g.error.failed);
    CHECK((g.shared[0].span[0] == 8 && g.shared[0].span[1] == 16 && g.shared[1].span[0] == 16 && g.shared[1].span[1] == 16));
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<sh::transposed_shared, Transposed, Transposed>();
    REQUIRE_FALSE(g.error.failed);
    CHECK((g.shared[0].span[0] == 8 && g.shared[0].span[1] == 16));  // X(j, i): 8 rows j, 16 columns i
  }
  {
    // i + r: 64 outputs of the workgroup and 5 taps reach 68 samples; the taps copy whole.
    constexpr auto g = vulkan::lower_for_gpu<sh::stencil_shared, Stencil, Stencil>();
    REQUIRE_FALSE(g.error.failed);
    CHECK((g.shared[0].span[0] == 1 && g.shared[0].span[1] == 68));
    CHECK(g.shared[1].span[0] == 5);
  }
  struct Case {
    const char* name;
    std::vector<std::uint32_t> words;
    std::uint32_t x, y, arrays;
  };
  const Case cases[] = {
      {"matmul_dynamic_shared", vulkan::emit_shader<sh::matmul_dynamic_shared>(sh::matmul_dynamic), 16, 8, 2},
      {"transposed_shared", vulkan::emit_shader<sh::transposed_shared>(sh::transposed), 8, 16, 1},
      {"stencil_shared", vulkan::emit_shader<sh::stencil_shared>(sh::stencil), 64, 1, 2},
      {"scaled_shared", vulkan::emit_shader<sh::scaled_shared>(sh::scaled), 64, 1, 1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    check_module(c.words, c.x, c.y, 1);
    CHECK(count_instructions(c.words, 224) == 2);  // OpControlBarrier before and after the copies
    std::size_t arrays = 0;
    for (std::size_t i = 5; i < c.words.size() && (c.words[i] >> 16) != 0; i += c.words[i] >> 16)
      arrays += (c.words[i] & 0xffffu) == 59 && c.words[i + 3] == vulkan::spirv::storage::workgroup;  // OpVariable Workgroup
    CHECK(arrays == c.arrays);
    save(c.name, c.words);
  }
}

TEST_CASE("every test kernel emits a module with its workgroup size") {
  struct Case {
    const char* name;
    std::vector<std::uint32_t> words;
  };
  const Case cases[] = {
      {"math", vulkan::emit_shader(sh::math)},
      {"integer_ops", vulkan::emit_shader(sh::integer_ops)},
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
  // A matrix product's default: 8 x 16 tiles.
  const auto matmul = vulkan::emit_shader(sh::matmul_dynamic);
  check_module(matmul, 16, 8, 1);
  save("matmul_dynamic", matmul);
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
    CHECK(message(g.error) == "vulkan: bind(\"k\"): a reduction loop binds to a thread axis only (its workgroup reduces it as a tree)");
  }
  {
    constexpr auto s = tir::schedule("C").split("k", 8).bind("k.o", tir::ThreadAxis::thread_x).bind("k.i", tir::ThreadAxis::thread_y);
    constexpr auto g = vulkan::lower_for_gpu<s, Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: bind(\"k.i\"): one reduction loop at most is bound to a thread axis");
  }
  {
    constexpr auto s = tir::schedule("C").tile("i", "j", 8, 8).split("k", 2).bind("i.o", tir::ThreadAxis::block_y)
                           .bind("j.o", tir::ThreadAxis::block_x).bind("i.i", tir::ThreadAxis::thread_y).bind("j.i", tir::ThreadAxis::thread_x)
                           .bind("k.i", tir::ThreadAxis::thread_z).cache_read("A", tir::Scope::shared).stage("A_shared").compute_at("C", "k.o");
    constexpr auto g = vulkan::lower_for_gpu<s, Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: cache_read(\"C\"): a stage with shared copies cannot also reduce across its invocations yet");
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
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").cache_read("A", tir::Scope::local), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: cache_read(\"A\"): the Vulkan backend copies into workgroup memory only (Scope::shared)");
  }
  {
    constexpr auto g = vulkan::lower_for_gpu<tir::schedule("C").cache_read("A", tir::Scope::shared), Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: cache_read(\"A\"): place the copy \"<tensor>_shared\" with compute_at(reader, loop)");
  }
  {
    constexpr auto s = sh::matmul_tiles.cache_read("A", tir::Scope::shared).stage("A_shared").compute_at("C", "i.i");
    constexpr auto g = vulkan::lower_for_gpu<s, Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: compute_at(\"i.i\"): the loop is bound to a thread axis; copy at a block loop or a serial loop");
  }
  {
    constexpr auto s = sh::matmul_tiles.cache_read("A", tir::Scope::shared).stage("A_shared").compute_at("C", "k.o").split("k", 4);
    constexpr auto g = vulkan::lower_for_gpu<s, Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: split(\"A_shared\"): a shared copy is only placed (compute_at); the workgroup copies it together");
  }
  {
    // k is not split: the loop inside i has a named extent, so the region has none that is static.
    constexpr auto s = tir::schedule("C").cache_read("A", tir::Scope::shared).stage("A_shared").compute_at("C", "i");
    constexpr auto g = vulkan::lower_for_gpu<s, Dynamic, Dynamic>();
    CHECK(message(g.error) == "vulkan: cache_read(\"A\"): an index of the read is not affine in loops of static extent; the region's size is not static");
  }
  {
    // 64 rows (thread_x) of A's 50 columns fit (12,800 bytes), and B's 50 x 45 (9,000 bytes)
    // too, but not both.
    constexpr auto s = tir::schedule("C").split("i", 64).bind("i.o", tir::ThreadAxis::block_x).bind("i.i", tir::ThreadAxis::thread_x)
                           .cache_read("A", tir::Scope::shared).cache_read("B", tir::Scope::shared)
                           .stage("A_shared").compute_at("C", "i.o").stage("B_shared").compute_at("C", "i.o");
    constexpr auto g = vulkan::lower_for_gpu<s, Matmul, Matmul>();
    CHECK(message(g.error) == "vulkan: cache_read(\"C\"): the shared copies together need more than the 16 KiB of workgroup memory every device has");
  }
  {
    using Mirrored = std::remove_cvref_t<decltype(sh::mirrored)>;
    constexpr auto s = tir::schedule("E").cache_read("D", tir::Scope::shared).stage("D_shared").compute_at("E", "i");
    constexpr auto g = vulkan::lower_for_gpu<s, Mirrored, Mirrored>();
    CHECK(message(g.error) == "vulkan: cache_read(\"D\"): the stage reads the tensor at different indices; one region serves one read");
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

TEST_CASE("reductions across a workgroup: a tree of barriers, the default for long reductions over one axis") {
  using RowSum = std::remove_cvref_t<decltype(sh::row_sum)>;
  constexpr auto tree = vulkan::lower_for_gpu<sh::row_sum_tree, RowSum, RowSum>();
  REQUIRE_FALSE(tree.error.failed);
  CHECK(tree.tree_axis == 0);
  CHECK((tree.workgroup_size[0] == 24 && tree.workgroup_size[1] == 4));
  const auto custom = vulkan::emit_shader<sh::row_sum_tree>(sh::row_sum);
  check_module(custom, 24, 4, 1);
  // Before and after the shares are stored, then one per halving: 16, 8, 4, 2, 1.
  CHECK(count_instructions(custom, 224) == 7);
  save("row_sum_tree", custom);
  const auto by_default = vulkan::emit_shader(sh::row_max);
  check_module(by_default, 64, 1, 1);
  CHECK(count_instructions(by_default, 224) == 8);  // 32, 16, 8, 4, 2, 1
  save("row_max_tree", by_default);
  using te::dim;
  using Sum = std::remove_cvref_t<decltype(kernels::reduce_last_axis<kernels::Reduction::sum>(dim<"r">, dim<"c">))>;
  CHECK(vulkan::lower_for_gpu<vulkan::default_gpu_schedule<Sum>(), Sum, Sum>().tree_axis == 0);
  // A short static reduction stays in each invocation.
  using Short = std::remove_cvref_t<decltype(kernels::reduce_last_axis<kernels::Reduction::sum>(dim<"r">, 16_c))>;
  CHECK(vulkan::lower_for_gpu<vulkan::default_gpu_schedule<Short>(), Short, Short>().tree_axis == -1);
}

TEST_CASE("the default GPU schedule tiles matrix products through workgroup memory, and nothing else") {
  using te::dim;
  auto copies = [](auto compute) {
    using Last = std::remove_cvref_t<decltype(compute)>;
    return vulkan::lower_for_gpu<vulkan::default_gpu_schedule<Last>(), Last, Last>();
  };
  const auto matmul = copies(kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">));
  REQUIRE_FALSE(matmul.error.failed);
  REQUIRE(matmul.shared_count == 2);
  CHECK(matmul.program.loops[matmul.shared_attach].name == Name("k.o"));
  CHECK((matmul.workgroup_size[0] == 16 && matmul.workgroup_size[1] == 8));
  CHECK((matmul.shared[0].span[0] == 8 && matmul.shared[0].span[1] == 16 && matmul.shared[1].span[0] == 16 && matmul.shared[1].span[1] == 16));
  const auto batched = copies(kernels::batch_matmul<f16>(dim<"b">, dim<"m">, dim<"n">, dim<"k">));
  REQUIRE_FALSE(batched.error.failed);
  CHECK(batched.shared_count == 2);
  CHECK(batched.bound_loop[2] >= 0);  // the batch on the third workgroup axis
  CHECK(batched.shared[0].span[0] == 1);
  CHECK(copies(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">)).shared_count == 2);
  // Reads that step k through expressions (a convolution), or reductions of one operand.
  CHECK(copies(kernels::conv2d_nchw<kernels::Conv2dParams{}>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">,
                                                             dim<"S">, dim<"OH">, dim<"OW">)).shared_count == 0);
  CHECK(copies(kernels::reduce_last_axis<kernels::Reduction::sum>(dim<"r">, dim<"c">)).shared_count == 0);
}

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
