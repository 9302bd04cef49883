// kiln/core/shape.hpp: Shape and Stride, tuples of static and dynamic extents.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "extent.hpp"

namespace kiln {

namespace detail {
// Only the dynamic extents take space: a fully static shape is an empty type. The tag
// keeps a Shape's and a Stride's storage distinct types, so both fold away in one object.
template <class Tag, std::size_t N>
struct DynamicExtents {
  std::int64_t values[N] = {};
};
template <class Tag>
struct DynamicExtents<Tag, 0> {};

template <class... Es>
constexpr std::size_t count_dynamic() noexcept {
  return (std::size_t{0} + ... + (is_static_v<Es> ? 0 : 1));
}

// The position of extent I among the dynamic ones.
template <std::size_t I, class... Es>
constexpr std::size_t dynamic_index() noexcept {
  constexpr bool is_dynamic[] = {!is_static_v<Es>..., false};
  std::size_t n = 0;
  for (std::size_t k = 0; k < I; ++k) n += is_dynamic[k] ? 1 : 0;
  return n;
}

// The storage shared by Shape and Stride.
template <class Tag, class... Es>
struct ExtentTuple {
  static_assert((Extent<Es> && ...), "every extent must be kiln::Int<N> or std::int64_t");
  static constexpr std::size_t rank = sizeof...(Es);
  static constexpr std::size_t dynamic_count = count_dynamic<Es...>();
  static constexpr bool all_static = dynamic_count == 0;

  [[no_unique_address]] DynamicExtents<Tag, dynamic_count> dynamic;

  constexpr ExtentTuple() = default;
  constexpr explicit ExtentTuple(Es... es) noexcept
    requires(sizeof...(Es) > 0)
  {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (store<I>(es), ...);
    }(std::index_sequence_for<Es...>{});
  }

  template <std::size_t I>
  constexpr auto get() const noexcept {
    using E = std::tuple_element_t<I, std::tuple<Es...>>;
    if constexpr (is_static_v<E>) return E{};
    else return dynamic.values[dynamic_index<I, Es...>()];
  }

  // Run-time access by position.
  constexpr std::int64_t operator[](std::size_t i) const noexcept {
    std::int64_t out = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((i == I ? (out = static_cast<std::int64_t>(get<I>()), 0) : 0), ...);
    }(std::index_sequence_for<Es...>{});
    return out;
  }

  constexpr std::array<std::int64_t, rank> to_array() const noexcept {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::int64_t, rank>{static_cast<std::int64_t>(get<I>())...};
    }(std::index_sequence_for<Es...>{});
  }

  // Calls fn(e0, e1, ...) with the extents as their own types.
  template <class Fn>
  constexpr decltype(auto) apply(Fn&& fn) const {
    return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
      return fn(get<I>()...);
    }(std::index_sequence_for<Es...>{});
  }

 private:
  template <std::size_t I, class E>
  constexpr void store(E e) noexcept {
    if constexpr (!is_static_v<E>) dynamic.values[dynamic_index<I, Es...>()] = e;
  }
};

struct ShapeTag {};
struct StrideTag {};
} // namespace detail

template <class... Es>
struct Shape : detail::ExtentTuple<detail::ShapeTag, Es...> {
  using detail::ExtentTuple<detail::ShapeTag, Es...>::ExtentTuple;

  // The number of elements; static when every extent is.
  constexpr auto size() const noexcept {
    if constexpr (sizeof...(Es) == 0) return Int<1>{};
    else return this->apply([](auto... e) { return (e * ...); });
  }
};

template <class... Es>
struct Stride : detail::ExtentTuple<detail::StrideTag, Es...> {
  using detail::ExtentTuple<detail::StrideTag, Es...>::ExtentTuple;
};

template <class... Es> Shape(Es...) -> Shape<Es...>;
template <class... Es> Stride(Es...) -> Stride<Es...>;

// shape(2_c, n, 3) -> Shape<Int<2>, int64_t, Int<3>>; plain integers become int64_t.
template <class... Es>
constexpr auto shape(Es... es) noexcept {
  return Shape<decltype(to_extent(es))...>(to_extent(es)...);
}
template <class... Es>
constexpr auto stride(Es... es) noexcept {
  return Stride<decltype(to_extent(es))...>(to_extent(es)...);
}

