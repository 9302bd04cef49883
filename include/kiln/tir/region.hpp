// kiln/tir/region.hpp: the region of a producer that a consumer reads, by interval
// arithmetic. compute_at runs a producer inside a consumer's loop over just the elements
// that one iteration of the loop reads: the consumer's axes there are intervals (the loops
// outside are fixed, the ones inside range over their extents), and each index expression
// of a read of the producer maps them to an interval of the producer's axis.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/name.hpp"
#include "../te/expr.hpp"
#include "../te/tensor.hpp"
#include "../te/var_traits.hpp"

namespace kiln::tir {

struct Interval {
  std::int64_t lo = std::numeric_limits<std::int64_t>::max();
  std::int64_t hi = std::numeric_limits<std::int64_t>::min();

  static constexpr Interval point(std::int64_t v) noexcept { return {v, v}; }
  // Far enough from the limits that the arithmetic below cannot overflow; clamped later.
  static constexpr Interval unbounded() noexcept { return {-(std::int64_t{1} << 40), std::int64_t{1} << 40}; }
  constexpr bool empty() const noexcept { return lo > hi; }
  constexpr void unite(const Interval& o) noexcept {
    lo = std::min(lo, o.lo);
    hi = std::max(hi, o.hi);
  }
  constexpr Interval clamped(std::int64_t first, std::int64_t last) const noexcept {
    return {std::max(lo, first), std::min(hi, last)};
  }
};

// Arithmetic that would overflow gives up: the result is unbounded (and clamped later).
constexpr Interval operator+(Interval a, Interval b) noexcept {
  Interval r;
  if (__builtin_add_overflow(a.lo, b.lo, &r.lo) || __builtin_add_overflow(a.hi, b.hi, &r.hi)) return Interval::unbounded();
  return r;
}
constexpr Interval operator-(Interval a, Interval b) noexcept {
  Interval r;
  if (__builtin_sub_overflow(a.lo, b.hi, &r.lo) || __builtin_sub_overflow(a.hi, b.lo, &r.hi)) return Interval::unbounded();
  return r;
}
constexpr Interval operator*(Interval a, Interval b) noexcept {
  std::int64_t p[4] = {};
  if (__builtin_mul_overflow(a.lo, b.lo, &p[0]) || __builtin_mul_overflow(a.lo, b.hi, &p[1]) ||
      __builtin_mul_overflow(a.hi, b.lo, &p[2]) || __builtin_mul_overflow(a.hi, b.hi, &p[3]))
    return Interval::unbounded();
  return {*std::min_element(p, p + 4), *std::max_element(p, p + 4)};
}
constexpr Interval min(Interval a, Interval b) noexcept { return {std::min(a.lo, b.lo), std::min(a.hi, b.hi)}; }
constexpr Interval max(Interval a, Interval b) noexcept { return {std::max(a.lo, b.lo), std::max(a.hi, b.hi)}; }
// Division and remainder rounding towards negative infinity, by a positive constant divisor
// (anything else is unbounded).
constexpr Interval floordiv(Interval a, Interval b) noexcept {
  if (b.lo != b.hi || b.lo <= 0) return Interval::unbounded();
  return {te::op::floordiv::apply(a.lo, b.lo), te::op::floordiv::apply(a.hi, b.lo)};
}
constexpr Interval floormod(Interval a, Interval b) noexcept {
  if (b.lo != b.hi || b.lo <= 0) return Interval::unbounded();
  const std::int64_t d = b.lo;
  if (te::op::floordiv::apply(a.lo, d) != te::op::floordiv::apply(a.hi, d)) return {0, d - 1};
  return {te::op::floormod::apply(a.lo, d), te::op::floormod::apply(a.hi, d)};
}

// The interval of an integer index expression. `axis(name)` gives a variable's interval;
// subexpressions without variables are evaluated in `env`. What interval arithmetic cannot
// bound (a select, a cast, a load) is unbounded, and the caller clamps it to the tensor.
template <class E, class AxisFn, class Env>
constexpr Interval bounds(const E& e, const AxisFn& axis, const Env& env) noexcept {
  if constexpr (!te::reads_any_var_v<E>) {
    if constexpr (std::is_integral_v<typename E::value_type>) return Interval::point(static_cast<std::int64_t>(e.eval(env)));
    else return Interval::unbounded();
  } else if constexpr (te::var_name<E>::is_var) {
    return axis(te::var_name<E>::name);
  } else if constexpr (requires { e.lhs; e.rhs; typename E::op_type; }) {
    using Op = typename E::op_type;
    const Interval a = bounds(e.lhs, axis, env), b = bounds(e.rhs, axis, env);
    if constexpr (std::is_same_v<Op, te::op::add>) return a + b;
    else if constexpr (std::is_same_v<Op, te::op::sub>) return a - b;
    else if constexpr (std::is_same_v<Op, te::op::mul>) return a * b;
    else if constexpr (std::is_same_v<Op, te::op::minimum>) return min(a, b);
    else if constexpr (std::is_same_v<Op, te::op::maximum>) return max(a, b);
    else if constexpr (std::is_same_v<Op, te::op::floordiv>) return floordiv(a, b);
    else if constexpr (std::is_same_v<Op, te::op::floormod>) return floormod(a, b);
    else return Interval::unbounded();
  } else {
    return Interval::unbounded();
  }
}

// Unites into region[0..rank) the intervals of every read of stage Producer in `e`.
template <Name Producer, class E, class AxisFn, class Env>
constexpr void read_region(const E& e, const AxisFn& axis, const Env& env, Interval* region) noexcept {
  if constexpr (requires { typename E::stage_type; }) {
    if constexpr (E::stage_type::name == Producer) {
      std::size_t q = 0;
      std::apply([&](const auto&... idx) { (region[q++].unite(bounds(idx, axis, env)), ...); }, e.indices);
    }
    std::apply([&](const auto&... idx) { (read_region<Producer>(idx, axis, env, region), ...); }, e.indices);
  } else if constexpr (requires { typename E::placeholder_type; }) {
    std::apply([&](const auto&... idx) { (read_region<Producer>(idx, axis, env, region), ...); }, e.indices);
  } else if constexpr (requires { e.lhs; e.rhs; }) {
    read_region<Producer>(e.lhs, axis, env, region);
    read_region<Producer>(e.rhs, axis, env, region);
  } else if constexpr (requires { e.cond; }) {
    read_region<Producer>(e.cond, axis, env, region);
    read_region<Producer>(e.if_true, axis, env, region);
    read_region<Producer>(e.if_false, axis, env, region);
  } else if constexpr (requires { e.arg; }) {
    read_region<Producer>(e.arg, axis, env, region);
  } else if constexpr (te::is_reduce<E>::value) {
    read_region<Producer>(e.body, axis, env, region);
  }
}

} // namespace kiln::tir
