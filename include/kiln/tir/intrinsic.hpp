// kiln/tir/intrinsic.hpp: tensor intrinsics as schedules name them. A descriptor says what
// computation a hardware instruction sequence performs (its pattern) and on what tile; a
// schedule's tensorize replaces a loop nest of that shape by it. Each backend registers
// its implementations by name (cpu::tensor_intrinsic<"fma_block">), so one schedule can
// name an intrinsic that several backends provide, and a backend lacking it says so.
#pragma once

#include <cstdint>

#include "../core/dtype.hpp"
#include "../core/name.hpp"

namespace kiln::tir {

enum class IntrinsicPattern : std::uint8_t {
  // C[.., i, j] += A[.., i, k] * B[.., k, j] over a rows x cols tile of C and any run of k.
  gemm,
};

struct Intrinsic {
  Name name;
  IntrinsicPattern pattern = IntrinsicPattern::gemm;
  int rows = 0;
  int cols = 0;
  DType input = DType::f32;        // the dtype of A and B
  DType accumulator = DType::f32;  // the dtype of C

  constexpr bool empty() const noexcept { return name.empty(); }
};

namespace intrin {
// The register-blocked FMA micro-kernel: an MR x NR block of f32 C kept in vector
// registers while k streams by (NR a multiple of the vector width).
template <int MR, int NR>
inline constexpr Intrinsic fma_block{"fma_block", IntrinsicPattern::gemm, MR, NR, DType::f32, DType::f32};

// The int8 dot product (AVX-512 VNNI / AVX-VNNI): an MR x NR block of i32 C from i8 A and B,
// four k at a time (NR a multiple of 16).
template <int MR, int NR>
inline constexpr Intrinsic int8_dot{"int8_dot", IntrinsicPattern::gemm, MR, NR, DType::i8, DType::i32};
} // namespace intrin

} // namespace kiln::tir
