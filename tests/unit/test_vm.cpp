// The VM's own machinery, independent of the backend's kernels: the memory planner, loading,
// prepare/run over symbolic shapes, views, in-place reuse, scratch, no allocation in run(),
// errors, and several threads running one executable. The kernels here are tiny test
// kernels (relu, add of same shapes, and an exp that stages through scratch), so a failure
// points at the VM and not at a kernel.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"

#include <kiln/relax/builder.hpp>
#include <kiln/vm/execution_context.hpp>
#include <kiln/vm/executable.hpp>
#include <kiln/vm/memory_plan.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace kiln;
using namespace kiln::vm;
using relax::OpKind;

namespace {

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

// ---- test kernels ----------------------------------------------------------------------------
Status f32_only(const relax::Binding& b, const relax::Function& fn) {
  for (relax::ValueId in : b.inputs)
    if (in != relax::kNoValue && fn.type(in).dtype != DType::f32)
      return make_error(StatusCode::unsupported, "test kernels take f32 only");
  return {};
}
Status run_relu(const OpCall& call) {
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  for (std::int64_t i = 0; i < y.elements(); ++i) y.data_as<float>()[i] = std::max(x.data_as<float>()[i], 0.0f);
  return {};
}
Status run_add(const OpCall& call) {
  const Slot& a = *call.input(0);
  const Slot& b = *call.input(1);
  const Slot& y = call.output();
  if (a.elements() != y.elements() || b.elements() != y.elements())
    return make_error(StatusCode::unsupported, "the test add takes equal shapes");
  for (std::int64_t i = 0; i < y.elements(); ++i) y.data_as<float>()[i] = a.data_as<float>()[i] + b.data_as<float>()[i];
  return {};
}
// exp through scratch: the scratch is written in full, then read back, so a scratch that
// overlapped the input or output would give wrong values.
std::size_t exp_scratch(const OpCall& call) { return call.output().bytes(); }
Status run_exp(const OpCall& call) {
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  auto* tmp = reinterpret_cast<float*>(call.scratch.data());
  if (call.scratch.size() < y.bytes()) return make_error(StatusCode::internal, "scratch too small");
  for (std::int64_t i = 0; i < y.elements(); ++i) tmp[i] = std::exp(x.data_as<float>()[i]);
  for (std::int64_t i = 0; i < y.elements(); ++i) y.data_as<float>()[i] = tmp[i];
  return {};
}
const OpKernel kRelu{f32_only, nullptr, run_relu};
const OpKernel kAdd{f32_only, nullptr, run_add};
const OpKernel kExp{f32_only, exp_scratch, run_exp};

const OpKernel* test_kernels(OpKind op) {
  switch (op) {
    case OpKind::relu: return &kRelu;
    case OpKind::add: return &kAdd;
    case OpKind::exp: return &kExp;
    default: return nullptr;
  }
}

const relax::SymDim batch = relax::sym("batch");

// y = relu(exp(relu(x) + x)) viewed as [batch * 4], plus a second output relu(x).
relax::Module chain_module() {
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {batch, 4}));
  const relax::Var r = b.relu(x);
  const relax::Var s = b.add(r, x);
  const relax::Var e = b.exp(s);
  const relax::Var flat = b.reshape(e, {batch * 4});
  Result<relax::Module> m = b.finish({b.relu(flat), r});
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  return std::move(*m);
}

std::shared_ptr<const Executable> load_chain() {
  // Without fusion: these are the VM's mechanics on plain calls (fusion has its own tests).
  auto exe = Executable::load(chain_module(), test_kernels, LoadOptions{.fuse = false});
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

Tensor input_of(std::int64_t rows, float phase) {
  Result<Tensor> t = Tensor::empty(DType::f32, {rows, 4});
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i) t->data_as<float>()[i] = std::sin(static_cast<float>(i) * 0.7f + phase);
  return *t;
}

void check_chain(const ExecutionContext& ctx, const Tensor& x) {
  const Slot& y = ctx.output(0);
  const Slot& r = ctx.output(1);
  REQUIRE(y.rank == 1);
  REQUIRE(y.dims[0] == x.numel());
  REQUIRE(r.rank == 2);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data_as<float>()[i];
    const float relu = std::max(v, 0.0f);
    CHECK(r.data_as<float>()[i] == relu);
    CHECK(y.data_as<float>()[i] == doctest::Approx(std::exp(relu + v)).epsilon(1e-6));
  }
}

} // namespace

