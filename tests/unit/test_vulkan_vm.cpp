// The dynamic module (the VM) with its ops on the Vulkan device: ONNX backend node cases of
// every family the device runs pass with no op left to the CPU, a case with an op the device
// does not run yet passes through the CPU fallback and names the op, and modules built in
// code (a small network, resizes and scatters beyond what the node cases cover) run on the
// device as they do on the CPU.
#include <doctest/doctest.h>

#include "onnx_testdata.hpp"
#include "test_data.hpp"
#include "vulkan_device.hpp"

#include <kiln/backend/vulkan/vm/vm_kernels.hpp>
#include <kiln/frontend/onnx/test_case.hpp>
#include <kiln/relax/builder.hpp>
#include <kiln/vm/execution_context.hpp>

#include <cmath>
#include <limits>
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

std::size_t submissions() { return vulkan::vm_ops::OpRuntime::get().value()->submissions(); }

// Runs `module` on the CPU and on the device with `inputs` and checks that every output agrees
// (f32 or f64 outputs with NaN where the CPU has NaN and infinities exactly; integer outputs
// exactly), with every op on the device unless `all_on_device` is false. Returns how many
// command buffers the device's run submitted.
std::size_t check_like_cpu(relax::Module module, const std::vector<Tensor>& inputs, double epsilon, bool all_on_device = true) {
  auto on_cpu = vm::load(module);
  auto on_device = vulkan::load(std::move(module));
  REQUIRE_MESSAGE(on_cpu.ok(), on_cpu.status().to_string());
  REQUIRE_MESSAGE(on_device.ok(), on_device.status().to_string());
  vm::ExecutionContext cpu_ctx(*on_cpu), device_ctx(*on_device);
  vulkan::clear_cpu_fallbacks();
  const std::size_t before = submissions();
  const Status device_run = device_ctx.run(inputs);
  REQUIRE_MESSAGE(device_run.ok(), device_run.to_string());
  const std::size_t submitted = submissions() - before;
  if (all_on_device) CHECK(vulkan::cpu_fallbacks().empty());
  REQUIRE(cpu_ctx.run(inputs).ok());
  REQUIRE(device_ctx.output_count() == cpu_ctx.output_count());
  for (std::size_t o = 0; o < cpu_ctx.output_count(); ++o) {
    CAPTURE(o);
    const vm::Slot& got = device_ctx.output(o);
    const vm::Slot& want = cpu_ctx.output(o);
    REQUIRE(got.elements() == want.elements());
    REQUIRE(got.dtype == want.dtype);
    if (want.dtype == DType::i64 || want.dtype == DType::i32 || want.dtype == DType::u16 || want.dtype == DType::u32) {  // integers: exactly
      for (std::int64_t i = 0; i < got.elements(); ++i) {
        CAPTURE(i);
        if (want.dtype == DType::i64) CHECK(got.data_as<std::int64_t>()[i] == want.data_as<std::int64_t>()[i]);
        else if (want.dtype == DType::i32) CHECK(got.data_as<std::int32_t>()[i] == want.data_as<std::int32_t>()[i]);
        else if (want.dtype == DType::u32) CHECK(got.data_as<std::uint32_t>()[i] == want.data_as<std::uint32_t>()[i]);
        else CHECK(got.data_as<std::uint16_t>()[i] == want.data_as<std::uint16_t>()[i]);
      }
      continue;
    }
    REQUIRE((want.dtype == DType::f32 || want.dtype == DType::f64));
    for (std::int64_t i = 0; i < got.elements(); ++i) {
      CAPTURE(i);
      const double g = want.dtype == DType::f32 ? double{got.data_as<float>()[i]} : got.data_as<double>()[i];
      const double w = want.dtype == DType::f32 ? double{want.data_as<float>()[i]} : want.data_as<double>()[i];
      if (w != w) CHECK(g != g);
      else if (std::isinf(w)) CHECK(g == w);
      else CHECK(g == doctest::Approx(w).epsilon(epsilon));
    }
  }
  return submitted;
}

