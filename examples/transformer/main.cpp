// kiln-transformer: the transformer layer of examples/models/small_transformer.hpp, built
// with the graph API, loaded once into the VM (passes and fusion run at load) and run at
// several batch and sequence sizes; then the same layer as a static graph for batch 4 and
// sequence 128, planned by the compiler. Prints the fused module, the instruction list, the
// static plan and, per size, the arena the memory plan needs, and checks that both paths
// agree.
#include <kiln/relax/printer.hpp>
#include <kiln/static_graph/model.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../models/small_transformer.hpp"

#include <algorithm>
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
  // The static graph for the last size, on the same input, against the VM's answer.
  constexpr std::int64_t kBatch = 4, kSeq = 128;
  using Net = decltype(examples::small_transformer_graph<kBatch, kSeq>());
  std::printf("static graph (batch %lld, seq %lld):\n%s", static_cast<long long>(kBatch), static_cast<long long>(kSeq),
              Net::to_string().c_str());
  auto model = static_graph::Model<Net>::create(&pool);
  if (!model.ok() || !examples::bind_transformer_weights(*model, examples::TransformerWeights{}).ok()) {
    std::fprintf(stderr, "static graph setup failed\n");
    return 1;
  }
  Result<Tensor> x = Tensor::empty(DType::f32, {kBatch, kSeq, 64});
  if (!x.ok()) return 1;
  for (std::int64_t i = 0; i < x->numel(); ++i) x->data_as<float>()[i] = std::sin(0.01f * static_cast<float>(i));
  if (Status s = model->run({*x}); !s.ok() || !ctx.run({*x}).ok()) {
    std::fprintf(stderr, "run failed: %s\n", s.to_string().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRuns = 20;
  for (int r = 0; r < kRuns; ++r)
    if (!model->run({*x}).ok()) return 1;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRuns;
  float largest_difference = 0.0f;
  for (std::int64_t i = 0; i < ctx.output().elements(); ++i)
    largest_difference = std::max(largest_difference, std::fabs(model->output().data_as<float>()[i] -
                                                                 ctx.output().data_as<float>()[i]));
  const bool agree = largest_difference <= 1e-4f;
  std::printf("static graph: %.3f ms per run, arena %zu bytes\n", ms, Net::arena_bytes);
  std::printf("static and dynamic paths %s: largest difference %.3g\n", agree ? "agree" : "DISAGREE",
              static_cast<double>(largest_difference));
  return agree ? 0 : 1;
}
