#include <doctest/doctest.h>

#include <kiln/relax/shape_inference.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

using namespace kiln;
using namespace kiln::relax;

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

const SymDim batch = sym("batch");
const SymDim seq = sym("seq");
const SymDim h = sym("h");
const SymDim w = sym("w");

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

// The printed dims of an inferred type ("f32[batch, 3]"), or its error message.
template <class T>
std::string shown(const Inferred<T>& r) {
  if (!r.ok()) return "error: " + std::string(r.message());
  return to_string(*r);
}

std::int64_t value_of(const SymDim& d, const Bindings& b) {
  auto v = evaluate(d, b);
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return *v;
}

// Checks that inference failed with `code` and a message that names the op and the problem.
template <class T>
void check_error(const Inferred<T>& r, StatusCode code, std::string_view op, std::string_view problem) {
  REQUIRE_MESSAGE(!r.ok(), shown(r));
  CHECK(r.code() == code);
  CHECK_MESSAGE(r.message().substr(0, op.size() + 1) == std::string(op) + ":", r.message());
  CHECK_MESSAGE(contains(r.message(), problem), r.message());
}

TensorType f32(std::initializer_list<SymDim> dims) { return TensorType(DType::f32, dims); }

} // namespace

// ---- SymDim: simplification, usable in constant expressions -------------------------------
namespace static_checks {
constexpr SymDim b = sym("b");
constexpr SymDim s = sym("s");
constexpr SymDim x = sym("x");
static_assert(SymDim(3) + 4 == SymDim(7));
static_assert((SymDim(6) * 7).as_constant() == 42);
static_assert(b + 0 == b && b * 1 == b && (b * 0).is_constant(0));
static_assert(b * s == s * b);
static_assert(2 * b + b == 3 * b);
static_assert((b + s) - b == s);
static_assert(floordiv(4 * s, 2) == 2 * s);
static_assert(floordiv(4 * s + 3, 2) == 2 * s + 1);
static_assert(floormod(4 * s + 3, 2).is_constant(1));
static_assert(floordiv(floordiv(x + 1, 2) + 1, 2) == floordiv(x + 3, 4));
static_assert((b + 1) * (s + 1) == b * s + b + s + 1);
static_assert(floordiv(768 * b * s, s) == 768 * b);
static_assert(min(x + 3, 2).is_constant(2) && max(x, x + 1) == x + 1);
static_assert(min(SymDim(kInt64Max), x) == x);
static_assert(!(b == s) && !(b + 1 == b));
static_assert(prove_equal(b, b + 1) == Truth::no);
static_assert(prove_equal(b, s) == Truth::unknown);
static_assert(prove_less(floormod(x, 4), 4) == Truth::yes);
static_assert(try_evaluate(floordiv(x - 1, 2) + 1, {{"x", 224}}) == 112);
static_assert(!try_evaluate(b * s, {{"b", 2}}).has_value());
static_assert(floordiv(x, 0).fault() == DimFault::division_by_zero);
} // namespace static_checks

TEST_CASE("SymDim folds constants and keeps symbolic dims in one canonical form") {
  CHECK((SymDim(-7) * 3 + 1).as_constant() == -20);
  CHECK(floordiv(SymDim(-7), 2).as_constant() == -4);
  CHECK(floormod(SymDim(-7), 2).as_constant() == 1);
  CHECK(ceildiv(SymDim(17), 16).as_constant() == 2);
  CHECK(min(SymDim(3), SymDim(-2)).as_constant() == -2);
  CHECK(max(SymDim(3), SymDim(-2)).as_constant() == 3);

  CHECK(batch * seq == seq * batch);
  CHECK(batch * seq * 2 + seq * batch == 3 * seq * batch);
  CHECK(batch - batch == SymDim(0));
  CHECK(floordiv(3 * h, 2) == h + floordiv(h, 2));
  CHECK(floordiv(h, -2) == floordiv(-h, 2));
  CHECK(floormod(h + 7, -4) == -floormod(-h - 7, 4));
  CHECK(ceildiv(h, 2) == floordiv(h + 1, 2));
  CHECK(floordiv(floormod(h, 4), 4).is_constant(0));
  CHECK(floormod(floormod(h, 4), 4) == floormod(h, 4));
  CHECK(floordiv(batch * seq, batch * seq).is_constant(1));
  CHECK(floormod(6 * batch * seq, 3 * seq).is_constant(0));
  CHECK(min(h, h) == h);
  CHECK(min(h, w) == min(w, h));
  CHECK(max(h, 4) == max(4, h));
  CHECK(batch.is_symbol());
  CHECK_FALSE((2 * batch).is_symbol());
  CHECK((batch * seq + batch).symbol_count() == 2);
}

TEST_CASE("SymDim prints canonical expressions") {
  CHECK(to_string(batch * seq + 1) == "batch*seq + 1");
  CHECK(to_string(seq * batch + 1) == "batch*seq + 1");
  CHECK(to_string(3 - 2 * batch) == "-2*batch + 3");
  CHECK(to_string(batch * seq - batch - 4) == "batch*seq - batch - 4");
  CHECK(to_string(SymDim(-5)) == "-5");
  CHECK(to_string(-batch) == "-batch");
  CHECK(to_string(floordiv(h - 1, 2) + 1) == "floordiv(h + 1, 2)");
  CHECK(to_string(floormod(batch, seq)) == "floormod(batch, seq)");
  CHECK(to_string(min(seq, 8)) == "min(seq, 8)");
  CHECK(to_string(max(w, h)) == "max(h, w)");
  CHECK(to_string(h * h) == "h*h");
  CHECK(to_string(floordiv(h, 0)) == "<division by zero>");
  CHECK(to_string(SymDim(kInt64Max) + 1) == "<integer overflow>");
  CHECK(to_string(h * h * h * h * h) == "<too complex>");
}

TEST_CASE("evaluating a SymDim binds its symbols and names what is missing") {
  const SymDim d = batch * seq + 1;
  CHECK(value_of(d, {{"batch", 2}, {"seq", 128}}) == 257);
  CHECK(value_of(floordiv(h + 1, 2), {{"h", 7}}) == 4);
  CHECK(value_of(min(h, w) + max(h, w), {{"h", 3}, {"w", 9}}) == 12);

  auto unbound = evaluate(d, {{"batch", 2}});
  REQUIRE_FALSE(unbound.ok());
  CHECK(unbound.status().code() == StatusCode::not_found);
  CHECK(contains(unbound.status().message(), "'seq'"));

  auto by_zero = evaluate(floordiv(batch, seq), {{"batch", 4}, {"seq", 0}});
  REQUIRE_FALSE(by_zero.ok());
  CHECK(contains(by_zero.status().message(), "division by zero"));
  CHECK(contains(by_zero.status().message(), "floordiv(batch, seq)"));

  auto negative = evaluate(seq, {{"seq", -1}});
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.status().code() == StatusCode::out_of_range);
  CHECK(contains(negative.status().message(), "'seq'"));

  auto overflow = evaluate(batch * batch * batch * batch, {{"batch", std::int64_t{1} << 40}});
  REQUIRE_FALSE(overflow.ok());
  CHECK(contains(overflow.status().message(), "overflow"));

  auto faulted = evaluate(floordiv(batch, 0), {{"batch", 1}});
  REQUIRE_FALSE(faulted.ok());
  CHECK(contains(faulted.status().message(), "division by zero"));

  Bindings b;
  CHECK(b.bind("seq", 3));
  CHECK(b.bind("seq", 5));
  CHECK(b.size() == 1);
  CHECK(value_of(seq, b) == 5);
}

