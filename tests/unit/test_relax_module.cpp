#include <doctest/doctest.h>

#include <kiln/relax/bind_shapes.hpp>
#include <kiln/relax/builder.hpp>
#include <kiln/relax/module.hpp>
#include <kiln/relax/passes/fuse_ops.hpp>
#include <kiln/relax/passes/pass_manager.hpp>
#include <kiln/relax/printer.hpp>
#include <kiln/relax/reference_eval.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

using namespace kiln;
using namespace kiln::relax;

namespace {

const SymDim batch = sym("batch");
const SymDim seq = sym("seq");

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

// A constant with every element `value` (distinct values keep CSE from merging weights).
Tensor filled(DType dtype, std::initializer_list<std::int64_t> dims, double value) {
  Result<Tensor> t = Tensor::empty(dtype, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i) relax::detail::store_real(*t, i, value);
  return *t;
}
Tensor scalar(float value) { return filled(DType::f32, {}, value); }
Tensor i64s(std::initializer_list<std::int64_t> values) {
  const std::int64_t n = static_cast<std::int64_t>(values.size());
  Result<Tensor> t = Tensor::from_values(std::span<const std::int64_t>(&n, 1),
                                         std::span<const std::int64_t>(values.begin(), values.size()));
  REQUIRE(t.ok());
  return *t;
}

Module finished(Builder& b, std::initializer_list<Var> outputs) {
  Result<Module> m = b.finish(outputs);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  REQUIRE_MESSAGE(verify(*m).ok(), verify(*m).to_string());
  return std::move(*m);
}

// The module after one pass, checked to still verify.
template <class Pass>
std::string after(Module& m, Pass pass) {
  REQUIRE(pass(m).ok());
  const Status check = verify(m);
  REQUIRE_MESSAGE(check.ok(), check.to_string());
  return to_string(m);
}

std::vector<std::int64_t> elements_of(const Tensor& t) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < t.numel(); ++i) out.push_back(relax::detail::load_int(t, i));
  return out;
}

} // namespace

// ---- the op table ---------------------------------------------------------------------------

TEST_CASE("Every op has a name that parses back to it") {
  for (int i = 0; i < kOpCount; ++i) {
    const auto op = static_cast<OpKind>(i);
    CAPTURE(i);
    REQUIRE(!to_string(op).empty());
    CHECK(parse_op(to_string(op)) == op);
    CHECK(attrs_fit(op, default_attrs(op)));
  }
  CHECK_FALSE(parse_op("no_such_op").has_value());
  CHECK(is_control_flow(OpKind::loop));
  CHECK_FALSE(is_pure(OpKind::call_kernel));
}

// ---- the builder ----------------------------------------------------------------------------

TEST_CASE("Builder infers every output type as it goes") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 3, 224, 224}));
  const Var w = b.constant(filled(DType::f32, {64, 3, 7, 7}, 0.5));
  const Var y = b.relu(b.conv2d(x, w, ConvAttrs{.strides = {2, 2}, .pads = {3, 3, 3, 3}}));
  REQUIRE(b.ok());
  CHECK(b.type(y) == TensorType(DType::f32, {batch, 64, 112, 112}));
  const Var p = b.max_pool(y, PoolAttrs{.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
  CHECK(b.type(p) == TensorType(DType::f32, {batch, 64, 56, 56}));
  const Var s = b.shape_of(p);
  CHECK(b.type(s) == TensorType(DType::i64, {4}));
  // The elements of shape_of are known symbolically, so a reshape by it has a symbolic type.
  const Var flat = b.reshape(p, b.concat({b.gather(s, b.constant(i64s({0}))), b.constant(i64s({-1}))}, 0));
  CHECK(b.type(flat) == TensorType(DType::f32, {batch, 64 * 56 * 56}));
  const std::vector<Var> halves = b.split(flat, SplitAttrs{.axis = 1, .num_outputs = 2});
  REQUIRE(halves.size() == 2);
  CHECK(b.type(halves[1]) == TensorType(DType::f32, {batch, 32 * 56 * 56}));
  const Var top = b.argmax(halves[0], 1, false);
  CHECK(b.type(top) == TensorType(DType::i64, {batch}));
  Module m = finished(b, {top});
  CHECK(m.main().symbols.size() == 1);
  CHECK(m.main().binding_count() == 9);
}

TEST_CASE("Builder keeps the first error, names the binding and op, and ignores later calls") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 64}));
  const Var w = b.input("w", TensorType(DType::f32, {32, 16}));
  const Var h = b.relu(x);                                  // %0
  const Var bad = b.matmul(h, w);                           // %1: 64 against 32
  CHECK_FALSE(bad.valid());
  CHECK_FALSE(b.ok());
  const Var later = b.softmax(b.reshape(x, {batch, 3}));  // would fail differently; ignored
  CHECK_FALSE(later.valid());
  Result<Module> m = b.finish({h});
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == StatusCode::shape_mismatch);
  CHECK_MESSAGE(m.status().message().rfind("%1: matmul: inner dimensions 64 and 32 differ", 0) == 0,
                m.status().message());
}

