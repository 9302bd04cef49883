#include <doctest/doctest.h>

#include <kiln/runtime/tensor_view.hpp>

#include <numeric>
#include <type_traits>
#include <vector>

using namespace kiln;

TEST_CASE("a static row-major view is one pointer and indexes like a C array") {
  float data[2][3][4];
  std::iota(&data[0][0][0], &data[0][0][0] + 24, 0.0f);
  auto v = make_view(&data[0][0][0], shape(2_c, 3_c, 4_c));
  static_assert(sizeof(v) == sizeof(float*));
  static_assert(decltype(v)::rank == 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) CHECK(v(i, j, k) == data[i][j][k]);
  CHECK(v.size() == 24);
  CHECK(v.is_contiguous());
}

TEST_CASE("views with dynamic extents and explicit strides") {
  std::vector<double> buf(5 * 7);
  std::iota(buf.begin(), buf.end(), 0.0);
  const std::int64_t rows = 5, cols = 7;
  // The transpose of a 5x7 row-major matrix: shape 7x5, strides (1, 7).
  TensorView t(buf.data(), shape(cols, rows), stride(1_c, cols));
  CHECK(t(3, 2) == buf[2 * 7 + 3]);
  CHECK_FALSE(t.is_contiguous());
  auto r = t.reshape(shape(35));
  CHECK_FALSE(r.ok());
  CHECK(r.status().message() == "TensorView::reshape: the view is not contiguous");
}

TEST_CASE("slicing the leading axis") {
  std::vector<int> buf(3 * 4 * 5);
  std::iota(buf.begin(), buf.end(), 0);
  auto v = make_view(buf.data(), shape(3_c, std::int64_t{4}, 5_c));
  auto plane = v.slice(2);
  static_assert(decltype(plane)::rank == 2);
  static_assert(std::is_same_v<decltype(plane.shape()), const Shape<std::int64_t, Int<5>>&>);
  CHECK(plane(1, 3) == v(2, 1, 3));
  auto row = plane.slice(3);
  CHECK(row(4) == v(2, 3, 4));
  auto range = v.slice(1, 3);
  CHECK(range.extent<0>() == 2);
  CHECK(range(0, 0, 0) == v(1, 0, 0));
  CHECK(range(1, 3, 4) == v(2, 3, 4));
  CHECK(range.is_contiguous());
  auto empty_range = v.slice(1, 1);
  CHECK(empty_range.empty());
}

TEST_CASE("reshape of contiguous views checks the element count") {
  std::vector<float> buf(24);
  std::iota(buf.begin(), buf.end(), 0.0f);
  auto v = make_view(buf.data(), shape(std::int64_t{4}, 6_c));
  auto r = v.reshape(shape(2_c, 3_c, 4_c));
  REQUIRE(r.ok());
  CHECK((*r)(1, 2, 3) == 23.0f);
  auto bad = v.reshape(shape(std::int64_t{5}, 5_c));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::shape_mismatch);
  CHECK(bad.status().message() == "TensorView::reshape: the view has 24 elements but the new shape has 25");
}

TEST_CASE("a view of T converts to a view of const T, and at() checks bounds") {
  int buf[6] = {0, 1, 2, 3, 4, 5};
  auto v = make_view(buf, shape(2_c, 3_c));
  TensorView<const int, Shape<Int<2>, Int<3>>> cv = v;
  CHECK(cv.at(1, 2) == 5);
  v.at(0, 1) = 10;
  CHECK(cv(0, 1) == 10);
#if KILN_HAS_EXCEPTIONS
  CHECK_THROWS_WITH_AS(cv.at(2, 0), "out of range: TensorView::at: index 2 on axis 0 is outside the extent 2", Error);
  CHECK_THROWS_AS(cv.at(0, -1), Error);
#endif
}
