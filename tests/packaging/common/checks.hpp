// Checks every packaging consumer runs once kiln is included: small, but each one fails
// when the headers a consumer sees are broken or stale.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace consumer {

inline int failures = 0;

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

inline kiln::Result<int> half(int n) {
  if (n % 2 != 0) return kiln::make_error(kiln::StatusCode::invalid_argument, "odd value ", n);
  return n / 2;
}

inline int run_checks(const char* how) {
  static_assert(kiln::dtype_v<float> == kiln::DType::f32);
  check(kiln::dtype_v<std::int64_t> == kiln::DType::i64, "dtype_v<int64_t> == i64");
  check(kiln::size_of(kiln::DType::f16) == 2, "size_of(f16) == 2");

  kiln::Status status = kiln::make_error(kiln::StatusCode::shape_mismatch, "extent ", 3, " vs ", 4);
  check(!status.ok(), "an error Status is not ok");
  check(status.code() == kiln::StatusCode::shape_mismatch, "Status keeps its code");
  check(status.to_string() == "shape mismatch: extent 3 vs 4", "Status message");

  kiln::Result<int> good = half(8);
  check(good.ok() && *good == 4, "Result holds its value");
  kiln::Result<int> bad = half(7);
  check(!bad.ok() && bad.status().message() == "odd value 7", "Result holds its error");

  check(static_cast<float>(kiln::f16(1.5f)) == 1.5f, "f16(1.5f) round-trips");
  check(std::string(KILN_VERSION_STRING).size() >= 5, "KILN_VERSION_STRING is set");

  if (failures == 0) std::printf("kiln %s via %s: ok\n", KILN_VERSION_STRING, how);
  return failures == 0 ? 0 : 1;
}

} // namespace consumer
