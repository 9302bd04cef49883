// kiln/kernels/elementwise.hpp: elementwise operations with NumPy broadcasting over inputs of
// any rank. Shapes are aligned on their last axis; an input axis of static extent 1 (or a
// missing leading axis) is broadcast; other extents must agree and give the output's.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../te/tensor.hpp"

namespace kiln::kernels {

namespace detail {
template <class E> inline constexpr bool is_one_v = std::is_same_v<E, Int<1>>;

// Extent I (counted from the left of the output) of an input of rank R inside an output of
// rank `Out`: Int<1> where the input has no such axis.
template <std::size_t I, std::size_t Out, class... Es>
struct aligned_extent {
  static constexpr std::size_t rank = sizeof...(Es);
  using type = std::conditional_t<(I + rank < Out), Int<1>,
                                  std::tuple_element_t<(I + rank >= Out ? I + rank - Out : 0), std::tuple<Es..., Int<1>>>>;
};

template <class A, class B>
struct broadcast_extent {
  static_assert(is_one_v<A> || is_one_v<B> || std::is_same_v<A, B>,
                "kiln::kernels: broadcast extents must be equal, or one of them Int<1>");
  using type = std::conditional_t<is_one_v<A>, B, A>;
};

// The index an input of extents Es uses for the output variables `vars`.
template <class... Es, class Vars, std::size_t... I>
constexpr auto input_indices(te::Extents<Es...>, const Vars& vars, std::index_sequence<I...>) noexcept {
  constexpr std::size_t out = std::tuple_size_v<Vars>;
  constexpr std::size_t rank = sizeof...(Es);
  return std::make_tuple([&] {
    using E = std::tuple_element_t<I, std::tuple<Es...>>;
    if constexpr (is_one_v<E>) return te::Const<std::int64_t>(0);
    else return std::get<I + out - rank>(vars);
  }()...);
}

template <class P, class Vars>
constexpr auto read(const P& p, const Vars& vars) noexcept {
  auto idx = input_indices(typename P::extents_type{}, vars, std::make_index_sequence<P::rank>{});
  return std::apply([&](auto... i) { return p(i...); }, idx);
}

template <std::size_t Out, class EA, class EB, std::size_t... I>
auto broadcast_extents(EA, EB, std::index_sequence<I...>) {
  return [&]<class... As, class... Bs>(te::Extents<As...>, te::Extents<Bs...>) {
    return te::Extents<typename broadcast_extent<typename aligned_extent<I, Out, As...>::type,
                                                 typename aligned_extent<I, Out, Bs...>::type>::type...>{};
  }(EA{}, EB{});
}
} // namespace detail

// Out[i...] = fn(A[...], B[...]) with A named "A" and B named "B", broadcast against each other.
template <Element T = float, Name Out = "Y", class... EA, class... EB, class Fn>
auto broadcast_binary(te::Extents<EA...> a_extents, te::Extents<EB...> b_extents, Fn fn) {
  constexpr std::size_t rank = sizeof...(EA) > sizeof...(EB) ? sizeof...(EA) : sizeof...(EB);
  constexpr auto A = te::placeholder<T, "A">(EA{}...);
  constexpr auto B = te::placeholder<T, "B">(EB{}...);
  const auto out = detail::broadcast_extents<rank>(a_extents, b_extents, std::make_index_sequence<rank>{});
  return te::compute<Out>(out, [=](auto... vars) {
    const auto v = std::make_tuple(vars...);
    return fn(detail::read(A, v), detail::read(B, v));
  });
}

// Out[i...] = fn(X[i...]) for an input "X" of any rank.
template <Element T = float, Name Out = "Y", class... E, class Fn>
auto unary(te::Extents<E...> extents, Fn fn) {
  constexpr auto X = te::placeholder<T, "X">(E{}...);
  return te::compute<Out>(extents, [=](auto... vars) { return fn(X(vars...)); });
}

} // namespace kiln::kernels
