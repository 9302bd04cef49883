// kiln/backend/cpu/kernel.hpp: the CPU backend. build<schedule>(compute) lowers the compute
// under the schedule at compile time and returns a Kernel whose loops are instantiated from
// the loop program: static extents become constants, the vectorized loop becomes xsimd
// batches, the outermost parallel loop runs on a ThreadPool.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../../te/tensor.hpp"
#include "../../tir/compute_spec.hpp"
#include "../../tir/lower.hpp"
#include "buffer.hpp"
#include "vector_eval.hpp"

namespace kiln::cpu {

// The SIMD architecture kernels are built for: the best one the compile flags enable.
using default_arch = xsimd::default_arch;

// An illegal schedule stops compilation here. g++ prints the diagnostic in the template
// argument: schedule_error<kiln::tir::Diagnostic{true, "vectorize(\"k\"): ..."}>.
template <tir::Diagnostic D>
struct schedule_error {
  static_assert(!D.failed, "kiln: illegal schedule; the message is in schedule_error<...> above");
  static constexpr bool ok = !D.failed;
};

namespace detail {

template <class List> struct buffers_of;
template <class... Ps>
struct buffers_of<te::TypeList<Ps...>> {
  using type = std::tuple<Buffer<const typename Ps::value_type, Ps::rank>...>;
};

template <class List, Name N> struct index_by_name;
template <class... Ps, Name N>
struct index_by_name<te::TypeList<Ps...>, N> {
  static constexpr std::size_t value = [] {
    constexpr bool match[] = {(Ps::name == N)..., false};
    std::size_t i = 0;
    while (i < sizeof...(Ps) && !match[i]) ++i;
    return i;
  }();
};

// What the innermost statement sees: the compute's axis values and the bound buffers.
template <tir::LoopProgram P, class C>
struct Env {
  using Output = typename C::value_type;
  using Inputs = typename buffers_of<typename C::inputs>::type;

  std::int64_t axes[tir::kMaxAxes] = {};
  const Inputs* inputs = nullptr;
  const Buffer<Output, C::rank>* output = nullptr;

  template <Name N>
  KILN_FORCEINLINE std::int64_t var() const noexcept {
    constexpr int a = P.find_axis(N);
    static_assert(a >= 0, "kiln: the expression uses a loop variable that is not an axis of its compute");
    return axes[a];
  }
  template <Name N>
  KILN_FORCEINLINE void advance(std::int64_t by) noexcept {
    axes[P.find_axis(N)] += by;
  }
  template <class Placeholder>
  KILN_FORCEINLINE const auto& buffer() const noexcept {
    return std::get<index_by_name<typename C::inputs, Placeholder::name>::value>(*inputs);
  }
  template <class Placeholder, class... Idx>
  KILN_FORCEINLINE auto load(Idx... idx) const noexcept {
    return *buffer<Placeholder>().at(idx...);
  }
  KILN_FORCEINLINE Output* out() const noexcept {
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return output->at(axes[I]...); }(
        std::make_index_sequence<C::rank>{});
  }
};

// The expression a statement evaluates: the body, or what a reduction combines.
template <class B> struct statement_expr { using type = B; };
template <class R, class B, class... A> struct statement_expr<te::Reduce<R, B, A...>> { using type = B; };

template <tir::LoopProgram P, class C, class Arch>
struct Codegen {
  using T = typename C::value_type;
  using EnvT = Env<P, C>;
  static constexpr bool has_simd = !std::is_same_v<Arch, xsimd::unavailable> && xsimd::has_simd_register<T, Arch>::value;
  static constexpr std::size_t width = [] {
    if constexpr (has_simd) return xsimd::batch<T, Arch>::size;
    else return std::size_t{1};
  }();

  struct State {
    std::int64_t loop[tir::kMaxLoops * 4] = {};  // loop variable values, by loop id
    const std::int64_t* symbols = nullptr;
    EnvT env;
  };

