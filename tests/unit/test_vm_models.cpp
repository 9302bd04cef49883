// The example models run by the VM on the CPU kernels, against the naive reference loops of
// model_references.hpp: a CNN (convolutions, depthwise, pooling, residual, gemm, softmax) and a transformer
// layer (attention, layer norm, GELU feed-forward), each at several batch (and sequence)
// sizes from one load; fused against unfused, planned memory against unplanned; no
// allocation in run(); several threads on one executable.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"

#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "model_references.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

using namespace kiln;
using namespace kiln::test::models;

namespace {

std::shared_ptr<const vm::Executable> loaded(Result<relax::Module> module, vm::LoadOptions options = {}) {
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  auto exe = vm::load(std::move(*module), options);
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

} // namespace

TEST_CASE("The small CNN runs in the VM at several batch sizes and matches the reference") {
  const CnnWeights weights;
  auto fused = loaded(examples::small_cnn(weights));
  auto plain = loaded(examples::small_cnn(weights), vm::LoadOptions{.fuse = false, .plan_memory = false});
  // conv + relu, conv + add + relu fuse (the depthwise conv's relu too).
  CHECK(fused->instructions().size() < plain->instructions().size());
  ThreadPool pool(2);
  vm::ExecutionContext ctx(fused, &pool), ctx_plain(plain);
  for (std::int64_t n : {1, 3, 2}) {
    CAPTURE(n);
    const Tensor image = input_tensor({n, 3, 32, 32}, static_cast<float>(n));
    Status s = ctx.run({image});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    const Vec want = ref_cnn(values_of(image), n, weights);
    check_close(ctx.output(), want, 1e-4);
    s = ctx_plain.run({image});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    check_close(ctx_plain.output(), want, 1e-4);
    CHECK(ctx.arena_bytes() < ctx_plain.arena_bytes());
  }
}

TEST_CASE("The transformer layer runs in the VM at several batch and sequence sizes from one load") {
  const TransformerWeights weights;
  auto exe = loaded(examples::small_transformer(weights));
  auto plain = loaded(examples::small_transformer(weights), vm::LoadOptions{.fuse = false, .plan_memory = false});
  vm::ExecutionContext ctx(exe), ctx_plain(plain);
  for (auto [batch, seq] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 7}, {3, 17}, {1, 64}}) {
    CAPTURE(batch);
    CAPTURE(seq);
    const Tensor x = input_tensor({batch, seq, 64}, static_cast<float>(batch + seq));
    Status s = ctx.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    const Vec want = ref_transformer(values_of(x), batch, seq, weights);
    check_close(ctx.output(), want, 2e-4);
    s = ctx_plain.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    check_close(ctx_plain.output(), want, 2e-4);
    CHECK(ctx.arena_bytes() < ctx_plain.arena_bytes());
  }
}

TEST_CASE("Running a prepared model allocates nothing") {
  auto cnn = loaded(examples::small_cnn());
  auto transformer = loaded(examples::small_transformer());
  ThreadPool pool(2);
  vm::ExecutionContext a(cnn, &pool), b(transformer, &pool);
  const Tensor image = input_tensor({2, 3, 32, 32}, 0.3f);
  const Tensor x = input_tensor({2, 9, 64}, 0.7f);
  REQUIRE(a.prepare({{"image", {2, 3, 32, 32}}}).ok());
  REQUIRE(b.prepare({{"x", {2, 9, 64}}}).ok());
  test::CountAllocations count;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.run({image}).ok());
    REQUIRE(b.run({x}).ok());
  }
  CHECK(count.count() == 0);
}

TEST_CASE("One loaded transformer runs on several threads at once") {
  const TransformerWeights weights;
  auto exe = loaded(examples::small_transformer(weights));
  constexpr int kThreads = 3;
  std::vector<double> worst(kThreads, 0.0);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      vm::ExecutionContext ctx(exe);
      for (int i = 0; i < 6; ++i) {
        const std::int64_t seq = 1 + (t * 5 + i * 3) % 11;
        Result<Tensor> x = Tensor::empty(DType::f32, {1, seq, 64});
        if (!x.ok()) { ++failures[at(t)]; continue; }
        for (std::int64_t e = 0; e < x->numel(); ++e) x->data_as<float>()[e] = std::cos(0.3f * static_cast<float>(e + t));
        if (!ctx.run({*x}).ok()) { ++failures[at(t)]; continue; }
        const Vec want = ref_transformer(values_of(*x), 1, seq, weights);
        for (std::size_t e = 0; e < want.size(); ++e)
          worst[at(t)] = std::max(worst[at(t)], std::fabs(ctx.output().data_as<float>()[e] - want[e]) / (1 + std::fabs(want[e])));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[at(t)] == 0);
    CHECK(worst[at(t)] < 2e-4);
  }
}

