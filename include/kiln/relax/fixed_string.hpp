// kiln/relax/fixed_string.hpp: a string of at most N characters, built in constant expressions.
//
// Shape inference reports errors with messages that name the op and the dims involved; a
// static graph builds those messages in the C++ compiler, so they cannot be std::strings.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::relax {

template <std::size_t N>
struct FixedString {
  static constexpr std::size_t capacity = N;

  char chars[N + 1] = {};
  std::size_t length = 0;
  bool truncated = false;

  constexpr void append(char c) noexcept {
    if (length < N) chars[length++] = c;
    else truncated = true;
  }
  constexpr void append(std::string_view text) noexcept {
    for (char c : text) append(c);
  }

  constexpr std::string_view view() const noexcept { return std::string_view(chars, length); }
  constexpr const char* c_str() const noexcept { return chars; }
  constexpr std::size_t size() const noexcept { return length; }
  constexpr bool empty() const noexcept { return length == 0; }
};

// Appends the decimal digits of `magnitude`; the sink is anything with append(char).
template <class Sink>
constexpr void append_unsigned(Sink& out, std::uint64_t magnitude) noexcept {
  char digits[20] = {};
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  while (n > 0) out.append(digits[--n]);
}

// |value|, exact for INT64_MIN too.
constexpr std::uint64_t magnitude_of(std::int64_t value) noexcept {
  return value < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
}

template <class Sink>
constexpr void append_decimal(Sink& out, std::int64_t value) noexcept {
  if (value < 0) out.append('-');
  append_unsigned(out, magnitude_of(value));
}

// The pieces an error message is made of. Other types (SymDim, DType) add their own overloads.
template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, std::string_view text) noexcept {
  out.append(text);
}
template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, char c) noexcept {
  out.append(c);
}
template <std::size_t N, std::integral I>
  requires(!std::same_as<I, bool> && !std::same_as<I, char>)
constexpr void append_piece(FixedString<N>& out, I value) noexcept {
  append_decimal(out, static_cast<std::int64_t>(value));
}

} // namespace kiln::relax
