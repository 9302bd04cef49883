// kiln/tir/print.hpp: renders a lowered kernel as TVMScript-like text, so a user can read
// what a schedule did to the loops, and tests can compare it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/str_cat.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "stage_rewrites.hpp"
#include "compute_spec.hpp"
#include "loop_program.hpp"
#include "lower.hpp"
#include "stage_plan.hpp"

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
    case DType::u16: return "uint16";
    case DType::i32: return "int32";
    case DType::u32: return "uint32";
    case DType::i64: return "int64";
    case DType::u64: return "uint64";
    case DType::boolean: return "bool";
  }
  return "?";
}

// Declared first so that each overload can print any other kind of child.
template <Name N> std::string print_expr(const te::Var<N>&);
template <Name N, class E> std::string print_expr(const te::ReduceAxis<N, E>&);
template <Name N, class E> std::string print_expr(const te::SpatialAxis<N, E>&);
template <class U> std::string print_expr(const te::Const<U>&);
template <std::int64_t V> std::string print_expr(const te::StaticConst<V>&) { return std::to_string(V); }
template <class P, class... Idx> std::string print_expr(const te::Load<P, Idx...>&);
template <class Op, class L, class R> std::string print_expr(const te::Binary<Op, L, R>&);
template <class Op, class A> std::string print_expr(const te::Unary<Op, A>&);
template <class C, class A, class B, bool L> std::string print_expr(const te::Select<C, A, B, L>&);
template <class T, class A> std::string print_expr(const te::Cast<T, A>&);
template <class C, class... Idx> std::string print_expr(const te::StageLoad<C, Idx...>&);
template <class P> std::string print_expr(const te::EpilogueValue<P>&);
template <Name N> std::string print_expr(const te::ExtentValue<N>&) { return std::string(N.view()); }

