// kiln/kernels/reduce_axes.hpp: reductions of an input "X" of any rank over any set of axes
// (given as positions), keeping the reduced axes as extent 1 or dropping them.
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../te/tensor.hpp"
#include "reduce.hpp"

namespace kiln::kernels {

template <std::size_t... Axes>
struct AxisList {
  static constexpr std::size_t size = sizeof...(Axes);
  static constexpr bool contains(std::size_t a) noexcept { return ((a == Axes) || ...); }
  // The position of axis a among the reduced axes.
  static constexpr std::size_t rank_of(std::size_t a) noexcept {
    std::size_t n = 0;
    ((Axes < a ? ++n : n), ...);
    return n;
  }
};

namespace detail {
template <std::size_t I>
constexpr Name reduce_axis_name() noexcept {
  return Name("r") + std::string_view(&"0123456789"[I % 10], 1);
}

// The output extents: reduced axes become Int<1> (keepdims) or disappear.
template <class Reduced, bool KeepDims, class... Es, std::size_t... I>
auto reduced_extents(te::Extents<Es...>, std::index_sequence<I...>) {
  using Kept = te::concat_t<std::conditional_t<
      Reduced::contains(I), std::conditional_t<KeepDims, te::TypeList<Int<1>>, te::TypeList<>>,
      te::TypeList<std::tuple_element_t<I, std::tuple<Es...>>>>...>;
  return []<class... K>(te::TypeList<K...>) { return te::Extents<K...>{}; }(Kept{});
}
} // namespace detail

// R over the axes in Reduced (e.g. AxisList<0, 2>) of an input with extents `extents`.
template <Reduction R, class Reduced, bool KeepDims = true, Element T = float, Name Out = "Y", class... Es>
auto reduce_axes(te::Extents<Es...> extents) {
  constexpr std::size_t rank = sizeof...(Es);
  static_assert(Reduced::size > 0, "kiln::kernels::reduce_axes: name at least one axis");
  constexpr auto X = te::placeholder<T, "X">(Es{}...);
  const auto out = detail::reduced_extents<Reduced, KeepDims>(extents, std::make_index_sequence<rank>{});
  // One reduction axis per reduced input axis.
  const auto raxes = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return te::concat_t<std::conditional_t<Reduced::contains(I),
                                           te::TypeList<te::ReduceAxis<detail::reduce_axis_name<Reduced::rank_of(I)>(),
                                                                       std::tuple_element_t<I, std::tuple<Es...>>>>,
                                           te::TypeList<>>...>{};
  }(std::make_index_sequence<rank>{});
  // The count a mean divides by: the product of the reduced extents.
  const auto count = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (te::cast<T>(te::Const<std::int64_t>(1)) * ... *
            [&] {
              if constexpr (Reduced::contains(I)) return te::cast<T>(te::extent_of(std::tuple_element_t<I, std::tuple<Es...>>{}));
              else return te::cast<T>(te::Const<std::int64_t>(1));
            }());
  }(std::make_index_sequence<rank>{});
  return te::compute<Out>(out, [=](auto... vars) {
    const auto v = std::make_tuple(vars...);
    // Input index for axis I: its reduction variable, or the output variable it maps to.
    const auto index = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
      using Axes = std::remove_const_t<decltype(raxes)>;
      if constexpr (Reduced::contains(I)) {
        return std::tuple_element_t<Reduced::rank_of(I), typename te::tuple_of<Axes>::type>{};
      } else {
        constexpr std::size_t out_axis = KeepDims ? I : I - Reduced::rank_of(I);
        return std::get<out_axis>(v);
      }
    };
    const auto value = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return X(index(std::integral_constant<std::size_t, I>{})...);
    }(std::make_index_sequence<rank>{});
    return [&]<class... RA>(te::TypeList<RA...>) {
      if constexpr (R == Reduction::sum) return te::sum(value, RA{}...);
      else if constexpr (R == Reduction::mean) return te::sum(value / count, RA{}...);
      else if constexpr (R == Reduction::max) return te::max(value, RA{}...);
      else if constexpr (R == Reduction::min) return te::min(value, RA{}...);
      else return te::prod(value, RA{}...);
    }(raxes);
  });
}

} // namespace kiln::kernels
