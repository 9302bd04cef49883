// kiln/core/bfloat16.hpp: kiln::bf16, the upper half of an f32, with exact constexpr conversions.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <limits>

#include "narrow_float.hpp"
#include <type_traits>

namespace kiln {

namespace detail::bf16_impl {

constexpr std::uint16_t from_float(float x) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  // NaN: plain truncation would turn 0x7f800001 into 0x7f80 (inf), so set the quiet bit; the sign
  // and the top payload bits are kept.
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  // Round to nearest even on the 16 dropped bits: add just under half, plus one when the kept LSB is
  // odd. Carries ripple into the exponent, which is right for subnormal->normal and for
  // values past the midpoint above max (they become inf). No wraparound: u <= 0xff800000 here.
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Rounds a double straight to bf16 (double -> float -> bf16 would round twice and can be off by
// one ulp at midpoints).
constexpr std::uint16_t from_double(double x) noexcept {
  const std::uint64_t u = std::bit_cast<std::uint64_t>(x);
  const auto sign = static_cast<std::uint16_t>((u >> 48) & 0x8000u);
  const std::uint64_t mag = u & 0x7fffffffffffffffu;
  if (mag > 0x7ff0000000000000u)
    return static_cast<std::uint16_t>(sign | 0x7fc0u | ((mag >> 45) & 0x7fu));  // NaN, quiet
  // 0x1.ffp127, halfway between max (0x1.fep127, odd mantissa) and 2^128: the tie goes to inf.
  constexpr std::uint64_t overflow = (std::uint64_t(1023 + 127) << 52) | (std::uint64_t(0xff) << 44);
  constexpr std::uint64_t min_normal = std::uint64_t(1023 - 126) << 52;  // 2^-126
  if (mag >= overflow) return static_cast<std::uint16_t>(sign | 0x7f80u);
  if (mag >= min_normal) {
    // Rebias (1023 -> 127) and round off 45 bits, same add-and-carry trick as from_float.
    std::uint64_t r = mag - (std::uint64_t(1023 - 127) << 52);
    r += (std::uint64_t(1) << 44) - 1 + ((r >> 45) & 1);
    return static_cast<std::uint16_t>(sign | (r >> 45));
  }
  // Subnormal result: the count of 2^-133 units in sig * 2^(e - 1075) is sig >> (942 - e).
  const int e = static_cast<int>(mag >> 52);
  const int shift = 942 - e;     // >= 46 here, since e <= 896
  if (shift > 53) return sign;   // below 2^-134 (half of denorm_min), or a double zero/subnormal
  const std::uint64_t sig = (mag & ((std::uint64_t(1) << 52) - 1)) | (std::uint64_t(1) << 52);
  std::uint64_t q = sig >> shift;
  const std::uint64_t rest = sig & ((std::uint64_t(1) << shift) - 1);
  const std::uint64_t half = std::uint64_t(1) << (shift - 1);
  if (rest > half || (rest == half && (q & 1) != 0)) ++q;  // q == 0x80 is min_normal: still right
  return static_cast<std::uint16_t>(sign | q);
}

template <std::integral I>
constexpr std::uint16_t from_integer(I x) noexcept {
  if constexpr (sizeof(I) <= 4) {
    return from_double(static_cast<double>(x));  // exact
  } else {
    // A 64-bit magnitude may not fit double's 53 bits. Fold the bits that do not fit into a sticky
    // LSB (round to odd): the double is then exact or odd, and 53 >= 8 + 2 bits make the second
    // rounding to bf16 give the correctly rounded result.
    bool neg = false;
    std::uint64_t m = static_cast<std::uint64_t>(x);
    if constexpr (std::is_signed_v<I>) {
      neg = x < 0;
      if (neg) m = 0 - m;
    }
    const int width = 64 - std::countl_zero(m);  // std::bit_width returns T before LWG 3656
    if (width > 53) {
      const int drop = width - 53;
      const std::uint64_t lost = m & ((std::uint64_t(1) << drop) - 1);
      m = ((m >> drop) << drop) | (lost != 0 ? std::uint64_t(1) << drop : 0);
    }
    const double d = static_cast<double>(m);
    return from_double(neg ? -d : d);
  }
}

} // namespace detail::bf16_impl

struct bf16 : detail::NarrowFloatOps<bf16> {
  std::uint16_t bits = 0;

