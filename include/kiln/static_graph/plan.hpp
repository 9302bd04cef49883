// kiln/static_graph/plan.hpp: what the C++ compiler decides about a static graph: the order
// of its nodes, which ops fuse, and where every intermediate lives in one arena.
//
// Plan<Outputs...> walks the node types reachable from the outputs once each, inputs first
// (a type reached twice is one node: the graph is a DAG, not a tree). Then, in constant
// expressions:
//   - roles: a parameter (input or weight); a view (reshape, flatten, squeeze, unsqueeze,
//     identity) that shares its input's memory; an f32 elementwise op inlined into its one
//     consumer; the root of a fused elementwise loop (every inlined op below it runs in
//     its loop); or a kernel call (the VM's CPU kernel for the op).
//   - epilogue fusion: a kernel (a matmul, a conv, ...) whose one consumer is a fused loop
//     of its own shape writes straight into that loop's output, which the loop then
//     rewrites in place: the bias, activation or residual add never round-trips memory.
//   - the memory plan: the same liveness planner the VM runs at prepare (vm::plan_memory),
//     run here by the compiler, so the arena's size and every offset are constants.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "../vm/memory_plan.hpp"
#include "node.hpp"

namespace kiln::static_graph {

// A node reads at most this many inputs (concat of many tensors needs a bigger number).
inline constexpr int kMaxNodeInputs = 16;
// A fused loop reads at most this many tensors (fused_loop.hpp); fusion stops short of it.
inline constexpr int kMaxLoopLeaves = 31;

enum class Role : std::uint8_t { input, weight, view, inlined, fused, kernel };

struct NodeInfo {
  relax::OpKind op = relax::OpKind::identity;
  Role role = Role::kernel;
  StaticShape shape;
  int inputs[kMaxNodeInputs] = {};  // node indices; -1 for an absent optional input
  int input_count = 0;
  int uses = 0;           // input slots that read it, plus one if it is an output
  int consumer = -1;      // the last node that reads it
  bool output = false;
  int root = -1;          // an inlined op: the fused loop it runs in
  int storage = -1;       // the node whose arena buffer holds it; -1 for parameters and their views
  int step = -1;          // its position among the executed nodes (fused loops and kernels)
  int request = -1;       // its buffer request, when it owns a buffer
  int epilogue_into = -1; // a kernel writing into a fused loop's output: that loop
  int in_place_of = -1;   // a fused loop: the buffer (a node) it may overwrite
  int parts = 1;          // outputs of its op (topk: 2); they share its buffer
  int part = 0;           // an OutputPart: which output of its source node it is
  std::size_t bytes = 0;  // its buffer: every output of its op
  std::size_t part_offset = 0;  // an OutputPart: where it starts in its source's buffer
};

namespace detail {

template <class List, class T> struct contains;
template <class... Ts, class T> struct contains<TypeList<Ts...>, T> : std::bool_constant<(std::is_same_v<Ts, T> || ...)> {};

template <class List, class T> struct push_back;
template <class... Ts, class T> struct push_back<TypeList<Ts...>, T> { using type = TypeList<Ts..., T>; };

// Post-order over the DAG: every node after its inputs, each node once.
template <class Visited, class N> struct visit;
template <class Visited, class List> struct visit_all;
template <class Visited> struct visit_all<Visited, TypeList<>> { using type = Visited; };
template <class Visited, class N, class... Rest>
struct visit_all<Visited, TypeList<N, Rest...>> {
  using type = typename visit_all<typename visit<Visited, N>::type, TypeList<Rest...>>::type;
};
// A node already visited, or an absent optional input (NoInput has no inputs to walk), adds
// nothing; the walk below a node is instantiated only when the node is new.
template <class Visited, class N, bool Skip = std::is_same_v<N, NoInput> || contains<Visited, N>::value>
struct visit_new {
  using type = Visited;
};
template <class Visited, class N>
struct visit_new<Visited, N, false> {
  using type = typename push_back<typename visit_all<Visited, typename N::inputs>::type, N>::type;
};
template <class Visited, class N>
struct visit {
  using type = typename visit_new<Visited, N>::type;
};

template <class List, class T> struct index_of;
template <class... Ts, class T>
struct index_of<TypeList<Ts...>, T> {
  static constexpr int value = [] {
    if constexpr (std::is_same_v<T, NoInput>) {
      return -1;
    } else {
      constexpr bool match[] = {std::is_same_v<Ts, T>..., false};
      int i = 0;
      while (i < static_cast<int>(sizeof...(Ts)) && !match[i]) ++i;
      return i;
    }
  }();
};

// f32 ops the fused loop computes (fused_loop.hpp has their math).
constexpr bool is_fusable(relax::OpKind op) noexcept {
  using relax::OpKind;
  const relax::OpInfo& info = relax::op_info(op);
  if (info.family == relax::OpFamily::unary) return op != OpKind::identity && op != OpKind::logical_not;
  return op == OpKind::add || op == OpKind::subtract || op == OpKind::multiply || op == OpKind::divide ||
         op == OpKind::maximum || op == OpKind::minimum || op == OpKind::power;
}

template <class T>
constexpr bool is_f32() noexcept {
  if constexpr (std::is_same_v<T, NoInput>) return false;
  else return T::shape.dtype == DType::f32;
}

template <class N, class Nodes>
constexpr NodeInfo describe() noexcept {
  NodeInfo info;
  info.shape = N::shape;
  info.bytes = N::shape.bytes();
  if constexpr (N::is_param) {
    info.role = N::kind == ParamKind::input ? Role::input : Role::weight;
  } else if constexpr (N::is_part) {
    using Source = typename N::source;
    info.op = N::op;
    info.role = Role::view;
    info.inputs[0] = index_of<Nodes, Source>::value;
    info.input_count = 1;
    info.part = N::part;
    info.part_offset = Source::part_offset(N::part);
  } else {
    info.parts = N::output_count;
    info.bytes = N::bytes;
    info.op = N::op;
    [&]<class... In>(TypeList<In...>) {
      static_assert(sizeof...(In) <= kMaxNodeInputs, "kiln: a static graph node reads at most kMaxNodeInputs inputs");
      ((info.inputs[info.input_count++] = index_of<Nodes, In>::value), ...);
    }(typename N::inputs{});
    const bool all_f32 = N::shape.dtype == DType::f32 && [&]<class... In>(TypeList<In...>) {
      return (is_f32<In>() && ...);
    }(typename N::inputs{});
    info.role = relax::is_view_op(N::op) ? Role::view : (is_fusable(N::op) && all_f32 ? Role::fused : Role::kernel);
  }
  return info;
}

} // namespace detail

// The compile-time plan of a graph with outputs Outs...: nodes in order, roles, steps, memory.
template <class... Outs>
struct Plan {
  using Nodes = typename detail::visit_all<TypeList<>, TypeList<Outs...>>::type;
  static constexpr int node_count = static_cast<int>(Nodes::size);
  static constexpr int output_count = static_cast<int>(sizeof...(Outs));

