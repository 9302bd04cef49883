// kiln/relax/inferred.hpp: Inferred<T>, the outcome of shape/dtype inference: a type or a TypeError.
//
// kiln::Result cannot live in a constant expression (its Status owns a std::string), and a
// static graph infers its types in the C++ compiler. Inferred<T> is the literal-type twin
// of Result<T>: the same ok()/value()/status() surface, a message kept in a fixed-size
// buffer, and an implicit conversion to Result<T> for run-time callers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "../core/dtype.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "fixed_string.hpp"
#include "sym_dim.hpp"

namespace kiln::relax {

inline constexpr std::size_t kMaxErrorMessage = 200;

// What was wrong, in a message that starts with the op: "matmul: inner dimensions 64 and 32 differ".
struct TypeError {
  StatusCode code = StatusCode::invalid_argument;
  FixedString<kMaxErrorMessage> message;

  Status to_status() const { return Status(code, std::string(message.view())); }
};

template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, DType dtype) noexcept {
  out.append(to_string(dtype));
}

// type_error(StatusCode::shape_mismatch, "matmul: inner dimensions ", k1, " and ", k2, " differ");
// pieces are strings, integers, DTypes, SymDims and TensorTypes.
template <class... Pieces>
constexpr TypeError type_error(StatusCode code, const Pieces&... pieces) noexcept {
  TypeError error;
  error.code = code;
  (append_piece(error.message, pieces), ...);
  return error;
}

namespace detail {
// Reached when value() is asked of a failed inference. In a constant expression the call
// to this non-constexpr function is the compile error (compilers do not print the message:
// static_assert(r.ok()) and reading r.message() at run time is the way to see it).
[[noreturn]] inline void inference_failed(const char* message) {
  kiln::detail::fail_on_error(Status(StatusCode::invalid_argument, message));
}
} // namespace detail

template <class T>
class [[nodiscard]] Inferred {
 public:
  using value_type = T;

  // NOLINTBEGIN(google-explicit-constructor): implicit, so `return type;` and `return error;` both work.
  constexpr Inferred(const T& value) noexcept : value_(value), ok_(true) {}
  constexpr Inferred(const TypeError& error) noexcept : error_(error) {}
  // NOLINTEND(google-explicit-constructor)

  constexpr bool ok() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }

  constexpr const T& value() const {
    if (!ok_) detail::inference_failed(error_.message.c_str());
    return value_;
  }
  // Unchecked access, for code that has just tested ok().
  constexpr const T& operator*() const noexcept { return value_; }
  constexpr const T* operator->() const noexcept { return &value_; }

  constexpr const TypeError& error() const noexcept { return error_; }
  // The error, or nullopt: for KILN_RELAX_CHECK when only the check matters.
  constexpr std::optional<TypeError> failure() const noexcept {
    if (ok_) return std::nullopt;
    return error_;
  }
  constexpr StatusCode code() const noexcept { return ok_ ? StatusCode::ok : error_.code; }
  constexpr std::string_view message() const noexcept { return error_.message.view(); }

  Status status() const { return ok_ ? Status() : error_.to_status(); }
  Result<T> to_result() const {
    if (ok_) return value_;
    return error_.to_status();
  }
  operator Result<T>() const { return to_result(); }  // NOLINT(google-explicit-constructor)

 private:
  T value_{};
  TypeError error_{};
  bool ok_ = false;
};

} // namespace kiln::relax

// Returns the TypeError of a check (an std::optional<TypeError>) from the enclosing
// inference function when there is one.
#define KILN_RELAX_CHECK(expr)                                    \
  do {                                                            \
    if (auto kiln_type_error_ = (expr)) return *kiln_type_error_; \
  } while (false)

// KILN_RELAX_ASSIGN(int axis, normalize_axis(...)); declares `axis` from an Inferred value,
// or returns its TypeError from the enclosing inference function.
#define KILN_RELAX_ASSIGN(lhs, expr) KILN_RELAX_ASSIGN_IMPL_(KILN_CONCAT_(kiln_inferred_, __LINE__), lhs, expr)
#define KILN_RELAX_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return tmp.error();            \
  lhs = *tmp
