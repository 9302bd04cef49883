#include <doctest/doctest.h>

#include <kiln/core/dtype.hpp>

#include <cstdint>
#include <type_traits>

using namespace kiln;

TEST_CASE("every dtype maps to a C++ type of its size and back") {
  static_assert(dtype_v<float> == DType::f32);
  static_assert(dtype_v<const std::int64_t> == DType::i64);
  static_assert(std::is_same_v<type_of_t<DType::bf16>, bf16>);
  static_assert(!Element<long double>);
  static_assert(Element<f16>);
  for (DType t : kAllDTypes) {
    visit_dtype(t, [&](auto v) {
      using T = decltype(v);
      CHECK(dtype_v<T> == t);
      CHECK(sizeof(T) == size_of(t));
    });
    CHECK(parse_dtype(to_string(t)) == t);
  }
  CHECK_FALSE(parse_dtype("f8").has_value());
  CHECK(is_floating_point(DType::bf16));
  CHECK(is_integer(DType::u8));
  CHECK_FALSE(is_integer(DType::boolean));
  CHECK_FALSE(is_signed(DType::u8));
  CHECK_FALSE(is_signed(DType::u64));
  CHECK(is_unsigned_integer(DType::u32));
  CHECK(is_integer(DType::u16));
  CHECK(is_signed(DType::i8));
}
