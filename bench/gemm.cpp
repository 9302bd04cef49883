// f32 GEMM (square, row-major C = A * B): kiln's packed GEMM against Eigen and OpenBLAS, on
// one and two threads, next to the measured single-core FMA peak.
//
// Benchmarks are registered as gemm/<impl>/<n>/threads:<t> (Google Benchmark appends
// /real_time because they time wall clock), each with a GFLOPS counter (2 n^3 flops per
// iteration, as a rate), plus fma_peak/threads:1. bench/gemm_report runs this with
// repetitions and prints medians and ratios.
#include <benchmark/benchmark.h>

#include <kiln/backend/cpu/gemm.hpp>
#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/runtime/aligned_alloc.hpp>
#include <kiln/runtime/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if KILN_BENCH_HAVE_EIGEN
#include <Eigen/Core>
#endif
#if KILN_BENCH_HAVE_OPENBLAS
#include <cblas.h>
// Declared here rather than trusted to <cblas.h>, which may be the reference CBLAS header.
extern "C" void openblas_set_num_threads(int num_threads);
extern "C" char* openblas_get_corename(void);
#endif

namespace {

// ---- single-core FMA peak ----------------------------------------------------------------
// Independent vfmadd231ps chains on registers only: 24 accumulators cover FMA latency x
// throughput on any current core (4-5 cycles x 2 pipes). Written in asm because compilers
// keep an array of accumulators behind an opaque asm statement in memory, which measures
// store forwarding instead of the FMA units.
constexpr int kFmasPerLoop = 24;

#if defined(__AVX512F__) && defined(__x86_64__)
constexpr int kPeakLanes = 16;
void fma_chains(std::int64_t loops) {
  asm volatile(
      "vxorps %%xmm30, %%xmm30, %%xmm30\n\t"
      "vxorps %%xmm31, %%xmm31, %%xmm31\n\t"
      "vxorps %%xmm0, %%xmm0, %%xmm0\n\t"
      "vxorps %%xmm1, %%xmm1, %%xmm1\n\t"
      "vxorps %%xmm2, %%xmm2, %%xmm2\n\t"
      "vxorps %%xmm3, %%xmm3, %%xmm3\n\t"
      "vxorps %%xmm4, %%xmm4, %%xmm4\n\t"
      "vxorps %%xmm5, %%xmm5, %%xmm5\n\t"
      "vxorps %%xmm6, %%xmm6, %%xmm6\n\t"
      "vxorps %%xmm7, %%xmm7, %%xmm7\n\t"
      "vxorps %%xmm8, %%xmm8, %%xmm8\n\t"
      "vxorps %%xmm9, %%xmm9, %%xmm9\n\t"
      "vxorps %%xmm10, %%xmm10, %%xmm10\n\t"
      "vxorps %%xmm11, %%xmm11, %%xmm11\n\t"
      "vxorps %%xmm12, %%xmm12, %%xmm12\n\t"
      "vxorps %%xmm13, %%xmm13, %%xmm13\n\t"
      "vxorps %%xmm14, %%xmm14, %%xmm14\n\t"
      "vxorps %%xmm15, %%xmm15, %%xmm15\n\t"
      "vxorps %%xmm16, %%xmm16, %%xmm16\n\t"
      "vxorps %%xmm17, %%xmm17, %%xmm17\n\t"
      "vxorps %%xmm18, %%xmm18, %%xmm18\n\t"
      "vxorps %%xmm19, %%xmm19, %%xmm19\n\t"
      "vxorps %%xmm20, %%xmm20, %%xmm20\n\t"
      "vxorps %%xmm21, %%xmm21, %%xmm21\n\t"
      "vxorps %%xmm22, %%xmm22, %%xmm22\n\t"
      "vxorps %%xmm23, %%xmm23, %%xmm23\n\t"
      ".p2align 5\n"
      "1:\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm0\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm1\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm2\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm3\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm4\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm5\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm6\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm7\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm8\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm9\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm10\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm11\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm12\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm13\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm14\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm15\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm16\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm17\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm18\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm19\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm20\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm21\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm22\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm23\n\t"
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(loops)
      :
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm30", "xmm31");
}
#define KILN_BENCH_HAVE_PEAK 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__x86_64__)
constexpr int kPeakLanes = 8;
// AVX2 has 16 registers: 14 chains plus the two multiplicands (24 FMAs per loop).
void fma_chains(std::int64_t loops) {
  asm volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "vxorps %%ymm12, %%ymm12, %%ymm12\n\t"
      "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"
      "vxorps %%ymm14, %%ymm14, %%ymm14\n\t"
      "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"
      ".p2align 5\n"
      "1:\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm8\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm9\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm11\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm12\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm13\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm8\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm9\n\t"
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(loops)
      :
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
}
#define KILN_BENCH_HAVE_PEAK 1
#else
#define KILN_BENCH_HAVE_PEAK 0
#endif

#if KILN_BENCH_HAVE_PEAK
constexpr double kFlopsPerLoop = 2.0 * kPeakLanes * kFmasPerLoop;

// Best of a few timed runs of about 50 ms each, with steady_clock.
double measure_fma_peak_gflops() {
  constexpr std::int64_t loops = 4'000'000;
  fma_chains(loops);  // warm up (clocks ramp, the AVX-512 units power up)
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    fma_chains(loops);
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    best = std::max(best, kFlopsPerLoop * static_cast<double>(loops) / seconds * 1e-9);
  }
  return best;
}

void fma_peak(benchmark::State& state) {
  constexpr std::int64_t loops = 1'000'000;
  for (auto _ : state) fma_chains(loops);
  state.counters["GFLOPS"] = benchmark::Counter(kFlopsPerLoop * static_cast<double>(loops) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
#endif

// ---- operands ------------------------------------------------------------------------------
struct AlignedFree {
  void operator()(float* p) const noexcept { kiln::aligned_free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

Buffer random_matrix(std::int64_t n, unsigned seed) {
  Buffer m(static_cast<float*>(kiln::aligned_alloc_bytes(static_cast<std::size_t>(n * n) * sizeof(float), 64)));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (std::int64_t i = 0; i < n * n; ++i) m.get()[i] = dist(rng);
  return m;
}

struct Operands {
  explicit Operands(std::int64_t size) : n(size), a(random_matrix(n, 1)), b(random_matrix(n, 2)), c(random_matrix(n, 3)) {}
  std::int64_t n;
  Buffer a, b, c;
};

void set_gflops(benchmark::State& state, std::int64_t n) {
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- the implementations ---------------------------------------------------------------
void gemm_kiln(benchmark::State& state, std::int64_t n, int threads) {
  Operands op(n);
  kiln::ThreadPool pool(threads);
  kiln::ThreadPool* p = threads > 1 ? &pool : nullptr;
  auto plan = kiln::cpu::GemmPlan<>::create(n, n, n, threads);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().to_string().c_str());
    return;
  }
  for (auto _ : state) {
    kiln::Status s = plan->run(n, n, n, 1.0f, op.a.get(), n, op.b.get(), n, 0.0f, op.c.get(), n, p);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(op.c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

// The same product written as a tensor expression with dynamic extents and scheduled onto
// the FMA block by tensorize (operands used in place, unpacked): what the compiler path
// reaches without a hand-written GEMM.
constexpr auto kTensorizedSchedule = [] {
  constexpr auto block = kiln::tir::intrin::fma_block<kiln::cpu::intrin::default_fma_block_shape<kiln::cpu::native_arch>::mr,
                                                      kiln::cpu::intrin::default_fma_block_shape<kiln::cpu::native_arch>::nr>;
  return kiln::tir::schedule("C")
      .split("i", block.rows)
      .split("j", block.cols)
      .split("k", 256)
      .reorder("j.o", "k.o", "i.o", "k.i", "i.i", "j.i")
      .tensorize("k.i", block)
      .parallel("j.o");
}();

// The same, with A and B copied into buffers padded to the block and C computed in whole
// blocks into a padded C_global, then copied out: no edge tiles fall back to the loops when
// the block does not divide n.
constexpr auto kPaddedSchedule = [] {
  constexpr auto block = kiln::tir::intrin::fma_block<kiln::cpu::intrin::default_fma_block_shape<kiln::cpu::native_arch>::mr,
                                                      kiln::cpu::intrin::default_fma_block_shape<kiln::cpu::native_arch>::nr>;
  return kiln::tir::schedule("C")
      .cache_write(kiln::tir::Scope::global)
      .split("j", 16)
      .vectorize("j.i")
      .stage("C_global")
      .cache_read("A", kiln::tir::Scope::global)
      .cache_read("B", kiln::tir::Scope::global)
      .split("i", block.rows, kiln::tir::Tail::round_up)
      .split("j", block.cols, kiln::tir::Tail::round_up)
      .split("k", 256)
      .reorder("j.o", "k.o", "i.o", "k.i", "i.i", "j.i")
      .tensorize("k.i", block)
      .parallel("j.o")
      .stage("A_global")
      .pad("i0", block.rows)
      .stage("B_global")
      .pad("i1", block.cols);
}();

// The padded schedule with B_global packed into panels one block wide (transform_layout):
// each block's k x cols panel of B is contiguous instead of k rows n apart.
constexpr auto kPackedSchedule = [] {
  constexpr int cols = kiln::cpu::intrin::default_fma_block_shape<kiln::cpu::native_arch>::nr;
  return kPaddedSchedule.transform_layout(kiln::tir::block("i1", cols), "i1.o", "i0", "i1.i");
}();

template <kiln::tir::Schedule S>
void gemm_kiln_te(benchmark::State& state, std::int64_t n, int threads) {
  Operands op(n);
  kiln::ThreadPool pool(threads);
  auto kernel = kiln::cpu::build<S>(
      kiln::kernels::matmul<float>(kiln::te::dim<"m">, kiln::te::dim<"n">, kiln::te::dim<"k">));
  auto a = kiln::make_view(op.a.get(), kiln::shape(n, n));
  auto b = kiln::make_view(op.b.get(), kiln::shape(n, n));
  auto c = kiln::make_view(op.c.get(), kiln::shape(n, n));
  for (auto _ : state) {
    kiln::Status s = kernel.run(threads > 1 ? &pool : nullptr, a, b, c);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(op.c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

#if KILN_BENCH_HAVE_EIGEN
void gemm_eigen(benchmark::State& state, std::int64_t n, int threads) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Operands op(n);
  Eigen::Map<const Matrix, Eigen::Aligned64> a(op.a.get(), n, n);
  Eigen::Map<const Matrix, Eigen::Aligned64> b(op.b.get(), n, n);
  Eigen::Map<Matrix, Eigen::Aligned64> c(op.c.get(), n, n);
  Eigen::setNbThreads(threads);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(op.c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}
#endif

#if KILN_BENCH_HAVE_OPENBLAS
void gemm_openblas(benchmark::State& state, std::int64_t n, int threads) {
  Operands op(n);
  openblas_set_num_threads(threads);
  const auto ni = static_cast<blasint>(n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, op.a.get(), ni, op.b.get(), ni, 0.0f,
                op.c.get(), ni);
    benchmark::DoNotOptimize(op.c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}
#endif

template <class Fn>
void register_impl(const char* impl, Fn fn, std::initializer_list<std::int64_t> sizes = {256, 512, 1024, 2048}) {
  for (std::int64_t n : sizes) {
    for (int threads : {1, 2}) {
      const std::string name = "gemm/" + std::string(impl) + "/" + std::to_string(n) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) { fn(state, n, threads); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

} // namespace

int main(int argc, char** argv) {
#if KILN_BENCH_HAVE_PEAK
  const double peak = measure_fma_peak_gflops();
  std::fprintf(stderr, "measured single-core FMA peak: %.1f GFLOPS (%d-lane vfmadd231ps, %d per loop)\n", peak,
               kPeakLanes, kFmasPerLoop);
  benchmark::AddCustomContext("fma_peak_gflops", std::to_string(peak));
  benchmark::RegisterBenchmark("fma_peak/threads:1", fma_peak)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
  benchmark::AddCustomContext("kiln_arch", std::string(kiln::cpu::native_arch::name));
#if KILN_BENCH_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
#endif

  // Grouped by implementation so one library's idle threads (OpenMP and OpenBLAS workers
  // spin for a while after a call) disturb at most the first run of the next group.
  register_impl("kiln", gemm_kiln);
  register_impl("kiln-te", gemm_kiln_te<kTensorizedSchedule>);
  // A size the FMA block does not divide: edge tiles guarded, or computed in padded buffers.
  register_impl("kiln-te", gemm_kiln_te<kTensorizedSchedule>, {1000});
  register_impl("kiln-te-padded", gemm_kiln_te<kPaddedSchedule>, {1000, 1024});
  register_impl("kiln-te-packed", gemm_kiln_te<kPackedSchedule>, {1000, 1024, 2048});
#if KILN_BENCH_HAVE_EIGEN
  register_impl("eigen", gemm_eigen);
#endif
#if KILN_BENCH_HAVE_OPENBLAS
  register_impl("openblas", gemm_openblas);
#endif

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
