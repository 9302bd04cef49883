// The static graph API (kiln/static_graph/), part 1: its fused f32 elementwise loops and the
// machinery of a model, against naive loops in double written here. Every fusable unary and
// binary op, alone and under every kind of broadcast ([1], a rank-0 scalar, a row, a column,
// a middle axis, a leading axis, both sides broadcast); chains of fused ops at odd sizes (1,
// 3, 17, 1023 elements, so that the SIMD loop's scalar tail runs), with shared
// intermediates, and on a thread pool. Then the printed plan of a small graph, that
// Model::run allocates nothing, and the errors a model reports. Part 2
// (test_static_graph_ops2.cpp) covers every op that runs a VM CPU kernel.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"
#include "static_graph_harness.hpp"
#include "test_data.hpp"

#include <kiln/runtime/thread_pool.hpp>
#include <kiln/static_graph/model.hpp>
#include <kiln/static_graph/ops.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

using namespace kiln;
using relax::OpKind;

using namespace kiln::test::static_graph_harness;

namespace {

// Values in [0.2, 2.2].
std::vector<float> positive_values(std::int64_t n, float phase) {
  std::vector<float> v = test::pattern(at(n), phase, 2.0f);
  for (float& x : v) x = 0.2f + std::fabs(x);
  return v;
}
// Values in [-1.5, -0.5] and [0.5, 1.5].
std::vector<float> nonzero_values(std::int64_t n, float phase) {
  std::vector<float> v = test::pattern(at(n), phase);
  for (float& x : v) x = x < 0.0f ? x - 0.5f : x + 0.5f;
  return v;
}
std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }


// ---- references ------------------------------------------------------------------------------

