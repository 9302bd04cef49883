// Vectorized if_then_else (bounds-checked reads) and loads whose index is affine in the
// vector axis: which expressions the CPU backend evaluates as batches, and the results of
// kernels that use them against naive loops over odd static and dynamic sizes, with the
// bounds falling inside vectors.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/backend/cpu/rules.hpp>
#include <kiln/kernels/conv2d.hpp>
#include <kiln/tir/print.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::pattern;

// B[i, j] = A[i, j * step - shift] where that lies inside A's row, else -1: a strided,
// shifted read guarded like a padded convolution's.
template <class M, class N, class P>
auto guarded_read(M m, N n, P p, std::int64_t step, std::int64_t shift) {
  const auto a = te::placeholder<float, "A">(m, n);
  const auto width = te::extent_of(n);
  return te::compute<"B", "i", "j">(te::extents(m, p), [=](auto i, auto j) {
    const auto x = j * step - shift;
    return te::if_then_else(x >= 0 && x < width, a(i, x), -1.0f);
  });
}

std::vector<float> naive_guarded_read(const std::vector<float>& a, std::int64_t m, std::int64_t n, std::int64_t p,
                                      std::int64_t step, std::int64_t shift) {
  std::vector<float> b(at(m * p));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < p; ++j) {
      const std::int64_t x = j * step - shift;
      b[at(i * p + j)] = x >= 0 && x < n ? a[at(i * n + x)] : -1.0f;
    }
  return b;
}

template <class K>
constexpr bool vectorizes_body(const K&) {
  return cpu::detail::vectorizable_v<typename K::body_type, float, "j">;
}
} // namespace

TEST_CASE("which selects and loads evaluate as batches") {
  const auto a = te::placeholder<float, "A">(dim<"m">, dim<"n">);
  const auto n = te::extent_of(dim<"n">);
  // A condition on one interval of j: monotone sides against invariant ones, joined by &&.
  const auto interval = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [=](auto i, auto j) {
    return te::if_then_else(j - 1 >= 0 && j * 2 + 1 < n, a(i, j - 1), 0.0f);
  });
  // Parity is not an interval; || of two intervals is not one either.
  const auto parity = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [=](auto i, auto j) {
    return te::if_then_else(te::floormod(j, 2) == 0, a(i, j), 0.0f);
  });
  const auto either = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [=](auto i, auto j) {
    return te::if_then_else(j < 2 || j > 5, a(i, j), 0.0f);
  });
  // The condition ignores j: decided once per vector.
  const auto invariant = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [=](auto i, auto j) {
    return te::if_then_else(i > 0, a(i - 1, j), 0.0f);
  });
  static_assert(vectorizes_body(interval));
  static_assert(!vectorizes_body(parity));
  static_assert(!vectorizes_body(either));
  static_assert(vectorizes_body(invariant));
  CHECK(vectorizes_body(interval));

  using Shifted = te::Binary<te::op::sub, te::SpatialAxis<"j", te::Dim<"n">>, te::Const<std::int64_t>>;
  using Scaled = te::Binary<te::op::mul, te::SpatialAxis<"j", te::Dim<"n">>, te::Const<std::int64_t>>;
  using Folded = te::Binary<te::op::floormod, te::SpatialAxis<"j", te::Dim<"n">>, te::Const<std::int64_t>>;
  static_assert(cpu::detail::affine_in<Shifted, "j">::value && cpu::detail::affine_in<Scaled, "j">::value);
  static_assert(!cpu::detail::affine_in<Folded, "j">::value);
  static_assert(!cpu::detail::monotone_in<Folded, "j">::value);
}

TEST_CASE("if_then_else reads vectorized, bounds inside vectors, dynamic and static extents") {
  const auto dynamic_unit = guarded_read(dim<"m">, dim<"n">, dim<"p">, 1, 3);
  const auto dynamic_strided = guarded_read(dim<"m">, dim<"n">, dim<"p">, 2, 5);
  constexpr auto s = tir::schedule("B").split("j", 16).vectorize("j.i").parallel("i");
  auto unit = cpu::build<s>(dynamic_unit);
  auto strided = cpu::build<s>(dynamic_strided);
  ThreadPool pool(2);
  for (std::int64_t m : {1, 3})
    for (std::int64_t n : {1, 3, 17, 1023})
      for (std::int64_t p : {1, 17, 40, 1023}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(p);
        auto a = pattern(at(m * n), 0.2f);
        std::vector<float> b1(at(m * p), 9.0f), b2(at(m * p), 9.0f);
        REQUIRE(unit.run(&pool, make_view(a.data(), shape(m, n)), make_view(b1.data(), shape(m, p))).ok());
        REQUIRE(strided(make_view(a.data(), shape(m, n)), make_view(b2.data(), shape(m, p))).ok());
        CHECK(b1 == naive_guarded_read(a, m, n, p, 1, 3));
        CHECK(b2 == naive_guarded_read(a, m, n, p, 2, 5));
      }
  auto fixed = cpu::build<s>(guarded_read(3_c, 17_c, 40_c, 1, 3));
  auto a = pattern(3 * 17, 0.5f);
  std::vector<float> b(3 * 40, 9.0f);
  REQUIRE(fixed(make_view(a.data(), shape(3, 17)), make_view(b.data(), shape(3, 40))).ok());
  CHECK(b == naive_guarded_read(a, 3, 17, 40, 1, 3));
}

TEST_CASE("a padded convolution takes the vectorized conv schedule by default") {
  constexpr kernels::Conv2dParams padded{1, 1, 1, 1, 1, 1, 1};
  using Conv = std::remove_const_t<decltype(kernels::conv2d_nchw<padded>(
      dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">, dim<"S">, dim<"OH">, dim<"OW">))>;
  constexpr tir::Schedule s = cpu::default_schedule<Conv>();
  bool vectorized = false;
  for (int i = 0; i < s.count; ++i) vectorized = vectorized || s.primitives[i].kind == tir::PrimitiveKind::vectorize;
  CHECK(vectorized);
}
