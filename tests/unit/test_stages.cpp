// Kernels of several stages: materialized intermediates, compute_inline, and
// reverse_compute_inline (epilogue fusion), against naive loops; their printed programs; and
// the diagnostics of illegal stage-level schedules.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/tir/print.hpp>
#include <kiln/tir/stage_graph.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace kiln;

namespace {
using kiln::test::at;
using kiln::test::pattern;
// relu(A @ B + bias)
constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, te::dim<"k">);
constexpr auto B = te::placeholder<float, "B">(te::dim<"k">, te::dim<"n">);
constexpr auto Bias = te::placeholder<float, "bias">(te::dim<"n">);
constexpr auto r = te::reduce_axis<"r">(te::dim<"k">);
const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return te::sum(A(i, r) * B(r, j), r); });
const auto D = te::compute<"D", "x", "y">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto x, auto y) { return te::max(C(x, y) + Bias(y), 0.0f); });
using DType_ = std::remove_const_t<decltype(D)>;

constexpr auto kEpilogue = tir::schedule("C")
                               .split("i", 4)
                               .split("j", 16)
                               .reorder("i.o", "j.o", "r", "i.i", "j.i")
                               .parallel("i.o")
                               .vectorize("j.i")
                               .stage("D")
                               .reverse_compute_inline();
constexpr auto kMaterialized =
    tir::schedule("C").split("j", 16).reorder("i", "j.o", "r", "j.i").vectorize("j.i").stage("D").split("y", 8).vectorize("y.i");

template <tir::Schedule S>
void check_dense(std::int64_t m, std::int64_t n, std::int64_t k, ThreadPool* pool) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  auto a = pattern(std::size_t(m * k), 0.1f), b = pattern(std::size_t(k * n), 0.2f), bias = pattern(std::size_t(n), 0.3f);
  std::vector<float> d(std::size_t(m * n), -7.0f);
  auto kernel = cpu::build<S>(D);
  REQUIRE(kernel.run(pool, make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)),
                     make_view(bias.data(), shape(n)), make_view(d.data(), shape(m, n)))
              .ok());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (std::int64_t q = 0; q < k; ++q) acc += double(a[std::size_t(i * k + q)]) * double(b[std::size_t(q * n + j)]);
      const double ref = std::max(acc + double(bias[std::size_t(j)]), 0.0);
      CHECK(double(d[std::size_t(i * n + j)]) == doctest::Approx(ref).epsilon(1e-5));
    }
}
} // namespace

TEST_CASE("the stage graph of a dense layer") {
  constexpr auto g = tir::stage_graph<DType_>();
  static_assert(g.count == 2);
  CHECK(g.stages[0].name == Name("C"));
  CHECK(g.stages[0].reduction);
  CHECK(g.stages[1].read_count == 1);
  CHECK(g.stages[1].reads[0] == Name("C"));
  CHECK(g.stages[1].reads_at_own_axes[0]);
  static_assert(std::is_same_v<typename DType_::inputs, te::TypeList<std::remove_const_t<decltype(A)>,
                                                                     std::remove_const_t<decltype(B)>,
                                                                     std::remove_const_t<decltype(Bias)>>>);
}

TEST_CASE("a matmul with a bias and ReLU epilogue (reverse_compute_inline) matches a naive loop") {
  ThreadPool pool(2);
  for (std::int64_t m : {1, 3, 17})
    for (std::int64_t n : {1, 3, 17, 40})
      for (std::int64_t k : {1, 3, 17}) check_dense<kEpilogue>(m, n, k, &pool);
  check_dense<kEpilogue>(5, 33, 1023, nullptr);
}

TEST_CASE("the same layer with the matmul materialized in the workspace") {
  for (std::int64_t m : {1, 17})
    for (std::int64_t n : {3, 40}) check_dense<kMaterialized>(m, n, 19, nullptr);
  // The workspace grows for larger shapes and is reused for smaller ones.
  check_dense<kMaterialized>(64, 64, 8, nullptr);
  check_dense<kMaterialized>(2, 2, 2, nullptr);
}

