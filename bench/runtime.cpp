// Costs of the runtime's building blocks: dispatching a parallel_for, converting to and
// from 16-bit floats, and bump allocation.
#include <benchmark/benchmark.h>

#include <kiln/kiln.hpp>

#include <vector>

namespace {

void parallel_for_dispatch(benchmark::State& state) {
  kiln::ThreadPool pool(static_cast<int>(state.range(0)));
  std::vector<float> data(4096, 1.0f);
  for (auto _ : state) {
    pool.parallel_for(0, static_cast<std::int64_t>(data.size()), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) data[static_cast<std::size_t>(i)] *= 1.0000001f;
    });
    benchmark::DoNotOptimize(data.data());
  }
}
BENCHMARK(parallel_for_dispatch)->Name("runtime/parallel_for_4096")->Arg(1)->Arg(2)->UseRealTime();

template <class Half>
void convert_round_trip(benchmark::State& state) {
  std::vector<float> in(1 << 16), out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.37f - 1000.0f;
  for (auto _ : state) {
    for (std::size_t i = 0; i < in.size(); ++i) out[i] = static_cast<float>(Half(in[i]));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(in.size()));
}
BENCHMARK(convert_round_trip<kiln::f16>)->Name("runtime/f16_round_trip_65536");
BENCHMARK(convert_round_trip<kiln::bf16>)->Name("runtime/bf16_round_trip_65536");

void arena_allocate(benchmark::State& state) {
  auto arena = kiln::Arena::create(1 << 20).value();
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) benchmark::DoNotOptimize(arena.allocate(1000));
    arena.reset();
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(arena_allocate)->Name("runtime/arena_allocate");

} // namespace

BENCHMARK_MAIN();