double round_half_even(double v) {
  double r = std::floor(v);
  const double fraction = v - r;
  if (fraction > 0.5 || (fraction == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1.0;
  return r;
}

double unary_ref(OpKind op, double v) {
  switch (op) {
    case OpKind::neg: return -v;
    case OpKind::abs: return v < 0 ? -v : v;
    case OpKind::sign: return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
    case OpKind::relu: return v > 0 ? v : 0.0;
    case OpKind::sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case OpKind::tanh: return std::tanh(v);
    case OpKind::exp: return std::exp(v);
    case OpKind::log: return std::log(v);
    case OpKind::sqrt: return std::sqrt(v);
    case OpKind::rsqrt: return 1.0 / std::sqrt(v);
    case OpKind::reciprocal: return 1.0 / v;
    case OpKind::floor: return std::floor(v);
    case OpKind::ceil: return std::ceil(v);
    case OpKind::round: return round_half_even(v);
    case OpKind::sin: return std::sin(v);
    case OpKind::cos: return std::cos(v);
    case OpKind::erf: return std::erf(v);
    case OpKind::gelu: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    case OpKind::silu: return v / (1.0 + std::exp(-v));
    default: FAIL("unary_ref: not a unary op"); return 0.0;
  }
}

double binary_ref(OpKind op, double a, double b) {
  switch (op) {
    case OpKind::add: return a + b;
    case OpKind::subtract: return a - b;
    case OpKind::multiply: return a * b;
    case OpKind::divide: return a / b;
    case OpKind::maximum: return a > b ? a : b;
    case OpKind::minimum: return a < b ? a : b;
    case OpKind::power: return std::pow(a, b);
    default: FAIL("binary_ref: not a binary op"); return 0.0;
  }
}

// out = f(a, b) with NumPy broadcasting, f on doubles.
template <class F>
std::vector<double> broadcast_ref(const std::vector<double>& a, const Sizes& da, const std::vector<double>& b,
                                  const Sizes& db, F f) {
  const Sizes out = broadcast(da, db);
  std::vector<double> y(at(count_of(out)));
  for (std::int64_t i = 0; i < count_of(out); ++i)
    y[at(i)] = f(a[at(source_of(i, out, da))], b[at(source_of(i, out, db))]);
  return y;
}

template <class Net>
bool every_output_is_a_fused_loop() {
  for (int o : Net::outputs)
    if (Net::node(o).role != sg::Role::fused) return false;
  return true;
}

// ---- unary ops -------------------------------------------------------------------------------

constexpr std::array<OpKind, 19> kUnaryOps = {
    OpKind::neg,   OpKind::abs,  OpKind::sign,  OpKind::relu,       OpKind::sigmoid, OpKind::tanh, OpKind::exp,
    OpKind::log,   OpKind::sqrt, OpKind::rsqrt, OpKind::reciprocal, OpKind::floor,   OpKind::ceil, OpKind::round,
    OpKind::sin,   OpKind::cos,  OpKind::erf,   OpKind::gelu,       OpKind::silu};

constexpr bool needs_positive(OpKind op) {
  return op == OpKind::log || op == OpKind::sqrt || op == OpKind::rsqrt || op == OpKind::reciprocal;
}

// Every fusable unary op as an output of one graph over N elements: each is its own fused
// loop (an output is never inlined). log, sqrt, rsqrt and reciprocal read positive values.
template <std::int64_t N>
void check_every_unary_op() {
  constexpr auto x = sg::input<"x", f32, N>();
  constexpr auto p = sg::input<"p", f32, N>();
  using Net = decltype(sg::build(
      sg::inputs(x, p), sg::neg(x), sg::abs(x), sg::apply<OpKind::sign>(x), sg::relu(x), sg::sigmoid(x), sg::tanh(x),
      sg::exp(x), sg::log(p), sg::sqrt(p), sg::apply<OpKind::rsqrt>(p), sg::apply<OpKind::reciprocal>(p),
      sg::apply<OpKind::floor>(x), sg::apply<OpKind::ceil>(x), sg::apply<OpKind::round>(x), sg::apply<OpKind::sin>(x),
      sg::apply<OpKind::cos>(x), sg::erf(x), sg::gelu(x), sg::silu(x)));
  static_assert(Net::output_count == static_cast<int>(kUnaryOps.size()));
  CHECK(every_output_is_a_fused_loop<Net>());
  CHECK(Net::steps == Net::output_count);

  std::vector<float> xv = signed_values(N, 0.0f, 3.0f);  // xv[0] is 0
  const float halves[] = {2.5f, -2.5f, 0.5f, -1.5f, 3.0f, -0.0f};  // round's ties go to even
  for (std::size_t i = 1; i < xv.size() && i <= std::size(halves); ++i) xv[i] = halves[i - 1];
  const std::vector<float> pv = positive_values(N, 0.4f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({N}, xv), make_tensor({N}, pv)});
  for (std::size_t k = 0; k < kUnaryOps.size(); ++k) {
    const OpKind op = kUnaryOps[k];
    INFO("op ", std::string(relax::to_string(op)), ", ", N, " elements");
    const std::vector<float>& in = needs_positive(op) ? pv : xv;
    std::vector<double> want(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) want[i] = unary_ref(op, static_cast<double>(in[i]));
    check_slot(model.output(static_cast<int>(k)), f32, {N}, want);
  }
}

// ---- binary ops ------------------------------------------------------------------------------

constexpr std::array<OpKind, 7> kBinaryOps = {OpKind::add,     OpKind::subtract, OpKind::multiply, OpKind::divide,
                                              OpKind::maximum, OpKind::minimum,  OpKind::power};

// Every fusable binary op on inputs a and b (any broadcast), each its own fused loop. a is
// positive (power's base), b is signed and never near 0 (the divisor).
template <class A, class B>
void check_every_binary_op(A a, B b) {
  using Net = decltype(sg::build(sg::inputs(a, b), sg::add(a, b), sg::subtract(a, b), sg::multiply(a, b),
                                 sg::divide(a, b), sg::maximum(a, b), sg::minimum(a, b),
                                 sg::apply<OpKind::power>(a, b)));
  CHECK(every_output_is_a_fused_loop<Net>());
  const Sizes da = sizes_of(a), db = sizes_of(b), dout = broadcast(da, db);
  const std::vector<float> av = positive_values(count_of(da), 0.3f);
  const std::vector<float> bv = nonzero_values(count_of(db), 1.1f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor(da, av), make_tensor(db, bv)});
  for (std::size_t k = 0; k < kBinaryOps.size(); ++k) {
    const OpKind op = kBinaryOps[k];
    INFO("op ", std::string(relax::to_string(op)));
    check_slot(model.output(static_cast<int>(k)), f32, dout,
               broadcast_ref(widen(av), da, widen(bv), db, [op](double u, double v) { return binary_ref(op, u, v); }));
  }
}

// ---- fused chains ----------------------------------------------------------------------------

