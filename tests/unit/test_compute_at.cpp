// Where stages run and how their buffers are laid out: compute_at (a producer computed inside
// its consumer's loop over the region one iteration reads, found by interval arithmetic and
// stored densely) and reverse_compute_at; cache_read and cache_write(global), which add
// stages; storage_align. Against naive loops, with static and dynamic extents, tails and a
// thread pool; their printed programs; and the diagnostics of illegal uses.
#include <doctest/doctest.h>

#include "matmul_check.hpp"
#include "test_data.hpp"

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/tir/print.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::check_matmuls;
using kiln::test::naive_matmul;
using kiln::test::pattern;

// C = tanh(A) @ W: the producer T = tanh(A) feeds a matmul.
constexpr auto A = te::placeholder<float, "A">(dim<"m">, dim<"k">);
constexpr auto W = te::placeholder<float, "W">(dim<"k">, dim<"n">);
constexpr auto r = te::reduce_axis<"r">(dim<"k">);
const auto T = te::compute<"T", "p", "q">(te::extents(dim<"m">, dim<"k">), [](auto p, auto q) { return te::tanh(A(p, q)); });
const auto C = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">),
                                          [](auto i, auto j) { return te::sum(T(i, r) * W(r, j), r); });
using Cmm = std::remove_const_t<decltype(C)>;

// Y = a 3 x 3 convolution of a zero-padded H x W image: P[y, x] = X[y - 1, x - 1] inside, 0
// outside (the padded extents are static: an intermediate's extents must be static or the
// extents of an argument).
constexpr auto K = te::placeholder<float, "K">(3_c, 3_c);
constexpr auto ry = te::reduce_axis<"ry">(3_c);
constexpr auto rx = te::reduce_axis<"rx">(3_c);
template <std::int64_t H, std::int64_t Wd>
auto padded_conv() {
  static constexpr auto X = te::placeholder<float, "X">(Int<H>{}, Int<Wd>{});
  const auto pad = te::compute<"P", "py", "px">(te::extents(Int<H + 2>{}, Int<Wd + 2>{}), [](auto py, auto px) {
    const auto inside = (py >= 1) && (py <= H) && (px >= 1) && (px <= Wd);
    return te::if_then_else(inside, X(py - 1, px - 1), 0.0f);
  });
  return te::compute<"Y", "y", "x">(te::extents(Int<H>{}, Int<Wd>{}),
                                    [=](auto y, auto x) { return te::sum(pad(y + ry, x + rx) * K(ry, rx), ry, rx); });
}

template <std::int64_t H, std::int64_t Wd>
void check_padded_conv() {
  CAPTURE(H);
  CAPTURE(Wd);
  // Rows y .. y + 2 of the padded image per output row y: the regions overlap.
  constexpr auto s = tir::schedule("Y").reorder("y", "ry", "rx", "x").stage("P").compute_at("Y", "y");
  // At the reduction loop: just the row y + ry.
  constexpr auto inner = tir::schedule("Y").reorder("y", "ry", "rx", "x").stage("P").compute_at("Y", "ry");
  auto per_row = cpu::build<s>(padded_conv<H, Wd>());
  auto per_tap = cpu::build<inner>(padded_conv<H, Wd>());
  auto x = pattern(H * Wd, 0.4f), k = pattern(9, 1.3f);
  std::vector<float> y1(H * Wd), y2(H * Wd);
  auto xv = make_view(x.data(), shape(Int<H>{}, Int<Wd>{}));
  auto kv = make_view(k.data(), shape(3_c, 3_c));
  REQUIRE(per_row(xv, kv, make_view(y1.data(), shape(Int<H>{}, Int<Wd>{}))).ok());
  REQUIRE(per_tap(xv, kv, make_view(y2.data(), shape(Int<H>{}, Int<Wd>{}))).ok());
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < Wd; ++j) {
      double ref = 0;
      for (std::int64_t dy = 0; dy < 3; ++dy)
        for (std::int64_t dx = 0; dx < 3; ++dx) {
          const std::int64_t yy = i + dy - 1, xx = j + dx - 1;
          if (yy >= 0 && yy < H && xx >= 0 && xx < Wd) ref += double(x[at(yy * Wd + xx)]) * double(k[at(dy * 3 + dx)]);
        }
      CHECK(y1[at(i * Wd + j)] == doctest::Approx(ref).epsilon(1e-5));
      CHECK(y2[at(i * Wd + j)] == doctest::Approx(ref).epsilon(1e-5));
    }
}