Tensor f32_tensor(std::vector<std::int64_t> dims, const std::vector<float>& values) {
  return Tensor::from_values<float>(dims, std::span<const float>(values)).value();
}
Tensor i64_tensor(std::vector<std::int64_t> dims, const std::vector<std::int64_t>& values) {
  return Tensor::from_values<std::int64_t>(dims, std::span<const std::int64_t>(values)).value();
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
      "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside", "test_resize_downsample_sizes_nearest",
      "test_resize_tf_crop_and_resize", "test_scatter_elements_with_duplicate_indices", "test_scatternd_multiply",
      "test_top_k_smallest", "test_constant_pad", "test_batchnorm_epsilon", "test_instancenorm_example",
      "test_reduce_log_sum_exp_keepdims_random", "test_cast_FLOAT_to_DOUBLE", "test_cumsum_2d_negative_axis",
      "test_pow_types_int64_int64", "test_bitshift_right_uint16", "test_mod_uint16",
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
  const onnx::CaseResult r = run_on_device("test_nonzero_example");
  CHECK_MESSAGE(r.outcome == onnx::CaseResult::passed, r.detail);
  REQUIRE(vulkan::cpu_fallbacks().size() == 1);
  CHECK(vulkan::cpu_fallbacks()[0].op == relax::OpKind::non_zero);
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

TEST_CASE("a run goes to the device in one command buffer; CPU calls and control flow split it") {
  const relax::TensorType vec(DType::f32, {relax::SymDim(4), relax::SymDim(8)});
  const auto xv = kiln::test::pattern(32, 0.8f);
  const Tensor x_in = f32_tensor({4, 8}, xv);
  {
    // Seven ops, each reading what the one before wrote on the device.
    relax::Builder b;
    const relax::Var x = b.input("x", vec);
    const relax::Var w = b.constant(f32_tensor({8, 8}, kiln::test::pattern(64, 0.3f)));
    relax::Var h = b.relu(b.matmul(x, w));
    h = b.softmax(b.add(h, x));
    h = b.multiply(b.unary(relax::OpKind::exp, h), x);
    auto module = b.finish({b.transpose(h, {1, 0}), h});
    REQUIRE_MESSAGE(module.ok(), module.status().to_string());
    CHECK(check_like_cpu(std::move(*module), {x_in}, 1e-5) == 1);
  }
  {
    // Casts to and from u64 run on the CPU (the device holds no u64): what came before goes to
    // the device first, what comes after in a second command buffer.
    relax::Builder b;
    const relax::Var x = b.input("x", vec);
    const relax::Var whole = b.cast(b.relu(b.multiply(x, b.constant(f32_tensor({1}, {10.0f})))), DType::u64);
    auto module = b.finish({b.add(b.cast(whole, DType::f32), x)});
    REQUIRE_MESSAGE(module.ok(), module.status().to_string());
    CHECK(check_like_cpu(std::move(*module), {x_in}, 1e-5, false) == 2);
    CHECK(fallback_ops() == "cast ");
  }
  {
    // A loop whose body reads the iteration number the VM writes in host memory, after an
    // if that picks a branch: each body run reaches the device before the next iteration.
    const auto branch = [&](std::string name, relax::OpKind op) {
      relax::Builder sub(std::move(name));
      const relax::Var v = sub.input("v", vec);
      auto m = sub.finish({sub.unary(op, v)});
      REQUIRE(m.ok());
      return std::move(*m);
    };
    relax::Builder body("body");
    const relax::Var i = body.input("i", relax::TensorType(DType::i64, {}));
    const relax::Var acc = body.input("acc", vec);
    auto body_module = body.finish({body.add(body.multiply(acc, acc), body.cast(i, DType::f32))});
    REQUIRE(body_module.ok());
    relax::Builder b;
    const relax::Var x = b.input("x", vec);
    const relax::Var c = b.input("c", relax::TensorType(DType::boolean, {}));
    const relax::Var n = b.input("n", relax::TensorType(DType::i64, {}));
    const std::vector<relax::Var> chosen =
        b.if_then_else(c, branch("then", relax::OpKind::sigmoid), branch("else", relax::OpKind::tanh), std::vector<relax::Var>{b.relu(x)});
    const std::vector<relax::Var> looped = b.loop(n, std::move(*body_module), std::vector<relax::Var>{chosen[0]});
    auto module = b.finish({b.unary(relax::OpKind::neg, looped[0])});
    REQUIRE_MESSAGE(module.ok(), module.status().to_string());
    for (auto [pick, trips] : {std::pair<bool, std::int64_t>{true, 3}, {false, 2}, {true, 0}}) {
      CAPTURE(pick);
      CAPTURE(trips);
      const Tensor c_in = Tensor::from_values<bool>({}, {pick}).value();
      const Tensor n_in = Tensor::from_values<std::int64_t>({}, {trips}).value();
      // relu before the if, the branch, each body run, and the negation after the loop.
      CHECK(check_like_cpu(*module, {x_in, c_in, n_in}, 1e-5) == static_cast<std::size_t>(trips) + 3);
    }
  }
}

TEST_CASE("resizes the node cases do not reach give the CPU's results on the device") {
  using relax::ResizeAttrs;
  using relax::ResizeMode;
  using relax::ResizeCoordinates;
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {relax::SymDim(2), relax::SymDim(3), relax::SymDim(9), relax::SymDim(7)}));
  ResizeAttrs antialiased;  // shrinking with a widened tent
  antialiased.scales = {1.0, 1.0, 0.6, 0.5};
  antialiased.mode = ResizeMode::linear;
  antialiased.antialias = true;
  ResizeAttrs cubic;  // growing two listed axes, the outside dropped
  cubic.sizes = {relax::SymDim(13), relax::SymDim(11)};
  cubic.axes = {2, 3};
  cubic.mode = ResizeMode::cubic;
  cubic.exclude_outside = true;
  cubic.cubic_coeff_a = -0.5;
  ResizeAttrs cropped;  // a region reaching past the input, filled with the extrapolation value
  cropped.sizes = {relax::SymDim(6), relax::SymDim(5)};
  cropped.axes = {2, 3};
  cropped.mode = ResizeMode::linear;
  cropped.coordinates = ResizeCoordinates::tf_crop_and_resize;
  cropped.roi = {-0.2, 0.1, 0.9, 1.3};
  cropped.extrapolation_value = 7.5;
  ResizeAttrs nearest;  // three axes, ceil rounding
  nearest.scales = {1.0, 2.0, 0.7, 1.5};
  nearest.coordinates = ResizeCoordinates::asymmetric;
  nearest.nearest_rounding = relax::ResizeRounding::ceil;
  auto module = b.finish({b.emit(relax::OpKind::resize, {x}, antialiased), b.emit(relax::OpKind::resize, {x}, cubic),
                          b.emit(relax::OpKind::resize, {x}, cropped), b.emit(relax::OpKind::resize, {x}, nearest)});
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  check_like_cpu(std::move(*module), {f32_tensor({2, 3, 9, 7}, kiln::test::pattern(2 * 3 * 9 * 7, 0.9f))}, 1e-5f);
}

