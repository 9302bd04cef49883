// kiln/te/expr.hpp: tensor expression nodes. An expression is a type (an expression template)
// whose leaves are loop variables, constants and loads from tensors; evaluating it at
// concrete indices is what a lowered kernel's innermost statement does.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../core/dtype.hpp"
#include "../core/extent.hpp"
#include "../core/name.hpp"

namespace kiln::te {

// Every node derives from ExprBase so that operators apply to expressions only.
struct ExprBase {};

template <class T>
concept Expr = std::is_base_of_v<ExprBase, std::remove_cvref_t<T>>;

// An iteration variable: a spatial axis of a compute or a reduction axis.
template <Name N>
struct Var : ExprBase {
  using value_type = std::int64_t;
  static constexpr Name name = N;
  template <class Env>
  constexpr std::int64_t eval(const Env& env) const noexcept {
    return env.template var<N>();
  }
};

// A constant of type T, stored in the expression.
template <class T>
struct Const : ExprBase {
  using value_type = T;
  T value;
  constexpr explicit Const(T v) noexcept : value(v) {}
  template <class Env>
  constexpr T eval(const Env&) const noexcept {
    return value;
  }
};

// A constant known at compile time (Int<N>, 3_c, in an expression): its uses fold where a
// Const's value, stored in the expression, is read at run time. Kernels built from
// compile-time parameters (a convolution's stride and padding) use it.
template <std::int64_t V>
struct StaticConst : ExprBase {
  using value_type = std::int64_t;
  static constexpr std::int64_t value = V;
  template <class Env>
  constexpr std::int64_t eval(const Env&) const noexcept {
    return V;
  }
};

// Turns an operand into an expression: expressions stay, Int<N> becomes StaticConst and
// other arithmetic values Const.
template <class T>
constexpr auto as_expr(T&& x) noexcept {
  if constexpr (Expr<T>) return std::forward<T>(x);
  else if constexpr (is_static_v<T>) return StaticConst<std::remove_cvref_t<T>::value>{};
  else return Const<std::remove_cvref_t<T>>(x);
}
template <class T>
using as_expr_t = decltype(as_expr(std::declval<T>()));

// The arithmetic type an operation between a and b computes in. 16-bit floats compute in f32.
template <class T>
using compute_type_t = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float, T>;
template <class A, class B>
using promote_t = std::common_type_t<compute_type_t<A>, compute_type_t<B>>;

// ---- operations -------------------------------------------------------------------------
// Each op is a tag with a scalar `apply`; the CPU backend adds vector forms.
namespace op {
#define KILN_TE_BINARY_OP(NAME, SYMBOL, EXPR)                                      \
  struct NAME {                                                                    \
    static constexpr const char* symbol = SYMBOL;                                  \
    template <class A, class B>                                                    \
    static constexpr auto apply(A a, B b) noexcept { return EXPR; }               \
  };
KILN_TE_BINARY_OP(add, "+", a + b)
KILN_TE_BINARY_OP(sub, "-", a - b)
KILN_TE_BINARY_OP(mul, "*", a * b)
KILN_TE_BINARY_OP(div, "/", a / b)
KILN_TE_BINARY_OP(less, "<", a < b)
KILN_TE_BINARY_OP(less_equal, "<=", a <= b)
KILN_TE_BINARY_OP(greater, ">", a > b)
KILN_TE_BINARY_OP(greater_equal, ">=", a >= b)
KILN_TE_BINARY_OP(equal, "==", a == b)
KILN_TE_BINARY_OP(not_equal, "!=", a != b)
KILN_TE_BINARY_OP(logical_and, "&&", a && b)
KILN_TE_BINARY_OP(logical_or, "||", a || b)
KILN_TE_BINARY_OP(minimum, "min", a < b ? a : b)
KILN_TE_BINARY_OP(maximum, "max", a < b ? b : a)
#undef KILN_TE_BINARY_OP

struct floordiv {
  static constexpr const char* symbol = "floordiv";
  template <class A, class B>
  static constexpr auto apply(A a, B b) noexcept {
    if constexpr (std::is_integral_v<A> && std::is_integral_v<B>) {
      auto q = a / b;
      return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
    } else {
      return std::floor(a / b);
    }
  }
};
struct floormod {
  static constexpr const char* symbol = "floormod";
  template <class A, class B>
  static constexpr auto apply(A a, B b) noexcept {
    return a - floordiv::apply(a, b) * b;
  }
};
struct power {
  static constexpr const char* symbol = "pow";
  template <class A, class B>
  static auto apply(A a, B b) noexcept {
    return std::pow(a, b);
  }
};

#define KILN_TE_UNARY_OP(NAME, EXPR)                   \
  struct NAME {                                        \
    static constexpr const char* symbol = #NAME;       \
    template <class A>                                 \
    static auto apply(A a) noexcept { return EXPR; }   \
  };
KILN_TE_UNARY_OP(negate, -a)
KILN_TE_UNARY_OP(logical_not, !a)
KILN_TE_UNARY_OP(exp, std::exp(a))
KILN_TE_UNARY_OP(log, std::log(a))
KILN_TE_UNARY_OP(sqrt, std::sqrt(a))
KILN_TE_UNARY_OP(rsqrt, A(1) / std::sqrt(a))
KILN_TE_UNARY_OP(tanh, std::tanh(a))
KILN_TE_UNARY_OP(sigmoid, A(1) / (A(1) + std::exp(-a)))
KILN_TE_UNARY_OP(erf, std::erf(a))
KILN_TE_UNARY_OP(abs, a < A(0) ? A(-a) : a)
KILN_TE_UNARY_OP(floor, std::floor(a))
KILN_TE_UNARY_OP(ceil, std::ceil(a))
KILN_TE_UNARY_OP(round, std::nearbyint(a))  // ties to even, as ONNX Round
#undef KILN_TE_UNARY_OP
} // namespace op

template <class Op>
inline constexpr bool is_comparison_v =
    std::is_same_v<Op, op::less> || std::is_same_v<Op, op::less_equal> || std::is_same_v<Op, op::greater> ||
    std::is_same_v<Op, op::greater_equal> || std::is_same_v<Op, op::equal> || std::is_same_v<Op, op::not_equal> ||
    std::is_same_v<Op, op::logical_and> || std::is_same_v<Op, op::logical_or>;

template <class Op, Expr L, Expr R>
struct Binary : ExprBase {
  using op_type = Op;
  using value_type =
      std::conditional_t<is_comparison_v<Op>, bool, promote_t<typename L::value_type, typename R::value_type>>;
  L lhs;
  R rhs;
  constexpr Binary(L l, R r) noexcept : lhs(l), rhs(r) {}
  template <class Env>
  constexpr value_type eval(const Env& env) const noexcept {
    using C = promote_t<typename L::value_type, typename R::value_type>;
    return static_cast<value_type>(Op::apply(static_cast<C>(lhs.eval(env)), static_cast<C>(rhs.eval(env))));
  }
};

template <class Op, Expr A>
struct Unary : ExprBase {
  using value_type = std::conditional_t<std::is_same_v<Op, op::logical_not>, bool, compute_type_t<typename A::value_type>>;
  A arg;
  constexpr explicit Unary(A a) noexcept : arg(a) {}
  template <class Env>
  value_type eval(const Env& env) const noexcept {
    return static_cast<value_type>(Op::apply(static_cast<value_type>(arg.eval(env))));
  }
};

// cond ? if_true : if_false. Eager (select) evaluates both sides, so it vectorizes; lazy
// (if_then_else) evaluates only the side taken, so it can guard a read that would be out of
// bounds (padding); the CPU backend vectorizes it where its condition holds on a whole vector.
template <Expr C, Expr T, Expr F, bool Lazy = false>
struct Select : ExprBase {
  static constexpr bool lazy = Lazy;
  using value_type = promote_t<typename T::value_type, typename F::value_type>;
  C cond;
  T if_true;
  F if_false;
  template <class Env>
  constexpr value_type eval(const Env& env) const noexcept {
    return cond.eval(env) ? static_cast<value_type>(if_true.eval(env)) : static_cast<value_type>(if_false.eval(env));
  }
};

// A conversion to T with C++'s rules, through f32 for the 16-bit floats (rounding to
// nearest even), and to bool as "not zero".
template <Element T, Expr A>
struct Cast : ExprBase {
  using value_type = T;
  A arg;
  template <class Env>
  constexpr T eval(const Env& env) const noexcept {
    auto v = arg.eval(env);
    if constexpr (std::is_same_v<T, bool>) return static_cast<float>(v) != 0.0f;
    else if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) return T(static_cast<float>(v));
    else return static_cast<T>(v);
  }
};

