// Kernels on a Vulkan device (lavapipe in CI) against naive loops: static and named extents,
// the math functions, integers, reductions over guarded tiles, inlined producers, a lazy
// padded read, a dispatch folded onto two axes, a module baked at compile time, and the errors
// for arguments that do not fit. vulkan_device_main.cpp makes the device or reports the
// whole program skipped.
#include <doctest/doctest.h>

#include "test_data.hpp"
#include "vulkan_device.hpp"
#include "vulkan_test_kernels.hpp"

#include <kiln/backend/vulkan/kernel.hpp>

#include <array>
#include <cmath>
#include <initializer_list>
#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
namespace sh = kiln::test::shaders;
using kiln::test::at;
using kiln::test::pattern;

namespace {
constexpr auto gelu_schedule = vulkan::default_gpu_schedule<std::remove_cvref_t<decltype(sh::bias_gelu)>>();
}

TEST_CASE("bias + GELU, built from the module baked at compile time and from the run-time one") {
  const auto x = pattern(37 * 70, 0.3f, 3.0f);
  const auto bias = pattern(70, 1.1f);
  std::vector<float> y(37 * 70, -99.0f), z(37 * 70, -99.0f);
  auto baked = vulkan::build_baked<gelu_schedule, sh::bias_gelu>(sh::device());
  REQUIRE(baked.ok());
  REQUIRE((*baked)(make_view(x.data(), shape(37_c, 70_c)), make_view(bias.data(), shape(70_c)), make_view(y.data(), shape(37_c, 70_c))).ok());
  auto emitted = vulkan::build(sh::device(), sh::bias_gelu);
  REQUIRE(emitted.ok());
  REQUIRE((*emitted)(make_view(x.data(), shape(37, 70)), make_view(bias.data(), shape(70)), make_view(z.data(), shape(37, 70))).ok());
  for (std::int64_t i = 0; i < 37; ++i)
    for (std::int64_t j = 0; j < 70; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      const float want = sh::bias_gelu_reference(x[at(i * 70 + j)], bias[at(j)]);
      CHECK(y[at(i * 70 + j)] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
      CHECK(z[at(i * 70 + j)] == y[at(i * 70 + j)]);
    }
}

TEST_CASE("the math functions over a named extent, at several sizes with one kernel") {
  auto kernel = vulkan::build(sh::device(), sh::math);
  REQUIRE(kernel.ok());
  for (std::int64_t n : {1, 63, 64, 65, 1000}) {
    CAPTURE(n);
    const auto v = pattern(at(n), 0.2f, 4.0f, 0.37f);
    std::vector<float> w(at(n), -99.0f);
    REQUIRE((*kernel)(make_view(v.data(), shape(n)), make_view(w.data(), shape(n))).ok());
    for (std::int64_t i = 0; i < n; ++i) {
      CAPTURE(v[at(i)]);
      CHECK(w[at(i)] == doctest::Approx(sh::math_reference(v[at(i)])).epsilon(1e-4).scale(1.0));
    }
  }
}

TEST_CASE("integer floor division, modulo, logic and casts with negative operands") {
  auto kernel = vulkan::build(sh::device(), sh::integer_ops);
  REQUIRE(kernel.ok());
  std::vector<std::int32_t> p, q;
  for (std::int32_t a = -13; a <= 13; ++a)
    for (std::int32_t b : {-7, -3, -1, 1, 2, 3, 5}) {
      p.push_back(a);
      q.push_back(b);
    }
  const auto n = static_cast<std::int64_t>(p.size());
  std::vector<std::int32_t> r(p.size(), -99);
  REQUIRE((*kernel)(make_view(p.data(), shape(n)), make_view(q.data(), shape(n)), make_view(r.data(), shape(n))).ok());
  for (std::size_t i = 0; i < p.size(); ++i) {
    CAPTURE(p[i]);
    CAPTURE(q[i]);
    CHECK(r[i] == sh::integer_ops_reference(p[i], q[i]));
  }
}

namespace {

// The 67 x 50 by 50 x 45 product under schedule S against a naive one.
template <tir::Schedule S>
void check_static_matmul() {
  const auto a = pattern(67 * 50, 0.1f), b = pattern(50 * 45, 0.9f);
  std::vector<float> c(67 * 45, -99.0f);
  auto kernel = vulkan::build<S>(sh::device(), sh::matmul_static);
  REQUIRE(kernel.ok());
  REQUIRE((*kernel)(make_view(a.data(), shape(67, 50)), make_view(b.data(), shape(50, 45)), make_view(c.data(), shape(67, 45))).ok());
  const auto want = kiln::test::naive_matmul<float, double>(a, b, 67, 45, 50);
  for (std::size_t i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    CHECK(c[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1.0));
  }
}

// The product over named extents under schedule S at each (m, n, k) against a naive one.
template <tir::Schedule S>
void check_dynamic_matmul(std::initializer_list<std::array<std::int64_t, 3>> sizes) {
  auto kernel = vulkan::build<S>(sh::device(), sh::matmul_dynamic);
  REQUIRE(kernel.ok());
  for (auto [m, n, k] : sizes) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    const auto a = pattern(at(m * k), 0.4f), b = pattern(at(k * n), 1.7f);
    std::vector<float> c(at(m * n), -99.0f);
    REQUIRE((*kernel)(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(c.data(), shape(m, n))).ok());
    const auto want = kiln::test::naive_matmul<float, double>(a, b, m, n, k);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < c.size(); ++i) wrong += !(c[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1.0));
    CHECK(wrong == 0);
  }
}