TEST_CASE("Builder reports wrong inputs, attributes and outputs with clear messages") {
  SUBCASE("a duplicated input name") {
    Builder b;
    b.input("x", TensorType(DType::f32, {2}));
    b.input("x", TensorType(DType::f32, {3}));
    CHECK(b.status().message() == "input x: the name is already taken");
  }
  SUBCASE("too many inputs for an op") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {2}));
    b.emit(OpKind::relu, {x, x});
    CHECK(b.status().message() == "%0: relu: takes 1 input, given 2");
  }
  SUBCASE("the attributes of another op") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {2, 3}));
    b.emit(OpKind::softmax, {x}, CastAttrs{DType::f16});
    CHECK(b.status().message() == "%0: softmax: given the attributes of another op");
  }
  SUBCASE("a dtype the op does not take") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::i32, {2, 3}));
    b.exp(x);
    CHECK(b.status().code() == StatusCode::dtype_mismatch);
    CHECK(contains(b.status().message(), "%0: exp:"));
  }
  SUBCASE("conv2d on a rank-3 input") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {1, 3, 8}));
    const Var w = b.input("w", TensorType(DType::f32, {4, 3, 3}));
    b.conv2d(x, w);
    CHECK(b.status().message() == "%0: conv2d: input must have rank 4, got f32[1, 3, 8]");
  }
  SUBCASE("a reshape target computed from run-time data") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {6}));
    const Var shape = b.input("shape", TensorType(DType::i64, {2}));
    b.reshape(x, shape);
    CHECK(b.status().code() == StatusCode::unsupported);
    CHECK(contains(b.status().message(), "must be known at load time"));
  }
  SUBCASE("an output from another builder") {
    Builder other;
    other.input("a", TensorType(DType::f32, {1}));
    const Var foreign = other.relu(other.relu(other.relu(Var{0})));
    Builder b;
    b.input("x", TensorType(DType::f32, {1}));
    Result<Module> m = b.finish({foreign});
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message() == "finish: an output is not a value of this builder");
  }
}

TEST_CASE("A user kernel is called by name with declared output types") {
  Builder b;
  const Var a = b.input("a", TensorType(DType::f32, {batch, 128}));
  const Var w = b.constant(filled(DType::f32, {128, 256}, 1.0));
  const std::vector<Var> out = b.call_kernel("my_gemm", std::vector<Var>{a, w}, {TensorType(DType::f32, {batch, 256})});
  REQUIRE(out.size() == 1);
  const Var unused = b.relu(a);
  (void)unused;
  Module m = finished(b, {b.relu(out[0])});
  CHECK(contains(to_string(m), "%0 = relax.call_kernel(%a, %c0, kernel=\"my_gemm\") : f32[batch, 256]"));
  // Dead code elimination keeps the (opaque) kernel call but drops the unused relu.
  REQUIRE(dead_code_elimination(m).ok());
  CHECK(m.main().binding_count() == 2);
  CHECK(contains(to_string(m), "relax.call_kernel"));
}

TEST_CASE("If and loop call sub-functions and check their types") {
  const TensorType vec(DType::f32, {batch, 8});
  const auto branch = [&](std::string name, OpKind op) {
    Builder sub(std::move(name));
    const Var v = sub.input("v", vec);
    return finished(sub, {sub.unary(op, v)});
  };
  Builder b;
  const Var x = b.input("x", vec);
  const Var c = b.input("c", TensorType(DType::boolean, {}));
  const Var y = b.relu(x);
  const std::vector<Var> chosen =
      b.if_then_else(c, branch("then", OpKind::relu), branch("else", OpKind::neg), std::vector<Var>{y});
  REQUIRE(chosen.size() == 1);
  CHECK(b.type(chosen[0]) == vec);

  Builder body("body");
  body.input("i", TensorType(DType::i64, {}));
  const Var carried = body.input("acc", vec);
  Module body_module = finished(body, {body.add(carried, carried)});
  const Var n = b.input("n", TensorType(DType::i64, {}));
  const std::vector<Var> looped = b.loop(n, body_module, std::vector<Var>{chosen[0]});
  REQUIRE(looped.size() == 1);
  Module m = finished(b, {b.sigmoid(looped[0])});
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 8], %c: bool[], %n: i64[]) -> f32[batch, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[batch, 8]\n"
        "  }\n"
        "  %1 = relax.if(%c, %0, then=@then, else=@else) : f32[batch, 8]\n"
        "  %2 = relax.loop(%n, %1, body=@body) : f32[batch, 8]\n"
        "  dataflow {\n"
        "    %3 = relax.sigmoid(%2) : f32[batch, 8]\n"
        "  }\n"
        "  return %3\n"
        "}\n"
        "\n"
        "function @then(%v: f32[batch, 8]) -> f32[batch, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%v) : f32[batch, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n"
        "\n"
        "function @else(%v: f32[batch, 8]) -> f32[batch, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.neg(%v) : f32[batch, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n"
        "\n"
        "function @body(%i: i64[], %acc: f32[batch, 8]) -> f32[batch, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.add(%acc, %acc) : f32[batch, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n");

  SUBCASE("branches that disagree") {
    Builder bad;
    const Var v = bad.input("v", vec);
    const Var cond = bad.input("c", TensorType(DType::boolean, {1}));
    Builder other("other");
    const Var o = other.input("v", vec);
    Module wider = finished(other, {other.concat({o, o}, 1)});
    bad.if_then_else(cond, branch("then", OpKind::relu), std::move(wider), std::vector<Var>{v});
    CHECK(bad.status().message() == "%0: if: output 0 is f32[batch, 8] in one branch and f32[batch, 16] in the other");
  }
  SUBCASE("a loop body that changes a carried type") {
    Builder bad;
    const Var v = bad.input("v", vec);
    const Var trips = bad.input("n", TensorType(DType::i64, {}));
    Builder grow("grow");
    grow.input("i", TensorType(DType::i64, {}));
    const Var acc = grow.input("acc", vec);
    bad.loop(trips, finished(grow, {grow.concat({acc, acc}, 0)}), std::vector<Var>{v});
    CHECK(bad.status().message() == "%0: loop: carried value 0 changes from f32[batch, 8] to f32[2*batch, 8] in the body");
  }
}

// ---- the printer ----------------------------------------------------------------------------

TEST_CASE("Printer shows a CNN block") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 3, 32, 32}));
  const Var w = b.constant(filled(DType::f32, {16, 3, 3, 3}, 0.1));
  const Var bias = b.constant(filled(DType::f32, {16}, 0.0));
  Var y = b.relu(b.conv2d(x, w, ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}}, bias));
  y = b.max_pool(y, PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}});
  y = b.flatten(b.global_average_pool(y));
  const Module m = finished(b, {y});
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 3, 32, 32]) -> f32[batch, 16] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[16, 3, 3, 3]\n"
        "  %c1 = constant f32[16]\n"
        "  dataflow {\n"
        "    %0 = relax.conv(%x, %c0, %c1, strides=[2, 2], pads=[1, 1, 1, 1]) : f32[batch, 16, 16, 16]\n"
        "    %1 = relax.relu(%0) : f32[batch, 16, 16, 16]\n"
        "    %2 = relax.max_pool(%1, kernel=[2, 2], strides=[2, 2]) : f32[batch, 16, 8, 8]\n"
        "    %3 = relax.global_average_pool(%2) : f32[batch, 16, 1, 1]\n"
        "    %4 = relax.flatten(%3, axis=1) : f32[batch, 16]\n"
        "  }\n"
        "  return %4\n"
        "}\n");
}

