// pad and the round-up tail strategy: a stage's buffer rounded up to a multiple along an
// axis, its loops running whole tiles over the padding, which holds zeros; consumers that
// read into the padding (a tensorized matmul over packed operands) see those zeros. Against
// naive loops, over static and dynamic extents, with the printed loop program and the
// diagnostics of padding what cannot be padded.
#include <doctest/doctest.h>

#include "matmul_check.hpp"
#include "test_data.hpp"
#include "workspace.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/tir/print.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::check_matmuls;
using kiln::test::pattern;
using kiln::test::workspace_for;

std::int64_t round_up(std::int64_t e, std::int64_t m) { return (e + m - 1) / m * m; }

// B = 2 * A, then C = B + 1: B is the stage that gets padded.
template <class M, class N>
auto scaled_plus_one(M m, N n) {
  const auto a = te::placeholder<float, "A">(m, n);
  const auto b = te::compute<"B", "i", "j">(te::extents(m, n), [a](auto i, auto j) { return a(i, j) * 2.0f; });
  return te::compute<"C", "i", "j">(te::extents(m, n), [b](auto i, auto j) { return b(i, j) + 1.0f; });
}
} // namespace

TEST_CASE("a round-up split pads the stage's buffer and runs whole tiles") {
  const auto kernel = scaled_plus_one(17_c, 20_c);
  constexpr auto s = tir::schedule("B").split("j", 8, tir::Tail::round_up).vectorize("j.i");
  const std::string text = tir::print<s>(kernel);
  CHECK(text.find("    B = T.alloc_buffer((17, 24), \"float32\")\n") != std::string::npos);
  CHECK(text.find("for j.o in range(3):") != std::string::npos);
  CHECK(text.find("for j.i in T.vectorized(8):") != std::string::npos);
  CHECK(text.find("if j < 20:  # else the padding: 0\n") != std::string::npos);
  // The same split with a guarded tail allocates the tensor as it is and skips the tail.
  constexpr auto guarded = tir::schedule("B").split("j", 8).vectorize("j.i");
  const std::string plain = tir::print<guarded>(kernel);
  CHECK(plain.find("    B = T.alloc_buffer((17, 20), \"float32\")\n") != std::string::npos);
  CHECK(plain.find("if j < 20:\n") != std::string::npos);

  auto built = cpu::build<s>(kernel);
  auto a = pattern(17 * 20, 0.4f);
  std::vector<float> c(17 * 20, -1.0f);
  REQUIRE(built(make_view(a.data(), shape(17, 20)), make_view(c.data(), shape(17, 20))).ok());
  for (std::size_t e = 0; e < c.size(); ++e) CHECK(c[e] == 2.0f * a[e] + 1.0f);
  CHECK(built.workspace_bytes() == workspace_for(17 * 24));
}

TEST_CASE("pad and round-up tails over dynamic extents of odd sizes") {
  const auto kernel = scaled_plus_one(dim<"m">, dim<"n">);
  constexpr auto rows_and_columns = tir::schedule("B").pad("i", 4).split("j", 8, tir::Tail::round_up).vectorize("j.i");
  constexpr auto columns_unrolled = tir::schedule("B").split("j", 4, tir::Tail::round_up).unroll("j.i").parallel("i");
  auto padded = cpu::build<rows_and_columns>(kernel);
  auto unrolled = cpu::build<columns_unrolled>(kernel);
  ThreadPool pool(2);
  for (std::int64_t m : {1, 3, 17, 1023})
    for (std::int64_t n : {1, 3, 17, 1023}) {
      CAPTURE(m);
      CAPTURE(n);
      auto a = pattern(at(m * n), 0.1f);
      std::vector<float> c1(at(m * n), -1.0f), c2(at(m * n), -1.0f);
      REQUIRE(padded(make_view(a.data(), shape(m, n)), make_view(c1.data(), shape(m, n))).ok());
      REQUIRE(unrolled.run(&pool, make_view(a.data(), shape(m, n)), make_view(c2.data(), shape(m, n))).ok());
      for (std::size_t e = 0; e < c1.size(); ++e) {
        CHECK(c1[e] == 2.0f * a[e] + 1.0f);
        CHECK(c2[e] == 2.0f * a[e] + 1.0f);
      }
      CHECK(padded.workspace_bytes() >= workspace_for(round_up(m, 4) * round_up(n, 8)));
    }
  const std::string text = tir::print<rows_and_columns>(kernel);
  CHECK(text.find("    B = T.alloc_buffer((T.round_up(m, 4), T.round_up(n, 8)), \"float32\")\n") != std::string::npos);
  CHECK(text.find("for i in range(T.ceildiv(m, 4) * 4):") != std::string::npos);
  CHECK(text.find("if i < m and j < n:  # else the padding: 0\n") != std::string::npos);
}

