// kiln/te/symbolic_extent.hpp: the extents of tensors and axes that are not static. A named
// extent (dim<"n">) is bound from the shapes of the arguments a kernel runs on; a derived
// extent is computed from others (dim<"h"> + 2_c, ceildiv(dim<"k">, 8_c)): the padded image
// of a convolution, the output of a strided window, the chunks of a factored reduction.
// Arithmetic between static extents stays static (core/extent.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/extent.hpp"
#include "../core/name.hpp"
#include "expr.hpp"

namespace kiln::te {

template <Name N>
struct Dim {
  static constexpr Name name = N;
};
template <Name N>
inline constexpr Dim<N> dim{};

template <class T> struct is_dim : std::false_type {};
template <Name N> struct is_dim<Dim<N>> : std::true_type {};

enum class ExtentOp : std::uint8_t { add, sub, mul, floordiv, ceildiv, min };

// An extent computed at run time from two others (static, named or derived).
template <ExtentOp Op, class L, class R>
struct Derived {
  static constexpr ExtentOp op = Op;
  using lhs = L;
  using rhs = R;
};

template <class T> struct is_derived : std::false_type {};
template <ExtentOp Op, class L, class R> struct is_derived<Derived<Op, L, R>> : std::true_type {};

template <class T>
concept TeExtent = is_static_v<T> || is_dim<std::remove_cvref_t<T>>::value || is_derived<std::remove_cvref_t<T>>::value;

// Two extents of which one is not static (static with static is core/extent.hpp's).
template <class L, class R>
concept SymbolicOperands = TeExtent<L> && TeExtent<R> && !(is_static_v<L> && is_static_v<R>);

template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::add, L, R> operator+(L, R) noexcept { return {}; }
template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::sub, L, R> operator-(L, R) noexcept { return {}; }
template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::mul, L, R> operator*(L, R) noexcept { return {}; }
template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::floordiv, L, R> floordiv(L, R) noexcept { return {}; }
template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::ceildiv, L, R> ceildiv(L, R) noexcept { return {}; }
template <class L, class R>
  requires SymbolicOperands<L, R>
constexpr Derived<ExtentOp::min, L, R> min(L, R) noexcept { return {}; }

// The value of an extent, each named extent N looked up by `named.template operator()<N>()`
// (a lambda []<Name N>() {...}). Extents never go negative, so divisions round as C++ does.
template <class E, class Named>
constexpr std::int64_t evaluate_extent(const Named& named) noexcept {
  if constexpr (is_static_v<E>) {
    return E::value;
  } else if constexpr (is_dim<E>::value) {
    return named.template operator()<E::name>();
  } else {
    const std::int64_t a = evaluate_extent<typename E::lhs>(named), b = evaluate_extent<typename E::rhs>(named);
    if constexpr (E::op == ExtentOp::add) return a + b;
    else if constexpr (E::op == ExtentOp::sub) return a - b;
    else if constexpr (E::op == ExtentOp::mul) return a * b;
    else if constexpr (E::op == ExtentOp::floordiv) return b ? a / b : 0;
    else if constexpr (E::op == ExtentOp::ceildiv) return b ? (a + b - 1) / b : 0;
    else return a < b ? a : b;
  }
}

// An extent as text: "8", "h", "(h + 2)", "T.ceildiv(k, 8)".
template <class E>
std::string extent_text() {
  if constexpr (is_static_v<E>) {
    return std::to_string(E::value);
  } else if constexpr (is_dim<E>::value) {
    return std::string(E::name.view());
  } else {
    const std::string a = extent_text<typename E::lhs>(), b = extent_text<typename E::rhs>();
    if constexpr (E::op == ExtentOp::add) return "(" + a + " + " + b + ")";
    else if constexpr (E::op == ExtentOp::sub) return "(" + a + " - " + b + ")";
    else if constexpr (E::op == ExtentOp::mul) return "(" + a + " * " + b + ")";
    else if constexpr (E::op == ExtentOp::floordiv) return "(" + a + " // " + b + ")";
    else if constexpr (E::op == ExtentOp::ceildiv) return "T.ceildiv(" + a + ", " + b + ")";
    else return "T.min(" + a + ", " + b + ")";
  }
}

// The value of an extent inside an expression (e.g. a mean divides by it, a bound checks
// against it): a constant for Int<N>, the bound value for dim<"n">, and for a derived
// extent the same arithmetic on those.
template <Name N>
struct ExtentValue : ExprBase {
  using value_type = std::int64_t;
  static constexpr Name name = N;
  template <class Env>
  constexpr std::int64_t eval(const Env& env) const noexcept {
    return env.template symbol<N>();
  }
};
template <Name N>
constexpr ExtentValue<N> extent_of(Dim<N>) noexcept {
  return {};
}
template <std::int64_t V>
constexpr Const<std::int64_t> extent_of(Int<V>) noexcept {
  return Const<std::int64_t>(V);
}
template <ExtentOp Op, class L, class R>
constexpr auto extent_of(Derived<Op, L, R>) noexcept {
  const auto a = extent_of(L{});
  const auto b = extent_of(R{});
  if constexpr (Op == ExtentOp::add) return a + b;
  else if constexpr (Op == ExtentOp::sub) return a - b;
  else if constexpr (Op == ExtentOp::mul) return a * b;
  else if constexpr (Op == ExtentOp::floordiv) return floordiv(a, b);
  else if constexpr (Op == ExtentOp::ceildiv) return floordiv(a + b - Const<std::int64_t>(1), b);
  else return min(a, b);
}

} // namespace kiln::te
