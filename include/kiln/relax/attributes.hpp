// kiln/relax/attributes.hpp: Attrs, the attributes of a binding in a dynamic module, and their text.
//
// Attributes are the structs the infer:: functions take (ConvAttrs, SliceAttrs, ...), plus
// a few small ones for ops whose inference takes loose arguments (an axis, a dtype), held
// in one variant. Their printed form ("strides=[2, 2], pads=[3, 3, 3, 3]", defaults left
// out) is canonical: the printer shows it, and common-subexpression elimination compares
// attributes by it, so two bindings merge exactly when they print the same.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/str_cat.hpp"
#include "infer_conv.hpp"
#include "infer_linear.hpp"
#include "infer_reduce.hpp"
#include "infer_resize.hpp"
#include "infer_slice.hpp"
#include "op_kind.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

struct NoAttrs {};

// The one axis of softmax, concat, gather, cumsum, flatten, ...
struct AxisAttrs {
  std::int64_t axis = 0;
};

// cumsum: exclusive leaves each element out of its own sum; reverse sums from the end.
struct CumSumAttrs {
  std::int64_t axis = 0;
  bool exclusive = false;
  bool reverse = false;
};

// How scatter_elements and scatter_nd combine an update with the value it lands on;
// none overwrites.
enum class ScatterReduction : std::uint8_t { none, add, mul, max, min };

struct ScatterAttrs {
  std::int64_t axis = 0;  // scatter_elements only
  ScatterReduction reduction = ScatterReduction::none;
};

// global_lp_pool: the order of the norm.
struct LpNormAttrs {
  std::int64_t p = 2;
};

struct ArgReduceAttrs {
  std::int64_t axis = 0;
  bool keepdims = true;
};

struct CastAttrs {
  DType to = DType::f32;
};

// ONNX Gemm: alpha * op(A) @ op(B) + beta * C.
struct GemmOpAttrs {
  bool trans_a = false;
  bool trans_b = false;
  double alpha = 1.0;
  double beta = 1.0;
};

// batch_norm and instance_norm use epsilon; layer_norm adds its first normalized axis,
// group_norm its number of groups.
struct NormAttrs {
  double epsilon = 1e-5;
  std::int64_t axis = -1;
  std::int64_t num_groups = 0;
};

// The target of a reshape or expand given as an attribute (the static form). A reshape or
// expand with a second input takes its shape from that i64 tensor instead.
struct ShapeAttrs {
  Dims shape = {};
  bool allowzero = false;
};

// squeeze and unsqueeze.
struct AxesAttrs {
  Ints axes = {};
};

struct PermAttrs {
  Ints perm = {};  // empty: reverse the dims
};

struct ShapeOfAttrs {
  std::int64_t start = 0;
  std::int64_t end = detail::kPosInf;
};

struct PadAttrs {
  Ints pads = {};
  Ints axes = {};
  double value = 0.0;
};

struct TileAttrs {
  Ints repeats = {};
};

struct TopKAttrs {
  SymDim k = 1;
  std::int64_t axis = -1;
  bool largest = true;
  bool sorted = true;
};

// An output extent only the kernel knows (how many elements are nonzero): a symbol of its own,
// bound after the kernel runs, and the most it can be in terms of the inputs' dims, which
// memory is planned for, so that a run with any values allocates nothing.
struct DataDependentExtent {
  SymDim count;
  SymDim bound;
};

struct NonZeroAttrs {
  DataDependentExtent extent;
};

struct UniqueAttrs {
  DataDependentExtent extent;
  bool sorted = true;
  bool has_axis = false;  // without an axis, the input is flattened
  std::int64_t axis = 0;
};

struct NonMaxSuppressionAttrs {
  DataDependentExtent extent;
  bool center_point_box = false;  // boxes as [x_center, y_center, width, height], else two corners
};

struct AttentionAttrs {
  double scale = 0.0;  // 0: 1 / sqrt(head size)
  bool causal = false;
};

// to_nchwc: the channel block, the innermost extent of the blocked layout.
struct BlockAttrs {
  std::int64_t block = 0;
};

// from_nchwc: how many channels the plain layout keeps (the rest of the last block is padding).
struct ChannelsAttrs {
  std::int64_t channels = 0;
};

