// Tests for the CPU GEMM: the fma_block micro-kernel per architecture (full and edge
// blocks), the packed GEMM against a double-precision triple loop over many shapes,
// strides, alpha/beta and thread counts, and the Status errors of the view entry point.
#include <doctest/doctest.h>

#include <kiln/backend/cpu/gemm.hpp>
#include <kiln/runtime/arena.hpp>
#include <kiln/runtime/tensor_view.hpp>
#include <kiln/runtime/thread_pool.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace kiln;

namespace {

constexpr float kGuard = -12345.0f;  // fills memory the GEMM must not touch

std::vector<float> random_values(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// Rounding error of a k-term f32 dot product is bounded by about k * eps * sum |a||b|;
// the bound below is loose by a small factor and relative to each entry's magnitude.
bool close(double got, double want, double magnitude, std::int64_t k) {
  const double tol = 2.0 * static_cast<double>(k + 2) * FLT_EPSILON * magnitude + 1e-30;
  return std::fabs(got - want) <= tol;
}

// One GEMM problem with padded leading dimensions and guard values in the padding.
struct Problem {
  std::int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  std::vector<float> a, b, c, c0;

  Problem(std::int64_t m_, std::int64_t n_, std::int64_t k_, std::int64_t pad, float alpha_, float beta_, unsigned seed)
      : m(m_), n(n_), k(k_), lda(k_ + pad), ldb(n_ + pad), ldc(n_ + pad), alpha(alpha_), beta(beta_) {
    a = random_values(static_cast<std::size_t>(std::max<std::int64_t>(m * lda, 1)), seed);
    b = random_values(static_cast<std::size_t>(std::max<std::int64_t>(k * ldb, 1)), seed + 1);
    c = random_values(static_cast<std::size_t>(std::max<std::int64_t>(m * ldc, 1)), seed + 2);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = n; j < ldc; ++j) c[static_cast<std::size_t>(i * ldc + j)] = kGuard;
    // beta == 0 must not read C: NaN there would leak into the result.
    if (beta == 0.0f) {
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) c[static_cast<std::size_t>(i * ldc + j)] = std::numeric_limits<float>::quiet_NaN();
    }
    c0 = c;
  }

  // Compares c with alpha * A * B + beta * c0 in double; also checks the padding.
  void check() const {
    int failures = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < ldc; ++j) {
        const float got = c[static_cast<std::size_t>(i * ldc + j)];
        if (j >= n) {
          if (got != kGuard && ++failures < 5) FAIL_CHECK("padding of C written at (", i, ", ", j, ")");
          continue;
        }
        double sum = 0.0, magnitude = 0.0;
        for (std::int64_t p = 0; p < k; ++p) {
          const double ab = static_cast<double>(a[static_cast<std::size_t>(i * lda + p)]) *
                            static_cast<double>(b[static_cast<std::size_t>(p * ldb + j)]);
          sum += ab;
          magnitude += std::fabs(ab);
        }
        double want = static_cast<double>(alpha) * sum;
        magnitude *= std::fabs(static_cast<double>(alpha));
        if (beta != 0.0f) {
          const double old = c0[static_cast<std::size_t>(i * ldc + j)];
          want += static_cast<double>(beta) * old;
          magnitude += std::fabs(static_cast<double>(beta) * old);
        }
        if (!close(got, want, magnitude, k) && ++failures < 5) {
          FAIL_CHECK("m=", m, " n=", n, " k=", k, " alpha=", alpha, " beta=", beta, ": C(", i, ", ", j, ") = ", got,
                     ", expected ", want);
        }
      }
    }
    CHECK(failures == 0);
  }
};

template <class Arch>
void run_problem(Problem& p, ThreadPool* pool) {
  const int threads = pool != nullptr ? pool->size() : 1;
  std::vector<std::byte> ws(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k, threads));
  const Status s = cpu::gemm<Arch>(p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta, p.c.data(),
                                   p.ldc, ws.data(), ws.size(), pool);
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  p.check();
}

// ---- micro-kernel -------------------------------------------------------------------------

