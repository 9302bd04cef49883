// kiln/backend/cpu/vector_eval.hpp: evaluates a tensor expression for W consecutive values of
// one axis at once as an xsimd batch. Loads that step that axis by one become vector loads,
// loads that ignore it become broadcasts; anything else makes the whole statement fall back
// to one lane at a time (decided at compile time by vectorizable_v). A lazy select
// (if_then_else) whose condition holds on one interval of the axis runs as a batch where the
// whole vector lies inside that interval.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../config.hpp"
#include "../../te/tensor.hpp"
#include "../../te/var_traits.hpp"
#include "../../tir/buffer_layout.hpp"

namespace kiln::cpu::detail {

// ---- does an index expression depend on an axis, and how -----------------------------------
template <class E, Name A> using depends_on = std::bool_constant<te::reads_var_v<E, A>>;

// The axis itself, plus or minus something that ignores it: steps by one with the axis.
template <class E, Name A> struct unit_step : std::false_type {};
template <Name N, Name A> struct unit_step<te::Var<N>, A> : std::bool_constant<N == A> {};
template <Name N, class E, Name A> struct unit_step<te::ReduceAxis<N, E>, A> : std::bool_constant<N == A> {};
template <Name N, class E, Name A> struct unit_step<te::SpatialAxis<N, E>, A> : std::bool_constant<N == A> {};
template <class L, class R, Name A>
struct unit_step<te::Binary<te::op::add, L, R>, A>
    : std::bool_constant<(unit_step<L, A>::value && !depends_on<R, A>::value) ||
                         (unit_step<R, A>::value && !depends_on<L, A>::value)> {};
template <class L, class R, Name A>
struct unit_step<te::Binary<te::op::sub, L, R>, A>
    : std::bool_constant<unit_step<L, A>::value && !depends_on<R, A>::value> {};
// Scaled by a compile-time one (a convolution's unit stride).
template <class L, Name A> struct unit_step<te::Binary<te::op::mul, L, te::StaticConst<1>>, A> : unit_step<L, A> {};

// Index expressions built from the axis by scaling, shifting (and, with Divide, floor
// division) by things that ignore it: affine in the axis without division, monotone in it
// with. A load whose last index is affine and whose other indices ignore the axis steps
// through memory by a constant, which is one (a vector load) when the scale is one at run
// time; a comparison of a monotone index with a bound holds on one interval of the axis.
template <class E, Name A, bool Divide> struct scaled_axis : unit_step<E, A> {};
template <class L, class R, Name A, bool Divide>
struct scaled_axis<te::Binary<te::op::mul, L, R>, A, Divide>
    : std::bool_constant<(scaled_axis<L, A, Divide>::value && !depends_on<R, A>::value) ||
                         (scaled_axis<R, A, Divide>::value && !depends_on<L, A>::value)> {};
template <class L, class R, Name A, bool Divide>
struct scaled_axis<te::Binary<te::op::add, L, R>, A, Divide> : scaled_axis<te::Binary<te::op::mul, L, R>, A, Divide> {};
template <class L, class R, Name A, bool Divide>
struct scaled_axis<te::Binary<te::op::sub, L, R>, A, Divide> : scaled_axis<te::Binary<te::op::mul, L, R>, A, Divide> {};
template <class L, class R, Name A>
struct scaled_axis<te::Binary<te::op::floordiv, L, R>, A, true>
    : std::bool_constant<scaled_axis<L, A, true>::value && !depends_on<R, A>::value> {};
template <class E, Name A> using affine_in = scaled_axis<E, A, false>;
template <class E, Name A> using monotone_in = scaled_axis<E, A, true>;

// A load of which exactly one index depends on the axis, that one with the property Index;
// `position` is where it stands.
template <class L, Name A, template <class, Name> class Index> struct load_along : std::false_type {
  static constexpr std::size_t position = 0;
};
template <template <class, class...> class LoadNode, class P, class... Idx, Name A, template <class, Name> class Index>
  requires(std::is_same_v<LoadNode<P, Idx...>, te::Load<P, Idx...>> ||
           std::is_same_v<LoadNode<P, Idx...>, te::StageLoad<P, Idx...>>)
struct load_along<LoadNode<P, Idx...>, A, Index> {
  static constexpr bool dep[] = {depends_on<Idx, A>::value..., false};
  static constexpr std::size_t position = [] {
    for (std::size_t i = 0; i < sizeof...(Idx); ++i)
      if (dep[i]) return i;
    return std::size_t{0};
  }();
  static constexpr bool value = [] {
    constexpr bool ok[] = {Index<Idx, A>::value..., false};
    std::size_t dependent = 0;
    for (std::size_t i = 0; i < sizeof...(Idx); ++i) dependent += dep[i] ? 1 : 0;
    return dependent == 1 && ok[position];
  }();
};
// Steps one element per lane along one index: a vector load where that index's stride is one.
template <class L, Name A> using contiguous_load = load_along<L, A, unit_step>;
// Steps a constant per lane, known at run time.
template <class L, Name A> using affine_load = load_along<L, A, affine_in>;

// ---- lazy selects (if_then_else) whose condition holds on one interval of the axis ------
// Comparisons of one monotone side with an invariant one, joined by &&: the lanes where it
// holds form one interval, so it holds on a whole vector when it holds at both ends.
template <class C, Name A> struct interval_condition : std::bool_constant<!depends_on<C, A>::value> {};
template <class L, class R, Name A>
struct interval_condition<te::Binary<te::op::logical_and, L, R>, A>
    : std::bool_constant<interval_condition<L, A>::value && interval_condition<R, A>::value> {};
template <class Op, class L, class R, Name A>
  requires(std::is_same_v<Op, te::op::less> || std::is_same_v<Op, te::op::less_equal> ||
           std::is_same_v<Op, te::op::greater> || std::is_same_v<Op, te::op::greater_equal>)
struct interval_condition<te::Binary<Op, L, R>, A>
    : std::bool_constant<(monotone_in<L, A>::value && !depends_on<R, A>::value) ||
                         (monotone_in<R, A>::value && !depends_on<L, A>::value) ||
                         (!depends_on<L, A>::value && !depends_on<R, A>::value)> {};

// ---- which expressions evaluate as batches of T ------------------------------------------
template <class Op>
inline constexpr bool vector_arith_op_v =
    std::is_same_v<Op, te::op::add> || std::is_same_v<Op, te::op::sub> || std::is_same_v<Op, te::op::mul> ||
    std::is_same_v<Op, te::op::div> || std::is_same_v<Op, te::op::minimum> || std::is_same_v<Op, te::op::maximum> ||
    std::is_same_v<Op, te::op::power>;
template <class Op>
inline constexpr bool vector_compare_op_v =
    std::is_same_v<Op, te::op::less> || std::is_same_v<Op, te::op::less_equal> || std::is_same_v<Op, te::op::greater> ||
    std::is_same_v<Op, te::op::greater_equal> || std::is_same_v<Op, te::op::equal> ||
    std::is_same_v<Op, te::op::not_equal>;
template <class Op>
inline constexpr bool vector_unary_op_v = !std::is_same_v<Op, te::op::logical_not>;

// An expression that ignores the axis is evaluated once and broadcast, whatever its type.
template <class E, class T, Name A> struct vectorizable;
template <class E, class T, Name A>
struct vec_ok : std::bool_constant<(!depends_on<E, A>::value && std::is_convertible_v<typename E::value_type, T>) ||
                                   vectorizable<E, T, A>::value> {};

template <class E, class T, Name A> struct vectorizable : std::false_type {};
template <class U, class T, Name A> struct vectorizable<te::Const<U>, T, A> : std::is_arithmetic<U> {};
template <class P, class... Idx, class T, Name A>
struct vectorizable<te::Load<P, Idx...>, T, A> : std::is_same<typename P::value_type, T> {};
template <class C, class... Idx, class T, Name A>
struct vectorizable<te::StageLoad<C, Idx...>, T, A> : std::is_same<typename C::value_type, T> {};
template <class Op, class L, class R, class T, Name A>
struct vectorizable<te::Binary<Op, L, R>, T, A>
    : std::bool_constant<(vector_arith_op_v<Op> || vector_compare_op_v<Op>) && vec_ok<L, T, A>::value &&
                         vec_ok<R, T, A>::value> {};
template <class Op, class X, class T, Name A>
struct vectorizable<te::Unary<Op, X>, T, A>
    : std::bool_constant<vector_unary_op_v<Op> && vec_ok<X, T, A>::value> {};
template <class Op, class L, class R, class X, class F, class T, Name A>
struct vectorizable<te::Select<te::Binary<Op, L, R>, X, F, false>, T, A>
    : std::bool_constant<vector_compare_op_v<Op> && vec_ok<L, T, A>::value && vec_ok<R, T, A>::value &&
                         vec_ok<X, T, A>::value && vec_ok<F, T, A>::value> {};
template <class C, class X, class F, class T, Name A>
struct vectorizable<te::Select<C, X, F, true>, T, A>
    : std::bool_constant<interval_condition<C, A>::value && vec_ok<X, T, A>::value && vec_ok<F, T, A>::value> {};
template <class X, class T, Name A>
struct vectorizable<te::Cast<T, X>, T, A> : std::bool_constant<std::is_same_v<typename X::value_type, T> && vec_ok<X, T, A>::value> {};

template <class E, class T, Name A>
inline constexpr bool vectorizable_v = vec_ok<E, T, A>::value;

// ---- batch evaluation ---------------------------------------------------------------------
// Env provides scalar evaluation at lane 0 (the axis holds its first lane's value) and
// `buffer<P>()` for loads.
template <class T, class Arch, Name A>
struct VectorEval {
  using batch = xsimd::batch<T, Arch>;

