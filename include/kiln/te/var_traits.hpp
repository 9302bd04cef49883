// kiln/te/var_traits.hpp: which loop variables an expression reads, read off its type. The CPU
// backend uses it to decide how a statement vectorizes; the kernel level to match tensor
// intrinsics and to bound the regions of compute_at.
#pragma once

#include <type_traits>

#include "../core/name.hpp"
#include "expr.hpp"
#include "tensor.hpp"

namespace kiln::te {

// Whether E is a loop variable (a spatial or reduction axis), and its name.
template <class E> struct var_name { static constexpr bool is_var = false; };
template <Name N> struct var_name<Var<N>> {
  static constexpr bool is_var = true;
  static constexpr Name name = N;
};
template <Name N, class X> struct var_name<SpatialAxis<N, X>> : var_name<Var<N>> {};
template <Name N, class X> struct var_name<ReduceAxis<N, X>> : var_name<Var<N>> {};

namespace detail {
// Whether E reads a loop variable whose name Match accepts.
template <class E, class Match> struct reads_matching : std::false_type {};
template <Name N, class Match> struct reads_matching<Var<N>, Match> : std::bool_constant<Match::template accepts<N>> {};
template <Name N, class X, class Match> struct reads_matching<SpatialAxis<N, X>, Match> : reads_matching<Var<N>, Match> {};
template <Name N, class X, class Match> struct reads_matching<ReduceAxis<N, X>, Match> : reads_matching<Var<N>, Match> {};
template <class Op, class L, class R, class Match>
struct reads_matching<Binary<Op, L, R>, Match>
    : std::bool_constant<reads_matching<L, Match>::value || reads_matching<R, Match>::value> {};
template <class Op, class X, class Match> struct reads_matching<Unary<Op, X>, Match> : reads_matching<X, Match> {};
template <class T, class X, class Match> struct reads_matching<Cast<T, X>, Match> : reads_matching<X, Match> {};
template <class C, class T, class F, bool L, class Match>
struct reads_matching<Select<C, T, F, L>, Match>
    : std::bool_constant<reads_matching<C, Match>::value || reads_matching<T, Match>::value ||
                         reads_matching<F, Match>::value> {};
template <class P, class... Idx, class Match>
struct reads_matching<Load<P, Idx...>, Match> : std::bool_constant<(reads_matching<Idx, Match>::value || ...)> {};
template <class C, class... Idx, class Match>
struct reads_matching<StageLoad<C, Idx...>, Match> : std::bool_constant<(reads_matching<Idx, Match>::value || ...)> {};

template <Name A> struct named {
  template <Name N> static constexpr bool accepts = N == A;
};
struct any_name {
  template <Name N> static constexpr bool accepts = true;
};
} // namespace detail

// Whether E reads loop variable A.
template <class E, Name A>
inline constexpr bool reads_var_v = detail::reads_matching<E, detail::named<A>>::value;
// Whether E reads any loop variable.
template <class E>
inline constexpr bool reads_any_var_v = detail::reads_matching<E, detail::any_name>::value;

} // namespace kiln::te
