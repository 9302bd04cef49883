// Control flow and user kernels in the VM, on the CPU kernels, against naive loops written
// here: if_then_else picked by a run-time bool, a loop with a trip count whose body computes
// a condition that freezes the carried values, a call of a kernel built from tensor
// expressions in the middle of a graph (the cross-level call), a module mixing all three at
// two batch sizes, no allocation on a second run, and the errors of load and prepare.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"
#include "control_flow_references.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/relax/builder.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace kiln;
using relax::OpKind;
using relax::TensorType;
using relax::Var;

namespace {

const relax::SymDim batch = relax::sym("batch");

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

relax::Module finished(Result<relax::Module> m) {
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  return std::move(*m);
}

std::shared_ptr<const vm::Executable> loaded(relax::Module m, const vm::LoadOptions& options = {}) {
  auto exe = vm::load(std::move(m), options);
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

Tensor f32_tensor(std::initializer_list<std::int64_t> dims, float phase) {
  Result<Tensor> t = Tensor::empty(DType::f32, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i)
    t->data_as<float>()[i] = std::sin(0.37f * static_cast<float>(i) + phase) * 1.7f;
  return *t;
}
Tensor f32_values(std::initializer_list<std::int64_t> dims, std::span<const float> values) {
  const std::vector<std::int64_t> shape_dims(dims);
  return Tensor::from_values<float>(Dims(shape_dims), values).value();
}
Tensor f32_scalar(float v) { return Tensor::from_values<float>({}, {v}).value(); }
Tensor bool_scalar(bool v) { return Tensor::from_values<bool>({}, {v}).value(); }
Tensor i64_scalar(std::int64_t v) { return Tensor::from_values<std::int64_t>({}, {v}).value(); }

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.numel());
}

void check_close(const vm::Slot& got, std::span<const float> want, std::span<const std::int64_t> dims,
                 double tolerance = 1e-5) {
  REQUIRE(got.dtype == DType::f32);
  REQUIRE(std::ranges::equal(got.shape(), dims));
  REQUIRE(static_cast<std::size_t>(got.elements()) == want.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(got.data_as<float>()[i]) - static_cast<double>(want[i])));
  CHECK(worst <= tolerance);
}

// The first binding of `op` in the entry function.
const relax::Binding& binding_of(const relax::Module& m, OpKind op) {
  const relax::Binding* found = nullptr;
  m.main().for_each_binding([&](const relax::Binding& b) {
    if (found == nullptr && b.op == op) found = &b;
  });
  REQUIRE(found != nullptr);
  return *found;
}

// ---- if_then_else --------------------------------------------------------------------------
// then: (relu(x @ w) + 1, x); else: (tanh(x) * 2 - x, -x); main returns (y0 + x, y1).
constexpr std::int64_t kIfWidth = 4;
const float kIfWeights[kIfWidth * kIfWidth] = {0.5f, -0.25f, 1.0f,  0.0f,  -1.0f, 0.75f, 0.25f, 0.5f,
                                               0.0f, 1.5f,   -0.5f, 0.25f, 0.25f, 0.0f,  0.5f,  -0.75f};

relax::Module then_branch() {
  relax::Builder b("grow");
  const Var x = b.input("x", TensorType(DType::f32, {batch, kIfWidth}));
  const Var w = b.constant(f32_values({kIfWidth, kIfWidth}, kIfWeights));
  const Var one = b.constant(f32_scalar(1.0f));
  return finished(b.finish({b.add(b.relu(b.matmul(x, w)), one), x}));
}
relax::Module else_branch() {
  relax::Builder b("shrink");
  const Var x = b.input("x", TensorType(DType::f32, {batch, kIfWidth}));
  const Var two = b.constant(f32_scalar(2.0f));
  return finished(b.finish({b.subtract(b.multiply(b.tanh(x), two), x), b.neg(x)}));
}
relax::Module if_module() {
  relax::Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, kIfWidth}));
  const Var flag = b.input("flag", TensorType(DType::boolean, {}));
  const Var args[] = {x};
  const std::vector<Var> y = b.if_then_else(flag, then_branch(), else_branch(), args);
  REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  return finished(b.finish({b.add(y[0], x), y[1]}));
}