template <class... Axes>
std::string axis_list(te::TypeList<Axes...>) {
  std::string out;
  ((out += str_cat(out.empty() ? "" : ", ", Axes::name.view())), ...);
  return out;
}

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
// "A[i, k]": a read of a placeholder or of another stage.
template <class Indices>
std::string print_read(const Name& tensor, const Indices& indices) {
  std::string out = str_cat(tensor.view(), "[");
  bool first = true;
  std::apply([&](const auto&... idx) { ((out += str_cat(first ? "" : ", ", print_expr(idx)), first = false), ...); },
             indices);
  return out + "]";
}
template <class P, class... Idx>
std::string print_expr(const te::Load<P, Idx...>& load) {
  return print_read(P::name, load.indices);
}
template <class C, class... Idx>
std::string print_expr(const te::StageLoad<C, Idx...>& load) {
  return print_read(C::name, load.indices);
}
// In an epilogue, the producer's value at its own axes.
template <class P>
std::string print_expr(const te::EpilogueValue<P>&) {
  return str_cat(P::name.view(), "[", axis_list(typename P::spatial_axes{}), "]");
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
template <class C, class A, class B, bool L>
std::string print_expr(const te::Select<C, A, B, L>& e) {
  return str_cat(L ? "T.if_then_else(" : "T.Select(", print_expr(e.cond), ", ", print_expr(e.if_true), ", ",
                 print_expr(e.if_false), ")");
}
template <class T, class A>
std::string print_expr(const te::Cast<T, A>& e) {
  return str_cat("T.Cast(\"", dtype_name<T>(), "\", ", print_expr(e.arg), ")");
}

// A buffer's extents as allocated: each padded axis as the multiple it is rounded up to and,
// under transform_layout, in the layout's order, a blocked axis as its number of blocks
// with the block innermost.
template <class... Es>
std::string allocated_extents(const LoopProgram& writer, te::Extents<Es...>) {
  std::string extent[sizeof...(Es) + 1];
  std::int64_t static_extent[sizeof...(Es) + 1] = {};  // -1: dynamic
  int axis = 0;
  auto one = [&]<class E>(std::type_identity<E>) {
    const std::int64_t m = writer.pad_multiple[axis];
    if constexpr (is_static_v<E>) {
      static_extent[axis] = writer.padded_extent(axis, E::value);
      extent[axis] = std::to_string(static_extent[axis]);
    } else {
      static_extent[axis] = -1;
      extent[axis] = m > 0 ? str_cat("T.round_up(", te::extent_text<E>(), ", ", m, ")") : te::extent_text<E>();
    }
    ++axis;
  };
  (one(std::type_identity<Es>{}), ...);
  const BufferLayout& layout = writer.layout;
  std::string out;
  int dims = 0;
  auto dim = [&](const std::string& e) { out += str_cat(dims++ ? ", " : "", e); };
  if (!layout.transformed()) {
    for (int a = 0; a < axis; ++a) dim(extent[a]);
  } else {
    for (int d = 0; d < layout.rank; ++d) {
      const int a = layout.order[d];
      if (a != layout.blocked_axis) dim(extent[a]);
      else if (static_extent[a] >= 0) dim(std::to_string(layout.stored_extent(a, static_extent[a])));
      else dim(str_cat("T.ceildiv(", extent[a], ", ", layout.block, ")"));
    }
    if (layout.blocked()) dim(std::to_string(layout.block));
  }
  return dims == 1 ? out + "," : out;
}

// A tensor's extents as declared: an argument's, neither padded nor transformed.
template <class... Es>
std::string print_extents(te::Extents<Es...> extents) {
  return allocated_extents(LoopProgram{}, extents);
}

// Under transform_layout, where an element of the buffer lies: "  # B[k, j] at [j // 16, k, j % 16]".
inline std::string layout_comment(const LoopProgram& writer, std::string_view buffer) {
  const BufferLayout& layout = writer.layout;
  if (!layout.transformed()) return {};
  std::string logical, physical;
  for (int a = 0; a < writer.spatial_count; ++a) logical += str_cat(a ? ", " : "", writer.axis_names[a].view());
  for (int d = 0; d < layout.rank; ++d) {
    const int a = layout.order[d];
    physical += str_cat(d ? ", " : "", writer.axis_names[a].view());
    if (a == layout.blocked_axis) physical += str_cat(" // ", layout.block);
  }
  if (layout.blocked()) physical += str_cat(", ", writer.axis_names[layout.blocked_axis].view(), " % ", layout.block);
  return str_cat("  # ", buffer, "[", logical, "] at [", physical, "]");
}

template <class... Ps>
std::string print_params(te::TypeList<Ps...>) {
  std::string out;
  ((out += str_cat(Ps::name.view(), ": T.Buffer((", print_extents(typename Ps::extents_type{}), "), \"",
                   dtype_name<typename Ps::value_type>(), "\"), ")),
   ...);
  return out;
}

} // namespace detail