TEST_CASE("the padding holds zeros that a consumer may read") {
  // C reads B three columns ahead; past n that lands in B's padding, which is zero.
  const auto a = te::placeholder<float, "A">(dim<"m">, dim<"n">);
  const auto b = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [a](auto i, auto j) { return a(i, j) - 5.0f; });
  const auto c = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">),
                                            [b](auto i, auto j) { return b(i, j) + b(i, j + 3); });
  constexpr auto s = tir::schedule("B").split("j", 8, tir::Tail::round_up).vectorize("j.i");
  auto kernel = cpu::build<s>(c);
  // n % 8 in 1..5 leaves at least three columns of padding.
  for (std::int64_t m : {1, 4})
    for (std::int64_t n : {2, 5, 13, 17}) {
      CAPTURE(m);
      CAPTURE(n);
      auto av = pattern(at(m * n), 0.7f);
      std::vector<float> out(at(m * n), -1.0f);
      REQUIRE(kernel(make_view(av.data(), shape(m, n)), make_view(out.data(), shape(m, n))).ok());
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const float ahead = j + 3 < n ? av[at(i * n + j + 3)] - 5.0f : 0.0f;
          CHECK(out[at(i * n + j)] == (av[at(i * n + j)] - 5.0f) + ahead);
        }
    }
}

TEST_CASE("a tensorized matmul over padded copies of its operands") {
  // C_global computes in whole 6 x 32 tiles over A and B copied into buffers padded to the
  // tile; C copies the tensor out of C_global.
  const auto prod = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  constexpr auto padded = tir::schedule("C")
                              .cache_write(tir::Scope::global)
                              .stage("C_global")
                              .cache_read("A", tir::Scope::global)
                              .cache_read("B", tir::Scope::global)
                              .split("i", 6, tir::Tail::round_up)
                              .split("j", 32, tir::Tail::round_up)
                              .split("k", 64)
                              .reorder("i.o", "j.o", "k.o", "k.i", "i.i", "j.i")
                              .tensorize("k.i", tir::intrin::fma_block<6, 32>)
                              .parallel("i.o")
                              .stage("A_global")
                              .pad("i0", 6)
                              .stage("B_global")
                              .pad("i1", 32);
  // Only C_global padded: the operands are read in place, so the tiles in the padding run
  // the scheduled loops instead of the intrinsic.
  constexpr auto output_only = tir::schedule("C")
                                   .cache_write(tir::Scope::global)
                                   .stage("C_global")
                                   .split("i", 6, tir::Tail::round_up)
                                   .split("j", 32, tir::Tail::round_up)
                                   .reorder("i.o", "j.o", "k", "i.i", "j.i")
                                   .tensorize("k", tir::intrin::fma_block<6, 32>);
  auto with_padded_operands = cpu::build<padded>(prod);
  auto with_padded_output = cpu::build<output_only>(prod);
  ThreadPool pool(2);
  check_matmuls({1, 6, 17, 61}, {1, 32, 45}, {0, 1, 3, 70},
                [&](auto a, auto b, auto c) { return with_padded_operands.run(&pool, a, b, c); },
                [&](auto a, auto b, auto c) { return with_padded_output(a, b, c); });
  const std::string text = tir::print<padded>(prod);
  CHECK(text.find("    A_global = T.alloc_buffer((T.round_up(m, 6), k), \"float32\")\n") != std::string::npos);
  CHECK(text.find("    B_global = T.alloc_buffer((k, T.round_up(n, 32)), \"float32\")\n") != std::string::npos);
  CHECK(text.find("    C_global = T.alloc_buffer((T.round_up(m, 6), T.round_up(n, 32)), \"float32\")\n") !=
        std::string::npos);
}

TEST_CASE("what cannot be padded is refused, naming the primitive and the loop") {
  const auto prod = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  using Matmul = std::remove_const_t<decltype(prod)>;
  auto message = [](auto d) { return std::string(d.message); };
  constexpr auto output = tir::schedule("C").split("i", 8, tir::Tail::round_up);
  CHECK(message(tir::schedule_diagnostic<output, Matmul>()) ==
        "split(\"i\"): padding needs a buffer of the stage's own, but it writes the kernel's output (cache_write(global) "
        "first)");
  constexpr auto moved = tir::schedule("C").cache_write(tir::Scope::global).stage("C_global");
  using Moved = tir::rewritten_kernel_t<moved, Matmul>;
  CHECK(message(tir::schedule_diagnostic<moved.pad("k", 8), Moved>()) ==
        "pad(\"k\"): the loop is a reduction loop; only the spatial axes of a buffer can be padded");
  CHECK(message(tir::schedule_diagnostic<moved.split("i", 8).pad("i.o", 2), Moved>()) ==
        "pad(\"i.o\"): the loop is not an axis of the stage as declared (pad before splitting or fusing)");
  CHECK(message(tir::schedule_diagnostic<moved.pad("i", 2).split("i", 4, tir::Tail::round_up), Moved>()) ==
        "split(\"i\"): the axis is already padded");
  CHECK(message(tir::schedule_diagnostic<moved.pad("j", 0), Moved>()) == "pad(\"j\"): the factor must be positive");
}
