// kiln/core/status.hpp: kiln::Status, the error value every fallible API returns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "../config.hpp"
#include "str_cat.hpp"

namespace kiln {

enum class StatusCode : std::uint8_t {
  ok = 0,
  invalid_argument,  // a value the caller passed is wrong
  out_of_range,      // an index or size outside its bounds
  shape_mismatch,    // extents that do not agree
  dtype_mismatch,    // element types that do not agree
  unsupported,       // valid, but not something kiln (or this device) can do
  out_of_memory,     // an allocation failed or would exceed a limit
  parse_error,       // a malformed file or message
  not_found,         // a named thing (file, input, op) does not exist
  unavailable,       // a device or resource is missing at run time
  internal,          // a bug in kiln
};

constexpr std::string_view to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::ok: return "ok";
    case StatusCode::invalid_argument: return "invalid argument";
    case StatusCode::out_of_range: return "out of range";
    case StatusCode::shape_mismatch: return "shape mismatch";
    case StatusCode::dtype_mismatch: return "dtype mismatch";
    case StatusCode::unsupported: return "unsupported";
    case StatusCode::out_of_memory: return "out of memory";
    case StatusCode::parse_error: return "parse error";
    case StatusCode::not_found: return "not found";
    case StatusCode::unavailable: return "unavailable";
    case StatusCode::internal: return "internal error";
  }
  return "unknown";
}

// Success, or an error code with a message that names what was wrong. An ok Status holds
// no string, so returning success never allocates.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status success() noexcept { return Status(); }

  bool ok() const noexcept { return code_ == StatusCode::ok; }
  explicit operator bool() const noexcept { return ok(); }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // "shape mismatch: matmul: inner extents 3 and 4 differ"
  std::string to_string() const {
    if (ok()) return "ok";
    return str_cat(kiln::to_string(code_), ": ", message_);
  }

  // Prefixes the message with where the error surfaced ("loading model.onnx: ...").
  Status with_context(std::string_view context) && {
    if (!ok()) message_ = str_cat(context, ": ", message_);
    return std::move(*this);
  }
  Status with_context(std::string_view context) const& { return Status(*this).with_context(context); }

  // Marks an error as looked at when the caller deliberately drops it.
  void ignore() const noexcept {}

  friend bool operator==(const Status& a, StatusCode c) noexcept { return a.code_ == c; }

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

// make_error(StatusCode::shape_mismatch, "extent ", 3, " vs ", 4)
template <class... Pieces>
Status make_error(StatusCode code, const Pieces&... pieces) {
  return Status(code, str_cat(pieces...));
}

} // namespace kiln

// Returns the Status of `expr` from the enclosing function when it is an error.
#define KILN_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::kiln::Status kiln_status_ = (expr);           \
    if (KILN_UNLIKELY(!kiln_status_.ok())) return kiln_status_; \
  } while (false)