  template <int Node>
  static KILN_FORCEINLINE std::int64_t index(const State& s) noexcept {
    constexpr tir::IndexNode n = P.nodes[Node];
    if constexpr (n.op == tir::IndexNode::constant) return n.value;
    else if constexpr (n.op == tir::IndexNode::symbol) return s.symbols[n.value];
    else if constexpr (n.op == tir::IndexNode::loop_var) return s.loop[n.value];
    else {
      const std::int64_t a = index<n.a>(s), b = index<n.b>(s);
      if constexpr (n.op == tir::IndexNode::add) return a + b;
      else if constexpr (n.op == tir::IndexNode::sub) return a - b;
      else if constexpr (n.op == tir::IndexNode::mul) return a * b;
      else if constexpr (n.op == tir::IndexNode::floordiv) return a / b;  // operands are never negative
      else if constexpr (n.op == tir::IndexNode::floormod) return a % b;
      else if constexpr (n.op == tir::IndexNode::ceildiv) return (a + b - 1) / b;
      else return a < b ? a : b;
    }
  }

  static KILN_FORCEINLINE void compute_axes(State& s) noexcept {
    [&]<int... A>(std::integer_sequence<int, A...>) { ((s.env.axes[A] = index<P.axis_value[A]>(s)), ...); }(
        std::make_integer_sequence<int, P.axis_count>{});
  }
  // Guards that do not involve the loop `skip_id` (-1: all of them).
  template <int SkipId>
  static KILN_FORCEINLINE bool guards_hold(const State& s) noexcept {
    return [&]<int... G>(std::integer_sequence<int, G...>) {
      return (... && (P.depends_on_loop(P.guards[G].value, SkipId) ||
                      index<P.guards[G].value>(s) < index<P.guards[G].bound>(s)));
    }(std::make_integer_sequence<int, P.guard_count>{});
  }
  // The reduction starts at an output element when every reduction axis is at 0.
  static KILN_FORCEINLINE bool at_reduction_start(const State& s) noexcept {
    return [&]<int... A>(std::integer_sequence<int, A...>) {
      return (... && (!P.axis_reduction[A] || s.env.axes[A] == 0));
    }(std::make_integer_sequence<int, P.axis_count>{});
  }

  static KILN_FORCEINLINE void scalar_statement(State& s, const C& c) noexcept {
    compute_axes(s);
    if (!guards_hold<-1>(s)) return;
    T* out = s.env.out();
    if constexpr (C::is_reduction) {
      using R = typename C::body_type::reducer_type;
      if (at_reduction_start(s)) *out = R::template identity<T>();
      *out = R::combine(*out, static_cast<T>(c.body.body.eval(s.env)));
    } else {
      *out = static_cast<T>(c.body.eval(s.env));
    }
  }

  // W lanes of the vectorized loop, starting at the current value of its variable.
  template <int Depth>
  static KILN_FORCEINLINE void vector_statement(State& s, const C& c) noexcept {
    constexpr tir::Loop L = P.loops[Depth];
    constexpr int axis = [] {
      for (int a = 0; a < P.axis_count; ++a)
        if (P.depends_on_loop(P.axis_value[a], L.id)) return a;
      return -1;
    }();
    constexpr Name axis_name = P.axis_names[axis];
    using Body = typename statement_expr<typename C::body_type>::type;
    compute_axes(s);
    if (!guards_hold<L.id>(s)) return;
    // Lanes past a guarded tail are dropped.
    std::int64_t lanes = static_cast<std::int64_t>(width);
    [&]<int... G>(std::integer_sequence<int, G...>) {
      ((P.depends_on_loop(P.guards[G].value, L.id)
            ? (lanes = std::min(lanes, index<P.guards[G].bound>(s) - index<P.guards[G].value>(s)), 0)
            : 0),
       ...);
    }(std::make_integer_sequence<int, P.guard_count>{});
    constexpr bool output_contiguous = axis == C::rank - 1;
    if constexpr (has_simd && output_contiguous && vectorizable_v<Body, T, axis_name>) {
      if (lanes == static_cast<std::int64_t>(width) && s.env.output->stride[C::rank - 1] == 1) {
        using batch = xsimd::batch<T, Arch>;
        using V = VectorEval<T, Arch, axis_name>;
        T* out = s.env.out();
        if constexpr (C::is_reduction) {
          using R = typename C::body_type::reducer_type;
          batch acc = at_reduction_start(s) ? batch(R::template identity<T>()) : batch::load_unaligned(out);
          const batch v = V::eval(c.body.body, s.env);
          if constexpr (std::is_same_v<R, te::reducer::sum>) acc += v;
          else if constexpr (std::is_same_v<R, te::reducer::prod>) acc *= v;
          else if constexpr (std::is_same_v<R, te::reducer::max>) acc = xsimd::max(acc, v);
          else acc = xsimd::min(acc, v);
          acc.store_unaligned(out);
        } else {
          V::eval(c.body, s.env).store_unaligned(out);
        }
        return;
      }
    }
    // One lane at a time.
    const std::int64_t first = s.loop[L.id];
    for (std::int64_t l = 0; l < lanes; ++l) {
      s.loop[L.id] = first + l;
      scalar_statement(s, c);
    }
    s.loop[L.id] = first;
  }