// The two outputs of if_module, naively.
void if_reference(const std::vector<float>& x, std::int64_t rows, bool flag, std::vector<float>& out0,
                  std::vector<float>& out1) {
  out0.assign(x.size(), 0.0f);
  out1.assign(x.size(), 0.0f);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < kIfWidth; ++j) {
      const std::size_t e = at(i * kIfWidth + j);
      float y0 = 0.0f, y1 = 0.0f;
      if (flag) {
        float sum = 0.0f;
        for (std::int64_t k = 0; k < kIfWidth; ++k) sum += x[at(i * kIfWidth + k)] * kIfWeights[k * kIfWidth + j];
        y0 = std::max(sum, 0.0f) + 1.0f;
        y1 = x[e];
      } else {
        y0 = std::tanh(x[e]) * 2.0f - x[e];
        y1 = -x[e];
      }
      out0[e] = y0 + x[e];
      out1[e] = y1;
    }
}

// ---- loop ----------------------------------------------------------------------------------
// body(i, active, x, total, limit): an iteration that runs only while `active`:
//   x' = x / 2 + i / 4, total' = total + x'; then active' = active and max(total') < limit.
// The values freeze once active is false, as an ONNX loop would stop on its condition.
relax::Module accumulate_body() {
  relax::Builder b("accumulate");
  const Var i = b.input("i", TensorType(DType::i64, {}));
  const Var active = b.input("active", TensorType(DType::boolean, {}));
  const Var x = b.input("x", TensorType(DType::f32, {batch, 4}));
  const Var total = b.input("total", TensorType(DType::f32, {batch, 4}));
  const Var limit = b.input("limit", TensorType(DType::f32, {}));
  const Var half = b.constant(f32_scalar(0.5f));
  const Var quarter = b.constant(f32_scalar(0.25f));
  const Var next_x = b.add(b.multiply(x, half), b.multiply(b.cast(i, DType::f32), quarter));
  const Var next_total = b.add(total, next_x);
  const Var peak = b.reduce(OpKind::reduce_max, next_total, relax::ReduceAttrs{.axes = {}, .keepdims = false});
  const Var still = b.emit(OpKind::logical_and, {active, b.compare(OpKind::less, peak, limit)});
  return finished(b.finish({still, b.where(active, next_x, x), b.where(active, next_total, total), limit}));
}
// main(x, trips, limit): the loop over (true, x, x, limit); returns (total, x, active).
relax::Module loop_module() {
  relax::Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 4}));
  const Var trips = b.input("trips", TensorType(DType::i64, {}));
  const Var limit = b.input("limit", TensorType(DType::f32, {}));
  const Var active = b.constant(bool_scalar(true));
  const Var carried[] = {active, x, x, limit};
  const std::vector<Var> out = b.loop(trips, accumulate_body(), carried);
  REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  return finished(b.finish({out[2], out[1], out[0]}));
}

using test::control_flow::LoopResult;
using test::control_flow::loop_reference;
using test::control_flow::run_te_matmul;

vm::LoadOptions with_te_matmul() {
  vm::LoadOptions options;
  options.user_kernels.push_back(vm::UserKernel{"te_matmul", 2, 1, run_te_matmul});
  return options;
}

constexpr std::int64_t kInner = 16, kOuter = 8;
std::vector<float> matmul_weights() {
  std::vector<float> w(at(kInner * kOuter));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.29f * static_cast<float>(i)) * 0.4f;
  return w;
}
std::vector<float> bias_values() {
  std::vector<float> v(at(kOuter));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>(i) - 0.3f;
  return v;
}
Var weights_constant(relax::Builder& b) {
  const std::vector<float> w = matmul_weights();
  return b.constant(f32_values({kInner, kOuter}, w));
}

// relu(x) @ w, naively.
std::vector<float> relu_matmul(const std::vector<float>& x, std::int64_t rows) {
  const std::vector<float> w = matmul_weights();
  std::vector<float> y(at(rows * kOuter));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < kOuter; ++j) {
      double sum = 0.0;
      for (std::int64_t k = 0; k < kInner; ++k)
        sum += static_cast<double>(std::max(x[at(i * kInner + k)], 0.0f)) * w[at(k * kOuter + j)];
      y[at(i * kOuter + j)] = static_cast<float>(sum);
    }
  return y;
}

} // namespace