std::vector<double> naive_tanh_matmul(const std::vector<float>& a, const std::vector<float>& w, std::int64_t m,
                                      std::int64_t n, std::int64_t k) {
  std::vector<double> c(at(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p) c[at(i * n + j)] += std::tanh(double(a[at(i * k + p)])) * double(w[at(p * n + j)]);
  return c;
}
} // namespace

TEST_CASE("compute_at: a producer computed per row tile of a matmul, on one thread and on a pool") {
  constexpr auto s = tir::schedule("C")
                         .split("i", 4)
                         .split("j", 16)
                         .reorder("i.o", "j.o", "r", "i.i", "j.i")
                         .parallel("i.o")
                         .vectorize("j.i")
                         .stage("T")
                         .compute_at("C", "i.o")
                         .split("q", 8)
                         .vectorize("q.i");
  auto kernel = cpu::build<s>(C);
  ThreadPool pool(2);
  for (std::int64_t m : {1, 4, 9})
    for (std::int64_t n : {3, 16})
      for (std::int64_t k : {1, 5, 17}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        auto a = pattern(at(m * k), 0.2f), w = pattern(at(k * n), 0.7f);
        std::vector<float> c1(at(m * n)), c2(at(m * n));
        REQUIRE(kernel(make_view(a.data(), shape(m, k)), make_view(w.data(), shape(k, n)), make_view(c1.data(), shape(m, n))).ok());
        REQUIRE(kernel.run(&pool, make_view(a.data(), shape(m, k)), make_view(w.data(), shape(k, n)),
                           make_view(c2.data(), shape(m, n)))
                    .ok());
        const auto ref = naive_tanh_matmul(a, w, m, n, k);
        for (std::size_t e = 0; e < c1.size(); ++e) {
          CHECK(c1[e] == doctest::Approx(ref[e]).epsilon(1e-4));
          CHECK(c2[e] == doctest::Approx(ref[e]).epsilon(1e-4));
        }
      }
}

TEST_CASE("compute_at: a padded image computed per output row of a convolution reads a halo") {
  check_padded_conv<1, 1>();
  check_padded_conv<5, 7>();
  check_padded_conv<17, 3>();
}

TEST_CASE("reverse_compute_at: an activation computed per output tile of a matmul, static extents") {
  static constexpr auto Am = te::placeholder<float, "A">(10_c, 7_c);
  static constexpr auto Wm = te::placeholder<float, "W">(7_c, 20_c);
  static constexpr auto rk = te::reduce_axis<"r">(7_c);
  const auto M = te::compute<"M", "i", "j">(te::extents(10_c, 20_c), [](auto i, auto j) { return te::sum(Am(i, rk) * Wm(rk, j), rk); });
  const auto R = te::compute<"R", "x", "y">(te::extents(10_c, 20_c), [=](auto x, auto y) { return te::max(M(x, y), 0.0f); });
  constexpr auto s = tir::schedule("M")
                         .split("i", 4)
                         .split("j", 8, tir::Tail::separate)
                         .reorder("i.o", "j.o", "r", "i.i", "j.i")
                         .stage("R")
                         .reverse_compute_at("M", "j.o");
  auto kernel = cpu::build<s>(R);
  auto a = pattern(70, 0.1f), w = pattern(140, 0.5f);
  std::vector<float> out(200);
  const Status status = kernel(make_view(a.data(), shape(10_c, 7_c)), make_view(w.data(), shape(7_c, 20_c)), make_view(out.data(), shape(10_c, 20_c)));
  INFO(status.to_string());
  REQUIRE(status.ok());
  const auto ref = naive_matmul<float, double>(a, w, 10, 20, 7);
  for (std::size_t e = 0; e < ref.size(); ++e) CHECK(out[e] == doctest::Approx(std::max(ref[e], 0.0)).epsilon(1e-5));
  const std::string text = tir::print<s>(R);
  CHECK(text.find("        for j.o in range(3):\n"
                  "            for r in range(7):  # reduction\n") != std::string::npos);
  CHECK(text.find("            # R over the region this iteration wrote\n"
                  "            for x in range(R.x.extent):\n"
                  "                for y in range(R.y.extent):\n"
                  "                    x = R.x.origin + x\n") != std::string::npos);
}

