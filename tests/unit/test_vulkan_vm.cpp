// The dynamic module (the VM) with its ops on the Vulkan device: ONNX backend node cases of
// every family the device runs pass with no op left to the CPU, a case with an op the device
// does not run yet passes through the CPU fallback and names the op, and a module built in
// code runs on the device as it does on the CPU.
#include <doctest/doctest.h>

#include "onnx_testdata.hpp"
#include "test_data.hpp"
#include "vulkan_device.hpp"

#include <kiln/backend/vulkan/vm/vm_kernels.hpp>
#include <kiln/frontend/onnx/test_case.hpp>
#include <kiln/relax/builder.hpp>
#include <kiln/vm/execution_context.hpp>

#include <string>
#include <vector>

using namespace kiln;

namespace {

onnx::CaseResult run_on_device(const std::string& name) {
  onnx::CaseOptions options;
  options.kernels = vulkan::vm_kernel;
  options.load = vulkan::device_load_options();
  vulkan::clear_cpu_fallbacks();
  Result<onnx::CaseResult> r = onnx::run_case(kiln::test::onnx_node_tests_dir() / name, options);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return *r;
}

std::string fallback_ops() {
  std::string ops;
  for (const vulkan::CpuFallback& f : vulkan::cpu_fallbacks()) ops += std::string(relax::to_string(f.op)) + " ";
  return ops;
}

} // namespace

TEST_CASE("node cases of every family the device runs pass with every op on it") {
  if (!kiln::test::onnx_node_tests_available("the Vulkan node cases")) return;
  const char* cases[] = {
      "test_matmul_4d", "test_gemm_all_attributes", "test_softmax_axis_1", "test_gather_1", "test_conv_with_strides_padding",
      "test_averagepool_2d_pads", "test_maxpool_2d_pads", "test_concat_3d_axis_1", "test_hardmax_axis_1",
      "test_expand_dim_changed", "test_globalmaxpool", "test_shape_clip_end",
      "test_argmax_default_axis_example", "test_mod_mixed_sign_int32", "test_pow_bcast_array",
      "test_transpose_all_permutations_1", "test_slice", "test_split_equal_parts_1d",
      "test_reduce_sum_default_axes_keepdims_example", "test_cast_FLOAT_to_FLOAT16", "test_where_example",
  };
  for (const char* name : cases) {
    CAPTURE(name);
    const onnx::CaseResult r = run_on_device(name);
    CHECK_MESSAGE(r.outcome == onnx::CaseResult::passed, r.detail);
    CHECK_MESSAGE(vulkan::cpu_fallbacks().empty(), "ran on the CPU: ", fallback_ops());
  }
}

TEST_CASE("an op the device does not run goes to the CPU kernel and is named") {
  if (!kiln::test::onnx_node_tests_available("the Vulkan fallback case")) return;
  const onnx::CaseResult r = run_on_device("test_resize_upsample_scales_nearest");
  CHECK_MESSAGE(r.outcome == onnx::CaseResult::passed, r.detail);
  REQUIRE(vulkan::cpu_fallbacks().size() == 1);
  CHECK(vulkan::cpu_fallbacks()[0].op == relax::OpKind::resize);
  CHECK(vulkan::cpu_fallbacks()[0].reason == "not an elementwise op");
}

TEST_CASE("a module built in code gives the CPU's results on the device, at two batch sizes") {
  // y = softmax(relu(x @ w + b)) and a cumsum of relu(x @ w + b), over a symbolic batch.
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {relax::SymDim::symbol("batch"), relax::SymDim(16)}));
  const auto wv = kiln::test::pattern(16 * 8, 0.3f);
  const auto bv = kiln::test::pattern(8, 1.3f);
  const relax::Var w = b.constant(Tensor::from_values<float>(std::vector<std::int64_t>{16, 8}, std::span<const float>(wv)).value());
  const relax::Var bias = b.constant(Tensor::from_values<float>(std::vector<std::int64_t>{8}, std::span<const float>(bv)).value());
  const relax::Var h = b.relu(b.add(b.matmul(x, w), bias));
  const relax::Var y = b.softmax(h);
  // cumsum, exclusive and from the end (the node cases' cumsums are all f64, which stays on the CPU).
  const relax::Var z = b.emit(relax::OpKind::cumsum, {h}, relax::CumSumAttrs{1, true, true});
  auto module = b.finish({y, z});
  REQUIRE(module.ok());
  auto on_cpu = vm::load(*module);
  auto on_device = vulkan::load(std::move(*module));
  REQUIRE(on_cpu.ok());
  REQUIRE(on_device.ok());
  vm::ExecutionContext cpu_ctx(*on_cpu), device_ctx(*on_device);
  for (std::int64_t n : {1, 5}) {
    const auto xv = kiln::test::pattern(static_cast<std::size_t>(n * 16), 0.7f);
    auto input = Tensor::from_values<float>(std::vector<std::int64_t>{n, 16}, std::span<const float>(xv));
    REQUIRE(input.ok());
    vulkan::clear_cpu_fallbacks();
    REQUIRE(device_ctx.run({*input}).ok());
    CHECK(vulkan::cpu_fallbacks().empty());
    REQUIRE(cpu_ctx.run({*input}).ok());
    for (std::size_t o = 0; o < 2; ++o) {
      const vm::Slot& got = device_ctx.output(o);
      const vm::Slot& want = cpu_ctx.output(o);
      REQUIRE(got.elements() == n * 8);
      for (std::int64_t i = 0; i < got.elements(); ++i)
        CHECK(got.data_as<float>()[i] == doctest::Approx(want.data_as<float>()[i]).epsilon(1e-5));
    }
  }
}
