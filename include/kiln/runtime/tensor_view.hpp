// kiln/runtime/tensor_view.hpp: TensorView<T, Shape, Stride>, a non-owning, typed view of
// memory with static or dynamic extents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../core/result.hpp"
#include "../core/shape.hpp"
#include "../core/status.hpp"

namespace kiln {

template <class T, ShapeType S, StrideType St = row_major_stride_t<S>>
class TensorView {
  static_assert(rank_v<S> == rank_v<St>, "a TensorView's shape and stride must have the same rank");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using shape_type = S;
  using stride_type = St;
  static constexpr std::size_t rank = rank_v<S>;

  constexpr TensorView() = default;

  // A row-major view: strides follow from the shape.
  constexpr TensorView(T* data, S shape) noexcept
    requires std::is_same_v<St, row_major_stride_t<S>>
      : data_(data), shape_(shape), stride_(row_major_stride(shape)) {}

  constexpr TensorView(T* data, S shape, St stride) noexcept : data_(data), shape_(shape), stride_(stride) {}

  // A view of T converts to a view of const T.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  constexpr TensorView(const TensorView<U, S, St>& other) noexcept  // NOLINT: implicit like T* -> const T*
      : data_(other.data()), shape_(other.shape()), stride_(other.stride()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr const S& shape() const noexcept { return shape_; }
  constexpr const St& stride() const noexcept { return stride_; }
  template <std::size_t I>
  constexpr auto extent() const noexcept { return shape_.template get<I>(); }
  template <std::size_t I>
  constexpr auto stride() const noexcept { return stride_.template get<I>(); }
  constexpr auto size() const noexcept { return shape_.size(); }
  constexpr bool empty() const noexcept { return static_cast<std::int64_t>(size()) == 0; }

  // Element access without bounds checks (the hot path).
  template <class... Idx>
  constexpr T& operator()(Idx... idx) const noexcept {
    static_assert(sizeof...(Idx) == rank, "TensorView::operator(): the number of indices must equal the rank");
    return data_[offset(idx...)];
  }

  // Element access with bounds checks; an out-of-range index is a fatal error naming the
  // axis, the index and the extent.
  template <class... Idx>
  constexpr T& at(Idx... idx) const {
    static_assert(sizeof...(Idx) == rank, "TensorView::at: the number of indices must equal the rank");
    const std::int64_t indices[] = {static_cast<std::int64_t>(idx)...};
    for (std::size_t axis = 0; axis < rank; ++axis) {
      if (indices[axis] < 0 || indices[axis] >= shape_[axis]) {
        detail::fail_on_error(make_error(StatusCode::out_of_range, "TensorView::at: index ", indices[axis],
                                         " on axis ", axis, " is outside the extent ", shape_[axis]));
      }
    }
    return data_[offset(idx...)];
  }

  // The view of element i along the leading axis (rank - 1).
  constexpr auto slice(std::int64_t i) const noexcept
    requires(rank >= 1)
  {
    using SubShape = decltype(drop_front(shape_));
    using SubStride = decltype(drop_front(stride_));
    return TensorView<T, SubShape, SubStride>(data_ + i * static_cast<std::int64_t>(stride_.template get<0>()),
                                              drop_front(shape_), drop_front(stride_));
  }

  // Rows [begin, end) of the leading axis, same rank; the leading extent becomes dynamic.
  constexpr auto slice(std::int64_t begin, std::int64_t end) const noexcept
    requires(rank >= 1)
  {
    using SubShape = decltype(with_dynamic_front(shape_, 0));
    return TensorView<T, SubShape, St>(data_ + begin * static_cast<std::int64_t>(stride_.template get<0>()),
                                       with_dynamic_front(shape_, end - begin), stride_);
  }

  // Whether the elements are dense in row-major order (axes of extent 1 may have any stride).
  constexpr bool is_contiguous() const noexcept {
    std::int64_t expected = 1;
    for (std::size_t axis = rank; axis-- > 0;) {
      if (shape_[axis] != 1 && stride_[axis] != expected) return false;
      expected *= shape_[axis];
    }
    return true;
  }

  // The same elements under another shape of equal size; the view must be contiguous.
  template <ShapeType NewShape>
  constexpr Result<TensorView<T, NewShape>> reshape(NewShape new_shape) const {
    if constexpr (S::all_static && NewShape::all_static) {
      static_assert(static_cast<std::int64_t>(S{}.size()) == static_cast<std::int64_t>(NewShape{}.size()),
                    "TensorView::reshape: the new shape must have as many elements as the old one");
    }
    const auto old_size = static_cast<std::int64_t>(size());
    const auto new_size = static_cast<std::int64_t>(new_shape.size());
    if (old_size != new_size) {
      return make_error(StatusCode::shape_mismatch, "TensorView::reshape: the view has ", old_size,
                        " elements but the new shape has ", new_size);
    }
    if (!is_contiguous()) {
      return make_error(StatusCode::invalid_argument, "TensorView::reshape: the view is not contiguous");
    }
    return TensorView<T, NewShape>(data_, new_shape);
  }

 private:
  template <class... Idx>
  constexpr std::int64_t offset(Idx... idx) const noexcept {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((static_cast<std::int64_t>(idx) * static_cast<std::int64_t>(stride_.template get<I>())) + ... + 0);
    }(std::index_sequence_for<Idx...>{});
  }

  T* data_ = nullptr;
  [[no_unique_address]] S shape_{};
  [[no_unique_address]] St stride_{};
};

template <class T, class... Es>
TensorView(T*, Shape<Es...>) -> TensorView<T, Shape<Es...>>;
template <class T, class... Es, class... Ss>
TensorView(T*, Shape<Es...>, Stride<Ss...>) -> TensorView<T, Shape<Es...>, Stride<Ss...>>;

// make_view(ptr, shape(4_c, n)): a row-major view.
template <class T, ShapeType S>
constexpr TensorView<T, S> make_view(T* data, S s) noexcept {
  return TensorView<T, S>(data, s);
}

// A view with every extent and stride dynamic.
template <class T, std::size_t R>
using DynTensorView = TensorView<T, DynShape<R>, DynStride<R>>;

} // namespace kiln
