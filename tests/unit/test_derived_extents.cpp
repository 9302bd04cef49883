// Derived extents: an intermediate or an argument whose extent is arithmetic on others
// (a zero-padded image of h + 2 rows, a valid convolution's h - 2 output rows), and rfactor
// over a reduction whose extent is only known at run time (its chunks: ceildiv(k, factor)).
// Against naive loops, with the printed programs and the errors for arguments whose extents
// disagree with the arithmetic.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/tir/print.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::pattern;

constexpr auto h = dim<"h">;
constexpr auto w = dim<"w">;
constexpr auto A = te::placeholder<float, "A">(h, w);
constexpr auto r = te::reduce_axis<"r">(3_c);
constexpr auto s = te::reduce_axis<"s">(3_c);

// The 3 x 3 box sum of A with zero padding: A copied into a buffer one element wider on
// every side, then summed without any bounds check.
auto padded_box_sum() {
  const auto padded = te::compute<"P", "y", "x">(te::extents(h + 2_c, w + 2_c), [](auto y, auto x) {
    return te::if_then_else(y >= 1 && y < te::extent_of(h) + 1 && x >= 1 && x < te::extent_of(w) + 1, A(y - 1, x - 1),
                            0.0f);
  });
  return te::compute<"C", "i", "j">(te::extents(h, w),
                                    [padded](auto i, auto j) { return te::sum(padded(i + r, j + s), r, s); });
}

float box_sum_reference(const std::vector<float>& a, std::int64_t rows, std::int64_t cols, std::int64_t i, std::int64_t j,
                        std::int64_t pad) {
  float sum = 0.0f;
  for (std::int64_t dy = 0; dy < 3; ++dy)
    for (std::int64_t dx = 0; dx < 3; ++dx) {
      const std::int64_t y = i + dy - pad, x = j + dx - pad;
      if (y >= 0 && y < rows && x >= 0 && x < cols) sum += a[at(y * cols + x)];
    }
  return sum;
}
} // namespace

TEST_CASE("a zero-padded copy of h + 2 by w + 2 feeds a 3 x 3 sum without bounds checks") {
  const auto box = padded_box_sum();
  constexpr auto sched = tir::schedule("P").split("x", 8).vectorize("x.i").stage("C").split("j", 8).reorder("i", "j.o", "r", "s", "j.i").vectorize("j.i");
  const std::string text = tir::print<sched>(box);
  CHECK(text.find("    P = T.alloc_buffer(((h + 2), (w + 2)), \"float32\")\n") != std::string::npos);
  auto kernel = cpu::build<sched>(box);
  ThreadPool pool(2);
  for (std::int64_t rows : {1, 3, 17})
    for (std::int64_t cols : {1, 3, 17, 1023}) {
      CAPTURE(rows);
      CAPTURE(cols);
      auto a = pattern(at(rows * cols), 0.2f);
      std::vector<float> c(a.size(), -9.0f);
      REQUIRE(kernel(make_view(a.data(), shape(rows, cols)), make_view(c.data(), shape(rows, cols))).ok());
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          CHECK(c[at(i * cols + j)] == doctest::Approx(box_sum_reference(a, rows, cols, i, j, 1)).epsilon(1e-5));
      CHECK(kernel.workspace_bytes() >= at((rows + 2) * (cols + 2)) * sizeof(float));
    }
}

