#include <doctest/doctest.h>

#include <kiln/core/shape.hpp>

#include <type_traits>

using namespace kiln;

// Static arithmetic stays static; anything mixed with a dynamic extent becomes int64_t.
static_assert(std::is_same_v<decltype(3_c * 4_c), Int<12>>);
static_assert(std::is_same_v<decltype(10_c - 4_c + 1_c), Int<7>>);
static_assert(std::is_same_v<decltype(7_c / 2_c), Int<3>>);
static_assert(std::is_same_v<decltype(floordiv(Int<-7>{}, 2_c)), Int<-4>>);
static_assert(std::is_same_v<decltype(ceildiv(1023_c, 16_c)), Int<64>>);
static_assert(std::is_same_v<decltype(3_c * std::int64_t{4}), std::int64_t>);
static_assert(1'024_c == 1024);
static_assert(is_static_v<Int<0>> && !is_static_v<std::int64_t>);
static_assert(std::is_empty_v<Int<5>>);

// A fully static shape is an empty type whose size and strides are types.
constexpr auto kStatic = shape(2_c, 3_c, 4_c);
static_assert(std::is_empty_v<decltype(kStatic)>);
static_assert(std::is_same_v<std::remove_const_t<decltype(kStatic.size())>, Int<24>>);
static_assert(std::is_same_v<decltype(row_major_stride(kStatic)), Stride<Int<12>, Int<4>, Int<1>>>);
static_assert(rank_v<decltype(kStatic)> == 3);
// Only the dynamic extents take space.
static_assert(sizeof(Shape<Int<2>, std::int64_t, Int<3>>) == sizeof(std::int64_t));
static_assert(sizeof(DynShape<4>) == 4 * sizeof(std::int64_t));

TEST_CASE("floordiv and floormod round towards negative infinity") {
  CHECK(floordiv(7, 2) == 3);
  CHECK(floordiv(-7, 2) == -4);
  CHECK(floordiv(7, -2) == -4);
  CHECK(floordiv(-8, 2) == -4);
  CHECK(floormod(-7, 2) == 1);
  CHECK(floormod(7, -2) == -1);
  CHECK(ceildiv(17, 16) == 2);
  CHECK(ceildiv(16, 16) == 1);
}

TEST_CASE("mixed shapes keep static extents static and compute dynamic ones at run time") {
  const std::int64_t n = 5;
  auto s = shape(n, 3_c, 4);
  static_assert(std::is_same_v<decltype(s), Shape<std::int64_t, Int<3>, std::int64_t>>);
  CHECK(s[0] == 5);
  CHECK(s[1] == 3);
  CHECK(s[2] == 4);
  CHECK(s.size() == 60);
  auto st = row_major_stride(s);
  static_assert(std::is_same_v<decltype(st), Stride<std::int64_t, std::int64_t, Int<1>>>);
  CHECK(st.to_array() == std::array<std::int64_t, 3>{12, 4, 1});
  auto st2 = row_major_stride(shape(n, 3_c, 4_c));
  static_assert(std::is_same_v<decltype(st2), Stride<Int<12>, Int<4>, Int<1>>>);
  CHECK(shape(5_c, 3_c, 4) == s);
  CHECK_FALSE(shape(5_c, 3_c) == s);
  CHECK(drop_front(s) == shape(3, 4));
  CHECK(with_dynamic_front(s, 2)[0] == 2);
  CHECK(shape().size() == 1);
}