// A chain of ten fused ops over N elements: one loop, every op but the last inlined; x is
// read four times and s (a weight of one element, broadcast) twice, each loaded once.
template <std::int64_t N>
void check_chain() {
  constexpr auto x = sg::input<"x", f32, N>();
  constexpr auto y = sg::input<"y", f32, N>();
  constexpr auto s = sg::weight<"s", f32, 1>();
  constexpr auto out =
      sg::silu(sg::abs(x) * y + s) - sg::tanh(y) / (sg::exp(x) + s) + sg::maximum(x, y) * sg::minimum(x, x);
  using Net = decltype(sg::build(sg::inputs(y, x), out));  // inputs in another order than the graph's
  static_assert(Net::steps == 1);
  static_assert(sg::FusedLoop<Net, Net::outputs[0]>::layout.leaf_count == 3);
  const std::vector<float> xv = signed_values(N, 0.2f, 2.0f), yv = signed_values(N, 1.7f, 1.5f);
  auto model = make_model<Net>();
  bind_ok(model, "s", make_tensor<float>({1}, {1.25f}));
  run_ok(model, {make_tensor({N}, yv), make_tensor({N}, xv)});
  std::vector<double> want(at(N));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double u = xv[i], v = yv[i], w = 1.25;
    const double z = std::fabs(u) * v + w;
    want[i] = z / (1.0 + std::exp(-z)) - std::tanh(v) / (std::exp(u) + w) + std::max(u, v) * u;
  }
  INFO(N, " elements");
  check_slot(model.output(), f32, {N}, want);
}

// Every broadcast at once in one loop: x [2, R, C], a column [R, 1], a row [C], a scalar [1]
// and a middle-axis broadcast [2, 1, C]; rows of C, so C's SIMD tail runs on every row.
template <std::int64_t R, std::int64_t C>
void check_broadcast_chain() {
  constexpr auto x = sg::input<"x", f32, 2, R, C>();
  constexpr auto col = sg::input<"col", f32, R, 1>();
  constexpr auto row = sg::weight<"row", f32, C>();
  constexpr auto sc = sg::weight<"sc", f32, 1>();
  constexpr auto mid = sg::input<"mid", f32, 2, 1, C>();
  constexpr auto out = sg::relu(x * col + row) - sc * sg::sigmoid(x + mid);
  using Net = decltype(sg::build(sg::inputs(x, col, mid), out));
  static_assert(Net::steps == 1);
  const Sizes dx{2, R, C}, dcol{R, 1}, drow{C}, dmid{2, 1, C};
  const std::vector<float> xv = signed_values(count_of(dx), 0.1f), colv = signed_values(R, 0.9f, 2.0f),
                           rowv = signed_values(C, 2.3f), midv = signed_values(2 * C, 0.6f);
  auto model = make_model<Net>();
  bind_ok(model, "row", make_tensor(drow, rowv));
  bind_ok(model, "sc", make_tensor<float>({1}, {0.75f}));
  run_ok(model, {make_tensor(dx, xv), make_tensor(dcol, colv), make_tensor(dmid, midv)});
  std::vector<double> want(at(count_of(dx)));
  for (std::int64_t i = 0; i < count_of(dx); ++i) {
    const double u = xv[at(i)], c = colv[at(source_of(i, dx, dcol))], r = rowv[at(source_of(i, dx, drow))],
                 m = midv[at(source_of(i, dx, dmid))];
    want[at(i)] = std::max(u * c + r, 0.0) - 0.75 / (1.0 + std::exp(-(u + m)));
  }
  INFO("R = ", R, ", C = ", C);
  check_slot(model.output(), f32, dx, want);
}

} // namespace

// ---- tests -----------------------------------------------------------------------------------

TEST_CASE("static graph: every fusable f32 unary op, at 1, 3, 17 and 1023 elements") {
  check_every_unary_op<1>();
  check_every_unary_op<3>();
  check_every_unary_op<17>();
  check_every_unary_op<1023>();
}