TEST_CASE("scatters with repeated indices and every reduction give the CPU's results on the device") {
  using relax::ScatterAttrs;
  using relax::ScatterReduction;
  relax::Builder b;
  const relax::Var data = b.input("data", relax::TensorType(DType::f32, {relax::SymDim(4), relax::SymDim(5), relax::SymDim(3)}));
  const relax::Var updates = b.input("updates", relax::TensorType(DType::f32, {relax::SymDim(3), relax::SymDim(4), relax::SymDim(2)}));
  const relax::Var slices = b.input("slices", relax::TensorType(DType::f32, {relax::SymDim(5), relax::SymDim(3)}));
  // scatter_elements along axis 1 into [4, 5, 3]: indices [3, 4, 2], repeats and negatives.
  std::vector<std::int64_t> along(3 * 4 * 2);
  for (std::size_t i = 0; i < along.size(); ++i) along[i] = static_cast<std::int64_t>((i * 7) % 5) - (i % 3 == 0 ? 5 : 0);
  const relax::Var element_indices = b.constant(i64_tensor({3, 4, 2}, along));
  // scatter_nd into [4, 5, 3] by (i, j) tuples, (1, 2) three times and (-1, 0) twice.
  const relax::Var tuples = b.constant(i64_tensor({5, 2}, {1, 2, 3, 4, 1, 2, -1, 0, 1, -3}));
  std::vector<relax::Var> outputs;
  for (ScatterReduction r : {ScatterReduction::none, ScatterReduction::add, ScatterReduction::mul, ScatterReduction::max, ScatterReduction::min}) {
    outputs.push_back(b.emit(relax::OpKind::scatter_elements, {data, element_indices, updates}, ScatterAttrs{1, r}));
    outputs.push_back(b.emit(relax::OpKind::scatter_nd, {data, tuples, slices}, ScatterAttrs{0, r}));
  }
  auto module = b.finish(outputs);
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  std::vector<float> data_values = kiln::test::pattern(4 * 5 * 3, 1.1f);
  std::vector<float> update_values = kiln::test::pattern(3 * 4 * 2, 0.4f);
  update_values[5] = std::numeric_limits<float>::quiet_NaN();  // a NaN update wins max and min
  check_like_cpu(std::move(*module),
                 {f32_tensor({4, 5, 3}, data_values), f32_tensor({3, 4, 2}, update_values),
                  f32_tensor({5, 3}, kiln::test::pattern(5 * 3, 2.3f))},
                 1e-6f);
}

