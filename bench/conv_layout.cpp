// What the NCHWc layout conversion (relax/passes/convert_layout.hpp) buys on a small
// resnet-like network run by the VM: a 3x3 stem, two residual blocks of 32 channels at
// 56x56, a strided block to 64 channels with a 1x1 projection, a residual block at 28x28,
// global average pooling and a classifier. Loaded with the pass on (convolutions in
// blocks of the CPU's vector width, transforms only at the input and after the pool) and
// off (im2col + GEMM convolutions in NCHW), fusion on in both, one thread.
//
// Names: conv_layout/<nchwc|nchw>/batch:<b>/threads:1; run it with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true for medians.
#include <benchmark/benchmark.h>

#include <kiln/relax/builder.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

using kiln::relax::Builder;
using kiln::relax::ConvAttrs;
using kiln::relax::Var;

kiln::Tensor pattern(std::vector<std::int64_t> dims, float phase, float scale) {
  auto t = kiln::Tensor::empty(kiln::DType::f32, std::span<const std::int64_t>(dims)).value();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data_as<float>()[i] = scale * std::sin(0.37f * static_cast<float>(i) + phase);
  return t;
}

kiln::Result<kiln::relax::Module> resnet_like() {
  Builder b;
  const Var image =
      b.input("image", kiln::relax::TensorType(kiln::DType::f32, {kiln::relax::sym("batch"), 3, 56, 56}));
  float phase = 0.0f;
  // A conv with He-like scaling, so activations stay of order one through the chain.
  const auto conv = [&](Var x, std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride) {
    phase += 0.1f;
    const float scale = std::sqrt(2.0f / static_cast<float>(in * kernel * kernel));
    const std::int64_t pad = kernel / 2;
    return b.conv(x, b.constant(pattern({out, in, kernel, kernel}, phase, scale)),
                  b.constant(pattern({out}, phase, 0.1f)),
                  ConvAttrs{.strides = {stride, stride}, .pads = {pad, pad, pad, pad}});
  };
  const auto residual = [&](Var x, std::int64_t channels) {
    const Var y = conv(b.relu(conv(x, channels, channels, 3, 1)), channels, channels, 3, 1);
    return b.relu(b.add(y, x));
  };
  Var x = b.relu(conv(image, 3, 32, 3, 1));
  x = residual(residual(x, 32), 32);
  x = b.relu(b.add(conv(b.relu(conv(x, 32, 64, 3, 2)), 64, 64, 3, 1), conv(x, 32, 64, 1, 2)));
  x = residual(x, 64);
  const Var pooled = b.flatten(b.global_average_pool(x));
  return b.finish({b.gemm(pooled, b.constant(pattern({10, 64}, 9.0f, 0.1f)), b.constant(pattern({10}, 9.5f, 0.1f)),
                          kiln::relax::GemmOpAttrs{.trans_b = true})});
}

void run_network(benchmark::State& state, bool convert_layout) {
  const std::int64_t batch = state.range(0);
  auto module = resnet_like();
  if (!module.ok()) {
    state.SkipWithError(module.status().to_string().c_str());
    return;
  }
  auto exe = kiln::vm::load(std::move(*module), kiln::vm::LoadOptions{.convert_layout = convert_layout});
  if (!exe.ok()) {
    state.SkipWithError(exe.status().to_string().c_str());
    return;
  }
  kiln::ThreadPool pool(static_cast<int>(state.range(1)));
  kiln::vm::ExecutionContext ctx(*exe, &pool);
  const kiln::Tensor x = pattern({batch, 3, 56, 56}, 0.5f, 1.0f);
  if (kiln::Status s = ctx.run({x}); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  for (auto _ : state) {
    kiln::Status s = ctx.run({x});
    benchmark::DoNotOptimize(s);
  }
  state.counters["instructions"] = static_cast<double>((*exe)->instructions().size());
}

void register_all() {
  for (bool convert : {true, false})
    for (std::int64_t batch : {1, 4}) {
      const char* name = convert ? "conv_layout/nchwc" : "conv_layout/nchw";
      benchmark::RegisterBenchmark(name, [convert](benchmark::State& s) { run_network(s, convert); })
          ->Args({batch, 1})
          ->ArgNames({"batch", "threads"})
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
}

} // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