namespace {

// A transformer block: multi-head self-attention over [batch, seq, 64] with 4 heads of 16,
// a residual connection and a layer norm.
Module transformer_block() {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, seq, 64}));
  const Var wq = b.constant(filled(DType::f32, {64, 64}, 0.1));
  const Var wk = b.constant(filled(DType::f32, {64, 64}, 0.2));
  const Var wv = b.constant(filled(DType::f32, {64, 64}, 0.3));
  const Var gamma = b.constant(filled(DType::f32, {64}, 1.0));
  const auto heads = [&](Var v) { return b.transpose(b.reshape(v, {batch, seq, 4, 16}), {0, 2, 1, 3}); };
  const Var q = heads(b.matmul(x, wq));
  const Var k = heads(b.matmul(x, wk));
  const Var v = heads(b.matmul(x, wv));
  const Var attended = b.attention(q, k, v);
  const Var merged = b.reshape(b.transpose(attended, {0, 2, 1, 3}), {batch, seq, 64});
  return finished(b, {b.layer_norm(b.add(x, merged), gamma)});
}

} // namespace

TEST_CASE("Printer shows a transformer block") {
  CHECK(to_string(transformer_block()) ==
        "function @main(%x: f32[batch, seq, 64]) -> f32[batch, seq, 64] {\n"
        "  symbols batch, seq\n"
        "  %c0 = constant f32[64, 64]\n"
        "  %c1 = constant f32[64, 64]\n"
        "  %c2 = constant f32[64, 64]\n"
        "  %c3 = constant f32[64]\n"
        "  dataflow {\n"
        "    %0 = relax.matmul(%x, %c0) : f32[batch, seq, 64]\n"
        "    %1 = relax.reshape(%0, shape=[batch, seq, 4, 16]) : f32[batch, seq, 4, 16]\n"
        "    %2 = relax.transpose(%1, perm=[0, 2, 1, 3]) : f32[batch, 4, seq, 16]\n"
        "    %3 = relax.matmul(%x, %c1) : f32[batch, seq, 64]\n"
        "    %4 = relax.reshape(%3, shape=[batch, seq, 4, 16]) : f32[batch, seq, 4, 16]\n"
        "    %5 = relax.transpose(%4, perm=[0, 2, 1, 3]) : f32[batch, 4, seq, 16]\n"
        "    %6 = relax.matmul(%x, %c2) : f32[batch, seq, 64]\n"
        "    %7 = relax.reshape(%6, shape=[batch, seq, 4, 16]) : f32[batch, seq, 4, 16]\n"
        "    %8 = relax.transpose(%7, perm=[0, 2, 1, 3]) : f32[batch, 4, seq, 16]\n"
        "    %9 = relax.attention(%2, %5, %8) : f32[batch, 4, seq, 16]\n"
        "    %10 = relax.transpose(%9, perm=[0, 2, 1, 3]) : f32[batch, seq, 4, 16]\n"
        "    %11 = relax.reshape(%10, shape=[batch, seq, 64]) : f32[batch, seq, 64]\n"
        "    %12 = relax.add(%x, %11) : f32[batch, seq, 64]\n"
        "    %13 = relax.layer_norm(%12, %c3, epsilon=1e-05) : f32[batch, seq, 64]\n"
        "  }\n"
        "  return %13\n"
        "}\n");
}

TEST_CASE("Printer shows small constants' elements and multi-output bindings") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {4, 6}));
  const std::vector<Var> parts = b.split(x, SplitAttrs{.axis = 1, .sizes = {2, 4}});
  const Var shape = b.constant(i64s({4, 1, 2}));
  const Var y = b.reshape(parts[0], shape);
  const Module m = finished(b, {y, parts[1]});
  CHECK(to_string(m) ==
        "function @main(%x: f32[4, 6]) -> (f32[4, 1, 2], f32[4, 4]) {\n"
        "  %c0 = constant i64[3] [4, 1, 2]\n"
        "  dataflow {\n"
        "    %0, %1 = relax.split(%x, axis=1, sizes=[2, 4]) : (f32[4, 2], f32[4, 4])\n"
        "    %2 = relax.reshape(%0, %c0) : f32[4, 1, 2]\n"
        "  }\n"
        "  return %2, %1\n"
        "}\n");
}

// ---- passes ---------------------------------------------------------------------------------

TEST_CASE("Common subexpression elimination merges duplicate matmuls") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 64}));
  const Var w = b.constant(filled(DType::f32, {64, 32}, 0.5));
  const Var w_again = b.constant(filled(DType::f32, {64, 32}, 0.5));  // same bytes: merges too
  const Var other = b.constant(filled(DType::f32, {64, 32}, 0.25));
  const Var a = b.matmul(x, w);
  const Var a2 = b.matmul(x, w_again);
  const Var c = b.matmul(x, other);
  const Var s1 = b.softmax(b.add(a, a2), -1);
  const Var s2 = b.emit(OpKind::softmax, {b.add(a, a2)});  // default axis -1 is the same attribute
  Module m = finished(b, {b.add(b.add(s1, s2), c)});
  CHECK(after(m, common_subexpression_elimination) ==
        "function @main(%x: f32[batch, 64]) -> f32[batch, 32] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[64, 32]\n"
        "  %c1 = constant f32[64, 32]\n"
        "  dataflow {\n"
        "    %0 = relax.matmul(%x, %c0) : f32[batch, 32]\n"
        "    %1 = relax.matmul(%x, %c1) : f32[batch, 32]\n"
        "    %2 = relax.add(%0, %0) : f32[batch, 32]\n"
        "    %3 = relax.softmax(%2, axis=-1) : f32[batch, 32]\n"
        "    %4 = relax.add(%3, %3) : f32[batch, 32]\n"
        "    %5 = relax.add(%4, %1) : f32[batch, 32]\n"
        "  }\n"
        "  return %5\n"
        "}\n");
  // The constants left are the merged one and the one that differs.
  CHECK(m.main().constants[0].at<float>(0, 0) == 0.5f);
  CHECK(m.main().constants[1].at<float>(0, 0) == 0.25f);
}