TEST_CASE("f64 exp, log, sums and casts give the CPU's results on the device, to about an ulp") {
  // GLSL's exp and log are 32-bit only: the device computes f64 ones itself.
  relax::Builder b;
  std::vector<double> xs = {0.0, -0.0, 1e-300, 5e-324, -1.0, 1.0, 2.5, -745.2, -708.0, 709.7, 710.0, 1e300,
                            std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN(), 0.6931471805599453, 100.25, -3.75, 1e-10, 123456.789};
  for (int i = -200; i <= 200; ++i) xs.push_back(i * 0.37);
  const std::int64_t n = static_cast<std::int64_t>(xs.size());
  const relax::Var x = b.input("x", relax::TensorType(DType::f64, {relax::SymDim(n)}));
  const relax::Var finite = b.input("finite", relax::TensorType(DType::f64, {relax::SymDim(4), relax::SymDim(101)}));
  auto module = b.finish({b.exp(x), b.emit(relax::OpKind::log, {x}), b.emit(relax::OpKind::reduce_sum, {finite}, relax::ReduceAttrs{{1}, false, false}),
                          b.emit(relax::OpKind::cumsum, {finite}, relax::CumSumAttrs{1, false, false}),
                          b.emit(relax::OpKind::cast, {finite}, relax::CastAttrs{DType::f32})});
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  std::vector<double> grid(4 * 101);
  for (std::size_t i = 0; i < grid.size(); ++i) grid[i] = xs[20 + i % 401] * (i % 2 == 0 ? 1.0 : -0.5);
  check_like_cpu(std::move(*module),
                 {Tensor::from_values<double>(std::vector<std::int64_t>{n}, std::span<const double>(xs)).value(),
                  Tensor::from_values<double>(std::vector<std::int64_t>{4, 101}, std::span<const double>(grid)).value()},
                 4e-16);
}

TEST_CASE("topk with ties and NaNs, and the norms, give the CPU's results on the device") {
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {relax::SymDim(2), relax::SymDim(6), relax::SymDim(3), relax::SymDim(5)}));
  const relax::Var scale = b.input("scale", relax::TensorType(DType::f32, {relax::SymDim(6)}));
  const relax::Var bias = b.input("bias", relax::TensorType(DType::f32, {relax::SymDim(6)}));
  const relax::Var row_scale = b.input("row_scale", relax::TensorType(DType::f32, {relax::SymDim(3), relax::SymDim(5)}));
  std::vector<relax::Var> outputs;
  for (bool largest : {true, false})
    for (const relax::Var& v : b.emit_multi(relax::OpKind::topk, {x}, relax::TopKAttrs{.k = 4, .axis = 1, .largest = largest}))
      outputs.push_back(v);
  outputs.push_back(b.emit(relax::OpKind::group_norm, {x, scale, bias}, relax::NormAttrs{.epsilon = 1e-3, .num_groups = 3}));
  outputs.push_back(b.emit(relax::OpKind::instance_norm, {x, scale, bias}, relax::NormAttrs{.epsilon = 1e-4}));
  outputs.push_back(b.layer_norm(x, row_scale, {}, relax::NormAttrs{.epsilon = 1e-5, .axis = 2}));
  auto module = b.finish(outputs);
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  std::vector<float> xv = kiln::test::pattern(2 * 6 * 3 * 5, 0.8f);
  for (std::size_t i = 0; i < xv.size(); i += 7) xv[i] = 0.25f;  // ties
  xv[3] = xv[33] = std::numeric_limits<float>::quiet_NaN();      // NaNs sort above every number
  check_like_cpu(std::move(*module),
                 {f32_tensor({2, 6, 3, 5}, xv), f32_tensor({6}, kiln::test::pattern(6, 1.7f)), f32_tensor({6}, kiln::test::pattern(6, 0.6f)),
                  f32_tensor({3, 5}, kiln::test::pattern(15, 2.1f))},
                 1e-5);
}

