// transform_layout: a stage's buffer stored in another order (a transposed copy) or with one
// axis in blocks (NCHW -> NCHW16c, a packed GEMM panel), its readers indexing it as before.
// Against naive loops over static and dynamic extents of odd sizes, with the printed
// allocation, the offsets of a blocked buffer, and the diagnostics of layouts that cannot be.
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


// B = 2 * A - 1 over an NCHW image, then C = B + B at the next column (zero past the edge):
// C reads B along w, B is written along c.
template <class N, class C, class H, class W>
auto nchw_pair(N n, C c, H h, W w) {
  const auto a = te::placeholder<float, "A">(n, c, h, w);
  const auto b = te::compute<"B", "n", "c", "h", "w">(te::extents(n, c, h, w), [a](auto ni, auto ci, auto hi, auto wi) {
    return a(ni, ci, hi, wi) * 2.0f - 1.0f;
  });
  return te::compute<"C", "n", "c", "h", "w">(te::extents(n, c, h, w), [b, w](auto ni, auto ci, auto hi, auto wi) {
    return b(ni, ci, hi, wi) + te::if_then_else(wi + 1 < te::extent_of(w), b(ni, ci, hi, wi + 1), 0.0f);
  });
}

std::vector<float> nchw_pair_reference(const std::vector<float>& a, std::int64_t n, std::int64_t c, std::int64_t h,
                                       std::int64_t w) {
  std::vector<float> out(a.size());
  for (std::int64_t q = 0; q < n * c * h; ++q)
    for (std::int64_t x = 0; x < w; ++x) {
      const float here = a[at(q * w + x)] * 2.0f - 1.0f;
      const float next = x + 1 < w ? a[at(q * w + x + 1)] * 2.0f - 1.0f : 0.0f;
      out[at(q * w + x)] = here + next;
    }
  return out;
}

// B in NCHW16c, written sixteen channels at a time.
constexpr auto kBlockedChannels = tir::schedule("B")
                                      .transform_layout(tir::block("c", 16), "n", "c.o", "h", "w", "c.i")
                                      .split("c", 16)
                                      .reorder("n", "c.o", "h", "w", "c.i")
                                      .vectorize("c.i");
} // namespace

TEST_CASE("a blocked buffer's offsets: the block index at its stride, the position in the block innermost") {
  std::vector<float> storage(2 * 3 * 16 * 5);
  // Logical [n = 2, c = 40, w = 5], stored as [n, c // 16, w, c % 16].
  cpu::Buffer<float, 3> buf;
  buf.data = storage.data();
  buf.extent[0] = 2;
  buf.extent[1] = 40;
  buf.extent[2] = 5;
  buf.stride[2] = 16;
  buf.stride[1] = 16 * 5;
  buf.stride[0] = 16 * 5 * 3;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 40; ++c)
      for (std::int64_t w = 0; w < 5; ++w)
        CHECK(buf.at_blocked<1, 16>(n, c, w) - storage.data() == n * 240 + (c / 16) * 80 + w * 16 + c % 16);
  // Runs along c stay inside one block; along w they stride by 16.
  CHECK(buf.unit_run<1, 16>(1, 0, 16));
  CHECK(buf.unit_run<1, 16>(1, 32, 8));
  CHECK_FALSE(buf.unit_run<1, 16>(1, 8, 16));
  CHECK_FALSE(buf.unit_run<1, 16>(2, 0, 4));
  CHECK(buf.unit_run<1, 16>(2, 3, 1));
}