TEST_CASE("plan_memory reuses dead buffers, best fit first") {
  // Step 0 writes a (1000 B), step 1 reads a and writes b (1000 B), step 2 reads b and
  // writes c (500 B), which fits where a was; d (2000 B) at step 3 needs new memory.
  const std::vector<BufferRequest> requests = {
      {1000, 0, 1, -1}, {1000, 1, 2, -1}, {500, 2, 3, -1}, {2000, 3, 3, -1}};
  const MemoryPlan plan = plan_memory(requests);
  CHECK(plan.offsets[0] == 0);
  CHECK(plan.offsets[1] == 1024);
  CHECK(plan.offsets[2] == 0);
  CHECK(plan.requested_bytes == 1024 + 1024 + 512 + 2048);
  // d fits no free block, but the free space after c runs to the end of the arena: d
  // starts there and the arena grows by only what is missing.
  CHECK(plan.offsets[3] == 512);
  CHECK(plan.arena_bytes == 512 + 2048);
  for (char in_place : plan.in_place) CHECK(in_place == 0);
}

TEST_CASE("plan_memory never overlaps buffers that are live together") {
  std::vector<BufferRequest> requests;
  for (int i = 0; i < 40; ++i) {
    const auto bytes = static_cast<std::size_t>(64 * (1 + (i * 7) % 13));
    requests.push_back({bytes, i / 2, i / 2 + 1 + (i * 5) % 6, (i % 3 == 0 && i > 0) ? i - 1 : -1});
  }
  const MemoryPlan plan = plan_memory(requests);
  for (std::size_t a = 0; a < requests.size(); ++a) {
    CHECK(plan.offsets[a] % kBufferAlignment == 0);
    CHECK(plan.offsets[a] + requests[a].bytes <= plan.arena_bytes);
    for (std::size_t b = a + 1; b < requests.size(); ++b) {
      const BufferRequest &ra = requests[a], &rb = requests[b];
      // In place, b may start where a ends: they share the step, nothing else.
      const bool handed = plan.in_place[b] && rb.in_place_of == static_cast<int>(a);
      const bool live_together = ra.first_step <= rb.last_step && rb.first_step <= ra.last_step && !handed;
      const bool overlap = plan.offsets[a] < plan.offsets[b] + rb.bytes && plan.offsets[b] < plan.offsets[a] + ra.bytes;
      if (live_together && overlap) FAIL("requests ", a, " and ", b, " overlap while both are live");
    }
  }
  CHECK(plan.arena_bytes < plan.requested_bytes);
}

TEST_CASE("plan_memory writes in place over an input that dies at that step") {
  const std::vector<BufferRequest> requests = {{256, 0, 1, -1}, {256, 1, 2, 0}, {256, 2, 5, 1}, {256, 3, 5, 2}};
  const MemoryPlan plan = plan_memory(requests);
  CHECK(plan.in_place[1] == 1);
  CHECK(plan.offsets[1] == plan.offsets[0]);
  CHECK(plan.in_place[2] == 1);
  // Request 2 lives on past step 3, so 3 cannot take its block.
  CHECK(plan.in_place[3] == 0);
  CHECK(plan.offsets[3] != plan.offsets[2]);
  CHECK(plan.arena_bytes == 512);
}

TEST_CASE("The VM runs a module at several batch sizes, viewing reshapes and reusing memory") {
  auto exe = load_chain();
  // relu, add, exp, reshape (a view), relu.
  CHECK(exe->to_string() ==
        "0: %1 = call relu(%x)\n"
        "1: %2 = call add(%1, %x)\n"
        "2: %3 = call exp(%2)\n"
        "3: %4 = view reshape(%3)\n"
        "4: %5 = call relu(%4)\n");
  ExecutionContext ctx(exe);
  for (std::int64_t rows : {1, 3, 17, 2}) {
    CAPTURE(rows);
    const Tensor x = input_of(rows, static_cast<float>(rows));
    REQUIRE(ctx.prepare({{"x", {rows, 4}}}).ok());
    const Status s = ctx.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    check_chain(ctx, x);
    // relu(x) is an output and lives to the end; add and exp's output... the final relu
    // runs in place over the exp result (through the view), so the arena holds less than
    // the sum of the buffers.
    CHECK(ctx.in_place_count() >= 1);
    CHECK(ctx.arena_bytes() < ctx.unplanned_bytes());
  }
}