namespace detail {
inline std::string indent(int depth) { return std::string(static_cast<std::size_t>(depth) * 4, ' '); }

inline std::string loop_line(const LoopProgram& p, int i, int depth) {
  const Loop& l = p.loops[i];
  const char* kind = l.kind == LoopKind::serial       ? "range"
                     : l.kind == LoopKind::parallel   ? "T.parallel"
                     : l.kind == LoopKind::vectorized ? "T.vectorized"
                                                      : "T.unroll";
  const std::string extent = print_index(p, l.tail_bound >= 0 ? l.tail_bound : l.extent);
  const std::string tensorized =
      i == p.tensorize_at ? str_cat(indent(depth), "# tensorized from here inwards: ", p.intrinsic.name.view(), "[",
                                    p.intrinsic.rows, " x ", p.intrinsic.cols, "]\n")
                          : std::string();
  return str_cat(tensorized, indent(depth), "for ", l.name.view(), " in ", kind, "(", extent, "):",
                 l.reduction ? "  # reduction" : "", "\n");
}

// Axis bindings and guards at the innermost level; returns the depth of the statement.
inline int bindings(const LoopProgram& p, int depth, bool spatial_only, std::string& out) {
  for (int a = 0; a < p.axis_count; ++a) {
    if (spatial_only && p.axis_reduction[a]) continue;
    const std::string value = print_index(p, p.axis_value[a]);
    if (value != p.axis_names[a].view()) out += str_cat(indent(depth), p.axis_names[a].view(), " = ", value, "\n");
  }
  // Guarded tails skip the statement; past a padded axis's extent it stores zero instead.
  std::string guard, inside;
  for (int g = 0; g < p.guard_count; ++g) {
    bool reduction_guard = false;
    for (int i = 0; i < p.loop_count; ++i)
      if (p.loops[i].reduction && p.depends_on_loop(p.guards[g].value, p.loops[i].id)) reduction_guard = true;
    if (spatial_only && reduction_guard) continue;
    // A guard on a whole axis reads best as that axis.
    std::string value = print_index(p, p.guards[g].value);
    for (int a = 0; a < p.axis_count; ++a)
      if (p.axis_value[a] == p.guards[g].value) value = std::string(p.axis_names[a].view());
    std::string& text = p.guards[g].pad ? inside : guard;
    text += str_cat(text.empty() ? "" : " and ", value, " < ", print_index(p, p.guards[g].bound));
  }
  if (!guard.empty()) out += str_cat(indent(depth++), "if ", guard, ":\n");
  if (!inside.empty()) out += str_cat(indent(depth++), "if ", inside, ":  # else the padding: 0\n");
  return depth;
}

template <class St>
std::string element(const LoopProgram& p) {
  std::string target = str_cat(St::name.view(), "[");
  for (int a = 0; a < p.spatial_count; ++a) target += str_cat(a ? ", " : "", p.axis_names[a].view());
  return target + "]";
}

// The spatial loops inside the first reduction loop, from depth `depth`; returns the depth of
// their body after bindings and guards.
inline int inner_spatial_nest(const LoopProgram& p, int first, int depth, std::string& out) {
  for (int i = first + 1; i < p.loop_count; ++i)
    if (!p.loops[i].reduction) out += loop_line(p, i, depth++);
  return bindings(p, depth, true, out);
}

// The local tile of cache_write(local): indexed by the spatial loops inside the first
// reduction loop.
inline std::string tile_element(const LoopProgram& p, int first, const Name& stage) {
  std::string out = str_cat(stage.view(), "_local[");
  bool any = false;
  for (int i = first + 1; i < p.loop_count; ++i)
    if (!p.loops[i].reduction) {
      out += str_cat(any ? ", " : "", p.loops[i].name.view());
      any = true;
    }
  return out + (any ? "]" : "0]");
}

// One executed stage: its loops, bindings, guards, how the reduction starts, the statement,
// then the write-back of a local tile and the epilogue of a reverse-inlined consumer.
// Stages attached to a stage's loops (compute_at, reverse_compute_at), printed inside it:
// before[i] right after the line of loop i, `after` once the nest is done (reverse_compute_at
// attaches outside the reduction, so the end of the text is the end of that loop's body).
struct Attached {
  std::string before[kMaxLoops];
  std::string after;
};

inline std::string reindent(const std::string& text, int depth) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    out += indent(depth);
    out += text.substr(start, end - start + 1);
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

template <class PlanT, class St, class Last>
std::string print_stage(const Last& last, const Attached& attached = {}) {
  constexpr const LoopProgram& p = PlanT::template program<St>;
  using T = typename St::value_type;
  const auto exprs = make_stage_exprs<PlanT, St>(last);
  constexpr int output = PlanT::output_of(PlanT::template index_of<St>);
  using Out = std::tuple_element_t<output, typename te::tuple_of<typename PlanT::Stages>::type>;
  const std::string target = str_cat(Out::name.view(), element<St>(p).substr(St::name.size()));
  std::string out;
  if constexpr (!St::is_reduction) {
    for (int i = 0; i < p.loop_count; ++i) out += loop_line(p, i, i + 1) + attached.before[i];
    const int depth = bindings(p, p.loop_count + 1, false, out);
    out += str_cat(indent(depth), target, " = ", print_expr(exprs.first), "\n");
    return out + attached.after;
  } else {
    using R = typename decltype(exprs.first)::reducer_type;
    const std::string identity = str_cat("T.", R::name, "_identity(\"", dtype_name<T>(), "\")");
    int first = 0;
    while (!p.loops[first].reduction) ++first;
    for (int i = 0; i < first; ++i) out += loop_line(p, i, i + 1) + attached.before[i];
    std::string accumulator = target;
    if (p.local_accumulator) {
      accumulator = tile_element(p, first, St::name);
      out += str_cat(indent(first + 1), St::name.view(), "_local = T.alloc_buffer((", reduction_tile(p), ",), \"",
                     dtype_name<T>(), "\", scope=\"local\")\n");
      const int d = inner_spatial_nest(p, first, first + 1, out);
      out += str_cat(indent(d), accumulator, " = ", identity, "\n");
    } else if (p.decomposed_init) {
      const int d = inner_spatial_nest(p, first, first + 1, out);
      out += str_cat(indent(d), target, " = ", identity, "\n");
    }
    for (int i = first; i < p.loop_count; ++i) out += loop_line(p, i, i + 1) + attached.before[i];
    const int depth = bindings(p, p.loop_count + 1, false, out);
    if (!p.local_accumulator && !p.decomposed_init) {
      std::string start;
      for (int a = p.spatial_count; a < p.axis_count; ++a)
        start += str_cat(a > p.spatial_count ? " and " : "", p.axis_names[a].view(), " == 0");
      out += str_cat(indent(depth), "if ", start, ":\n", indent(depth + 1), target, " = ", identity, "\n");
    }
    out += str_cat(indent(depth), accumulator, " = T.", R::name, "(", accumulator, ", ", print_expr(exprs.first.body),
                   ")\n");
    constexpr bool has_epilogue = !std::is_same_v<typename decltype(exprs)::second_type, int>;
    if (p.local_accumulator || has_epilogue) {
      std::string value = p.local_accumulator ? accumulator : target;
      if constexpr (has_epilogue) {
        out += str_cat(indent(first + 1), "# epilogue: ", Out::name.view(), " once ", St::name.view(), " is reduced\n");
        const int d = inner_spatial_nest(p, first, first + 1, out);
        std::string epilogue = print_expr(exprs.second);
        // The producer's value is the accumulator.
        const std::string produced = str_cat(St::name.view(), "[", axis_list(typename St::spatial_axes{}), "]");
        for (std::size_t at = epilogue.find(produced); at != std::string::npos; at = epilogue.find(produced, at + value.size()))
          epilogue.replace(at, produced.size(), value);
        out += str_cat(indent(d), target, " = ", epilogue, "\n");
      } else {
        const int d = inner_spatial_nest(p, first, first + 1, out);
        out += str_cat(indent(d), target, " = ", value, "\n");
      }
    }
    return out + attached.after;
  }
}

// A stage's text with the stages attached to its loops (and theirs) inside.
template <class PlanT, class St, class Last>
std::string print_with_attached(const Last& last) {
  constexpr int self = PlanT::template index_of<St>;
  constexpr const LoopProgram& p = PlanT::template program<St>;
  Attached attached;
  [&]<class... Ss>(te::TypeList<Ss...>) {
    auto one = [&]<class A>(std::type_identity<A>) {
      constexpr int a = PlanT::template index_of<A>;
      if constexpr (PlanT::host_of(a) == self) {
        constexpr int at = p.find_loop(PlanT::roles.host_loop[a]);
        const std::string text = reindent(print_with_attached<PlanT, A>(last), at + 1);
        std::string header = str_cat(indent(at + 2), "# ", A::name.view(), " over the region ",
                                     PlanT::roles.after_body[a] ? "this iteration wrote" : "this iteration reads", "\n");
        if (!PlanT::roles.after_body[a]) {
          // Only the region is stored, densely.
          constexpr const LoopProgram& ap = PlanT::template program<A>;
          std::string extents;
          for (int q = 0; q < ap.spatial_count; ++q)
            extents += str_cat(q ? ", " : "", ap.symbols[ap.region_extent_slot[q]].view());
          header += str_cat(indent(at + 2), A::name.view(), " = T.alloc_buffer((", extents, "), \"",
                            dtype_name<typename A::value_type>(), "\")\n");
        }
        if (PlanT::roles.after_body[a]) attached.after += header + text;
        else attached.before[at] += header + text;
      }
    };
    (one(std::type_identity<Ss>{}), ...);
  }(typename PlanT::Stages{});
  return print_stage<PlanT, St>(last, attached);
}
} // namespace detail

