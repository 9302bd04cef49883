// kiln/static_graph/control_flow.hpp: if_then_else and loop in a static graph, their branches
// and bodies static graphs of their own.
//
//   constexpr auto grow = build(inputs(gx), relu(matmul(gx, gw)));
//   constexpr auto shrink = build(inputs(sx), tanh(sx));
//   constexpr auto y = if_then_else(flag, grow, shrink, x);       // flag: bool[], at run time
//
//   constexpr auto step = build(inputs(i, h), tanh(matmul(h, w)));  // (iteration, carried...)
//   constexpr auto h_n = loop(trips, step, h0);                    // trips: i64[], at run time
//
// The semantics are the dynamic module's (vm/control_flow.hpp): a branch takes the node's
// arguments and both branches return the same types; a loop body takes the iteration (an
// i64[] from 0) and the carried values and returns the carried values, trip-count times
// (none when it is 0 or less). A graph with several outputs gives a tuple of nodes.
//
// Every shape is checked by the compiler. Each branch and body is planned on its own, with
// an arena of its own that the Model allocates at create(); the node's buffer in the outer
// arena holds its outputs (a loop's holds two copies: the values an iteration reads and the
// ones it writes, so a body that returns its inputs swapped reads them intact).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "graph.hpp"
#include "ops.hpp"

namespace kiln::static_graph {

// A static graph usable as a branch or a loop body.
template <class G>
concept SubGraph = requires {
  G::input_shapes;
  G::output_shapes;
  G::to_string();
};

namespace detail {

// Each line of `text` indented by `pad`.
inline std::string indented(const std::string& text, std::string_view pad) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += str_cat(pad, std::string_view(text).substr(start, end - start), "\n");
    start = end + 1;
  }
  return out;
}

constexpr StaticShape scalar_of(DType d) noexcept { return StaticShape{d, 0, {}}; }

template <class... Ts>
constexpr std::array<StaticShape, sizeof...(Ts)> shapes_of() noexcept {
  return {Ts::shape...};
}

template <std::size_t N>
constexpr std::array<StaticShape, N + 1> prepend(const StaticShape& first, const std::array<StaticShape, N>& rest) noexcept {
  std::array<StaticShape, N + 1> out{};
  out[0] = first;
  for (std::size_t i = 0; i < N; ++i) out[i + 1] = rest[i];
  return out;
}

} // namespace detail

template <class Then, class Else, class Cond, class... Args>
struct IfNode : FixedOutputs<Then::output_shapes> {
  static_assert(Cond::shape.dtype == DType::boolean && Cond::shape.elements() == 1,
                "kiln: if_then_else: the condition must be one bool");
  static_assert(same_shapes(Then::input_shapes, detail::shapes_of<Args...>()),
                "kiln: if_then_else: the arguments' types are not the then graph's inputs");
  static_assert(same_shapes(Else::input_shapes, detail::shapes_of<Args...>()),
                "kiln: if_then_else: the arguments' types are not the else graph's inputs");
  static_assert(same_shapes(Then::output_shapes, Else::output_shapes),
                "kiln: if_then_else: the then and else graphs return different types");
  static constexpr bool is_param = false;
  static constexpr bool is_part = false;
  static constexpr relax::OpKind op = relax::OpKind::if_then_else;
  using inputs = TypeList<Cond, Args...>;
  using then_graph = Then;
  using else_graph = Else;

  static std::string nested_text() {
    return str_cat("  then:\n", detail::indented(Then::to_string(), "    "), "  else:\n",
                   detail::indented(Else::to_string(), "    "));
  }
};

template <class Body, class Trips, class... Carried>
struct LoopNode : FixedOutputs<detail::shapes_of<Carried...>(), 2> {
  static_assert(sizeof...(Carried) > 0, "kiln: loop: carry at least one value");
  static_assert(Trips::shape.dtype == DType::i64 && Trips::shape.elements() == 1,
                "kiln: loop: the trip count must be one i64");
  static_assert(same_shapes(Body::input_shapes,
                            detail::prepend(detail::scalar_of(DType::i64), detail::shapes_of<Carried...>())),
                "kiln: loop: the body's inputs must be the iteration (i64[]) and then the carried values' types");
  static_assert(same_shapes(Body::output_shapes, detail::shapes_of<Carried...>()),
                "kiln: loop: the body must return the carried values' types");
  static constexpr bool is_param = false;
  static constexpr bool is_part = false;
  static constexpr relax::OpKind op = relax::OpKind::loop;
  using inputs = TypeList<Trips, Carried...>;
  using body_graph = Body;

  static std::string nested_text() { return str_cat("  body:\n", detail::indented(Body::to_string(), "    ")); }
};

template <class Then, class Else, class Cond, class... Args>
struct is_node<IfNode<Then, Else, Cond, Args...>> : std::true_type {};
template <class Body, class Trips, class... Carried>
struct is_node<LoopNode<Body, Trips, Carried...>> : std::true_type {};

template <GraphTensor Cond, SubGraph Then, SubGraph Else, GraphTensor... Args>
constexpr auto if_then_else(Cond, Then, Else, Args...) noexcept {
  return outputs_of(IfNode<Then, Else, Cond, Args...>{});
}

template <GraphTensor Trips, SubGraph Body, GraphTensor... Carried>
constexpr auto loop(Trips, Body, Carried...) noexcept {
  return outputs_of(LoopNode<Body, Trips, Carried...>{});
}

} // namespace kiln::static_graph
