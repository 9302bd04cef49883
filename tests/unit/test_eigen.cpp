#include <doctest/doctest.h>

#include <kiln/runtime/eigen.hpp>

#include <Eigen/Core>
#include <numeric>
#include <type_traits>
#include <vector>

using namespace kiln;

TEST_CASE("Eigen maps of 2-D views see the same memory, static extents become static sizes") {
  std::vector<float> buf(12);
  std::iota(buf.begin(), buf.end(), 0.0f);
  auto v = make_view(buf.data(), shape(3_c, 4_c));
  auto m = as_eigen(v);
  static_assert(decltype(m)::RowsAtCompileTime == 3 && decltype(m)::ColsAtCompileTime == 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(m(i, j) == v(i, j));
  m(2, 1) = -1.0f;
  CHECK(buf[2 * 4 + 1] == -1.0f);
  // Compare a product against a naive loop through the maps.
  Eigen::MatrixXf product = m * m.transpose();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      float ref = 0;
      for (int k = 0; k < 4; ++k) ref += v(i, k) * v(j, k);
      CHECK(product(i, j) == doctest::Approx(ref));
    }
}

TEST_CASE("strided and dynamic views map with their strides") {
  std::vector<double> buf(20);
  std::iota(buf.begin(), buf.end(), 0.0);
  const std::int64_t rows = 4, cols = 5;
  TensorView t(buf.data(), shape(cols, rows), stride(1_c, cols));  // transposed 5x4
  auto m = as_eigen(t);
  static_assert(decltype(m)::RowsAtCompileTime == Eigen::Dynamic);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) CHECK(m(i, j) == buf[j * 5 + i]);
  auto column = make_view(buf.data(), shape(rows, 1_c));
  auto mc = as_eigen(column);
  CHECK(mc(3, 0) == 3.0);
  auto vec = TensorView(buf.data(), shape(std::int64_t{4}), stride(std::int64_t{5}));
  auto mv = as_eigen(vec);
  CHECK(mv.size() == 4);
  CHECK(mv(2) == 10.0);
  const TensorView<const double, Shape<std::int64_t>, Stride<std::int64_t>> cvec = vec;
  CHECK(as_eigen(cvec).sum() == 0.0 + 5.0 + 10.0 + 15.0);
}

TEST_CASE("views of Eigen matrices, maps and blocks in either storage order") {
  Eigen::Matrix<float, 3, 2> col_major;
  col_major << 1, 2, 3, 4, 5, 6;
  auto v = view_of(col_major);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(v.shape())>, Shape<Int<3>, Int<2>>>);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) CHECK(v(i, j) == col_major(i, j));
  Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major(4, 5);
  for (int i = 0; i < 20; ++i) row_major.data()[i] = i;
  auto rv = view_of(row_major);
  CHECK(rv.is_contiguous());
  CHECK(rv(3, 4) == 19);
  auto block = view_of(row_major.block(1, 2, 2, 3));
  CHECK(block.extent<0>() == 2);
  CHECK(block(1, 2) == row_major(2, 4));
  block(0, 0) = 100;
  CHECK(row_major(1, 2) == 100);
  const Eigen::MatrixXd constant = Eigen::MatrixXd::Constant(2, 2, 3.0);
  auto cv = view_of(constant);
  static_assert(std::is_same_v<decltype(cv)::element_type, const double>);
  CHECK(cv(1, 1) == 3.0);
}