  // Lane by lane: `one(env)` at each lane, the axis advanced by one per lane.
  template <class Env, class One>
  static KILN_FORCEINLINE batch lane_by_lane(const Env& env, const One& one) noexcept {
    alignas(64) T lanes[batch::size];
    Env shifted = env;
    for (std::size_t l = 0; l < batch::size; ++l) {
      lanes[l] = static_cast<T>(one(shifted));
      shifted.template advance<A>(1);
    }
    return batch::load_aligned(lanes);
  }

  // Any vectorizable expression: invariant ones are evaluated once and broadcast.
  template <class E, class Env>
  static KILN_FORCEINLINE auto eval_any(const E& e, const Env& env) noexcept {
    if constexpr (!depends_on<E, A>::value && !std::is_same_v<typename E::value_type, bool>) {
      return batch(static_cast<T>(e.eval(env)));
    } else {
      return eval(e, env);
    }
  }

  template <class U, class Env>
  static KILN_FORCEINLINE batch eval(const te::Const<U>& c, const Env&) noexcept {
    return batch(static_cast<T>(c.value));
  }

  template <class P, class... Idx, class Env>
  static KILN_FORCEINLINE batch eval(const te::Load<P, Idx...>& load, const Env& env) noexcept {
    return eval_load<tir::BufferLayout{}>(load, env.template buffer<P>(), env);
  }
  template <class C, class... Idx, class Env>
  static KILN_FORCEINLINE batch eval(const te::StageLoad<C, Idx...>& load, const Env& env) noexcept {
    return eval_load<Env::template layout_of<C>>(load, env.template stage_buffer<C>(), env);
  }