TEST_CASE("run() with the prepared shapes allocates nothing; other shapes prepare again") {
  auto exe = load_chain();
  ExecutionContext ctx(exe);
  const Tensor x = input_of(5, 0.5f);
  REQUIRE(ctx.run({x}).ok());  // prepares on the way
  check_chain(ctx, x);
  const Tensor x2 = input_of(5, 1.5f);
  {
    test::CountAllocations count;
    const Status s = ctx.run({x2});
    REQUIRE(s.ok());
    CHECK(count.count() == 0);
  }
  check_chain(ctx, x2);
  const Tensor bigger = input_of(9, 2.5f);
  REQUIRE(ctx.run({bigger}).ok());
  check_chain(ctx, bigger);
}

TEST_CASE("The VM reports bad inputs and unsupported modules clearly") {
  auto exe = load_chain();
  ExecutionContext ctx(exe);
  const Status none = ctx.run(std::span<const Tensor>{});
  CHECK(none.code() == StatusCode::invalid_argument);
  CHECK(contains(none.message(), "0 inputs given, the module takes 1"));

  Result<Tensor> wrong_rank = Tensor::zeros(DType::f32, {3});
  REQUIRE(wrong_rank.ok());
  const Status rank = ctx.run({*wrong_rank});
  CHECK_FALSE(rank.ok());
  CHECK(contains(rank.message(), "x"));

  Result<Tensor> wrong_dim = Tensor::zeros(DType::f32, {3, 5});
  REQUIRE(wrong_dim.ok());
  const Status dim = ctx.run({*wrong_dim});
  CHECK_FALSE(dim.ok());
  CHECK(contains(dim.message(), "dim 1"));

  Result<Tensor> wrong_dtype = Tensor::zeros(DType::i32, {3, 4});
  REQUIRE(wrong_dtype.ok());
  const Status dtype = ctx.run({*wrong_dtype});
  CHECK(dtype.code() == StatusCode::dtype_mismatch);
  CHECK(contains(dtype.message(), "input x holds i32"));

  const Status unknown = ctx.prepare({{"y", {3, 4}}});
  CHECK(contains(unknown.message(), "no input named 'y'"));

  // An op the backend has no kernel for fails at load, naming it.
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {batch, 4}));
  Result<relax::Module> m = b.finish({b.tanh(x)});
  REQUIRE(m.ok());
  auto failed = Executable::load(std::move(*m), test_kernels);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::unsupported);
  CHECK(contains(failed.status().message(), "tanh: the backend has no kernel for this op"));

  // And a kernel's own refusal (a dtype) comes back at load too.
  relax::Builder bi;
  const relax::Var xi = bi.input("x", relax::TensorType(DType::i32, {4}));
  Result<relax::Module> mi = bi.finish({bi.relu(xi)});
  REQUIRE(mi.ok());
  auto refused = Executable::load(std::move(*mi), test_kernels);
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.status().message(), "relu: test kernels take f32 only"));
}

TEST_CASE("One executable runs on several threads at once, each with its own context") {
  auto exe = load_chain();
  constexpr int kThreads = 4;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ExecutionContext ctx(exe);
      for (int iteration = 0; iteration < 50; ++iteration) {
        const std::int64_t rows = 1 + (t * 7 + iteration) % 9;
        Result<Tensor> x = Tensor::empty(DType::f32, {rows, 4});
        if (!x.ok()) { ++failures[static_cast<std::size_t>(t)]; continue; }
        for (std::int64_t i = 0; i < x->numel(); ++i)
          x->data_as<float>()[i] = std::sin(static_cast<float>(i * (t + 1) + iteration));
        if (!ctx.run({*x}).ok()) { ++failures[static_cast<std::size_t>(t)]; continue; }
        const Slot& y = ctx.output(0);
        for (std::int64_t i = 0; i < x->numel(); ++i) {
          const float v = x->data_as<float>()[i];
          const float want = std::exp(std::max(v, 0.0f) + v);
          if (std::fabs(y.data_as<float>()[i] - want) > 1e-5f * std::max(1.0f, want)) ++failures[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(failures[static_cast<std::size_t>(t)] == 0);
}
