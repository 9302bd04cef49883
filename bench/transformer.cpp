// What fusion and memory planning buy on the small transformer layer
// (examples/models/small_transformer.hpp) run by the VM: the same model loaded four ways,
// timed per run, with the arena each one needs reported as the `arena_bytes` counter.
//
// Names: transformer/<fused|unfused>/<planned|unplanned>/batch:<b>/seq:<s>/threads:1; run it
// with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for medians.
#include <benchmark/benchmark.h>

#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../examples/models/small_transformer.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void run_layer(benchmark::State& state, bool fuse, bool plan) {
  const std::int64_t batch = state.range(0), seq = state.range(1);
  auto module = kiln::examples::small_transformer();
  auto exe = kiln::vm::load(std::move(*module), kiln::vm::LoadOptions{.fuse = fuse, .plan_memory = plan});
  if (!exe.ok()) {
    state.SkipWithError(exe.status().to_string().c_str());
    return;
  }
  kiln::ThreadPool pool(static_cast<int>(state.range(2)));
  kiln::vm::ExecutionContext ctx(*exe, &pool);
  auto x = kiln::Tensor::empty(kiln::DType::f32, {batch, seq, 64}).value();
  for (std::int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = std::sin(0.1f * static_cast<float>(i));
  if (kiln::Status s = ctx.run({x}); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  for (auto _ : state) {
    kiln::Status s = ctx.run({x});
    benchmark::DoNotOptimize(s);
  }
  state.counters["arena_bytes"] = static_cast<double>(ctx.arena_bytes());
  state.counters["instructions"] = static_cast<double>((*exe)->instructions().size());
}

void register_all() {
  for (bool fuse : {true, false})
    for (bool plan : {true, false})
      for (auto [batch, seq] : {std::pair<int, int>{1, 128}, {8, 64}}) {
        const std::string name =
            std::string("transformer/") + (fuse ? "fused" : "unfused") + "/" + (plan ? "planned" : "unplanned");
        benchmark::RegisterBenchmark(name.c_str(), [fuse, plan](benchmark::State& s) { run_layer(s, fuse, plan); })
            ->Args({batch, seq, 1})
            ->ArgNames({"batch", "seq", "threads"})
            ->Unit(benchmark::kMicrosecond)
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
