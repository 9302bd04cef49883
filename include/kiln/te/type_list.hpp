// kiln/te/type_list.hpp: the small type-list toolkit the tensor-expression layer uses to
// collect placeholders and axes from expression types.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

#include "../core/name.hpp"

namespace kiln::te {

template <class... Ts>
struct TypeList {
  static constexpr std::size_t size = sizeof...(Ts);
};

namespace detail {
template <class A, class B> struct concat;
template <class... As, class... Bs>
struct concat<TypeList<As...>, TypeList<Bs...>> {
  using type = TypeList<As..., Bs...>;
};

// Appends T unless an element with the same `name` is already there.
template <class List, class T> struct append_unique_by_name;
template <class... Ts, class T>
struct append_unique_by_name<TypeList<Ts...>, T> {
  using type = std::conditional_t<((Ts::name == T::name) || ...), TypeList<Ts...>, TypeList<Ts..., T>>;
};

template <class Acc, class List> struct unique_by_name_impl;
template <class Acc>
struct unique_by_name_impl<Acc, TypeList<>> {
  using type = Acc;
};
template <class Acc, class T, class... Rest>
struct unique_by_name_impl<Acc, TypeList<T, Rest...>> {
  using type = typename unique_by_name_impl<typename append_unique_by_name<Acc, T>::type, TypeList<Rest...>>::type;
};
} // namespace detail

template <class... Lists> struct concat_lists;
template <> struct concat_lists<> { using type = TypeList<>; };
template <class L> struct concat_lists<L> { using type = L; };
template <class L1, class L2, class... Rest>
struct concat_lists<L1, L2, Rest...> {
  using type = typename concat_lists<typename detail::concat<L1, L2>::type, Rest...>::type;
};
template <class... Lists>
using concat_t = typename concat_lists<Lists...>::type;

// Keeps the first element of each name, in order.
template <class List>
using unique_by_name_t = typename detail::unique_by_name_impl<TypeList<>, List>::type;

template <class List> struct tuple_of;
template <class... Ts> struct tuple_of<TypeList<Ts...>> { using type = std::tuple<Ts...>; };

// The position of the first element named N (the size when there is none).
template <class List, Name N> struct index_by_name;
template <class... Ps, Name N>
struct index_by_name<TypeList<Ps...>, N> {
  static constexpr std::size_t value = [] {
    constexpr bool match[] = {(Ps::name == N)..., false};
    std::size_t i = 0;
    while (i < sizeof...(Ps) && !match[i]) ++i;
    return i;
  }();
};

} // namespace kiln::te
