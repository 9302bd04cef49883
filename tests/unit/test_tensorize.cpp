// tensorize: matmul-shaped stages handed to the CPU's tensor intrinsics (the FMA register
// block for f32, the int8 dot product for i8 -> i32), with tiles cut by guarded tails falling
// back to the scheduled loops; against naive loops, with epilogues and batches; and the
// diagnostics of schedules that do not fit the intrinsic.
#include <doctest/doctest.h>

#include "matmul_check.hpp"
#include "test_data.hpp"

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
using kiln::test::naive_matmul;
using kiln::test::pattern;

// i by 6 and j by 32 for the block, k by 64 so the block accumulates over several calls.
template <tir::Intrinsic I>
constexpr auto blocked(tir::Schedule s, Name i = "i", Name j = "j") {
  return s.split(i, I.rows).split(j, I.cols).split("k", 64).reorder(i + ".o", j + ".o", "k.o", "k.i", i + ".i", j + ".i")
      .tensorize("k.i", I);
}
constexpr auto kFma = tir::intrin::fma_block<6, 32>;
constexpr auto kInt8 = tir::intrin::int8_dot<4, 16>;

constexpr auto X = te::placeholder<float, "A">(dim<"m">, dim<"k">);
constexpr auto Bt = te::placeholder<float, "B">(dim<"n">, dim<"k">);
constexpr auto r = te::reduce_axis<"k">(dim<"k">);

const auto kMatmul = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
using Matmul = std::remove_const_t<decltype(kMatmul)>;
constexpr auto kMatmulSchedule = blocked<kFma>(tir::schedule("C")).parallel("i.o");

} // namespace

TEST_CASE("a matmul tensorized onto the FMA block matches a naive loop, edge tiles included") {
  auto kernel = cpu::build<kMatmulSchedule>(kMatmul);
  ThreadPool pool(2);
  check_matmuls({1, 6, 17, 61}, {1, 32, 45, 97}, {0, 1, 3, 64, 200},
                [&](auto a, auto b, auto c) { return kernel.run(&pool, a, b, c); });
}

TEST_CASE("tensorize with an epilogue, with decompose_reduction, and with static extents") {
  constexpr auto Bias = te::placeholder<float, "bias">(dim<"n">);
  const auto D = te::compute<"D", "x", "y">(te::extents(dim<"m">, dim<"n">),
                                            [=](auto x, auto y) { return te::max(kMatmul(x, y) + Bias(y), 0.0f); });
  constexpr auto fused = blocked<kFma>(tir::schedule("C")).stage("D").reverse_compute_inline();
  constexpr auto decomposed = blocked<kFma>(tir::schedule("C")).decompose_reduction().stage("D").reverse_compute_inline();
  auto with_epilogue = cpu::build<fused>(D);
  auto with_init = cpu::build<decomposed>(D);
  const std::int64_t m = 13, n = 70, k = 150;
  auto a = pattern(at(m * k), 0.1f), b = pattern(at(k * n), 0.9f), bias = pattern(at(n), 2.0f);
  std::vector<float> d1(at(m * n)), d2(at(m * n));
  REQUIRE(with_epilogue(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(bias.data(), shape(n)),
                        make_view(d1.data(), shape(m, n)))
              .ok());
  REQUIRE(with_init(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(bias.data(), shape(n)),
                    make_view(d2.data(), shape(m, n)))
              .ok());
  const auto ref = naive_matmul<float, double>(a, b, m, n, k);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double expected = std::max(ref[at(i * n + j)] + bias[at(j)], 0.0);
      CHECK(d1[at(i * n + j)] == doctest::Approx(expected).epsilon(1e-4));
      CHECK(d2[at(i * n + j)] == doctest::Approx(expected).epsilon(1e-4));
    }

  // Every extent static: 12 x 64 x 128 is whole tiles only.
  auto fixed = cpu::build<kMatmulSchedule>(kernels::matmul<float>(Int<12>{}, Int<64>{}, Int<128>{}));
  auto fa = pattern(12 * 128, 0.5f), fb = pattern(128 * 64, 0.7f);
  std::vector<float> fc(12 * 64);
  REQUIRE(fixed(make_view(fa.data(), shape(Int<12>{}, Int<128>{})), make_view(fb.data(), shape(Int<128>{}, Int<64>{})),
                make_view(fc.data(), shape(Int<12>{}, Int<64>{})))
              .ok());
  const auto fref = naive_matmul<float, double>(fa, fb, 12, 64, 128);
  for (std::size_t q = 0; q < fc.size(); ++q) CHECK(fc[q] == doctest::Approx(fref[q]).epsilon(1e-4));
}