  template <class N>
  static constexpr int index_of = detail::index_of<Nodes, N>::value;
  static constexpr std::array<int, sizeof...(Outs)> outputs{index_of<Outs>...};

  struct Result {
    std::array<NodeInfo, Nodes::size> nodes{};
    int steps = 0;
    int requests = 0;
    std::size_t arena_bytes = 0;
    std::size_t unplanned_bytes = 0;  // the arena without any reuse
    std::array<std::size_t, Nodes::size> offsets{};  // per node that owns a buffer
  };

  static constexpr Result make() {
    Result r;
    auto& n = r.nodes;
    [&]<class... Ns>(TypeList<Ns...>) {
      int i = 0;
      ((n[static_cast<std::size_t>(i++)] = detail::describe<Ns, Nodes>()), ...);
    }(Nodes{});
    const auto at = [&](int i) -> NodeInfo& { return n[static_cast<std::size_t>(i)]; };

    for (int o : outputs) {
      at(o).output = true;
      ++at(o).uses;
    }
    for (int i = 0; i < node_count; ++i)
      for (int k = 0; k < at(i).input_count; ++k)
        if (const int in = at(i).inputs[k]; in >= 0) {
          ++at(in).uses;
          at(in).consumer = i;
        }

    // Fusion, consumers before producers: an f32 elementwise op with one use whose reader is
    // itself fused joins the reader's loop, unless the loop would then read more tensors
    // than a fused loop takes.
    const auto leaves_of = [&](int root) {
      int leaves[kMaxLoopLeaves + 1] = {};
      int count = 0;
      const auto in_loop = [&](int j) { return j == root || (at(j).role == Role::inlined && at(j).root == root); };
      for (int j = 0; j < node_count; ++j) {
        if (!in_loop(j)) continue;
        for (int k = 0; k < at(j).input_count; ++k) {
          const int in = at(j).inputs[k];
          if (in < 0 || in_loop(in)) continue;
          bool seen = false;
          for (int m = 0; m < count; ++m) seen = seen || leaves[m] == in;
          if (!seen && count <= kMaxLoopLeaves) leaves[count++] = in;
        }
      }
      return count;
    };
    for (int i = node_count; i-- > 0;) {
      NodeInfo& x = at(i);
      if (x.role != Role::fused || x.output || x.uses != 1) continue;
      const NodeInfo& reader = at(x.consumer);
      if (reader.role == Role::fused || reader.role == Role::inlined) {
        x.role = Role::inlined;
        x.root = reader.role == Role::fused ? x.consumer : reader.root;
        if (leaves_of(x.root) > kMaxLoopLeaves) {
          x.role = Role::fused;
          x.root = -1;
        }
      }
    }

    // Steps and storage.
    for (int i = 0; i < node_count; ++i) {
      NodeInfo& x = at(i);
      if (x.role == Role::fused || x.role == Role::kernel) {
        x.step = r.steps++;
        x.storage = i;
      } else if (x.role == Role::view) {
        x.storage = at(x.inputs[0]).storage;
      }
    }

    // Epilogues: a kernel with one reader, inlined into (or read by) a fused loop of the same
    // f32 shape, writes into that loop's buffer. One per loop.
    for (int i = 0; i < node_count; ++i) {
      NodeInfo& x = at(i);
      if (x.role != Role::kernel || x.output || x.uses != 1 || x.parts > 1) continue;
      const NodeInfo& reader = at(x.consumer);
      const int loop = reader.role == Role::fused ? x.consumer : (reader.role == Role::inlined ? reader.root : -1);
      if (loop < 0 || !(at(loop).shape == x.shape) || x.shape.dtype != DType::f32) continue;
      bool taken = false;
      for (int j = 0; j < i; ++j) taken = taken || at(j).epilogue_into == loop;
      if (taken) continue;
      x.epilogue_into = loop;
      x.storage = loop;
    }

    // Liveness over steps: a buffer lives from its first writer to its last reader; outputs
    // to the end. An inlined op reads at its loop's step; views pass reads to their storage.
    std::array<int, Nodes::size> first{}, last{};
    for (int i = 0; i < node_count; ++i) first[static_cast<std::size_t>(i)] = last[static_cast<std::size_t>(i)] = -1;
    const auto read_step = [&](int reader) { return at(reader).role == Role::inlined ? at(at(reader).root).step : at(reader).step; };
    for (int i = 0; i < node_count; ++i) {
      const NodeInfo& x = at(i);
      if (x.step >= 0) {
        const auto s = static_cast<std::size_t>(x.storage);
        if (first[s] < 0 || x.step < first[s]) first[s] = x.step;
        if (x.step > last[s]) last[s] = x.step;
      }
      if (x.role == Role::view) continue;
      for (int k = 0; k < x.input_count; ++k) {
        const int in = x.inputs[k];
        if (in < 0 || at(in).storage < 0) continue;
        auto& l = last[static_cast<std::size_t>(at(in).storage)];
        if (read_step(i) > l) l = read_step(i);
      }
    }
    for (int o : outputs)
      if (at(o).storage >= 0) last[static_cast<std::size_t>(at(o).storage)] = r.steps;

    // In place: a fused loop without an epilogue may overwrite a same-shape buffer it reads
    // element for element, when that buffer dies at the loop (the planner checks the death).
    for (int i = 0; i < node_count; ++i) {
      NodeInfo& x = at(i);
      if (x.role != Role::fused) continue;
      bool has_epilogue = false;
      for (int j = 0; j < node_count; ++j) has_epilogue = has_epilogue || at(j).epilogue_into == i;
      if (has_epilogue) continue;
      // Leaves of the loop: inputs of the loop's ops that are not themselves inlined into it.
      for (int j = 0; j < node_count && x.in_place_of < 0; ++j) {
        if (!(j == i || (at(j).role == Role::inlined && at(j).root == i))) continue;
        for (int k = 0; k < at(j).input_count; ++k) {
          const int leaf = at(j).inputs[k];
          if (leaf < 0 || at(leaf).role == Role::inlined || at(leaf).storage < 0 || at(leaf).storage == i) continue;
          if (!(at(leaf).shape == x.shape) || at(at(leaf).storage).output || at(at(leaf).storage).parts > 1) continue;
          // Another leaf reading the same buffer with other strides would see it half rewritten.
          bool alone = true;
          for (int m = 0; m < node_count; ++m) {
            if (!(m == i || (at(m).role == Role::inlined && at(m).root == i))) continue;
            for (int q = 0; q < at(m).input_count; ++q) {
              const int other = at(m).inputs[q];
              if (other >= 0 && other != leaf && at(other).storage == at(leaf).storage) alone = false;
            }
          }
          if (alone) {
            x.in_place_of = at(leaf).storage;
            break;
          }
        }
      }
    }

    // Buffer requests, in step order of their first writer, and the plan.
    std::vector<vm::BufferRequest> requests;
    std::vector<int> owner;
    for (int step = 0; step < r.steps; ++step)
      for (int i = 0; i < node_count; ++i) {
        const auto s = static_cast<std::size_t>(i);
        if (at(i).step < 0 || at(i).storage != i || first[s] != step) continue;
        at(i).request = static_cast<int>(requests.size());
        owner.push_back(i);
        vm::BufferRequest q;
        q.bytes = at(i).bytes;
        q.first_step = first[s];
        q.last_step = last[s];
        requests.push_back(q);
      }
    for (std::size_t q = 0; q < requests.size(); ++q) {
      const int donor = at(owner[q]).in_place_of;
      if (donor >= 0) requests[q].in_place_of = at(donor).request;
    }
    const vm::MemoryPlan plan = vm::plan_memory(requests);
    r.requests = static_cast<int>(requests.size());
    r.arena_bytes = plan.arena_bytes;
    r.unplanned_bytes = plan.requested_bytes;
    for (std::size_t q = 0; q < requests.size(); ++q) {
      r.offsets[static_cast<std::size_t>(owner[q])] = plan.offsets[q];
      if (!plan.in_place[q]) at(owner[q]).in_place_of = -1;
    }
    return r;
  }

  static constexpr Result result = make();
  static constexpr const NodeInfo& node(int i) noexcept { return result.nodes[static_cast<std::size_t>(i)]; }
  static constexpr std::size_t arena_bytes = result.arena_bytes;
  static constexpr std::size_t unplanned_bytes = result.unplanned_bytes;
  static constexpr int steps = result.steps;

  // The arena offset of node i's memory (its storage's); meaningful when storage >= 0.
  static constexpr std::size_t offset_of(int i) noexcept {
    return result.offsets[static_cast<std::size_t>(node(i).storage)] + node(i).part_offset;
  }
  // The most outputs one node's op has.
  static constexpr int max_parts = [] {
    int most = 1;
    for (const NodeInfo& n : result.nodes) most = n.parts > most ? n.parts : most;
    return most;
  }();
};

} // namespace kiln::static_graph
