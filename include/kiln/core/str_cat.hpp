// kiln/core/str_cat.hpp: builds error messages from strings and numbers without iostreams.
#pragma once

#include <charconv>
#include <cstdint>
#include <concepts>
#include <string>
#include <string_view>

namespace kiln::detail {

inline void append_piece(std::string& out, std::string_view piece) { out.append(piece); }
inline void append_piece(std::string& out, const char* piece) { out.append(piece ? piece : "(null)"); }
inline void append_piece(std::string& out, const std::string& piece) { out.append(piece); }
inline void append_piece(std::string& out, char c) { out.push_back(c); }
inline void append_piece(std::string& out, bool b) { out.append(b ? "true" : "false"); }

template <class T>
  requires(std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>)
void append_piece(std::string& out, T value) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, res.ptr);
}

template <std::floating_point T>
void append_piece(std::string& out, T value) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, res.ptr);
}

// Pointers print as hexadecimal addresses.
inline void append_piece(std::string& out, const void* p) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), reinterpret_cast<std::uintptr_t>(p), 16);
  out.append("0x");
  out.append(buf, res.ptr);
}

} // namespace kiln::detail

namespace kiln {

// str_cat("shape ", 3, " does not match ", 4) -> "shape 3 does not match 4"
template <class... Pieces>
std::string str_cat(const Pieces&... pieces) {
  std::string out;
  (detail::append_piece(out, pieces), ...);
  return out;
}

} // namespace kiln