  // A load from a placeholder or a materialized stage whose buffer has layout Layout.
  template <tir::BufferLayout Layout, class L, class B, class Env>
  static KILN_FORCEINLINE batch eval_load(const L& load, const B& buf, const Env& env) noexcept {
    if constexpr (!depends_on<L, A>::value) {
      return batch(load.eval(env));
    } else {
      constexpr std::size_t rank = std::tuple_size_v<decltype(load.indices)>;
      constexpr int blocked_axis = Layout.blocked_axis;
      constexpr std::int64_t block = Layout.block;
      std::int64_t index[rank];
      std::apply([&](const auto&... idx) {
        std::size_t q = 0;
        ((index[q++] = static_cast<std::int64_t>(idx.eval(env))), ...);
      }, load.indices);
      auto element = [&](const std::int64_t* at) {
        return [&]<std::size_t... Q>(std::index_sequence<Q...>) {
          return buf.template at_blocked<blocked_axis, block>(at[Q]...);
        }(std::make_index_sequence<rank>{});
      };
      const T* first = element(index);
      if constexpr (contiguous_load<L, A>::value) {
        constexpr std::size_t q = contiguous_load<L, A>::position;
        const bool unit = buf.template unit_run<blocked_axis, block>(q, index[q], batch::size);
        if (KILN_LIKELY(unit)) return batch::load_unaligned(first);
      } else if constexpr (affine_load<L, A>::value &&
                           static_cast<int>(affine_load<L, A>::position) != blocked_axis) {
        // The step of one lane, the same for every lane (not so across the blocks of a
        // blocked axis, which gathers).
        Env next = env;
        next.template advance<A>(1);
        constexpr std::size_t q = affine_load<L, A>::position;
        std::int64_t stepped[rank];
        for (std::size_t i = 0; i < rank; ++i) stepped[i] = index[i];
        stepped[q] = static_cast<std::int64_t>(std::get<q>(load.indices).eval(next));
        if (element(stepped) - first == 1) return batch::load_unaligned(first);
      }
      // Any other access pattern: gather lane by lane.
      return lane_by_lane(env, [&](const Env& at) { return load.eval(at); });
    }
  }

