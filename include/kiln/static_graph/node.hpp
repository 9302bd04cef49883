// kiln/static_graph/node.hpp: the nodes of a static graph, types whose shapes the C++
// compiler infers.
//
// A static graph is a model whose every shape is known when the application is compiled.
// Each tensor of it is a type: a Param (an input or a weight, named, with its dtype and
// dims as template arguments) or a Node (an op, its attributes as a template argument,
// and the node types of its inputs). A node value holds nothing; everything is in its
// type, so two nodes of the same type compute the same thing and a graph shares them.
//
// A node's output type is inferred by the same constexpr functions that type a dynamic
// module (relax::infer), run by the compiler. A graph whose shapes do not fit stops
// compilation; g++ prints the reason inside the template argument of graph_error:
//     graph_error<kiln::relax::TypeError{..., {"matmul: inner dimensions 64 and 32 differ", ...
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "../core/dtype.hpp"
#include "../core/name.hpp"
#include "../relax/attributes.hpp"
#include "../relax/op_kind.hpp"
#include "../relax/shape_inference.hpp"
#include "../te/type_list.hpp"
#include "../vm/memory_plan.hpp"

namespace kiln::static_graph {

using te::TypeList;

// A static shape: dtype and constant dims, small enough to copy around in constant expressions.
struct StaticShape {
  DType dtype = DType::f32;
  int rank = 0;
  std::int64_t dims[kMaxRank] = {};

  constexpr std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (int a = 0; a < rank; ++a) n *= dims[a];
    return n;
  }
  constexpr std::size_t bytes() const noexcept { return static_cast<std::size_t>(elements()) * size_of(dtype); }