TEST_CASE("static graph: every fusable f32 binary op under every kind of broadcast") {
  SUBCASE("same shape") { check_every_binary_op(sg::input<"a", f32, 5, 19>(), sg::input<"b", f32, 5, 19>()); }
  SUBCASE("same shape, 1023 elements in one row") {
    check_every_binary_op(sg::input<"a", f32, 1023>(), sg::input<"b", f32, 1023>());
  }
  SUBCASE("one element [1] on either side") {
    check_every_binary_op(sg::input<"a", f32, 5, 19>(), sg::input<"b", f32, 1>());
    check_every_binary_op(sg::input<"a", f32, 1>(), sg::input<"b", f32, 5, 19>());
  }
  SUBCASE("a rank-0 scalar on either side") {
    check_every_binary_op(sg::input<"a", f32, 3, 17>(), sg::input<"b", f32>());
    check_every_binary_op(sg::input<"a", f32>(), sg::input<"b", f32, 3, 17>());
  }
  SUBCASE("a row [C] on either side") {
    check_every_binary_op(sg::input<"a", f32, 5, 19>(), sg::input<"b", f32, 19>());
    check_every_binary_op(sg::input<"a", f32, 19>(), sg::input<"b", f32, 5, 19>());
  }
  SUBCASE("a column [N, 1] on either side") {
    check_every_binary_op(sg::input<"a", f32, 5, 19>(), sg::input<"b", f32, 5, 1>());
    check_every_binary_op(sg::input<"a", f32, 5, 1>(), sg::input<"b", f32, 5, 19>());
  }
  SUBCASE("a middle axis") {
    check_every_binary_op(sg::input<"a", f32, 2, 3, 17>(), sg::input<"b", f32, 2, 1, 17>());
    check_every_binary_op(sg::input<"a", f32, 3, 1, 5>(), sg::input<"b", f32, 3, 4, 5>());
  }
  SUBCASE("a leading axis, and a lower rank reaching a middle axis") {
    check_every_binary_op(sg::input<"a", f32, 1, 3, 17>(), sg::input<"b", f32, 2, 3, 17>());
    check_every_binary_op(sg::input<"a", f32, 2, 3, 17>(), sg::input<"b", f32, 3, 1>());
  }
  SUBCASE("both sides broadcast") {
    check_every_binary_op(sg::input<"a", f32, 5, 1>(), sg::input<"b", f32, 1, 19>());
    check_every_binary_op(sg::input<"a", f32, 2, 1, 17>(), sg::input<"b", f32, 3, 1>());
    check_every_binary_op(sg::input<"a", f32, 1, 3, 1>(), sg::input<"b", f32, 2, 1, 9>());
  }
}

TEST_CASE("static graph: chains of fused ops run as one loop, at 1, 3, 17 and 1023 elements") {
  check_chain<1>();
  check_chain<3>();
  check_chain<17>();
  check_chain<1023>();
  check_broadcast_chain<1, 1>();
  check_broadcast_chain<3, 17>();
  check_broadcast_chain<5, 1023>();
}

TEST_CASE("static graph: a fused intermediate read twice, or also an output, is its own loop") {
  constexpr auto x = sg::input<"x", f32, 3, 17>();
  constexpr auto y = sg::input<"y", f32, 3, 17>();
  constexpr auto t = x * y;                    // read twice: not inlined
  constexpr auto u = sg::exp(sg::neg(t)) + t;  // inlined into w's loop, with exp and neg
  constexpr auto v = sg::relu(sg::sqrt(sg::abs(x)));  // v is an output and read by w
  constexpr auto w = v * u;
  using Net = decltype(sg::build(sg::inputs(x, y), w, v, t));
  CHECK(Net::node(index_in<Net>(t)).role == sg::Role::fused);
  CHECK(Net::node(index_in<Net>(sg::neg(t))).role == sg::Role::inlined);
  CHECK(Net::node(index_in<Net>(u)).role == sg::Role::inlined);
  CHECK(Net::node(index_in<Net>(sg::neg(t))).root == index_in<Net>(w));
  CHECK(Net::node(index_in<Net>(v)).role == sg::Role::fused);
  CHECK(Net::node(index_in<Net>(sg::abs(x))).role == sg::Role::inlined);
  CHECK(Net::node(index_in<Net>(sg::abs(x))).root == index_in<Net>(v));
  CHECK(Net::steps == 3);  // t, v and w
  const Sizes d{3, 17};
  const std::vector<float> xv = signed_values(51, 0.5f), yv = signed_values(51, 2.5f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor(d, xv), make_tensor(d, yv)});
  std::vector<double> want_w(51), want_v(51), want_t(51);
  for (std::size_t i = 0; i < 51; ++i) {
    const double tt = static_cast<double>(xv[i]) * yv[i];
    want_t[i] = tt;
    want_v[i] = std::sqrt(std::fabs(static_cast<double>(xv[i])));
    want_w[i] = want_v[i] * (std::exp(-tt) + tt);
  }
  check_slot(model.output(0), f32, d, want_w);
  check_slot(model.output(1), f32, d, want_v);
  check_slot(model.output(2), f32, d, want_t);
}