template <std::size_t I, class... Es>
constexpr auto get(const Shape<Es...>& s) noexcept { return s.template get<I>(); }
template <std::size_t I, class... Es>
constexpr auto get(const Stride<Es...>& s) noexcept { return s.template get<I>(); }

template <class T> struct rank_of;
template <class... Es> struct rank_of<Shape<Es...>> : std::integral_constant<std::size_t, sizeof...(Es)> {};
template <class... Es> struct rank_of<Stride<Es...>> : std::integral_constant<std::size_t, sizeof...(Es)> {};
template <class T>
inline constexpr std::size_t rank_v = rank_of<std::remove_cvref_t<T>>::value;

template <class T> struct is_shape : std::false_type {};
template <class... Es> struct is_shape<Shape<Es...>> : std::true_type {};
template <class T> struct is_stride : std::false_type {};
template <class... Es> struct is_stride<Stride<Es...>> : std::true_type {};
template <class T>
concept ShapeType = is_shape<std::remove_cvref_t<T>>::value;
template <class T>
concept StrideType = is_stride<std::remove_cvref_t<T>>::value;

namespace detail {
template <std::size_t R, class Seq = std::make_index_sequence<R>> struct dyn_tuple;
template <std::size_t R, std::size_t... I>
struct dyn_tuple<R, std::index_sequence<I...>> {
  template <std::size_t> using dyn = std::int64_t;
  using shape = Shape<dyn<I>...>;
  using stride = Stride<dyn<I>...>;
};

// Product of the extents after position I: the row-major stride of axis I.
template <std::size_t I, class... Es>
constexpr auto suffix_product(const Shape<Es...>& s) noexcept {
  if constexpr (I + 1 >= sizeof...(Es)) return Int<1>{};
  else return s.template get<I + 1>() * suffix_product<I + 1>(s);
}
} // namespace detail

// Shape and Stride of R dynamic extents.
template <std::size_t R> using DynShape = typename detail::dyn_tuple<R>::shape;
template <std::size_t R> using DynStride = typename detail::dyn_tuple<R>::stride;

// Row-major (C order) strides of a shape; static wherever the trailing extents are.
template <class... Es>
constexpr auto row_major_stride(const Shape<Es...>& s) noexcept {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return Stride<decltype(detail::suffix_product<I>(s))...>(detail::suffix_product<I>(s)...);
  }(std::index_sequence_for<Es...>{});
}

template <ShapeType S>
using row_major_stride_t = decltype(row_major_stride(std::declval<S>()));

// Drops the leading extent: the shape of one slice along axis 0.
template <class E0, class... Es>
constexpr Shape<Es...> drop_front(const Shape<E0, Es...>& s) noexcept {
  return s.apply([](auto, auto... rest) { return Shape<Es...>(rest...); });
}
template <class E0, class... Es>
constexpr Stride<Es...> drop_front(const Stride<E0, Es...>& s) noexcept {
  return s.apply([](auto, auto... rest) { return Stride<Es...>(rest...); });
}

// Replaces the leading extent with a dynamic one (a range slice along axis 0).
template <class E0, class... Es>
constexpr Shape<std::int64_t, Es...> with_dynamic_front(const Shape<E0, Es...>& s, std::int64_t front) noexcept {
  return s.apply([&](auto, auto... rest) { return Shape<std::int64_t, Es...>(front, rest...); });
}

// Shapes compare by value; a static extent equals a dynamic one of the same value.
template <class... As, class... Bs>
constexpr bool operator==(const Shape<As...>& a, const Shape<Bs...>& b) noexcept {
  if constexpr (sizeof...(As) != sizeof...(Bs)) return false;
  else return a.to_array() == b.to_array();
}
template <class... As, class... Bs>
constexpr bool operator==(const Stride<As...>& a, const Stride<Bs...>& b) noexcept {
  if constexpr (sizeof...(As) != sizeof...(Bs)) return false;
  else return a.to_array() == b.to_array();
}

} // namespace kiln
