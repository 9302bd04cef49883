// kiln/tir/rebuild.hpp: rebuilding a kernel's expression stage by stage, the machinery of the
// primitives that add stages (cache_read, cache_write(global), rfactor): every stage read is
// rebuilt bottom-up by an operation that may replace a stage or the loads in one stage.
#pragma once

#include <tuple>
#include <type_traits>

#include "../core/name.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"

namespace kiln::tir {

namespace detail {
// Rebuilds an expression of stage Current, rebuilding every stage it reads with `op` and
// letting `op` replace loads.
template <Name Current, class Op, class E>
constexpr auto rebuild_expr(const E& e, const Op& op) noexcept {
  auto recurse = [&](const auto& x) { return rebuild_expr<Current>(x, op); };
  if constexpr (requires { typename E::stage_type; }) {  // StageLoad
    auto idx = std::apply([&](const auto&... i) { return std::make_tuple(recurse(i)...); }, e.indices);
    auto source = op.compute(e.source);
    auto load = std::apply(
        [&](auto... i) { return te::StageLoad<decltype(source), decltype(i)...>{{}, source, std::make_tuple(i...)}; }, idx);
    return op.template load<Current>(load);
  } else if constexpr (requires { typename E::placeholder_type; }) {  // Load
    auto idx = std::apply([&](const auto&... i) { return std::make_tuple(recurse(i)...); }, e.indices);
    auto load = std::apply(
        [](auto... i) { return te::Load<typename E::placeholder_type, decltype(i)...>{{}, std::make_tuple(i...)}; }, idx);
    return op.template load<Current>(load);
  } else if constexpr (requires { e.lhs; e.rhs; }) {
    auto l = recurse(e.lhs);
    auto r = recurse(e.rhs);
    return te::Binary<typename E::op_type, decltype(l), decltype(r)>(l, r);
  } else if constexpr (requires { e.arg; typename E::value_type; } && !requires { e.cond; }) {
    return te::substitute_node_rewrap(e, recurse(e.arg));
  } else if constexpr (requires { e.cond; }) {
    auto c = recurse(e.cond);
    auto t = recurse(e.if_true);
    auto f = recurse(e.if_false);
    return te::Select<decltype(c), decltype(t), decltype(f), E::lazy>{{}, c, t, f};
  } else if constexpr (te::is_reduce<E>::value) {
    return te::rewrap_reduce(e, recurse(e.body));
  } else {
    return e;
  }
}

template <class C, class Op>
constexpr auto rebuild_compute(const C& c, const Op& op) noexcept {
  auto body = rebuild_expr<C::name>(c.body, op);
  return te::Compute<C::name, typename C::spatial_axes, decltype(body)>{body};
}

} // namespace detail

} // namespace kiln::tir