TEST_CASE("static graph: fused loops split their rows over a thread pool") {
  constexpr std::int64_t R = 512, C = 100;
  constexpr auto x = sg::input<"x", f32, R, C>();
  constexpr auto col = sg::input<"col", f32, R, 1>();
  constexpr auto out = sg::tanh(x * col) + col;
  using Net = decltype(sg::build(sg::inputs(x, col), out));
  static_assert(sg::FusedLoop<Net, Net::outputs[0]>::layout.rows == R);
  const std::vector<float> xv = signed_values(R * C, 0.1f), colv = signed_values(R, 1.3f, 2.0f);
  ThreadPool pool(3);
  auto model = make_model<Net>(&pool);
  run_ok(model, {make_tensor({R, C}, xv), make_tensor({R, 1}, colv)});
  std::vector<double> want(at(R * C));
  for (std::int64_t i = 0; i < R * C; ++i)
    want[at(i)] = std::tanh(static_cast<double>(xv[at(i)]) * colv[at(i / C)]) + colv[at(i / C)];
  check_slot(model.output(), f32, {R, C}, want);
}

TEST_CASE("static graph: the printed plan shows epilogues, inlined ops, views and in-place loops") {
  constexpr auto x = sg::input<"x", f32, 2, 3>();
  constexpr auto w = sg::weight<"w", f32, 3, 4>();
  constexpr auto b = sg::weight<"b", f32, 4>();
  constexpr auto h = sg::relu(sg::matmul(x, w) + b);  // the matmul writes into the relu loop; add is inlined
  constexpr auto y = sg::exp(sg::reshape<8>(h));       // a view; exp rewrites h's buffer in place
  using Net = decltype(sg::build(sg::inputs(x), y));
  const std::string expected =
      "input x: f32[2, 3]\n"
      "weight w: f32[3, 4]\n"
      "%2 = matmul(x, w) : f32[2, 4]  # step 0, kernel, writes into %5\n"
      "weight b: f32[4]\n"
      "%4 = add(%2, b) : f32[2, 4]  # inlined into %5\n"
      "%5 = relu(%4) : f32[2, 4]  # step 1, fused loop, arena [0, 32)\n"
      "%6 = reshape(%5) : f32[8]  # view of %5\n"
      "%7 = exp(%6) : f32[8]  # step 2, fused loop, arena [0, 32) in place of %5 (output)\n"
      "arena: 64 bytes (128 without reuse)\n";
  CHECK(Net::to_string() == expected);
  static_assert(Net::arena_bytes == 64);

  const std::vector<float> xv = signed_values(6, 0.3f), wv = signed_values(12, 1.2f), bv = {0.1f, -0.2f, 0.3f, -0.4f};
  auto model = make_model<Net>();
  bind_ok(model, "w", make_tensor({3, 4}, wv));
  bind_ok(model, "b", make_tensor({4}, bv));
  run_ok(model, {make_tensor({2, 3}, xv)});
  const std::vector<double> mmv = test::naive_matmul<float, double>(xv, wv, 2, 4, 3);
  std::vector<double> want(8);
  for (std::size_t i = 0; i < 8; ++i) want[i] = std::exp(std::max(mmv[i] + bv[i % 4], 0.0));
  check_slot(model.output(), f32, {8}, want);
}