// A call of a user's own scheduled kernel, known by name; it declares its output types
// (the graph cannot see inside it).
struct CallKernelAttrs {
  std::string kernel;
  std::vector<TensorType> outputs;
};

// Sub-functions are indices into the module's functions.
struct IfAttrs {
  int then_branch = -1;
  int else_branch = -1;
};

struct LoopAttrs {
  int body = -1;
};
// The sub-function a fused binding runs (made by the fusion pass).
struct FusedAttrs {
  int function = -1;
};

using Attrs = std::variant<NoAttrs, AxisAttrs, CumSumAttrs, ScatterAttrs, LpNormAttrs, ArgReduceAttrs, CastAttrs, GemmOpAttrs, ConvAttrs, ConvTransposeAttrs,
                           PoolAttrs, NormAttrs, ReduceAttrs, ShapeAttrs, AxesAttrs, PermAttrs, ShapeOfAttrs,
                           SplitAttrs, SliceAttrs, PadAttrs, TileAttrs, ResizeAttrs, TopKAttrs, AttentionAttrs,
                           NonZeroAttrs, UniqueAttrs, NonMaxSuppressionAttrs, CallKernelAttrs, IfAttrs, LoopAttrs, FusedAttrs, BlockAttrs, ChannelsAttrs>;

// The data-dependent extent of a binding's attributes, or null when its outputs have none.
template <class AttrsT>
  requires std::is_same_v<std::remove_const_t<AttrsT>, Attrs>
auto* data_dependent_extent(AttrsT& attrs) noexcept {
  using Extent = std::conditional_t<std::is_const_v<AttrsT>, const DataDependentExtent, DataDependentExtent>;
  return std::visit(
      [](auto& a) -> Extent* {
        if constexpr (requires { a.extent; }) return &a.extent;
        else return nullptr;
      },
      attrs);
}

// The attributes `op` takes, with their defaults.
inline Attrs default_attrs(OpKind op) {
  switch (op) {
    case OpKind::cast: return CastAttrs{};
    case OpKind::gemm: return GemmOpAttrs{};
    case OpKind::conv:
    case OpKind::conv_nchwc: return ConvAttrs{};
    case OpKind::to_nchwc: return BlockAttrs{};
    case OpKind::from_nchwc: return ChannelsAttrs{};
    case OpKind::conv_transpose: return ConvTransposeAttrs{};
    case OpKind::max_pool:
    case OpKind::average_pool:
    case OpKind::lp_pool: return PoolAttrs{};
    case OpKind::batch_norm:
    case OpKind::layer_norm:
    case OpKind::instance_norm:
    case OpKind::group_norm: return NormAttrs{};
    case OpKind::softmax:
    case OpKind::log_softmax:
    case OpKind::hardmax: return AxisAttrs{-1};
    case OpKind::flatten: return AxisAttrs{1};
    case OpKind::concat:
    case OpKind::gather:
    case OpKind::gather_elements: return AxisAttrs{0};
    case OpKind::scatter_elements:
    case OpKind::scatter_nd: return ScatterAttrs{};
    case OpKind::cumsum: return CumSumAttrs{};
    case OpKind::global_lp_pool: return LpNormAttrs{};
    case OpKind::reduce_sum:
    case OpKind::reduce_mean:
    case OpKind::reduce_max:
    case OpKind::reduce_min:
    case OpKind::reduce_prod: return ReduceAttrs{};
    case OpKind::argmax:
    case OpKind::argmin: return ArgReduceAttrs{};
    case OpKind::topk: return TopKAttrs{};
    case OpKind::non_zero: return NonZeroAttrs{};
    case OpKind::unique: return UniqueAttrs{};
    case OpKind::non_max_suppression: return NonMaxSuppressionAttrs{};
    case OpKind::reshape:
    case OpKind::expand: return ShapeAttrs{};
    case OpKind::squeeze:
    case OpKind::unsqueeze: return AxesAttrs{};
    case OpKind::transpose: return PermAttrs{};
    case OpKind::shape_of: return ShapeOfAttrs{};
    case OpKind::split: return SplitAttrs{};
    case OpKind::slice: return SliceAttrs{};
    case OpKind::pad: return PadAttrs{};
    case OpKind::tile: return TileAttrs{};
    case OpKind::resize: return ResizeAttrs{};
    case OpKind::attention: return AttentionAttrs{};
    case OpKind::call_kernel: return CallKernelAttrs{};
    case OpKind::if_then_else: return IfAttrs{};
    case OpKind::loop: return LoopAttrs{};
    case OpKind::fused: return FusedAttrs{};
    default: return NoAttrs{};
  }
}

