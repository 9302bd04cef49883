// kiln/te/tensor.hpp: placeholders (kernel inputs), symbolic extents, reduction axes and
// compute (a tensor defined element by element), the algorithm half of a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/extent.hpp"
#include "../core/name.hpp"
#include "expr.hpp"
#include "symbolic_extent.hpp"
#include "type_list.hpp"

namespace kiln::te {

// ---- extents ----------------------------------------------------------------------------
// Static (Int<N>), named (dim<"m">) or derived from those (te/symbolic_extent.hpp).
template <TeExtent... Es>
struct Extents {
  static constexpr std::size_t rank = sizeof...(Es);
};
template <TeExtent... Es>
constexpr Extents<Es...> extents(Es...) noexcept {
  return {};
}

// ---- placeholders and loads -------------------------------------------------------------
template <class P, Expr... Idx>
struct Load;
template <class C, Expr... Idx>
struct StageLoad;

// A kernel input of element type T named N with the given extents.
template <Element T, Name N, TeExtent... Es>
struct Placeholder {
  using value_type = T;
  using extents_type = Extents<Es...>;
  static constexpr Name name = N;
  static constexpr std::size_t rank = sizeof...(Es);

  template <class... Idx>
  constexpr auto operator()(Idx... idx) const noexcept {
    static_assert(sizeof...(Idx) == rank, "te: a placeholder is indexed with as many indices as its rank");
    static_assert(((Expr<Idx> || std::is_integral_v<Idx>) && ...), "te: placeholder indices must be integer expressions");
    return Load<Placeholder, as_expr_t<Idx>...>{{}, std::tuple<as_expr_t<Idx>...>(as_expr(idx)...)};
  }
};

template <Element T, Name N, TeExtent... Es>
constexpr Placeholder<T, N, Es...> placeholder(Es...) noexcept {
  return {};
}

template <class P, Expr... Idx>
struct Load : ExprBase {
  using value_type = typename P::value_type;
  using placeholder_type = P;
  std::tuple<Idx...> indices;

