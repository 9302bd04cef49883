// kiln/tir/tensorize.hpp: whether a stage's expression has the shape a tensor intrinsic
// computes, read off its type. For the gemm pattern the body must be
//   sum over k of A[.., i, k] * B[.., k, j]   (each operand possibly cast)
// where i and j are the stage's last two spatial axes, k its reduction axis, and the
// leading indices of A and B do not involve i, j or k. Backends use the same matcher to
// find the operands they hand to the intrinsic.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../core/dtype.hpp"
#include "../core/name.hpp"
#include "../te/expr.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "../te/var_traits.hpp"
#include "intrinsic.hpp"
#include "loop_program.hpp"
#include "lower.hpp"

namespace kiln::tir {

namespace detail {
template <class E, Name N>
inline constexpr bool is_var_named = [] {
  if constexpr (te::var_name<E>::is_var) return te::var_name<E>::name == N;
  else return false;
}();

template <Name Row, Name Col, Name I, Name J, Name K, class... Idx>
constexpr bool indices_end_with() noexcept {
  constexpr std::size_t n = sizeof...(Idx);
  if constexpr (n < 2) {
    return false;
  } else {
    constexpr bool row[] = {is_var_named<Idx, Row>...};
    constexpr bool col[] = {is_var_named<Idx, Col>...};
    constexpr bool free[] = {!(te::reads_var_v<Idx, I> || te::reads_var_v<Idx, J> || te::reads_var_v<Idx, K>)...};
    if (!row[n - 2] || !col[n - 1]) return false;
    for (std::size_t q = 0; q + 2 < n; ++q)
      if (!free[q]) return false;
    return true;
  }
}

// A load whose last two indices are Row and Col and whose others do not involve I, J, K.
template <class L, Name Row, Name Col, Name I, Name J, Name K> struct load_ends_with : std::false_type {};
template <class P, class... Idx, Name Row, Name Col, Name I, Name J, Name K>
struct load_ends_with<te::Load<P, Idx...>, Row, Col, I, J, K>
    : std::bool_constant<indices_end_with<Row, Col, I, J, K, Idx...>()> {};
template <class C, class... Idx, Name Row, Name Col, Name I, Name J, Name K>
struct load_ends_with<te::StageLoad<C, Idx...>, Row, Col, I, J, K>
    : std::bool_constant<indices_end_with<Row, Col, I, J, K, Idx...>()> {};
} // namespace detail

// An operand with its casts removed (the intrinsic converts by itself).
template <class E> struct uncast { using type = E; };
template <class T, class A> struct uncast<te::Cast<T, A>> : uncast<A> {};
template <class E>
constexpr const E& uncast_operand(const E& e) noexcept {
  return e;
}
template <class T, class A>
constexpr const auto& uncast_operand(const te::Cast<T, A>& e) noexcept {
  return uncast_operand(e.arg);
}

// The gemm pattern of a stage body (after inlining) with rows I, columns J, reduction K.
template <class Body, Name I, Name J, Name K>
struct GemmMatch {
  static constexpr bool is_sum_of_product = false;
  static constexpr bool operands_match = false;
};
template <class Op, class L, class R, class... Axes, Name I, Name J, Name K>
struct GemmMatch<te::Reduce<te::reducer::sum, te::Binary<Op, L, R>, Axes...>, I, J, K> {
  static constexpr bool is_sum_of_product = std::is_same_v<Op, te::op::mul>;
  using a_type = typename uncast<L>::type;
  using b_type = typename uncast<R>::type;
  static constexpr bool operands_match = is_sum_of_product && detail::load_ends_with<a_type, I, K, I, J, K>::value &&
                                         detail::load_ends_with<b_type, K, J, I, J, K>::value;
};

// What is wrong with tensorizing stage St (body type Body after inlining) as lowered in P,
// or nothing.
constexpr Diagnostic tensorize_failure(const LoopProgram& p, const char* what) noexcept {
  Diagnostic d;
  d.failed = true;
  detail::append(d, "tensorize(\"");
  detail::append(d, p.loops[p.tensorize_at].name.view());
  detail::append(d, "\"): ");
  detail::append(d, what);
  return d;
}

template <class St, class Body, const LoopProgram& P>
constexpr Diagnostic tensorize_diagnostic() noexcept {
  if constexpr (P.tensorize_at >= 0) {
    using Match = GemmMatch<Body, P.axis_names[P.spatial_count - 2], P.axis_names[P.spatial_count - 1],
                            P.axis_names[P.spatial_count]>;
    if constexpr (!Match::is_sum_of_product) {
      return tensorize_failure(P, "the stage is not a sum of products, as the gemm pattern needs");
    } else if constexpr (!Match::operands_match) {
      return tensorize_failure(P, "the operands are not A[.., i, k] and B[.., k, j] over the stage's last two axes");
    } else {
      if (dtype_v<typename Match::a_type::value_type> != P.intrinsic.input ||
          dtype_v<typename Match::b_type::value_type> != P.intrinsic.input)
        return tensorize_failure(P, "the operands' dtype is not the intrinsic's input dtype");
      if (dtype_v<typename St::value_type> != P.intrinsic.accumulator)
        return tensorize_failure(P, "the stage's dtype is not the intrinsic's accumulator dtype");
    }
  }
  return Diagnostic{};
}

} // namespace kiln::tir