TEST_CASE("softmax in four stages, with and without the exponentials inlined") {
  static constexpr auto X = te::placeholder<float, "X">(te::dim<"rows">, te::dim<"cols">);
  static constexpr auto c1 = te::reduce_axis<"c1">(te::dim<"cols">);
  static constexpr auto c2 = te::reduce_axis<"c2">(te::dim<"cols">);
  static const auto M = te::compute<"M", "i">(te::extents(te::dim<"rows">), [](auto i) { return te::max(X(i, c1), c1); });
  static const auto E = te::compute<"E", "i", "j">(te::extents(te::dim<"rows">, te::dim<"cols">),
                                                   [](auto i, auto j) { return te::exp(X(i, j) - M(i)); });
  static const auto Ssum = te::compute<"S", "i">(te::extents(te::dim<"rows">), [](auto i) { return te::sum(E(i, c2), c2); });
  const auto Y = te::compute<"Y", "i", "j">(te::extents(te::dim<"rows">, te::dim<"cols">),
                                            [](auto i, auto j) { return E(i, j) / Ssum(i); });
  auto materialized = cpu::build<tir::schedule("Y").split("j", 16).vectorize("j.i").stage("E").split("j", 16).vectorize("j.i")>(Y);
  auto inlined = cpu::build<tir::schedule("E").compute_inline().stage("Y").split("j", 16).vectorize("j.i")>(Y);
  for (std::int64_t rows : {1, 5})
    for (std::int64_t cols : {1, 3, 17, 1023}) {
      auto x = pattern(std::size_t(rows * cols), 0.5f);
      for (auto& v : x) v *= 4.0f;
      std::vector<float> y1(x.size()), y2(x.size());
      auto xv = make_view(x.data(), shape(rows, cols));
      REQUIRE(materialized(xv, make_view(y1.data(), shape(rows, cols))).ok());
      REQUIRE(inlined(xv, make_view(y2.data(), shape(rows, cols))).ok());
      for (std::int64_t i = 0; i < rows; ++i) {
        double hi = -INFINITY, sum = 0;
        for (std::int64_t j = 0; j < cols; ++j) hi = std::max(hi, double(xv(i, j)));
        for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(double(xv(i, j)) - hi);
        for (std::int64_t j = 0; j < cols; ++j) {
          const double ref = std::exp(double(xv(i, j)) - hi) / sum;
          CHECK(double(y1[std::size_t(i * cols + j)]) == doctest::Approx(ref).epsilon(1e-5));
          CHECK(double(y2[std::size_t(i * cols + j)]) == doctest::Approx(ref).epsilon(1e-5));
        }
      }
    }
}

TEST_CASE("an inlined elementwise chain runs as one vectorized loop and prints as one expression") {
  static constexpr auto X = te::placeholder<float, "X">(te::dim<"n">);
  static const auto Y1 = te::compute<"Y1", "a">(te::extents(te::dim<"n">), [](auto a) { return X(a) * 2.0f; });
  static const auto Y2 = te::compute<"Y2", "b">(te::extents(te::dim<"n">), [](auto b) { return Y1(b) + 1.0f; });
  const auto Y3 = te::compute<"Y3", "c">(te::extents(te::dim<"n">), [](auto c) { return te::tanh(Y2(c)) * Y1(c); });
  constexpr auto s = tir::schedule("Y1").compute_inline().stage("Y2").compute_inline().stage("Y3").split("c", 16).vectorize("c.i");
  auto kernel = cpu::build<s>(Y3);
  auto x = pattern(1023, 0.0f);
  std::vector<float> y(x.size());
  REQUIRE(kernel(make_view(x.data(), shape(std::int64_t{1023})), make_view(y.data(), shape(std::int64_t{1023}))).ok());
  for (std::size_t i = 0; i < x.size(); ++i)
    CHECK(y[i] == doctest::Approx(std::tanh(x[i] * 2.0f + 1.0f) * (x[i] * 2.0f)).epsilon(1e-6));
  CHECK(tir::print<s>(Y3) ==
        "@T.prim_func\n"
        "def Y3(X: T.Buffer((n,), \"float32\"), Y3: T.Buffer((n,), \"float32\")):\n"
        "    for c.o in range(T.ceildiv(n, 16)):\n"
        "        for c.i in T.vectorized(16):\n"
        "            c = c.o * 16 + c.i\n"
        "            if c < n:\n"
        "                Y3[c] = (T.tanh(((X[c] * T.float32(2)) + T.float32(1))) * (X[c] * T.float32(2)))\n");
}