TEST_CASE("Common subexpression elimination keeps different attributes apart") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {2, 3}));
  const Var s0 = b.softmax(x, 0);
  const Var s1 = b.softmax(x, 1);
  Module m = finished(b, {b.add(s0, s1)});
  REQUIRE(common_subexpression_elimination(m).ok());
  CHECK(m.main().binding_count() == 3);
}

TEST_CASE("Dead code elimination removes what no output uses") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 8}));
  const Var unused_weight = b.constant(filled(DType::f32, {8, 8}, 2.0));
  const Var dead = b.matmul(x, unused_weight);
  b.relu(dead);
  const Var y = b.sigmoid(x);
  Module m = finished(b, {y});
  CHECK(m.main().binding_count() == 3);
  CHECK(after(m, dead_code_elimination) ==
        "function @main(%x: f32[batch, 8]) -> f32[batch, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.sigmoid(%x) : f32[batch, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n");
  CHECK(m.main().constants.empty());
}

TEST_CASE("Canonicalization removes x*1, x+0 and a double transpose with inverse perms") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 4, 8}));
  const Var one = b.constant(scalar(1.0f));
  const Var zero = b.constant(scalar(0.0f));
  const Var scaled = b.multiply(x, one);
  const Var shifted = b.add(zero, scaled);
  const Var t = b.transpose(b.transpose(shifted, {1, 2, 0}), {2, 0, 1});  // inverse perms
  Module m = finished(b, {b.relu(t)});
  CHECK(after(m, [](Module& mod) { return canonicalize(mod); }) ==
        "function @main(%x: f32[batch, 4, 8]) -> f32[batch, 4, 8] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[] [1]\n"
        "  %c1 = constant f32[] [0]\n"
        "  dataflow {\n"
        "    %0 = relax.transpose(%x, perm=[1, 2, 0]) : f32[4, 8, batch]\n"
        "    %1 = relax.relu(%x) : f32[batch, 4, 8]\n"
        "  }\n"
        "  return %1\n"
        "}\n");
  CHECK(after(m, dead_code_elimination) ==
        "function @main(%x: f32[batch, 4, 8]) -> f32[batch, 4, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[batch, 4, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n");
}

TEST_CASE("Canonicalization keeps work that does something") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {1, 8}));
  const Var two = b.constant(scalar(2.0f));
  const Var one = b.constant(filled(DType::f32, {1, 1, 1}, 1.0));
  const Var doubled = b.multiply(x, two);   // not 1
  const Var widened = b.multiply(x, one);   // 1, but broadcasting adds a dim: [1, 1, 8]
  // Inverse perms cancel; others compose: out[i] = x[p[q[i]]].
  const Var moved = b.transpose(b.transpose(doubled, {1, 0}), {1, 0});
  const Var cube = b.reshape(widened, {2, 2, 2});
  const Var still = b.transpose(b.transpose(cube, {1, 0, 2}), {0, 2, 1});
  Module m = finished(b, {moved, still});
  CHECK(after(m, [](Module& mod) { return canonicalize(mod); }) ==
        "function @main(%x: f32[1, 8]) -> (f32[1, 8], f32[2, 2, 2]) {\n"
        "  %c0 = constant f32[] [2]\n"
        "  %c1 = constant f32[1, 1, 1] [1]\n"
        "  dataflow {\n"
        "    %0 = relax.multiply(%x, %c0) : f32[1, 8]\n"
        "    %1 = relax.multiply(%x, %c1) : f32[1, 1, 8]\n"
        "    %2 = relax.transpose(%0, perm=[1, 0]) : f32[8, 1]\n"
        "    %3 = relax.reshape(%1, shape=[2, 2, 2]) : f32[2, 2, 2]\n"
        "    %4 = relax.transpose(%3, perm=[1, 0, 2]) : f32[2, 2, 2]\n"
        "    %5 = relax.transpose(%3, perm=[1, 2, 0]) : f32[2, 2, 2]\n"
        "  }\n"
        "  return %0, %5\n"
        "}\n");
}

TEST_CASE("Canonicalization merges reshapes of reshapes and drops no-op casts") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 6, 4}));
  const Var r = b.reshape(b.flatten(x, 1), {batch, 3, 8});
  const Var same = b.cast(r, DType::f32);
  const Var back = b.reshape(b.unsqueeze(same, {0}), {batch, 6, 4});  // back to x's shape
  Module m = finished(b, {b.add(same, same), back});
  const std::string text = after(m, [](Module& mod) { return canonicalize(mod); });
  CHECK(contains(text, "relax.reshape(%x, shape=[batch, 3, 8]) : f32[batch, 3, 8]"));
  CHECK_FALSE(contains(text, "relax.cast(%1, to=f32)"));
  CHECK(contains(text, "return %3, %x"));
  REQUIRE(dead_code_elimination(m).ok());
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 6, 4]) -> (f32[batch, 3, 8], f32[batch, 6, 4]) {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.reshape(%x, shape=[batch, 3, 8]) : f32[batch, 3, 8]\n"
        "    %1 = relax.add(%0, %0) : f32[batch, 3, 8]\n"
        "  }\n"
        "  return %1, %x\n"
        "}\n");
}

