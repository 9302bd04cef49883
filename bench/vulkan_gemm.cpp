// f32 GEMM on a Vulkan device (lavapipe on a machine without a GPU): the kernel library's
// matmul under three GPU schedules, side by side: one output per invocation (64-wide
// workgroups over the fused output), 8 x 16 output tiles per workgroup reading the operands
// from the buffers, and the same tiles with each 16-step of k of A and B copied into
// workgroup memory first (cache_read(shared)). Arguments are host views, so each run copies
// the operands in and the product out, as an application calling a kernel does.
#include <benchmark/benchmark.h>

#include <kiln/backend/vulkan/kernel.hpp>
#include <kiln/kernels/matmul.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

using namespace kiln;
using te::dim;

namespace {

const vulkan::Device* device() {
  static std::optional<vulkan::Device> made = [] {
    auto d = vulkan::Device::create();
    if (!d.ok()) {
      std::printf("no Vulkan device: %s\n", d.status().message().c_str());
      return std::optional<vulkan::Device>();
    }
    return std::optional<vulkan::Device>(std::move(*d));
  }();
  return made ? &*made : nullptr;
}

inline const auto gemm = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
using Gemm = std::remove_cvref_t<decltype(gemm)>;

constexpr auto one_output_each = tir::schedule("C")
                                     .fuse("i", "j")
                                     .split("i_j", 64)
                                     .bind("i_j.o", tir::ThreadAxis::block_x)
                                     .bind("i_j.i", tir::ThreadAxis::thread_x);
constexpr auto tiles = tir::schedule("C")
                           .tile("i", "j", 8, 16)
                           .split("k", 16)
                           .bind("i.o", tir::ThreadAxis::block_y)
                           .bind("j.o", tir::ThreadAxis::block_x)
                           .bind("i.i", tir::ThreadAxis::thread_y)
                           .bind("j.i", tir::ThreadAxis::thread_x);
// The default schedule of a matrix product: the same tiles through workgroup memory.
constexpr auto shared_tiles = vulkan::default_gpu_schedule<Gemm>();

template <tir::Schedule S>
void run(benchmark::State& state) {
  if (device() == nullptr) {
    state.SkipWithError("no Vulkan device");
    return;
  }
  const std::int64_t n = state.range(0);
  auto kernel = vulkan::build<S>(*device(), gemm);
  if (!kernel.ok()) {
    state.SkipWithError(kernel.status().message().c_str());
    return;
  }
  std::vector<float> a(static_cast<std::size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  for (auto _ : state) {
    const Status s = (*kernel)(make_view(a.data(), shape(n, n)), make_view(b.data(), shape(n, n)), make_view(c.data(), shape(n, n)));
    if (!s.ok()) state.SkipWithError(s.message().c_str());
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * static_cast<double>(n * n * n), benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

void one_per_invocation(benchmark::State& state) { run<one_output_each>(state); }
void tiles_from_buffers(benchmark::State& state) { run<tiles>(state); }
void tiles_through_shared_default(benchmark::State& state) { run<shared_tiles>(state); }

} // namespace

BENCHMARK(one_per_invocation)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tiles_from_buffers)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tiles_through_shared_default)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