  template <int Depth>
  static KILN_FORCEINLINE void loop_body(State& s, const C& c, std::int64_t i) noexcept {
    s.loop[P.loops[Depth].id] = i;
    run<Depth + 1>(s, c);
  }

  template <int Depth, std::int64_t Trip>
  static KILN_FORCEINLINE void static_loop(State& s, const C& c) noexcept {
    constexpr tir::Loop L = P.loops[Depth];
    if constexpr (L.kind == tir::LoopKind::vectorized) {
      constexpr std::int64_t w = static_cast<std::int64_t>(width);
      std::int64_t i = 0;
      for (; i + w <= Trip; i += w) {
        s.loop[L.id] = i;
        vector_statement<Depth>(s, c);
      }
      for (; i < Trip; ++i) loop_body<Depth>(s, c, i);
    } else if constexpr (L.kind == tir::LoopKind::unrolled) {
      [&]<std::int64_t... I>(std::integer_sequence<std::int64_t, I...>) { (loop_body<Depth>(s, c, I), ...); }(
          std::make_integer_sequence<std::int64_t, Trip>{});
    } else {
      for (std::int64_t i = 0; i < Trip; ++i) loop_body<Depth>(s, c, i);
    }
  }

  static KILN_FORCEINLINE void dynamic_loop_at(State& s, const C& c, std::int64_t trip, auto depth) noexcept {
    constexpr int Depth = decltype(depth)::value;
    for (std::int64_t i = 0; i < trip; ++i) loop_body<Depth>(s, c, i);
  }

  template <int Depth>
  static KILN_FORCEINLINE void run(State& s, const C& c) noexcept {
    if constexpr (Depth == P.loop_count) {
      scalar_statement(s, c);
    } else {
      constexpr tir::Loop L = P.loops[Depth];
      constexpr std::int64_t full = P.static_value(L.extent);
      if constexpr (L.tail_bound >= 0) {
        // A separate tail: full tiles take the static loop, the last one a shorter loop.
        const std::int64_t trip = index<L.tail_bound>(s);
        if (KILN_LIKELY(trip == full)) static_loop<Depth, full>(s, c);
        else dynamic_loop_at(s, c, trip, std::integral_constant<int, Depth>{});
      } else if constexpr (full >= 0) {
        static_loop<Depth, full>(s, c);
      } else {
        dynamic_loop_at(s, c, index<L.extent>(s), std::integral_constant<int, Depth>{});
      }
    }
  }

  // The whole nest; the outermost loop goes to the pool when it is parallel.
  static void execute(State& s, const C& c, ThreadPool* pool) {
    if constexpr (P.loop_count > 0 && P.loops[0].kind == tir::LoopKind::parallel) {
      if (pool != nullptr && pool->size() > 1) {
        const std::int64_t trip = index<P.loops[0].extent>(s);
        pool->parallel_for(0, trip, [&](std::int64_t begin, std::int64_t end) {
          State local = s;
          for (std::int64_t i = begin; i < end; ++i) loop_body<0>(local, c, i);
        });
        return;
      }
    }
    run<0>(s, c);
  }
};

} // namespace detail

// A compute lowered under a schedule for the CPU. Call it with the inputs, in the order
// they first appear in the compute's body, then the output; views or tensors.
template <tir::LoopProgram P, class C, class Arch>
class Kernel {
 public:
  using compute_type = C;
  static constexpr const tir::LoopProgram& program = P;

  explicit Kernel(const C& compute) : compute_(compute) {}

  template <class... Args>
  Status operator()(Args&&... args) const {
    return run(nullptr, std::forward<Args>(args)...);
  }