// ---- building expressions ---------------------------------------------------------------
// Reduction axes are declared in tensor.hpp; binary min/max step aside for them.
template <class T>
inline constexpr bool is_reduction_axis_v = requires { requires std::remove_cvref_t<T>::is_reduction_axis; };

template <class T>
concept ExprOperand = Expr<T> || std::is_arithmetic_v<std::remove_cvref_t<T>> || is_static_v<T>;
template <class L, class R>
concept ExprOperands = (Expr<L> || Expr<R>) && ExprOperand<L> && ExprOperand<R>;

#define KILN_TE_OPERATOR(SYMBOL, OP)                                          \
  template <class L, class R>                                                 \
    requires ExprOperands<L, R>                                               \
  constexpr auto operator SYMBOL(L&& l, R&& r) noexcept {                     \
    return Binary<OP, as_expr_t<L>, as_expr_t<R>>(as_expr(std::forward<L>(l)), as_expr(std::forward<R>(r))); \
  }
KILN_TE_OPERATOR(+, op::add)
KILN_TE_OPERATOR(-, op::sub)
KILN_TE_OPERATOR(*, op::mul)
KILN_TE_OPERATOR(/, op::div)
KILN_TE_OPERATOR(<, op::less)
KILN_TE_OPERATOR(<=, op::less_equal)
KILN_TE_OPERATOR(>, op::greater)
KILN_TE_OPERATOR(>=, op::greater_equal)
KILN_TE_OPERATOR(==, op::equal)
KILN_TE_OPERATOR(!=, op::not_equal)
KILN_TE_OPERATOR(&&, op::logical_and)
KILN_TE_OPERATOR(||, op::logical_or)
#undef KILN_TE_OPERATOR

