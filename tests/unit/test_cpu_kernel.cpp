// Scheduled kernels on the CPU backend against naive loops: static and dynamic extents, odd
// sizes, both tail strategies, vectorized, unrolled and parallel loops.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/runtime/tensor.hpp>
#include <kiln/runtime/thread_pool.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace kiln;

namespace {
using kiln::test::at;
using kiln::test::pattern;

// ---- matmul with every extent dynamic ------------------------------------------------------
constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, te::dim<"k">);
constexpr auto B = te::placeholder<float, "B">(te::dim<"k">, te::dim<"n">);
constexpr auto r = te::reduce_axis<"r">(te::dim<"k">);
const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return te::sum(A(i, r) * B(r, j), r); });

constexpr auto kNaive = tir::schedule("C");
constexpr auto kTiledGuard = tir::schedule("C")
                                 .split("i", 4)
                                 .split("j", 32)
                                 .reorder("i.o", "j.o", "r", "i.i", "j.i")
                                 .parallel("i.o")
                                 .unroll("i.i")
                                 .vectorize("j.i");
constexpr auto kTiledSeparate = tir::schedule("C")
                                    .split("i", 3, tir::Tail::separate)
                                    .split("j", 16, tir::Tail::separate)
                                    .split("r", 8, tir::Tail::separate)
                                    .reorder("i.o", "j.o", "r.o", "r.i", "i.i", "j.i")
                                    .vectorize("j.i");
constexpr auto kFused = tir::schedule("C").fuse("i", "j").parallel("i_j");

template <tir::Schedule S>
void check_matmul(std::int64_t m, std::int64_t n, std::int64_t k, ThreadPool* pool) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  auto a = pattern(static_cast<std::size_t>(m * k), 0.1f);
  auto b = pattern(static_cast<std::size_t>(k * n), 0.7f);
  std::vector<float> c(static_cast<std::size_t>(m * n), -99.0f);
  const auto kernel = cpu::build<S>(C);
  Status status = kernel.run(pool, make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)),
                             make_view(c.data(), shape(m, n)));
  REQUIRE(status.ok());
  double worst = 0.0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double ref = 0.0;
      for (std::int64_t q = 0; q < k; ++q) ref += double(a[std::size_t(i * k + q)]) * double(b[std::size_t(q * n + j)]);
      worst = std::max(worst, std::fabs(ref - double(c[std::size_t(i * n + j)])));
    }
  CHECK(worst <= 1e-5 * static_cast<double>(k + 1));
}

template <tir::Schedule S>
void check_matmul_sizes(ThreadPool* pool) {
  const std::int64_t sizes[] = {1, 3, 17};
  for (std::int64_t m : sizes)
    for (std::int64_t n : sizes)
      for (std::int64_t k : sizes) check_matmul<S>(m, n, k, pool);
  check_matmul<S>(5, 33, 1023, pool);
  check_matmul<S>(3, 1023, 7, pool);
}

} // namespace

TEST_CASE("matmul with dynamic extents matches a naive loop under each schedule") {
  ThreadPool pool(2);
  SUBCASE("no schedule") { check_matmul_sizes<kNaive>(nullptr); }
  SUBCASE("tiled, guarded tails, vectorized, unrolled, parallel") { check_matmul_sizes<kTiledGuard>(&pool); }
  SUBCASE("tiled, separate tails, vectorized") { check_matmul_sizes<kTiledSeparate>(nullptr); }
  SUBCASE("fused and parallel") { check_matmul_sizes<kFused>(&pool); }
}

TEST_CASE("a kernel with static extents") {
  static constexpr auto As = te::placeholder<float, "A">(17_c, 1023_c);
  static constexpr auto Bs = te::placeholder<float, "B">(1023_c, 40_c);
  static constexpr auto rs = te::reduce_axis<"r">(1023_c);
  const auto Cs = te::compute<"C", "i", "j">(te::extents(17_c, 40_c),
                                             [](auto i, auto j) { return te::sum(As(i, rs) * Bs(rs, j), rs); });
  constexpr auto s = tir::schedule("C").split("j", 16).reorder("i", "r", "j.o", "j.i").vectorize("j.i");
  auto a = pattern(17 * 1023, 0.3f);
  auto b = pattern(1023 * 40, 0.9f);
  std::vector<float> c(17 * 40);
  auto kernel = cpu::build<s>(Cs);
  REQUIRE(kernel(make_view(a.data(), shape(17_c, 1023_c)), make_view(b.data(), shape(1023_c, 40_c)),
                 make_view(c.data(), shape(17_c, 40_c)))
              .ok());
  for (int i = 0; i < 17; ++i)
    for (int j = 0; j < 40; ++j) {
      double ref = 0;
      for (int q = 0; q < 1023; ++q) ref += double(a[std::size_t(i * 1023 + q)]) * double(b[std::size_t(q * 40 + j)]);
      CHECK(c[std::size_t(i * 40 + j)] == doctest::Approx(ref).epsilon(1e-4));
    }
  // A static extent that does not match is refused.
  std::vector<float> small(16 * 40);
  Status bad = kernel(make_view(a.data(), shape(17_c, 1023_c)), make_view(b.data(), shape(1023_c, 40_c)),
                      make_view(small.data(), shape(16, 40)));
  CHECK(bad.code() == StatusCode::shape_mismatch);
  CHECK(bad.message() == "argument C: extent 16 on axis 0 but the kernel was built for 17");
}

