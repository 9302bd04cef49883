// kiln-transformer: the transformer layer of examples/models/small_transformer.hpp, built
// with the graph API, loaded once into the VM (passes and fusion run at load) and run at
// several batch and sequence sizes. Prints the fused module, the instruction list and, per
// size, the arena the memory plan needs.
#include <kiln/relax/printer.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../models/small_transformer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

int main() {
  using namespace kiln;
  Result<relax::Module> module = examples::small_transformer();
  if (!module.ok()) {
    std::fprintf(stderr, "building the model failed: %s\n", module.status().to_string().c_str());
    return 1;
  }
  auto exe = vm::load(std::move(*module));
  if (!exe.ok()) {
    std::fprintf(stderr, "loading failed: %s\n", exe.status().to_string().c_str());
    return 1;
  }
  std::printf("%s\ninstructions:\n%s", relax::to_string((*exe)->module()).c_str(), (*exe)->to_string().c_str());
  ThreadPool pool(2);
  vm::ExecutionContext ctx(*exe, &pool);
  for (auto [batch, seq] : {std::pair<std::int64_t, std::int64_t>{1, 16}, {4, 128}}) {
    Result<Tensor> x = Tensor::empty(DType::f32, {batch, seq, 64});
    if (!x.ok()) return 1;
    for (std::int64_t i = 0; i < x->numel(); ++i) x->data_as<float>()[i] = std::sin(0.01f * static_cast<float>(i));
    if (Status s = ctx.run({*x}); !s.ok()) {
      std::fprintf(stderr, "run failed: %s\n", s.to_string().c_str());
      return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    constexpr int kRuns = 20;
    for (int r = 0; r < kRuns; ++r)
      if (!ctx.run({*x}).ok()) return 1;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRuns;
    std::printf("batch %lld, seq %lld: %.3f ms per run, arena %zu bytes (%zu without reuse), y[0] = %.5f\n",
                static_cast<long long>(batch), static_cast<long long>(seq), ms, ctx.arena_bytes(), ctx.unplanned_bytes(),
                static_cast<double>(ctx.output().data_as<float>()[0]));
  }
  return 0;
}