TEST_CASE("if_then_else runs the branch a run-time bool picks, each branch loaded and fused on its own") {
  auto exe = loaded(if_module());
  CHECK(contains(exe->to_string(), "= call if @grow @shrink(%flag, %x)"));
  // The then branch is an executable of its own, and fusion ran on it: matmul + relu + add.
  const vm::Instruction& branch = exe->instructions()[0];
  REQUIRE(branch.kind == vm::InstructionKind::if_then_else);
  REQUIRE(branch.subprograms.size() == 2);
  bool fused = false;
  for (const vm::Instruction& ins : branch.subprograms[0]->instructions()) fused = fused || ins.op == OpKind::fused;
  CHECK(fused);

  vm::ExecutionContext ctx(exe);
  for (std::int64_t rows : {3, 7}) {
    for (bool flag : {true, false}) {
      CAPTURE(rows);
      CAPTURE(flag);
      const Tensor x = f32_tensor({rows, kIfWidth}, static_cast<float>(rows) + (flag ? 0.5f : 0.0f));
      const Status s = ctx.run({x, bool_scalar(flag)});
      REQUIRE_MESSAGE(s.ok(), s.to_string());
      std::vector<float> want0, want1;
      if_reference(values_of(x), rows, flag, want0, want1);
      const std::int64_t dims[] = {rows, kIfWidth};
      check_close(ctx.output(0), want0, dims);
      check_close(ctx.output(1), want1, dims);
    }
  }
}

TEST_CASE("loop runs its body trip-count times, the carried values freezing once the body's condition fails") {
  auto exe = loaded(loop_module());
  CHECK(contains(exe->to_string(), "call loop @accumulate(%trips"));
  vm::ExecutionContext ctx(exe);
  bool stopped_early = false;
  for (std::int64_t rows : {2, 5}) {
    for (std::int64_t trips : {0, 1, 2, 5, 12}) {
      for (float limit : {3.0f, 1000.0f}) {
        CAPTURE(rows);
        CAPTURE(trips);
        CAPTURE(limit);
        const Tensor x = f32_tensor({rows, 4}, 0.3f * static_cast<float>(trips));
        const Status s = ctx.run({x, i64_scalar(trips), f32_scalar(limit)});
        REQUIRE_MESSAGE(s.ok(), s.to_string());
        const LoopResult want = loop_reference(values_of(x), trips, limit);
        stopped_early = stopped_early || want.iterations < trips;
        const std::int64_t dims[] = {rows, 4};
        check_close(ctx.output(0), want.total, dims, 1e-4);
        check_close(ctx.output(1), want.x, dims, 1e-5);
        REQUIRE(ctx.output(2).dtype == DType::boolean);
        CHECK((*ctx.output(2).data_as<bool>()) == want.active);
      }
    }
  }
  CHECK(stopped_early);  // the condition did stop some loops before their trip count
}

TEST_CASE("a loop body that returns its carried values swapped reads each iteration's inputs intact") {
  relax::Builder body("swap");
  body.input("i", TensorType(DType::i64, {}));
  const Var a = body.input("a", TensorType(DType::f32, {batch}));
  const Var b2 = body.input("b", TensorType(DType::f32, {batch}));
  relax::Module swap = finished(body.finish({b2, a}));

  relax::Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch}));
  const Var y = b.input("y", TensorType(DType::f32, {batch}));
  const Var trips = b.input("trips", TensorType(DType::i64, {}));
  const Var carried[] = {x, y};
  const std::vector<Var> out = b.loop(trips, std::move(swap), carried);
  auto exe = loaded(finished(b.finish({out[0], out[1]})));
  vm::ExecutionContext ctx(exe);
  const Tensor tx = f32_tensor({5}, 0.1f), ty = f32_tensor({5}, 2.1f);
  for (std::int64_t n : {0, 1, 2, 3, 4}) {
    CAPTURE(n);
    REQUIRE(ctx.run({tx, ty, i64_scalar(n)}).ok());
    const std::vector<float> vx = values_of(tx), vy = values_of(ty);
    const std::int64_t dims[] = {5};
    check_close(ctx.output(0), n % 2 == 0 ? vx : vy, dims, 0.0);
    check_close(ctx.output(1), n % 2 == 0 ? vy : vx, dims, 0.0);
  }
}