TEST_CASE("integer powers and 16- and 32-bit unsigned arithmetic give the CPU's results on the device") {
  // Powers wrap at the integer's width; negative exponents truncate 1 / base^-e.
  std::vector<std::int32_t> bases, exponents;
  for (std::int32_t a : {-3, -2, -1, 0, 1, 2, 3, 1000, 46341})
    for (std::int32_t e : {-2, -1, 0, 1, 2, 3, 5, 31, 33}) {
      bases.push_back(a);
      exponents.push_back(e);
    }
  const std::int64_t n = static_cast<std::int64_t>(bases.size());
  std::vector<std::int64_t> wide_bases(bases.begin(), bases.end()), wide_exponents(exponents.begin(), exponents.end());
  std::vector<std::uint16_t> us = {0, 1, 7, 255, 256, 40000, 65535, 12345, 3};
  std::vector<std::uint16_t> vs = {0, 3, 65535, 2, 40000, 7, 1, 100, 65535};
  relax::Builder b;
  const relax::Var a32 = b.input("a32", relax::TensorType(DType::i32, {relax::SymDim(n)}));
  const relax::Var e32 = b.input("e32", relax::TensorType(DType::i32, {relax::SymDim(n)}));
  const relax::Var a64 = b.input("a64", relax::TensorType(DType::i64, {relax::SymDim(n)}));
  const relax::Var e64 = b.input("e64", relax::TensorType(DType::i64, {relax::SymDim(n)}));
  const relax::Var u = b.input("u", relax::TensorType(DType::u16, {relax::SymDim(9)}));
  const relax::Var v = b.input("v", relax::TensorType(DType::u16, {relax::SymDim(9)}));
  // u32 computes in i64 on the device: values past 2^31 must keep their order and quotients.
  std::vector<std::uint32_t> ps = {0, 1, 7, 4000000000u, 2147483648u, 40000, 4294967295u, 12345, 3};
  std::vector<std::uint32_t> qs = {0, 3, 4294967295u, 2, 3000000000u, 7, 1, 100, 2147483649u};
  const relax::Var p = b.input("p", relax::TensorType(DType::u32, {relax::SymDim(9)}));
  const relax::Var q = b.input("q", relax::TensorType(DType::u32, {relax::SymDim(9)}));
  auto module = b.finish({b.emit(relax::OpKind::power, {a32, e32}), b.emit(relax::OpKind::power, {a64, e64}),
                          b.emit(relax::OpKind::add, {u, v}), b.emit(relax::OpKind::multiply, {u, v}),
                          b.emit(relax::OpKind::mod, {u, v}), b.emit(relax::OpKind::divide, {u, v}),
                          b.emit(relax::OpKind::maximum, {u, v}), b.emit(relax::OpKind::power, {u, v}),
                          b.emit(relax::OpKind::add, {p, q}), b.emit(relax::OpKind::multiply, {p, q}),
                          b.emit(relax::OpKind::mod, {p, q}), b.emit(relax::OpKind::divide, {p, q}),
                          b.emit(relax::OpKind::minimum, {p, q}), b.emit(relax::OpKind::power, {p, q})});
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  check_like_cpu(std::move(*module),
                 {Tensor::from_values<std::int32_t>(std::vector<std::int64_t>{n}, std::span<const std::int32_t>(bases)).value(),
                  Tensor::from_values<std::int32_t>(std::vector<std::int64_t>{n}, std::span<const std::int32_t>(exponents)).value(),
                  Tensor::from_values<std::int64_t>(std::vector<std::int64_t>{n}, std::span<const std::int64_t>(wide_bases)).value(),
                  Tensor::from_values<std::int64_t>(std::vector<std::int64_t>{n}, std::span<const std::int64_t>(wide_exponents)).value(),
                  Tensor::from_values<std::uint16_t>(std::vector<std::int64_t>{9}, std::span<const std::uint16_t>(us)).value(),
                  Tensor::from_values<std::uint16_t>(std::vector<std::int64_t>{9}, std::span<const std::uint16_t>(vs)).value(),
                  Tensor::from_values<std::uint32_t>(std::vector<std::int64_t>{9}, std::span<const std::uint32_t>(ps)).value(),
                  Tensor::from_values<std::uint32_t>(std::vector<std::int64_t>{9}, std::span<const std::uint32_t>(qs)).value()},
                 0.0);
}