// A panel of MR rows, `lda` floats apart (lda == kc: packed; more: rows of a matrix used in
// place through the strided overload of run()).
template <class Block>
void check_block(std::int64_t kc, std::int64_t m, std::int64_t n, bool accumulate, unsigned seed,
                 std::int64_t lda = -1) {
  constexpr int MR = Block::mr, NR = Block::nr;
  const bool packed = lda < 0;
  if (packed) lda = kc;
  const auto pa = random_values(static_cast<std::size_t>(std::max<std::int64_t>(lda * MR, 1)), seed);
  const auto pb = random_values(static_cast<std::size_t>(std::max<std::int64_t>(kc * NR, 1)), seed + 1);
  const std::int64_t ldc = NR + 3;
  const std::int64_t rows = MR + 1;  // one spare row to catch writes past m
  std::vector<float> c = random_values(static_cast<std::size_t>(rows * ldc), seed + 2);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < ldc; ++j)
      if (i >= m || j >= n) c[static_cast<std::size_t>(i * ldc + j)] = kGuard;
  const std::vector<float> c0 = c;

  if (!packed) {
    Block::run(kc, pa.data(), lda, pb.data(), c.data(), ldc, accumulate);
  } else if (m == MR && n == NR) {
    Block::run(kc, pa.data(), pb.data(), c.data(), ldc, accumulate);
  } else {
    Block::run_edge(kc, pa.data(), pb.data(), c.data(), ldc, m, n, accumulate);
  }

  int failures = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < ldc; ++j) {
      const float got = c[static_cast<std::size_t>(i * ldc + j)];
      if (i >= m || j >= n) {
        if (got != kGuard) ++failures;
        continue;
      }
      double want = accumulate ? c0[static_cast<std::size_t>(i * ldc + j)] : 0.0;
      double magnitude = std::fabs(want);
      for (std::int64_t p = 0; p < kc; ++p) {
        const double ab = static_cast<double>(pa[static_cast<std::size_t>(i * lda + p)]) *
                          static_cast<double>(pb[static_cast<std::size_t>(p * NR + j)]);
        want += ab;
        magnitude += std::fabs(ab);
      }
      if (!close(got, want, magnitude, kc)) ++failures;
    }
  }
  CHECK_MESSAGE(failures == 0, "fma_block<", MR, ", ", NR, ", ", Block::arch::name, "> kc=", kc, " m=", m, " n=", n,
                " accumulate=", accumulate);
}

template <class Block>
void check_block_shapes() {
  constexpr int MR = Block::mr, NR = Block::nr;
  unsigned seed = 100;
  for (std::int64_t kc : {0, 1, 7, 64}) {
    for (bool accumulate : {false, true}) {
      check_block<Block>(kc, MR, NR, accumulate, ++seed);                          // full block
      check_block<Block>(kc, 1, 1, accumulate, ++seed);                            // corner
      check_block<Block>(kc, MR - 1 > 0 ? MR - 1 : 1, NR, accumulate, ++seed);     // short in m
      check_block<Block>(kc, MR, NR > 1 ? NR - 1 : 1, accumulate, ++seed);         // short in n
      check_block<Block>(kc, (MR + 1) / 2, (NR + 1) / 2 + 1 > NR ? NR : (NR + 1) / 2 + 1, accumulate, ++seed);
      check_block<Block>(kc, MR, NR, accumulate, ++seed, kc + 5);                  // A rows in place
    }
  }
}

// Runs fn() when this build has Arch compiled in and the CPU can execute it.
template <class Arch, class Fn>
void if_runnable(Fn&& fn) {
  if constexpr (Arch::compiled) {
    if (cpu::detect().supports<Arch>()) {
      fn();
    } else {
      MESSAGE("skipping ", Arch::name, ": not supported by this CPU");
    }
  } else {
    MESSAGE("skipping ", Arch::name, ": not compiled in (needs the instruction set in the compile flags)");
  }
}

// Kernel, GEMM shapes (a slice of them) and threads for one architecture's code path.
template <class Arch>
void check_gemm_arch_smoke(ThreadPool* pool) {
  const std::int64_t sizes[] = {1, 3, 17, 64, 129};
  unsigned seed = 7;
  for (std::int64_t m : sizes)
    for (std::int64_t n : sizes) {
      const std::int64_t k = sizes[(m + n) % 5];
      Problem p(m, n, k, 2, 1.0f, (m + n) % 2 == 0 ? 0.0f : 1.0f, ++seed);
      run_problem<Arch>(p, (m * n) % 3 == 0 ? pool : nullptr);
    }
  // Crosses every blocking loop of this architecture: mc, kc and nc.
  constexpr cpu::GemmBlocking bl = cpu::gemm_blocking_v<Arch>;
  Problem wide(bl.mc + 5, bl.nc + 3, 7, 1, 1.0f, 0.0f, ++seed);
  run_problem<Arch>(wide, nullptr);
  Problem deep(5, 19, bl.kc + 9, 2, 1.0f, 1.0f, ++seed);
  run_problem<Arch>(deep, pool);
}

} // namespace