TEST_CASE("a second run with the same shapes allocates nothing, whichever branch it takes and however long it loops") {
  auto if_exe = loaded(if_module());
  vm::ExecutionContext if_ctx(if_exe);
  const Tensor x = f32_tensor({6, kIfWidth}, 0.2f);
  const Tensor yes = bool_scalar(true), no = bool_scalar(false);
  REQUIRE(if_ctx.run({x, yes}).ok());  // prepares both branches on the way
  {
    test::CountAllocations count;
    REQUIRE(if_ctx.run({x, no}).ok());
    REQUIRE(if_ctx.run({x, yes}).ok());
    CHECK(count.count() == 0);
  }
  std::vector<float> want0, want1;
  if_reference(values_of(x), 6, true, want0, want1);
  const std::int64_t if_dims[] = {6, kIfWidth};
  check_close(if_ctx.output(0), want0, if_dims);

  auto loop_exe = loaded(loop_module());
  vm::ExecutionContext loop_ctx(loop_exe);
  const Tensor lx = f32_tensor({3, 4}, 0.9f);
  const Tensor limit = f32_scalar(1000.0f), two = i64_scalar(2), nine = i64_scalar(9);
  REQUIRE(loop_ctx.run({lx, two, limit}).ok());
  {
    test::CountAllocations count;
    REQUIRE(loop_ctx.run({lx, nine, limit}).ok());
    CHECK(count.count() == 0);
  }
  const LoopResult want = loop_reference(values_of(lx), 9, 1000.0f);
  const std::int64_t loop_dims[] = {3, 4};
  check_close(loop_ctx.output(0), want.total, loop_dims, 1e-4);
}

TEST_CASE("call_kernel runs a scheduled tensor-expression kernel in the middle of a graph") {
  // sigmoid(te_matmul(relu(x), w) + bias): graph ops on both sides of the user kernel.
  relax::Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, kInner}));
  const Var w = weights_constant(b);
  const std::vector<float> bias_v = bias_values();
  const Var bias = b.constant(f32_values({kOuter}, bias_v));
  const Var args[] = {b.relu(x), w};
  const std::vector<Var> y = b.call_kernel("te_matmul", args, {TensorType(DType::f32, {batch, kOuter})});
  REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  auto exe = loaded(finished(b.finish({b.sigmoid(b.add(y[0], bias))})), with_te_matmul());
  CHECK(contains(exe->to_string(), "= call call_kernel 'te_matmul'("));

  vm::ExecutionContext ctx(exe);
  for (std::int64_t rows : {1, 3, 33}) {
    CAPTURE(rows);
    const Tensor tx = f32_tensor({rows, kInner}, 0.4f * static_cast<float>(rows));
    const Status s = ctx.run({tx});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    std::vector<float> want = relu_matmul(values_of(tx), rows);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < kOuter; ++j) {
        float& v = want[at(i * kOuter + j)];
        v = 1.0f / (1.0f + std::exp(-(v + bias_v[at(j)])));
      }
    const std::int64_t dims[] = {rows, kOuter};
    check_close(ctx.output(), want, dims);
  }
  const Tensor again = f32_tensor({33, kInner}, 5.0f);
  test::CountAllocations count;
  REQUIRE(ctx.run({again}).ok());
  CHECK(count.count() == 0);
}

