// kiln/core/float16.hpp: kiln::f16, an IEEE 754 binary16 storage type with exact constexpr conversions.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <limits>

#include "narrow_float.hpp"

namespace kiln {

namespace detail::f16_impl {

// Rounds the magnitude bits of a binary float with M mantissa bits and exponent bias B to f16 bits,
// to nearest, ties to even. The caller handles NaN and the sign. One integer routine serves float and
// double, so f16(double) rounds once and never goes through float (which would round twice).
template <class U, int M, int B>
constexpr std::uint16_t round_magnitude(U mag) noexcept {
  // Source subnormals are all far below 2^-25 and must land in the "rounds to zero" branch below.
  static_assert(B >= 26 && M > 11);
  // 65520 = 0x1.ffep15, halfway between max (65504, odd mantissa) and 2^16: the tie goes to inf.
  constexpr U overflow = (U(B + 15) << M) | (U(0x7ff) << (M - 11));
  constexpr U min_normal = U(B - 14) << M;  // 2^-14
  if (mag >= overflow) return 0x7c00;
  if (mag >= min_normal) {
    // Rebias the exponent, then round off the low `drop` bits by adding just under half, plus one
    // when the kept LSB is odd. A carry out of the mantissa bumps the exponent, which is the right
    // answer, and cannot reach inf because mag < overflow.
    constexpr int drop = M - 10;
    U r = mag - (U(B - 15) << M);
    r += (U(1) << (drop - 1)) - 1 + ((r >> drop) & 1);
    return static_cast<std::uint16_t>(r >> drop);
  }
  // Subnormal result: the count of 2^-24 units in sig * 2^(e - B - M) is sig >> (B + M - 24 - e).
  const int e = static_cast<int>(mag >> M);
  const int shift = B + M - 24 - e;  // >= M - 9 here, since e <= B - 15
  if (shift > M + 1) return 0;       // below 2^-25 (half of denorm_min), or a source zero/subnormal
  const U sig = (mag & ((U(1) << M) - 1)) | (U(1) << M);
  U q = sig >> shift;
  const U rest = sig & ((U(1) << shift) - 1);
  const U half = U(1) << (shift - 1);
  if (rest > half || (rest == half && (q & 1) != 0)) ++q;  // q == 0x400 is min_normal: still right
  return static_cast<std::uint16_t>(q);
}

constexpr std::uint16_t from_float(float x) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t mag = u & 0x7fffffffu;
  // NaN: keep the sign and the top payload bits, and set the quiet bit so that a payload living
  // only in the low bits cannot turn into infinity.
  if (mag > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((mag >> 13) & 0x3ffu));
  return static_cast<std::uint16_t>(sign | round_magnitude<std::uint32_t, 23, 127>(mag));
}

constexpr std::uint16_t from_double(double x) noexcept {
  const std::uint64_t u = std::bit_cast<std::uint64_t>(x);
  const auto sign = static_cast<std::uint16_t>((u >> 48) & 0x8000u);
  const std::uint64_t mag = u & 0x7fffffffffffffffu;
  if (mag > 0x7ff0000000000000u)
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((mag >> 42) & 0x3ffu));
  return static_cast<std::uint16_t>(sign | round_magnitude<std::uint64_t, 52, 1023>(mag));
}

// Every f16 is exactly a float, so this never rounds.
constexpr float to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));  // inf, or NaN + payload
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return std::bit_cast<float>(sign);
  // Subnormal: normalize so the leading one sits in the implicit-bit position (bit 10).
  const int s = std::countl_zero(man) - 21;
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(113 - s) << 23) |
                              (((man << s) & 0x3ffu) << 13));
}

} // namespace detail::f16_impl

struct f16 : detail::NarrowFloatOps<f16> {
  std::uint16_t bits = 0;

  f16() = default;
  explicit constexpr f16(float x) noexcept : bits(detail::f16_impl::from_float(x)) {}
  explicit constexpr f16(double x) noexcept : bits(detail::f16_impl::from_double(x)) {}
  // Makes f16(0) and T(1) in generic code unambiguous. Going through float is exact up to 2^24,
  // and every integer beyond that overflows f16 to inf either way.
  template <std::integral I>
  explicit constexpr f16(I x) noexcept : f16(static_cast<float>(x)) {}

  // Widening is lossless, hence implicit.
  constexpr operator float() const noexcept { return detail::f16_impl::to_float(bits); }

  static constexpr f16 from_bits(std::uint16_t b) noexcept {
    f16 h;
    h.bits = b;
    return h;
  }

  static constexpr f16 infinity() noexcept { return from_bits(0x7c00); }
  static constexpr f16 quiet_nan() noexcept { return from_bits(0x7e00); }
  static constexpr f16 signaling_nan() noexcept { return from_bits(0x7d00); }
  static constexpr f16 max() noexcept { return from_bits(0x7bff); }         // 65504
  static constexpr f16 lowest() noexcept { return from_bits(0xfbff); }      // -65504
  static constexpr f16 min_normal() noexcept { return from_bits(0x0400); }  // 2^-14
  static constexpr f16 denorm_min() noexcept { return from_bits(0x0001); }  // 2^-24
  static constexpr f16 epsilon() noexcept { return from_bits(0x1400); }     // 2^-10
};

static_assert(sizeof(f16) == 2 && alignof(f16) == 2);

// Classification straight from the bits (no <cmath> needed, and constexpr).
constexpr bool isnan(f16 h) noexcept { return (h.bits & 0x7fffu) > 0x7c00u; }
constexpr bool isinf(f16 h) noexcept { return (h.bits & 0x7fffu) == 0x7c00u; }
constexpr bool isfinite(f16 h) noexcept { return (h.bits & 0x7c00u) != 0x7c00u; }
constexpr bool signbit(f16 h) noexcept { return (h.bits & 0x8000u) != 0; }

} // namespace kiln

// Lets generic code (and std::numeric_limits users) treat f16 like the built-in floating types.
namespace std {
template <>
struct numeric_limits<kiln::f16> {
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool is_exact = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr bool has_signaling_NaN = true;
  static constexpr std::float_denorm_style has_denorm = std::denorm_present;
  static constexpr bool has_denorm_loss = false;
  static constexpr std::float_round_style round_style = std::round_to_nearest;
  static constexpr bool is_iec559 = true;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = 11;
  static constexpr int digits10 = 3;      // floor((digits - 1) * log10(2))
  static constexpr int max_digits10 = 5;  // ceil(1 + digits * log10(2))
  static constexpr int radix = 2;
  static constexpr int min_exponent = -13;
  static constexpr int min_exponent10 = -4;
  static constexpr int max_exponent = 16;
  static constexpr int max_exponent10 = 4;
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  static constexpr kiln::f16 min() noexcept { return kiln::f16::min_normal(); }
  static constexpr kiln::f16 max() noexcept { return kiln::f16::max(); }
  static constexpr kiln::f16 lowest() noexcept { return kiln::f16::lowest(); }
  static constexpr kiln::f16 epsilon() noexcept { return kiln::f16::epsilon(); }
  static constexpr kiln::f16 round_error() noexcept { return kiln::f16::from_bits(0x3800); }  // 0.5
  static constexpr kiln::f16 infinity() noexcept { return kiln::f16::infinity(); }
  static constexpr kiln::f16 quiet_NaN() noexcept { return kiln::f16::quiet_nan(); }
  static constexpr kiln::f16 signaling_NaN() noexcept { return kiln::f16::signaling_nan(); }
  static constexpr kiln::f16 denorm_min() noexcept { return kiln::f16::denorm_min(); }
};
} // namespace std
