// kiln-demo: an ONNX model through kiln's dynamic path. The default model is embedded in the
// program (demo/tiny_cnn: a small digit classifier exported from PyTorch, with a sample
// image and PyTorch's output for it): its bytes are decoded, imported into a relax module,
// compiled for the CPU and run; the prediction is printed and checked against PyTorch's.
//
//   kiln-demo                       the embedded model and sample
//   kiln-demo MODEL.onnx INPUT.pb   another single-input model on its input
#include <kiln/kiln.hpp>
#include <kiln/frontend/onnx/import.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace kiln_demo {
std::span<const std::byte> model();
std::span<const std::byte> sample_input();
std::span<const std::byte> expected_output();
} // namespace kiln_demo

using namespace kiln;

namespace {

int fail(const Status& s) {
  std::fprintf(stderr, "kiln-demo: %s\n", s.to_string().c_str());
  return 1;
}

Result<Tensor> tensor_from(std::span<const std::byte> bytes, std::string_view source) {
  KILN_ASSIGN_OR_RETURN(const onnx::TensorProto proto, onnx::decode_tensor_proto(bytes, source));
  return onnx::to_tensor(proto);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 1 && argc != 3) {
    std::fputs("usage: kiln-demo [MODEL.onnx INPUT.pb]\n", stderr);
    return 2;
  }
  const bool embedded = argc == 1;
  onnx::LoadedModel loaded;
  if (embedded) {
    Result<onnx::ModelProto> decoded = onnx::decode_model(kiln_demo::model(), "tiny_cnn (embedded)");
    if (!decoded.ok()) return fail(decoded.status());
    loaded.model = std::move(*decoded);
  } else {
    Result<onnx::LoadedModel> read = onnx::load_model(argv[1]);
    if (!read.ok()) return fail(read.status());
    loaded = std::move(*read);
  }
  Result<Tensor> input = embedded ? tensor_from(kiln_demo::sample_input(), "sample input") : onnx::load_tensor(argv[2]);
  if (!input.ok()) return fail(input.status());

  const auto start = std::chrono::steady_clock::now();
  Result<relax::Module> module = onnx::import_model(loaded.model, loaded.directory.string());
  if (!module.ok()) return fail(module.status());
  Result<std::shared_ptr<const vm::Executable>> exe = vm::load(std::move(*module));
  if (!exe.ok()) return fail(exe.status());
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  vm::ExecutionContext ctx(*exe);
  if (Status s = ctx.run({*input}); !s.ok()) return fail(s);  // prepares for the input's shape
  // Runs after the first allocate nothing; time a few.
  constexpr int kRuns = 20;
  std::vector<double> times;
  for (int i = 0; i < kRuns; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = ctx.run({*input}); !s.ok()) return fail(s);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());

  const vm::Slot& out = ctx.output(0);
  if (out.dtype != DType::f32 || out.rank != 2 || out.dims[0] < 1)
    return fail(make_error(StatusCode::unsupported, "the demo prints [batch, classes] f32 outputs"));
  const float* scores = out.data_as<const float>();
  const std::int64_t classes = out.dims[1];
  std::printf("model: %s (%lld inputs, %zu outputs); loaded in %.1f ms, run in %.3f ms (median of %d)\n",
              embedded ? "tiny_cnn (embedded)" : argv[1], static_cast<long long>((*exe)->function().params.size()),
              ctx.output_count(), load_ms, times[kRuns / 2], kRuns);
  for (std::int64_t b = 0; b < out.dims[0]; ++b) {
    const float* row = scores + b * classes;
    const std::int64_t best = std::max_element(row, row + classes) - row;
    std::printf("image %lld: predicted class %lld (score %.4f); scores:", static_cast<long long>(b),
                static_cast<long long>(best), static_cast<double>(row[best]));
    for (std::int64_t c = 0; c < classes; ++c) std::printf(" %.3f", static_cast<double>(row[c]));
    std::printf("\n");
  }
  if (!embedded) return 0;

  // The embedded sample also carries PyTorch's output: kiln must agree with it.
  Result<Tensor> expected = tensor_from(kiln_demo::expected_output(), "expected output");
  if (!expected.ok()) return fail(expected.status());
  if (expected->numel() != out.elements()) return fail(make_error(StatusCode::shape_mismatch, "output size differs"));
  double worst = 0.0;
  for (std::int64_t i = 0; i < expected->numel(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(scores[i] - expected->data_as<const float>()[i])));
  const bool agrees = worst <= 1e-4;
  std::printf("PyTorch's output: largest difference %.2e: %s\n", worst, agrees ? "agrees" : "DISAGREES");
  return agrees ? 0 : 1;
}