TEST_CASE("compute_at packs a panel of B per k chunk, stored densely, for the tensorized block") {
  static constexpr auto Bm = te::placeholder<float, "B">(dim<"k">, dim<"n">);
  static constexpr auto Am = te::placeholder<float, "A">(dim<"m">, dim<"k">);
  const auto packed = te::compute<"Bp", "kk", "jj">(te::extents(dim<"k">, dim<"n">), [](auto kk, auto jj) { return Bm(kk, jj); });
  const auto prod = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">),
                                               [=](auto i, auto j) { return te::sum(Am(i, r) * packed(r, j), r); });
  constexpr auto s = tir::schedule("C")
                         .split("i", 3)
                         .split("j", 32)
                         .split("r", 8)
                         .reorder("j.o", "r.o", "i.o", "r.i", "i.i", "j.i")
                         .tensorize("r.i", tir::intrin::fma_block<3, 32>)
                         .parallel("j.o")
                         .stage("Bp")
                         .compute_at("C", "r.o")
                         .split("jj", 16)
                         .vectorize("jj.i");
  auto kernel = cpu::build<s>(prod);
  ThreadPool pool(2);
  // Inputs in order of first use: B (read by the packing stage), then A.
  check_matmuls({1, 7}, {5, 64, 70}, {3, 16, 21}, [&](auto a, auto b, auto c) { return kernel.run(&pool, b, a, c); });
}

TEST_CASE("the printed program shows the producer inside the consumer's loop") {
  constexpr auto s = tir::schedule("C").split("i", 4).stage("T").compute_at("C", "i.o");
  CHECK(tir::print<s>(C) ==
        "@T.prim_func\n"
        "def C(A: T.Buffer((m, k), \"float32\"), W: T.Buffer((k, n), \"float32\"), C: T.Buffer((m, n), \"float32\")):\n"
        "    for i.o in range(T.ceildiv(m, 4)):\n"
        "        # T over the region this iteration reads\n"
        "        T = T.alloc_buffer((T.p.extent, T.q.extent), \"float32\")\n"
        "        for p in range(T.p.extent):\n"
        "            for q in range(T.q.extent):\n"
        "                p = T.p.origin + p\n"
        "                q = T.q.origin + q\n"
        "                T[p, q] = T.tanh(A[p, q])\n"
        "        for i.i in range(4):\n"
        "            for j in range(n):\n"
        "                for r in range(k):  # reduction\n"
        "                    i = i.o * 4 + i.i\n"
        "                    if i < m:\n"
        "                        if r == 0:\n"
        "                            C[i, j] = T.sum_identity(\"float32\")\n"
        "                        C[i, j] = T.sum(C[i, j], (T[i, r] * W[r, j]))\n");
}

TEST_CASE("illegal attachments are diagnosed with the primitive and the loop") {
  auto message = [](auto d) { return std::string(d.message); };
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").compute_at("C", "z"), Cmm>()) ==
        "compute_at(\"z\"): no loop of that name in the stage it names");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("C").compute_at("T", "p"), Cmm>()) ==
        "compute_at(\"p\"): the consumer it names does not read the stage");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").compute_at("Q", "i"), Cmm>()) ==
        "compute_at(\"i\"): the stage it names is not in the kernel");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").compute_inline().compute_at("C", "i"), Cmm>()) ==
        "compute_at(\"i\"): an inlined stage has no loops to attach to or at");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("C").split("j", 8).reorder("i", "j.o", "r", "j.i").vectorize("j.i")
                                             .stage("T").compute_at("C", "j.i"), Cmm>()) ==
        "compute_at(\"j.i\"): the loop is vectorized; attach outside it");
  const auto R = te::compute<"R", "x", "y">(te::extents(dim<"m">, dim<"n">), [](auto x, auto y) { return te::max(C(x, y), 0.0f); });
  using Relu = std::remove_const_t<decltype(R)>;
  CHECK(message(tir::schedule_diagnostic<tir::schedule("R").reverse_compute_at("C", "r"), Relu>()) ==
        "reverse_compute_at(\"r\"): the loop is inside the producer's reduction, whose outputs are not final there");
  // U feeds T, which is attached to C: U cannot be attached to T in turn.
  const auto U = te::compute<"U", "u", "v">(te::extents(dim<"m">, dim<"k">), [](auto u, auto v) { return A(u, v) * 2.0f; });
  const auto T2 = te::compute<"T", "p", "q">(te::extents(dim<"m">, dim<"k">), [=](auto p, auto q) { return te::tanh(U(p, q)); });
  const auto C2 = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">), [=](auto i, auto j) { return te::sum(T2(i, r) * W(r, j), r); });
  using Chain = std::remove_const_t<decltype(C2)>;
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").compute_at("C", "i").stage("U").compute_at("T", "p"), Chain>()) ==
        "compute_at(\"p\"): the stage it names is itself computed at another stage's loop; attach both to that stage");
  // T feeds both C and E: computed inside C's loop, E would read it unfinished.
  const auto E = te::compute<"E", "x", "y">(te::extents(dim<"m">, dim<"n">), [](auto x, auto y) { return C(x, y) + T(x, y); });
  using Both = std::remove_const_t<decltype(E)>;
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").compute_at("C", "i"), Both>()) ==
        "compute_at(\"i\"): the stage has other consumers, which would read it unfinished");
}