  bf16() = default;
  explicit constexpr bf16(float x) noexcept : bits(detail::bf16_impl::from_float(x)) {}
  explicit constexpr bf16(double x) noexcept : bits(detail::bf16_impl::from_double(x)) {}
  // Makes bf16(0) and T(1) in generic code unambiguous; correctly rounded for every integer width.
  template <std::integral I>
  explicit constexpr bf16(I x) noexcept : bits(detail::bf16_impl::from_integer(x)) {}

  // Widening is lossless (bf16 is the top half of an f32), hence implicit.
  constexpr operator float() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }

  static constexpr bf16 from_bits(std::uint16_t b) noexcept {
    bf16 h;
    h.bits = b;
    return h;
  }

  static constexpr bf16 infinity() noexcept { return from_bits(0x7f80); }
  static constexpr bf16 quiet_nan() noexcept { return from_bits(0x7fc0); }
  static constexpr bf16 signaling_nan() noexcept { return from_bits(0x7fa0); }
  static constexpr bf16 max() noexcept { return from_bits(0x7f7f); }         // 0x1.fep127
  static constexpr bf16 lowest() noexcept { return from_bits(0xff7f); }      // -0x1.fep127
  static constexpr bf16 min_normal() noexcept { return from_bits(0x0080); }  // 2^-126
  static constexpr bf16 denorm_min() noexcept { return from_bits(0x0001); }  // 2^-133
  static constexpr bf16 epsilon() noexcept { return from_bits(0x3c00); }     // 2^-7
};

static_assert(sizeof(bf16) == 2 && alignof(bf16) == 2);

// Classification straight from the bits (no <cmath> needed, and constexpr).
constexpr bool isnan(bf16 h) noexcept { return (h.bits & 0x7fffu) > 0x7f80u; }
constexpr bool isinf(bf16 h) noexcept { return (h.bits & 0x7fffu) == 0x7f80u; }
constexpr bool isfinite(bf16 h) noexcept { return (h.bits & 0x7f80u) != 0x7f80u; }
constexpr bool signbit(bf16 h) noexcept { return (h.bits & 0x8000u) != 0; }

} // namespace kiln

// Lets generic code (and std::numeric_limits users) treat bf16 like the built-in floating types.
namespace std {
template <>
struct numeric_limits<kiln::bf16> {
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
  static constexpr bool is_iec559 = false;  // not an IEEE 754 interchange format
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = 8;
  static constexpr int digits10 = 2;      // floor((digits - 1) * log10(2))
  static constexpr int max_digits10 = 4;  // ceil(1 + digits * log10(2))
  static constexpr int radix = 2;
  static constexpr int min_exponent = -125;  // same exponent range as float
  static constexpr int min_exponent10 = -37;
  static constexpr int max_exponent = 128;
  static constexpr int max_exponent10 = 38;
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  static constexpr kiln::bf16 min() noexcept { return kiln::bf16::min_normal(); }
  static constexpr kiln::bf16 max() noexcept { return kiln::bf16::max(); }
  static constexpr kiln::bf16 lowest() noexcept { return kiln::bf16::lowest(); }
  static constexpr kiln::bf16 epsilon() noexcept { return kiln::bf16::epsilon(); }
  static constexpr kiln::bf16 round_error() noexcept { return kiln::bf16::from_bits(0x3f00); }  // 0.5
  static constexpr kiln::bf16 infinity() noexcept { return kiln::bf16::infinity(); }
  static constexpr kiln::bf16 quiet_NaN() noexcept { return kiln::bf16::quiet_nan(); }
  static constexpr kiln::bf16 signaling_NaN() noexcept { return kiln::bf16::signaling_nan(); }
  static constexpr kiln::bf16 denorm_min() noexcept { return kiln::bf16::denorm_min(); }
};
} // namespace std