TEST_CASE("a module with a user kernel, an if and a loop runs at two batch sizes from one load") {
  // h = te_matmul(relu(x), w); g = flag ? tanh(h) + 1 : -h; v = loop trips { v / 2 + i / 4 }(g); out = v + h.
  relax::Module then_module = [] {
    relax::Builder t("lift");
    const Var h = t.input("h", TensorType(DType::f32, {batch, kOuter}));
    const Var one = t.constant(f32_scalar(1.0f));
    return finished(t.finish({t.add(t.tanh(h), one)}));
  }();
  relax::Module else_module = [] {
    relax::Builder e("flip");
    const Var h = e.input("h", TensorType(DType::f32, {batch, kOuter}));
    return finished(e.finish({e.neg(h)}));
  }();
  relax::Module body_module = [] {
    relax::Builder l("decay");
    const Var i = l.input("i", TensorType(DType::i64, {}));
    const Var v = l.input("v", TensorType(DType::f32, {batch, kOuter}));
    const Var half = l.constant(f32_scalar(0.5f));
    const Var quarter = l.constant(f32_scalar(0.25f));
    return finished(l.finish({l.add(l.multiply(v, half), l.multiply(l.cast(i, DType::f32), quarter))}));
  }();
  relax::Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, kInner}));
  const Var flag = b.input("flag", TensorType(DType::boolean, {}));
  const Var trips = b.input("trips", TensorType(DType::i64, {}));
  const Var w = weights_constant(b);
  const Var kernel_args[] = {b.relu(x), w};
  const Var h = b.call_kernel("te_matmul", kernel_args, {TensorType(DType::f32, {batch, kOuter})})[0];
  const Var branch_args[] = {h};
  const Var g = b.if_then_else(flag, std::move(then_module), std::move(else_module), branch_args)[0];
  const Var carried[] = {g};
  const Var v = b.loop(trips, std::move(body_module), carried)[0];
  auto exe = loaded(finished(b.finish({b.add(v, h)})), with_te_matmul());

  vm::ExecutionContext ctx(exe);
  for (std::int64_t rows : {2, 9}) {
    for (bool choice : {true, false}) {
      for (std::int64_t n : {0, 3}) {
        CAPTURE(rows);
        CAPTURE(choice);
        CAPTURE(n);
        const Tensor tx = f32_tensor({rows, kInner}, 0.7f * static_cast<float>(rows + n));
        const Status s = ctx.run({tx, bool_scalar(choice), i64_scalar(n)});
        REQUIRE_MESSAGE(s.ok(), s.to_string());
        const std::vector<float> hv = relu_matmul(values_of(tx), rows);
        std::vector<float> want(hv.size());
        for (std::size_t e = 0; e < hv.size(); ++e) {
          float value = choice ? std::tanh(hv[e]) + 1.0f : -hv[e];
          for (std::int64_t k = 0; k < n; ++k) value = value * 0.5f + static_cast<float>(k) * 0.25f;
          want[e] = value + hv[e];
        }
        const std::int64_t dims[] = {rows, kOuter};
        check_close(ctx.output(), want, dims);
      }
    }
  }
  // Back to the first batch size: it prepares again once, then runs without allocating.
  const Tensor tx = f32_tensor({2, kInner}, 0.1f);
  const Tensor yes = bool_scalar(true), no = bool_scalar(false), three = i64_scalar(3), five = i64_scalar(5);
  REQUIRE(ctx.run({tx, yes, three}).ok());
  test::CountAllocations count;
  REQUIRE(ctx.run({tx, no, five}).ok());
  CHECK(count.count() == 0);
}