TEST_CASE("cache_read makes the packing stage; cache_write(global) moves the computation to a stage of its own") {
  // The packed-panel schedule again, with the copy of B made by cache_read; the arguments
  // keep the order of the kernel as written (A, then B).
  const auto prod = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  constexpr auto packed = tir::schedule("C")
                              .cache_read("B", tir::Scope::global)
                              .split("i", 3)
                              .split("j", 32)
                              .split("k", 8)
                              .reorder("j.o", "k.o", "i.o", "k.i", "i.i", "j.i")
                              .tensorize("k.i", tir::intrin::fma_block<3, 32>)
                              .parallel("j.o")
                              .stage("B_global")
                              .compute_at("C", "k.o");
  // C_global reduces into a register tile; C copies it out, vectorized.
  constexpr auto moved = tir::schedule("C")
                             .cache_write(tir::Scope::global)
                             .split("j", 8)
                             .vectorize("j.i")
                             .stage("C_global")
                             .split("j", 8)
                             .reorder("i", "j.o", "k", "j.i")
                             .cache_write(tir::Scope::local);
  auto with_cache_read = cpu::build<packed>(prod);
  auto with_cache_write = cpu::build<moved>(prod);
  ThreadPool pool(2);
  check_matmuls({1, 7}, {5, 70}, {3, 21}, [&](auto a, auto b, auto c) { return with_cache_read.run(&pool, a, b, c); },
                [&](auto a, auto b, auto c) { return with_cache_write.run(&pool, a, b, c); });
  const std::string text = tir::print<moved>(prod);
  CHECK(text.find("    C_global = T.alloc_buffer((m, n), \"float32\")\n") != std::string::npos);
  CHECK(text.find("C[i, j.o * 8 + j.i] = C_global[i, j.o * 8 + j.i]") == std::string::npos);  // bound, not inlined
  CHECK(text.find("C[i, j] = C_global[i, j]\n") != std::string::npos);

  using Matmul = std::remove_const_t<decltype(prod)>;
  auto message = [](auto d) { return std::string(d.message); };
  constexpr auto unknown = tir::schedule("C").cache_read("Q", tir::Scope::global);
  CHECK(message(tir::schedule_diagnostic<unknown, tir::rewritten_kernel_t<unknown, Matmul>>()) ==
        "cache_read(\"Q\"): the stage does not read a tensor of that name");
  constexpr auto shared = tir::schedule("C").cache_read("A", tir::Scope::shared);
  CHECK(message(tir::schedule_diagnostic<shared, tir::rewritten_kernel_t<shared, Matmul>>()) ==
        "cache_read(\"A\"): the CPU backend has no shared memory (shared scope is for GPUs)");
}

TEST_CASE("storage_align pads the row stride of an intermediate buffer") {
  // T is m x 37; with its rows aligned to 16 floats each row takes 48.
  static constexpr auto Ar = te::placeholder<float, "A">(dim<"m">, 37_c);
  static constexpr auto rq = te::reduce_axis<"q">(37_c);
  const auto T37 = te::compute<"T", "p", "c">(te::extents(dim<"m">, 37_c), [](auto p, auto c) { return te::exp(Ar(p, c)); });
  const auto S = te::compute<"S", "i">(te::extents(dim<"m">), [=](auto i) { return te::sum(T37(i, rq), rq); });
  constexpr auto plain = tir::schedule("S");
  constexpr auto aligned = tir::schedule("T").storage_align("p", 16, 0).split("c", 16).vectorize("c.i");
  auto k_plain = cpu::build<plain>(S);
  auto k_aligned = cpu::build<aligned>(S);
  const std::int64_t m = 3;
  auto a = pattern(3 * 37, 0.5f, 0.3f);
  std::vector<float> s1(3), s2(3);
  REQUIRE(k_plain(make_view(a.data(), shape(m, 37_c)), make_view(s1.data(), shape(m))).ok());
  REQUIRE(k_aligned(make_view(a.data(), shape(m, 37_c)), make_view(s2.data(), shape(m))).ok());
  CHECK(k_plain.workspace_bytes() == 448);     // 3 * 37 floats, rounded to 64 bytes
  CHECK(k_aligned.workspace_bytes() == 576);   // 3 * 48 floats
  for (std::int64_t i = 0; i < m; ++i) {
    double ref = 0;
    for (int c = 0; c < 37; ++c) ref += std::exp(double(a[at(i * 37 + c)]));
    CHECK(s1[at(i)] == doctest::Approx(ref).epsilon(1e-5));
    CHECK(s2[at(i)] == doctest::Approx(ref).epsilon(1e-5));
  }
  CHECK(tir::print<aligned>(S).find("    T = T.alloc_buffer((m, 37), \"float32\")  # stride of p = 16 * q + 0\n") !=
        std::string::npos);
  using Sum = std::remove_const_t<decltype(S)>;
  auto message = [](auto d) { return std::string(d.message); };
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").storage_align("z", 16, 0), Sum>()) ==
        "storage_align(\"z\"): the stage has no spatial axis of that name");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("T").storage_align("p", 16, 16), Sum>()) ==
        "storage_align(\"p\"): the factor must be positive and the offset in [0, factor)");
  CHECK(message(tir::schedule_diagnostic<tir::schedule("S").storage_align("i", 16, 0), Sum>()) ==
        "storage_align(\"i\"): the stage is the output of the kernel, whose buffer the caller lays out");
}

