// kiln/static_graph/ops.hpp: the functions a static graph is written with.
//
//   constexpr auto x = input<"x", DType::f32, 8, 64>();
//   constexpr auto w = weight<"w", DType::f32, 64, 32>();
//   constexpr auto y = relu(matmul(x, w) + weight<"b", DType::f32, 32>());
//
// Every function returns an empty node value whose type is the computation; attributes are
// template arguments (the relax attribute structs, so both ways to run a graph share them):
// conv<relax::ConvAttrs{.pads = {1, 1, 1, 1}}>(x, w, b). `apply<OpKind, attrs>(inputs...)`
// reaches any op with one output and static attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#include "node.hpp"

namespace kiln::static_graph {

using relax::OpKind;

template <Name N, DType D, std::int64_t... Dims>
constexpr auto input() noexcept {
  return Param<ParamKind::input, N, D, Dims...>{};
}
template <Name N, DType D, std::int64_t... Dims>
constexpr auto weight() noexcept {
  return Param<ParamKind::weight, N, D, Dims...>{};
}

template <OpKind Op, auto A = relax::NoAttrs{}, OptionalGraphTensor... In>
constexpr auto apply(In...) noexcept {
  return Node<Op, A, In...>{};
}

// ---- elementwise --------------------------------------------------------------------------
template <GraphTensor X> constexpr auto neg(X x) noexcept { return apply<OpKind::neg>(x); }
template <GraphTensor X> constexpr auto abs(X x) noexcept { return apply<OpKind::abs>(x); }
template <GraphTensor X> constexpr auto relu(X x) noexcept { return apply<OpKind::relu>(x); }
template <GraphTensor X> constexpr auto sigmoid(X x) noexcept { return apply<OpKind::sigmoid>(x); }
template <GraphTensor X> constexpr auto tanh(X x) noexcept { return apply<OpKind::tanh>(x); }
template <GraphTensor X> constexpr auto exp(X x) noexcept { return apply<OpKind::exp>(x); }
template <GraphTensor X> constexpr auto log(X x) noexcept { return apply<OpKind::log>(x); }
template <GraphTensor X> constexpr auto sqrt(X x) noexcept { return apply<OpKind::sqrt>(x); }
template <GraphTensor X> constexpr auto erf(X x) noexcept { return apply<OpKind::erf>(x); }
template <GraphTensor X> constexpr auto gelu(X x) noexcept { return apply<OpKind::gelu>(x); }
template <GraphTensor X> constexpr auto silu(X x) noexcept { return apply<OpKind::silu>(x); }

template <GraphTensor A, GraphTensor B> constexpr auto add(A a, B b) noexcept { return apply<OpKind::add>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto subtract(A a, B b) noexcept { return apply<OpKind::subtract>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto multiply(A a, B b) noexcept { return apply<OpKind::multiply>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto divide(A a, B b) noexcept { return apply<OpKind::divide>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto maximum(A a, B b) noexcept { return apply<OpKind::maximum>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto minimum(A a, B b) noexcept { return apply<OpKind::minimum>(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto operator+(A a, B b) noexcept { return add(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto operator-(A a, B b) noexcept { return subtract(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto operator*(A a, B b) noexcept { return multiply(a, b); }
template <GraphTensor A, GraphTensor B> constexpr auto operator/(A a, B b) noexcept { return divide(a, b); }

template <GraphTensor C, GraphTensor X, GraphTensor Y>
constexpr auto where(C c, X x, Y y) noexcept { return apply<OpKind::where>(c, x, y); }
template <DType To, GraphTensor X>
constexpr auto cast(X x) noexcept { return apply<OpKind::cast, relax::CastAttrs{To}>(x); }

// ---- linear algebra and windows ------------------------------------------------------------
template <GraphTensor A, GraphTensor B> constexpr auto matmul(A a, B b) noexcept { return apply<OpKind::matmul>(a, b); }
template <relax::GemmOpAttrs Attrs = relax::GemmOpAttrs{}, GraphTensor A, GraphTensor B, OptionalGraphTensor C = NoInput>
constexpr auto gemm(A a, B b, C c = {}) noexcept {
  if constexpr (std::is_same_v<C, NoInput>) return apply<OpKind::gemm, Attrs>(a, b);
  else return apply<OpKind::gemm, Attrs>(a, b, c);
}
template <relax::ConvAttrs Attrs = relax::ConvAttrs{}, GraphTensor X, GraphTensor W, OptionalGraphTensor B = NoInput>
constexpr auto conv(X x, W w, B b = {}) noexcept {
  if constexpr (std::is_same_v<B, NoInput>) return apply<OpKind::conv, Attrs>(x, w);
  else return apply<OpKind::conv, Attrs>(x, w, b);
}
template <ConvTransposeAttrs Attrs = ConvTransposeAttrs{}, GraphTensor X, GraphTensor W,
          OptionalGraphTensor B = NoInput>
constexpr auto conv_transpose(X x, W w, B b = {}) noexcept {
  if constexpr (std::is_same_v<B, NoInput>) return apply<OpKind::conv_transpose, Attrs>(x, w);
  else return apply<OpKind::conv_transpose, Attrs>(x, w, b);
}
template <relax::PoolAttrs Attrs, GraphTensor X> constexpr auto max_pool(X x) noexcept { return apply<OpKind::max_pool, Attrs>(x); }
template <relax::PoolAttrs Attrs, GraphTensor X>
constexpr auto average_pool(X x) noexcept { return apply<OpKind::average_pool, Attrs>(x); }
template <GraphTensor X> constexpr auto global_average_pool(X x) noexcept { return apply<OpKind::global_average_pool>(x); }
template <GraphTensor X> constexpr auto global_max_pool(X x) noexcept { return apply<OpKind::global_max_pool>(x); }
template <relax::AttentionAttrs Attrs = relax::AttentionAttrs{}, GraphTensor Q, GraphTensor K, GraphTensor V,
          OptionalGraphTensor M = NoInput>
constexpr auto attention(Q q, K k, V v, M mask = {}) noexcept {
  if constexpr (std::is_same_v<M, NoInput>) return apply<OpKind::attention, Attrs>(q, k, v);
  else return apply<OpKind::attention, Attrs>(q, k, v, mask);
}

// ---- normalization -------------------------------------------------------------------------
template <relax::NormAttrs Attrs = relax::NormAttrs{}, GraphTensor X, GraphTensor S, GraphTensor B>
constexpr auto layer_norm(X x, S scale, B bias) noexcept { return apply<OpKind::layer_norm, Attrs>(x, scale, bias); }
template <relax::NormAttrs Attrs = relax::NormAttrs{}, GraphTensor X, GraphTensor S, GraphTensor B, GraphTensor M,
          GraphTensor V>
constexpr auto batch_norm(X x, S scale, B bias, M mean, V variance) noexcept {
  return apply<OpKind::batch_norm, Attrs>(x, scale, bias, mean, variance);
}
template <std::int64_t Axis = -1, GraphTensor X>
constexpr auto softmax(X x) noexcept { return apply<OpKind::softmax, relax::AxisAttrs{Axis}>(x); }
template <std::int64_t Axis = -1, GraphTensor X>
constexpr auto log_softmax(X x) noexcept { return apply<OpKind::log_softmax, relax::AxisAttrs{Axis}>(x); }

// ---- reductions ----------------------------------------------------------------------------
template <relax::ReduceAttrs Attrs, GraphTensor X> constexpr auto reduce_sum(X x) noexcept { return apply<OpKind::reduce_sum, Attrs>(x); }
template <relax::ReduceAttrs Attrs, GraphTensor X> constexpr auto reduce_mean(X x) noexcept { return apply<OpKind::reduce_mean, Attrs>(x); }
template <relax::ReduceAttrs Attrs, GraphTensor X> constexpr auto reduce_max(X x) noexcept { return apply<OpKind::reduce_max, Attrs>(x); }

// ---- layout --------------------------------------------------------------------------------
template <std::int64_t... Dims, GraphTensor X>
constexpr auto reshape(X x) noexcept { return apply<OpKind::reshape, StaticDims<Dims...>{}>(x); }
template <std::int64_t... Dims, GraphTensor X>
constexpr auto expand(X x) noexcept { return apply<OpKind::expand, StaticDims<Dims...>{}>(x); }
template <std::int64_t Axis = 1, GraphTensor X>
constexpr auto flatten(X x) noexcept { return apply<OpKind::flatten, relax::AxisAttrs{Axis}>(x); }
template <std::int64_t... Perm, GraphTensor X>
constexpr auto transpose(X x) noexcept { return apply<OpKind::transpose, relax::PermAttrs{relax::Ints{Perm...}}>(x); }
// The dims [Start, End) of x as an i64 tensor (ONNX Shape), filled by the shape_of kernel.
template <std::int64_t Start = 0, std::int64_t End = relax::detail::kPosInf, GraphTensor X>
constexpr auto shape_of(X x) noexcept {
  return apply<OpKind::shape_of, relax::ShapeOfAttrs{Start, End}>(x);
}
template <std::int64_t Axis, GraphTensor... Xs>
constexpr auto concat(Xs... xs) noexcept { return apply<OpKind::concat, relax::AxisAttrs{Axis}>(xs...); }

// ONNX Resize with constant scales or sizes (see relax::ResizeAttrs for the fields).
template <ResizeAttrs Attrs, GraphTensor X>
constexpr auto resize(X x) noexcept { return apply<OpKind::resize, Attrs>(x); }

// ---- ops with several outputs ----------------------------------------------------------------
// Output I of a node whose op has several; the node itself is output 0.
template <int I, GraphTensor N>
constexpr auto output(N) noexcept {
  if constexpr (I == 0) return N{};
  else return OutputPart<N, I>{};
}

// The node itself when its op has one output, else a tuple of its outputs.
template <GraphTensor N>
constexpr auto outputs_of(N node) noexcept {
  if constexpr (N::output_count == 1) {
    return node;
  } else {
    return [node]<int... I>(std::integer_sequence<int, I...>) {
      return std::tuple{output<I>(node)...};
    }(std::make_integer_sequence<int, N::output_count>{});
  }
}

// ONNX TopK with a constant k: (values, i64 indices).
template <TopKAttrs Attrs, GraphTensor X>
constexpr auto topk(X x) noexcept {
  constexpr auto values = apply<OpKind::topk, Attrs>(x);
  return std::tuple{values, output<1>(values)};
}

namespace detail {
template <std::size_t I, std::int64_t... Sizes>
constexpr std::int64_t split_start() noexcept {
  constexpr std::int64_t sizes[] = {Sizes...};
  std::int64_t start = 0;
  for (std::size_t i = 0; i < I; ++i) start += sizes[i];
  return start;
}
} // namespace detail

// ONNX Split with explicit sizes along Axis: a tuple of slices, one per size, which must
// add up to the axis's extent. A node has one output, so each part is its own slice node.
template <std::int64_t Axis, std::int64_t... Sizes, GraphTensor X>
constexpr auto split(X x) noexcept {
  static_assert(sizeof...(Sizes) > 0, "split: give at least one size");
  static_assert(((Sizes >= 0) && ...), "split: sizes must not be negative");
  static_assert(Axis >= -X::shape.rank && Axis < X::shape.rank, "split: the axis is out of range");
  static_assert((Sizes + ...) == X::shape.dims[Axis < 0 ? Axis + X::shape.rank : Axis],
                "split: the sizes must add up to the extent of the axis");
  return [x]<std::size_t... I>(std::index_sequence<I...>) {
    constexpr std::int64_t sizes[] = {Sizes...};
    return std::tuple{apply<OpKind::slice, relax::SliceAttrs{.starts = {detail::split_start<I, Sizes...>()},
                                                             .ends = {detail::split_start<I, Sizes...>() + sizes[I]},
                                                             .axes = {Axis}}>(x)...};
  }(std::make_index_sequence<sizeof...(Sizes)>{});
}

} // namespace kiln::static_graph
