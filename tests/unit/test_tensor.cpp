#include <doctest/doctest.h>

#include <kiln/runtime/tensor.hpp>

#include <cstdint>
#include <limits>

using namespace kiln;

TEST_CASE("Tensor::empty gives aligned row-major storage for every dtype") {
  for (DType t : kAllDTypes) {
    auto r = Tensor::empty(t, {3, 5, 7});
    REQUIRE(r.ok());
    CHECK(r->dtype() == t);
    CHECK(r->rank() == 3);
    CHECK(r->numel() == 105);
    CHECK(r->nbytes() == 105 * size_of(t));
    CHECK(r->stride(0) == 35);
    CHECK(r->stride(1) == 7);
    CHECK(r->stride(2) == 1);
    CHECK(is_aligned(r->data(), 64));
    CHECK(r->is_contiguous());
    CHECK(r->device() == Device::cpu());
  }
  auto scalar = Tensor::zeros(DType::f64, {});
  REQUIRE(scalar.ok());
  CHECK(scalar->numel() == 1);
  CHECK(scalar->at<double>() == 0.0);
  auto none = Tensor::empty(DType::f32, {4, 0, 2});
  REQUIRE(none.ok());
  CHECK(none->numel() == 0);
}

TEST_CASE("bad shapes get errors that name the problem") {
  auto neg = Tensor::empty(DType::f32, {2, -3});
  REQUIRE_FALSE(neg.ok());
  CHECK(neg.status().message() == "Tensor::empty: extent -3 on axis 1 of shape [2, -3] is negative");
  auto huge = Tensor::empty(DType::f32, {std::int64_t{1} << 40, std::int64_t{1} << 40});
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().code() == StatusCode::out_of_range);
  auto too_big = Tensor::empty(DType::f64, {std::numeric_limits<std::int64_t>::max() / 4});
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().code() == StatusCode::out_of_range);
  const std::int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  auto deep = Tensor::empty(DType::f32, Dims(nine));
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().message() == "Tensor::empty: rank 9 exceeds the maximum rank 8");
  auto values = Tensor::from_values<int>({2, 2}, {1, 2, 3});
  REQUIRE_FALSE(values.ok());
  CHECK(values.status().message() == "Tensor::from_values: shape [2, 2] has 4 elements but 3 values were given");
}

TEST_CASE("element access, slices and reshapes share storage") {
  auto t = Tensor::from_values<float>({2, 3}, {1, 2, 3, 4, 5, 6}).value();
  CHECK(t.at<float>(1, 2) == 6.0f);
  auto row = t.slice(1).value();
  CHECK(row.rank() == 1);
  CHECK(row.at<float>(0) == 4.0f);
  CHECK(t.use_count() == 2);
  row.at<float>(1) = 50.0f;
  CHECK(t.at<float>(1, 1) == 50.0f);
  auto rows = t.slice(1, 2).value();
  CHECK(rows.dim(0) == 1);
  CHECK(rows.at<float>(0, 2) == 6.0f);
  auto r = t.reshape({3, 2}).value();
  CHECK(r.at<float>(2, 1) == 6.0f);
  CHECK(r.at<float>(2, 0) == 50.0f);
  CHECK_FALSE(t.reshape({4, 2}).ok());
  CHECK(t.reshape({4, 2}).status().message() ==
        "Tensor::reshape: cannot view [2, 3] (6 elements) as [4, 2] (8 elements)");
  CHECK(t.slice(2).status().message() == "Tensor::slice: index 2 is outside the leading extent 2");
  CHECK_FALSE(t.slice(1, 3).ok());
}

TEST_CASE("typed views of a tensor check dtype and rank") {
  auto t = Tensor::from_values<std::int32_t>({2, 2}, {1, 2, 3, 4}).value();
  auto v = t.view<std::int32_t, 2>();
  REQUIRE(v.ok());
  CHECK((*v)(1, 0) == 3);
  CHECK(t.view<float, 2>().status().message() == "Tensor::view: the tensor holds i32, not f32");
  CHECK(t.view<std::int32_t, 3>().status().message() == "Tensor::view: the tensor has rank 2, not 3");
#if KILN_HAS_EXCEPTIONS
  CHECK_THROWS_WITH_AS(t.at<float>(0, 0), "dtype mismatch: Tensor::at: the tensor holds i32, not f32", Error);
  CHECK_THROWS_WITH_AS(t.at<std::int32_t>(0, 2), "out of range: Tensor::at: index 2 on axis 1 is outside the extent 2",
                       Error);
  CHECK_THROWS_AS(t.at<std::int32_t>(0), Error);
#endif
}

TEST_CASE("clone copies strided tensors into row-major order") {
  float buf[12];
  for (int i = 0; i < 12; ++i) buf[i] = static_cast<float>(i);
  // A 4x3 matrix viewed transposed as 3x4 (strides 1, 3).
  const std::int64_t dims[] = {3, 4};
  const std::int64_t strides[] = {1, 3};
  auto t = Tensor::borrow(buf, DType::f32, dims, strides).value();
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.at<float>(2, 1) == buf[1 * 3 + 2]);
  CHECK_FALSE(t.reshape({12}).ok());
  auto c = t.clone().value();
  CHECK(c.is_contiguous());
  CHECK(c.data() != t.data());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(c.at<float>(i, j) == buf[j * 3 + i]);
}

TEST_CASE("adopted memory is released exactly once, by the last tensor") {
  static int releases = 0;
  releases = 0;
  float* memory = new float[8]();
  {
    auto t = Tensor::adopt(memory, DType::f32, std::initializer_list<std::int64_t>{2, 4}, {}, Device::cpu(),
                           [](void*, void* p) noexcept {
                             delete[] static_cast<float*>(p);
                             ++releases;
                           },
                           nullptr)
                 .value();
    Tensor copy = t;
    { auto s = t.slice(1).value(); }
    CHECK(releases == 0);
    t = Tensor();
    CHECK(releases == 0);
    CHECK(copy.use_count() == 1);
  }
  CHECK(releases == 1);
}
