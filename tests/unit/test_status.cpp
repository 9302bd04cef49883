#include <doctest/doctest.h>

#include <kiln/core/result.hpp>
#include <kiln/core/status.hpp>

#include <memory>
#include <string>

using namespace kiln;

namespace {
Result<int> parse_positive(int x) {
  if (x <= 0) return make_error(StatusCode::invalid_argument, "expected a positive number, got ", x);
  return x;
}

Result<int> doubled(int x) {
  KILN_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return 2 * v;
}

Status check_all(int a, int b) {
  KILN_RETURN_IF_ERROR(parse_positive(a).status());
  KILN_RETURN_IF_ERROR(parse_positive(b).status());
  return {};
}
} // namespace

TEST_CASE("Status carries a code and a message that names what was wrong") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.to_string() == "ok");
  Status err = make_error(StatusCode::shape_mismatch, "matmul: inner extents ", 3, " and ", std::int64_t{4}, " differ");
  CHECK_FALSE(err.ok());
  CHECK(err.code() == StatusCode::shape_mismatch);
  CHECK(err.message() == "matmul: inner extents 3 and 4 differ");
  CHECK(err.to_string() == "shape mismatch: matmul: inner extents 3 and 4 differ");
  CHECK(Status(err).with_context("layer conv1").message() == "layer conv1: matmul: inner extents 3 and 4 differ");
  CHECK(Status().with_context("ignored").ok());
  CHECK(str_cat("x=", 1.5, " y=", -2, " ", true) == "x=1.5 y=-2 true");
}

TEST_CASE("Result holds a value or a status and propagates errors") {
  auto good = doubled(21);
  REQUIRE(good.ok());
  CHECK(*good == 42);
  CHECK(good.value() == 42);
  auto bad = doubled(-1);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::invalid_argument);
  CHECK(bad.status().message() == "expected a positive number, got -1");
  CHECK(bad.value_or(7) == 7);
  CHECK(check_all(1, 2).ok());
  CHECK(check_all(1, -5).message() == "expected a positive number, got -5");
}

TEST_CASE("Result built from an ok Status becomes an internal error, never a value-less success") {
  Result<int> r = Status();
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::internal);
}

TEST_CASE("Result manages the lifetime of move-only and non-default-constructible values") {
  struct NoDefault {
    explicit NoDefault(int v) : value(v) {}
    int value;
  };
  Result<NoDefault> r(std::in_place, 5);
  CHECK(r->value == 5);
  Result<std::unique_ptr<int>> p = std::make_unique<int>(9);
  Result<std::unique_ptr<int>> moved = std::move(p);
  CHECK(**moved == 9);
  auto shared = std::make_shared<int>(1);
  {
    Result<std::shared_ptr<int>> a = shared;
    Result<std::shared_ptr<int>> b = a;
    CHECK(shared.use_count() == 3);
    b = Result<std::shared_ptr<int>>(make_error(StatusCode::internal, "gone"));
    CHECK(shared.use_count() == 2);
  }
  CHECK(shared.use_count() == 1);
}

#if KILN_HAS_EXCEPTIONS
TEST_CASE("Result::value on an error throws kiln::Error with the status when exceptions are on") {
  auto bad = doubled(0);
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const Error& e) {
    CHECK(e.status().code() == StatusCode::invalid_argument);
    CHECK(std::string(e.what()) == "invalid argument: expected a positive number, got 0");
  }
}
#endif