TEST_CASE("A fused elementwise chain broadcasts every kind of operand across tile boundaries") {
  // out[i, j, k] = tanh(max(x * y[j, 0] + z[k] - w[i, 0, k], s) * 0.5) over odd extents, so
  // tiles start mid-row and every operand broadcasts differently.
  const relax::SymDim rows = relax::sym("rows");
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {rows, 17, 33}));
  const relax::Var y = b.input("y", relax::TensorType(DType::f32, {17, 1}));
  const relax::Var z = b.input("z", relax::TensorType(DType::f32, {33}));
  const relax::Var wv = b.input("w", relax::TensorType(DType::f32, {rows, 1, 33}));
  const relax::Var s = b.input("s", relax::TensorType(DType::f32, {}));
  const relax::Var half = b.constant(Tensor::from_values<float>({}, {0.5f}).value());
  const relax::Var chain = b.tanh(b.multiply(b.maximum(b.subtract(b.add(b.multiply(x, y), z), wv), s), half));
  auto exe = loaded(b.finish({chain}));
  REQUIRE(exe->instructions().size() == 1);
  CHECK(exe->instructions()[0].op == relax::OpKind::fused);
  vm::ExecutionContext ctx(exe);
  for (std::int64_t n : {1, 3, 5}) {
    CAPTURE(n);
    const Tensor tx = input_tensor({n, 17, 33}, 0.1f), ty = input_tensor({17, 1}, 0.2f), tz = input_tensor({33}, 0.3f);
    const Tensor tw = input_tensor({n, 1, 33}, 0.4f), ts = input_tensor({}, 0.5f);
    const Status st = ctx.run({tx, ty, tz, tw, ts});
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    Vec want(at(n * 17 * 33));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < 17; ++j)
        for (std::int64_t k = 0; k < 33; ++k) {
          const double v = static_cast<double>(tx.data_as<float>()[(i * 17 + j) * 33 + k]) * ty.data_as<float>()[j] +
                           tz.data_as<float>()[k] - tw.data_as<float>()[i * 33 + k];
          want[at((i * 17 + j) * 33 + k)] = std::tanh(std::max(v, static_cast<double>(ts.data_as<float>()[0])) * 0.5);
        }
    check_close(ctx.output(), want, 1e-5);
  }
}

