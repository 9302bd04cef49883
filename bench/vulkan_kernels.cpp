// Kernels of the kernel library on a Vulkan device (lavapipe on a machine without a GPU) under
// GPU schedules side by side:
//   - f32 GEMM: one output per invocation (64-wide workgroups over the fused output), 8 x 16
//     output tiles per workgroup reading the operands from the buffers, and the default: the
//     same tiles with each 16-step of k of A and B copied into workgroup memory first;
//   - a row sum: one row per invocation, and the default for a long row: 64 invocations per
//     row combining their shares as a tree in workgroup memory.
// Arguments are host views, so each run copies the operands in and the result out, as an
// application calling a kernel does.
#include <benchmark/benchmark.h>

#include <kiln/backend/vulkan/kernel.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/kernels/reduce.hpp>

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

inline const auto row_sum = kernels::reduce_last_axis<kernels::Reduction::sum>(dim<"r">, dim<"c">);
using RowSum = std::remove_cvref_t<decltype(row_sum)>;
constexpr auto row_per_invocation = tir::schedule(RowSum::name)
                                        .split("i", 64)
                                        .bind("i.o", tir::ThreadAxis::block_x)
                                        .bind("i.i", tir::ThreadAxis::thread_x);

// rows x cols: state.range(0) x state.range(1).
template <tir::Schedule S>
void run_row_sum(benchmark::State& state) {
  if (device() == nullptr) {
    state.SkipWithError("no Vulkan device");
    return;
  }
  const std::int64_t rows = state.range(0), cols = state.range(1);
  auto kernel = vulkan::build<S>(*device(), row_sum);
  if (!kernel.ok()) {
    state.SkipWithError(kernel.status().message().c_str());
    return;
  }
  std::vector<float> x(static_cast<std::size_t>(rows * cols), 0.5f), y(static_cast<std::size_t>(rows));
  for (auto _ : state) {
    const Status s = (*kernel)(make_view(x.data(), shape(rows, cols)), make_view(y.data(), shape(rows)));
    if (!s.ok()) state.SkipWithError(s.message().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(4.0 * static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
void row_sum_one_per_invocation(benchmark::State& state) { run_row_sum<row_per_invocation>(state); }
void row_sum_tree_default(benchmark::State& state) { run_row_sum<vulkan::default_gpu_schedule<RowSum>()>(state); }

} // namespace

BENCHMARK(row_sum_one_per_invocation)->Args({64, 65536})->Args({4096, 1024})->Args({65536, 64})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(row_sum_tree_default)->Args({64, 65536})->Args({4096, 1024})->Args({65536, 64})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(one_per_invocation)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tiles_from_buffers)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tiles_through_shared_default)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
