// kiln/core/extent.hpp: extents that are static (Int<N>, an empty type) or dynamic (int64_t).
//
// Arithmetic between static extents stays static, so a shape known at compile time yields
// sizes, strides and loop bounds that are compile-time constants; anything mixed with a
// dynamic extent becomes a plain int64_t.
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace kiln {

template <std::int64_t N>
struct Int {
  using value_type = std::int64_t;
  static constexpr std::int64_t value = N;
  constexpr operator std::int64_t() const noexcept { return N; }  // NOLINT: implicit by design
};

template <class T> struct is_static_extent : std::false_type {};
template <std::int64_t N> struct is_static_extent<Int<N>> : std::true_type {};

template <class T>
inline constexpr bool is_static_v = is_static_extent<std::remove_cvref_t<T>>::value;

// An extent is Int<N> or int64_t. Other integers are accepted by the factories and widened.
template <class T>
concept Extent = is_static_v<T> || std::same_as<std::remove_cvref_t<T>, std::int64_t>;

template <class T>
concept StaticExtent = is_static_v<T>;

// Widens any integer to int64_t and keeps Int<N> as it is.
template <class T>
  requires(is_static_v<T> || std::integral<std::remove_cvref_t<T>>)
constexpr auto to_extent(T e) noexcept {
  if constexpr (is_static_v<T>) return e;
  else return static_cast<std::int64_t>(e);
}

// The value of an extent, static or not.
template <Extent E>
constexpr std::int64_t extent_value(E e) noexcept {
  return static_cast<std::int64_t>(e);
}

// ---- static arithmetic: Int op Int -> Int -------------------------------------------------
template <std::int64_t A, std::int64_t B>
constexpr Int<A + B> operator+(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
constexpr Int<A - B> operator-(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
constexpr Int<A * B> operator*(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
  requires(B != 0)
constexpr Int<A / B> operator/(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
  requires(B != 0)
constexpr Int<A % B> operator%(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A>
constexpr Int<-A> operator-(Int<A>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
constexpr std::bool_constant<A == B> operator==(Int<A>, Int<B>) noexcept { return {}; }

// Mixed static/dynamic arithmetic falls through the implicit conversion to int64_t.

// Rounding division and its remainder towards negative infinity, as in index arithmetic.
constexpr std::int64_t floordiv(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
constexpr std::int64_t floormod(std::int64_t a, std::int64_t b) noexcept { return a - floordiv(a, b) * b; }
constexpr std::int64_t ceildiv(std::int64_t a, std::int64_t b) noexcept { return floordiv(a + b - 1, b); }

template <std::int64_t A, std::int64_t B>
  requires(B != 0)
constexpr Int<(A / B) - ((A % B != 0) && ((A < 0) != (B < 0)))> floordiv(Int<A>, Int<B>) noexcept { return {}; }
template <std::int64_t A, std::int64_t B>
  requires(B != 0)
constexpr auto ceildiv(Int<A>, Int<B>) noexcept { return Int<ceildiv(A, B)>{}; }

namespace detail {
constexpr std::int64_t parse_decimal_literal(const char* digits) {
  std::int64_t v = 0;
  for (; *digits; ++digits) {
    if (*digits == '\'') continue;
    v = v * 10 + (*digits - '0');
  }
  return v;
}
} // namespace detail

inline namespace literals {

// 64_c is Int<64>{}.
template <char... Digits>
constexpr auto operator""_c() noexcept {
  constexpr char digits[] = {Digits..., '\0'};
  return Int<detail::parse_decimal_literal(digits)>{};
}
} // namespace literals

} // namespace kiln
