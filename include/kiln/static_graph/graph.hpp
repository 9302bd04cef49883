// kiln/static_graph/graph.hpp: a static graph, its inputs in order and its outputs, with the
// compile-time plan, and its printed form.
//
//   constexpr auto net = build(inputs(image), probabilities);
//   using Net = decltype(net);
//   static_assert(Net::arena_bytes == ...);   // the memory plan is a constant
//   std::puts(Net::to_string().c_str());
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "../core/str_cat.hpp"
#include "plan.hpp"

namespace kiln::static_graph {

// The inputs of a graph, in the order run() takes them.
template <class... Ins>
struct InputList {};

template <GraphTensor... Ins>
constexpr InputList<Ins...> inputs(Ins...) noexcept {
  return {};
}

template <class Inputs, class... Outs>
struct Graph;

template <class... Ins, class... Outs>
struct Graph<InputList<Ins...>, Outs...> : Plan<Outs...> {
  using P = Plan<Outs...>;
  static_assert(sizeof...(Outs) > 0, "kiln: a static graph needs at least one output");
  static_assert(((Ins::is_param && Ins::kind == ParamKind::input) && ...),
                "kiln: the inputs of a static graph are input<...>() parameters");
  // The node of each input, or -1 for one that no output reads (a loop body's iteration,
  // say): run() still takes and checks it.
  static constexpr std::array<int, sizeof...(Ins)> input_nodes{
      (P::template index_of<Ins> < P::node_count ? P::template index_of<Ins> : -1)...};
  static constexpr std::array<StaticShape, sizeof...(Ins)> input_shapes{Ins::shape...};
  static constexpr std::array<std::string_view, sizeof...(Ins)> input_names{Ins::name.view()...};
  static constexpr std::array<StaticShape, sizeof...(Outs)> output_shapes{Outs::shape...};
  static constexpr bool inputs_complete = [] {
    for (int i = 0; i < P::node_count; ++i) {
      if (P::node(i).role != Role::input) continue;
      bool listed = false;
      for (int j : input_nodes) listed = listed || j == i;
      if (!listed) return false;
    }
    return true;
  }();
  static_assert(inputs_complete, "kiln: the graph reads an input<...>() that inputs(...) does not list");

  // Node i's name in the printed graph: a parameter's own name, else %i.
  static std::string name_of(int i) {
    std::string name;
    [&]<class... Ns>(TypeList<Ns...>) {
      int k = 0;
      ((k++ == i ? (name = node_name<Ns>(i), 0) : 0), ...);
    }(typename P::Nodes{});
    return name;
  }

  // One line per node: what it computes and what the plan made of it.
  static std::string to_string() {
    std::string out;
    for (std::size_t k = 0; k < input_nodes.size(); ++k)
      if (input_nodes[k] < 0)
        out += str_cat("input ", input_names[k], ": ", relax::to_string(input_shapes[k].tensor_type()), "  # not read\n");
    for (int i = 0; i < P::node_count; ++i) {
      const NodeInfo& n = P::node(i);
      const std::string type = relax::to_string(n.shape.tensor_type());
      if (n.role == Role::input || n.role == Role::weight) {
        out += str_cat(n.role == Role::input ? "input " : "weight ", name_of(i), ": ", type, "\n");
        continue;
      }
      std::string args;
      for (int k = 0; k < n.input_count; ++k)
        args += str_cat(k > 0 ? ", " : "", n.inputs[k] < 0 ? std::string("_") : name_of(n.inputs[k]));
      out += str_cat(name_of(i), " = ", op_label(i), "(", args, ") : ", type);
      switch (n.role) {
        case Role::view:
          if (n.part > 0) out += str_cat("  # output ", n.part, " of ", name_of(n.inputs[0]));
          else out += str_cat("  # view of ", name_of(n.inputs[0]));
          break;
        case Role::inlined: out += str_cat("  # inlined into ", name_of(n.root)); break;
        case Role::fused:
        case Role::kernel:
          out += str_cat("  # step ", n.step, n.role == Role::fused ? ", fused loop" : ", kernel");
          if (n.epilogue_into >= 0) out += str_cat(", writes into ", name_of(n.epilogue_into));
          else out += str_cat(", arena [", P::offset_of(i), ", ", P::offset_of(i) + n.bytes, ")");
          if (n.in_place_of >= 0) out += str_cat(" in place of ", name_of(n.in_place_of));
          break;
        default: break;
      }
      if (n.output) out += " (output)";
      out += "\n";
      out += nested_text(i);
    }
    out += str_cat("arena: ", P::arena_bytes, " bytes (", P::unplanned_bytes, " without reuse)\n");
    return out;
  }

 private:
  // The op's name; a user kernel's call adds the kernel's.
  static std::string op_label(int i) {
    std::string label(relax::op_info(P::node(i).op).name);
    for_node(i, [&]<class N>() {
      if constexpr (requires { N::name; } && !N::is_param) label += str_cat(" '", N::name.view(), "'");
    });
    return label;
  }
  // The graphs a control-flow node runs, indented under it.
  static std::string nested_text(int i) {
    std::string text;
    for_node(i, [&]<class N>() {
      if constexpr (requires { N::nested_text(); }) text = N::nested_text();
    });
    return text;
  }
  template <class F>
  static void for_node(int i, F&& f) {
    [&]<class... Ns>(TypeList<Ns...>) {
      int k = 0;
      ((k++ == i ? (f.template operator()<Ns>(), 0) : 0), ...);
    }(typename P::Nodes{});
  }

  template <class N>
  static std::string node_name(int i) {
    if constexpr (N::is_param) return std::string(N::name.view());
    else return str_cat("%", i);
  }
};

template <class... Ins, GraphTensor... Outs>
constexpr auto build(InputList<Ins...>, Outs...) noexcept {
  return Graph<InputList<Ins...>, Outs...>{};
}

} // namespace kiln::static_graph