TEST_CASE("an output of h - 2 by w - 2 rows: checked against the input's extents") {
  const auto valid = te::compute<"C", "i", "j">(te::extents(h - 2_c, w - 2_c),
                                                [](auto i, auto j) { return te::sum(A(i + r, j + s), r, s); });
  constexpr auto sched = tir::schedule("C").split("j", 8).reorder("i", "j.o", "r", "s", "j.i").vectorize("j.i");
  CHECK(tir::print<sched>(valid).find("C: T.Buffer(((h - 2), (w - 2)), \"float32\")") != std::string::npos);
  auto kernel = cpu::build<sched>(valid);
  for (std::int64_t rows : {3, 4, 19})
    for (std::int64_t cols : {3, 10, 1025}) {
      CAPTURE(rows);
      CAPTURE(cols);
      auto a = pattern(at(rows * cols), 0.5f);
      std::vector<float> c(at((rows - 2) * (cols - 2)), -9.0f);
      REQUIRE(kernel(make_view(a.data(), shape(rows, cols)), make_view(c.data(), shape(rows - 2, cols - 2))).ok());
      for (std::int64_t i = 0; i < rows - 2; ++i)
        for (std::int64_t j = 0; j < cols - 2; ++j)
          CHECK(c[at(i * (cols - 2) + j)] ==
                doctest::Approx(box_sum_reference(a, rows, cols, i + 1, j + 1, 1)).epsilon(1e-5));
    }
  auto a = pattern(6 * 7, 0.5f);
  std::vector<float> c(6 * 7);
  const Status wrong = kernel(make_view(a.data(), shape(6, 7)), make_view(c.data(), shape(4, 4)));
  CHECK(wrong.code() == StatusCode::shape_mismatch);
  CHECK(wrong.message() == "argument C: extent 4 on axis 1 but (w - 2) = 5");
}

TEST_CASE("an intermediate whose derived extent is negative for the arguments is an error") {
  // T holds the sums of three neighbours: h - 2 of them, none when h < 3.
  const auto t = te::compute<"T", "y">(te::extents(h - 2_c), [](auto y) { return A(y, 0) + A(y + 1, 0) + A(y + 2, 0); });
  const auto c = te::compute<"C", "i">(te::extents(h), [t](auto i) {
    return te::if_then_else(i < te::extent_of(h - 2_c), t(i), -1.0f);
  });
  auto kernel = cpu::build<tir::schedule("C")>(c);
  std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8}, out(4);
  REQUIRE(kernel(make_view(a.data(), shape(4, 2)), make_view(out.data(), shape(4))).ok());
  CHECK(out == std::vector<float>{1 + 3 + 5, 3 + 5 + 7, -1, -1});
  std::vector<float> one(1);
  const Status negative = kernel(make_view(a.data(), shape(1, 2)), make_view(one.data(), shape(1)));
  CHECK(negative.code() == StatusCode::shape_mismatch);
  CHECK(negative.message() == "kernel C: T has extent (h - 2) = -1, which is negative for these arguments");
}

TEST_CASE("rfactor over a dynamic reduction: ceildiv(k, 16) chunks of vectorized partial sums") {
  static constexpr auto X = te::placeholder<float, "X">(dim<"m">, dim<"k">);
  static constexpr auto q = te::reduce_axis<"q">(dim<"k">);
  const auto rowsum = te::compute<"S", "i">(te::extents(dim<"m">), [](auto i) { return te::sum(X(i, q), q); });
  constexpr auto by16 = tir::schedule("S").rfactor("q", 16).stage("S_rf").reorder("i", "q.o", "q.i").vectorize("q.i");
  constexpr auto by5 = tir::schedule("S").rfactor("q", 5).parallel("i");
  const std::string text = tir::print<by16>(rowsum);
  CHECK(text.find("for q.o in range(T.ceildiv(k, 16)):  # reduction") != std::string::npos);
  auto k16 = cpu::build<by16>(rowsum);
  auto k5 = cpu::build<by5>(rowsum);
  ThreadPool pool(2);
  for (std::int64_t m : {1, 3})
    for (std::int64_t k : {0, 1, 3, 16, 17, 1023}) {
      CAPTURE(m);
      CAPTURE(k);
      auto x = pattern(at(m * k), 0.1f);
      std::vector<float> s16(at(m), -9.0f), s5(at(m), -9.0f);
      REQUIRE(k16(make_view(x.data(), shape(m, k)), make_view(s16.data(), shape(m))).ok());
      REQUIRE(k5.run(&pool, make_view(x.data(), shape(m, k)), make_view(s5.data(), shape(m))).ok());
      for (std::int64_t i = 0; i < m; ++i) {
        double ref = 0;
        for (std::int64_t c = 0; c < k; ++c) ref += double(x[at(i * k + c)]);
        CHECK(s16[at(i)] == doctest::Approx(ref).epsilon(1e-4));
        CHECK(s5[at(i)] == doctest::Approx(ref).epsilon(1e-4));
      }
    }
}
