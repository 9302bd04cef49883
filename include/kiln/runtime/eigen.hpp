// kiln/runtime/eigen.hpp: Eigen::Map views of kiln tensors and kiln views of Eigen matrices,
// both without copying.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>

#include "../core/shape.hpp"
#include "tensor_view.hpp"

namespace kiln {

namespace detail {
template <class E>
constexpr int eigen_extent() noexcept {
  if constexpr (is_static_v<E>) return static_cast<int>(E::value);
  else return Eigen::Dynamic;
}

template <int N>
constexpr auto kiln_extent(Eigen::Index runtime) noexcept {
  if constexpr (N == Eigen::Dynamic) return static_cast<std::int64_t>(runtime);
  else return Int<N>{};
}
} // namespace detail

// A 2-D view as an Eigen matrix map, with the view's strides; static extents become Eigen
// compile-time sizes. A single-column map is column-major, since Eigen has no row-major
// column vector type.
template <class T, class E0, class E1, class S0, class S1>
auto as_eigen(const TensorView<T, Shape<E0, E1>, Stride<S0, S1>>& v) {
  using Scalar = std::remove_const_t<T>;
  constexpr int rows = detail::eigen_extent<E0>();
  constexpr int cols = detail::eigen_extent<E1>();
  constexpr bool row_major = !(cols == 1 && rows != 1);
  using Matrix = Eigen::Matrix<Scalar, rows, cols, row_major ? Eigen::RowMajor : Eigen::ColMajor>;
  using Map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const Matrix, Matrix>, Eigen::Unaligned,
                         Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  const auto row_stride = static_cast<Eigen::Index>(v.template stride<0>());
  const auto col_stride = static_cast<Eigen::Index>(v.template stride<1>());
  return Map(v.data(), static_cast<Eigen::Index>(v.template extent<0>()),
             static_cast<Eigen::Index>(v.template extent<1>()),
             row_major ? Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(row_stride, col_stride)
                       : Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(col_stride, row_stride));
}

// A 1-D view as an Eigen column-vector map.
template <class T, class E0, class S0>
auto as_eigen(const TensorView<T, Shape<E0>, Stride<S0>>& v) {
  using Scalar = std::remove_const_t<T>;
  using Vector = Eigen::Matrix<Scalar, detail::eigen_extent<E0>(), 1>;
  using Map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const Vector, Vector>, Eigen::Unaligned,
                         Eigen::InnerStride<Eigen::Dynamic>>;
  return Map(v.data(), static_cast<Eigen::Index>(v.template extent<0>()),
             Eigen::InnerStride<Eigen::Dynamic>(static_cast<Eigen::Index>(v.template stride<0>())));
}

template <class M>
concept EigenDirectAccess =
    std::is_base_of_v<Eigen::DenseBase<std::remove_cvref_t<M>>, std::remove_cvref_t<M>> &&
    static_cast<bool>(std::remove_cvref_t<M>::Flags & Eigen::DirectAccessBit);

// A 2-D kiln view of an Eigen matrix, map, block or ref (anything with direct access),
// rows by columns whatever the storage order; compile-time sizes become Int<N> extents.
// The element type is const where Eigen only gives read access.
template <EigenDirectAccess M>
auto view_of(M&& m) {
  using D = std::remove_cvref_t<M>;
  static_assert(std::is_lvalue_reference_v<M> || !std::is_base_of_v<Eigen::PlainObjectBase<D>, D>,
                "kiln::view_of: a view of a temporary Eigen matrix would dangle");
  using Element = std::remove_pointer_t<decltype(m.data())>;
  const auto rows = detail::kiln_extent<D::RowsAtCompileTime>(m.rows());
  const auto cols = detail::kiln_extent<D::ColsAtCompileTime>(m.cols());
  const auto outer = static_cast<std::int64_t>(m.outerStride());
  const auto inner = static_cast<std::int64_t>(m.innerStride());
  using S = Shape<std::remove_const_t<decltype(rows)>, std::remove_const_t<decltype(cols)>>;
  using St = Stride<std::int64_t, std::int64_t>;
  return TensorView<Element, S, St>(m.data(), S(rows, cols), D::IsRowMajor ? St(outer, inner) : St(inner, outer));
}

} // namespace kiln