// The loop nest alone: one line per loop, its kind and extent.
inline std::string print(const LoopProgram& p) {
  if (p.error.failed) return str_cat("# illegal schedule: ", p.error.message, "\n");
  std::string out;
  for (int i = 0; i < p.loop_count; ++i) out += detail::loop_line(p, i, i);
  return out;
}

// A whole kernel as a TVMScript-like function: buffers, intermediate allocations, and for each
// executed stage its loops, axis bindings, guarded tails, the reduction's start, the
// statement and any epilogue. Inlined stages appear inside the expressions that read them.
namespace detail {
// ArgInputs: the inputs in argument order (that of the kernel before cache_read).
template <Schedule S, class ArgInputs, class Last>
std::string print_kernel(const Last& last) {
  using PlanT = StagePlan<S, Last>;
  constexpr Diagnostic error = schedule_diagnostic<S, Last>();
  if constexpr (error.failed) {
    return str_cat("# illegal schedule: ", error.message, "\n");
  } else {
    std::string out = str_cat("@T.prim_func\ndef ", Last::name.view(), "(", detail::print_params(ArgInputs{}),
                              Last::name.view(), ": T.Buffer((", detail::print_extents(typename Last::extents_type{}),
                              "), \"", detail::dtype_name<typename Last::value_type>(), "\")):\n");
    [&]<class... Ss>(te::TypeList<Ss...>) {
      auto one = [&]<class St>(std::type_identity<St>) {
        constexpr int i = PlanT::template index_of<St>;
        if constexpr (PlanT::needs_workspace(i) && (PlanT::host_of(i) < 0 || PlanT::roles.after_body[i])) {
          constexpr const LoopProgram& sp = PlanT::template program<St>;
          std::string aligned;
          for (int a = 0; a < sp.spatial_count; ++a)
            if (sp.align_factor[a] > 0)
              aligned += str_cat(aligned.empty() ? "  # stride of " : ", ", sp.axis_names[a].view(), " = ",
                                 sp.align_factor[a], " * q + ", sp.align_offset[a]);
          using Writer = std::tuple_element_t<PlanT::writer_of(i), typename te::tuple_of<typename PlanT::Stages>::type>;
          constexpr const LoopProgram& wp = PlanT::template program<Writer>;
          out += str_cat("    ", St::name.view(), " = T.alloc_buffer((",
                         detail::allocated_extents(wp, typename St::extents_type{}), "), \"",
                         detail::dtype_name<typename St::value_type>(), "\")", aligned,
                         detail::layout_comment(wp, St::name.view()), "\n");
        }
        if constexpr (PlanT::top_level(i)) out += detail::print_with_attached<PlanT, St>(last);
      };
      (one(std::type_identity<Ss>{}), ...);
    }(typename PlanT::Stages{});
    return out;
  }
}
} // namespace detail

template <Schedule S, class Last>
std::string print(const Last& original) {
  // The stages that cache_read and cache_write(global) add come first.
  return detail::print_kernel<S, typename Last::inputs>(rewrite_stages<S>(original));
}

} // namespace kiln::tir