TEST_CASE("cpu::detect and the architecture tags agree with the compile flags") {
  const cpu::CpuFeatures f = cpu::detect();
  CHECK(f.supports<cpu::scalar>());
  static_assert(cpu::scalar::width == 1 && cpu::avx2::width == 8 && cpu::avx512::width == 16);
  static_assert(cpu::simd_width_v<cpu::native_arch> == cpu::native_arch::width);
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512CD__)
  static_assert(std::is_same_v<cpu::native_arch, cpu::avx512>);
  CHECK(f.has_avx512f);  // the binary was built for this machine's flags, and it runs
#endif
  MESSAGE("native arch: ", cpu::native_arch::name, ", best runnable: ", cpu::to_string(cpu::best_arch()));
}

TEST_CASE("fma_block micro-kernel: full and edge blocks on every runnable architecture") {
  SUBCASE("scalar") {
    check_block_shapes<cpu::intrin::default_fma_block<cpu::scalar>>();
    check_block_shapes<cpu::intrin::fma_block<3, 5, cpu::scalar>>();
  }
  SUBCASE("avx2") {
    if_runnable<cpu::avx2>([] {
      if constexpr (cpu::avx2::compiled) {
        check_block_shapes<cpu::intrin::default_fma_block<cpu::avx2>>();
        check_block_shapes<cpu::intrin::fma_block<1, 8, cpu::avx2>>();
        check_block_shapes<cpu::intrin::fma_block<4, 24, cpu::avx2>>();
      }
    });
  }
  SUBCASE("avx512") {
    if_runnable<cpu::avx512>([] {
      if constexpr (cpu::avx512::compiled) {
        check_block_shapes<cpu::intrin::default_fma_block<cpu::avx512>>();
        check_block_shapes<cpu::intrin::fma_block<14, 32, cpu::avx512>>();
        check_block_shapes<cpu::intrin::fma_block<1, 16, cpu::avx512>>();
      }
    });
  }
}

TEST_CASE("gemm matches a double-precision triple loop over many shapes (native arch)") {
  using Arch = cpu::native_arch;
  ThreadPool pool(2);
  const std::int64_t sizes[] = {1, 2, 3, 5, 17, 31, 64, 65, 127, 129, 255};
  constexpr int count = 11;
  unsigned seed = 1;
  // Every (m, n) pair, with k walking through the sizes so each k meets many (m, n);
  // leading dimensions padded or not, beta 0 and 1, one and two threads in turn.
  for (int im = 0; im < count; ++im) {
    for (int in = 0; in < count; ++in) {
      const std::int64_t m = sizes[im], n = sizes[in];
      const std::int64_t k = sizes[(im * 3 + in * 5) % count];
      if (m * n * k > 255 * 129 * 64) continue;  // keep the reference loop cheap
      const int variant = im + in;
      Problem p(m, n, k, variant % 3 == 0 ? 0 : 3 + variant % 5, 1.0f, variant % 2 == 0 ? 0.0f : 1.0f, ++seed);
      run_problem<Arch>(p, variant % 4 < 2 ? &pool : nullptr);
    }
  }
  // Deep, thin products: k = 1023 crosses several kc blocks.
  for (std::int64_t m : {1, 3, 17})
    for (std::int64_t n : {1, 5, 31}) {
      Problem p(m, n, 1023, 1, 1.0f, (m + n) % 2 == 0 ? 0.0f : 1.0f, ++seed);
      run_problem<Arch>(p, n == 31 ? &pool : nullptr);
    }
  // Wide enough to cross nc (more than one packed block of B), thin elsewhere.
  for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
    Problem p(7, cpu::gemm_blocking_v<Arch>.nc + 150, 5, 3, 1.0f, 1.0f, ++seed);
    run_problem<Arch>(p, tp);
  }
  // Large enough to cross mc and (for two threads) split the output.
  for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
    Problem p(200, 300, 130, 5, 1.0f, 1.0f, ++seed);
    run_problem<Arch>(p, tp);
  }
}

