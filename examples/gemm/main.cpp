// kiln-gemm: a matrix product written once as a tensor expression, scheduled at compile time
// (tiles, a register accumulator, vectorized and parallel loops) and run with the sizes given
// on the command line, checked against a naive loop on a sample of entries.
//
//   kiln-gemm [N [THREADS]]      (default 512 2)
#include <kiln/kiln.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace kiln;

int main(int argc, char** argv) {
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 512;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  if (n <= 0 || threads <= 0) {
    std::fprintf(stderr, "usage: kiln-gemm [N [THREADS]] with N, THREADS > 0\n");
    return 2;
  }

  const auto mm = kernels::matmul<float>(te::dim<"m">, te::dim<"n">, te::dim<"k">);
  constexpr auto schedule = tir::schedule("C")
                                .split("i", 4)
                                .split("j", 32)
                                .reorder("i.o", "j.o", "k", "i.i", "j.i")
                                .parallel("i.o")
                                .unroll("i.i")
                                .vectorize("j.i")
                                .cache_write(tir::Scope::local);
  auto kernel = cpu::build<schedule>(mm);

  std::vector<float> a(static_cast<std::size_t>(n * n)), b(a.size()), c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = std::sin(static_cast<float>(i) * 0.01f);
    b[i] = std::cos(static_cast<float>(i) * 0.02f);
  }
  ThreadPool pool(threads);
  auto run = [&] {
    return kernel.run(&pool, make_view(a.data(), shape(n, n)), make_view(b.data(), shape(n, n)),
                      make_view(c.data(), shape(n, n)));
  };
  if (Status s = run(); !s.ok()) {
    std::fprintf(stderr, "kiln-gemm: %s\n", s.to_string().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const int reps = 3;
  for (int r = 0; r < reps; ++r) (void)run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;

  double worst = 0;
  for (std::int64_t i = 0; i < n; i += std::max<std::int64_t>(1, n / 7))
    for (std::int64_t j = 0; j < n; j += std::max<std::int64_t>(1, n / 5)) {
      double ref = 0;
      for (std::int64_t q = 0; q < n; ++q) ref += double(a[std::size_t(i * n + q)]) * double(b[std::size_t(q * n + j)]);
      worst = std::max(worst, std::fabs(ref - double(c[std::size_t(i * n + j)])));
    }
  std::printf("kiln-gemm: %lld x %lld x %lld on %d threads: %.3f ms, %.1f GFLOPS, max |error| %.2g\n",
              static_cast<long long>(n), static_cast<long long>(n), static_cast<long long>(n), threads, seconds * 1e3,
              2.0 * double(n) * double(n) * double(n) / seconds * 1e-9, worst);
  return worst <= 1e-3 * double(n) ? 0 : 1;
}