using Dynamic = std::remove_cvref_t<decltype(sh::matmul_dynamic)>;

} // namespace

TEST_CASE("a matrix product in 8 x 8 workgroups with guarded tails on every axis") { check_static_matmul<sh::matmul_tiles>(); }

TEST_CASE("a matrix product with named extents under the default schedule (tiles through workgroup memory)") {
  check_dynamic_matmul<vulkan::default_gpu_schedule<Dynamic>()>({{1, 1, 1}, {3, 5, 7}, {17, 64, 33}, {65, 3, 128}});
}

TEST_CASE("shared copies: matrix products through workgroup memory, static and named extents") {
  check_static_matmul<sh::matmul_shared_tiles>();
  // Tiles cut on every axis, k below one step, exact multiples, and one workgroup's worth.
  check_dynamic_matmul<sh::matmul_dynamic_shared>({{1, 1, 1}, {3, 5, 7}, {17, 64, 33}, {65, 3, 128}, {8, 16, 16}, {40, 47, 100}});
}

TEST_CASE("shared copies: a transpose copied once per workgroup, a scalar, a stencil whose region is i + r") {
  auto transpose = vulkan::build<sh::transposed_shared>(sh::device(), sh::transposed);
  REQUIRE(transpose.ok());
  for (auto [rows, cols] : {std::array<std::int64_t, 2>{1, 1}, {8, 16}, {13, 37}, {64, 3}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    const auto x = pattern(at(rows * cols), 0.5f);
    std::vector<float> t(at(rows * cols), -99.0f);
    REQUIRE((*transpose)(make_view(x.data(), shape(rows, cols)), make_view(t.data(), shape(cols, rows))).ok());
    std::size_t wrong = 0;
    for (std::int64_t i = 0; i < cols; ++i)
      for (std::int64_t j = 0; j < rows; ++j) wrong += t[at(i * rows + j)] != x[at(j * cols + i)] * 2.0f;
    CHECK(wrong == 0);
  }
  auto scale = vulkan::build<sh::scaled_shared>(sh::device(), sh::scaled);
  REQUIRE(scale.ok());
  const float factor = -1.5f;
  const auto u = pattern(100, 0.7f);
  std::vector<float> z(100, -99.0f);
  REQUIRE((*scale)(make_view(u.data(), shape(100)), make_view(&factor, shape()), make_view(z.data(), shape(100))).ok());
  for (std::size_t i = 0; i < z.size(); ++i) CHECK(z[i] == u[i] * factor);
  auto stencil = vulkan::build<sh::stencil_shared>(sh::device(), sh::stencil);
  REQUIRE(stencil.ok());
  const auto taps = pattern(5, 0.7f);
  for (auto [rows, outputs] : {std::array<std::int64_t, 2>{1, 1}, {2, 64}, {3, 130}}) {
    CAPTURE(rows);
    CAPTURE(outputs);
    const std::int64_t width = outputs + 4;
    const auto s = pattern(at(rows * width), 0.3f);
    std::vector<float> y(at(rows * outputs), -99.0f);
    REQUIRE((*stencil)(make_view(s.data(), shape(rows, width)), make_view(taps.data(), shape(5_c)), make_view(y.data(), shape(rows, outputs))).ok());
    std::size_t wrong = 0;
    for (std::int64_t b = 0; b < rows; ++b)
      for (std::int64_t i = 0; i < outputs; ++i) {
        double want = 0;
        for (std::int64_t r = 0; r < 5; ++r) want += static_cast<double>(s[at(b * width + i + r)]) * taps[at(r)];
        wrong += !(y[at(b * outputs + i)] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
      }
    CHECK(wrong == 0);
  }
}

TEST_CASE("a row maximum reduced as a workgroup tree, and a reduction over an empty axis gives the identity") {
  auto kernel = vulkan::build(sh::device(), sh::row_max);  // the default: 64 invocations per row
  REQUIRE(kernel.ok());
  for (auto [rows, cols] : {std::array<std::int64_t, 2>{70, 19}, {1, 1}, {3, 63}, {5, 64}, {2, 65}, {4, 1000}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    const auto x = pattern(at(rows * cols), 0.5f, 10.0f);
    std::vector<float> m(at(rows), -99.0f);
    REQUIRE((*kernel)(make_view(x.data(), shape(rows, cols)), make_view(m.data(), shape(rows))).ok());
    for (std::int64_t r = 0; r < rows; ++r) {
      float want = x[at(r * cols)];
      for (std::int64_t c = 1; c < cols; ++c) want = std::max(want, x[at(r * cols + c)]);
      CHECK(m[at(r)] == want);
    }
  }
  const auto x = pattern(30, 0.5f, 10.0f);
  std::vector<float> empty_rows(3, 0.0f);
  REQUIRE((*kernel)(make_view(x.data(), shape(3, 0)), make_view(empty_rows.data(), shape(3))).ok());
  for (float v : empty_rows) CHECK(v == std::numeric_limits<float>::lowest());
}

TEST_CASE("a row sum reduced by a tree 24 wide, four rows per workgroup, tails on both axes") {
  auto kernel = vulkan::build<sh::row_sum_tree>(sh::device(), sh::row_sum);
  REQUIRE(kernel.ok());
  for (auto [rows, cols] : {std::array<std::int64_t, 2>{1, 1}, {4, 24}, {5, 23}, {7, 25}, {9, 500}, {3, 0}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    const auto x = pattern(at(rows * cols), 0.25f, 3.0f);
    std::vector<float> m(at(rows), -99.0f);
    REQUIRE((*kernel)(make_view(x.data(), shape(rows, cols)), make_view(m.data(), shape(rows))).ok());
    for (std::int64_t r = 0; r < rows; ++r) {
      double want = 0;
      for (std::int64_t c = 0; c < cols; ++c) want += x[at(r * cols + c)];
      CHECK(m[at(r)] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
    }
  }
}

TEST_CASE("an inlined producer read at two places, and a padded read behind a lazy select") {
  {
    auto kernel = vulkan::build(sh::device(), sh::mirrored);
    REQUIRE(kernel.ok());
    const std::int64_t m = 5;
    const auto s = pattern(at(m * 33), 0.2f), t = pattern(33, 2.2f);
    std::vector<float> e(at(m * 33), -99.0f);
    REQUIRE((*kernel)(make_view(s.data(), shape(m, 33)), make_view(t.data(), shape(33)), make_view(e.data(), shape(m, 33))).ok());
    auto relu = [&](std::int64_t i, std::int64_t j) { return std::max(s[at(i * 33 + j)] + t[at(j)], 0.0f); };
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < 33; ++j) CHECK(e[at(i * 33 + j)] == doctest::Approx(relu(i, j) * 2.0f - relu(i, 32 - j)));
  }
  {
    auto kernel = vulkan::build(sh::device(), sh::bordered);
    REQUIRE(kernel.ok());
    const std::int64_t n = 100;
    const auto u = pattern(at(n), 0.6f);
    std::vector<float> z(at(n + 2), -99.0f);
    REQUIRE((*kernel)(make_view(u.data(), shape(n)), make_view(z.data(), shape(n + 2))).ok());
    CHECK(z[0] == -1.0f);
    CHECK(z[at(n + 1)] == -1.0f);
    for (std::int64_t i = 1; i <= n; ++i) CHECK(z[at(i)] == u[at(i - 1)]);
    // n + 2 is derived: an output of any other length is refused.
    const Status wrong = (*kernel)(make_view(u.data(), shape(n)), make_view(z.data(), shape(n + 1)));
    CHECK(wrong.code() == StatusCode::shape_mismatch);
    CHECK(wrong.message() == "vulkan: argument Z: extent 101 on axis 0 but (n + 2) = 102");
  }
}

TEST_CASE("more workgroups than one dispatch row holds fold onto a second axis") {
  auto kernel = vulkan::build(sh::device(), sh::axpb);
  REQUIRE(kernel.ok());
  const std::int64_t row = sh::device().properties().limits.maxComputeWorkGroupCount[0];
  const std::int64_t n = row * 64 + 100;  // row + 2 workgroups of 64
  std::int64_t symbols[1] = {n};
  auto groups = kernel->workgroups(symbols);
  REQUIRE(groups.ok());
  CHECK((*groups)[0] == row);
  CHECK((*groups)[1] == 2);
  std::vector<float> u(at(n)), z(at(n), -99.0f);
  for (std::int64_t i = 0; i < n; ++i) u[at(i)] = static_cast<float>(i % 1000);
  REQUIRE((*kernel)(make_view(u.data(), shape(n)), make_view(z.data(), shape(n))).ok());
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < n; ++i) wrong += z[at(i)] != u[at(i)] * 2.0f + 1.0f;
  CHECK(wrong == 0);
}

TEST_CASE("arguments that do not fit the kernel are errors naming the argument") {
  auto kernel = vulkan::build(sh::device(), sh::matmul_dynamic);
  REQUIRE(kernel.ok());
  std::vector<float> a(12), b(12), c(9);
  const Status disagree = (*kernel)(make_view(a.data(), shape(3, 4)), make_view(b.data(), shape(3, 4)), make_view(c.data(), shape(3, 3)));
  CHECK(disagree.code() == StatusCode::shape_mismatch);
  CHECK(disagree.message() == "vulkan: argument B: extent 3 on axis 0 but k = 4 from an earlier argument");
  auto fixed = vulkan::build(sh::device(), sh::bias_gelu);
  REQUIRE(fixed.ok());
  std::vector<float> x(37 * 70), bias(71), y(37 * 70);
  const Status wrong = (*fixed)(make_view(x.data(), shape(37, 70)), make_view(bias.data(), shape(71)), make_view(y.data(), shape(37, 70)));
  CHECK(wrong.code() == StatusCode::shape_mismatch);
  CHECK(wrong.message() == "vulkan: argument bias: extent 71 on axis 0 but the kernel was built for 70");
}