TEST_CASE("rfactor: a long row sum as vectorized partial sums, with and without a remainder") {
  static constexpr auto X = te::placeholder<float, "X">(dim<"m">, 1000_c);
  static constexpr auto q = te::reduce_axis<"q">(1000_c);
  const auto rowsum = te::compute<"S", "i">(te::extents(dim<"m">), [](auto i) { return te::sum(X(i, q), q); });
  // The partial sums S_rf[i, q.i] over q.o are a spatial axis q.i: vectorized.
  constexpr auto by16 = tir::schedule("S").rfactor("q", 16).stage("S_rf").reorder("i", "q.o", "q.i").vectorize("q.i");
  constexpr auto by24 = tir::schedule("S").rfactor("q", 24).parallel("i");  // 1000 = 41 * 24 + 16
  auto k16 = cpu::build<by16>(rowsum);
  auto k24 = cpu::build<by24>(rowsum);
  ThreadPool pool(2);
  const std::int64_t m = 5;
  auto x = pattern(5 * 1000, 0.1f);
  std::vector<float> s16(5), s24(5);
  REQUIRE(k16(make_view(x.data(), shape(m, 1000_c)), make_view(s16.data(), shape(m))).ok());
  REQUIRE(k24.run(&pool, make_view(x.data(), shape(m, 1000_c)), make_view(s24.data(), shape(m))).ok());
  for (std::int64_t i = 0; i < m; ++i) {
    double ref = 0;
    for (int c = 0; c < 1000; ++c) ref += double(x[at(i * 1000 + c)]);
    CHECK(s16[at(i)] == doctest::Approx(ref).epsilon(1e-4));
    CHECK(s24[at(i)] == doctest::Approx(ref).epsilon(1e-4));
  }
  const std::string text = tir::print<by16>(rowsum);
  CHECK(text.find("    S_rf = T.alloc_buffer((m, 16), \"float32\")\n") != std::string::npos);
  CHECK(text.find("        for q.o in range(63):  # reduction\n"
                  "            for q.i in T.vectorized(16):\n") != std::string::npos);
  CHECK(text.find("S[i] = T.sum(S[i], S_rf[i, q.i])") != std::string::npos);

  using RowSum = std::remove_const_t<decltype(rowsum)>;
  auto message = [](auto d) { return std::string(d.message); };
  constexpr auto unknown = tir::schedule("S").rfactor("z", 16);
  CHECK(message(tir::schedule_diagnostic<unknown, tir::rewritten_kernel_t<unknown, RowSum>>()) ==
        "rfactor(\"z\"): the stage has no reduction axis of that name");
}

TEST_CASE("interval arithmetic for regions: signs, floor division, and overflow that gives up") {
  using tir::Interval;
  static_assert((Interval{2, 3} * Interval{-1, 4}).lo == -3 && (Interval{2, 3} * Interval{-1, 4}).hi == 12);
  static_assert((Interval{0, 5} - Interval{1, 1}).lo == -1);
  // Two unknown factors multiplied must not overflow: the result is unbounded, then clamped.
  constexpr Interval huge = Interval::unbounded() * Interval::unbounded();
  CHECK(huge.lo == Interval::unbounded().lo);
  CHECK(huge.hi == Interval::unbounded().hi);
  CHECK(huge.clamped(0, 9).lo == 0);
  CHECK(huge.clamped(0, 9).hi == 9);
  CHECK(Interval{5, 2}.empty());
}