  constexpr relax::TensorType tensor_type() const noexcept {
    relax::TensorType t;
    t.dtype = dtype;
    for (int a = 0; a < rank; ++a) t.push_back(relax::SymDim(dims[a]));
    return t;
  }
  friend constexpr bool operator==(const StaticShape& a, const StaticShape& b) noexcept {
    if (a.dtype != b.dtype || a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
};

// An inferred type, once every dim is known to be a constant.
constexpr StaticShape static_shape_of(const relax::TensorType& t) noexcept {
  StaticShape s;
  s.dtype = t.dtype;
  s.rank = t.rank < 0 ? 0 : t.rank;
  for (int a = 0; a < s.rank; ++a) s.dims[a] = t.dims[a].constant_value();
  return s;
}

// A graph whose shapes do not fit stops here; the message is the template argument.
template <relax::TypeError E>
struct graph_error {
  static_assert(E.message.length == 0, "kiln: a static graph's shapes do not fit; the message is in graph_error<...> above");
  static constexpr bool ok = E.message.length == 0;
};

enum class ParamKind : std::uint8_t { input, weight };

// An input (given to every run) or a weight (bound once), named so that a model binds it by name.
template <ParamKind Kind, Name ParamName, DType D, std::int64_t... Dims>
struct Param {
  static_assert(sizeof...(Dims) <= kMaxRank, "kiln: a static graph's tensors have at most kMaxRank dims");
  static_assert(((Dims > 0) && ...), "kiln: a static graph's dims are positive");
  static constexpr bool is_param = true;
  static constexpr bool is_part = false;
  static constexpr ParamKind kind = Kind;
  static constexpr Name name = ParamName;
  static constexpr StaticShape shape{D, static_cast<int>(sizeof...(Dims)), {Dims...}};
  static constexpr relax::TensorType type = shape.tensor_type();
  using inputs = TypeList<>;
};

// An absent optional input (a conv without bias).
struct NoInput {
  static constexpr bool is_param = false;
  static constexpr bool is_part = false;
};

namespace detail {

template <class T>
constexpr relax::TensorType type_of() noexcept {
  if constexpr (std::is_same_v<T, NoInput>) return relax::TensorType{};
  else return T::type;
}

constexpr relax::PoolKind pool_kind(relax::OpKind op) noexcept {
  using relax::OpKind;
  if (op == OpKind::max_pool || op == OpKind::global_max_pool) return relax::PoolKind::max;
  if (op == OpKind::lp_pool || op == OpKind::global_lp_pool) return relax::PoolKind::lp;
  return relax::PoolKind::average;
}

// The output type of `Op` with attributes `A` on inputs `In...`: relax's own inference rules.
template <relax::OpKind Op, auto A, class... In>
constexpr relax::Inferred<relax::TensorType> infer_node() noexcept {
  using relax::OpFamily;
  using relax::OpKind;
  namespace infer = relax::infer;
  constexpr const relax::OpInfo& info = relax::op_info(Op);
  constexpr std::size_t n = sizeof...(In);
  static_assert(n >= info.min_inputs && (info.max_inputs == relax::kVariadic || n <= info.max_inputs),
                "kiln: a static graph node has the wrong number of inputs for its op");
  // The inputs' types as locals: the infer rules test an optional input's pointer against
  // null, and under -fsanitize=undefined g++ 12 cannot do that in a constant expression for
  // the address of a static member (In::type), only for the address of a local.
  const relax::TensorType types[] = {type_of<In>()..., relax::TensorType{}};
  constexpr bool present[] = {!std::is_same_v<In, NoInput>..., false};
  const relax::TensorType* in[n + 1] = {};
  for (std::size_t i = 0; i < n; ++i) in[i] = present[i] ? &types[i] : nullptr;
  const auto opt = [&](std::size_t i) { return i < n ? in[i] : nullptr; };
  using AttrType = std::remove_cvref_t<decltype(A)>;
  if constexpr (info.family == OpFamily::unary) return infer::unary(info.name, *in[0], info.element);
  else if constexpr (info.family == OpFamily::binary) return infer::binary(info.name, *in[0], *in[1], info.element);
  else if constexpr (info.family == OpFamily::compare) return infer::compare(info.name, *in[0], *in[1]);
  else if constexpr (info.family == OpFamily::logical) return infer::logical(info.name, *in[0], *in[1]);
  else if constexpr (Op == OpKind::where) return infer::where(*in[0], *in[1], *in[2]);
  else if constexpr (Op == OpKind::clip) return infer::clip(*in[0], opt(1), opt(2));
  else if constexpr (Op == OpKind::cast) return infer::cast(*in[0], A.to);
  else if constexpr (Op == OpKind::matmul) return infer::matmul(*in[0], *in[1]);
  else if constexpr (Op == OpKind::gemm) return infer::gemm(*in[0], *in[1], opt(2), infer::GemmAttrs{A.trans_a, A.trans_b});
  else if constexpr (Op == OpKind::conv) return infer::conv(*in[0], *in[1], opt(2), A);
  else if constexpr (Op == OpKind::conv_transpose) return infer::conv_transpose(*in[0], *in[1], opt(2), A.relax_attrs());
  else if constexpr (Op == OpKind::max_pool || Op == OpKind::average_pool || Op == OpKind::lp_pool)
    return infer::pool(pool_kind(Op), *in[0], A);
  else if constexpr (Op == OpKind::global_max_pool || Op == OpKind::global_average_pool || Op == OpKind::global_lp_pool)
    return infer::global_pool(pool_kind(Op), *in[0]);
  else if constexpr (Op == OpKind::batch_norm) return infer::batch_norm(*in[0], *in[1], *in[2], *in[3], *in[4]);
  else if constexpr (Op == OpKind::layer_norm) return infer::layer_norm(*in[0], *in[1], opt(2), A.axis);
  else if constexpr (Op == OpKind::instance_norm) return infer::instance_norm(*in[0], *in[1], *in[2]);
  else if constexpr (Op == OpKind::group_norm) return infer::group_norm(*in[0], *in[1], *in[2], A.num_groups);
  else if constexpr (Op == OpKind::softmax || Op == OpKind::log_softmax || Op == OpKind::hardmax)
    return infer::softmax(info.name, *in[0], A.axis);
  else if constexpr (std::is_same_v<AttrType, relax::ReduceAttrs>) return infer::reduce(info.name, *in[0], A);
  else if constexpr (Op == OpKind::argmax || Op == OpKind::argmin)
    return infer::arg_reduce(info.name, *in[0], A.axis, A.keepdims);
  else if constexpr (Op == OpKind::cumsum) return infer::cumsum(*in[0], A.axis);
  else if constexpr (Op == OpKind::reshape) return infer::reshape(*in[0], A.dims(), false);
  else if constexpr (Op == OpKind::expand) return infer::expand(*in[0], A.dims());
  else if constexpr (Op == OpKind::flatten) return infer::flatten(*in[0], A.axis);
  else if constexpr (Op == OpKind::squeeze) return infer::squeeze(*in[0], A.axes);
  else if constexpr (Op == OpKind::unsqueeze) return infer::unsqueeze(*in[0], A.axes);
  else if constexpr (Op == OpKind::transpose) return infer::transpose(*in[0], A.perm);
  else if constexpr (Op == OpKind::shape_of) return infer::shape_of(*in[0], A.start, A.end);
  else if constexpr (Op == OpKind::resize) return infer::resize(*in[0], A.relax_attrs());
  else if constexpr (Op == OpKind::concat) return infer::concat({In::type...}, A.axis);
  else if constexpr (Op == OpKind::slice) return infer::slice(*in[0], A);
  else if constexpr (Op == OpKind::gather) return infer::gather(*in[0], *in[1], A.axis);
  else if constexpr (Op == OpKind::gather_elements) return infer::gather_elements(*in[0], *in[1], A.axis);
  else if constexpr (Op == OpKind::scatter_elements) return infer::scatter_elements(*in[0], *in[1], *in[2], A.axis);
  else if constexpr (Op == OpKind::scatter_nd) return infer::scatter_nd(*in[0], *in[1], *in[2]);
  else if constexpr (Op == OpKind::pad) return infer::pad(*in[0], A.pads, A.axes);
  else if constexpr (Op == OpKind::tile) return infer::tile(*in[0], A.repeats);
  else if constexpr (Op == OpKind::attention) return infer::attention(*in[0], *in[1], *in[2], opt(3));
  else {
    static_assert(Op == OpKind::identity, "kiln: this op has no static-graph form (control flow, "
                                          "dims known only at run time, a sub-function, or an NCHWc layout op, which "
                                          "only the VM's layout conversion makes)");
    return *in[0];
  }
}

// The output types of `Op`: topk gives values and indices, every other op its one type.
template <relax::OpKind Op, auto A, class... In>
constexpr relax::Inferred<relax::TensorTypeList> infer_outputs() noexcept {
  if constexpr (Op == relax::OpKind::topk) {
    static_assert(sizeof...(In) == 1, "kiln: topk takes one input");
    return relax::infer::topk(type_of<In>()..., relax::SymDim(A.k), A.axis);
  } else {
    const relax::Inferred<relax::TensorType> one = infer_node<Op, A, In...>();
    if (!one.ok()) return one.error();
    return relax::TensorTypeList{*one};
  }
}

} // namespace detail

// The target shape of a static reshape or expand: dims as template arguments. Converts to
// relax::ShapeAttrs for the kernels.
template <std::int64_t... D>
struct StaticDims {
  constexpr relax::Dims dims() const noexcept { return relax::Dims{relax::SymDim(D)...}; }
  relax::ShapeAttrs to_attrs() const { return relax::ShapeAttrs{dims(), false}; }
};

// relax::TopKAttrs with k a constant, so that it can be a template argument.
struct TopKAttrs {
  std::int64_t k = 1;
  std::int64_t axis = -1;
  bool largest = true;
  bool sorted = true;
  relax::Attrs to_attrs() const { return relax::TopKAttrs{relax::SymDim(k), axis, largest, sorted}; }
};

// relax::ResizeAttrs with its sizes as constants, so that it can be a template argument.
struct ResizeAttrs {
  relax::FixedVector<double, kMaxRank> scales = {};
  relax::Ints sizes = {};
  relax::Ints axes = {};
  relax::ResizeMode mode = relax::ResizeMode::nearest;
  relax::ResizeCoordinates coordinates = relax::ResizeCoordinates::half_pixel;
  relax::ResizeRounding nearest_rounding = relax::ResizeRounding::round_prefer_floor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0.0;
  relax::FixedVector<double, 2 * kMaxRank> roi = {};
  bool antialias = false;
  relax::AspectRatioPolicy keep_aspect_ratio = relax::AspectRatioPolicy::stretch;

  constexpr relax::ResizeAttrs relax_attrs() const noexcept {
    relax::ResizeAttrs a;
    a.scales = scales;
    for (std::int64_t d : sizes) a.sizes.push_back(relax::SymDim(d));
    a.axes = axes;
    a.mode = mode;
    a.coordinates = coordinates;
    a.nearest_rounding = nearest_rounding;
    a.cubic_coeff_a = cubic_coeff_a;
    a.exclude_outside = exclude_outside;
    a.extrapolation_value = extrapolation_value;
    a.roi = roi;
    a.antialias = antialias;
    a.keep_aspect_ratio = keep_aspect_ratio;
    return a;
  }
  relax::Attrs to_attrs() const { return relax_attrs(); }
};

// relax::ConvTransposeAttrs with its output shape as constants, so that it can be a template
// argument.
struct ConvTransposeAttrs {
  relax::Ints strides = {};
  relax::Ints pads = {};
  relax::Ints dilations = {};
  std::int64_t groups = 1;
  relax::AutoPad auto_pad = relax::AutoPad::explicit_pads;
  relax::Ints output_padding = {};
  relax::Ints output_shape = {};

  constexpr relax::ConvTransposeAttrs relax_attrs() const noexcept {
    relax::ConvTransposeAttrs a{strides, pads, dilations, groups, auto_pad, output_padding, {}};
    for (std::int64_t d : output_shape) a.output_shape.push_back(relax::SymDim(d));
    return a;
  }
  relax::Attrs to_attrs() const { return relax_attrs(); }
};

// One op applied to its inputs. `A` is the op's relax attribute struct (relax::ConvAttrs,
// relax::AxisAttrs, ...), or StaticDims for reshape and expand.
// The node stands for the op's first output; output<I>(node) names the others.
template <relax::OpKind Op, auto A, class... In>
struct Node {
  static constexpr bool is_param = false;
  static constexpr bool is_part = false;
  static constexpr relax::OpKind op = Op;
  static constexpr auto attrs = A;
  using inputs = TypeList<In...>;
  static constexpr relax::Inferred<relax::TensorTypeList> inferred = detail::infer_outputs<Op, A, In...>();
  static constexpr bool ok = graph_error<inferred.error()>::ok;
  static constexpr int output_count = inferred.ok() ? inferred->size() : 1;
  static constexpr bool all_static = [] {
    if (!inferred.ok()) return true;
    for (const relax::TensorType& t : *inferred)
      if (!t.is_static()) return false;
    return true;
  }();
  static_assert(!ok || all_static, "kiln: a static graph node's dims must all be constants");
  static constexpr relax::TensorType output_type(int i) noexcept {
    return inferred.ok() ? (*inferred)[i] : relax::TensorType{};
  }
  static constexpr relax::TensorType type = output_type(0);
  static constexpr StaticShape shape = static_shape_of(type);
  // Where output i starts in the node's buffer: the outputs lie one after another, each
  // aligned as a buffer of the arena.
  static constexpr std::size_t part_offset(int i) noexcept {
    std::size_t offset = 0;
    for (int j = 0; j < i; ++j) offset += vm::align_up(static_shape_of(output_type(j)).bytes());
    return offset;
  }
  static constexpr std::size_t bytes = output_count == 1 ? shape.bytes() : part_offset(output_count);
};

// Output I (from 1) of a node with several outputs: it reads nothing and computes nothing;
// its memory is a part of the node's buffer, which the node's kernel fills.
template <class Source, int I>
struct OutputPart {
  static_assert(I >= 1 && I < Source::output_count, "kiln: the node has no such output");
  static constexpr bool is_param = false;
  static constexpr bool is_part = true;
  static constexpr int part = I;
  static constexpr relax::OpKind op = Source::op;
  using source = Source;
  using inputs = TypeList<Source>;
  static constexpr relax::TensorType type = Source::output_type(I);
  static constexpr StaticShape shape = static_shape_of(type);
};

// The outputs of a node whose types are given rather than inferred (a user kernel's declared
// outputs, a branch graph's), laid out in one buffer as Node lays out its parts. `Copies`
// repeats the whole set: a loop keeps the next iteration's values beside the current ones.
template <auto Shapes, std::size_t Copies = 1>
struct FixedOutputs {
  static_assert(Shapes.size() > 0, "kiln: a static graph node has at least one output");
  static constexpr int output_count = static_cast<int>(Shapes.size());
  static constexpr relax::TensorType output_type(int i) noexcept {
    return Shapes[static_cast<std::size_t>(i)].tensor_type();
  }
  static constexpr relax::TensorType type = output_type(0);
  static constexpr StaticShape shape = Shapes[0];
  static constexpr std::size_t part_offset(int i) noexcept {
    std::size_t offset = 0;
    for (int j = 0; j < i; ++j) offset += vm::align_up(Shapes[static_cast<std::size_t>(j)].bytes());
    return offset;
  }
  // Where copy c of the outputs starts.
  static constexpr std::size_t copy_offset(std::size_t c) noexcept { return c * part_offset(output_count); }
  static constexpr std::size_t bytes =
      output_count == 1 && Copies == 1 ? shape.bytes() : Copies * part_offset(output_count);
};

template <std::size_t N, std::size_t M>
constexpr bool same_shapes(const std::array<StaticShape, N>& a, const std::array<StaticShape, M>& b) noexcept {
  if constexpr (N != M) {
    return false;
  } else {
    for (std::size_t i = 0; i < N; ++i)
      if (!(a[i] == b[i])) return false;
    return true;
  }
}

// An op node of relax's op set (as opposed to parameters, output parts, user kernel calls
// and control flow).
template <class T> struct is_op_node : std::false_type {};
template <relax::OpKind Op, auto A, class... In> struct is_op_node<Node<Op, A, In...>> : std::true_type {};

template <class T> struct is_node : std::false_type {};
template <relax::OpKind Op, auto A, class... In> struct is_node<Node<Op, A, In...>> : std::true_type {};
template <class Source, int I> struct is_node<OutputPart<Source, I>> : std::true_type {};
template <ParamKind K, Name N, DType D, std::int64_t... Dims> struct is_node<Param<K, N, D, Dims...>> : std::true_type {};

// What the API functions accept as a tensor of the graph.
template <class T>
concept GraphTensor = is_node<T>::value;

template <class T>
concept OptionalGraphTensor = GraphTensor<T> || std::is_same_v<T, NoInput>;

} // namespace kiln::static_graph