TEST_CASE("gemm: alpha and general beta, k == 0, empty outputs") {
  using Arch = cpu::native_arch;
  ThreadPool pool(2);
  for (float alpha : {2.0f, -0.5f})
    for (float beta : {0.0f, 1.0f, 0.25f})
      for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
        Problem p(37, 70, 41, 2, alpha, beta, 11);
        run_problem<Arch>(p, tp);
      }

  // k == 0: C = beta * C.
  for (float beta : {0.0f, 1.0f, 3.0f}) {
    Problem p(5, 7, 0, 1, 1.0f, beta, 21);
    run_problem<Arch>(p, nullptr);
  }
  // m == 0 or n == 0: nothing to do, no workspace needed.
  float dummy = 1.0f;
  CHECK(cpu::gemm_workspace_bytes<Arch>(0, 5, 5) == 0);
  CHECK(cpu::gemm<Arch>(0, 5, 5, 1.0f, &dummy, 5, &dummy, 5, 0.0f, &dummy, 5, nullptr, 0).ok());
  CHECK(cpu::gemm<Arch>(5, 0, 5, 1.0f, &dummy, 5, &dummy, 1, 0.0f, &dummy, 1, nullptr, 0).ok());
  CHECK(dummy == 1.0f);
}

TEST_CASE("gemm on the scalar and AVX2 code paths") {
  ThreadPool pool(2);
  SUBCASE("scalar") { check_gemm_arch_smoke<cpu::scalar>(&pool); }
  SUBCASE("avx2") {
    if_runnable<cpu::avx2>([&] {
      if constexpr (cpu::avx2::compiled) check_gemm_arch_smoke<cpu::avx2>(&pool);
    });
  }
  SUBCASE("avx512") {
    if_runnable<cpu::avx512>([&] {
      if constexpr (cpu::avx512::compiled) check_gemm_arch_smoke<cpu::avx512>(&pool);
    });
  }
}

TEST_CASE("gemm: workspace, arena and GemmPlan") {
  using Arch = cpu::native_arch;
  Problem p(70, 90, 50, 0, 1.0f, 0.0f, 31);

  SUBCASE("a workspace that is too small is an error naming the sizes") {
    std::vector<std::byte> ws(16);
    const Status s = cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(),
                                     p.ldc, ws.data(), ws.size());
    CHECK(s == StatusCode::out_of_memory);
    CHECK(s.message().find("16 bytes") != std::string::npos);
  }
  SUBCASE("a workspace sized for one thread still serves a pool of two") {
    ThreadPool pool(2);
    std::vector<std::byte> ws(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k, 1));
    const Status s = cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(),
                                     p.ldc, ws.data(), ws.size(), &pool);
    REQUIRE(s.ok());
    p.check();
  }
  SUBCASE("an unaligned workspace") {
    std::vector<std::byte> ws(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k, 1) + 3);
    const Status s = cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(),
                                     p.ldc, ws.data() + 3, ws.size() - 3);
    REQUIRE(s.ok());
    p.check();
  }
  SUBCASE("from an arena, rewound afterwards") {
    auto arena = Arena::create(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k, 2) + 64).value();
    ThreadPool pool(2);
    REQUIRE(cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(), p.ldc, arena,
                            &pool)
                .ok());
    CHECK(arena.used() == 0);
    p.check();
    Arena tiny = Arena::create(64).value();
    CHECK(cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(), p.ldc, tiny,
                          &pool) == StatusCode::out_of_memory);
  }
  SUBCASE("a plan reused across shapes grows only when needed") {
    auto plan = cpu::GemmPlan<Arch>::create(p.m, p.n, p.k).value();
    const std::size_t capacity = plan.capacity();
    CHECK(capacity >= cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k));
    REQUIRE(plan.run(p.m, p.n, p.k, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, p.c.data(), p.ldc).ok());
    p.check();
    Problem smaller(10, 20, 30, 1, 1.0f, 1.0f, 32);
    REQUIRE(plan.run(smaller.m, smaller.n, smaller.k, 1.0f, smaller.a.data(), smaller.lda, smaller.b.data(), smaller.ldb,
                     1.0f, smaller.c.data(), smaller.ldc)
                .ok());
    smaller.check();
    CHECK(plan.capacity() == capacity);
  }
  SUBCASE("leading dimensions shorter than a row are rejected") {
    std::vector<std::byte> ws(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k));
    CHECK(cpu::gemm<Arch>(p.m, p.n, p.k, 1.0f, p.a.data(), p.k - 1, p.b.data(), p.ldb, 0.0f, p.c.data(), p.ldc,
                          ws.data(), ws.size()) == StatusCode::invalid_argument);
  }
}

