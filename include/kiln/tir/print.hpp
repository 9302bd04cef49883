// kiln/tir/print.hpp: renders a lowered kernel as TVMScript-like text, so a user can read
// what a schedule did to the loops, and tests can compare it.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/str_cat.hpp"
#include "../te/tensor.hpp"
#include "compute_spec.hpp"
#include "loop_program.hpp"
#include "lower.hpp"

namespace kiln::tir {

namespace detail {

inline std::string print_index(const LoopProgram& p, int node) {
  const IndexNode& n = p.nodes[node];
  auto loop_name = [&](std::int64_t id) -> std::string {
    for (int i = 0; i < p.loop_count; ++i)
      if (p.loops[i].id == id) return std::string(p.loops[i].name.view());
    return "?";
  };
  switch (n.op) {
    case IndexNode::constant: return str_cat(n.value);
    case IndexNode::symbol: return std::string(p.symbols[n.value].view());
    case IndexNode::loop_var: return loop_name(n.value);
    case IndexNode::add: return str_cat(print_index(p, n.a), " + ", print_index(p, n.b));
    case IndexNode::sub: return str_cat(print_index(p, n.a), " - (", print_index(p, n.b), ")");
    case IndexNode::mul: {
      auto side = [&](int m) {
        const auto op = p.nodes[m].op;
        const bool wrap = op == IndexNode::add || op == IndexNode::sub;
        return wrap ? str_cat("(", print_index(p, m), ")") : print_index(p, m);
      };
      return str_cat(side(n.a), " * ", side(n.b));
    }
    case IndexNode::floordiv: return str_cat(print_index(p, n.a), " // ", print_index(p, n.b));
    case IndexNode::floormod: return str_cat(print_index(p, n.a), " % ", print_index(p, n.b));
    case IndexNode::ceildiv: return str_cat("T.ceildiv(", print_index(p, n.a), ", ", print_index(p, n.b), ")");
    case IndexNode::min: return str_cat("T.min(", print_index(p, n.a), ", ", print_index(p, n.b), ")");
  }
  return "?";
}

// ---- expressions ---------------------------------------------------------------------------
// TVM's dtype spelling.
template <class T>
constexpr const char* dtype_name() noexcept {
  switch (dtype_v<T>) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i16: return "int16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

// Declared first so that each overload can print any other kind of child.
template <Name N> std::string print_expr(const te::Var<N>&);
template <Name N, class E> std::string print_expr(const te::ReduceAxis<N, E>&);
template <Name N, class E> std::string print_expr(const te::SpatialAxis<N, E>&);
template <class U> std::string print_expr(const te::Const<U>&);
template <class P, class... Idx> std::string print_expr(const te::Load<P, Idx...>&);
template <class Op, class L, class R> std::string print_expr(const te::Binary<Op, L, R>&);
template <class Op, class A> std::string print_expr(const te::Unary<Op, A>&);
template <class C, class A, class B> std::string print_expr(const te::Select<C, A, B>&);
template <class T, class A> std::string print_expr(const te::Cast<T, A>&);

template <Name N>
std::string print_expr(const te::Var<N>&) {
  return std::string(N.view());
}
template <Name N, class E>
std::string print_expr(const te::ReduceAxis<N, E>&) {
  return std::string(N.view());
}
template <Name N, class E>
std::string print_expr(const te::SpatialAxis<N, E>&) {
  return std::string(N.view());
}
template <class U>
std::string print_expr(const te::Const<U>& c) {
  if constexpr (std::is_same_v<U, std::int64_t> || std::is_same_v<U, int>) return str_cat(c.value);
  else return str_cat("T.", dtype_name<U>(), "(", c.value, ")");
}
template <class P, class... Idx>
std::string print_expr(const te::Load<P, Idx...>& load) {
  std::string out = str_cat(P::name.view(), "[");
  bool first = true;
  std::apply([&](const auto&... idx) { ((out += str_cat(first ? "" : ", ", print_expr(idx)), first = false), ...); },
             load.indices);
  return out + "]";
}
template <class Op, class L, class R>
std::string print_expr(const te::Binary<Op, L, R>& e) {
  const std::string_view symbol = Op::symbol;
  if (symbol.size() <= 2) return str_cat("(", print_expr(e.lhs), " ", symbol, " ", print_expr(e.rhs), ")");
  return str_cat("T.", symbol, "(", print_expr(e.lhs), ", ", print_expr(e.rhs), ")");
}
template <class Op, class A>
std::string print_expr(const te::Unary<Op, A>& e) {
  if constexpr (std::is_same_v<Op, te::op::negate>) return str_cat("-", print_expr(e.arg));
  else if constexpr (std::is_same_v<Op, te::op::logical_not>) return str_cat("not ", print_expr(e.arg));
  else return str_cat("T.", Op::symbol, "(", print_expr(e.arg), ")");
}
template <class C, class A, class B>
std::string print_expr(const te::Select<C, A, B>& e) {
  return str_cat("T.Select(", print_expr(e.cond), ", ", print_expr(e.if_true), ", ", print_expr(e.if_false), ")");
}
template <class T, class A>
std::string print_expr(const te::Cast<T, A>& e) {
  return str_cat("T.Cast(\"", dtype_name<T>(), "\", ", print_expr(e.arg), ")");
}

template <class... Es>
std::string print_extents(te::Extents<Es...>) {
  std::string out;
  bool first = true;
  auto one = [&]<class E>(std::type_identity<E>) {
    if constexpr (is_static_v<E>) out += str_cat(first ? "" : ", ", E::value);
    else out += str_cat(first ? "" : ", ", E::name.view());
    first = false;
  };
  (one(std::type_identity<Es>{}), ...);
  return sizeof...(Es) == 1 ? out + "," : out;
}

template <class... Ps>
std::string print_params(te::TypeList<Ps...>) {
  std::string out;
  ((out += str_cat(Ps::name.view(), ": T.Buffer((", print_extents(typename Ps::extents_type{}), "), \"",
                   dtype_name<typename Ps::value_type>(), "\"), ")),
   ...);
  return out;
}

template <class... Axes>
auto output_extents(te::TypeList<Axes...>) {
  return te::Extents<typename Axes::extent_type...>{};
}

} // namespace detail

// The loop nest alone: one line per loop, its kind and extent.
inline std::string print(const LoopProgram& p) {
  if (p.error.failed) return str_cat("# illegal schedule: ", p.error.message, "\n");
  std::string out;
  for (int i = 0; i < p.loop_count; ++i) {
    const Loop& l = p.loops[i];
    const char* kind = l.kind == LoopKind::serial ? "range" : l.kind == LoopKind::parallel ? "T.parallel"
                       : l.kind == LoopKind::vectorized                                   ? "T.vectorized"
                                                                                           : "T.unroll";
    std::string extent = detail::print_index(p, l.extent);
    if (l.tail_bound >= 0) extent = detail::print_index(p, l.tail_bound);
    out += str_cat(std::string(static_cast<std::size_t>(i) * 4, ' '), "for ", l.name.view(), " in ", kind, "(", extent,
                   "):", l.reduction ? "  # reduction" : "", "\n");
  }
  return out;
}

// The whole kernel as a TVMScript-like function: buffers, loops, axis bindings, guarded
// tails, the reduction's initialization and the statement.
template <Schedule S, class C>
std::string print(const C& compute) {
  constexpr LoopProgram p = lower(compute_spec<C>(), S);
  if constexpr (p.error.failed) {
    return print(p);
  } else {
    using T = typename C::value_type;
    std::string out = str_cat("@T.prim_func\ndef ", C::name.view(), "(", detail::print_params(typename C::inputs{}),
                              C::name.view(), ": T.Buffer((",
                              detail::print_extents(detail::output_extents(typename C::spatial_axes{})), "), \"",
                              detail::dtype_name<T>(), "\")):\n");
    out += [&] {
      std::string loops = print(p);
      std::string indented;
      std::size_t start = 0;
      while (start < loops.size()) {
        const std::size_t end = loops.find('\n', start);
        indented += str_cat("    ", std::string_view(loops).substr(start, end - start + 1));
        start = end + 1;
      }
      return indented;
    }();
    const std::string pad(static_cast<std::size_t>(p.loop_count + 1) * 4, ' ');
    for (int a = 0; a < p.axis_count; ++a) {
      const std::string value = detail::print_index(p, p.axis_value[a]);
      if (value != p.axis_names[a].view())
        out += str_cat(pad, p.axis_names[a].view(), " = ", value, "\n");
    }
    std::string guard;
    for (int g = 0; g < p.guard_count; ++g) {
      // A guard on a whole axis reads best as that axis.
      std::string value = detail::print_index(p, p.guards[g].value);
      for (int a = 0; a < p.axis_count; ++a)
        if (p.axis_value[a] == p.guards[g].value) value = std::string(p.axis_names[a].view());
      guard += str_cat(g ? " and " : "", value, " < ", detail::print_index(p, p.guards[g].bound));
    }
    std::string body_pad = pad;
    if (!guard.empty()) {
      out += str_cat(pad, "if ", guard, ":\n");
      body_pad += "    ";
    }
    std::string target = str_cat(C::name.view(), "[");
    for (int a = 0; a < p.spatial_count; ++a) target += str_cat(a ? ", " : "", p.axis_names[a].view());
    target += "]";
    if constexpr (C::is_reduction) {
      using R = typename C::body_type::reducer_type;
      std::string start;
      for (int a = p.spatial_count; a < p.axis_count; ++a)
        start += str_cat(a > p.spatial_count ? " and " : "", p.axis_names[a].view(), " == 0");
      out += str_cat(body_pad, "if ", start, ":\n", body_pad, "    ", target, " = T.", R::name, "_identity(\"",
                     detail::dtype_name<T>(), "\")\n");
      out += str_cat(body_pad, target, " = T.", R::name, "(", target, ", ", detail::print_expr(compute.body.body),
                     ")\n");
    } else {
      out += str_cat(body_pad, target, " = ", detail::print_expr(compute.body), "\n");
    }
    return out;
  }
}

} // namespace kiln::tir
