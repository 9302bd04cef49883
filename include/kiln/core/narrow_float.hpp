// kiln/core/narrow_float.hpp: comparisons and arithmetic for the 16-bit float storage types
// (f16, bf16), computed in f32 and rounded back.
#pragma once

#include <cstdint>

namespace kiln::detail {

// Derived stores its `bits`, converts exactly to float, rounds from float to nearest even,
// and provides from_bits. Everything here goes through float:
//  - comparisons get IEEE semantics for free (NaN is unordered, +0 == -0);
//  - + - * / are correctly rounded: float's 24 bits are at least 2 p + 2 for the 11 (f16)
//    or 8 (bf16) bits of precision, so rounding twice does no harm;
//  - unary minus flips the sign bit only, so -NaN keeps its payload and -0 differs from 0.
template <class Derived>
struct NarrowFloatOps {
  friend constexpr bool operator==(Derived a, Derived b) noexcept { return float(a) == float(b); }
  friend constexpr bool operator!=(Derived a, Derived b) noexcept { return float(a) != float(b); }
  friend constexpr bool operator<(Derived a, Derived b) noexcept { return float(a) < float(b); }
  friend constexpr bool operator<=(Derived a, Derived b) noexcept { return float(a) <= float(b); }
  friend constexpr bool operator>(Derived a, Derived b) noexcept { return float(a) > float(b); }
  friend constexpr bool operator>=(Derived a, Derived b) noexcept { return float(a) >= float(b); }

  friend constexpr Derived operator+(Derived a) noexcept { return a; }
  friend constexpr Derived operator-(Derived a) noexcept {
    return Derived::from_bits(static_cast<std::uint16_t>(a.bits ^ 0x8000u));
  }

  friend constexpr Derived operator+(Derived a, Derived b) noexcept { return Derived(float(a) + float(b)); }
  friend constexpr Derived operator-(Derived a, Derived b) noexcept { return Derived(float(a) - float(b)); }
  friend constexpr Derived operator*(Derived a, Derived b) noexcept { return Derived(float(a) * float(b)); }
  friend constexpr Derived operator/(Derived a, Derived b) noexcept { return Derived(float(a) / float(b)); }

  friend constexpr Derived& operator+=(Derived& a, Derived b) noexcept { return a = a + b; }
  friend constexpr Derived& operator-=(Derived& a, Derived b) noexcept { return a = a - b; }
  friend constexpr Derived& operator*=(Derived& a, Derived b) noexcept { return a = a * b; }
  friend constexpr Derived& operator/=(Derived& a, Derived b) noexcept { return a = a / b; }
};

} // namespace kiln::detail
