// What fusion and memory planning buy on the small transformer layer
// (examples/models/small_transformer.hpp): the dynamic module run by the VM loaded four ways,
// and the static graph of the same layer (shapes, fusion and plan from the compiler), timed
// per run, with the arena each one needs reported as the `arena_bytes` counter.
//
// Names: transformer/<fused|unfused>/<planned|unplanned>/batch:<b>/seq:<s>/threads:1 and
// transformer/static/batch:<b>/seq:<s>/threads:1; run it with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true for medians.
#include <benchmark/benchmark.h>

#include <kiln/static_graph/model.hpp>
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

template <std::int64_t Batch, std::int64_t Seq>
void run_static_layer(benchmark::State& state) {
  using Net = decltype(kiln::examples::small_transformer_graph<Batch, Seq>());
  kiln::ThreadPool pool(static_cast<int>(state.range(2)));
  auto model = kiln::static_graph::Model<Net>::create(&pool);
  if (!model.ok() || !kiln::examples::bind_transformer_weights(*model, kiln::examples::TransformerWeights{}).ok()) {
    state.SkipWithError("the static graph could not be set up");
    return;
  }
  auto x = kiln::Tensor::empty(kiln::DType::f32, {Batch, Seq, 64}).value();
  for (std::int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = std::sin(0.1f * static_cast<float>(i));
  for (auto _ : state) {
    kiln::Status s = model->run({x});
    benchmark::DoNotOptimize(s);
  }
  state.counters["arena_bytes"] = static_cast<double>(Net::arena_bytes);
  state.counters["instructions"] = static_cast<double>(Net::steps);
}

void register_all() {
  benchmark::RegisterBenchmark("transformer/static", run_static_layer<1, 128>)
      ->Args({1, 128, 1})
      ->ArgNames({"batch", "seq", "threads"})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("transformer/static", run_static_layer<8, 64>)
      ->Args({8, 64, 1})
      ->ArgNames({"batch", "seq", "threads"})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
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