TEST_CASE("NCHW to NCHW16c: the printed allocation and the results over odd channel counts") {
  const auto kernel = nchw_pair(2_c, 40_c, 3_c, 5_c);
  const std::string text = tir::print<kBlockedChannels>(kernel);
  CHECK(text.find("    B = T.alloc_buffer((2, 3, 3, 5, 16), \"float32\")  # B[n, c, h, w] at [n, c // 16, h, w, c % 16]\n") !=
        std::string::npos);
  CHECK(text.find("for c.i in T.vectorized(16):") != std::string::npos);
  auto built = cpu::build<kBlockedChannels>(kernel);
  auto a = pattern(2 * 40 * 3 * 5, 0.2f);
  std::vector<float> c(a.size(), -9.0f);
  REQUIRE(built(make_view(a.data(), shape(2_c, 40_c, 3_c, 5_c)), make_view(c.data(), shape(2_c, 40_c, 3_c, 5_c))).ok());
  const auto expected = nchw_pair_reference(a, 2, 40, 3, 5);
  for (std::size_t e = 0; e < c.size(); ++e) CHECK(c[e] == expected[e]);
  // Three whole blocks of 16 channels: the last one partly unused.
  CHECK(built.workspace_bytes() == workspace_for(2 * 3 * 3 * 5 * 16));

  // Dynamic extents; channel counts below, at and past one block, with the padding of pad.
  const auto dynamic = nchw_pair(dim<"n">, dim<"c">, dim<"h">, dim<"w">);
  constexpr auto padded = tir::schedule("B")
                              .pad("c", 16)
                              .transform_layout(tir::block("c", 16), "n", "c.o", "h", "w", "c.i")
                              .split("c", 16)
                              .reorder("n", "c.o", "h", "w", "c.i")
                              .vectorize("c.i")
                              .stage("C")
                              .split("w", 8)
                              .vectorize("w.i");
  auto blocked = cpu::build<kBlockedChannels>(dynamic);
  auto with_padding = cpu::build<padded>(dynamic);
  CHECK(tir::print<padded>(dynamic).find("    B = T.alloc_buffer((n, T.ceildiv(T.round_up(c, 16), 16), h, w, 16)") !=
        std::string::npos);
  ThreadPool pool(2);
  for (std::int64_t n : {1, 2})
    for (std::int64_t ch : {1, 3, 16, 17, 33})
      for (std::int64_t w : {1, 3, 17}) {
        CAPTURE(n);
        CAPTURE(ch);
        CAPTURE(w);
        const std::int64_t h = 3;
        auto av = pattern(at(n * ch * h * w), 0.6f);
        std::vector<float> c1(av.size(), -9.0f), c2(av.size(), -9.0f);
        const auto in = make_view(av.data(), shape(n, ch, h, w));
        REQUIRE(blocked(in, make_view(c1.data(), shape(n, ch, h, w))).ok());
        REQUIRE(with_padding.run(&pool, in, make_view(c2.data(), shape(n, ch, h, w))).ok());
        const auto ref = nchw_pair_reference(av, n, ch, h, w);
        for (std::size_t e = 0; e < ref.size(); ++e) {
          CHECK(c1[e] == ref[e]);
          CHECK(c2[e] == ref[e]);
        }
        CHECK(blocked.workspace_bytes() >= workspace_for(n * ((ch + 15) / 16) * 16 * h * w));
      }
}

TEST_CASE("a transposed layout: the copy stored column by column, read row by row") {
  const auto a = te::placeholder<float, "A">(dim<"m">, dim<"n">);
  const auto b = te::compute<"B", "i", "j">(te::extents(dim<"m">, dim<"n">), [a](auto i, auto j) { return a(i, j) + 0.5f; });
  const auto c = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">), [b](auto i, auto j) { return b(i, j) * 3.0f; });
  // B is computed down its columns, where its transposed buffer is contiguous.
  constexpr auto s =
      tir::schedule("B").transform_layout("j", "i").reorder("j", "i").split("i", 8).vectorize("i.i").stage("C").split("j", 8).vectorize("j.i");
  const std::string text = tir::print<s>(c);
  CHECK(text.find("    B = T.alloc_buffer((n, m), \"float32\")  # B[i, j] at [j, i]\n") != std::string::npos);
  auto kernel = cpu::build<s>(c);
  for (std::int64_t m : {1, 3, 17})
    for (std::int64_t n : {1, 8, 1023}) {
      CAPTURE(m);
      CAPTURE(n);
      auto av = pattern(at(m * n), 0.9f);
      std::vector<float> out(av.size(), -9.0f);
      REQUIRE(kernel(make_view(av.data(), shape(m, n)), make_view(out.data(), shape(m, n))).ok());
      for (std::size_t e = 0; e < av.size(); ++e) CHECK(out[e] == (av[e] + 0.5f) * 3.0f);
    }
}