TEST_CASE("static graph: Model::run allocates nothing") {
  // A kernel with scratch (conv: im2col), an epilogue, a pool, a view, a gemm, a norm
  // with a broadcast scale (expanded into scratch), a softmax and fused loops.
  constexpr auto image = sg::input<"image", f32, 2, 3, 8, 8>();
  constexpr auto conv = sg::relu(sg::conv<relax::ConvAttrs{.pads = {1, 1, 1, 1}}>(
      image, sg::weight<"k", f32, 4, 3, 3, 3>(), sg::weight<"kb", f32, 4>()));
  constexpr auto pooled = sg::max_pool<relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}}>(conv);
  constexpr auto flat = sg::flatten(pooled);
  constexpr auto logits = sg::gemm<relax::GemmOpAttrs{.trans_b = true}>(flat, sg::weight<"fc", f32, 5, 64>(),
                                                                         sg::weight<"fcb", f32, 5>());
  constexpr auto normed = sg::apply<OpKind::layer_norm, relax::NormAttrs{}>(logits, sg::weight<"g", f32, 1>());
  constexpr auto out = sg::softmax(normed * sg::gelu(logits));
  using Net = decltype(sg::build(sg::inputs(image), out));
  const Tensor k = make_tensor({4, 3, 3, 3}, signed_values(108, 0.1f)), kb = make_tensor({4}, signed_values(4, 0.2f)),
               fc = make_tensor({5, 64}, signed_values(320, 0.3f, 0.2f)), fcb = make_tensor({5}, signed_values(5, 0.4f)),
               g = make_tensor<float>({1}, {1.5f});
  const auto bind_all = [&](sg::Model<Net>& m) {
    bind_ok(m, "k", k);
    bind_ok(m, "kb", kb);
    bind_ok(m, "fc", fc);
    bind_ok(m, "fcb", fcb);
    bind_ok(m, "g", g);
  };
  const std::array<Tensor, 1> first{make_tensor({2, 3, 8, 8}, signed_values(384, 0.5f))};
  const Tensor second = make_tensor({2, 3, 8, 8}, signed_values(384, 1.5f));
  ThreadPool pool(3);
  std::vector<double> results[2];
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    INFO((p == nullptr ? "without a pool" : "on a pool of 3 threads"));
    auto model = make_model<Net>(p);
    CHECK(model.scratch_bytes() > 0);
    bind_all(model);
    {
      test::CountAllocations count;  // the first run after create
      const Status s = model.run(first);
      CHECK(s.ok());
      CHECK(count.count() == 0);
    }
    const std::vector<double> after_first = values_of(model.output());
    {
      test::CountAllocations count;  // the initializer-list overload
      const Status s = model.run({second});
      CHECK(s.ok());
      CHECK(count.count() == 0);
    }
    CHECK(values_of(model.output()) != after_first);
    double sum = 0.0;
    for (double v : values_of(model.output())) sum += v;
    CHECK(sum == doctest::Approx(2.0).epsilon(1e-5));  // two rows of probabilities
    results[p == nullptr ? 0 : 1] = after_first;

    // Two models of one graph are independent.
    auto other = make_model<Net>(p);
    bind_all(other);
    REQUIRE(other.run(first).ok());
    CHECK(values_of(other.output()) == after_first);
    CHECK(other.output().data != model.output().data);
  }
  REQUIRE(results[0].size() == results[1].size());
  for (std::size_t i = 0; i < results[0].size(); ++i) CHECK(results[1][i] == doctest::Approx(results[0][i]));
}