TEST_CASE("proofs about dims answer yes, no or unknown") {
  CHECK(prove_equal(batch * seq, seq * batch) == Truth::yes);
  CHECK(prove_equal(seq + 1, seq) == Truth::no);
  CHECK(prove_equal(seq + 1, 0) == Truth::no);  // dims are never negative
  CHECK(prove_equal(seq, 4) == Truth::unknown);
  CHECK(prove_equal(seq, batch) == Truth::unknown);
  CHECK(prove_less_equal(seq, seq + 1) == Truth::yes);
  CHECK(prove_less_equal(seq + 2, seq) == Truth::no);
  CHECK(prove_less(floormod(seq, 8), 8) == Truth::yes);
  CHECK(prove_less(floordiv(h, 2), h) == Truth::unknown);  // equal at h == 0
  CHECK(prove_less_equal(floordiv(h, 2), floordiv(h + 1, 2)) == Truth::yes);
  CHECK(prove_less(floordiv(h + 2, 2), floordiv(h, 2)) == Truth::no);
  const DimBounds range = floormod(h, 5).bounds();
  CHECK(range.lo == 0);
  CHECK(range.hi == 4);
  // Two divisions of one numerator differ by at most one.
  const DimBounds step = (floordiv(h + 1, 2) - floordiv(h, 2)).bounds();
  CHECK(step.lo == 0);
  CHECK(step.hi == 1);
  const DimBounds wide = (floordiv(h + 5, 3) - floordiv(h + 1, 3)).bounds();
  CHECK(wide.lo == 1);
  CHECK(wide.hi == 2);
  for (std::int64_t v = 0; v < 6; ++v) {
    const std::int64_t diff = value_of(floordiv(h + 5, 3) - floordiv(h + 1, 3), {{"h", v}});
    CHECK((diff >= wide.lo && diff <= wide.hi));
  }
}

namespace {
// Random dims built from symbols and small constants with every operation, evaluated
// both as a SymDim (after simplification) and directly with integers.
struct Rng {
  std::uint64_t state;
  int below(int n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % static_cast<std::uint64_t>(n));
  }
};

struct Sample {
  SymDim dim;
  std::int64_t value = 0;
  bool defined = true;
};

Sample random_dim(Rng& rng, int depth, const std::array<std::int64_t, 3>& values) {
  static const SymDim symbols[3] = {sym("a"), sym("b"), sym("c")};
  if (depth == 0 || rng.below(4) == 0) {
    if (rng.below(2) == 0) {
      const int i = rng.below(3);
      return {symbols[i], values[i], true};
    }
    const std::int64_t c = rng.below(10) - 3;
    return {SymDim(c), c, true};
  }
  const Sample a = random_dim(rng, depth - 1, values);
  const Sample b = random_dim(rng, depth - 1, values);
  Sample out;
  out.defined = a.defined && b.defined;
  switch (rng.below(8)) {
    case 0: out.dim = a.dim + b.dim; out.value = a.value + b.value; break;
    case 1: out.dim = a.dim - b.dim; out.value = a.value - b.value; break;
    case 2: out.dim = a.dim * b.dim; out.value = a.value * b.value; break;
    case 3:
      out.dim = floordiv(a.dim, b.dim);
      out.defined = out.defined && b.value != 0;
      if (out.defined) out.value = kiln::floordiv(a.value, b.value);
      break;
    case 4:
      out.dim = floormod(a.dim, b.dim);
      out.defined = out.defined && b.value != 0;
      if (out.defined) out.value = kiln::floormod(a.value, b.value);
      break;
    case 5:
      out.dim = ceildiv(a.dim, b.dim);
      out.defined = out.defined && b.value != 0;
      if (out.defined) out.value = kiln::floordiv(a.value + b.value - 1, b.value);
      break;
    case 6: out.dim = min(a.dim, b.dim); out.value = a.value < b.value ? a.value : b.value; break;
    default: out.dim = max(a.dim, b.dim); out.value = a.value > b.value ? a.value : b.value; break;
  }
  return out;
}
} // namespace

TEST_CASE("simplification never changes the value of a dim") {
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 1500; ++seed) {
    for (const std::array<std::int64_t, 3>& values :
         {std::array<std::int64_t, 3>{0, 0, 0}, {1, 2, 3}, {5, 1, 0}, {7, 7, 2}, {12, 5, 9}, {3, 0, 16}}) {
      Rng rng{seed};
      const Sample s = random_dim(rng, 3, values);
      if (!s.defined || !s.dim.valid()) continue;
      const DimValue v = evaluate_dim(s.dim, {{"a", values[0]}, {"b", values[1]}, {"c", values[2]}});
      REQUIRE_MESSAGE(v.ok(), to_string(s.dim));
      CHECK_MESSAGE(v.value == s.value, "seed ", seed, ": ", to_string(s.dim));
      const DimBounds range = s.dim.bounds();
      CHECK_MESSAGE((range.lo <= s.value && s.value <= range.hi), "seed ", seed, ": bounds of ", to_string(s.dim));
      ++compared;
    }
  }
  CHECK(compared > 4000);
}

TEST_CASE("dims equal by commutativity compare equal") {
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    Rng rng{seed};
    const Sample a = random_dim(rng, 2, {1, 2, 3});
    const Sample b = random_dim(rng, 2, {1, 2, 3});
    const SymDim sums[2] = {a.dim + b.dim, b.dim + a.dim};
    const SymDim products[2] = {a.dim * b.dim, b.dim * a.dim};
    if (sums[0].valid() && sums[1].valid()) {
      CHECK_MESSAGE(sums[0] == sums[1], to_string(sums[0]), " vs ", to_string(sums[1]));
      ++compared;
    }
    if (products[0].valid() && products[1].valid()) {
      CHECK_MESSAGE(products[0] == products[1], to_string(products[0]), " vs ", to_string(products[1]));
      ++compared;
    }
  }
  CHECK(compared > 300);
}