TEST_CASE("a batched matmul tensorizes over its last two axes; a strided operand falls back to the loops") {
  constexpr auto s = blocked<kFma>(tir::schedule("C")).fuse("b", "i.o").parallel("b_i.o");
  auto kernel = cpu::build<s>(kernels::batch_matmul<float>(dim<"b">, dim<"m">, dim<"n">, dim<"k">));
  const std::int64_t batch = 3, m = 8, n = 40, k = 70;
  auto a = pattern(at(batch * m * k), 0.2f), b = pattern(at(batch * k * n), 0.4f);
  std::vector<float> c(at(batch * m * n));
  ThreadPool pool(2);
  REQUIRE(kernel.run(&pool, make_view(a.data(), shape(batch, m, k)), make_view(b.data(), shape(batch, k, n)),
                     make_view(c.data(), shape(batch, m, n)))
              .ok());
  for (std::int64_t q = 0; q < batch; ++q) {
    const std::vector<float> aq(a.begin() + q * m * k, a.begin() + (q + 1) * m * k);
    const std::vector<float> bq(b.begin() + q * k * n, b.begin() + (q + 1) * k * n);
    const auto ref = naive_matmul<float, double>(aq, bq, m, n, k);
    for (std::int64_t e = 0; e < m * n; ++e) CHECK(c[at(q * m * n + e)] == doctest::Approx(ref[at(e)]).epsilon(1e-4));
  }

  // B viewed transposed (column stride 70): not contiguous along its rows, so the loops run.
  auto kernel2 = cpu::build<kMatmulSchedule>(kMatmul);
  auto bt = pattern(at(n * k), 0.6f);  // n x k, read as k x n with strides (1, k)
  std::vector<float> c2(at(m * n));
  const auto b_view = TensorView(bt.data(), shape(k, n), stride(1_c, k));
  REQUIRE(kernel2(make_view(a.data(), shape(m, k)), b_view, make_view(c2.data(), shape(m, n))).ok());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (std::int64_t p = 0; p < k; ++p) ref += double(a[at(i * k + p)]) * double(bt[at(j * k + p)]);
      CHECK(c2[at(i * n + j)] == doctest::Approx(ref).epsilon(1e-4));
    }
}

TEST_CASE("an int8 matmul tensorized onto the int8 dot product is exact, extreme values included") {
  constexpr auto s = blocked<kInt8>(tir::schedule("C"));
  auto kernel = cpu::build<s>(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">));
  for (std::int64_t m : {1, 4, 9})
    for (std::int64_t n : {3, 16, 35})
      for (std::int64_t k : {1, 5, 64, 300}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        std::vector<std::int8_t> a(at(m * k)), b(at(k * n));
        for (std::size_t q = 0; q < a.size(); ++q) a[q] = static_cast<std::int8_t>(q % 7 == 0 ? -128 : (q * 37) % 255 - 127);
        for (std::size_t q = 0; q < b.size(); ++q) b[q] = static_cast<std::int8_t>(q % 5 == 0 ? 127 : (q * 53) % 255 - 128);
        std::vector<std::int32_t> c(at(m * n), 99);
        REQUIRE(kernel(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(c.data(), shape(m, n))).ok());
        const auto ref = naive_matmul<std::int8_t, std::int64_t>(a, b, m, n, k);
        for (std::size_t q = 0; q < c.size(); ++q) CHECK(c[q] == static_cast<std::int32_t>(ref[q]));
      }
}

TEST_CASE("the printed program marks the tensorized loops") {
  const std::string text = tir::print<kMatmulSchedule>(kMatmul);
  CHECK(text.find("            for k.o in range(T.ceildiv(k, 64)):  # reduction\n"
                  "                # tensorized from here inwards: fma_block[6 x 32]\n"
                  "                for k.i in range(64):  # reduction\n") != std::string::npos);
}

TEST_CASE("schedules that do not fit the intrinsic are diagnosed with the primitive and the loop") {
  auto message = [](auto diagnostic) { return std::string(diagnostic.message); };
  // The tile loops must have the intrinsic's extents.
  CHECK(message(tir::schedule_diagnostic<tir::schedule("C").split("i", 4).split("j", 32).reorder("i.o", "j.o", "k", "i.i", "j.i")
                                             .tensorize("k", kFma),
                                         Matmul>()) ==
        "tensorize(\"i.i\"): the extents of the row and column loops differ from the intrinsic's tile");
  // k must be outside the tile loops.
  CHECK(message(tir::schedule_diagnostic<tir::schedule("C").split("i", 6).split("j", 32).reorder("i.o", "j.o", "i.i", "k", "j.i")
                                             .tensorize("i.i", kFma),
                                         Matmul>()) == "tensorize(\"i.i\"): the loop must step the reduction axis by one");
  CHECK(message(tir::schedule_diagnostic<blocked<kFma>(tir::schedule("C")).cache_write(tir::Scope::local), Matmul>()) ==
        "tensorize(\"k.i\"): the intrinsic keeps its own accumulators; drop cache_write(local)");
  // The f32 block cannot take int8 operands.
  using Int8Matmul = decltype(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">));
  CHECK(message(tir::schedule_diagnostic<blocked<kFma>(tir::schedule("C")), Int8Matmul>()) ==
        "tensorize(\"k.i\"): the operands' dtype is not the intrinsic's input dtype");
  // A max-reduction is not a sum of products.
  using RowMax = decltype(te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">),
                                                    [](auto i, auto) { return te::max(X(i, r), r); }));
  CHECK(message(tir::schedule_diagnostic<blocked<kFma>(tir::schedule("C")), RowMax>()) ==
        "tensorize(\"k.i\"): the stage is not a sum of products, as the gemm pattern needs");
  // The operands must be indexed by the tile's axes, A[i, k] * B[k, j].
  using Transposed = decltype(te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">),
                                                        [](auto i, auto j) { return te::sum(X(i, r) * Bt(j, r), r); }));
  CHECK(message(tir::schedule_diagnostic<blocked<kFma>(tir::schedule("C")), Transposed>()) ==
        "tensorize(\"k.i\"): the operands are not A[.., i, k] and B[.., k, j] over the stage's last two axes");
}
