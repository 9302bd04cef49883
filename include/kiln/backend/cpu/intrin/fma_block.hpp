// kiln/backend/cpu/intrin/fma_block.hpp: the register-blocked FMA micro-kernel, the CPU
// tensor intrinsic that GEMM-like schedules tensorize onto.
//
// fma_block<MR, NR, Arch> computes one MR x NR block of C (+)= A_panel * B_panel from
// panels packed so that every read is sequential:
//   packed_a: MR rows of kc floats (row i at packed_a + i * lda, lda = kc when packed);
//   packed_b: kc rows of NR floats (row p at packed_b + p * NR).
// The block of C lives in MR * NR / width vector registers for the whole k loop; each step
// loads NR / width vectors of B, broadcasts MR scalars of A and issues MR * NR / width
// independent FMAs, enough to hide FMA latency behind throughput. C is touched once per
// call (row-major, leading dimension ldc), so its cost is amortized over kc.
//
// A is kept row-major inside its panel (rather than interleaved column by column) so that
// packing it is a plain row copy: the interleaving transpose cost more than the kernel
// saves by reading one stream instead of MR.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "../../../config.hpp"
#include "../arch.hpp"

namespace kiln::cpu::intrin {

namespace detail {

// Lambdas in the kernel must inline: one that does not forces the accumulators through
// memory (the compiler passes them by reference), which costs a few percent.
#if defined(__GNUC__) || defined(__clang__)
#define KILN_CPU_INLINE_LAMBDA __attribute__((always_inline))
#else
#define KILN_CPU_INLINE_LAMBDA
#endif

template <class Fn, int... I>
KILN_FORCEINLINE void static_for_impl(Fn& fn, std::integer_sequence<int, I...>) {
  (fn(std::integral_constant<int, I>{}), ...);
}

// Calls fn(std::integral_constant<int, I>{}) for I = 0 .. N-1, fully unrolled, so that
// arrays indexed by I stay in registers.
template <int N, class Fn>
KILN_FORCEINLINE void static_for(Fn&& fn) {
  static_for_impl(fn, std::make_integer_sequence<int, N>{});
}

// The handful of vector operations the kernel needs, per architecture.
template <class Arch>
struct vec_ops;

template <>
struct vec_ops<scalar> {
  using type = float;
  static constexpr int width = 1;
  static KILN_FORCEINLINE type zero() noexcept { return 0.0f; }
  static KILN_FORCEINLINE type load(const float* p) noexcept { return *p; }
  static KILN_FORCEINLINE type broadcast(float x) noexcept { return x; }
  static KILN_FORCEINLINE type fma(type a, type b, type c) noexcept { return a * b + c; }
  static KILN_FORCEINLINE void store(float* p, type v) noexcept { *p = v; }
};

#if KILN_CPU_HAVE_XSIMD
template <class Arch>
  requires(!std::is_same_v<Arch, scalar> && Arch::compiled)
struct vec_ops<Arch> {
  using type = xsimd::batch<float, typename Arch::xsimd_arch>;
  static constexpr int width = static_cast<int>(type::size);
  static_assert(width == Arch::width, "kiln::cpu tag width disagrees with xsimd");
  static KILN_FORCEINLINE type zero() noexcept { return type(0.0f); }
  // Unaligned loads cost nothing extra on aligned data and fold into FMA memory operands.
  static KILN_FORCEINLINE type load(const float* p) noexcept { return type::load_unaligned(p); }
  static KILN_FORCEINLINE type broadcast(float x) noexcept { return type(x); }
  static KILN_FORCEINLINE type fma(type a, type b, type c) noexcept { return xsimd::fma(a, b, c); }
  static KILN_FORCEINLINE void store(float* p, type v) noexcept { v.store_unaligned(p); }
};
#endif

} // namespace detail

template <int MR, int NR, CpuArch Arch>
struct fma_block {
  static_assert(Arch::compiled, "fma_block: this translation unit was not compiled for Arch's instruction set");
  static_assert(MR >= 1 && NR >= 1, "fma_block: empty block");
  static_assert(NR % Arch::width == 0, "fma_block: NR must be a multiple of the vector width");

  using arch = Arch;
  using ops = detail::vec_ops<Arch>;
  using vec = typename ops::type;
  static constexpr int mr = MR;
  static constexpr int nr = NR;
  static constexpr int width = Arch::width;
  static constexpr int nv = NR / width;  // vectors per row of the block

  // C[0..MR)[0..NR) (+)= packed_a * packed_b over kc steps (kc >= 0; kc == 0 with
  // accumulate == false zeroes the block). Pointers need no particular alignment.
  static KILN_FORCEINLINE void run(std::int64_t kc, const float* packed_a, const float* packed_b, float* c,
                                   std::int64_t ldc, bool accumulate) noexcept {
    run(kc, packed_a, kc, packed_b, c, ldc, accumulate);
  }