// Whether `attrs` holds the struct `op` takes.
inline bool attrs_fit(OpKind op, const Attrs& attrs) { return default_attrs(op).index() == attrs.index(); }

namespace detail {

// Writes "name=value" pairs separated by ", ".
class AttrWriter {
 public:
  explicit AttrWriter(std::string& out) : out_(out) {}

  void field(std::string_view name, std::string_view text) {
    if (!out_.empty()) out_ += ", ";
    out_ += name;
    out_ += '=';
    out_ += text;
  }
  void integer(std::string_view name, std::int64_t v) { field(name, str_cat(v)); }
  void real(std::string_view name, double v) { field(name, str_cat(v)); }
  void flag(std::string_view name, bool v) { field(name, v ? "true" : "false"); }
  void ints(std::string_view name, const Ints& values) {
    std::string text = "[";
    for (int i = 0; i < values.size(); ++i) text += str_cat(i ? ", " : "", values[i]);
    field(name, text + "]");
  }
  void dims(std::string_view name, const Dims& values) {
    std::string text = "[";
    for (int i = 0; i < values.size(); ++i) text += (i ? ", " : "") + to_string(values[i]);
    field(name, text + "]");
  }
  // Lists print only when given: an empty list means the op's default.
  void ints_if_any(std::string_view name, const Ints& values) {
    if (!values.empty()) ints(name, values);
  }

 private:
  std::string& out_;
};

constexpr std::string_view to_string(ScatterReduction reduction) noexcept {
  switch (reduction) {
    case ScatterReduction::none: return "none";
    case ScatterReduction::add: return "add";
    case ScatterReduction::mul: return "mul";
    case ScatterReduction::max: return "max";
    case ScatterReduction::min: return "min";
  }
  return "?";
}

constexpr std::string_view to_string(ResizeMode mode) noexcept {
  switch (mode) {
    case ResizeMode::nearest: return "nearest";
    case ResizeMode::linear: return "linear";
    case ResizeMode::cubic: return "cubic";
  }
  return "?";
}

constexpr std::string_view to_string(ResizeCoordinates c) noexcept {
  switch (c) {
    case ResizeCoordinates::half_pixel: return "half_pixel";
    case ResizeCoordinates::half_pixel_symmetric: return "half_pixel_symmetric";
    case ResizeCoordinates::pytorch_half_pixel: return "pytorch_half_pixel";
    case ResizeCoordinates::align_corners: return "align_corners";
    case ResizeCoordinates::asymmetric: return "asymmetric";
    case ResizeCoordinates::tf_crop_and_resize: return "tf_crop_and_resize";
  }
  return "?";
}

constexpr std::string_view to_string(ResizeRounding r) noexcept {
  switch (r) {
    case ResizeRounding::round_prefer_floor: return "round_prefer_floor";
    case ResizeRounding::round_prefer_ceil: return "round_prefer_ceil";
    case ResizeRounding::floor: return "floor";
    case ResizeRounding::ceil: return "ceil";
  }
  return "?";
}

constexpr std::string_view to_string(AspectRatioPolicy policy) noexcept {
  switch (policy) {
    case AspectRatioPolicy::stretch: return "stretch";
    case AspectRatioPolicy::not_larger: return "not_larger";
    case AspectRatioPolicy::not_smaller: return "not_smaller";
  }
  return "?";
}

constexpr std::string_view to_string(AutoPad pad) noexcept {
  switch (pad) {
    case AutoPad::explicit_pads: return "explicit";
    case AutoPad::same_upper: return "same_upper";
    case AutoPad::same_lower: return "same_lower";
    case AutoPad::valid: return "valid";
  }
  return "?";
}

inline void write_window(AttrWriter& w, const Ints& strides, const Ints& pads, const Ints& dilations,
                         AutoPad auto_pad) {
  w.ints_if_any("strides", strides);
  w.ints_if_any("pads", pads);
  w.ints_if_any("dilations", dilations);
  if (auto_pad != AutoPad::explicit_pads) w.field("auto_pad", to_string(auto_pad));
}

} // namespace detail