TEST_CASE("A chain closed by a reduction runs as one kernel over any axes and matches naive loops") {
  // out = reduce(exp(x * y - z) over `axes`), x [rows, 17, 33], y [17, 1], z [33]: the chain
  // broadcasts, tiles cut rows, and the reduced axes are the last, the middle, the first
  // and last, or all of them.
  using relax::OpKind;
  struct Case {
    OpKind op;
    relax::Ints axes;
    bool keepdims;
  };
  const Case cases[] = {
      {OpKind::reduce_sum, {-1}, true},       {OpKind::reduce_mean, {1}, false},
      {OpKind::reduce_max, {0, 2}, true},     {OpKind::reduce_min, {2}, false},
      {OpKind::reduce_prod, {1}, true},       {OpKind::reduce_mean, {}, false},
      {OpKind::reduce_sum, {0, 1}, false},
  };
  ThreadPool pool(2);
  for (const Case& c : cases) {
    CAPTURE(relax::to_string(c.op));
    CAPTURE(c.axes.size());
    const relax::SymDim rows = relax::sym("rows");
    relax::Builder b;
    const relax::Var x = b.input("x", relax::TensorType(DType::f32, {rows, 17, 33}));
    const relax::Var y = b.input("y", relax::TensorType(DType::f32, {17, 1}));
    const relax::Var z = b.input("z", relax::TensorType(DType::f32, {33}));
    const relax::Var chain = b.exp(b.subtract(b.multiply(x, y), z));
    const relax::Var out = b.reduce(c.op, chain, relax::ReduceAttrs{.axes = c.axes, .keepdims = c.keepdims});
    Result<relax::Module> module = b.finish({out});
    REQUIRE(module.ok());
    auto exe = loaded(*module);
    auto plain = loaded(*module, vm::LoadOptions{.fuse = false});
    REQUIRE(exe->instructions().size() == 1);
    CHECK(exe->instructions()[0].op == OpKind::fused);
    CHECK(plain->instructions().size() == 4);
    vm::ExecutionContext ctx(exe, &pool), ctx_plain(plain);
    for (std::int64_t n : {1, 3, 40}) {
      CAPTURE(n);
      const Tensor tx = input_tensor({n, 17, 33}, 0.1f), ty = input_tensor({17, 1}, 0.2f), tz = input_tensor({33}, 0.3f);
      Status st = ctx.run({tx, ty, tz});
      REQUIRE_MESSAGE(st.ok(), st.to_string());
      st = ctx_plain.run({tx, ty, tz});
      REQUIRE_MESSAGE(st.ok(), st.to_string());
      const std::int64_t dims[3] = {n, 17, 33};
      bool reduced[3] = {c.axes.empty(), c.axes.empty(), c.axes.empty()};
      for (std::int64_t a : c.axes) reduced[(a + 3) % 3] = true;
      // Output index of (i, j, k): row-major over the kept axes.
      const auto out_index = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
        const std::int64_t pos[3] = {i, j, k};
        std::int64_t index = 0;
        for (int a = 0; a < 3; ++a)
          if (!reduced[a]) index = index * dims[a] + pos[a];
        return index;
      };
      std::int64_t outputs = 1, count = 1;
      for (int a = 0; a < 3; ++a) (reduced[a] ? count : outputs) *= dims[a];
      const bool is_max = c.op == OpKind::reduce_max, is_min = c.op == OpKind::reduce_min;
      const double start = c.op == OpKind::reduce_prod ? 1.0 : is_max ? -INFINITY : is_min ? INFINITY : 0.0;
      Vec want(at(outputs), start);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < 17; ++j)
          for (std::int64_t k = 0; k < 33; ++k) {
            const double v = std::exp(static_cast<double>(tx.data_as<float>()[(i * 17 + j) * 33 + k]) *
                                          ty.data_as<float>()[j] -
                                      tz.data_as<float>()[k]);
            double& w = want[at(out_index(i, j, k))];
            if (is_max) w = std::max(w, v);
            else if (is_min) w = std::min(w, v);
            else if (c.op == OpKind::reduce_prod) w *= v;
            else w += v;
          }
      if (c.op == OpKind::reduce_mean)
        for (double& w : want) w /= static_cast<double>(count);
      check_close(ctx.output(), want, 2e-5);
      check_close(ctx_plain.output(), want, 2e-5);
    }
  }
}

TEST_CASE("A fused reduction over an empty axis gives the identity, and running it allocates nothing") {
  relax::Builder b;
  const relax::SymDim len = relax::sym("len");
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {4, len}));
  const relax::Var sum = b.reduce(relax::OpKind::reduce_sum, b.relu(x), relax::ReduceAttrs{.axes = {1}});
  const relax::Var mean = b.reduce(relax::OpKind::reduce_mean, b.unary(relax::OpKind::abs, x), relax::ReduceAttrs{.axes = {1}});
  Result<relax::Module> module = b.finish({sum, mean});
  REQUIRE(module.ok());
  auto exe = loaded(*module);
  REQUIRE(exe->instructions().size() == 2);
  vm::ExecutionContext ctx(exe);
  const Tensor empty = input_tensor({4, 0}, 0.0f);
  Status st = ctx.run({empty});
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  for (int i = 0; i < 4; ++i) {
    CHECK(static_cast<const float*>(ctx.output(0).data)[i] == 0.0f);
    CHECK(std::isnan(static_cast<const float*>(ctx.output(1).data)[i]));
  }
  const Tensor tx = input_tensor({4, 300}, 0.5f);
  REQUIRE(ctx.prepare({{"x", {4, 300}}}).ok());
  test::CountAllocations count;
  st = ctx.run({tx});
  CHECK(count.count() == 0);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  for (int i = 0; i < 4; ++i) {
    double relu_sum = 0.0, abs_sum = 0.0;
    for (int k = 0; k < 300; ++k) {
      const double v = tx.data_as<float>()[i * 300 + k];
      relu_sum += std::max(v, 0.0);
      abs_sum += std::fabs(v);
    }
    CHECK(static_cast<const float*>(ctx.output(0).data)[i] == doctest::Approx(relu_sum).epsilon(1e-5));
    CHECK(static_cast<const float*>(ctx.output(1).data)[i] == doctest::Approx(abs_sum / 300.0).epsilon(1e-5));
  }
}