namespace {

// x.reshape(x.shape[0], -1) as an exporter writes it: shape_of -> gather -> concat -> reshape.
Module flatten_by_shape_chain(const SymDim& n) {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {n, 16, 4, 4}));
  const Var y = b.relu(x);
  const Var shape = b.shape_of(y);
  const Var first = b.gather(shape, b.constant(i64s({0})));
  const Var target = b.concat({first, b.constant(i64s({-1}))}, 0);
  return finished(b, {b.reshape(y, target)});
}

} // namespace

TEST_CASE("Constant folding turns a static shape computation into a static reshape") {
  Module m = flatten_by_shape_chain(2);
  CHECK(to_string(m) ==
        "function @main(%x: f32[2, 16, 4, 4]) -> f32[2, 256] {\n"
        "  %c0 = constant i64[1] [0]\n"
        "  %c1 = constant i64[1] [-1]\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[2, 16, 4, 4]\n"
        "    %1 = relax.shape_of(%0) : i64[4]\n"
        "    %2 = relax.gather(%1, %c0, axis=0) : i64[1]\n"
        "    %3 = relax.concat(%2, %c1, axis=0) : i64[2]\n"
        "    %4 = relax.reshape(%0, %3) : f32[2, 256]\n"
        "  }\n"
        "  return %4\n"
        "}\n");
  // shape_of folds to [2, 16, 4, 4], gather to [2], concat to [2, -1]; the reshape takes the
  // static target, and dead code elimination drops the chain.
  CHECK(after(m, [](Module& mod) { return fold_constants(mod); }) ==
        "function @main(%x: f32[2, 16, 4, 4]) -> f32[2, 256] {\n"
        "  %c0 = constant i64[1] [0]\n"
        "  %c1 = constant i64[1] [-1]\n"
        "  %c2 = constant i64[4] [2, 16, 4, 4]\n"
        "  %c3 = constant i64[1] [2]\n"
        "  %c4 = constant i64[2] [2, -1]\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[2, 16, 4, 4]\n"
        "    %1 = relax.reshape(%0, shape=[2, 256]) : f32[2, 256]\n"
        "  }\n"
        "  return %1\n"
        "}\n");
  CHECK(after(m, dead_code_elimination) ==
        "function @main(%x: f32[2, 16, 4, 4]) -> f32[2, 256] {\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[2, 16, 4, 4]\n"
        "    %1 = relax.reshape(%0, shape=[2, 256]) : f32[2, 256]\n"
        "  }\n"
        "  return %1\n"
        "}\n");
}

TEST_CASE("Shape simplification folds a symbolic shape computation into a symbolic reshape") {
  Module m = flatten_by_shape_chain(batch);
  // Constant folding cannot do this one: batch is not a number yet.
  REQUIRE(fold_constants(m).ok());
  CHECK(m.main().binding_count() == 5);
  REQUIRE(simplify_shapes(m).ok());
  REQUIRE(dead_code_elimination(m).ok());
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 16, 4, 4]) -> f32[batch, 256] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[batch, 16, 4, 4]\n"
        "    %1 = relax.reshape(%0, shape=[batch, 256]) : f32[batch, 256]\n"
        "  }\n"
        "  return %1\n"
        "}\n");
}

TEST_CASE("Shape simplification turns shape_of of known dims into a constant") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 3, 7}));
  const Var tail = b.slice(b.shape_of(x), SliceAttrs{.starts = {1}, .ends = {3}});
  const Var all = b.shape_of(x);
  Module m = finished(b, {tail, all});
  REQUIRE(simplify_shapes(m).ok());
  REQUIRE(fold_constants(m).ok());
  REQUIRE(dead_code_elimination(m).ok());
  // The slice of the symbolic shape is known to be [3, 7]; the whole shape is not static.
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 3, 7]) -> (i64[2], i64[3]) {\n"
        "  symbols batch\n"
        "  %c0 = constant i64[2] [3, 7]\n"
        "  dataflow {\n"
        "    %0 = relax.shape_of(%x) : i64[3]\n"
        "  }\n"
        "  return %c0, %0\n"
        "}\n");
}

TEST_CASE("Constant folding evaluates elementwise arithmetic and data movement") {
  Builder b;
  const Var a = b.constant(i64s({1, 2, 3, 4, 5, 6}));
  const Var grid = b.reshape(a, {2, 3});
  const Var t = b.transpose(grid);                                                // [[1, 4], [2, 5], [3, 6]]
  const Var doubled = b.multiply(t, b.constant(i64s({2})));                       // [[2, 8], [4, 10], [6, 12]]
  const Var rows = b.slice(doubled, SliceAttrs{.starts = {-1}, .ends = {-4}, .axes = {0}, .steps = {-2}});
  const Var picked = b.gather(rows, b.constant(i64s({1, 0, 1})), 1);            // rows 2 and 0, cols 1,0,1
  const Var quotient = b.divide(picked, b.constant(i64s({-3})));                // truncates
  const Var t_real = b.cast(t, DType::f32);
  const Var grid_real = b.cast(grid, DType::f32);
  const Var heavy = b.matmul(t_real, grid_real);  // its inputs fold; the matmul is left alone
  Module m = finished(b, {quotient, heavy});
  REQUIRE(fold_constants(m).ok());
  REQUIRE(dead_code_elimination(m).ok());
  const Function& fn = m.main();
  REQUIRE(fn.constant_of(fn.outputs[0]) != nullptr);
  const Tensor& q = *fn.constant_of(fn.outputs[0]);
  CHECK(q.dims()[0] == 2);
  CHECK(q.dims()[1] == 3);
  // rows = [[6, 12], [2, 8]]; picked = [[12, 6, 12], [8, 2, 8]]; / -3 truncated
  CHECK(elements_of(q) == std::vector<std::int64_t>{-4, -2, -4, -2, 0, -2});
  CHECK(fn.binding_count() == 1);
  CHECK(contains(to_string(m), "%0 = relax.matmul(%c1, %c2) : f32[3, 3]\n"));
  CHECK(contains(to_string(m), "return %c0, %0\n"));
  const Tensor& t_folded = *fn.constant_of(fn.blocks[0].bindings[0].inputs[0]);
  CHECK(t_folded.dtype() == DType::f32);
  CHECK(t_folded.at<float>(2, 1) == 6.0f);
}