TEST_CASE("static graph: a model reports wrong inputs, unbound and unknown weights clearly") {
  constexpr auto x = sg::input<"x", f32, 2, 3>();
  constexpr auto w = sg::weight<"w", f32, 3, 4>();
  constexpr auto b = sg::weight<"b", f32, 4>();
  using Net = decltype(sg::build(sg::inputs(x), sg::relu(sg::matmul(x, w) + b)));
  auto model = make_model<Net>();
  const Tensor good = make_tensor({2, 3}, signed_values(6, 0.1f));

  // A weight not bound yet.
  const Status unbound = model.run({good});
  CHECK(unbound.code() == StatusCode::invalid_argument);
  CHECK(unbound.message() == "static graph: weight 'w' is not bound");

  // A name the graph does not have.
  const Status unknown = model.bind("bias", make_tensor({4}, signed_values(4, 0.1f)));
  CHECK(unknown.code() == StatusCode::not_found);
  CHECK(unknown.message() == "static graph: no weight named 'bias' (its weights: w, b)");
  // An input is not a weight.
  CHECK(model.bind("x", good).code() == StatusCode::not_found);

  // A weight of the wrong shape or dtype.
  const Status shape = model.bind("w", make_tensor({4, 3}, signed_values(12, 0.1f)));
  CHECK(shape.code() == StatusCode::shape_mismatch);
  CHECK(shape.message() == "weight 'w': expected f32[3, 4], given f32[4, 3]");
  const Status dtype = model.bind("b", make_tensor<std::int32_t>({4}, {1, 2, 3, 4}));
  CHECK(dtype.code() == StatusCode::shape_mismatch);
  CHECK(dtype.message() == "weight 'b': expected f32[4], given i32[4]");

  bind_ok(model, "w", make_tensor({3, 4}, signed_values(12, 0.1f)));
  const Status still = model.run({good});
  CHECK(still.message() == "static graph: weight 'b' is not bound");
  bind_ok(model, "b", make_tensor({4}, signed_values(4, 0.1f)));
  run_ok(model, {good});

  // Inputs: their number, shape, dtype, definedness and layout.
  const Status none = model.run(std::span<const Tensor>{});
  CHECK(none.code() == StatusCode::invalid_argument);
  CHECK(none.message() == "static graph: takes 1 inputs, given 0");
  const Status two = model.run({good, good});
  CHECK(contains(two.message(), "takes 1 inputs, given 2"));
  const Status wrong_shape = model.run({make_tensor({3, 2}, signed_values(6, 0.1f))});
  CHECK(wrong_shape.code() == StatusCode::shape_mismatch);
  CHECK(wrong_shape.message() == "input 'x': expected f32[2, 3], given f32[3, 2]");
  const Status wrong_rank = model.run({make_tensor({6}, signed_values(6, 0.1f))});
  CHECK(wrong_rank.message() == "input 'x': expected f32[2, 3], given f32[6]");
  const Status wrong_dtype = model.run({make_tensor<std::int64_t>({2, 3}, {1, 2, 3, 4, 5, 6})});
  CHECK(wrong_dtype.code() == StatusCode::shape_mismatch);
  CHECK(wrong_dtype.message() == "input 'x': expected f32[2, 3], given i64[2, 3]");
  const Status undefined = model.run({Tensor()});
  CHECK(undefined.message() == "input 'x': expected f32[2, 3], given an undefined tensor");
  std::vector<float> storage = signed_values(6, 0.1f);
  const std::int64_t dims[] = {2, 3}, strides[] = {1, 2};
  Result<Tensor> strided = Tensor::borrow(storage.data(), f32, dims, strides);
  REQUIRE(strided.ok());
  const Status layout = model.run({*strided});
  CHECK(layout.code() == StatusCode::invalid_argument);
  CHECK(layout.message() == "input 'x': the tensor must be contiguous");
  // After the errors, a good run still works.
  run_ok(model, {good});
}

TEST_CASE("static graph: split gives one slice per size along an axis") {
  constexpr auto x = sg::input<"x", f32, 3, 7, 2>();
  constexpr auto parts = sg::split<1, 2, 0, 5>(x);
  constexpr auto rows = sg::split<-3, 1, 2>(x);
  using Net = decltype(sg::build(sg::inputs(x), std::get<0>(parts), std::get<1>(parts), std::get<2>(parts),
                                 std::get<0>(rows), std::get<1>(rows)));
  const std::vector<float> xv = signed_values(42, 0.4f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({3, 7, 2}, xv)});
  // Elements [b, begin..end, c] of x, in order.
  const auto columns = [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> want;
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t j = begin; j < end; ++j)
        for (std::int64_t c = 0; c < 2; ++c) want.push_back(xv[static_cast<std::size_t>((b * 7 + j) * 2 + c)]);
    return want;
  };
  check_slot(model.output(0), f32, {3, 2, 2}, columns(0, 2), 0.0);
  check_slot(model.output(1), f32, {3, 0, 2}, {}, 0.0);
  check_slot(model.output(2), f32, {3, 5, 2}, columns(2, 7), 0.0);
  check_slot(model.output(3), f32, {1, 7, 2}, std::vector<double>(xv.begin(), xv.begin() + 14), 0.0);
  check_slot(model.output(4), f32, {2, 7, 2}, std::vector<double>(xv.begin() + 14, xv.end()), 0.0);
}