#define KILN_TE_BINARY_FUNCTION(NAME, OP)                                     \
  template <class L, class R>                                                 \
    requires(ExprOperands<L, R> && !is_reduction_axis_v<R>)                   \
  constexpr auto NAME(L&& l, R&& r) noexcept {                                \
    return Binary<OP, as_expr_t<L>, as_expr_t<R>>(as_expr(std::forward<L>(l)), as_expr(std::forward<R>(r))); \
  }
KILN_TE_BINARY_FUNCTION(min, op::minimum)  // min(a, k) with a reduction axis k is the reduction
KILN_TE_BINARY_FUNCTION(max, op::maximum)
KILN_TE_BINARY_FUNCTION(floordiv, op::floordiv)
KILN_TE_BINARY_FUNCTION(floormod, op::floormod)
KILN_TE_BINARY_FUNCTION(pow, op::power)
#undef KILN_TE_BINARY_FUNCTION

template <Expr A>
constexpr auto operator-(A a) noexcept { return Unary<op::negate, A>(a); }
template <Expr A>
constexpr auto operator!(A a) noexcept { return Unary<op::logical_not, A>(a); }

#define KILN_TE_UNARY_FUNCTION(NAME)                                                \
  template <Expr A>                                                                 \
  constexpr auto NAME(A a) noexcept { return Unary<op::NAME, A>(a); }
KILN_TE_UNARY_FUNCTION(exp)
KILN_TE_UNARY_FUNCTION(log)
KILN_TE_UNARY_FUNCTION(sqrt)
KILN_TE_UNARY_FUNCTION(rsqrt)
KILN_TE_UNARY_FUNCTION(tanh)
KILN_TE_UNARY_FUNCTION(sigmoid)
KILN_TE_UNARY_FUNCTION(erf)
KILN_TE_UNARY_FUNCTION(abs)
KILN_TE_UNARY_FUNCTION(floor)
KILN_TE_UNARY_FUNCTION(ceil)
KILN_TE_UNARY_FUNCTION(round)
#undef KILN_TE_UNARY_FUNCTION

// select(cond, a, b): a where cond holds, else b; both sides are evaluated.
template <Expr C, class T, class F>
constexpr auto select(C c, T t, F f) noexcept {
  return Select<C, as_expr_t<T>, as_expr_t<F>>{{}, c, as_expr(t), as_expr(f)};
}
// if_then_else(cond, a, b): as select, but only the side taken is evaluated.
template <Expr C, class T, class F>
constexpr auto if_then_else(C c, T t, F f) noexcept {
  return Select<C, as_expr_t<T>, as_expr_t<F>, true>{{}, c, as_expr(t), as_expr(f)};
}

template <Element T, Expr A>
constexpr auto cast(A a) noexcept {
  return Cast<T, A>{{}, a};
}

} // namespace kiln::te