TEST_CASE("Constant folding leaves an integer division by zero to the run time") {
  Builder b;
  const Var a = b.constant(i64s({4}));
  const Var z = b.constant(i64s({0}));
  Module m = finished(b, {b.divide(a, z)});
  REQUIRE(fold_constants(m).ok());
  CHECK(m.main().binding_count() == 1);
}

TEST_CASE("The reference evaluator computes floating-point elementwise ops with broadcasting") {
  const Tensor x = *Tensor::from_values<float>({2, 2}, {-1.0f, 0.0f, 2.0f, 4.0f});
  const Tensor row = *Tensor::from_values<float>({2}, {10.0f, 100.0f});
  const TensorType out(DType::f32, {2, 2});
  Result<std::vector<Tensor>> sum = evaluate_reference(OpKind::add, NoAttrs{}, std::vector<Tensor>{x, row},
                                                       std::span<const TensorType>(&out, 1));
  REQUIRE(sum.ok());
  const Tensor& s = sum->front();
  CHECK(s.at<float>(0, 0) == 9.0f);
  CHECK(s.at<float>(0, 1) == 100.0f);
  CHECK(s.at<float>(1, 0) == 12.0f);
  CHECK(s.at<float>(1, 1) == 104.0f);
  Result<std::vector<Tensor>> relu = evaluate_reference(OpKind::relu, NoAttrs{}, std::vector<Tensor>{x},
                                                        std::span<const TensorType>(&out, 1));
  REQUIRE(relu.ok());
  CHECK(relu->front().at<float>(0, 0) == 0.0f);
  CHECK(relu->front().at<float>(1, 1) == 4.0f);
  const TensorType mask(DType::boolean, {2, 2});
  Result<std::vector<Tensor>> less = evaluate_reference(OpKind::less, NoAttrs{}, std::vector<Tensor>{x, row},
                                                        std::span<const TensorType>(&mask, 1));
  REQUIRE(less.ok());
  CHECK(less->front().at<bool>(0, 0));
  Result<std::vector<Tensor>> conv = evaluate_reference(OpKind::conv, ConvAttrs{}, std::vector<Tensor>{x, x},
                                                        std::span<const TensorType>(&out, 1));
  CHECK(conv.status().code() == StatusCode::unsupported);
}

TEST_CASE("The pass manager runs passes in order and prints the module after each") {
  Module m = flatten_by_shape_chain(batch);
  PassManager pm = default_pipeline();
  std::string log;
  std::vector<std::string> order;
  pm.print_after_each(log);
  REQUIRE(pm.run(m).ok());
  for (const Pass& p : pm.passes()) order.push_back(p.name);
  CHECK(order == std::vector<std::string>{"fold_constants", "simplify_shapes", "canonicalize",
                                          "common_subexpression_elimination", "dead_code_elimination"});
  std::size_t at = 0;
  for (const std::string& name : order) {
    const std::size_t found = log.find("// after " + name + "\n", at);
    CHECK_MESSAGE(found != std::string::npos, name);
    at = found;
  }
  CHECK(log.substr(log.rfind("// after dead_code_elimination\n") + 31) == to_string(m));
  CHECK(m.main().binding_count() == 2);

  SUBCASE("a failing pass stops the pipeline and is named") {
    PassManager failing;
    int ran = 0;
    failing.add("first", [&](Module&) { ++ran; return make_error(StatusCode::internal, "broken"); })
        .add("second", [&](Module&) { ++ran; return Status(); });
    const Status s = failing.run(m);
    CHECK(s.message() == "pass first: broken");
    CHECK(ran == 1);
  }
  SUBCASE("a pass that breaks the module is caught") {
    PassManager breaking;
    breaking.add("swap", [](Module& mod) {
      std::swap(mod.main().blocks[0].bindings[0], mod.main().blocks[0].bindings[1]);
      return Status();
    });
    const Status s = breaking.run(m);
    CHECK(s.code() == StatusCode::internal);
    CHECK(contains(s.message(), "pass swap left an invalid module"));
    CHECK(contains(s.message(), "before it is defined"));
  }
}

TEST_CASE("The default pipeline leaves a transformer block without redundancy as it was") {
  Module m = transformer_block();
  const std::string before = to_string(m);
  REQUIRE(default_pipeline().run(m).ok());
  CHECK(to_string(m) == before);
}

// ---- shape binding --------------------------------------------------------------------------

TEST_CASE("bind_shapes binds symbols and computes every value's shape") {
  const Module m = transformer_block();
  const Function& fn = m.main();
  for (const auto& [b, s] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 1}, {2, 128}, {8, 7}, {3, 512}}) {
    const std::int64_t batch_size = b;
    const std::int64_t seq_len = s;
    CAPTURE(batch_size);
    CAPTURE(seq_len);
    Result<BoundShapes> bound = bind_shapes(fn, {{"x", {batch_size, seq_len, 64}}});
    REQUIRE_MESSAGE(bound.ok(), bound.status().to_string());
    CHECK(bound->symbols.find("batch") == batch_size);
    CHECK(bound->symbols.find("seq") == seq_len);
    // The attention's inputs are [batch, 4, seq, 16].
    int checked = 0;
    fn.for_each_binding([&](const Binding& binding) {
      if (binding.op != OpKind::attention) return;
      const ConcreteShape& q = bound->shape(binding.inputs[0]);
      CHECK(to_string(q) == str_cat("[", batch_size, ", 4, ", seq_len, ", 16]"));
      ++checked;
    });
    CHECK(checked == 1);
    CHECK(to_string(bound->shape(fn.outputs[0])) == str_cat("[", batch_size, ", ", seq_len, ", 64]"));
  }
}

