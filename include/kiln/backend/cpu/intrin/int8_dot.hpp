// kiln/backend/cpu/intrin/int8_dot.hpp: the int8 dot-product intrinsic for quantized matmul.
//
// VNNI's vpdpbusd multiplies 4 unsigned bytes of A by 4 signed bytes of B and adds the four
// products into one i32 lane, so B is packed with 4 consecutive k values of one column next
// to each other: packed_b[(p / 4) * n_pad * 4 + j * 4 + p % 4] = B[p, j] (k padded to a
// multiple of 4 with zeros). int8_block computes an MR x NR block of C (+)= A * B from such
// a panel with AVX-512 VNNI, AVX-VNNI, or a portable loop, whichever the translation unit
// was compiled for.
//
// Signed A: vpdpbusd wants unsigned A, so int8_gemm adds 128 to A (a u8 value) and removes
// the extra 128 * sum_p B[p, j] from each column afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AVX512VNNI__) || defined(__AVXVNNI__)
#include <immintrin.h>
#endif

#include "../../../config.hpp"
#include "../../../core/result.hpp"
#include "../../../core/status.hpp"

namespace kiln::cpu::intrin {

// Which implementation this translation unit gets.
enum class Int8DotIsa { avx512_vnni, avx_vnni, portable };
inline constexpr Int8DotIsa int8_dot_isa =
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    Int8DotIsa::avx512_vnni;
#elif defined(__AVXVNNI__)
    Int8DotIsa::avx_vnni;
#else
    Int8DotIsa::portable;
#endif

// Columns per block: one 512-bit register (16 i32 lanes), one 256-bit register, or 16.
inline constexpr int kInt8BlockColumns = int8_dot_isa == Int8DotIsa::avx_vnni ? 8 : 16;

constexpr std::int64_t round_up_to(std::int64_t x, std::int64_t to) noexcept { return (x + to - 1) / to * to; }

// Bytes of a packed B (k x n): k rounded up to 4, n rounded up to the block width.
constexpr std::size_t packed_b_bytes(std::int64_t k, std::int64_t n) noexcept {
  return static_cast<std::size_t>(round_up_to(k, 4) * round_up_to(n, kInt8BlockColumns));
}

// Packs row-major B (k x n, leading dimension ldb) into the layout above.
inline void pack_b_int8(std::int64_t k, std::int64_t n, const std::int8_t* b, std::int64_t ldb, std::int8_t* out) noexcept {
  const std::int64_t n_pad = round_up_to(n, kInt8BlockColumns), k_pad = round_up_to(k, 4);
  std::memset(out, 0, static_cast<std::size_t>(k_pad * n_pad));
  for (std::int64_t p = 0; p < k; ++p)
    for (std::int64_t j = 0; j < n; ++j) out[(p / 4) * n_pad * 4 + j * 4 + p % 4] = b[p * ldb + j];
}

// C[0..MR)[0..kInt8BlockColumns) (+)= A[0..MR)[0..k) * B-panel, A given as bytes already
// made unsigned (A + 128) with rows lda apart and k padded readable to a multiple of 4
// (bytes past k are ignored because B's padding is zero). panel points at the block's first
// column in the packed B; panel_stride = n_pad * 4. Only the first `rows` rows and
// `columns` columns of C are written.
template <int MR>
struct int8_block {
  static KILN_FORCEINLINE void run(std::int64_t k, const std::uint8_t* a, std::int64_t lda, const std::int8_t* panel,
                                   std::int64_t panel_stride, std::int32_t* c, std::int64_t ldc, int rows,
                                   int columns, bool accumulate) noexcept {
    const std::int64_t groups = round_up_to(k, 4) / 4;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    __m512i acc[MR];
    for (int i = 0; i < MR; ++i) acc[i] = _mm512_setzero_si512();
    for (std::int64_t g = 0; g < groups; ++g) {
      const __m512i bv = _mm512_loadu_si512(panel + g * panel_stride);
      for (int i = 0; i < MR; ++i) {
        std::int32_t four;
        std::memcpy(&four, a + i * lda + g * 4, 4);
        acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_set1_epi32(four), bv);
      }
    }
    for (int i = 0; i < rows; ++i) {
      alignas(64) std::int32_t lanes[16];
      _mm512_store_si512(lanes, acc[i]);
      for (int j = 0; j < columns; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + lanes[j];
    }
#elif defined(__AVXVNNI__)
    __m256i acc[MR];
    for (int i = 0; i < MR; ++i) acc[i] = _mm256_setzero_si256();
    for (std::int64_t g = 0; g < groups; ++g) {
      const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + g * panel_stride));
      for (int i = 0; i < MR; ++i) {
        std::int32_t four;
        std::memcpy(&four, a + i * lda + g * 4, 4);
        acc[i] = _mm256_dpbusd_avx_epi32(acc[i], _mm256_set1_epi32(four), bv);
      }
    }
    for (int i = 0; i < rows; ++i) {
      alignas(32) std::int32_t lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[i]);
      for (int j = 0; j < columns; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + lanes[j];
    }
#else
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < columns; ++j) {
        std::int32_t sum = accumulate ? c[i * ldc + j] : 0;
        for (std::int64_t g = 0; g < groups; ++g)
          for (int q = 0; q < 4; ++q)
            sum += std::int32_t{a[i * lda + g * 4 + q]} * std::int32_t{panel[g * panel_stride + j * 4 + q]};
        c[i * ldc + j] = sum;
      }
