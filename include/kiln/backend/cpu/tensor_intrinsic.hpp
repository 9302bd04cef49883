// kiln/backend/cpu/tensor_intrinsic.hpp: the CPU implementations of the tensor intrinsics a
// schedule can tensorize onto, registered by the intrinsic's name. Each runs one tile of
// its pattern on operands used in place (rows lda / ldb / ldc elements apart, unit stride
// along a row); the kernel falls back to its scheduled loops when that does not hold.
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../core/name.hpp"
#include "arch.hpp"
#include "intrin/fma_block.hpp"
#include "intrin/int8_dot.hpp"

namespace kiln::cpu {

// The kiln architecture tag for an xsimd architecture the kernel is built for.
template <class XArch>
using cpu_tag_of = std::conditional_t<
    avx512::compiled && std::is_base_of_v<xsimd::avx512f, XArch>, avx512,
    std::conditional_t<avx2::compiled && std::is_base_of_v<xsimd::avx2, XArch>, avx2, scalar>>;

template <class T> inline constexpr bool dependent_false_v = false;

// The registry: one specialization per intrinsic name.
template <Name N>
struct tensor_intrinsic {
  static_assert(dependent_false_v<tensor_intrinsic>, "kiln::cpu: no CPU implementation is registered for this tensor intrinsic");
};

// fma_block: C[MR x NR] (+)= A[MR x kc] * B[kc x NR], f32, in vector registers.
template <>
struct tensor_intrinsic<"fma_block"> {
  template <int MR, int NR, class XArch>
  static KILN_FORCEINLINE void run(std::int64_t kc, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                                   float* c, std::int64_t ldc, bool accumulate) noexcept {
    using Arch = cpu_tag_of<XArch>;
    if constexpr (NR % Arch::width == 0) {
      intrin::fma_block<MR, NR, Arch>::run(kc, a, lda, b, ldb, c, ldc, accumulate);
    } else {
      intrin::fma_block<MR, NR, scalar>::run(kc, a, lda, b, ldb, c, ldc, accumulate);
    }
  }
};

// int8_dot: C[MR x NR] (+)= A[MR x kc] * B[kc x NR], i8 operands, i32 C, four k per
// instruction. The VNNI instructions multiply unsigned by signed bytes, so A is shifted to
// A + 128 and 128 * (the column sums of B) is subtracted afterwards; k is taken in chunks
// whose B panel is packed on the stack in the instruction's layout.
template <>
struct tensor_intrinsic<"int8_dot"> {
  template <int MR, int NR, class XArch>
  static void run(std::int64_t kc, const std::int8_t* a, std::int64_t lda, const std::int8_t* b, std::int64_t ldb,
                  std::int32_t* c, std::int64_t ldc, bool accumulate) noexcept {
    constexpr int block = intrin::kInt8BlockColumns;
    static_assert(NR % 16 == 0, "int8_dot: NR must be a multiple of 16");
    constexpr std::int64_t chunk = 256;
    if (kc == 0) {
      if (!accumulate)
        for (int i = 0; i < MR; ++i) std::fill(c + i * ldc, c + i * ldc + NR, 0);
      return;
    }
    alignas(64) std::uint8_t a_shifted[MR * chunk];
    alignas(64) std::int8_t panel[chunk * NR];
    std::int32_t correction[NR];
    for (std::int64_t k0 = 0; k0 < kc; k0 += chunk) {
      const std::int64_t kn = std::min(chunk, kc - k0), k4 = intrin::round_up_to(kn, 4);
      for (int i = 0; i < MR; ++i)
        for (std::int64_t p = 0; p < k4; ++p)
          a_shifted[i * chunk + p] = p < kn ? static_cast<std::uint8_t>(static_cast<std::uint8_t>(a[i * lda + k0 + p]) ^ 0x80u) : 0;
      for (int j = 0; j < NR; ++j) correction[j] = 0;
      for (std::int64_t p = 0; p < k4; ++p)
        for (int j = 0; j < NR; ++j) {
          const std::int8_t v = p < kn ? b[(k0 + p) * ldb + j] : std::int8_t{0};
          panel[(p / 4) * NR * 4 + j * 4 + p % 4] = v;
          correction[j] += 128 * std::int32_t{v};
        }
      const bool add = accumulate || k0 > 0;
      for (int cb = 0; cb < NR / block; ++cb)
        intrin::int8_block<MR>::run(kn, a_shifted, chunk, panel + cb * block * 4, NR * 4, c + cb * block, ldc, MR,
                                    block, add);
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] -= correction[j];
    }
  }
};

} // namespace kiln::cpu