TEST_CASE("bind_shapes reports inputs that disagree") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, seq, 16}));
  const Var y = b.input("y", TensorType(DType::f32, {batch, 16, seq}));
  Module m = finished(b, {b.matmul(x, y)});
  const Function& fn = m.main();

  CHECK(bind_shapes(fn, {{"x", {2, 5, 16}}, {"y", {2, 16, 5}}}).ok());
  Result<BoundShapes> r = bind_shapes(fn, {{"y", {2, 16, 5}}, {"x", {4, 5, 16}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::shape_mismatch);
  CHECK(r.status().message() == "input y: dim 0 is 2 but batch = 4 from input x");

  r = bind_shapes(fn, {{"x", {2, 5, 16}}, {"y", {2, 16, 5, 1}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "input y: rank 4, expected 3 (f32[batch, 16, seq])");

  r = bind_shapes(fn, {{"x", {2, 5, 15}}, {"y", {2, 16, 5}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "input x: dim 2 is 15, expected 16");

  r = bind_shapes(fn, {{"x", {2, 5, 16}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "input y: no shape given");

  r = bind_shapes(fn, {{"x", {2, 5, 16}}, {"y", {2, 16, 5}}, {"z", {1}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::not_found);
  CHECK(r.status().message() == "no input named 'z' (inputs: x, y)");

  r = bind_shapes(fn, {{"x", {-2, 5, 16}}, {"y", {2, 16, 5}}});
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "input x: dim 0 is -2"));
}

TEST_CASE("bind_shapes solves dims written as expressions and checks them") {
  const SymDim n = sym("n");
  SUBCASE("solved from the expression alone") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {2 * n + 1, 4}));
    Module m = finished(b, {b.slice(x, SliceAttrs{.starts = {1}, .ends = {kiln::relax::detail::kPosInf}})});
    Result<BoundShapes> bound = bind_shapes(m.main(), {{"x", {9, 4}}});
    REQUIRE_MESSAGE(bound.ok(), bound.status().to_string());
    CHECK(bound->symbols.find("n") == 4);
    CHECK(to_string(bound->shape(m.main().outputs[0])) == "[8, 4]");
    Result<BoundShapes> even = bind_shapes(m.main(), {{"x", {8, 4}}});
    REQUIRE_FALSE(even.ok());
    CHECK(even.status().message() == "input x: dim 0 is 8, which no value of n makes 2*n + 1");
  }
  SUBCASE("checked against a symbol bound by another input") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {2 * n + 1, 4}));
    const Var y = b.input("y", TensorType(DType::f32, {n, 4}));
    Module m = finished(b, {b.concat({x, y}, 0)});
    Result<BoundShapes> bound = bind_shapes(m.main(), {{"x", {9, 4}}, {"y", {4, 4}}});
    REQUIRE_MESSAGE(bound.ok(), bound.status().to_string());
    CHECK(to_string(bound->shape(m.main().outputs[0])) == "[13, 4]");
    Result<BoundShapes> wrong = bind_shapes(m.main(), {{"y", {4, 4}}, {"x", {7, 4}}});
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.status().message() == "input x: dim 0 is 7 but 2*n + 1 = 9");
  }
}

TEST_CASE("bind_shapes checks at run time what symbolic inference left open") {
  const SymDim k = sym("k");
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, k}));
  const Var w = b.constant(filled(DType::f32, {64, 8}, 1.0));
  Module m = finished(b, {b.matmul(x, w)});  // k against 64: unknown until k is bound
  CHECK(bind_shapes(m.main(), {{"x", {3, 64}}}).ok());
  Result<BoundShapes> r = bind_shapes(m.main(), {{"x", {3, 32}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "%0 = relax.matmul: matmul: inner dimensions 32 and 64 differ (f32[3, 32] @ f32[64, 8])");
}

TEST_CASE("bind_shapes checks a symbolic reshape's element count once the symbols are bound") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, seq}));
  Module m = finished(b, {b.reshape(x, {batch, 3})});  // batch*seq against batch*3: open
  CHECK(bind_shapes(m.main(), {{"x", {2, 3}}}).ok());
  Result<BoundShapes> r = bind_shapes(m.main(), {{"x", {2, 4}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "%0 = relax.reshape: reshape: 8 elements cannot become 6");
}

TEST_CASE("bind_shapes evaluates reshapes whose targets are symbolic shape computations") {
  Module m = flatten_by_shape_chain(batch);
  for (std::int64_t n : {1, 5, 64}) {
    CAPTURE(n);
    Result<BoundShapes> bound = bind_shapes(m.main(), {{"x", {n, 16, 4, 4}}});
    REQUIRE_MESSAGE(bound.ok(), bound.status().to_string());
    CHECK(to_string(bound->shape(m.main().outputs[0])) == str_cat("[", n, ", 256]"));
  }
}

// ---- verification ----------------------------------------------------------------------------

TEST_CASE("verify finds modules that break the invariants") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {2}));
  Module m = finished(b, {b.relu(b.relu(x))});
  Module dangling = m;
  dangling.main().blocks[0].bindings[0].inputs[0] = 42;
  CHECK(contains(verify(dangling).message(), "refers to value 42, which does not exist"));
  Module twice = m;
  twice.main().blocks[0].bindings[1].outputs[0] = twice.main().blocks[0].bindings[0].outputs[0];
  CHECK(contains(verify(twice).message(), "is defined twice"));
  Module no_output = m;
  no_output.main().outputs = {7};
  CHECK(contains(verify(no_output).message(), "an output refers to value 7"));
  // Copies are independent: ids are indices, not pointers.
  CHECK(verify(m).ok());
}

TEST_CASE("verify and bind_shapes reject a binding with another op's attributes") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 4}));
  Module m = finished(b, {b.transpose(x)});
  m.main().blocks[0].bindings[0].attrs = AxisAttrs{1};
  CHECK(contains(verify(m).message(), "a binding of transpose holds another op's attributes"));
  CHECK(bind_shapes(m.main(), {{"x", {2, 4}}}).status().code() == StatusCode::internal);
  CHECK(default_pipeline().run(m).message().rfind("before the passes: ", 0) == 0);
}