  // Runs the outermost loop, if the schedule made it parallel, on the pool.
  template <class... Args>
  Status run(ThreadPool* pool, Args&&... args) const {
    static_assert(sizeof...(Args) == C::inputs::size + 1,
                  "kiln::cpu::Kernel: pass every input (in order of first use in the compute) and then the output");
    using Codegen = detail::Codegen<P, C, Arch>;
    typename Codegen::State state;
    std::int64_t symbols[tir::kMaxSymbols] = {};
    bool bound[tir::kMaxSymbols] = {};
    typename detail::Env<P, C>::Inputs inputs;
    Buffer<typename C::value_type, C::rank> output;
    KILN_RETURN_IF_ERROR(bind_all(inputs, output, symbols, bound, std::forward_as_tuple(args...),
                                  std::make_index_sequence<C::inputs::size>{}));
    state.symbols = symbols;
    state.env.inputs = &inputs;
    state.env.output = &output;
    Codegen::execute(state, compute_, pool);
    return {};
  }

 private:
  // Checks one argument's extents against a placeholder's (static extents must match,
  // symbolic ones bind on first use and must agree afterwards).
  template <class... Es, class B>
  static Status check_extents(te::Extents<Es...>, const B& buf, const Name& name, std::int64_t* symbols, bool* bound) {
    Status status;
    std::size_t axis = 0;
    auto check_one = [&]<class E>(std::type_identity<E>) {
      const std::int64_t actual = buf.extent[axis];
      if (status.ok()) {
        if constexpr (is_static_v<E>) {
          if (actual != E::value)
            status = make_error(StatusCode::shape_mismatch, "argument ", name.view(), ": extent ", actual, " on axis ",
                                axis, " but the kernel was built for ", E::value);
        } else {
          constexpr int slot = [] {
            for (int i = 0; i < P.symbol_count; ++i)
              if (P.symbols[i] == E::name) return i;
            return -1;
          }();
          if (!bound[slot]) {
            symbols[slot] = actual;
            bound[slot] = true;
          } else if (symbols[slot] != actual) {
            status = make_error(StatusCode::shape_mismatch, "argument ", name.view(), ": extent ", actual, " on axis ",
                                axis, " but ", E::name.view(), " = ", symbols[slot], " from an earlier argument");
          }
        }
      }
      ++axis;
    };
    (check_one(std::type_identity<Es>{}), ...);
    return status;
  }

  template <class Inputs, class Output, class ArgTuple, std::size_t... I>
  static Status bind_all(Inputs& inputs, Output& output, std::int64_t* symbols, bool* bound, ArgTuple args,
                         std::index_sequence<I...>) {
    Status status;
    auto bind_input = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
      if (!status.ok()) return;
      using Ph = std::tuple_element_t<K, te_list_tuple<typename C::inputs>>;
      auto b = to_buffer<const typename Ph::value_type, Ph::rank>(std::get<K>(args), Ph::name.c_str());
      if (!b.ok()) {
        status = std::move(b).status();
        return;
      }
      std::get<K>(inputs) = *b;
      status = check_extents(typename Ph::extents_type{}, *b, Ph::name, symbols, bound);
    };
    (bind_input(std::integral_constant<std::size_t, I>{}), ...);
    KILN_RETURN_IF_ERROR(status);
    auto out = to_buffer<typename C::value_type, C::rank>(std::get<sizeof...(I)>(args), C::name.c_str());
    if (!out.ok()) return std::move(out).status();
    output = *out;
    return check_extents(output_extents(typename C::spatial_axes{}), output, C::name, symbols, bound);
  }

  template <class List> struct te_list_tuple_impl;
  template <class... Ps> struct te_list_tuple_impl<te::TypeList<Ps...>> { using type = std::tuple<Ps...>; };
  template <class List> using te_list_tuple = typename te_list_tuple_impl<List>::type;

  template <class... Axes>
  static constexpr auto output_extents(te::TypeList<Axes...>) {
    return te::Extents<typename Axes::extent_type...>{};
  }

  C compute_;
};

// Lowers `compute` under schedule S for SIMD architecture Arch; an illegal schedule is a
// compile-time error naming the primitive and the loop.
template <tir::Schedule S, class Arch = default_arch, class C>
auto build(const C& compute) {
  constexpr tir::LoopProgram program = tir::lower(tir::compute_spec<C>(), S);
  static_assert(schedule_error<program.error>::ok);
  return Kernel<program, C, Arch>(compute);
}

} // namespace kiln::cpu
