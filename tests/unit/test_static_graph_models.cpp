// The example models as static graphs: the small CNN and the transformer layer written with
// the static graph API, planned by the compiler, run against the naive references of
// model_references.hpp and against the same models run by the VM; no allocation in run();
// one graph type run by several threads, each with its own Model.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"

#include <kiln/static_graph/model.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "model_references.hpp"

#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

using namespace kiln;
using namespace kiln::test::models;

namespace {

template <class Net>
static_graph::Model<Net> created(ThreadPool* pool = nullptr) {
  auto model = static_graph::Model<Net>::create(pool);
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  return std::move(*model);
}

double largest_difference(const vm::Slot& a, const vm::Slot& b) {
  REQUIRE(a.elements() == b.elements());
  double worst = 0;
  for (std::int64_t i = 0; i < a.elements(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a.data_as<float>()[i]) - b.data_as<float>()[i]));
  return worst;
}

} // namespace

TEST_CASE("The static CNN matches the reference and the dynamic module") {
  using Net = decltype(examples::small_cnn_graph<3>());
  // The plan is a compile-time constant: the conv epilogues (bias is in the conv, relu and the
  // residual add in loops the convs write into) leave fewer buffers than ops.
  static_assert(Net::arena_bytes > 0 && Net::arena_bytes < Net::unplanned_bytes);
  static_assert(Net::steps == 10);
  const CnnWeights weights;
  ThreadPool pool(2);
  auto model = created<Net>(&pool);
  REQUIRE(examples::bind_cnn_weights(model, weights).ok());
  const Tensor image = input_tensor({3, 3, 32, 32}, 0.25f);
  REQUIRE(model.run({image}).ok());
  check_close(model.output(), ref_cnn(values_of(image), 3, weights), 1e-4);
  CHECK(model.output().dims[0] == 3);
  CHECK(model.output().dims[1] == CnnWeights::classes);

  Result<relax::Module> module = examples::small_cnn(weights);
  REQUIRE(module.ok());
  auto exe = vm::load(std::move(*module));
  REQUIRE(exe.ok());
  vm::ExecutionContext ctx(*exe);
  REQUIRE(ctx.run({image}).ok());
  CHECK(largest_difference(model.output(), ctx.output()) < 1e-5);
}

TEST_CASE("The static transformer layer matches the reference and the dynamic module") {
  const TransformerWeights weights;
  const auto check = [&]<std::int64_t Batch, std::int64_t Seq>(std::integral_constant<std::int64_t, Batch>,
                                                               std::integral_constant<std::int64_t, Seq>) {
    CAPTURE(Batch);
    CAPTURE(Seq);
    using Net = decltype(examples::small_transformer_graph<Batch, Seq>());
    auto model = created<Net>();
    REQUIRE(examples::bind_transformer_weights(model, weights).ok());
    const Tensor x = input_tensor({Batch, Seq, TransformerWeights::width}, 0.5f);
    REQUIRE(model.run({x}).ok());
    check_close(model.output(), ref_transformer(values_of(x), Batch, Seq, weights), 2e-4);

    Result<relax::Module> module = examples::small_transformer(weights);
    REQUIRE(module.ok());
    auto exe = vm::load(std::move(*module));
    REQUIRE(exe.ok());
    vm::ExecutionContext ctx(*exe);
    REQUIRE(ctx.run({x}).ok());
    CHECK(largest_difference(model.output(), ctx.output()) < 1e-5);
  };
  check(std::integral_constant<std::int64_t, 1>{}, std::integral_constant<std::int64_t, 7>{});
  check(std::integral_constant<std::int64_t, 2>{}, std::integral_constant<std::int64_t, 33>{});
}

TEST_CASE("Running a static model allocates nothing") {
  using Net = decltype(examples::small_transformer_graph<2, 33>());
  ThreadPool pool(2);
  auto model = created<Net>(&pool);
  REQUIRE(examples::bind_transformer_weights(model, TransformerWeights{}).ok());
  const Tensor x = input_tensor({2, 33, TransformerWeights::width}, 1.0f);
  const Tensor inputs[] = {x};
  REQUIRE(model.run(inputs).ok());  // warm: the kernels' lazily built tables
  test::CountAllocations counter;
  for (int r = 0; r < 3; ++r) REQUIRE(model.run(inputs).ok());
  CHECK(counter.count() == 0);
}

TEST_CASE("One static graph type runs on several threads, one Model each") {
  using Net = decltype(examples::small_transformer_graph<1, 7>());
  const TransformerWeights weights;
  const Tensor x = input_tensor({1, 7, TransformerWeights::width}, 2.0f);
  const Vec want = ref_transformer(values_of(x), 1, 7, weights);
  std::vector<double> worst(3, 1.0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < worst.size(); ++t)
    threads.emplace_back([&, t] {
      auto model = static_graph::Model<Net>::create();
      if (!model.ok() || !examples::bind_transformer_weights(*model, weights).ok()) return;
      double w = 0;
      for (int r = 0; r < 5; ++r) {
        if (!model->run({x}).ok()) return;
        for (std::size_t i = 0; i < want.size(); ++i)
          w = std::max(w, std::fabs(model->output().data_as<float>()[i] - want[i]) / (1.0 + std::fabs(want[i])));
      }
      worst[t] = w;
    });
  for (std::thread& t : threads) t.join();
  for (double w : worst) CHECK(w < 2e-4);
}

TEST_CASE("A static model reports wrong inputs and missing weights") {
  using Net = decltype(examples::small_cnn_graph<3>());
  auto model = created<Net>();
  const Tensor image = input_tensor({3, 3, 32, 32}, 0.0f);
  Status s = model.run({image});
  CHECK(s.code() == StatusCode::invalid_argument);
  CHECK(s.message().find("weight 'stem' is not bound") != std::string::npos);
  REQUIRE(examples::bind_cnn_weights(model, CnnWeights{}).ok());

  s = model.run({input_tensor({1, 3, 32, 32}, 0.0f)});
  CHECK(s.code() == StatusCode::shape_mismatch);
  CHECK(s.message() == "input 'image': expected f32[3, 3, 32, 32], given f32[1, 3, 32, 32]");
  CHECK(model.run({}).code() == StatusCode::invalid_argument);

  Result<Tensor> wrong_dtype = Tensor::zeros(DType::f64, {16});
  REQUIRE(wrong_dtype.ok());
  s = model.bind("stem_bias", *wrong_dtype);
  CHECK(s.message() == "weight 'stem_bias': expected f32[16], given f64[16]");
  s = model.bind("stem_weight", *wrong_dtype);
  CHECK(s.code() == StatusCode::not_found);
  CHECK(s.message().find("no weight named 'stem_weight'") != std::string::npos);
  CHECK(model.run({image}).ok());
}
