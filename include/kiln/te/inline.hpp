// kiln/te/inline.hpp: rewriting expressions. compute_inline replaces each read of an inlined
// stage by that stage's body with its axes bound to the read's indices; reverse_compute_inline
// turns a consumer's body into an epilogue of its producer. Both happen on expression types at
// compile time, so the result evaluates, vectorizes and prints like any other expression.
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/name.hpp"
#include "expr.hpp"
#include "tensor.hpp"

namespace kiln::te {

// A set of stage names, usable as a template argument.
struct NameSet {
  Name names[8] = {};
  int count = 0;
  constexpr bool contains(const Name& n) const noexcept {
    for (int i = 0; i < count; ++i)
      if (names[i] == n) return true;
    return false;
  }
};

// The value the producer stage computed, seen from its consumer's epilogue.
template <class Producer>
struct EpilogueValue : ExprBase {
  using value_type = typename Producer::value_type;
  using producer_type = Producer;
  using T = value_type;
  template <class Env>
  constexpr T eval(const Env& env) const noexcept {
    return static_cast<T>(env.epilogue_value());
  }
};

// ---- substitution of loop variables ----------------------------------------------------------
// Names -> index expressions.
template <class Values, Name... Ns>
struct Substitution {
  Values values;  // std::tuple of expressions, one per name
  template <Name N>
  static constexpr int find() noexcept {
    constexpr Name names[] = {Ns..., Name()};
    for (int i = 0; i < static_cast<int>(sizeof...(Ns)); ++i)
      if (names[i] == N) return i;
    return -1;
  }
};

template <class E, class S> constexpr auto substitute(const E& e, const S& s) noexcept;

namespace detail {
template <Name N, class E, class S>
constexpr auto substitute_var(const E& e, const S& s) noexcept {
  constexpr int at = S::template find<N>();
  if constexpr (at >= 0) return std::get<at>(s.values);
  else return e;
}
template <class Tuple, class S>
constexpr auto substitute_all(const Tuple& t, const S& s) noexcept {
  return std::apply([&](const auto&... x) { return std::make_tuple(substitute(x, s)...); }, t);
}
} // namespace detail

template <class E, class S>
constexpr auto substitute(const E& e, const S& s) noexcept {
  if constexpr (requires { E::is_reduction_axis; }) {
    return detail::substitute_var<E::name>(e, s);
  } else if constexpr (requires { typename E::extent_type; E::name; }) {  // SpatialAxis
    return detail::substitute_var<E::name>(e, s);
  } else if constexpr (requires { E::name; requires std::is_same_v<E, Var<E::name>>; }) {
    return detail::substitute_var<E::name>(e, s);
  } else {
    return substitute_node(e, s);
  }
}

template <class U, class S>
constexpr auto substitute_node(const Const<U>& c, const S&) noexcept { return c; }
template <std::int64_t V, class S>
constexpr auto substitute_node(const StaticConst<V>& c, const S&) noexcept { return c; }
template <class P, class S>
constexpr auto substitute_node(const EpilogueValue<P>& v, const S&) noexcept { return v; }
template <Name N, class S>
constexpr auto substitute_node(const ExtentValue<N>& v, const S&) noexcept { return v; }
template <class P, class... Idx, class S>
constexpr auto substitute_node(const Load<P, Idx...>& l, const S& s) noexcept {
  auto idx = detail::substitute_all(l.indices, s);
  return std::apply([](auto... i) { return Load<P, decltype(i)...>{{}, std::make_tuple(i...)}; }, idx);
}
template <class C, class... Idx, class S>
constexpr auto substitute_node(const StageLoad<C, Idx...>& l, const S& s) noexcept {
  auto idx = detail::substitute_all(l.indices, s);
  return std::apply([&](auto... i) { return StageLoad<C, decltype(i)...>{{}, l.source, std::make_tuple(i...)}; }, idx);
}
template <class Op, class L, class R, class S>
constexpr auto substitute_node(const Binary<Op, L, R>& b, const S& s) noexcept {
  auto l = substitute(b.lhs, s);
  auto r = substitute(b.rhs, s);
  return Binary<Op, decltype(l), decltype(r)>(l, r);
}
template <class Op, class A, class S>
constexpr auto substitute_node(const Unary<Op, A>& u, const S& s) noexcept {
  auto a = substitute(u.arg, s);
  return Unary<Op, decltype(a)>(a);
}
template <class C, class T, class F, bool Lazy, class S>
constexpr auto substitute_node(const Select<C, T, F, Lazy>& e, const S& s) noexcept {
  auto c = substitute(e.cond, s);
  auto t = substitute(e.if_true, s);
  auto f = substitute(e.if_false, s);
  return Select<decltype(c), decltype(t), decltype(f), Lazy>{{}, c, t, f};
}
template <class T, class A, class S>
constexpr auto substitute_node(const Cast<T, A>& e, const S& s) noexcept {
  auto a = substitute(e.arg, s);
  return Cast<T, decltype(a)>{{}, a};
}
template <class R, class B, class... A, class S>
constexpr auto substitute_node(const Reduce<R, B, A...>& e, const S& s) noexcept {
  auto b = substitute(e.body, s);
  return Reduce<R, decltype(b), A...>{{}, b};
}

// Binds a compute's spatial axes, in order, to index expressions.
template <class... Spatial, class... Idx>
constexpr auto bind_axes(TypeList<Spatial...>, const std::tuple<Idx...>& indices) noexcept {
  return Substitution<std::tuple<Idx...>, Spatial::name...>{indices};
}

template <class Op, class A, class NewA>
constexpr auto substitute_node_rewrap(const Unary<Op, A>&, const NewA& a) noexcept {
  return Unary<Op, NewA>(a);
}
template <class T, class A, class NewA>
constexpr auto substitute_node_rewrap(const Cast<T, A>&, const NewA& a) noexcept {
  return Cast<T, NewA>{{}, a};
}
template <class R, class B, class... A, class NewB>
constexpr auto rewrap_reduce(const Reduce<R, B, A...>&, const NewB& b) noexcept {
  return Reduce<R, NewB, A...>{{}, b};
}

// ---- compute_inline ---------------------------------------------------------------------
// Replaces every read of a stage named in Inlined by that stage's body at the read's indices,
// repeatedly, so chains of inlined stages collapse into one expression.
template <NameSet Inlined, class E>
constexpr auto inline_stages(const E& e) noexcept;

namespace detail {
template <NameSet Inlined>
struct Inliner {
  template <class E>
  constexpr auto operator()(const E& e) const noexcept {
    return inline_stages<Inlined>(e);
  }
};
} // namespace detail

template <NameSet Inlined, class E>
constexpr auto inline_stages(const E& e) noexcept {
  constexpr detail::Inliner<Inlined> recurse;
  if constexpr (requires { typename E::stage_type; }) {  // StageLoad
    auto idx = std::apply([&](const auto&... i) { return std::make_tuple(recurse(i)...); }, e.indices);
    using C = typename E::stage_type;
    if constexpr (Inlined.contains(C::name)) {
      return recurse(substitute(e.source.body, bind_axes(typename C::spatial_axes{}, idx)));
    } else {
      return std::apply([&](auto... i) { return StageLoad<C, decltype(i)...>{{}, e.source, std::make_tuple(i...)}; },
                        idx);
    }
  } else if constexpr (requires { typename E::placeholder_type; }) {  // Load
    auto idx = std::apply([&](const auto&... i) { return std::make_tuple(recurse(i)...); }, e.indices);
    return std::apply([](auto... i) { return Load<typename E::placeholder_type, decltype(i)...>{{}, std::make_tuple(i...)}; },
                      idx);
  } else if constexpr (requires { e.lhs; e.rhs; }) {
    using Op = typename E::op_type;
    auto l = recurse(e.lhs);
    auto r = recurse(e.rhs);
    return Binary<Op, decltype(l), decltype(r)>(l, r);
  } else if constexpr (requires { e.arg; typename E::value_type; } && !requires { e.cond; }) {
    return substitute_node_rewrap(e, recurse(e.arg));
  } else if constexpr (requires { e.cond; }) {
    auto c = recurse(e.cond);
    auto t = recurse(e.if_true);
    auto f = recurse(e.if_false);
    return Select<decltype(c), decltype(t), decltype(f), E::lazy>{{}, c, t, f};
  } else if constexpr (is_reduce<E>::value) {
    auto b = recurse(e.body);
    return rewrap_reduce(e, b);
  } else {
    return e;  // variables, constants, epilogue values
  }
}

// ---- reverse_compute_inline -------------------------------------------------------------
// The consumer's body as an epilogue of the producer named P: reads of P become the value the
// producer computed, and the consumer's axes become the producer's.
template <Name P, class E>
constexpr auto replace_with_epilogue_value(const E& e) noexcept {
  if constexpr (requires { typename E::stage_type; }) {
    if constexpr (E::stage_type::name == P) return EpilogueValue<typename E::stage_type>{};
    else return e;
  } else if constexpr (requires { e.lhs; e.rhs; }) {
    using Op = typename E::op_type;
    auto l = replace_with_epilogue_value<P>(e.lhs);
    auto r = replace_with_epilogue_value<P>(e.rhs);
    return Binary<Op, decltype(l), decltype(r)>(l, r);
  } else if constexpr (requires { e.cond; }) {
    auto c = replace_with_epilogue_value<P>(e.cond);
    auto t = replace_with_epilogue_value<P>(e.if_true);
    auto f = replace_with_epilogue_value<P>(e.if_false);
    return Select<decltype(c), decltype(t), decltype(f), E::lazy>{{}, c, t, f};
  } else if constexpr (requires { e.arg; }) {
    return substitute_node_rewrap(e, replace_with_epilogue_value<P>(e.arg));
  } else {
    return e;  // loads of other tensors keep their indices, which the caller rebinds
  }
}

template <class Producer, class Body, class... ConsumerAxes, class... ProducerAxes>
constexpr auto make_epilogue_impl(const Body& consumer_body, TypeList<ConsumerAxes...>, TypeList<ProducerAxes...>) noexcept {
  auto body = replace_with_epilogue_value<Producer::name>(consumer_body);
  Substitution<std::tuple<Var<ProducerAxes::name>...>, ConsumerAxes::name...> rename{
      std::make_tuple(Var<ProducerAxes::name>{}...)};
  return substitute(body, rename);
}

// `consumer_body` is the consumer's body (possibly after inlining other stages into it).
template <class Producer, class Consumer, class Body>
constexpr auto make_epilogue(const Body& consumer_body) noexcept {
  return make_epilogue_impl<Producer>(consumer_body, typename Consumer::spatial_axes{},
                                      typename Producer::spatial_axes{});
}

// ---- finding a stage's compute in the expression tree -----------------------------------------
template <Name N, class E>
constexpr void find_stage(const E& e, auto& out) noexcept {
  if constexpr (requires { typename E::stage_type; }) {
    if constexpr (E::stage_type::name == N) {
      if (!out) out.emplace(e.source);
    } else {
      find_stage<N>(e.source.body, out);
    }
    std::apply([&](const auto&... i) { (find_stage<N>(i, out), ...); }, e.indices);
  } else if constexpr (requires { typename E::placeholder_type; }) {
    std::apply([&](const auto&... i) { (find_stage<N>(i, out), ...); }, e.indices);
  } else if constexpr (requires { e.lhs; e.rhs; }) {
    find_stage<N>(e.lhs, out);
    find_stage<N>(e.rhs, out);
  } else if constexpr (requires { e.cond; }) {
    find_stage<N>(e.cond, out);
    find_stage<N>(e.if_true, out);
    find_stage<N>(e.if_false, out);
  } else if constexpr (requires { e.arg; }) {
    find_stage<N>(e.arg, out);
  } else if constexpr (is_reduce<E>::value) {
    find_stage<N>(e.body, out);
  }
}

// The compute object of stage S of the kernel that `last` ends.
template <class S, class Last>
constexpr S stage_object(const Last& last) noexcept {
  if constexpr (std::is_same_v<S, Last>) {
    return last;
  } else {
    std::optional<S> out;
    find_stage<S::name>(last.body, out);
    return *out;
  }
}

} // namespace kiln::te