TEST_CASE("Fusion moves a matmul with its epilogue, and an elementwise chain, into sub-functions") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 8}));
  const Var w = b.constant(filled(DType::f32, {8, 16}, 0.5));
  const Var bias = b.constant(filled(DType::f32, {16}, 0.25));
  const Var h = b.relu(b.add(b.matmul(x, w), bias));       // matmul + add + relu: one group
  const Var g = b.multiply(b.sigmoid(h), h);               // h has two uses: a new chain starts
  const Var s = b.softmax(b.tanh(g));                      // tanh joins; softmax does not fuse
  const Var out = b.exp(s);                                // a lone elementwise op stays as it is
  Module m = finished(b, {out});
  Result<int> fused = fuse_ops(m);
  REQUIRE(fused.ok());
  CHECK(*fused == 2);
  REQUIRE(verify(m).ok());
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 8]) -> f32[batch, 16] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[8, 16]\n"
        "  %c1 = constant f32[16]\n"
        "  dataflow {\n"
        "    %0 = relax.fused(%x, %c0, %c1, @fused_matmul_add_relu) : f32[batch, 16]\n"
        "    %1 = relax.fused(%0, @fused_sigmoid_multiply_tanh) : f32[batch, 16]\n"
        "    %2 = relax.softmax(%1, axis=-1) : f32[batch, 16]\n"
        "    %3 = relax.exp(%2) : f32[batch, 16]\n"
        "  }\n"
        "  return %3\n"
        "}\n"
        "\n"
        "function @fused_matmul_add_relu(%in0: f32[batch, 8], %in1: f32[8, 16], %in2: f32[16]) -> f32[batch, 16] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.matmul(%in0, %in1) : f32[batch, 16]\n"
        "    %1 = relax.add(%0, %in2) : f32[batch, 16]\n"
        "    %2 = relax.relu(%1) : f32[batch, 16]\n"
        "  }\n"
        "  return %2\n"
        "}\n"
        "\n"
        "function @fused_sigmoid_multiply_tanh(%in0: f32[batch, 16]) -> f32[batch, 16] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.sigmoid(%in0) : f32[batch, 16]\n"
        "    %1 = relax.multiply(%0, %in0) : f32[batch, 16]\n"
        "    %2 = relax.tanh(%1) : f32[batch, 16]\n"
        "  }\n"
        "  return %2\n"
        "}\n");
  // The fused module still binds shapes: the calls keep their types.
  Result<BoundShapes> bound = bind_shapes(m.main(), {{"x", {3, 8}}});
  REQUIRE_MESSAGE(bound.ok(), bound.status().to_string());
  CHECK(bound->shape(m.main().outputs[0]) == ConcreteShape{2, {3, 16}});
}

TEST_CASE("Fusion closes an elementwise chain with the reduction that alone reads it") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16}));
  const Var one = b.constant(filled(DType::f32, {}, 1.0));
  // A softmax denominator: the max stays its own kernel (it reads an input, not a chain);
  // subtract and exp fuse with the sum; the add after the sum does not join it.
  const Var peak = b.reduce(OpKind::reduce_max, x, ReduceAttrs{.axes = {-1}});
  const Var total = b.reduce(OpKind::reduce_sum, b.exp(b.subtract(x, peak)), ReduceAttrs{.axes = {-1}});
  const Var shifted = b.add(total, one);
  // A chain read twice is no longer the reduction's alone.
  const Var e = b.sigmoid(x);
  const Var share = b.multiply(e, b.reduce(OpKind::reduce_mean, e, ReduceAttrs{.axes = {0}, .keepdims = false}));
  Module m = finished(b, {shifted, share});
  Result<int> fused = fuse_ops(m);
  REQUIRE(fused.ok());
  CHECK(*fused == 1);
  REQUIRE(verify(m).ok());
  CHECK(to_string(m) ==
        "function @main(%x: f32[batch, 16]) -> (f32[batch, 1], f32[batch, 16]) {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[] [1]\n"
        "  dataflow {\n"
        "    %0 = relax.reduce_max(%x, axes=[-1]) : f32[batch, 1]\n"
        "    %1 = relax.fused(%x, %0, @fused_subtract_exp_reduce_sum) : f32[batch, 1]\n"
        "    %2 = relax.add(%1, %c0) : f32[batch, 1]\n"
        "    %3 = relax.sigmoid(%x) : f32[batch, 16]\n"
        "    %4 = relax.reduce_mean(%3, axes=[0], keepdims=false) : f32[16]\n"
        "    %5 = relax.multiply(%3, %4) : f32[batch, 16]\n"
        "  }\n"
        "  return %2, %5\n"
        "}\n"
        "\n"
        "function @fused_subtract_exp_reduce_sum(%in0: f32[batch, 16], %in1: f32[batch, 1]) -> f32[batch, 1] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.subtract(%in0, %in1) : f32[batch, 16]\n"
        "    %1 = relax.exp(%0) : f32[batch, 16]\n"
        "    %2 = relax.reduce_sum(%1, axes=[-1]) : f32[batch, 1]\n"
        "  }\n"
        "  return %2\n"
        "}\n");
}

TEST_CASE("Fusion leaves alone what a fused kernel could not compute in one pass") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {4, 1}));
  const Var y = b.input("y", TensorType(DType::f32, {1, 5}));
  const Var i = b.input("i", TensorType(DType::i32, {4, 5}));
  // relu(x) broadcast by the add into a larger shape: the add does not join relu's group.
  const Var grown = b.add(b.relu(x), y);
  // Integer chains do not fuse.
  const Var ints = b.neg(b.unary(OpKind::abs, i));
  // A value read twice ends its group.
  const Var e = b.exp(grown);
  Module m = finished(b, {b.add(e, e), ints});
  Result<int> fused = fuse_ops(m);
  REQUIRE(fused.ok());
  CHECK(*fused == 1);  // only add(grown) -> exp
  const std::string text = to_string(m);
  CHECK(contains(text, "relax.relu(%x)"));
  CHECK(contains(text, "@fused_add_exp"));
  CHECK(contains(text, "relax.neg("));
  CHECK(contains(text, "relax.add(%3, %3)"));
}