  // The same with A's rows lda floats apart: a panel packed with another stride, or
  // MR rows of a row-major matrix used in place.
  static KILN_FORCEINLINE void run(std::int64_t kc, const float* a, std::int64_t lda, const float* packed_b, float* c,
                                   std::int64_t ldc, bool accumulate) noexcept {
    run(kc, a, lda, packed_b, NR, c, ldc, accumulate);
  }

  // The same with B's rows ldb floats apart: NR columns of a row-major matrix used in
  // place (what tensorize does with unpacked operands).
  static KILN_FORCEINLINE void run(std::int64_t kc, const float* a, std::int64_t lda, const float* b_rows,
                                   std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) noexcept {
    vec acc[MR][nv];
    detail::static_for<MR>([&](auto i) KILN_CPU_INLINE_LAMBDA {
      detail::static_for<nv>([&](auto j) KILN_CPU_INLINE_LAMBDA { acc[i][j] = ops::zero(); });
      // The block of C is written at the end; start bringing it in now.
      __builtin_prefetch(c + i * ldc, 1);
      __builtin_prefetch(c + i * ldc + NR - 1, 1);
    });

    const float* b = b_rows;
#if defined(__clang__)
#pragma clang loop unroll_count(4)
#elif defined(__GNUC__)
#pragma GCC unroll 4
#endif
    for (std::int64_t p = 0; p < kc; ++p) {
      vec bv[nv];
      detail::static_for<nv>([&](auto j) KILN_CPU_INLINE_LAMBDA { bv[j] = ops::load(b + j * width); });
      detail::static_for<MR>([&](auto i) KILN_CPU_INLINE_LAMBDA {
        const vec av = ops::broadcast(a[i * lda + p]);
        detail::static_for<nv>([&](auto j) KILN_CPU_INLINE_LAMBDA { acc[i][j] = ops::fma(av, bv[j], acc[i][j]); });
      });
      b += ldb;
    }

    if (accumulate) {
      detail::static_for<MR>([&](auto i) KILN_CPU_INLINE_LAMBDA {
        detail::static_for<nv>([&](auto j) KILN_CPU_INLINE_LAMBDA {
          float* cp = c + i * ldc + j * width;
          ops::store(cp, acc[i][j] + ops::load(cp));
        });
      });
    } else {
      detail::static_for<MR>([&](auto i) KILN_CPU_INLINE_LAMBDA {
        detail::static_for<nv>([&](auto j) KILN_CPU_INLINE_LAMBDA { ops::store(c + i * ldc + j * width, acc[i][j]); });
      });
    }
  }

  // The same for a partial block: only C[0..m)[0..n) is read or written (m <= MR, n <= NR).
  // The panels are still full (MR rows, NR columns; their padding is typically zero); the
  // product is formed in a local tile and the valid corner copied out.
  static void run_edge(std::int64_t kc, const float* packed_a, const float* packed_b, float* c, std::int64_t ldc,
                       std::int64_t m, std::int64_t n, bool accumulate) noexcept {
    alignas(64) float tile[MR * NR];
    run(kc, packed_a, kc, packed_b, tile, NR, false);
    for (std::int64_t i = 0; i < m; ++i) {
      float* crow = c + i * ldc;
      const float* trow = tile + i * NR;
      if (accumulate) {
        for (std::int64_t j = 0; j < n; ++j) crow[j] += trow[j];
      } else {
        for (std::int64_t j = 0; j < n; ++j) crow[j] = trow[j];
      }
    }
  }
};

// The block shape per architecture: as many accumulators as the register file allows,
// with room for the row of B and a broadcast of A. On AVX-512 (Zen 5) 6x64, 8x48, 12x32,
// 14x32 and 4x96 all reach the FMA peak with operands in L1; inside the blocked GEMM 6x64
// measured best (it loads the fewest broadcasts per FMA and keeps B in four streams).
template <CpuArch Arch>
struct default_fma_block_shape;
template <>
struct default_fma_block_shape<avx512> {
  static constexpr int mr = 6;
  static constexpr int nr = 64;
};
template <>
struct default_fma_block_shape<avx2> {
  static constexpr int mr = 6;
  static constexpr int nr = 16;
};
template <>
struct default_fma_block_shape<scalar> {
  static constexpr int mr = 4;
  static constexpr int nr = 4;
};

template <CpuArch Arch>
using default_fma_block =
    fma_block<default_fma_block_shape<Arch>::mr, default_fma_block_shape<Arch>::nr, Arch>;

} // namespace kiln::cpu::intrin