TEST_CASE("gemm on TensorViews: static and dynamic extents, strides, shape errors") {
  using Arch = cpu::native_arch;
  ThreadPool pool(2);

  SUBCASE("static extents") {
    Problem p(9, 33, 20, 0, 1.0f, 0.0f, 41);
    auto a = make_view(static_cast<const float*>(p.a.data()), shape(9_c, 20_c));
    auto b = make_view(static_cast<const float*>(p.b.data()), shape(20_c, 33_c));
    auto c = make_view(p.c.data(), shape(9_c, 33_c));
    auto plan = cpu::GemmPlan<Arch>();
    REQUIRE(plan.run(a, b, c, &pool).ok());
    p.check();
  }
  SUBCASE("dynamic extents, padded rows, beta 1") {
    Problem p(31, 18, 65, 4, 1.0f, 1.0f, 42);
    TensorView a(static_cast<const float*>(p.a.data()), shape(p.m, p.k), stride(p.lda, 1_c));
    TensorView b(static_cast<const float*>(p.b.data()), shape(p.k, p.n), stride(p.ldb, 1_c));
    TensorView c(p.c.data(), shape(p.m, p.n), stride(p.ldc, 1_c));
    std::vector<std::byte> ws(cpu::gemm_workspace_bytes<Arch>(p.m, p.n, p.k, 2));
    REQUIRE(cpu::gemm<Arch>(a, b, c, ws.data(), ws.size(), &pool, 1.0f, 1.0f).ok());
    p.check();
  }
  SUBCASE("transposed operands through strides") {
    // A^T is stored as k x m, B^T as n x k; the views present them as m x k and k x n.
    const std::int64_t m = 13, n = 21, k = 34;
    const auto at = random_values(static_cast<std::size_t>(k * m), 51);
    const auto bt = random_values(static_cast<std::size_t>(n * k), 52);
    std::vector<float> c(static_cast<std::size_t>(m * n));
    DynTensorView<const float, 2> a(at.data(), DynShape<2>(m, k), DynStride<2>(1, m));
    DynTensorView<const float, 2> b(bt.data(), DynShape<2>(k, n), DynStride<2>(1, k));
    auto cv = make_view(c.data(), shape(m, n));
    auto plan = cpu::GemmPlan<Arch>();
    REQUIRE(plan.run(a, b, cv).ok());
    int failures = 0;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double want = 0.0, magnitude = 0.0;
        for (std::int64_t p = 0; p < k; ++p) {
          const double ab = static_cast<double>(at[static_cast<std::size_t>(p * m + i)]) *
                            static_cast<double>(bt[static_cast<std::size_t>(j * k + p)]);
          want += ab;
          magnitude += std::fabs(ab);
        }
        if (!close(c[static_cast<std::size_t>(i * n + j)], want, magnitude, k)) ++failures;
      }
    CHECK(failures == 0);
  }
  SUBCASE("mismatched extents name all of them") {
    std::vector<float> buf(64, 0.0f);
    auto a = make_view(static_cast<const float*>(buf.data()), shape(std::int64_t{3}, std::int64_t{4}));
    auto b = make_view(static_cast<const float*>(buf.data()), shape(std::int64_t{5}, std::int64_t{6}));
    auto c = make_view(buf.data(), shape(std::int64_t{3}, std::int64_t{6}));
    auto plan = cpu::GemmPlan<Arch>();
    const Status s = plan.run(a, b, c);
    CHECK(s == StatusCode::shape_mismatch);
    CHECK(s.message() == "gemm: A is 3 x 4, B is 5 x 6, C is 3 x 6; expected A m x k, B k x n, C m x n");

    auto b_ok = make_view(static_cast<const float*>(buf.data()), shape(std::int64_t{4}, std::int64_t{6}));
    auto c_bad = make_view(buf.data(), shape(std::int64_t{2}, std::int64_t{6}));
    const Status s2 = plan.run(a, b_ok, c_bad);
    CHECK(s2 == StatusCode::shape_mismatch);
    CHECK(s2.message().find("C is 2 x 6") != std::string::npos);
  }
  SUBCASE("an output with a column stride is unsupported") {
    std::vector<float> buf(64, 0.0f);
    auto a = make_view(static_cast<const float*>(buf.data()), shape(2_c, 2_c));
    TensorView c(buf.data(), shape(2_c, 2_c), stride(1_c, 2_c));
    auto plan = cpu::GemmPlan<Arch>();
    CHECK(plan.run(a, a, c) == StatusCode::unsupported);
  }
}
