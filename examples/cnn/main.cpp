// kiln-cnn: the small CNN of examples/models/small_cnn.hpp in both ways to run a graph. The
// dynamic module is loaded once into the VM and run at several batch sizes; the static graph
// for a batch of 4 is planned by the compiler. Prints the instruction list, the static plan,
// the top class of each image, and checks that the two paths agree.
#include <kiln/static_graph/model.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../models/small_cnn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

int main() {
  using namespace kiln;
  Result<relax::Module> module = examples::small_cnn();
  if (!module.ok()) {
    std::fprintf(stderr, "building the model failed: %s\n", module.status().to_string().c_str());
    return 1;
  }
  auto exe = vm::load(std::move(*module));
  if (!exe.ok()) {
    std::fprintf(stderr, "loading failed: %s\n", exe.status().to_string().c_str());
    return 1;
  }
  std::printf("instructions:\n%s", (*exe)->to_string().c_str());
  ThreadPool pool(2);
  vm::ExecutionContext ctx(*exe, &pool);
  for (std::int64_t batch : {1, 4}) {
    Result<Tensor> image = Tensor::empty(DType::f32, {batch, 3, 32, 32});
    if (!image.ok()) return 1;
    for (std::int64_t i = 0; i < image->numel(); ++i) image->data_as<float>()[i] = std::sin(0.05f * static_cast<float>(i));
    if (Status s = ctx.run({*image}); !s.ok()) {
      std::fprintf(stderr, "run failed: %s\n", s.to_string().c_str());
      return 1;
    }
    const vm::Slot& probs = ctx.output();
    std::printf("batch %lld: arena %zu bytes (%zu without reuse)\n", static_cast<long long>(batch), ctx.arena_bytes(),
                ctx.unplanned_bytes());
    for (std::int64_t b = 0; b < batch; ++b) {
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < probs.dims[1]; ++c)
        if (probs.data_as<float>()[b * probs.dims[1] + c] > probs.data_as<float>()[b * probs.dims[1] + best]) best = c;
      std::printf("  image %lld: class %lld (p = %.4f)\n", static_cast<long long>(b), static_cast<long long>(best),
                  static_cast<double>(probs.data_as<float>()[b * probs.dims[1] + best]));
    }
  }
  // The static graph for a batch of 4, on the last images, against the VM's answer.
  constexpr std::int64_t kBatch = 4;
  using Net = decltype(examples::small_cnn_graph<kBatch>());
  std::printf("static graph (batch %lld):\n%s", static_cast<long long>(kBatch), Net::to_string().c_str());
  auto model = static_graph::Model<Net>::create(&pool);
  if (!model.ok() || !examples::bind_cnn_weights(*model, examples::CnnWeights{}).ok()) {
    std::fprintf(stderr, "static graph setup failed\n");
    return 1;
  }
  Result<Tensor> image = Tensor::empty(DType::f32, {kBatch, 3, 32, 32});
  if (!image.ok()) return 1;
  for (std::int64_t i = 0; i < image->numel(); ++i) image->data_as<float>()[i] = std::sin(0.05f * static_cast<float>(i));
  if (Status s = model->run({*image}); !s.ok() || !ctx.run({*image}).ok()) {
    std::fprintf(stderr, "run failed: %s\n", s.to_string().c_str());
    return 1;
  }
  float largest_difference = 0.0f;
  const vm::Slot& dynamic_probs = ctx.output();
  for (std::int64_t i = 0; i < dynamic_probs.elements(); ++i)
    largest_difference = std::max(largest_difference, std::fabs(model->output().data_as<float>()[i] -
                                                                 dynamic_probs.data_as<float>()[i]));
  const bool agree = largest_difference <= 1e-5f;
  std::printf("static and dynamic paths %s: largest difference %.3g\n", agree ? "agree" : "DISAGREE",
              static_cast<double>(largest_difference));
  return agree ? 0 : 1;
}