TEST_CASE("elementwise math, vectorized with both tail strategies, against the standard library") {
  static constexpr auto X = te::placeholder<float, "X">(te::dim<"n">);
  const auto E = te::compute<"E", "x">(te::extents(te::dim<"n">), [](auto x) {
    return te::exp(X(x) * 0.5f) + te::tanh(X(x)) * te::sqrt(te::abs(X(x))) - te::erf(X(x)) / (te::sigmoid(X(x)) + 1.0f);
  });
  auto reference = [](float v) {
    return std::exp(v * 0.5f) + std::tanh(v) * std::sqrt(std::fabs(v)) - std::erf(v) / (1.0f / (1.0f + std::exp(-v)) + 1.0f);
  };
  auto guarded = cpu::build<tir::schedule("E").split("x", 64).split("x.i", 16).vectorize("x.i.i")>(E);
  auto separate = cpu::build<tir::schedule("E").split("x", 48, tir::Tail::separate).vectorize("x.i")>(E);
  for (std::int64_t n : {1, 3, 17, 1023}) {
    CAPTURE(n);
    auto x = pattern(static_cast<std::size_t>(n), 0.2f);
    for (auto& v : x) v *= 3.0f;
    std::vector<float> y1(x.size()), y2(x.size());
    REQUIRE(guarded(make_view(x.data(), shape(n)), make_view(y1.data(), shape(n))).ok());
    REQUIRE(separate(make_view(x.data(), shape(n)), make_view(y2.data(), shape(n))).ok());
    for (std::size_t i = 0; i < x.size(); ++i) {
      CHECK(y1[i] == doctest::Approx(reference(x[i])).epsilon(1e-5));
      CHECK(y2[i] == doctest::Approx(reference(x[i])).epsilon(1e-5));
    }
  }
}

TEST_CASE("select, comparisons, min and max") {
  static constexpr auto X = te::placeholder<float, "X">(te::dim<"n">);
  const auto R = te::compute<"R", "x">(te::extents(te::dim<"n">), [](auto x) {
    return te::select(X(x) > 0.25f, te::max(X(x), 0.5f), te::min(X(x) * 2.0f, -0.1f));
  });
  auto kernel = cpu::build<tir::schedule("R").split("x", 32).vectorize("x.i")>(R);
  auto x = pattern(1023, 0.0f);
  std::vector<float> y(x.size());
  REQUIRE(kernel(make_view(x.data(), shape(std::int64_t{1023})), make_view(y.data(), shape(std::int64_t{1023}))).ok());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float v = x[i];
    CHECK(y[i] == (v > 0.25f ? std::max(v, 0.5f) : std::min(v * 2.0f, -0.1f)));
  }
}

TEST_CASE("row reductions: max, min and prod, with the spatial axis vectorized across rows") {
  static constexpr auto X = te::placeholder<float, "X">(te::dim<"rows">, te::dim<"cols">);
  static constexpr auto c = te::reduce_axis<"c">(te::dim<"cols">);
  const auto Mx = te::compute<"M", "i">(te::extents(te::dim<"rows">), [](auto i) { return te::max(X(i, c), c); });
  const auto Mn = te::compute<"M", "i">(te::extents(te::dim<"rows">), [](auto i) { return te::min(X(i, c), c); });
  const auto Pr = te::compute<"M", "i">(te::extents(te::dim<"rows">),
                                        [](auto i) { return te::prod(X(i, c) * 0.5f + 1.0f, c); });
  constexpr auto s = tir::schedule("M").split("i", 16).reorder("i.o", "c", "i.i").vectorize("i.i");
  auto kmax = cpu::build<s>(Mx);
  auto kmin = cpu::build<s>(Mn);
  auto kprod = cpu::build<tir::schedule("M")>(Pr);
  for (std::int64_t rows : {1, 17, 40})
    for (std::int64_t cols : {1, 3, 17}) {
      auto x = pattern(static_cast<std::size_t>(rows * cols), 0.4f);
      std::vector<float> mx(static_cast<std::size_t>(rows)), mn(static_cast<std::size_t>(rows)), pr(static_cast<std::size_t>(rows));
      auto xv = make_view(x.data(), shape(rows, cols));
      REQUIRE(kmax(xv, make_view(mx.data(), shape(rows))).ok());
      REQUIRE(kmin(xv, make_view(mn.data(), shape(rows))).ok());
      REQUIRE(kprod(xv, make_view(pr.data(), shape(rows))).ok());
      for (std::int64_t i = 0; i < rows; ++i) {
        float hi = -INFINITY, lo = INFINITY;
        double p = 1.0;
        for (std::int64_t q = 0; q < cols; ++q) {
          const float v = xv(i, q);
          hi = std::max(hi, v);
          lo = std::min(lo, v);
          p *= double(v) * 0.5 + 1.0;
        }
        CHECK(mx[std::size_t(i)] == hi);
        CHECK(mn[std::size_t(i)] == lo);
        CHECK(pr[std::size_t(i)] == doctest::Approx(p).epsilon(1e-5));
      }
    }
}