// "axis=1", "strides=[2, 2], pads=[3, 3, 3, 3]"; empty for default attributes. Values that
// equal their defaults are left out, so equal attributes always print the same.
inline std::string to_string(const Attrs& attrs) {
  std::string out;
  detail::AttrWriter w(out);
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, AxisAttrs>) {
          w.integer("axis", a.axis);
        } else if constexpr (std::is_same_v<A, CumSumAttrs>) {
          w.integer("axis", a.axis);
          if (a.exclusive) w.flag("exclusive", true);
          if (a.reverse) w.flag("reverse", true);
        } else if constexpr (std::is_same_v<A, ScatterAttrs>) {
          if (a.axis != 0) w.integer("axis", a.axis);
          if (a.reduction != ScatterReduction::none) w.field("reduction", detail::to_string(a.reduction));
        } else if constexpr (std::is_same_v<A, LpNormAttrs>) {
          if (a.p != 2) w.integer("p", a.p);
        } else if constexpr (std::is_same_v<A, ArgReduceAttrs>) {
          w.integer("axis", a.axis);
          if (!a.keepdims) w.flag("keepdims", false);
        } else if constexpr (std::is_same_v<A, CastAttrs>) {
          w.field("to", kiln::to_string(a.to));
        } else if constexpr (std::is_same_v<A, GemmOpAttrs>) {
          if (a.trans_a) w.flag("trans_a", true);
          if (a.trans_b) w.flag("trans_b", true);
          if (a.alpha != 1.0) w.real("alpha", a.alpha);
          if (a.beta != 1.0) w.real("beta", a.beta);
        } else if constexpr (std::is_same_v<A, ConvAttrs>) {
          detail::write_window(w, a.strides, a.pads, a.dilations, a.auto_pad);
          if (a.groups != 1) w.integer("groups", a.groups);
        } else if constexpr (std::is_same_v<A, ConvTransposeAttrs>) {
          detail::write_window(w, a.strides, a.pads, a.dilations, a.auto_pad);
          if (a.groups != 1) w.integer("groups", a.groups);
          w.ints_if_any("output_padding", a.output_padding);
          if (!a.output_shape.empty()) w.dims("output_shape", a.output_shape);
        } else if constexpr (std::is_same_v<A, PoolAttrs>) {
          w.ints("kernel", a.kernel_shape);
          detail::write_window(w, a.strides, a.pads, a.dilations, a.auto_pad);
          if (a.ceil_mode) w.flag("ceil_mode", true);
          if (a.p != 2) w.integer("p", a.p);
          if (a.count_include_pad) w.flag("count_include_pad", true);
        } else if constexpr (std::is_same_v<A, NormAttrs>) {
          w.real("epsilon", a.epsilon);
          if (a.axis != -1) w.integer("axis", a.axis);
          if (a.num_groups != 0) w.integer("num_groups", a.num_groups);
        } else if constexpr (std::is_same_v<A, ReduceAttrs>) {
          w.ints_if_any("axes", a.axes);
          if (!a.keepdims) w.flag("keepdims", false);
          if (a.noop_with_empty_axes) w.flag("noop_with_empty_axes", true);
        } else if constexpr (std::is_same_v<A, ShapeAttrs>) {
          w.dims("shape", a.shape);
          if (a.allowzero) w.flag("allowzero", true);
        } else if constexpr (std::is_same_v<A, AxesAttrs>) {
          w.ints("axes", a.axes);
        } else if constexpr (std::is_same_v<A, PermAttrs>) {
          w.ints_if_any("perm", a.perm);
        } else if constexpr (std::is_same_v<A, ShapeOfAttrs>) {
          if (a.start != 0) w.integer("start", a.start);
          if (a.end != detail::kPosInf) w.integer("end", a.end);
        } else if constexpr (std::is_same_v<A, SplitAttrs>) {
          w.integer("axis", a.axis);
          w.ints_if_any("sizes", a.sizes);
          if (a.num_outputs != 0) w.integer("num_outputs", a.num_outputs);
        } else if constexpr (std::is_same_v<A, SliceAttrs>) {
          w.ints("starts", a.starts);
          w.ints("ends", a.ends);
          w.ints_if_any("axes", a.axes);
          w.ints_if_any("steps", a.steps);
        } else if constexpr (std::is_same_v<A, PadAttrs>) {
          w.ints("pads", a.pads);
          w.ints_if_any("axes", a.axes);
          if (a.value != 0.0) w.real("value", a.value);
        } else if constexpr (std::is_same_v<A, TileAttrs>) {
          w.ints("repeats", a.repeats);
        } else if constexpr (std::is_same_v<A, ResizeAttrs>) {
          if (!a.scales.empty()) {
            std::string text = "[";
            for (int i = 0; i < a.scales.size(); ++i) text += str_cat(i ? ", " : "", a.scales[i]);
            w.field("scales", text + "]");
          }
          if (!a.sizes.empty()) w.dims("sizes", a.sizes);
          w.ints_if_any("axes", a.axes);
          if (a.mode != ResizeMode::nearest) w.field("mode", detail::to_string(a.mode));
          if (a.coordinates != ResizeCoordinates::half_pixel)
            w.field("coordinates", detail::to_string(a.coordinates));
          if (a.mode == ResizeMode::nearest && a.nearest_rounding != ResizeRounding::round_prefer_floor)
            w.field("nearest_mode", detail::to_string(a.nearest_rounding));
          if (a.mode == ResizeMode::cubic && a.cubic_coeff_a != -0.75) w.real("cubic_coeff_a", a.cubic_coeff_a);
          if (a.exclude_outside) w.flag("exclude_outside", true);
          if (a.coordinates == ResizeCoordinates::tf_crop_and_resize) {
            std::string text = "[";
            for (int i = 0; i < a.roi.size(); ++i) text += str_cat(i ? ", " : "", a.roi[i]);
            w.field("roi", text + "]");
            if (a.extrapolation_value != 0.0) w.real("extrapolation_value", a.extrapolation_value);
          }
          if (a.antialias) w.flag("antialias", true);
          if (a.keep_aspect_ratio != AspectRatioPolicy::stretch)
            w.field("keep_aspect_ratio", detail::to_string(a.keep_aspect_ratio));
        } else if constexpr (std::is_same_v<A, TopKAttrs>) {
          w.field("k", to_string(a.k));
          w.integer("axis", a.axis);
          if (!a.largest) w.flag("largest", false);
          if (!a.sorted) w.flag("sorted", false);
        } else if constexpr (std::is_same_v<A, NonZeroAttrs> || std::is_same_v<A, UniqueAttrs> ||
                             std::is_same_v<A, NonMaxSuppressionAttrs>) {
          w.field("count", str_cat(to_string(a.extent.count), " <= ", to_string(a.extent.bound)));
          if constexpr (std::is_same_v<A, UniqueAttrs>) {
            if (a.has_axis) w.integer("axis", a.axis);
            if (!a.sorted) w.flag("sorted", false);
          }
          if constexpr (std::is_same_v<A, NonMaxSuppressionAttrs>) {
            if (a.center_point_box) w.flag("center_point_box", true);
          }
        } else if constexpr (std::is_same_v<A, AttentionAttrs>) {
          if (a.scale != 0.0) w.real("scale", a.scale);
          if (a.causal) w.flag("causal", true);
        } else if constexpr (std::is_same_v<A, CallKernelAttrs>) {
          w.field("kernel", str_cat('"', a.kernel, '"'));
        } else if constexpr (std::is_same_v<A, IfAttrs>) {
          w.integer("then", a.then_branch);
          w.integer("else", a.else_branch);
        } else if constexpr (std::is_same_v<A, LoopAttrs>) {
          w.integer("body", a.body);
        } else if constexpr (std::is_same_v<A, FusedAttrs>) {
          w.integer("function", a.function);
        } else if constexpr (std::is_same_v<A, BlockAttrs>) {
          w.integer("block", a.block);
        } else if constexpr (std::is_same_v<A, ChannelsAttrs>) {
          w.integer("channels", a.channels);
        }
      },
      attrs);
  return out;
}

} // namespace kiln::relax