// ---- TensorType, Inferred, Result ---------------------------------------------------------
TEST_CASE("TensorType prints, compares and rejects more than eight dims") {
  const TensorType t(DType::f32, {batch, 3, 224, 224});
  CHECK(to_string(t) == "f32[batch, 3, 224, 224]");
  CHECK(t == f32({batch, 3, 224, 224}));
  CHECK_FALSE(t == TensorType(DType::f16, {batch, 3, 224, 224}));
  CHECK(t.element_count() == 150528 * batch);
  CHECK_FALSE(t.is_static());
  CHECK(f32({2, 3}).is_static());
  const TensorType too_many(DType::f32, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  CHECK(too_many.rank == -1);
  check_error(infer::unary("relu", too_many), StatusCode::unsupported, "relu", "more than 8 dimensions");
}

TEST_CASE("Inferred converts to Result and Status") {
  Result<TensorType> good = infer::matmul(f32({2, 3}), f32({3, 4}));
  REQUIRE(good.ok());
  CHECK(*good == f32({2, 4}));
  Result<TensorType> bad = infer::matmul(f32({2, 64}), f32({32, 8}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::shape_mismatch);
  CHECK(bad.status().message() == "matmul: inner dimensions 64 and 32 differ (f32[2, 64] @ f32[32, 8])");
  CHECK(infer::matmul(f32({2, 3}), f32({3, 4})).status().ok());
}

// ---- elementwise -------------------------------------------------------------------------
TEST_CASE("elementwise ops broadcast symbolic shapes like NumPy") {
  CHECK(shown(infer::binary("add", f32({batch, 1, 768}), f32({seq, 768}))) == "f32[batch, seq, 768]");
  CHECK(shown(infer::binary("mul", f32({2, 3}), f32({}))) == "f32[2, 3]");
  CHECK(shown(infer::binary("add", f32({batch, seq}), f32({batch, 1}))) == "f32[batch, seq]");
  CHECK(shown(infer::binary("add", f32({2 * seq}), f32({seq + seq}))) == "f32[2*seq]");
  // Two unrelated symbols broadcast to their max: right whenever the program is valid.
  const auto nm = infer::binary("add", f32({sym("n")}), f32({sym("m")}));
  REQUIRE(nm.ok());
  CHECK(to_string(nm->dims[0]) == "max(m, n)");
  CHECK(value_of(nm->dims[0], {{"n", 1}, {"m", 5}}) == 5);

  check_error(infer::binary("add", f32({3}), f32({4})), StatusCode::shape_mismatch, "add", "dimensions 3 and 4 differ");
  check_error(infer::binary("add", f32({seq}), f32({4})), StatusCode::shape_mismatch, "add",
              "dimensions seq and 4 differ");
  // Valid where seq is 1, so not an error.
  CHECK(shown(infer::binary("sub", f32({seq + 1}), f32({seq}))) == "f32[seq + 1]");
  check_error(infer::binary("add", f32({3}), TensorType(DType::i32, {3})), StatusCode::dtype_mismatch, "add",
              "dtypes f32 and i32 differ");
  check_error(infer::binary("bitshift", f32({3}), f32({3}), ElementKind::integer), StatusCode::dtype_mismatch,
              "bitshift", "must be an integer tensor, got f32");
}

TEST_CASE("unary, comparison, logic, where, clip and cast types") {
  CHECK(shown(infer::unary("relu", f32({batch, 8}))) == "f32[batch, 8]");
  check_error(infer::unary("exp", TensorType(DType::i32, {2}), ElementKind::floating), StatusCode::dtype_mismatch, "exp",
              "must be a floating-point tensor, got i32");
  CHECK(shown(infer::unary("not", TensorType(DType::boolean, {2}), ElementKind::boolean)) == "bool[2]");

  CHECK(shown(infer::compare("less", f32({batch, 1}), f32({4}))) == "bool[batch, 4]");
  check_error(infer::compare("equal", f32({2}), TensorType(DType::i64, {2})), StatusCode::dtype_mismatch, "equal",
              "dtypes");
  const TensorType flags(DType::boolean, {seq});
  CHECK(shown(infer::logical("and", flags, TensorType(DType::boolean, {batch, 1}))) == "bool[batch, seq]");
  check_error(infer::logical("or", flags, f32({seq})), StatusCode::dtype_mismatch, "or",
              "the second input must be a bool tensor, got f32");

  const TensorType condition(DType::boolean, {batch, 1});
  CHECK(shown(infer::where(condition, TensorType(DType::i64, {1, 4}), TensorType(DType::i64, {}))) == "i64[batch, 4]");
  check_error(infer::where(f32({1}), f32({2}), f32({2})), StatusCode::dtype_mismatch, "where", "condition must be a bool");
  check_error(infer::where(condition, f32({3}), f32({4})), StatusCode::shape_mismatch, "where", "cannot broadcast");

  const TensorType lo = f32({});
  const TensorType hi = f32({1});
  CHECK(shown(infer::clip(f32({batch, 3}), &lo, &hi)) == "f32[batch, 3]");
  CHECK(shown(infer::clip(f32({batch, 3}))) == "f32[batch, 3]");
  const TensorType vector = f32({2});
  check_error(infer::clip(f32({3}), &vector), StatusCode::shape_mismatch, "clip", "min must be a scalar");
  check_error(infer::clip(f32({3}), nullptr, &vector), StatusCode::shape_mismatch, "clip", "max must be a scalar");

  CHECK(shown(infer::cast(f32({batch, 2}), DType::f16)) == "f16[batch, 2]");
}

// ---- matmul, gemm, attention ---------------------------------------------------------------
static_assert(infer::matmul(TensorType(DType::f32, {8, 2, 3, 4}), TensorType(DType::f32, {4, 5})).value() ==
              TensorType(DType::f32, {8, 2, 3, 5}));

TEST_CASE("matmul follows numpy.matmul for 1-D and batched operands") {
  CHECK(shown(infer::matmul(f32({2, 3, 4}), f32({4, 5}))) == "f32[2, 3, 5]");
  CHECK(shown(infer::matmul(f32({4}), f32({4}))) == "f32[]");
  CHECK(shown(infer::matmul(f32({4}), f32({2, 4, 5}))) == "f32[2, 5]");
  CHECK(shown(infer::matmul(f32({2, 3, 4}), f32({4}))) == "f32[2, 3]");
  CHECK(shown(infer::matmul(f32({2, 1, 3, 4}), f32({5, 4, 6}))) == "f32[2, 5, 3, 6]");
  CHECK(shown(infer::matmul(f32({batch, seq, 768}), f32({768, 3072}))) == "f32[batch, seq, 3072]");
  // Attention scores: the inner dims are the same symbol.
  CHECK(shown(infer::matmul(f32({batch, 12, seq, seq}), f32({batch, 12, seq, 64}))) == "f32[batch, 12, seq, 64]");
  // A symbol against a constant inner dim may agree at run time.
  CHECK(infer::matmul(f32({2, sym("k")}), f32({64, 3})).ok());

  check_error(infer::matmul(f32({2, 64}), f32({32, 8})), StatusCode::shape_mismatch, "matmul",
              "inner dimensions 64 and 32 differ");
  check_error(infer::matmul(f32({seq, seq + 1}), f32({seq, 8})), StatusCode::shape_mismatch, "matmul",
              "inner dimensions seq + 1 and seq differ");
  check_error(infer::matmul(f32({2, 3, 4}), f32({3, 4, 5})), StatusCode::shape_mismatch, "matmul",
              "batch dimensions of f32[2, 3, 4] and f32[3, 4, 5] cannot be broadcast");
  check_error(infer::matmul(f32({}), f32({3})), StatusCode::shape_mismatch, "matmul", "rank 1 or more");
  check_error(infer::matmul(f32({3}), TensorType(DType::f16, {3})), StatusCode::dtype_mismatch, "matmul", "dtypes");
}

TEST_CASE("gemm transposes its operands and broadcasts C") {
  const TensorType bias = f32({5});
  CHECK(shown(infer::gemm(f32({4, 3}), f32({5, 4}), &bias, {.trans_a = true, .trans_b = true})) == "f32[3, 5]");
  CHECK(shown(infer::gemm(f32({batch, 8}), f32({8, 16}))) == "f32[batch, 16]");
  const TensorType wrong_bias = f32({4});
  check_error(infer::gemm(f32({3, 4}), f32({4, 5}), &wrong_bias), StatusCode::shape_mismatch, "gemm",
              "input C f32[4] cannot be broadcast to f32[3, 5]");
  check_error(infer::gemm(f32({3, 4}), f32({5, 4})), StatusCode::shape_mismatch, "gemm", "inner dimensions 4 and 5");
  check_error(infer::gemm(f32({2, 3, 4}), f32({4, 5})), StatusCode::shape_mismatch, "gemm", "input A must have rank 2");
}

TEST_CASE("attention maps q, k, v to [batch, heads, s, dv]") {
  const SymDim t = sym("t");
  const TensorType q = f32({batch, 12, seq, 64});
  const TensorType k = f32({batch, 12, t, 64});
  const TensorType v = f32({batch, 12, t, 32});
  CHECK(shown(infer::attention(q, k, v)) == "f32[batch, 12, seq, 32]");
  const TensorType mask(DType::boolean, {1, 1, seq, t});
  CHECK(shown(infer::attention(q, k, v, &mask)) == "f32[batch, 12, seq, 32]");
  // Shared key/value heads broadcast over the query heads.
  CHECK(shown(infer::attention(q, f32({batch, 1, t, 64}), f32({batch, 1, t, 32}))) == "f32[batch, 12, seq, 32]");

  check_error(infer::attention(q, f32({batch, 12, t, 32}), v), StatusCode::shape_mismatch, "attention",
              "query head size 64 and key head size 32 differ");
  check_error(infer::attention(q, k, f32({batch, 12, t + 1, 32})), StatusCode::shape_mismatch, "attention",
              "key length t and value length t + 1 differ");
  const TensorType bad_mask(DType::boolean, {seq, 5});
  check_error(infer::attention(q, k, v, &bad_mask), StatusCode::shape_mismatch, "attention",
              "the mask bool[seq, 5] cannot be broadcast to f32[batch, 12, seq, t]");
  const TensorType int_mask(DType::i32, {seq, t});
  check_error(infer::attention(q, k, v, &int_mask), StatusCode::dtype_mismatch, "attention", "bool or f32, got i32");
  check_error(infer::attention(q, f32({12, t, 64}), v), StatusCode::shape_mismatch, "attention", "one rank");
}

// ---- conv, conv-transpose, pooling --------------------------------------------------------
namespace static_checks {
constexpr TensorType image(DType::f32, {1, 3, 224, 224});
constexpr TensorType stem(DType::f32, {64, 3, 7, 7});
constexpr auto conv1 = infer::conv(image, stem, nullptr, {.strides = {2, 2}, .pads = {3, 3, 3, 3}});
static_assert(conv1.ok() && conv1.value() == TensorType(DType::f32, {1, 64, 112, 112}));
constexpr auto pool1 =
    infer::pool(PoolKind::max, conv1.value(), {.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
static_assert(pool1.ok() && pool1.value() == TensorType(DType::f32, {1, 64, 56, 56}));
// The same stem with a symbolic height: two strided windows collapse into one division.
constexpr TensorType any_height(DType::f32, {1, 3, sym("h"), 224});
constexpr auto pool_h = infer::pool(
    PoolKind::max, infer::conv(any_height, stem, nullptr, {.strides = {2, 2}, .pads = {3, 3, 3, 3}}).value(),
    {.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
static_assert(pool_h.ok() && pool_h.value().dims[2] == floordiv(sym("h") + 3, 4));
constexpr auto bad_conv = infer::conv(image, TensorType(DType::f32, {64, 4, 7, 7}));
static_assert(!bad_conv.ok() && bad_conv.code() == StatusCode::shape_mismatch);
} // namespace static_checks

TEST_CASE("conv output extents for 1-D, 2-D and 3-D, constant and symbolic") {
  const TensorType image = f32({batch, 3, h, w});
  const TensorType stem = f32({64, 3, 7, 7});
  const auto y = infer::conv(image, stem, nullptr, {.strides = {2, 2}, .pads = {3, 3, 3, 3}});
  REQUIRE(y.ok());
  CHECK(to_string(*y) == "f32[batch, 64, floordiv(h + 1, 2), floordiv(w + 1, 2)]");
  CHECK(value_of(y->dims[2], {{"h", 224}}) == 112);
  CHECK(value_of(y->dims[2], {{"h", 225}}) == 113);

  // 1-D, grouped and dilated: floor((10 + 2 - 2*2 - 1) / 1) + 1 = 8.
  CHECK(shown(infer::conv(f32({2, 4, 10}), f32({8, 2, 3}), nullptr, {.pads = {1, 1}, .dilations = {2}, .groups = 2})) ==
        "f32[2, 8, 8]");
  // 3-D, strided: floor((8 - 3) / 2) + 1 = 3.
  CHECK(shown(infer::conv(f32({1, 2, 8, 8, 8}), f32({4, 2, 3, 3, 3}), nullptr, {.strides = {2, 2, 2}})) ==
        "f32[1, 4, 3, 3, 3]");
  // Depthwise.
  CHECK(shown(infer::conv(f32({1, 32, 56, 56}), f32({32, 1, 3, 3}), nullptr, {.pads = {1, 1, 1, 1}, .groups = 32})) ==
        "f32[1, 32, 56, 56]");
  // Asymmetric pads: floor((10 + 0 + 1 - 3) / 2) + 1 = 5.
  CHECK(shown(infer::conv(f32({1, 1, 10}), f32({1, 1, 3}), nullptr, {.strides = {2}, .pads = {0, 1}})) ==
        "f32[1, 1, 5]");
  // auto_pad: same keeps ceildiv(in, stride); valid pads nothing.
  CHECK(shown(infer::conv(f32({1, 3, 224, 224}), stem, nullptr, {.strides = {2, 2}, .auto_pad = AutoPad::same_upper})) ==
        "f32[1, 64, 112, 112]");
  CHECK(shown(infer::conv(f32({1, 3, 224, 224}), stem, nullptr, {.strides = {2, 2}, .auto_pad = AutoPad::valid})) ==
        "f32[1, 64, 109, 109]");
  const TensorType bias = f32({64});
  CHECK(infer::conv(image, stem, &bias).ok());
}

TEST_CASE("conv reports what does not fit") {
  check_error(infer::conv(f32({1, 3, 32, 32}), f32({64, 4, 3, 3})), StatusCode::shape_mismatch, "conv",
              "input has 3 channels, the weight expects 4 per group x 1 groups");
  check_error(infer::conv(f32({1, 4, 8, 8}), f32({6, 1, 3, 3}), nullptr, {.groups = 4}), StatusCode::shape_mismatch,
              "conv", "6 output channels do not divide into 4 groups");
  check_error(infer::conv(f32({1, 3, 4, 4}), f32({8, 3, 7, 7})), StatusCode::shape_mismatch, "conv",
              "spatial axis 0 of the output would have extent -2");
  check_error(infer::conv(f32({1, 3, 8, 8}), f32({8, 3, 3, 3}), nullptr, {.strides = {2}}), StatusCode::invalid_argument,
              "conv", "strides has 1 values, expected 2");
  check_error(infer::conv(f32({1, 3, 8, 8}), f32({8, 3, 3, 3}), nullptr, {.strides = {0, 1}}),
              StatusCode::invalid_argument, "conv", "strides must be positive");
  check_error(infer::conv(f32({1, 3, 8, 8}), f32({8, 3, 3, 3}), nullptr, {.pads = {1, 1, -1, 1}}),
              StatusCode::invalid_argument, "conv", "pads must not be negative");
  check_error(infer::conv(f32({8, 8}), f32({8, 8})), StatusCode::shape_mismatch, "conv", "rank 3, 4 or 5");
  check_error(infer::conv(f32({1, 3, 8, 8}), f32({8, 3, 3})), StatusCode::shape_mismatch, "conv",
              "weight must have rank 4");
  const TensorType bias = f32({7});
  check_error(infer::conv(f32({1, 3, 8, 8}), f32({8, 3, 3, 3}), &bias), StatusCode::shape_mismatch, "conv",
              "bias must be [8], got f32[7]");
}

TEST_CASE("conv_transpose grows extents and takes output_padding and output_shape") {
  // 2*(5 - 1) + 1 + (3 - 1) + 1 - 2 = 10
  const ConvTransposeAttrs up{.strides = {2, 2}, .pads = {1, 1, 1, 1}, .output_padding = {1, 1}};
  CHECK(shown(infer::conv_transpose(f32({1, 8, 5, 5}), f32({8, 4, 3, 3}), nullptr, up)) == "f32[1, 4, 10, 10]");
  ConvTransposeAttrs grouped = up;
  grouped.groups = 2;
  CHECK(shown(infer::conv_transpose(f32({1, 8, 5, 5}), f32({8, 4, 3, 3}), nullptr, grouped)) == "f32[1, 8, 10, 10]");
  const auto y = infer::conv_transpose(f32({1, 8, h, w}), f32({8, 4, 3, 3}), nullptr, up);
  REQUIRE(y.ok());
  CHECK(y->dims[2] == 2 * h);
  CHECK(shown(infer::conv_transpose(f32({1, 8, 5}), f32({8, 2, 4}), nullptr, {.strides = {3}})) == "f32[1, 2, 16]");
  CHECK(shown(infer::conv_transpose(f32({1, 8, 5, 5}), f32({8, 4, 3, 3}), nullptr,
                                    {.strides = {2, 2}, .output_shape = {11, seq}})) == "f32[1, 4, 11, seq]");
  CHECK(shown(infer::conv_transpose(f32({1, 8, 5, 5}), f32({8, 4, 3, 3}), nullptr,
                                    {.strides = {2, 2}, .auto_pad = AutoPad::same_lower})) == "f32[1, 4, 10, 10]");

  check_error(infer::conv_transpose(f32({1, 8, 5, 5}), f32({8, 4, 3, 3}), nullptr,
                                    {.strides = {2, 2}, .output_padding = {2, 0}}),
              StatusCode::invalid_argument, "conv_transpose", "output_padding 2 must be smaller");
  check_error(infer::conv_transpose(f32({1, 6, 5, 5}), f32({8, 4, 3, 3})), StatusCode::shape_mismatch,
              "conv_transpose", "input has 6 channels, the weight expects 8");
}

namespace {
// The pooled extent as PyTorch computes it (pooling_output_shape).
std::int64_t reference_pool_extent(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad_begin,
                                   std::int64_t pad_end, bool ceil_mode) {
  const std::int64_t span = in + pad_begin + pad_end - k;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}
} // namespace

TEST_CASE("pooling, ceil_mode and global pooling") {
  CHECK(shown(infer::pool(PoolKind::average, f32({1, 8, 6}), {.kernel_shape = {3}, .strides = {2}, .ceil_mode = true})) ==
        "f32[1, 8, 3]");
  // The last window would start in the end padding: ceil((5 + 2 - 2) / 2) + 1 = 4 becomes 3.
  CHECK(shown(infer::pool(PoolKind::max, f32({1, 1, 5}),
                          {.kernel_shape = {2}, .strides = {2}, .pads = {1, 1}, .ceil_mode = true})) == "f32[1, 1, 3]");
  CHECK(shown(infer::pool(PoolKind::lp, f32({1, 1, 9, 9}), {.kernel_shape = {3, 3}, .dilations = {2, 2}})) ==
        "f32[1, 1, 5, 5]");
  CHECK(shown(infer::global_pool(PoolKind::average, f32({batch, 2048, h, w}))) == "f32[batch, 2048, 1, 1]");
  CHECK(shown(infer::global_pool(PoolKind::max, f32({batch, 16, 7}))) == "f32[batch, 16, 1]");

  // Symbolic extents agree with the reference for every input extent.
  for (const bool ceil_mode : {false, true}) {
    for (std::int64_t k = 1; k <= 4; ++k) {
      for (std::int64_t stride = 1; stride <= 3; ++stride) {
        for (std::int64_t pad = 0; pad < k; ++pad) {
          const PoolAttrs attrs{.kernel_shape = {k}, .strides = {stride}, .pads = {pad, k - 1 - pad}, .ceil_mode = ceil_mode};
          const auto symbolic = infer::pool(PoolKind::max, f32({1, 1, h}), attrs);
          REQUIRE(symbolic.ok());
          for (std::int64_t in = k; in <= 20; ++in) {
            const std::int64_t expected = reference_pool_extent(in, k, stride, pad, k - 1 - pad, ceil_mode);
            const auto constant = infer::pool(PoolKind::max, f32({1, 1, in}), attrs);
            REQUIRE(constant.ok());
            CHECK(constant->dims[2].as_constant() == expected);
            CHECK_MESSAGE(value_of(symbolic->dims[2], {{"h", in}}) == expected, to_string(symbolic->dims[2]));
          }
        }
      }
    }
  }

  check_error(infer::pool(PoolKind::average, f32({1, 1, 8, 8}), {}), StatusCode::invalid_argument, "average_pool",
              "kernel_shape has 0 values, expected 2");
  check_error(infer::pool(PoolKind::max, f32({1, 1, 2, 2}), {.kernel_shape = {3, 3}}), StatusCode::shape_mismatch,
              "max_pool", "would have extent 0");
  check_error(infer::pool(PoolKind::max, f32({1, 1, 8}), {.kernel_shape = {0}}), StatusCode::invalid_argument,
              "max_pool", "kernel_shape must be positive");
  check_error(infer::global_pool(PoolKind::average, f32({8, 8})), StatusCode::shape_mismatch, "global_average_pool",
              "rank 3, 4 or 5");
}

// ---- normalization and softmax ------------------------------------------------------------
TEST_CASE("normalizations check their parameters against the input") {
  const TensorType x = f32({batch, 6, h, w});
  const TensorType c6 = f32({6});
  CHECK(shown(infer::batch_norm(x, c6, c6, c6, c6)) == "f32[batch, 6, h, w]");
  check_error(infer::batch_norm(x, f32({4}), c6, c6, c6), StatusCode::shape_mismatch, "batch_norm",
              "the scale must be [6], got f32[4]");
  check_error(infer::batch_norm(x, c6, c6, c6, f32({6, 1})), StatusCode::shape_mismatch, "batch_norm",
              "the variance must be [6]");
  check_error(infer::batch_norm(TensorType(DType::i32, {2, 6}), c6, c6, c6, c6), StatusCode::dtype_mismatch,
              "batch_norm", "floating-point");

  const TensorType tokens = f32({batch, seq, 768});
  const TensorType gamma = f32({768});
  CHECK(shown(infer::layer_norm(tokens, gamma, &gamma)) == "f32[batch, seq, 768]");
  const TensorType plane = f32({seq, 768});
  CHECK(infer::layer_norm(tokens, plane, nullptr, 1).ok());
  check_error(infer::layer_norm(tokens, f32({512})), StatusCode::shape_mismatch, "layer_norm",
              "the scale f32[512] cannot be broadcast to f32[768]");
  const TensorType half_beta(DType::f16, {768});
  check_error(infer::layer_norm(tokens, gamma, &half_beta), StatusCode::dtype_mismatch, "layer_norm",
              "dtypes f32 and f16 differ");
  check_error(infer::layer_norm(tokens, gamma, nullptr, 3), StatusCode::out_of_range, "layer_norm",
              "axis 3 is out of range for rank 3");

  CHECK(shown(infer::instance_norm(x, c6, c6)) == "f32[batch, 6, h, w]");
  check_error(infer::instance_norm(f32({2, 6}), c6, c6), StatusCode::shape_mismatch, "instance_norm", "rank 3 or more");

  CHECK(infer::group_norm(x, c6, c6, 3).ok());
  const TensorType per_group = f32({3});
  CHECK(infer::group_norm(x, per_group, per_group, 3).ok());
  check_error(infer::group_norm(x, c6, c6, 4), StatusCode::shape_mismatch, "group_norm",
              "6 channels do not divide into 4 groups");
  check_error(infer::group_norm(x, f32({5}), c6, 3), StatusCode::shape_mismatch, "group_norm", "the scale must be [6]");
}

TEST_CASE("softmax family") {
  CHECK(shown(infer::softmax("softmax", f32({batch, 12, seq, seq}))) == "f32[batch, 12, seq, seq]");
  CHECK(infer::softmax("log_softmax", f32({2, 3}), -2).ok());
  check_error(infer::softmax("softmax", f32({2, 3}), 2), StatusCode::out_of_range, "softmax",
              "axis 2 is out of range for rank 2");
  check_error(infer::softmax("log_softmax", TensorType(DType::i32, {2})), StatusCode::dtype_mismatch, "log_softmax",
              "floating-point");
  check_error(infer::softmax("hardmax", f32({})), StatusCode::shape_mismatch, "hardmax", "rank 1 or more");
}

// ---- reductions ------------------------------------------------------------------------------
TEST_CASE("reductions over axes, argmax, topk and cumsum") {
  const TensorType x = f32({2, 3, 4});
  CHECK(shown(infer::reduce("reduce_sum", x, {.axes = {-1}})) == "f32[2, 3, 1]");
  CHECK(shown(infer::reduce("reduce_mean", x, {.axes = {0, 2}, .keepdims = false})) == "f32[3]");
  CHECK(shown(infer::reduce("reduce_max", x)) == "f32[1, 1, 1]");
  CHECK(shown(infer::reduce("reduce_max", x, {.keepdims = false})) == "f32[]");
  CHECK(shown(infer::reduce("reduce_sum", x, {.noop_with_empty_axes = true})) == "f32[2, 3, 4]");
  CHECK(shown(infer::reduce("reduce_mean", f32({batch, seq, 768}), {.axes = {1}, .keepdims = false})) ==
        "f32[batch, 768]");
  check_error(infer::reduce("reduce_sum", x, {.axes = {1, -2}}), StatusCode::invalid_argument, "reduce_sum",
              "axis -2 is repeated");
  check_error(infer::reduce("reduce_sum", x, {.axes = {3}}), StatusCode::out_of_range, "reduce_sum",
              "axis 3 is out of range for rank 3");

  CHECK(shown(infer::arg_reduce("argmax", f32({batch, 10}), 1, false)) == "i64[batch]");
  CHECK(shown(infer::arg_reduce("argmin", f32({batch, 10}), -1)) == "i64[batch, 1]");
  check_error(infer::arg_reduce("argmax", f32({}), 0), StatusCode::out_of_range, "argmax", "axis 0 is out of range");

  const auto top = infer::topk(f32({batch, 100}), 5);
  REQUIRE(top.ok());
  REQUIRE(top->size() == 2);
  CHECK(to_string((*top)[0]) == "f32[batch, 5]");
  CHECK(to_string((*top)[1]) == "i64[batch, 5]");
  const auto top_k = infer::topk(f32({seq, 8}), sym("k"), 0);
  REQUIRE(top_k.ok());
  CHECK(to_string((*top_k)[0]) == "f32[k, 8]");
  check_error(infer::topk(f32({batch, 100}), 200), StatusCode::out_of_range, "topk", "k = 200 exceeds the extent 100");
  check_error(infer::topk(f32({4}), -1), StatusCode::invalid_argument, "topk", "k must not be negative");

  CHECK(shown(infer::cumsum(f32({batch, seq}), -1)) == "f32[batch, seq]");
  check_error(infer::cumsum(f32({2}), 1), StatusCode::out_of_range, "cumsum", "axis 1 is out of range");
}

// ---- reshape family --------------------------------------------------------------------------
namespace static_checks {
constexpr auto heads = infer::reshape(TensorType(DType::f32, {2, 128, 768}), {0, 0, 12, -1});
static_assert(heads.ok() && heads.value() == TensorType(DType::f32, {2, 128, 12, 64}));
static_assert(!infer::reshape(TensorType(DType::f32, {3}), {4}).ok());
} // namespace static_checks

TEST_CASE("reshape with ONNX's 0 and -1 and symbolic element counts") {
  const TensorType tokens = f32({batch, seq, 768});
  CHECK(shown(infer::reshape(tokens, {0, 0, 12, 64})) == "f32[batch, seq, 12, 64]");
  CHECK(shown(infer::reshape(tokens, {-1, 64})) == "f32[12*batch*seq, 64]");
  CHECK(shown(infer::reshape(tokens, {batch, -1})) == "f32[batch, 768*seq]");
  CHECK(shown(infer::reshape(tokens, {seq * batch, 768})) == "f32[batch*seq, 768]");
  CHECK(shown(infer::reshape(f32({batch, seq}), {seq, batch})) == "f32[seq, batch]");
  CHECK(shown(infer::reshape(f32({0, 4}), {0, 4}, true)) == "f32[0, 4]");
  CHECK(shown(infer::reshape(f32({2, 3}), {})) == "error: reshape: 6 elements cannot become 1");
  CHECK(shown(infer::reshape(f32({1}), {})) == "f32[]");
  // Unrelated symbols may agree at run time.
  CHECK(shown(infer::reshape(f32({sym("n")}), {sym("m")})) == "f32[m]");

  check_error(infer::reshape(f32({3}), {4}), StatusCode::shape_mismatch, "reshape", "3 elements cannot become 4");
  check_error(infer::reshape(f32({3, 4}), {4, 4}), StatusCode::shape_mismatch, "reshape", "12 elements cannot become 16");
  check_error(infer::reshape(f32({batch + 1, 4}), {batch + 1, 5}), StatusCode::shape_mismatch, "reshape",
              "4*batch + 4 elements cannot become 5*batch + 5");
  // Symbols may be 0, so b*s*768 and b*s*384 elements may agree: left to the run time.
  CHECK(infer::reshape(tokens, {batch, seq, 12, 32}).ok());
  check_error(infer::reshape(f32({2, 5}), {-1, 3}), StatusCode::shape_mismatch, "reshape",
              "10 elements cannot become a multiple of 3");
  check_error(infer::reshape(f32({2, 6}), {-1, -1}), StatusCode::invalid_argument, "reshape", "more than one");
  check_error(infer::reshape(f32({12}), {3, 0}), StatusCode::invalid_argument, "reshape", "no dimension 1");
  check_error(infer::reshape(f32({12}), {-2, -6}), StatusCode::invalid_argument, "reshape", "only -1 may be negative");
  check_error(infer::reshape(f32({0, 4}), {0, -1}, true), StatusCode::invalid_argument, "reshape", "both 0 and -1");
}

TEST_CASE("flatten, squeeze, unsqueeze, expand, transpose, shape_of") {
  const TensorType x = f32({2, 3, 4, 5});
  CHECK(shown(infer::flatten(x, 2)) == "f32[6, 20]");
  CHECK(shown(infer::flatten(x, 0)) == "f32[1, 120]");
  CHECK(shown(infer::flatten(x, -1)) == "f32[24, 5]");
  CHECK(shown(infer::flatten(x, 4)) == "f32[120, 1]");
  CHECK(shown(infer::flatten(f32({batch, seq, 768}))) == "f32[batch, 768*seq]");
  check_error(infer::flatten(x, 5), StatusCode::out_of_range, "flatten", "axis 5 is out of range for rank 4");

  const TensorType y = f32({1, batch, 1, 4});
  CHECK(shown(infer::squeeze(y)) == "f32[batch, 4]");
  CHECK(shown(infer::squeeze(y, {0, -2})) == "f32[batch, 4]");
  CHECK(shown(infer::squeeze(y, {1})) == "f32[1, 1, 4]");  // batch must be 1 at run time
  check_error(infer::squeeze(y, {3}), StatusCode::shape_mismatch, "squeeze", "axis 3 of f32[1, batch, 1, 4] has extent 4, not 1");

  CHECK(shown(infer::unsqueeze(f32({batch, 4}), {0, 3})) == "f32[1, batch, 4, 1]");
  CHECK(shown(infer::unsqueeze(f32({batch, 4}), {-1})) == "f32[batch, 4, 1]");
  check_error(infer::unsqueeze(f32({batch, 4}), {0, 0}), StatusCode::invalid_argument, "unsqueeze", "repeated");
  check_error(infer::unsqueeze(f32({1, 1, 1, 1, 1, 1, 1}), {0, 1}), StatusCode::unsupported, "unsqueeze", "rank 9");

  CHECK(shown(infer::expand(f32({3, 1}), {2, 1, 4})) == "f32[2, 3, 4]");
  CHECK(shown(infer::expand(f32({batch, 1}), {1, seq})) == "f32[batch, seq]");
  check_error(infer::expand(f32({3}), {4}), StatusCode::shape_mismatch, "expand", "dimensions 3 and 4 differ");

  const TensorType heads = f32({batch, seq, 12, 64});
  CHECK(shown(infer::transpose(heads, {0, 2, 1, 3})) == "f32[batch, 12, seq, 64]");
  CHECK(shown(infer::transpose(heads, {0, -2, 1, -1})) == "f32[batch, 12, seq, 64]");
  CHECK(shown(infer::transpose(heads)) == "f32[64, 12, seq, batch]");
  check_error(infer::transpose(heads, {0, 0, 1, 2}), StatusCode::invalid_argument, "transpose", "axis 0 is repeated");
  check_error(infer::transpose(heads, {0, 1}), StatusCode::invalid_argument, "transpose", "perm has 2 values for rank 4");

  CHECK(shown(infer::shape_of(heads)) == "i64[4]");
  CHECK(shown(infer::shape_of(heads, 1)) == "i64[3]");
  CHECK(shown(infer::shape_of(heads, -3, -1)) == "i64[2]");
  CHECK(shown(infer::shape_of(heads, 3, 1)) == "i64[0]");
  CHECK(shown(infer::shape_of(f32({}))) == "i64[0]");
}

// ---- concat, split, slice, pad, tile ---------------------------------------------------------
TEST_CASE("concat and split") {
  const std::array<TensorType, 2> parts = {f32({batch, 3}), f32({batch, 5})};
  CHECK(shown(infer::concat(parts, 1)) == "f32[batch, 8]");
  CHECK(shown(infer::concat({f32({2, seq}), f32({2, 1})}, -1)) == "f32[2, seq + 1]");
  const std::array<TensorType, 3> caches = {f32({sym("past"), 64}), f32({seq, 64}), f32({1, 64})};
  CHECK(shown(infer::concat(caches, 0)) == "f32[past + seq + 1, 64]");
  const std::array<TensorType, 2> mismatched = {f32({2, 3}), f32({2, 4})};
  check_error(infer::concat(mismatched, 0), StatusCode::shape_mismatch, "concat",
              "input 1 f32[2, 4] differs from input 0 f32[2, 3] at axis 1");
  const std::array<TensorType, 2> ranks = {f32({2, 3}), f32({2})};
  check_error(infer::concat(ranks, 0), StatusCode::shape_mismatch, "concat", "has rank 1");
  check_error(infer::concat(std::span<const TensorType>(), 0), StatusCode::invalid_argument, "concat",
              "at least one input");

  const auto halves = infer::split(f32({batch, 10}), {.axis = 1, .sizes = {3, 7}});
  REQUIRE(halves.ok());
  REQUIRE(halves->size() == 2);
  CHECK(to_string((*halves)[0]) == "f32[batch, 3]");
  CHECK(to_string((*halves)[1]) == "f32[batch, 7]");
  const auto thirds = infer::split(f32({10}), {.num_outputs = 3});
  REQUIRE(thirds.ok());
  REQUIRE(thirds->size() == 3);
  CHECK(to_string((*thirds)[0]) == "f32[4]");
  CHECK(to_string((*thirds)[2]) == "f32[2]");
  const auto symbolic = infer::split(f32({seq}), {.num_outputs = 2});
  REQUIRE(symbolic.ok());
  CHECK(value_of((*symbolic)[0].dims[0], {{"seq", 7}}) == 4);
  CHECK(value_of((*symbolic)[1].dims[0], {{"seq", 7}}) == 3);
  check_error(infer::split(f32({batch, 10}), {.axis = 1, .sizes = {3, 4}}), StatusCode::shape_mismatch, "split",
              "sizes add up to 7 but axis 1 has extent 10");
  check_error(infer::split(f32({5}), {.num_outputs = 4}), StatusCode::shape_mismatch, "split",
              "extent 5 of axis 0 cannot split into 4 outputs");
  check_error(infer::split(f32({5}), {}), StatusCode::invalid_argument, "split", "either sizes or num_outputs");
}

namespace {
// The extent of x[start:end:step] along an axis of extent d, clamped as CPython's
// PySlice_AdjustIndices clamps (NumPy's rule, which ONNX's reference implementation uses).
std::int64_t reference_slice_extent(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) {
  const std::int64_t low = step < 0 ? -1 : 0;
  const std::int64_t high = step < 0 ? d - 1 : d;
  for (std::int64_t* v : {&start, &end}) {
    if (*v < 0) {
      *v += d;
      if (*v < 0) *v = low;
    } else if (*v >= high) {
      *v = high;
    }
  }
  std::int64_t count = 0;
  for (std::int64_t i = start; step > 0 ? i < end : i > end; i += step) ++count;
  return count;
}
} // namespace

TEST_CASE("slice clamps like NumPy, on constant and symbolic extents") {
  CHECK(shown(infer::slice(f32({10, 20}), {.starts = {2, -5}, .ends = {8, kInt64Max}})) == "f32[6, 5]");
  CHECK(shown(infer::slice(f32({10}), {.starts = {1}, .ends = {10}, .steps = {2}})) == "f32[5]");
  CHECK(shown(infer::slice(f32({10}), {.starts = {-1}, .ends = {kInt64Min}, .steps = {-1}})) == "f32[10]");
  CHECK(shown(infer::slice(f32({batch, seq, 768}), {.starts = {-1}, .ends = {kInt64Max}, .axes = {1}})) ==
        "f32[batch, min(seq, 1), 768]");
  CHECK(shown(infer::slice(f32({batch, seq}), {.starts = {0}, .ends = {8}, .axes = {-1}})) == "f32[batch, min(seq, 8)]");
  CHECK(shown(infer::slice(f32({batch, seq}), {.starts = {0}, .ends = {kInt64Max}, .axes = {1}})) == "f32[batch, seq]");

  check_error(infer::slice(f32({10}), {.starts = {0}, .ends = {5}, .steps = {0}}), StatusCode::invalid_argument, "slice",
              "steps must not be 0");
  // A backward slice that starts before the beginning takes nothing.
  CHECK(shown(infer::slice(f32({10}), {.starts = {-20}, .ends = {kInt64Min}, .steps = {-1}})) == "f32[0]");
  CHECK(shown(infer::slice(f32({seq}), {.starts = {-1}, .ends = {kInt64Min}, .steps = {-1}})) == "f32[seq]");
  check_error(infer::slice(f32({10}), {.starts = {0}, .ends = {5, 6}}), StatusCode::invalid_argument, "slice",
              "ends has 2 values");
  check_error(infer::slice(f32({10, 3}), {.starts = {0, 0}, .ends = {5, 6}, .axes = {1, -1}}),
              StatusCode::invalid_argument, "slice", "is repeated");

  // Every slice of a constant extent, and every slice of a symbolic extent that SymDim can
  // express, agrees with the reference. Symbolic slices whose start and end count from
  // opposite ends of the axis ([-13:1]) can outgrow SymDim's capacity; the common forms
  // must not.
  const std::int64_t bounds[] = {kInt64Min, -13, -10, -7, -4, -2, -1, 0, 1, 2, 3, 5, 8, 11, 13, kInt64Max};
  int symbolic_count = 0;
  for (const std::int64_t step : {-3, -2, -1, 1, 2, 3}) {
    for (const std::int64_t start : bounds) {
      for (const std::int64_t end : bounds) {
        const SliceAttrs attrs{.starts = {start}, .ends = {end}, .steps = {step}};
        const auto symbolic = infer::slice(f32({seq}), attrs);
        const bool same_end = (start < 0) == (end < 0) || start == kInt64Min || end == kInt64Max ||
                              (step < 0 && (start == kInt64Max || end == kInt64Min));
        if (same_end && (step == 1 || step == -1)) CHECK_MESSAGE(symbolic.ok(), start, ":", end, ":", step);
        symbolic_count += symbolic.ok() ? 1 : 0;
        for (std::int64_t d = 0; d <= 12; ++d) {
          const std::int64_t expected = reference_slice_extent(d, start, end, step);
          const auto constant = infer::slice(f32({d}), attrs);
          REQUIRE(constant.ok());
          CHECK_MESSAGE(constant->dims[0].as_constant() == expected, "d=", d, " [", start, ":", end, ":", step, "]");
          if (!symbolic.ok()) continue;
          CHECK_MESSAGE(value_of(symbolic->dims[0], {{"seq", d}}) == expected,
                        "d=", d, " [", start, ":", end, ":", step, "] ", to_string(symbolic->dims[0]));
        }
      }
    }
  }
  CHECK(symbolic_count > 1200);
  for (const SliceAttrs& common : {SliceAttrs{.starts = {1}, .ends = {kInt64Max}}, SliceAttrs{.starts = {0}, .ends = {-1}},
                                   SliceAttrs{.starts = {-3}, .ends = {-1}}, SliceAttrs{.starts = {2}, .ends = {5}, .steps = {2}},
                                   SliceAttrs{.starts = {1}, .ends = {kInt64Max}, .steps = {2}},
                                   SliceAttrs{.starts = {-2}, .ends = {kInt64Min}, .steps = {-1}}}) {
    CHECK_MESSAGE(infer::slice(f32({seq}), common).ok(), common.starts[0], ":", common.ends[0]);
  }
}

TEST_CASE("pad and tile") {
  CHECK(shown(infer::pad(f32({2, 3}), {1, 0, 1, 2})) == "f32[4, 5]");
  CHECK(shown(infer::pad(f32({2, 3}), {-1, 0, 0, 0})) == "f32[1, 3]");
  CHECK(shown(infer::pad(f32({2, seq}), {1, 1}, {-1})) == "f32[2, seq + 2]");
  check_error(infer::pad(f32({2, 3}), {-2, 0, -1, 0}), StatusCode::shape_mismatch, "pad",
              "axis 0 of extent 2 padded by -2 and -1 would have extent -1");
  check_error(infer::pad(f32({2, 3}), {1, 1}), StatusCode::invalid_argument, "pad", "pads has 2 values, expected 4");

  CHECK(shown(infer::tile(f32({batch, 3}), {2, 2})) == "f32[2*batch, 6]");
  check_error(infer::tile(f32({batch, 3}), {2}), StatusCode::invalid_argument, "tile", "repeats has 1 values for rank 2");
  check_error(infer::tile(f32({3}), {-1}), StatusCode::invalid_argument, "tile", "must not be negative");
}

TEST_CASE("resize by scales or sizes") {
  const TensorType image = f32({1, 3, h, w});
  CHECK(shown(infer::resize(image, {.scales = {1.0, 1.0, 2.0, 2.0}})) == "f32[1, 3, 2*h, 2*w]");
  CHECK(shown(infer::resize(image, {.scales = {0.5, 1.5}, .axes = {2, 3}})) ==
        "f32[1, 3, floordiv(h, 2), w + floordiv(w, 2)]");
  CHECK(shown(infer::resize(f32({1, 3, 7, 7}), {.scales = {1.0, 1.0, 1.5, 0.25}})) == "f32[1, 3, 10, 1]");
  CHECK(shown(infer::resize(image, {.sizes = {seq, 64}, .axes = {-2, -1}})) == "f32[1, 3, seq, 64]");
  check_error(infer::resize(image, {}), StatusCode::invalid_argument, "resize", "either scales or sizes");
  check_error(infer::resize(image, {.scales = {2.0}}), StatusCode::invalid_argument, "resize",
              "scales has 1 values, expected 4");
  check_error(infer::resize(image, {.scales = {1.0, 1.0, 0.0, 1.0}}), StatusCode::invalid_argument, "resize",
              "scales must be positive");
  check_error(infer::resize(image, {.scales = {1.0, 1.0, 0.123456789, 1.0}}), StatusCode::unsupported, "resize",
              "symbolic extent h");
  // A simple fraction applies exactly, where double rounding would give 30 * 0.3 = 8.
  CHECK(shown(infer::resize(f32({30}), {.scales = {0.3}})) == "f32[9]");
  CHECK(shown(infer::resize(f32({1, 1, 10, 3}), {.scales = {1.0, 1.0, 0.123456789, 1.0}})) == "f32[1, 1, 1, 3]");
}

// ---- gather and scatter ----------------------------------------------------------------------
TEST_CASE("gather and scatter") {
  const TensorType ids(DType::i64, {batch, seq});
  CHECK(shown(infer::gather(f32({30522, 768}), ids)) == "f32[batch, seq, 768]");
  CHECK(shown(infer::gather(f32({3, 4, 5}), TensorType(DType::i32, {2}), 1)) == "f32[3, 2, 5]");
  CHECK(shown(infer::gather(f32({3, 4, 5}), TensorType(DType::i64, {}), -1)) == "f32[3, 4]");
  check_error(infer::gather(f32({3, 4}), f32({2})), StatusCode::dtype_mismatch, "gather",
              "indices must be i32 or i64, got f32");
  check_error(infer::gather(f32({3, 4}), ids, 2), StatusCode::out_of_range, "gather", "axis 2 is out of range");

  const TensorType index(DType::i64, {2, 2});
  CHECK(shown(infer::gather_elements(f32({3, 3}), index, 1)) == "f32[2, 2]");
  check_error(infer::gather_elements(f32({3}), index), StatusCode::shape_mismatch, "gather_elements",
              "must have the rank of the data");

  CHECK(shown(infer::scatter_elements(f32({3, 3}), index, f32({2, 2}), 0)) == "f32[3, 3]");
  check_error(infer::scatter_elements(f32({3, 3}), index, f32({2, 3})), StatusCode::shape_mismatch, "scatter_elements",
              "indices i64[2, 2] and updates f32[2, 3] must have one shape");
  check_error(infer::scatter_elements(f32({3, 3}), index, TensorType(DType::f16, {2, 2})), StatusCode::dtype_mismatch,
              "scatter_elements", "dtypes f32 and f16 differ");

  const TensorType data = f32({4, 5, 6});
  CHECK(shown(infer::scatter_nd(data, TensorType(DType::i64, {2, 2}), f32({2, 6}))) == "f32[4, 5, 6]");
  CHECK(shown(infer::scatter_nd(data, TensorType(DType::i64, {3, 1}), f32({3, 5, 6}))) == "f32[4, 5, 6]");
  check_error(infer::scatter_nd(data, TensorType(DType::i64, {2, 2}), f32({2, 5})), StatusCode::shape_mismatch,
              "scatter_nd", "updates f32[2, 5] must be [2, 6]");
  check_error(infer::scatter_nd(data, TensorType(DType::i64, {2, 4}), f32({2})), StatusCode::shape_mismatch,
              "scatter_nd", "indices address 4 axes");
}