  template <class Op, class L, class R, class Env>
  static KILN_FORCEINLINE auto eval(const te::Binary<Op, L, R>& e, const Env& env) noexcept {
    const auto a = eval_any(e.lhs, env);
    const auto b = eval_any(e.rhs, env);
    if constexpr (std::is_same_v<Op, te::op::add>) return a + b;
    else if constexpr (std::is_same_v<Op, te::op::sub>) return a - b;
    else if constexpr (std::is_same_v<Op, te::op::mul>) return a * b;
    else if constexpr (std::is_same_v<Op, te::op::div>) return a / b;
    else if constexpr (std::is_same_v<Op, te::op::minimum>) return xsimd::min(a, b);
    else if constexpr (std::is_same_v<Op, te::op::maximum>) return xsimd::max(a, b);
    else if constexpr (std::is_same_v<Op, te::op::power>) return xsimd::pow(a, b);
    else if constexpr (std::is_same_v<Op, te::op::less>) return a < b;
    else if constexpr (std::is_same_v<Op, te::op::less_equal>) return a <= b;
    else if constexpr (std::is_same_v<Op, te::op::greater>) return a > b;
    else if constexpr (std::is_same_v<Op, te::op::greater_equal>) return a >= b;
    else if constexpr (std::is_same_v<Op, te::op::equal>) return a == b;
    else return a != b;
  }

  template <class Op, class X, class Env>
  static KILN_FORCEINLINE batch eval(const te::Unary<Op, X>& e, const Env& env) noexcept {
    const batch a = eval_any(e.arg, env);
    if constexpr (std::is_same_v<Op, te::op::negate>) return -a;
    else if constexpr (std::is_same_v<Op, te::op::exp>) return xsimd::exp(a);
    else if constexpr (std::is_same_v<Op, te::op::log>) return xsimd::log(a);
    else if constexpr (std::is_same_v<Op, te::op::sqrt>) return xsimd::sqrt(a);
    else if constexpr (std::is_same_v<Op, te::op::rsqrt>) return batch(T(1)) / xsimd::sqrt(a);
    else if constexpr (std::is_same_v<Op, te::op::tanh>) return xsimd::tanh(a);
    else if constexpr (std::is_same_v<Op, te::op::sigmoid>) return batch(T(1)) / (batch(T(1)) + xsimd::exp(-a));
    else if constexpr (std::is_same_v<Op, te::op::erf>) return xsimd::erf(a);
    else if constexpr (std::is_same_v<Op, te::op::abs>) return xsimd::abs(a);
    else if constexpr (std::is_same_v<Op, te::op::floor>) return xsimd::floor(a);
    else if constexpr (std::is_same_v<Op, te::op::ceil>) return xsimd::ceil(a);
    else return xsimd::nearbyint(a);
  }

  template <class C, class X, class F, class Env>
  static KILN_FORCEINLINE batch eval(const te::Select<C, X, F, false>& e, const Env& env) noexcept {
    return xsimd::select(eval_any(e.cond, env), eval_any(e.if_true, env), eval_any(e.if_false, env));
  }

  // if_then_else: the true side as a batch when the condition holds at both ends of the
  // vector, so on every lane; otherwise lane by lane, each lane evaluating only its own side
  // (the other may read out of bounds).
  template <class C, class X, class F, class Env>
  static KILN_FORCEINLINE batch eval(const te::Select<C, X, F, true>& e, const Env& env) noexcept {
    if constexpr (!depends_on<C, A>::value) {
      return e.cond.eval(env) ? eval_any(e.if_true, env) : eval_any(e.if_false, env);
    } else {
      // A conjunct that ignores the axis decides the whole vector when it fails (a row of
      // a convolution's padding above or below the image).
      if (!invariant_conjuncts_hold(e.cond, env)) return eval_any(e.if_false, env);
      Env last = env;
      last.template advance<A>(static_cast<std::int64_t>(batch::size) - 1);
      const bool first_holds = e.cond.eval(env), last_holds = e.cond.eval(last);
      if (first_holds && last_holds) return eval_any(e.if_true, env);
      return lane_by_lane(env, [&](const Env& at) { return e.eval(at); });
    }
  }
  // Whether the conjuncts of a condition that ignore the axis hold (the others count as true).
  template <class C, class Env>
  static KILN_FORCEINLINE bool invariant_conjuncts_hold(const C& c, const Env& env) noexcept {
    if constexpr (!depends_on<C, A>::value) {
      return static_cast<bool>(c.eval(env));
    } else if constexpr (requires { typename C::op_type; } &&
                         std::is_same_v<typename C::op_type, te::op::logical_and>) {
      return invariant_conjuncts_hold(c.lhs, env) && invariant_conjuncts_hold(c.rhs, env);
    } else {
      return true;
    }
  }

  template <class X, class Env>
  static KILN_FORCEINLINE batch eval(const te::Cast<T, X>& e, const Env& env) noexcept {
    return eval_any(e.arg, env);
  }
};

} // namespace kiln::cpu::detail
