// kiln/core/result.hpp: kiln::Result<T>, a value or the Status that explains its absence.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "status.hpp"

#if KILN_HAS_EXCEPTIONS
#include <stdexcept>
#endif

namespace kiln {

#if KILN_HAS_EXCEPTIONS
// Thrown by Result<T>::value() on an error when exceptions are enabled.
class Error : public std::runtime_error {
 public:
  explicit Error(Status status) : std::runtime_error(status.to_string()), status_(std::move(status)) {}
  const Status& status() const noexcept { return status_; }

 private:
  Status status_;
};
#endif

namespace detail {
// Reached when a caller insists on a value that is not there.
[[noreturn]] inline void fail_on_error(const Status& status) {
#if KILN_HAS_EXCEPTIONS
  throw Error(status);
#else
  std::fprintf(stderr, "kiln: fatal: %s\n", status.to_string().c_str());
  std::abort();
#endif
}
} // namespace detail

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported; use Result<T*>");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "Result<Status> is ambiguous; return Status");

 public:
  using value_type = T;

  // NOLINTBEGIN(google-explicit-constructor): implicit, so `return value;` and `return status;` both work.
  Result(const T& value) : has_value_(true) { ::new (&value_) T(value); }
  Result(T&& value) : has_value_(true) { ::new (&value_) T(std::move(value)); }
  Result(Status status) : has_value_(false), status_(std::move(status)) {
    if (status_.ok()) status_ = Status(StatusCode::internal, "Result constructed from an ok Status without a value");
  }
  // NOLINTEND(google-explicit-constructor)

  template <class... Args>
  explicit Result(std::in_place_t, Args&&... args) : has_value_(true) {
    ::new (&value_) T(std::forward<Args>(args)...);
  }

  Result(const Result& other) : has_value_(other.has_value_), status_(other.status_) {
    if (has_value_) ::new (&value_) T(other.value_);
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : has_value_(other.has_value_), status_(std::move(other.status_)) {
    if (has_value_) ::new (&value_) T(std::move(other.value_));
  }
  Result& operator=(const Result& other) {
    if (this != &other) {
      destroy();
      has_value_ = other.has_value_;
      status_ = other.status_;
      if (has_value_) ::new (&value_) T(other.value_);
    }
    return *this;
  }
  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      destroy();
      has_value_ = other.has_value_;
      status_ = std::move(other.status_);
      if (has_value_) ::new (&value_) T(std::move(other.value_));
    }
    return *this;
  }
  ~Result() { destroy(); }

  bool ok() const noexcept { return has_value_; }
  bool has_value() const noexcept { return has_value_; }
  explicit operator bool() const noexcept { return has_value_; }

  // The error; an ok Status when there is a value.
  const Status& status() const& noexcept { return status_; }
  Status status() && noexcept { return std::move(status_); }

  T& value() & {
    if (KILN_UNLIKELY(!has_value_)) detail::fail_on_error(status_);
    return value_;
  }
  const T& value() const& {
    if (KILN_UNLIKELY(!has_value_)) detail::fail_on_error(status_);
    return value_;
  }
  T&& value() && {
    if (KILN_UNLIKELY(!has_value_)) detail::fail_on_error(status_);
    return std::move(value_);
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // Unchecked access, for code that has just tested ok().
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T&& operator*() && noexcept { return std::move(value_); }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }

 private:
  void destroy() noexcept {
    if (has_value_) value_.~T();
    has_value_ = false;
  }

  bool has_value_;
  Status status_;
  union {
    T value_;
  };
};

} // namespace kiln

#define KILN_CONCAT_INNER_(a, b) a##b
#define KILN_CONCAT_(a, b) KILN_CONCAT_INNER_(a, b)

// KILN_ASSIGN_OR_RETURN(auto t, Tensor::empty(...)); declares `t` from the value of a Result,
// or returns its Status from the enclosing function (which returns Status or Result<U>).
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_CONCAT_(kiln_result_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)              \
  auto tmp = (expr);                                             \
  if (KILN_UNLIKELY(!tmp.ok())) return std::move(tmp).status();  \
  lhs = std::move(*tmp)