TEST_CASE("static graph: topk gives values and indices from one kernel call") {
  constexpr auto x = sg::input<"x", f32, 3, 7>();
  constexpr auto largest = sg::topk<sg::TopKAttrs{.k = 3, .axis = -1}>(x);
  constexpr auto smallest = sg::topk<sg::TopKAttrs{.k = 2, .axis = 0, .largest = false}>(x);
  // Only the indices of the smallest are named: its values still have their place in the
  // node's buffer. The largest values feed a fused loop.
  using Net = decltype(sg::build(sg::inputs(x), sg::relu(std::get<0>(largest)), std::get<1>(largest),
                                 std::get<1>(smallest)));
  const std::vector<float> xv = {0.5f, -1.0f, 2.0f, 2.0f, 0.0f, 7.0f, -3.0f,   // ties: lower index first
                                 1.0f, 1.5f,  -2.0f, 4.0f, 4.5f, -0.5f, 3.0f,  //
                                 -1.0f, 0.25f, 0.75f, 9.0f, -4.0f, 6.0f, 5.0f};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({3, 7}, xv)});
  // Per row, the 3 largest in descending order, ties to the lower index.
  std::vector<double> values, indices;
  for (int r = 0; r < 3; ++r) {
    std::vector<int> order(7);
    for (int j = 0; j < 7; ++j) order[static_cast<std::size_t>(j)] = j;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return xv[static_cast<std::size_t>(r * 7 + a)] > xv[static_cast<std::size_t>(r * 7 + b)];
    });
    for (int j = 0; j < 3; ++j) {
      values.push_back(std::max(0.0f, xv[static_cast<std::size_t>(r * 7 + order[static_cast<std::size_t>(j)])]));
      indices.push_back(order[static_cast<std::size_t>(j)]);
    }
  }
  check_slot(model.output(0), f32, {3, 3}, values, 0.0);
  check_slot(model.output(1), DType::i64, {3, 3}, indices, 0.0);
  // Per column, the rows of the 2 smallest, ascending.
  std::vector<double> rows(14);
  for (int c = 0; c < 7; ++c) {
    std::vector<int> order = {0, 1, 2};
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return xv[static_cast<std::size_t>(a * 7 + c)] < xv[static_cast<std::size_t>(b * 7 + c)];
    });
    rows[static_cast<std::size_t>(c)] = order[0];
    rows[static_cast<std::size_t>(7 + c)] = order[1];
  }
  check_slot(model.output(2), DType::i64, {2, 7}, rows, 0.0);
  const std::string plan = Net::to_string();
  CHECK(contains(plan, "= topk(%1) : i64[3, 3]  # output 1 of %1"));
}

TEST_CASE("static graph: shape_of gives the dims as an i64 tensor") {
  constexpr auto x = sg::input<"x", f32, 3, 7, 2, 5>();
  using Net = decltype(sg::build(sg::inputs(x), sg::shape_of(x), sg::shape_of<1, -1>(x), sg::shape_of<-2>(x)));
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({3, 7, 2, 5}, signed_values(210, 0.2f))});
  check_slot(model.output(0), DType::i64, {4}, {3, 7, 2, 5}, 0.0);
  check_slot(model.output(1), DType::i64, {2}, {7, 2}, 0.0);
  check_slot(model.output(2), DType::i64, {2}, {2, 5}, 0.0);
}

TEST_CASE("static graph: resize by scales and by sizes") {
  constexpr auto x = sg::input<"x", f32, 1, 2, 2, 3>();
  constexpr auto row = sg::input<"row", f32, 1, 4>();
  using relax::ResizeCoordinates;
  using relax::ResizeMode;
  using relax::ResizeRounding;
  using Net = decltype(sg::build(
      sg::inputs(x, row),
      sg::resize<sg::ResizeAttrs{.scales = {1.0, 1.0, 2.0, 3.0},
                                 .coordinates = ResizeCoordinates::asymmetric,
                                 .nearest_rounding = ResizeRounding::floor}>(x),
      sg::resize<sg::ResizeAttrs{.sizes = {7}, .axes = {1}, .mode = ResizeMode::linear,
                                 .coordinates = ResizeCoordinates::align_corners}>(row)));
  const std::vector<float> xv = signed_values(12, 0.3f), rv = {1.0f, 3.0f, -2.0f, 5.0f};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({1, 2, 2, 3}, xv), make_tensor({1, 4}, rv)});
  // Nearest, asymmetric, floor: out[c, i, j] = x[c, i / 2, j / 3].
  std::vector<double> nearest;
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 9; ++j) nearest.push_back(xv[static_cast<std::size_t>((c * 2 + i / 2) * 3 + j / 3)]);
  check_slot(model.output(0), f32, {1, 2, 4, 9}, nearest, 0.0);
  // Linear, align_corners, 4 -> 7: output j samples input position j * 3 / 6.
  std::vector<double> linear;
  for (int j = 0; j < 7; ++j) {
    const double at_x = j * 0.5;
    const int lo = static_cast<int>(at_x);
    const int hi = std::min(lo + 1, 3);
    const double t = at_x - lo;
    linear.push_back((1.0 - t) * rv[static_cast<std::size_t>(lo)] + t * rv[static_cast<std::size_t>(hi)]);
  }
  check_slot(model.output(1), f32, {1, 7}, linear, 1e-6);
}
