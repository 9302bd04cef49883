// kiln/core/name.hpp: short names usable in constant expressions and as template arguments.
//
// Tensor expressions name their tensors and loops with string literals ("C", "i.o"); those
// names live in types (te::Var<"i">) and in constexpr schedules, so they must be
// structural values: a fixed-size character array, not a pointer.
#pragma once

#include <cstddef>
#include <string_view>

namespace kiln {

struct Name {
  static constexpr std::size_t capacity = 31;
  char chars[capacity + 1] = {};

  constexpr Name() = default;
  template <std::size_t N>
  constexpr Name(const char (&text)[N]) noexcept {  // NOLINT: implicit, so "i" works everywhere
    static_assert(N - 1 <= capacity, "kiln::Name holds at most 31 characters");
    for (std::size_t i = 0; i + 1 < N; ++i) chars[i] = text[i];
  }
  constexpr explicit Name(std::string_view text) noexcept {
    for (std::size_t i = 0; i < text.size() && i < capacity; ++i) chars[i] = text[i];
  }

  constexpr std::size_t size() const noexcept {
    std::size_t n = 0;
    while (n < capacity && chars[n] != '\0') ++n;
    return n;
  }
  constexpr bool empty() const noexcept { return chars[0] == '\0'; }
  constexpr std::string_view view() const noexcept { return std::string_view(chars, size()); }
  constexpr const char* c_str() const noexcept { return chars; }

  // Whether `a + b` would still fit; names built by primitives (split, fuse) check this.
  static constexpr bool fits(std::size_t length) noexcept { return length <= capacity; }

  friend constexpr bool operator==(const Name& a, const Name& b) noexcept { return a.view() == b.view(); }
  friend constexpr Name operator+(const Name& a, std::string_view b) noexcept {
    Name out = a;
    std::size_t n = a.size();
    for (std::size_t i = 0; i < b.size() && n < capacity; ++i) out.chars[n++] = b[i];
    return out;
  }
  friend constexpr Name operator+(const Name& a, const Name& b) noexcept { return a + b.view(); }
  template <std::size_t N>
  friend constexpr Name operator+(const Name& a, const char (&b)[N]) noexcept {
    return a + std::string_view(b, N - 1);
  }
};

} // namespace kiln