TEST_CASE("control flow and user kernels report what they cannot run, naming the op") {
  SUBCASE("branches that return different shapes for the given inputs fail at prepare") {
    relax::Module m = if_module();
    // Swap the else branch for one whose first result has twice the rows; both are still
    // f32 of rank 2, which is all load can see.
    relax::Builder e("double_rows");
    const Var ex = e.input("x", TensorType(DType::f32, {batch, kIfWidth}));
    const Var rows[] = {ex, ex};
    relax::Module doubled = finished(e.finish({e.concat(rows, 0), e.neg(ex)}));
    const auto& attrs = std::get<relax::IfAttrs>(binding_of(m, OpKind::if_then_else).attrs);
    m.functions[static_cast<std::size_t>(attrs.else_branch)] = std::move(doubled.functions[0]);
    auto exe = loaded(std::move(m));
    vm::ExecutionContext ctx(exe);
    const Status s = ctx.prepare({{"x", {3, kIfWidth}}, {"flag", {}}});
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == StatusCode::shape_mismatch);
    CHECK_MESSAGE(contains(s.message(), "prepare: %"), s.message());
    CHECK_MESSAGE(contains(s.message(), " = if: output 0 is [3, 4] in the then branch @grow but [6, 4] in the else "
                                        "branch @double_rows"),
                  s.message());
  }
  SUBCASE("a call of a kernel nobody registered fails at load") {
    relax::Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {batch, 4}));
    const Var args[] = {x};
    const std::vector<Var> y = b.call_kernel("nope", args, {TensorType(DType::f32, {batch, 4})});
    auto exe = vm::load(finished(b.finish({y[0]})), with_te_matmul());
    REQUIRE_FALSE(exe.ok());
    CHECK(exe.status().code() == StatusCode::not_found);
    CHECK_MESSAGE(contains(exe.status().message(), "call_kernel: no kernel named 'nope' was registered"),
                  exe.status().message());
  }
  SUBCASE("a call that declares more outputs than the kernel writes fails at load") {
    relax::Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {batch, kInner}));
    const Var args[] = {x, weights_constant(b)};
    const std::vector<Var> y = b.call_kernel(
        "te_matmul", args, {TensorType(DType::f32, {batch, kOuter}), TensorType(DType::f32, {batch, kOuter})});
    auto exe = vm::load(finished(b.finish({y[0], y[1]})), with_te_matmul());
    REQUIRE_FALSE(exe.ok());
    CHECK_MESSAGE(contains(exe.status().message(),
                           "call_kernel: the graph declares 2 outputs, 'te_matmul' writes 1"),
                  exe.status().message());
  }
  SUBCASE("a declared output whose dims no input fixes fails at load") {
    relax::Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {batch, kInner}));
    const Var args[] = {x, weights_constant(b)};
    const std::vector<Var> y = b.call_kernel("te_matmul", args, {TensorType(DType::f32, {relax::sym("rows"), kOuter})});
    auto exe = vm::load(finished(b.finish({y[0]})), with_te_matmul());
    REQUIRE_FALSE(exe.ok());
    CHECK_MESSAGE(contains(exe.status().message(),
                           "call_kernel: output 0 of 'te_matmul' is f32[rows, 8], but no input of @main fixes rows"),
                  exe.status().message());
  }
  SUBCASE("a table with a nameless or duplicate kernel fails at load") {
    vm::LoadOptions options = with_te_matmul();
    options.user_kernels.push_back(vm::UserKernel{"te_matmul", 2, 1, run_te_matmul});
    auto exe = vm::load(if_module(), options);
    REQUIRE_FALSE(exe.ok());
    CHECK_MESSAGE(contains(exe.status().message(), "two user kernels are named 'te_matmul'"), exe.status().message());
  }
  SUBCASE("a loop body with a condition output or scan outputs is refused at load") {
    relax::Module m = loop_module();
    const auto& attrs = std::get<relax::LoopAttrs>(binding_of(m, OpKind::loop).attrs);
    relax::Function& body = m.functions[static_cast<std::size_t>(attrs.body)];
    body.outputs.push_back(body.outputs.back());  // a scan output, in ONNX's terms
    auto exe = vm::load(std::move(m));
    REQUIRE_FALSE(exe.ok());
    CHECK(exe.status().code() == StatusCode::unsupported);
    CHECK_MESSAGE(contains(exe.status().message(),
                           " = loop: @accumulate returns 5 values and the loop has 4 outputs for 4 carried values; "
                           "the VM runs body(iteration, carried...) -> carried..."),
                  exe.status().message());
  }
  SUBCASE("a loop whose carried value changes shape in the body fails at prepare") {
    relax::Builder body("grow_rows");
    body.input("i", TensorType(DType::i64, {}));
    const Var a = body.input("a", TensorType(DType::f32, {batch}));
    relax::Module grow = finished(body.finish({body.relu(a)}));
    relax::Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {batch}));
    const Var trips = b.input("trips", TensorType(DType::i64, {}));
    const Var carried[] = {x};
    const std::vector<Var> out = b.loop(trips, std::move(grow), carried);
    relax::Module m = finished(b.finish({out[0]}));
    // Let the body return twice the rows (concat), which relax's inference would refuse.
    relax::Builder g("doubled");
    g.input("i", TensorType(DType::i64, {}));
    const Var ga = g.input("a", TensorType(DType::f32, {batch}));
    const Var parts[] = {ga, ga};
    relax::Module doubled = finished(g.finish({g.concat(parts, 0)}));
    const int body_index = std::get<relax::LoopAttrs>(binding_of(m, OpKind::loop).attrs).body;
    m.functions[static_cast<std::size_t>(body_index)] = std::move(doubled.functions[0]);
    auto exe = loaded(std::move(m));
    vm::ExecutionContext ctx(exe);
    const Status s = ctx.prepare({{"x", {5}}, {"trips", {}}});
    REQUIRE_FALSE(s.ok());
    CHECK_MESSAGE(contains(s.message(), " = loop: carried value 0 goes in as [5] but the body @doubled returns [10]"),
                  s.message());
  }
  SUBCASE("a condition of the wrong dtype is refused at load") {
    relax::Module m = if_module();
    relax::Function& fn = m.main();
    fn.value(*fn.find_param("flag")).type = TensorType(DType::i32, {});
    auto exe = vm::load(std::move(m), vm::LoadOptions{.run_passes = false});
    REQUIRE_FALSE(exe.ok());
    CHECK_MESSAGE(contains(exe.status().message(), "if: the condition must be bool, got i32[]"),
                  exe.status().message());
  }
}
