// kiln/backend/vulkan/shared_cache.hpp: cache_read(tensor, Scope::shared) on a GPU. The stage
// that reads `tensor` gets, at each iteration of the loop that compute_at names for the copy
// "<tensor>_shared", the region of the tensor that the iteration reads in workgroup memory:
// the invocations of the workgroup copy it together, meet at a barrier, and then read the copy
// instead of the buffer. Every invocation of the workgroup shares the copy, so the region is
// the one they read together: the loops bound to thread axes range over their extents, as the
// loops inside the attach loop do, while block loops and the loops outside stay fixed.
//
// Workgroup memory is sized when the module is made, so the region's extent must be static.
// It is found here, while the application compiles: each index of the read is affine in the
// stage's axes with static non-negative coefficients (i, k, y * 2 + r, i - 1), and each axis is
// affine in the loops that range, whose extents are static (split factors and thread axes).
// Then the region starts where every ranging loop is zero, and its extent along an index is one
// plus the largest step the ranging loops make in it.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../../core/name.hpp"
#include "../../te/expr.hpp"
#include "../../te/tensor.hpp"
#include "../../te/type_list.hpp"
#include "../../te/var_traits.hpp"
#include "../../tir/loop_program.hpp"

namespace kiln::vulkan {

inline constexpr int kMaxSharedCaches = 4;
// The workgroup memory every Vulkan device has (the specification's minimum for
// maxComputeSharedMemorySize); the copies are 4 bytes an element (f32 or i32).
inline constexpr std::int64_t kMaxSharedBytes = 16384;

// One tensor copied into workgroup memory.
struct SharedCache {
  Name tensor;
  int rank = 0;
  std::int64_t span[tir::kMaxAxes] = {};  // the region's extent along each axis of the tensor
  std::int64_t elements = 0;
  bool floating = false;  // the copy holds f32 (else i32), the kind its buffer's loads give
  const char* problem = nullptr;
};

namespace detail {

// The reads (loads of an input or of a stage) in an expression of the tensors whose names Match
// accepts, in the stage's own expression only: reads inside an inlined producer keep going to
// the buffer.
template <class Match, class E> struct reads_where { using type = te::TypeList<>; };
template <class Match, class Op, class L, class R>
struct reads_where<Match, te::Binary<Op, L, R>> {
  using type = te::concat_t<typename reads_where<Match, L>::type, typename reads_where<Match, R>::type>;
};
template <class Match, class Op, class A> struct reads_where<Match, te::Unary<Op, A>> : reads_where<Match, A> {};
template <class Match, class U, class A> struct reads_where<Match, te::Cast<U, A>> : reads_where<Match, A> {};
template <class Match, class C, class Y, class F, bool L>
struct reads_where<Match, te::Select<C, Y, F, L>> {
  using type = te::concat_t<typename reads_where<Match, C>::type, typename reads_where<Match, Y>::type,
                            typename reads_where<Match, F>::type>;
};
template <class Match, class R, class B, class... Axes>
struct reads_where<Match, te::Reduce<R, B, Axes...>> : reads_where<Match, B> {};
template <class Match, class P, class... Idx>
struct reads_where<Match, te::Load<P, Idx...>> {
  using type = te::concat_t<std::conditional_t<Match::template accepts<P::name>, te::TypeList<te::Load<P, Idx...>>, te::TypeList<>>,
                            typename reads_where<Match, Idx>::type...>;
};
template <class Match, class C, class... Idx>
struct reads_where<Match, te::StageLoad<C, Idx...>> {
  using type = te::concat_t<std::conditional_t<Match::template accepts<C::name>, te::TypeList<te::StageLoad<C, Idx...>>, te::TypeList<>>,
                            typename reads_where<Match, Idx>::type...>;
};
template <Name T, class E>
using reads_of_t = typename reads_where<te::detail::named<T>, E>::type;

template <class List> struct all_same : std::true_type {};
template <class First, class... Rest>
struct all_same<te::TypeList<First, Rest...>> : std::bool_constant<(std::is_same_v<First, Rest> && ...)> {};

template <class E> struct is_static_index : std::false_type {};
template <std::int64_t V> struct is_static_index<te::StaticConst<V>> : std::true_type {};

// Whether an index holds a constant whose value is stored in the expression (two reads of the
// same type may then differ).
template <class E> struct has_stored_constant : std::false_type {};
template <class T> struct has_stored_constant<te::Const<T>> : std::true_type {};
template <class Op, class L, class R>
struct has_stored_constant<te::Binary<Op, L, R>> : std::bool_constant<has_stored_constant<L>::value || has_stored_constant<R>::value> {};
template <class Read> struct read_has_stored_constant;
template <template <class, class...> class Load, class Source, class... Idx>
struct read_has_stored_constant<Load<Source, Idx...>> : std::bool_constant<(has_stored_constant<Idx>::value || ...)> {};

template <class E> struct binary_parts { static constexpr bool is_binary = false; };
template <class Op, class L, class R>
struct binary_parts<te::Binary<Op, L, R>> {
  static constexpr bool is_binary = true;
  using lhs = L;
  using rhs = R;
};

// How far an index reaches past its value at the region's origin when axis a of the stage
// steps up to axis_width[a] past its own (-1: not known); -1 when the index is not affine in
// the axes with static non-negative coefficients.
template <class E>
constexpr std::int64_t index_width(const tir::LoopProgram& p, const std::int64_t* axis_width) {
  if constexpr (te::var_name<E>::is_var) {
    const int a = p.find_axis(te::var_name<E>::name);
    return a < 0 ? -1 : axis_width[a];
  } else if constexpr (is_static_index<E>::value) {
    return 0;
  } else if constexpr (has_stored_constant<E>::value && !binary_parts<E>::is_binary) {
    return std::is_integral_v<typename E::value_type> ? 0 : -1;
  } else if constexpr (binary_parts<E>::is_binary) {
    using Op = typename E::op_type;
    using L = typename binary_parts<E>::lhs;
    using R = typename binary_parts<E>::rhs;
    const std::int64_t l = index_width<L>(p, axis_width), r = index_width<R>(p, axis_width);
    if (l < 0 || r < 0) return -1;
    if constexpr (std::is_same_v<Op, te::op::add>) {
      return l + r;
    } else if constexpr (std::is_same_v<Op, te::op::sub>) {
      return r == 0 ? l : -1;  // minus a constant
    } else if constexpr (std::is_same_v<Op, te::op::mul>) {
      if (l == 0 && r == 0) return 0;
      if constexpr (is_static_index<R>::value) {
        if (R::value >= 0) return l * R::value;
      }
      if constexpr (is_static_index<L>::value) {
        if (L::value >= 0) return r * L::value;
      }
      return -1;
    } else {
      return -1;
    }
  } else {
    return -1;
  }
}

// The tensor a read reads: its placeholder or its stage.
template <class Read> struct read_source { using type = typename Read::placeholder_type; };
template <class C, class... Idx> struct read_source<te::StageLoad<C, Idx...>> { using type = C; };
template <class Read>
using read_source_t = typename read_source<Read>::type;

template <class Read> struct read_indices;
template <template <class, class...> class Load, class Source, class... Idx>
struct read_indices<Load<Source, Idx...>> {
  using type = te::TypeList<Idx...>;
};

} // namespace detail

// The shared copy of tensor T (an input, or a stage with a buffer of its own) for stage St
// whose loop program is `p`, when axis a of the stage ranges over axis_width[a] + 1 values
// (-1: it does not range over a static extent).
template <Name T, class St, bool DispatchedStage>
constexpr SharedCache plan_shared_cache(const tir::LoopProgram& p, const std::int64_t* axis_width) {
  SharedCache c;
  c.tensor = T;
  using Reads = detail::reads_of_t<T, typename St::body_type>;
  if constexpr (Reads::size == 0) {
    c.problem = "the stage does not read the tensor in its own expression";
    return c;
  } else {
    using First = std::tuple_element_t<0, typename te::tuple_of<Reads>::type>;
    if constexpr (!detail::all_same<Reads>::value) {
      c.problem = "the stage reads the tensor at different indices; one region serves one read";
      return c;
    } else if constexpr (Reads::size > 1 && detail::read_has_stored_constant<First>::value) {
      c.problem = "the stage reads the tensor more than once with stored constants in the indices";
      return c;
    } else {
      if constexpr (requires { typename First::stage_type; }) {
        if (!DispatchedStage) {
          c.problem = "the tensor is a stage the Vulkan backend inlines; copy an input or a reduction";
          return c;
        }
      }
      c.floating = std::is_floating_point_v<typename First::value_type> || std::is_same_v<typename First::value_type, f16>;
      std::int64_t elements = 1;
      [&]<class... Idx>(te::TypeList<Idx...>) {
        ((c.span[c.rank++] = detail::index_width<Idx>(p, axis_width) + 1), ...);
      }(typename detail::read_indices<First>::type{});
      for (int d = 0; d < c.rank; ++d) {
        if (c.span[d] <= 0) {
          c.problem = "an index of the read is not affine in loops of static extent; the region's size is not static";
          return c;
        }
        elements *= c.span[d];
        if (elements * 4 > kMaxSharedBytes) {
          c.problem = "the region is larger than the 16 KiB of workgroup memory every device has";
          return c;
        }
      }
      c.elements = elements;
      return c;
    }
  }
}

} // namespace kiln::vulkan
