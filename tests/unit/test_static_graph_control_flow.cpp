// Control flow and user kernels in static graphs, against naive loops written here: an
// if_then_else whose branches are static graphs with weights of their own (one returns its
// input unchanged), a loop whose body stops itself through a carried flag, a body that
// returns its carried values swapped and ignores its iteration, a scheduled tensor-expression
// kernel called in the middle of a graph (writing straight into the fused epilogue after it)
// and a user kernel with two outputs; then the printed graph, no allocation in run(), one
// graph run by two threads, and the errors.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"
#include "control_flow_references.hpp"
#include "static_graph_harness.hpp"

#include <kiln/static_graph/control_flow.hpp>
#include <kiln/static_graph/kernel_call.hpp>
#include <kiln/static_graph/model.hpp>
#include <kiln/static_graph/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace kiln;
using namespace kiln::static_graph;
using namespace kiln::test::static_graph_harness;

namespace {

Tensor f32_scalar(float v) { return make_tensor<float>({}, {v}); }
Tensor i64_scalar(std::int64_t v) { return make_tensor<std::int64_t>({}, {v}); }
Tensor bool_scalar(bool v) { return Tensor::from_values<bool>({}, {v}).value(); }

std::vector<double> doubles(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// ---- if_then_else --------------------------------------------------------------------------
// then: (relu(x @ w) + one, x); else: (tanh(x) * two - x, -x); the graph returns (y0 + x, y1).
constexpr std::int64_t kRows = 3, kWidth = 4;
constexpr auto then_x = input<"x", DType::f32, kRows, kWidth>();
constexpr auto then_graph = build(inputs(then_x),
                                  relu(matmul(then_x, weight<"w", DType::f32, kWidth, kWidth>())) + weight<"one", DType::f32>(),
                                  then_x);
constexpr auto else_x = input<"x", DType::f32, kRows, kWidth>();
constexpr auto else_graph = build(inputs(else_x), tanh(else_x) * weight<"two", DType::f32>() - else_x, neg(else_x));

constexpr auto if_x = input<"x", DType::f32, kRows, kWidth>();
constexpr auto if_flag = input<"flag", DType::boolean>();
constexpr auto if_outputs = if_then_else(if_flag, then_graph, else_graph, if_x);
using IfNet = decltype(build(inputs(if_x, if_flag), std::get<0>(if_outputs) + if_x, std::get<1>(if_outputs)));

const std::vector<float> kIfWeights = {0.5f, -0.25f, 1.0f, 0.0f,  -1.0f, 0.75f, 0.25f, 0.5f,
                                       0.0f, 1.5f,   -0.5f, 0.25f, 0.25f, 0.0f,  0.5f,  -0.75f};

void bind_if_weights(Model<IfNet>& model) {
  bind_ok(model, "w", make_tensor<float>({kWidth, kWidth}, kIfWeights));
  bind_ok(model, "one", f32_scalar(1.0f));
  bind_ok(model, "two", f32_scalar(2.0f));
}

void check_if(const Model<IfNet>& model, const std::vector<float>& x, bool flag) {
  std::vector<double> want0(x.size()), want1(x.size());
  for (std::int64_t i = 0; i < kRows; ++i)
    for (std::int64_t j = 0; j < kWidth; ++j) {
      const std::size_t e = at(i * kWidth + j);
      double y0 = 0, y1 = 0;
      if (flag) {
        double sum = 0;
        for (std::int64_t k = 0; k < kWidth; ++k) sum += double{x[at(i * kWidth + k)]} * kIfWeights[at(k * kWidth + j)];
        y0 = std::max(sum, 0.0) + 1.0;
        y1 = x[e];
      } else {
        y0 = std::tanh(double{x[e]}) * 2.0 - x[e];
        y1 = -double{x[e]};
      }
      want0[e] = y0 + x[e];
      want1[e] = y1;
    }
  check_slot(model.output(0), DType::f32, {kRows, kWidth}, want0);
  check_slot(model.output(1), DType::f32, {kRows, kWidth}, want1);
}

// ---- loop ----------------------------------------------------------------------------------
// body(i, active, x, total, limit): x' = x / 2 + i / 4 and total' = total + x' while
// `active`; active' = active and max(total') < limit. The values freeze once active is false.
constexpr std::int64_t kLoopRows = 2;
constexpr auto body_i = input<"i", DType::i64>();
constexpr auto body_active = input<"active", DType::boolean>();
constexpr auto body_x = input<"x", DType::f32, kLoopRows, 4>();
constexpr auto body_total = input<"total", DType::f32, kLoopRows, 4>();
constexpr auto body_limit = input<"limit", DType::f32>();
constexpr auto next_x = body_x * weight<"half", DType::f32>() + cast<DType::f32>(body_i) * weight<"quarter", DType::f32>();
constexpr auto next_total = body_total + next_x;
constexpr auto peak = apply<OpKind::reduce_max, relax::ReduceAttrs{.axes = {}, .keepdims = false}>(next_total);
constexpr auto still = apply<OpKind::logical_and>(body_active, apply<OpKind::less>(peak, body_limit));
constexpr auto accumulate = build(inputs(body_i, body_active, body_x, body_total, body_limit), still,
                                  where(body_active, next_x, body_x), where(body_active, next_total, body_total),
                                  body_limit);

constexpr auto loop_x = input<"x", DType::f32, kLoopRows, 4>();
constexpr auto loop_trips = input<"trips", DType::i64>();
constexpr auto loop_limit = input<"limit", DType::f32>();
constexpr auto loop_active = input<"active", DType::boolean>();
constexpr auto loop_outputs = loop(loop_trips, accumulate, loop_active, loop_x, loop_x, loop_limit);
using LoopNet = decltype(build(inputs(loop_x, loop_trips, loop_limit, loop_active), std::get<2>(loop_outputs),
                               std::get<1>(loop_outputs), std::get<0>(loop_outputs)));

using test::control_flow::LoopResult;
using test::control_flow::loop_reference;
using test::control_flow::run_te_matmul;

Model<LoopNet> loop_model() {
  Model<LoopNet> model = make_model<LoopNet>();
  bind_ok(model, "half", f32_scalar(0.5f));
  bind_ok(model, "quarter", f32_scalar(0.25f));
  return model;
}

void check_loop(const Model<LoopNet>& model, const std::vector<float>& x, std::int64_t trips, float limit) {
  const LoopResult want = loop_reference(x, trips, limit);
  check_slot(model.output(0), DType::f32, {kLoopRows, 4}, doubles(want.total), 1e-5);
  check_slot(model.output(1), DType::f32, {kLoopRows, 4}, doubles(want.x), 1e-6);
  check_slot(model.output(2), DType::boolean, {}, {want.active ? 1.0 : 0.0});
}

// ---- user kernels --------------------------------------------------------------------------
// (a + b, a - b), elementwise.
Status sum_and_difference(std::span<const vm::Slot* const> inputs, std::span<const vm::Slot* const> outputs) {
  const float* a = inputs[0]->data_as<float>();
  const float* b = inputs[1]->data_as<float>();
  for (std::int64_t e = 0; e < inputs[0]->elements(); ++e) {
    outputs[0]->data_as<float>()[e] = a[e] + b[e];
    outputs[1]->data_as<float>()[e] = a[e] - b[e];
  }
  return Status();
}

Status refuses(std::span<const vm::Slot* const>, std::span<const vm::Slot* const>) {
  return make_error(StatusCode::invalid_argument, "the device is busy");
}

constexpr std::int64_t kBatch = 5, kInner = 16, kOuter = 8;
constexpr auto call_x = input<"x", DType::f32, kBatch, kInner>();
constexpr auto call_w = weight<"w", DType::f32, kInner, kOuter>();
constexpr auto call_h = call_kernel<"te_matmul", run_te_matmul, Out<DType::f32, kBatch, kOuter>>(relu(call_x), call_w);
using CallNet = decltype(build(inputs(call_x), call_h + weight<"bias", DType::f32, kOuter>()));

} // namespace

TEST_CASE("static if_then_else runs the branch a run-time bool picks, each branch a graph with its own weights") {
  static_assert(IfNet::steps == 2);  // the if, then the fused add
  Model<IfNet> model = make_model<IfNet>();
  bind_if_weights(model);
  for (bool flag : {true, false, true}) {
    CAPTURE(flag);
    const std::vector<float> x = signed_values(kRows * kWidth, flag ? 0.5f : 1.5f, 1.7f);
    run_ok(model, {make_tensor<float>({kRows, kWidth}, x), bool_scalar(flag)});
    check_if(model, x, flag);
  }
  const std::string text = IfNet::to_string();
  INFO(text);
  CHECK(contains(text, "%2 = if(flag, x) : f32[3, 4]  # step 0, kernel, arena [0, 128)\n  then:\n"));
  CHECK(contains(text, "  then:\n    input x: f32[3, 4]\n    weight w: f32[4, 4]\n"));
  CHECK(contains(text, "  else:\n    input x: f32[3, 4]\n"));
  CHECK(contains(text, "    %1 = tanh(x) : f32[3, 4]  # inlined into %4\n"));
  CHECK(contains(text, "%4 = if(%2) : f32[3, 4]  # output 1 of %2 (output)"));
}

TEST_CASE("static loop runs its body trip-count times, the carried values freezing once the body's flag fails") {
  Model<LoopNet> model = loop_model();
  bool stopped_early = false;
  for (std::int64_t trips : {0, 1, 2, 5, 12, -3}) {
    for (float limit : {3.0f, 1000.0f}) {
      CAPTURE(trips);
      CAPTURE(limit);
      const std::vector<float> x = signed_values(kLoopRows * 4, 0.3f * static_cast<float>(trips), 1.7f);
      run_ok(model, {make_tensor<float>({kLoopRows, 4}, x), i64_scalar(trips), f32_scalar(limit), bool_scalar(true)});
      check_loop(model, x, trips, limit);
      stopped_early = stopped_early || loop_reference(x, trips, limit).iterations < trips;
    }
  }
  CHECK(stopped_early);
  CHECK(contains(LoopNet::to_string(), "= loop(trips, active, x, x, limit) : bool[]  # step 0, kernel"));
  CHECK(contains(LoopNet::to_string(), "  body:\n    input active: bool[]\n"));
  CHECK(contains(LoopNet::to_string(), "    %6 = cast(i) : f32[]  # step 0, kernel, arena [0, 4)\n"));
}

TEST_CASE("a static loop body that ignores its iteration and returns its carried values swapped reads them intact") {
  constexpr auto i = input<"i", DType::i64>();
  constexpr auto a = input<"a", DType::f32, 5>();
  constexpr auto b = input<"b", DType::f32, 5>();
  constexpr auto swap = build(inputs(i, a, b), b, a);
  static_assert(decltype(swap)::input_nodes[0] == -1);
  CHECK(contains(decltype(swap)::to_string(), "input i: i64[]  # not read\ninput b: f32[5]\ninput a: f32[5]\n"));
  constexpr auto x = input<"x", DType::f32, 5>();
  constexpr auto y = input<"y", DType::f32, 5>();
  constexpr auto trips = input<"trips", DType::i64>();
  constexpr auto out = loop(trips, swap, x, y);
  using Net = decltype(build(inputs(x, y, trips), std::get<0>(out), std::get<1>(out)));
  Model<Net> model = make_model<Net>();
  const std::vector<float> vx = signed_values(5, 0.1f), vy = signed_values(5, 2.1f);
  for (std::int64_t n : {0, 1, 2, 3, 4}) {
    CAPTURE(n);
    run_ok(model, {make_tensor<float>({5}, vx), make_tensor<float>({5}, vy), i64_scalar(n)});
    check_slot(model.output(0), DType::f32, {5}, doubles(n % 2 == 0 ? vx : vy), 0.0);
    check_slot(model.output(1), DType::f32, {5}, doubles(n % 2 == 0 ? vy : vx), 0.0);
  }
}

TEST_CASE("call_kernel runs a scheduled tensor-expression kernel in a static graph, its epilogue fused after it") {
  // The kernel's one reader is the bias add, a fused loop of its shape: the kernel writes
  // straight into that loop's buffer, which the add then rewrites in place.
  constexpr int h = CallNet::template index_of<std::remove_cvref_t<decltype(call_h)>>;
  static_assert(CallNet::node(h).epilogue_into >= 0);
  Model<CallNet> model = make_model<CallNet>();
  const std::vector<float> w = signed_values(kInner * kOuter, 0.7f, 0.4f);
  const std::vector<float> bias = signed_values(kOuter, 1.9f, 0.3f);
  bind_ok(model, "w", make_tensor<float>({kInner, kOuter}, w));
  bind_ok(model, "bias", make_tensor<float>({kOuter}, bias));
  const std::vector<float> x = signed_values(kBatch * kInner, 0.2f, 1.5f);
  run_ok(model, {make_tensor<float>({kBatch, kInner}, x)});
  std::vector<double> want(at(kBatch * kOuter));
  for (std::int64_t i = 0; i < kBatch; ++i)
    for (std::int64_t j = 0; j < kOuter; ++j) {
      double sum = 0;
      for (std::int64_t k = 0; k < kInner; ++k)
        sum += std::max(double{x[at(i * kInner + k)]}, 0.0) * w[at(k * kOuter + j)];
      want[at(i * kOuter + j)] = sum + bias[at(j)];
    }
  check_slot(model.output(), DType::f32, {kBatch, kOuter}, want);
  CHECK(contains(CallNet::to_string(), " = call_kernel 'te_matmul'(%1, w) : f32[5, 8]  # step 1, kernel, writes into"));
}

TEST_CASE("a user kernel with two outputs gives a tuple of nodes") {
  constexpr auto a = input<"a", DType::f32, 3, 5>();
  constexpr auto b = input<"b", DType::f32, 3, 5>();
  constexpr auto parts =
      call_kernel<"sum_and_difference", sum_and_difference, Out<DType::f32, 3, 5>, Out<DType::f32, 3, 5>>(a, b);
  using Net = decltype(build(inputs(a, b), std::get<0>(parts) * std::get<1>(parts), std::get<1>(parts)));
  Model<Net> model = make_model<Net>();
  const std::vector<float> va = signed_values(15, 0.4f), vb = signed_values(15, 1.3f);
  run_ok(model, {make_tensor<float>({3, 5}, va), make_tensor<float>({3, 5}, vb)});
  std::vector<double> product(15), difference(15);
  for (std::size_t e = 0; e < 15; ++e) {
    product[e] = (double{va[e]} + vb[e]) * (double{va[e]} - vb[e]);
    difference[e] = double{va[e]} - vb[e];
  }
  check_slot(model.output(0), DType::f32, {3, 5}, product);
  check_slot(model.output(1), DType::f32, {3, 5}, difference);
}

TEST_CASE("a static graph with an if, a loop and a user kernel runs without allocating, and from two threads") {
  Model<IfNet> if_model = make_model<IfNet>();
  bind_if_weights(if_model);
  const std::vector<float> x = signed_values(kRows * kWidth, 0.8f, 1.2f);
  const Tensor tx = make_tensor<float>({kRows, kWidth}, x);
  const Tensor yes = bool_scalar(true), no = bool_scalar(false);
  Model<LoopNet> loop_model_ = loop_model();
  const std::vector<float> lx = signed_values(kLoopRows * 4, 0.9f);
  const Tensor tlx = make_tensor<float>({kLoopRows, 4}, lx);
  const Tensor nine = i64_scalar(9), limit = f32_scalar(1000.0f), active = bool_scalar(true);
  Model<CallNet> call_model = make_model<CallNet>();
  bind_ok(call_model, "w", make_tensor<float>({kInner, kOuter}, signed_values(kInner * kOuter, 0.7f)));
  bind_ok(call_model, "bias", make_tensor<float>({kOuter}, signed_values(kOuter, 0.1f)));
  const Tensor cx = make_tensor<float>({kBatch, kInner}, signed_values(kBatch * kInner, 0.3f));
  run_ok(call_model, {cx});  // the kernel builds its own state on its first call
  {
    test::CountAllocations count;
    CHECK(if_model.run({tx, no}).ok());
    CHECK(if_model.run({tx, yes}).ok());
    CHECK(loop_model_.run({tlx, nine, limit, active}).ok());
    CHECK(call_model.run({cx}).ok());
    CHECK(count.count() == 0);
  }
  check_if(if_model, x, true);
  check_loop(loop_model_, lx, 9, 1000.0f);

  // Each thread its own Model (and with it its own branch and body models).
  std::vector<int> failures(2, 0);
  const auto work = [&](int t) {
    Model<LoopNet> mine = std::move(Model<LoopNet>::create().value());
    if (!mine.bind("half", f32_scalar(0.5f)).ok() || !mine.bind("quarter", f32_scalar(0.25f)).ok()) {
      failures[at(t)] = 1;
      return;
    }
    const std::vector<float> tx_values = signed_values(kLoopRows * 4, 0.5f * static_cast<float>(t));
    const Tensor input = make_tensor<float>({kLoopRows, 4}, tx_values);
    for (std::int64_t trips = 0; trips < 40; ++trips) {
      const LoopResult want = loop_reference(tx_values, trips % 7, 1000.0f);
      if (!mine.run({input, i64_scalar(trips % 7), f32_scalar(1000.0f), bool_scalar(true)}).ok()) ++failures[at(t)];
      for (std::size_t e = 0; e < want.total.size(); ++e)
        if (std::fabs(mine.output(0).data_as<float>()[e] - want.total[e]) > 1e-5f * (1.0f + std::fabs(want.total[e])))
          ++failures[at(t)];
    }
  };
  std::thread first(work, 0), second(work, 1);
  first.join();
  second.join();
  CHECK(failures[0] == 0);
  CHECK(failures[1] == 0);
}

TEST_CASE("static control flow and user kernels report what went wrong, naming the node") {
  SUBCASE("a weight of a branch that is not bound") {
    Model<IfNet> model = make_model<IfNet>();
    bind_ok(model, "w", make_tensor<float>({kWidth, kWidth}, kIfWeights));
    bind_ok(model, "one", f32_scalar(1.0f));
    const Status s = model.run({make_tensor<float>({kRows, kWidth}, signed_values(12, 0.1f)), bool_scalar(true)});
    CHECK_FALSE(s.ok());
    CHECK(contains(s.message(), "weight 'two' is not bound"));
  }
  SUBCASE("an unknown weight lists those of the branches") {
    Model<IfNet> model = make_model<IfNet>();
    const Status s = model.bind("three", f32_scalar(3.0f));
    CHECK(s.code() == StatusCode::not_found);
    CHECK(contains(s.message(), "no weight named 'three' (its weights: w, one, two)"));
  }
  SUBCASE("a weight of a branch with the wrong shape") {
    Model<IfNet> model = make_model<IfNet>();
    const Status s = model.bind("w", make_tensor<float>({kWidth}, signed_values(kWidth, 0.1f)));
    CHECK(s.code() == StatusCode::shape_mismatch);
    CHECK(contains(s.message(), "weight 'w': expected f32[4, 4], given f32[4]"));
  }
  SUBCASE("a user kernel that fails") {
    constexpr auto x = input<"x", DType::f32, 4>();
    using Net = decltype(build(inputs(x), call_kernel<"busy", refuses, Out<DType::f32, 4>>(x) + x));
    Model<Net> model = make_model<Net>();
    const Status s = model.run({make_tensor<float>({4}, signed_values(4, 0.1f))});
    CHECK(s.code() == StatusCode::invalid_argument);
    CHECK(contains(s.message(), "static graph: %1 = call_kernel 'busy': the device is busy"));
  }
  SUBCASE("a loop's trip count of the wrong dtype is refused at run time like any input") {
    Model<LoopNet> model = loop_model();
    const Status s = model.run({make_tensor<float>({kLoopRows, 4}, signed_values(8, 0.1f)), f32_scalar(2.0f),
                                f32_scalar(1.0f), bool_scalar(true)});
    CHECK(s.code() == StatusCode::shape_mismatch);
    CHECK(contains(s.message(), "input 'trips': expected i64[], given f32[]"));
  }
}