#endif
  }
};

// Bytes of workspace int8_gemm needs.
constexpr std::size_t int8_gemm_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k) noexcept {
  (void)m;
  return packed_b_bytes(k, n) + static_cast<std::size_t>(round_up_to(k, 4)) * 4 /* one block of A rows */ +
         static_cast<std::size_t>(round_up_to(n, kInt8BlockColumns)) * sizeof(std::int32_t) + 64;
}

// C (i32, m x n) = A (i8, m x k) * B (i8, k x n), all row-major with leading dimensions.
inline Status int8_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                        const std::int8_t* b, std::int64_t ldb, std::int32_t* c, std::int64_t ldc, void* workspace,
                        std::size_t workspace_bytes) noexcept {
  if (m < 0 || n < 0 || k < 0 || lda < k || ldb < n || ldc < n)
    return make_error(StatusCode::invalid_argument, "int8_gemm: shape m=", m, " n=", n, " k=", k,
                      " does not fit leading dimensions lda=", lda, " ldb=", ldb, " ldc=", ldc);
  if (workspace_bytes < int8_gemm_workspace_bytes(m, n, k))
    return make_error(StatusCode::invalid_argument, "int8_gemm: the workspace has ", workspace_bytes,
                      " bytes, needs ", int8_gemm_workspace_bytes(m, n, k));
  constexpr int MR = 4;
  const std::int64_t k_pad = round_up_to(k, 4), n_pad = round_up_to(n, kInt8BlockColumns);
  auto* packed = static_cast<std::int8_t*>(workspace);
  auto* rows = reinterpret_cast<std::uint8_t*>(packed + packed_b_bytes(k, n));
  auto* column_sums = reinterpret_cast<std::int32_t*>(
      reinterpret_cast<std::uintptr_t>(rows + k_pad * 4 + 63) / 64 * 64);
  pack_b_int8(k, n, b, ldb, packed);
  for (std::int64_t j = 0; j < n; ++j) {
    std::int32_t s = 0;
    for (std::int64_t p = 0; p < k; ++p) s += b[p * ldb + j];
    column_sums[j] = s;
  }
  for (std::int64_t i0 = 0; i0 < m; i0 += MR) {
    const int mr = static_cast<int>(m - i0 < MR ? m - i0 : MR);
    // The block's rows of A, made unsigned and padded with zeros to k_pad.
    std::memset(rows, 0, static_cast<std::size_t>(k_pad * MR));
    for (int i = 0; i < mr; ++i)
      for (std::int64_t p = 0; p < k; ++p) rows[i * k_pad + p] = static_cast<std::uint8_t>(a[(i0 + i) * lda + p] + 128);
    for (std::int64_t j0 = 0; j0 < n; j0 += kInt8BlockColumns) {
      const int columns = static_cast<int>(n - j0 < kInt8BlockColumns ? n - j0 : kInt8BlockColumns);
      int8_block<MR>::run(k, rows, k_pad, packed + j0 * 4, n_pad * 4, c + i0 * ldc + j0, ldc, mr, columns, false);
    }
    for (int i = 0; i < mr; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[(i0 + i) * ldc + j] -= 128 * column_sums[j];
  }
  return {};
}

} // namespace kiln::cpu::intrin