  template <class Env>
  constexpr value_type eval(const Env& env) const noexcept {
    return std::apply([&](const auto&... idx) { return env.template load<P>(idx.eval(env)...); }, indices);
  }
};

// ---- reductions ----------------------------------------------------------------------------
// A reduction axis: a loop variable with its own extent, usable in index expressions.
template <Name N, TeExtent E>
struct ReduceAxis : Var<N> {
  using extent_type = E;
  static constexpr bool is_reduction_axis = true;
};
template <Name N, TeExtent E>
constexpr ReduceAxis<N, E> reduce_axis(E) noexcept {
  return {};
}

template <class T> struct is_reduce_axis : std::false_type {};
template <Name N, class E> struct is_reduce_axis<ReduceAxis<N, E>> : std::true_type {};
template <class T>
concept ReductionAxis = is_reduce_axis<std::remove_cvref_t<T>>::value;

namespace reducer {
struct sum {
  static constexpr const char* name = "sum";
  template <class T> static constexpr T identity() noexcept { return T(0); }
  template <class T> static constexpr T combine(T a, T b) noexcept { return a + b; }
};
struct prod {
  static constexpr const char* name = "prod";
  template <class T> static constexpr T identity() noexcept { return T(1); }
  template <class T> static constexpr T combine(T a, T b) noexcept { return a * b; }
};
struct max {
  static constexpr const char* name = "max";
  template <class T> static constexpr T identity() noexcept { return std::numeric_limits<T>::lowest(); }
  template <class T> static constexpr T combine(T a, T b) noexcept { return a < b ? b : a; }
};
struct min {
  static constexpr const char* name = "min";
  template <class T> static constexpr T identity() noexcept { return std::numeric_limits<T>::max(); }
  template <class T> static constexpr T combine(T a, T b) noexcept { return b < a ? b : a; }
};
} // namespace reducer

template <class R, Expr Body, class... Axes>
struct Reduce : ExprBase {
  using value_type = compute_type_t<typename Body::value_type>;
  using reducer_type = R;
  using expr_type = Body;
  using axes = TypeList<Axes...>;
  Body body;
};

template <class T> struct is_reduce : std::false_type {};
template <class R, class B, class... A> struct is_reduce<Reduce<R, B, A...>> : std::true_type {};

// The reduction axes of a compute body (none unless it is a Reduce).
template <class T> struct reduce_axes_of { using type = TypeList<>; };
template <class R, class B, class... A> struct reduce_axes_of<Reduce<R, B, A...>> { using type = TypeList<A...>; };

// sum(body, k), max(body, k1, k2), ...: a reduction of body over its reduction axes.
#define KILN_TE_REDUCTION(NAME)                                                       \
  template <Expr Body, ReductionAxis... Axes>                                         \
    requires(sizeof...(Axes) > 0)                                                     \
  constexpr auto NAME(Body body, Axes...) noexcept {                                  \
    return Reduce<reducer::NAME, Body, Axes...>{{}, body};                            \
  }
KILN_TE_REDUCTION(sum)
KILN_TE_REDUCTION(prod)
KILN_TE_REDUCTION(max)
KILN_TE_REDUCTION(min)
#undef KILN_TE_REDUCTION

// ---- what an expression reads --------------------------------------------------------------
template <class E> struct placeholders_of { using type = TypeList<>; };
template <class P, class... Idx>
struct placeholders_of<Load<P, Idx...>> {
  using type = concat_t<TypeList<P>, typename placeholders_of<Idx>::type...>;
};
template <class Op, class L, class R>
struct placeholders_of<Binary<Op, L, R>> {
  using type = concat_t<typename placeholders_of<L>::type, typename placeholders_of<R>::type>;
};
template <class Op, class A>
struct placeholders_of<Unary<Op, A>> { using type = typename placeholders_of<A>::type; };
template <class C, class T, class F, bool L>
struct placeholders_of<Select<C, T, F, L>> {
  using type = concat_t<typename placeholders_of<C>::type, typename placeholders_of<T>::type,
                        typename placeholders_of<F>::type>;
};
template <class T, class A>
struct placeholders_of<Cast<T, A>> { using type = typename placeholders_of<A>::type; };
template <class R, class B, class... A>
struct placeholders_of<Reduce<R, B, A...>> { using type = typename placeholders_of<B>::type; };
template <class C, class... Idx>
struct placeholders_of<StageLoad<C, Idx...>> {
  using type = concat_t<typename placeholders_of<Idx>::type...>;
};

// The computes an expression reads directly.
template <class E> struct stages_read { using type = TypeList<>; };
template <class P, class... Idx>
struct stages_read<Load<P, Idx...>> { using type = concat_t<typename stages_read<Idx>::type...>; };
template <class C, class... Idx>
struct stages_read<StageLoad<C, Idx...>> {
  using type = concat_t<TypeList<C>, typename stages_read<Idx>::type...>;
};
template <class Op, class L, class R>
struct stages_read<Binary<Op, L, R>> {
  using type = concat_t<typename stages_read<L>::type, typename stages_read<R>::type>;
};
template <class Op, class A>
struct stages_read<Unary<Op, A>> { using type = typename stages_read<A>::type; };
template <class C, class T, class F, bool L>
struct stages_read<Select<C, T, F, L>> {
  using type = concat_t<typename stages_read<C>::type, typename stages_read<T>::type, typename stages_read<F>::type>;
};
template <class T, class A>
struct stages_read<Cast<T, A>> { using type = typename stages_read<A>::type; };
template <class R, class B, class... A>
struct stages_read<Reduce<R, B, A...>> { using type = typename stages_read<B>::type; };

template <class List> struct all_placeholders;
template <class... Cs>
struct all_placeholders<TypeList<Cs...>> {
  using type = concat_t<typename placeholders_of<typename Cs::body_type>::type...>;
};

// ---- compute ----------------------------------------------------------------------------
// A spatial axis of a compute: its loop variable's name and extent.
template <Name N, TeExtent E>
struct SpatialAxis : Var<N> {
  using extent_type = E;
};

namespace detail {
template <std::size_t I>
constexpr Name default_axis_name() noexcept {
  Name n("i");
  return n + std::string_view(&"0123456789"[I % 10], 1);
}
} // namespace detail

// The tensor `N` whose element at the spatial axes' values is `body` there. A compute can
// read other computes (its producers): together they are the stages of one kernel.
template <Name N, class SpatialAxes, Expr Body>
struct Compute;

template <class List> struct all_stages_of;
template <class... Cs>
struct all_stages_of<TypeList<Cs...>> {
  using type = concat_t<typename Cs::stages...>;
};

template <Name N, class... Spatial, Expr Body>
struct Compute<N, TypeList<Spatial...>, Body> {
  static constexpr Name name = N;
  using spatial_axes = TypeList<Spatial...>;
  using extents_type = Extents<typename Spatial::extent_type...>;
  using body_type = Body;
  static constexpr bool is_reduction = is_reduce<Body>::value;
  using reduce_axes = typename reduce_axes_of<Body>::type;
  using value_type = typename Body::value_type;
  static constexpr std::size_t rank = sizeof...(Spatial);
  // Every stage of the kernel this compute ends, producers before consumers, this one last.
  using stages = unique_by_name_t<concat_t<typename all_stages_of<typename stages_read<Body>::type>::type, TypeList<Compute>>>;
  // The kernel's inputs: placeholders in order of first appearance, earlier stages first.
  using inputs = unique_by_name_t<typename all_placeholders<stages>::type>;

  Body body;

  template <class... Idx>
  constexpr auto operator()(Idx... idx) const noexcept {
    static_assert(sizeof...(Idx) == rank, "te: a compute is indexed with as many indices as its rank");
    return StageLoad<Compute, as_expr_t<Idx>...>{{}, *this, std::tuple<as_expr_t<Idx>...>(as_expr(idx)...)};
  }
};

// A read of another compute's element: the producer travels with the expression, so a
// kernel built from the last stage knows every stage.
template <class C, Expr... Idx>
struct StageLoad : ExprBase {
  using value_type = typename C::value_type;
  using stage_type = C;
  C source;
  std::tuple<Idx...> indices;

  template <class Env>
  constexpr value_type eval(const Env& env) const noexcept {
    return std::apply([&](const auto&... idx) { return env.template load_stage<C>(idx.eval(env)...); }, indices);
  }
};

// compute<"C", "i", "j">(extents(m, n), [](auto i, auto j) { return ...; })
// Unnamed axes are called i0, i1, ...
template <Name N, Name... AxisNames, TeExtent... Es, class Fn>
constexpr auto compute(Extents<Es...>, Fn fn) noexcept {
  static_assert(sizeof...(AxisNames) == 0 || sizeof...(AxisNames) == sizeof...(Es),
                "te::compute: name every axis or none");
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    constexpr Name names[] = {AxisNames..., Name()};
    using Axes = TypeList<SpatialAxis<(sizeof...(AxisNames) ? names[I] : detail::default_axis_name<I>()),
                                      std::tuple_element_t<I, std::tuple<Es...>>>...>;
    auto body = as_expr(fn(SpatialAxis<(sizeof...(AxisNames) ? names[I] : detail::default_axis_name<I>()),
                                       std::tuple_element_t<I, std::tuple<Es...>>>{}...));
    return Compute<N, Axes, decltype(body)>{body};
  }(std::index_sequence_for<Es...>{});
}

} // namespace kiln::te
