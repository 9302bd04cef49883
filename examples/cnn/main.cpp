// kiln-cnn: the small CNN of examples/models/small_cnn.hpp, built with the graph API, loaded
// once into the VM and run at several batch sizes. Prints the instruction list, the memory
// plan and the top class of each image.
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../models/small_cnn.hpp"

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
  return 0;
}