TEST_CASE("a tensorized matmul over B packed into panels of the block's width") {
  // B_global[k, j] at [j // 32, k, j % 32]: each 6 x 32 tile reads one contiguous panel of B.
  const auto prod = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  constexpr auto packed = tir::schedule("C")
                              .cache_write(tir::Scope::global)
                              .stage("C_global")
                              .cache_read("B", tir::Scope::global)
                              .split("i", 6)
                              .split("j", 32, tir::Tail::round_up)
                              .split("k", 64)
                              .reorder("j.o", "k.o", "i.o", "k.i", "i.i", "j.i")
                              .tensorize("k.i", tir::intrin::fma_block<6, 32>)
                              .parallel("j.o")
                              .stage("B_global")
                              .pad("i1", 32)
                              .transform_layout(tir::block("i1", 32), "i1.o", "i0", "i1.i")
                              .split("i1", 16)
                              .vectorize("i1.i");
  // The same panels with the output itself transposed in C_global: C_global's rows are not
  // contiguous there, so its tiles run the scheduled loops.
  constexpr auto transposed_output = tir::schedule("C")
                                         .cache_write(tir::Scope::global)
                                         .stage("C_global")
                                         .transform_layout("j", "i")
                                         .split("i", 6)
                                         .split("j", 32)
                                         .reorder("i.o", "j.o", "k", "i.i", "j.i")
                                         .tensorize("k", tir::intrin::fma_block<6, 32>);
  auto with_panels = cpu::build<packed>(prod);
  auto with_transposed_output = cpu::build<transposed_output>(prod);
  ThreadPool pool(2);
  check_matmuls({1, 6, 17, 61}, {1, 32, 45, 97}, {0, 1, 3, 70},
                [&](auto a, auto b, auto c) { return with_panels.run(&pool, a, b, c); },
                [&](auto a, auto b, auto c) { return with_transposed_output(a, b, c); });
  const std::string text = tir::print<packed>(prod);
  CHECK(text.find("    B_global = T.alloc_buffer((T.ceildiv(T.round_up(n, 32), 32), k, 32), \"float32\")  # B_global[i0, "
                  "i1] at [i1 // 32, i0, i1 % 32]\n") != std::string::npos);
}

TEST_CASE("layouts that cannot be are refused, naming the primitive and the axis") {
  const auto prod = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  using Matmul = std::remove_const_t<decltype(prod)>;
  auto message = [](auto d) { return std::string(d.message); };
  CHECK(message(tir::schedule_diagnostic<tir::schedule("C").transform_layout("j", "i"), Matmul>()) ==
        "transform_layout(\"C\"): the stage writes the kernel's output, whose layout the caller chose "
        "(cache_write(global) first)");
  constexpr auto moved = tir::schedule("C").cache_write(tir::Scope::global).stage("C_global");
  using Moved = tir::rewritten_kernel_t<moved, Matmul>;
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout("j", "k"), Moved>()) ==
        "transform_layout(\"k\"): not a spatial axis of the stage");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout("j"), Moved>()) ==
        "transform_layout(\"i\"): the layout does not list this axis of the stage");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout("j", "j"), Moved>()) ==
        "transform_layout(\"j\"): the axis is listed twice");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout(tir::block("j", 8), "i", "j.i", "j.o"), Moved>()) ==
        "transform_layout(\"j.o\"): the position inside a block (<axis>.i) must come last");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout(tir::block("j", 0), "i", "j.o", "j.i"), Moved>()) ==
        "transform_layout(\"j\"): the block factor must be positive");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout(tir::block("q", 8), "i", "q.o", "q.i"), Moved>()) ==
        "transform_layout(\"q\"): the stage has no spatial axis of that name to block");
  CHECK(message(tir::schedule_diagnostic<moved.storage_align("i", 16, 1).transform_layout("j", "i"), Moved>()) ==
        "transform_layout(\"i\"): the axis is storage_align'ed; transform_layout sets every stride itself");
  CHECK(message(tir::schedule_diagnostic<moved.transform_layout("j", "i").transform_layout("i", "j"), Moved>()) ==
        "transform_layout(\"C_global\"): the layout of the stage's buffer is already transformed");
}