TEST_CASE("casts: f16 inputs computed in f32, and integer index arithmetic") {
  static constexpr auto H = te::placeholder<f16, "H">(te::dim<"n">);
  const auto F = te::compute<"F", "x">(te::extents(te::dim<"n">),
                                       [](auto x) { return te::cast<float>(H(x)) * 2.0f + te::cast<float>(x); });
  auto kernel = cpu::build<tir::schedule("F").split("x", 16).vectorize("x.i")>(F);
  std::vector<f16> h(37);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = f16(static_cast<float>(i) * 0.1f);
  std::vector<float> out(h.size());
  REQUIRE(kernel(make_view(h.data(), shape(std::int64_t{37})), make_view(out.data(), shape(std::int64_t{37}))).ok());
  for (std::size_t i = 0; i < h.size(); ++i) CHECK(out[i] == static_cast<float>(h[i]) * 2.0f + static_cast<float>(i));

  // Index arithmetic with floordiv/floormod: a reshape of 6 x 4 to 4 x 6 through flat indices.
  static constexpr auto S = te::placeholder<std::int32_t, "S">(6_c, 4_c);
  const auto T = te::compute<"T", "a", "b">(te::extents(4_c, 6_c), [](auto a, auto b) {
    auto flat = a * 6 + b;
    return S(te::floordiv(flat, 4), te::floormod(flat, 4)) + 1;
  });
  auto reshape = cpu::build<tir::schedule("T")>(T);
  std::vector<std::int32_t> s(24), t(24);
  for (int i = 0; i < 24; ++i) s[std::size_t(i)] = i * 10;
  REQUIRE(reshape(make_view(s.data(), shape(6_c, 4_c)), make_view(t.data(), shape(4_c, 6_c))).ok());
  for (int i = 0; i < 24; ++i) CHECK(t[std::size_t(i)] == i * 10 + 1);
}

TEST_CASE("strided views and run-time tensors as arguments") {
  // B given as the transpose of a row-major n x k matrix: strides (1, k).
  const std::int64_t m = 9, n = 21, k = 13;
  auto a = pattern(std::size_t(m * k), 0.5f);
  auto bt = pattern(std::size_t(n * k), 0.6f);
  auto bview = TensorView(bt.data(), shape(k, n), stride(1_c, k));
  const std::int64_t a_dims[] = {m, k};
  auto tensor_a = Tensor::from_values<float>(Dims(a_dims), std::span<const float>(a)).value();
  auto tensor_c = Tensor::zeros(DType::f32, {m, n}).value();
  auto kernel = cpu::build<kTiledGuard>(C);
  REQUIRE(kernel(tensor_a, bview, tensor_c).ok());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (std::int64_t q = 0; q < k; ++q) ref += double(a[std::size_t(i * k + q)]) * double(bview(q, j));
      CHECK(tensor_c.at<float>(i, j) == doctest::Approx(ref).epsilon(1e-5));
    }
  auto wrong_dtype = Tensor::zeros(DType::f64, {m, n}).value();
  CHECK(kernel(tensor_a, bview, wrong_dtype).message() == "argument C holds f64 but the kernel expects f32");
  auto wrong_rank = Tensor::zeros(DType::f32, {m * n}).value();
  CHECK(kernel(tensor_a, bview, wrong_rank).message() == "argument C has rank 1 but the kernel expects rank 2");
  auto wrong_k = Tensor::zeros(DType::f32, {m, k + 1}).value();
  CHECK(kernel(wrong_k, bview, tensor_c).message() == "argument B: extent 13 on axis 0 but k = 14 from an earlier argument");
}

TEST_CASE("a parallel kernel gives the same result on one thread and on a pool") {
  const std::int64_t m = 67, n = 45, k = 31;
  auto a = pattern(std::size_t(m * k), 0.5f);
  auto b = pattern(std::size_t(k * n), 0.6f);
  std::vector<float> serial(std::size_t(m * n)), parallel(std::size_t(m * n));
  auto kernel = cpu::build<kTiledGuard>(C);
  ThreadPool pool(2);
  REQUIRE(kernel(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(serial.data(), shape(m, n))).ok());
  REQUIRE(kernel.run(&pool, make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)),
                     make_view(parallel.data(), shape(m, n)))
              .ok());
  CHECK(serial == parallel);
}