TEST_CASE("the printed program of a matmul with its epilogue") {
  CHECK(tir::print<kEpilogue>(D) ==
        "@T.prim_func\n"
        "def D(A: T.Buffer((m, k), \"float32\"), B: T.Buffer((k, n), \"float32\"), bias: T.Buffer((n,), \"float32\"), "
        "D: T.Buffer((m, n), \"float32\")):\n"
        "    for i.o in T.parallel(T.ceildiv(m, 4)):\n"
        "        for j.o in range(T.ceildiv(n, 16)):\n"
        "            for r in range(k):  # reduction\n"
        "                for i.i in range(4):\n"
        "                    for j.i in T.vectorized(16):\n"
        "                        i = i.o * 4 + i.i\n"
        "                        j = j.o * 16 + j.i\n"
        "                        if i < m and j < n:\n"
        "                            if r == 0:\n"
        "                                D[i, j] = T.sum_identity(\"float32\")\n"
        "                            D[i, j] = T.sum(D[i, j], (A[i, r] * B[r, j]))\n"
        "            # epilogue: D once C is reduced\n"
        "            for i.i in range(4):\n"
        "                for j.i in T.vectorized(16):\n"
        "                    i = i.o * 4 + i.i\n"
        "                    j = j.o * 16 + j.i\n"
        "                    if i < m and j < n:\n"
        "                        D[i, j] = T.max((D[i, j] + bias[j]), T.float32(0))\n");
  CHECK(tir::print<kMaterialized>(D).find("    C = T.alloc_buffer((m, n), \"float32\")\n") != std::string::npos);
}

TEST_CASE("illegal stage-level schedules are diagnosed with the primitive and the stage") {
  constexpr auto g = tir::stage_graph<DType_>();
  auto message = [&](const tir::Schedule& s) { return std::string(tir::check_stages(g, s).message); };
  CHECK(message(tir::schedule("C").compute_inline()) ==
        "compute_inline(\"C\"): the stage is a reduction; only injective stages can be inlined");
  CHECK(message(tir::schedule("D").compute_inline()) ==
        "compute_inline(\"D\"): the stage is the output of the kernel and cannot be inlined");
  CHECK(message(tir::schedule("Q").split("i", 2)) == "split(\"Q\"): no stage of that name in the kernel");
  CHECK(message(tir::schedule("D").reverse_compute_inline().split("x", 4)) ==
        "split(\"D\"): the stage is reverse-inlined; it has no loops to schedule");
  CHECK(message(kEpilogue) == "");
  // A consumer that reads its producer transposed cannot be its epilogue.
  const auto T = te::compute<"T", "x", "y">(te::extents(te::dim<"n">, te::dim<"m">),
                                            [](auto x, auto y) { return C(y, x); });
  constexpr auto gt = tir::stage_graph<std::remove_const_t<decltype(T)>>();
  CHECK(std::string(tir::check_stages(gt, tir::schedule("T").reverse_compute_inline()).message) ==
        "reverse_compute_inline(\"T\"): the stage does not read its producer at its own axes, in order");
}

TEST_CASE("decompose_reduction and cache_write(local), alone and with an epilogue") {
  constexpr auto tiled = tir::schedule("C")
                             .split("i", 4)
                             .split("j", 32)
                             .reorder("i.o", "j.o", "r", "i.i", "j.i")
                             .unroll("i.i")
                             .vectorize("j.i");
  constexpr auto decomposed = tiled.decompose_reduction().stage("D").reverse_compute_inline();
  constexpr auto cached = tiled.cache_write(tir::Scope::local).parallel("i.o").stage("D").reverse_compute_inline();
  constexpr auto cached_materialized = tiled.cache_write(tir::Scope::local);
  ThreadPool pool(2);
  for (std::int64_t m : {1, 5, 17})
    for (std::int64_t n : {1, 33, 64})
      for (std::int64_t k : {1, 19}) {
        check_dense<decomposed>(m, n, k, nullptr);
        check_dense<cached>(m, n, k, &pool);
        check_dense<cached_materialized>(m, n, k, nullptr);
      }
  constexpr auto p = tir::lower(tir::compute_spec<std::remove_const_t<decltype(C)>, DType_>(), cached);
  CHECK(p.local_accumulator);
  CHECK(tir::reduction_tile(p) == 4 * 32);
  auto message = [](const tir::Schedule& s) {
    return std::string(tir::lower(tir::compute_spec<std::remove_const_t<decltype(C)>, DType_>(), s).error.message);
  };
  CHECK(message(tir::schedule("C").cache_write(tir::Scope::local)) == "");  // a one-element tile: a register
  CHECK(message(tir::schedule("C").reorder("i", "r", "j").cache_write(tir::Scope::local)) ==
        "cache_write(\"C\"): a spatial loop inside the first reduction loop has a dynamic extent; the local tile must be "
        "static");
  CHECK(message(tir::schedule("C").cache_write(tir::Scope::shared)) ==
        "cache_write(\"C\"): the CPU backend has no shared memory (shared scope is for GPUs)");
  CHECK(message(tir::schedule("C").split("j", 2048).reorder("i", "j.o", "r", "j.i").cache_write(tir::Scope::local)) ==
        "cache_write(\"C\"): the local tile is larger than kiln::tir::kMaxLocalTile elements");
}
