// kiln/aot/emit_static_graph.hpp: a module with static shapes as the C++ source of a static
// graph: the header `kiln aot` writes.
//
//   KILN_ASSIGN_OR_RETURN(aot::StaticModule s, aot::make_static(std::move(module), dims));
//   KILN_ASSIGN_OR_RETURN(aot::EmittedGraph g, aot::emit_static_graph(s.module, {.name = "resnet18"}));
//   // g.header: namespace resnet18 { constexpr auto graph() {...} using Graph = ...; ... }
//   // g.weights: the constants the graph reads, named as its weight<...>() nodes name them
//
// Each binding of the entry function becomes one node, `apply<OpKind::op, attrs>(inputs...)`
// (a named helper where one says the same: relu(x), add(a, b), matmul(a, b)), its relax
// attributes written as a C++ constant expression. Reshape and expand take their static
// output dims; the shape tensor they read is dropped, and with it the shape arithmetic that
// only fed it. Split becomes one slice per output. Parameters become input<...>(), constants
// weight<"w<k>", dtype, dims...>(), numbered in the order the graph reads them. Only what the
// outputs need is emitted.
//
// What a static graph cannot express is an error naming the node (numbered as the printer
// numbers it), its op and why: control flow, a user kernel, an op or attributes without a
// static form, a dim that is not a positive constant.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/name.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/attributes.hpp"
#include "../relax/module.hpp"
#include "../relax/op_kind.hpp"
#include "weights_file.hpp"

namespace kiln::aot {

struct EmitOptions {
  std::string name = {};        // the namespace of the generated code; a C++ identifier
  std::string source = {};      // where the model came from, for the header's comment
  std::string shape_note = {};  // how the shape symbols were fixed ("batch = 1"), for the comment
  bool embed = false;       // weights from <name>_weights.inc instead of a file
};

struct EmittedGraph {
  std::string header;
  std::vector<NamedTensor> weights;  // the graph's weights, in the order of weight_names
  int nodes = 0;                     // op nodes emitted
};

namespace detail {

inline constexpr std::string_view kCppKeywords[] = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
    "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval", "constexpr",
    "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype", "default", "delete",
    "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
    "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "requires", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct",
    "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
    "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
    // names the generated code itself uses
    "kiln", "std", "relax", "graph", "build", "inputs", "input", "weight", "apply", "output", "reshape", "expand",
    "Graph", "Model", "DType", "OpKind", "NoInput", "StaticDims"};

inline bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Where an int64 attribute is an extreme (a slice to the end), spelled without overflow.
inline std::string int_literal(std::int64_t v) {
  if (v == std::numeric_limits<std::int64_t>::max()) return "0x7fffffffffffffff";
  if (v == std::numeric_limits<std::int64_t>::min()) return "(-0x7fffffffffffffff - 1)";
  return str_cat(v);
}

// The shortest text that reads back as the same double.
inline std::string real_literal(double v) {
  if (std::isnan(v)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(v)) return v > 0 ? "std::numeric_limits<double>::infinity()" : "-std::numeric_limits<double>::infinity()";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string text(buf, ec == std::errc() ? end : buf);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

inline std::string string_literal(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
      out += "\"\"";  // ends the hex escape
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::string dtype_literal(DType dtype) {
  return str_cat("DType::", dtype == DType::boolean ? std::string_view("boolean") : to_string(dtype));
}

// Designated initializers of the fields that differ from their defaults, in field order.
class Fields {
 public:
  void add(std::string_view field, std::string value) { text_ += str_cat(text_.empty() ? "" : ", ", ".", field, " = ", value); }
  void integer(std::string_view field, std::int64_t v, std::int64_t fallback) {
    if (v != fallback) add(field, int_literal(v));
  }
  void real(std::string_view field, double v, double fallback) {
    if (!(v == fallback) || std::signbit(v) != std::signbit(fallback)) add(field, real_literal(v));
  }
  void flag(std::string_view field, bool v, bool fallback) {
    if (v != fallback) add(field, v ? "true" : "false");
  }
  template <class List>
  Status list(std::string_view field, const List& values) {
    if (values.overflow) return make_error(StatusCode::invalid_argument, "attribute ", field, " overflows its list");
    if (values.empty()) return Status();
    std::string text = "{";
    for (int i = 0; i < values.size(); ++i) {
      if constexpr (std::is_floating_point_v<std::remove_cvref_t<decltype(values[i])>>)
        text += str_cat(i ? ", " : "", real_literal(values[i]));
      else text += str_cat(i ? ", " : "", int_literal(values[i]));
    }
    add(field, text + "}");
    return Status();
  }
  Status dims(std::string_view field, const relax::Dims& values) {
    if (values.overflow) return make_error(StatusCode::invalid_argument, "attribute ", field, " overflows its list");
    relax::Ints ints;
    for (const relax::SymDim& d : values) {
      if (!d.is_constant())
        return make_error(StatusCode::unsupported, "attribute ", field, " holds the symbolic dim ", relax::to_string(d));
      ints.push_back(d.constant_value());
    }
    return list(field, ints);
  }
  std::string braced(std::string_view type) const { return str_cat(type, "{", text_, "}"); }

 private:
  std::string text_;
};

inline std::string_view auto_pad_name(relax::AutoPad pad) {
  switch (pad) {
    case relax::AutoPad::explicit_pads: return "explicit_pads";
    case relax::AutoPad::same_upper: return "same_upper";
    case relax::AutoPad::same_lower: return "same_lower";
    case relax::AutoPad::valid: return "valid";
  }
  return "explicit_pads";
}

// A binding's attributes as a C++ constant expression; empty for NoAttrs.
inline Result<std::string> attrs_literal(const relax::Attrs& attrs) {
  namespace r = relax;
  Fields f;
  Status status;
  const auto check = [&](Status s) {
    if (status.ok()) status = std::move(s);
  };
  // The window fields conv and conv_transpose share.
  const auto conv_window = [&](const auto& a) {
    check(f.list("strides", a.strides));
    check(f.list("pads", a.pads));
    check(f.list("dilations", a.dilations));
    f.integer("groups", a.groups, 1);
    if (a.auto_pad != r::AutoPad::explicit_pads) f.add("auto_pad", str_cat("relax::AutoPad::", auto_pad_name(a.auto_pad)));
  };
  std::string text;
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, r::NoAttrs>) {
          // nothing: the op takes no attributes
        } else if constexpr (std::is_same_v<A, r::AxisAttrs>) {
          text = str_cat("relax::AxisAttrs{", int_literal(a.axis), "}");
        } else if constexpr (std::is_same_v<A, r::CumSumAttrs>) {
          f.integer("axis", a.axis, 0);
          f.flag("exclusive", a.exclusive, false);
          f.flag("reverse", a.reverse, false);
          text = f.braced("relax::CumSumAttrs");
        } else if constexpr (std::is_same_v<A, r::ScatterAttrs>) {
          f.integer("axis", a.axis, 0);
          if (a.reduction != r::ScatterReduction::none)
            f.add("reduction", str_cat("relax::ScatterReduction::", r::detail::to_string(a.reduction)));
          text = f.braced("relax::ScatterAttrs");
        } else if constexpr (std::is_same_v<A, r::LpNormAttrs>) {
          f.integer("p", a.p, 2);
          text = f.braced("relax::LpNormAttrs");
        } else if constexpr (std::is_same_v<A, r::ArgReduceAttrs>) {
          f.integer("axis", a.axis, 0);
          f.flag("keepdims", a.keepdims, true);
          text = f.braced("relax::ArgReduceAttrs");
        } else if constexpr (std::is_same_v<A, r::CastAttrs>) {
          text = str_cat("relax::CastAttrs{", dtype_literal(a.to), "}");
        } else if constexpr (std::is_same_v<A, r::GemmOpAttrs>) {
          f.flag("trans_a", a.trans_a, false);
          f.flag("trans_b", a.trans_b, false);
          f.real("alpha", a.alpha, 1.0);
          f.real("beta", a.beta, 1.0);
          text = f.braced("relax::GemmOpAttrs");
        } else if constexpr (std::is_same_v<A, r::ConvAttrs>) {
          conv_window(a);
          text = f.braced("relax::ConvAttrs");
        } else if constexpr (std::is_same_v<A, r::ConvTransposeAttrs>) {
          // static_graph::ConvTransposeAttrs: the output shape as constants.
          conv_window(a);
          check(f.list("output_padding", a.output_padding));
          check(f.dims("output_shape", a.output_shape));
          text = f.braced("ConvTransposeAttrs");
        } else if constexpr (std::is_same_v<A, r::PoolAttrs>) {
          check(f.list("kernel_shape", a.kernel_shape));
          check(f.list("strides", a.strides));
          check(f.list("pads", a.pads));
          check(f.list("dilations", a.dilations));
          f.flag("ceil_mode", a.ceil_mode, false);
          if (a.auto_pad != r::AutoPad::explicit_pads) f.add("auto_pad", str_cat("relax::AutoPad::", auto_pad_name(a.auto_pad)));
          f.integer("p", a.p, 2);
          f.flag("count_include_pad", a.count_include_pad, false);
          text = f.braced("relax::PoolAttrs");
        } else if constexpr (std::is_same_v<A, r::NormAttrs>) {
          f.real("epsilon", a.epsilon, 1e-5);
          f.integer("axis", a.axis, -1);
          f.integer("num_groups", a.num_groups, 0);
          text = f.braced("relax::NormAttrs");
        } else if constexpr (std::is_same_v<A, r::ReduceAttrs>) {
          check(f.list("axes", a.axes));
          f.flag("keepdims", a.keepdims, true);
          f.flag("noop_with_empty_axes", a.noop_with_empty_axes, false);
          text = f.braced("relax::ReduceAttrs");
        } else if constexpr (std::is_same_v<A, r::AxesAttrs>) {
          check(f.list("axes", a.axes));
          text = f.braced("relax::AxesAttrs");
        } else if constexpr (std::is_same_v<A, r::PermAttrs>) {
          check(f.list("perm", a.perm));
          text = f.braced("relax::PermAttrs");
        } else if constexpr (std::is_same_v<A, r::ShapeOfAttrs>) {
          f.integer("start", a.start, 0);
          f.integer("end", a.end, r::detail::kPosInf);
          text = f.braced("relax::ShapeOfAttrs");
        } else if constexpr (std::is_same_v<A, r::SliceAttrs>) {
          check(f.list("starts", a.starts));
          check(f.list("ends", a.ends));
          check(f.list("axes", a.axes));
          check(f.list("steps", a.steps));
          text = f.braced("relax::SliceAttrs");
        } else if constexpr (std::is_same_v<A, r::PadAttrs>) {
          check(f.list("pads", a.pads));
          check(f.list("axes", a.axes));
          f.real("value", a.value, 0.0);
          text = f.braced("relax::PadAttrs");
        } else if constexpr (std::is_same_v<A, r::TileAttrs>) {
          check(f.list("repeats", a.repeats));
          text = f.braced("relax::TileAttrs");
        } else if constexpr (std::is_same_v<A, r::ResizeAttrs>) {
          // static_graph::ResizeAttrs: the sizes as constants.
          check(f.list("scales", a.scales));
          check(f.dims("sizes", a.sizes));
          check(f.list("axes", a.axes));
          if (a.mode != r::ResizeMode::nearest) f.add("mode", str_cat("relax::ResizeMode::", r::detail::to_string(a.mode)));
          if (a.coordinates != r::ResizeCoordinates::half_pixel)
            f.add("coordinates", str_cat("relax::ResizeCoordinates::", r::detail::to_string(a.coordinates)));
          if (a.nearest_rounding != r::ResizeRounding::round_prefer_floor)
            f.add("nearest_rounding", str_cat("relax::ResizeRounding::", r::detail::to_string(a.nearest_rounding)));
          f.real("cubic_coeff_a", a.cubic_coeff_a, -0.75);
          f.flag("exclude_outside", a.exclude_outside, false);
          f.real("extrapolation_value", a.extrapolation_value, 0.0);
          check(f.list("roi", a.roi));
          f.flag("antialias", a.antialias, false);
          if (a.keep_aspect_ratio != r::AspectRatioPolicy::stretch)
            f.add("keep_aspect_ratio", str_cat("relax::AspectRatioPolicy::", r::detail::to_string(a.keep_aspect_ratio)));
          text = f.braced("ResizeAttrs");
        } else if constexpr (std::is_same_v<A, r::TopKAttrs>) {
          // static_graph::TopKAttrs: k as a constant.
          if (!a.k.is_constant()) {
            check(make_error(StatusCode::unsupported, "k is the symbolic dim ", r::to_string(a.k)));
            return;
          }
          f.integer("k", a.k.constant_value(), 1);
          f.integer("axis", a.axis, -1);
          f.flag("largest", a.largest, true);
          f.flag("sorted", a.sorted, true);
          text = f.braced("TopKAttrs");
        } else if constexpr (std::is_same_v<A, r::AttentionAttrs>) {
          f.real("scale", a.scale, 0.0);
          f.flag("causal", a.causal, false);
          text = f.braced("relax::AttentionAttrs");
        } else {
          // ShapeAttrs and SplitAttrs are written by their ops; the rest has no static form.
          check(make_error(StatusCode::unsupported, "its attributes have no static-graph form"));
        }
      },
      attrs);
  KILN_RETURN_IF_ERROR(status);
  return text;
}

// Whether static_graph::Node has the op (detail::infer_node there lists the same set);
// split is written as slices.
inline bool has_static_form(relax::OpKind op) {
  using relax::OpKind;
  switch (relax::op_info(op).family) {
    case relax::OpFamily::unary:
    case relax::OpFamily::binary:
    case relax::OpFamily::compare:
    case relax::OpFamily::logical: return true;
    default: break;
  }
  switch (op) {
    case OpKind::where: case OpKind::clip: case OpKind::cast: case OpKind::matmul: case OpKind::gemm:
    case OpKind::conv: case OpKind::conv_transpose: case OpKind::max_pool: case OpKind::average_pool:
    case OpKind::lp_pool: case OpKind::global_max_pool: case OpKind::global_average_pool:
    case OpKind::global_lp_pool: case OpKind::batch_norm: case OpKind::layer_norm: case OpKind::instance_norm:
    case OpKind::group_norm: case OpKind::softmax: case OpKind::log_softmax: case OpKind::hardmax:
    case OpKind::reduce_sum: case OpKind::reduce_mean: case OpKind::reduce_max: case OpKind::reduce_min:
    case OpKind::reduce_prod: case OpKind::argmax: case OpKind::argmin: case OpKind::topk: case OpKind::cumsum:
    case OpKind::reshape: case OpKind::flatten: case OpKind::squeeze: case OpKind::unsqueeze: case OpKind::expand:
    case OpKind::transpose: case OpKind::shape_of: case OpKind::concat: case OpKind::split: case OpKind::slice:
    case OpKind::gather: case OpKind::gather_elements: case OpKind::scatter_elements: case OpKind::scatter_nd:
    case OpKind::pad: case OpKind::tile: case OpKind::resize: case OpKind::attention:
      return true;
    default: return false;
  }
}

// Why an op without a static-graph node has none.
inline std::string_view refusal(relax::OpKind op) {
  using relax::OpKind;
  const std::string_view name = relax::op_info(op).name;
  if (relax::op_info(op).family == relax::OpFamily::control)
    return "control flow has no static-graph form (a static graph is straight-line dataflow)";
  if (op == OpKind::call_kernel) return "a static graph cannot call a user kernel";
  if (op == OpKind::fused) return "fused sub-functions are the VM's; emit the module before fusion";
  if (name == "non_zero" || name == "unique" || name == "non_max_suppression")
    return "its output shape depends on the input values, and a static graph's shapes are constants";
  if (name.find("nchwc") != std::string_view::npos)
    return "the NCHWc layout ops are made by the VM's layout conversion; emit the module before it";
  return "the static graph has no node for this op (static_graph/node.hpp)";
}

// The call of ops.hpp's named helper that says the same as apply<op, attrs>(args), or empty
// when the op has none: relu(x), conv<relax::ConvAttrs{...}>(x, w, b), softmax<1>(x).
inline std::string helper_call(const relax::Binding& b, std::string_view attrs, std::string_view args, std::size_t arity) {
  using relax::OpKind;
  const std::string_view name = relax::op_info(b.op).name;
  switch (b.op) {
    case OpKind::neg: case OpKind::abs: case OpKind::relu: case OpKind::sigmoid: case OpKind::tanh:
    case OpKind::exp: case OpKind::log: case OpKind::sqrt: case OpKind::erf: case OpKind::gelu: case OpKind::silu:
    case OpKind::add: case OpKind::subtract: case OpKind::multiply: case OpKind::divide: case OpKind::maximum:
    case OpKind::minimum: case OpKind::matmul: case OpKind::global_average_pool: case OpKind::global_max_pool:
      return attrs.empty() ? str_cat(name, "(", args, ")") : std::string();
    case OpKind::conv: case OpKind::gemm: case OpKind::max_pool: case OpKind::average_pool: case OpKind::batch_norm:
    case OpKind::attention: case OpKind::reduce_sum: case OpKind::reduce_mean: case OpKind::reduce_max:
    case OpKind::resize:
      return str_cat(name, "<", attrs, ">(", args, ")");
    case OpKind::layer_norm:  // the helper takes the bias
      return arity == 3 ? str_cat(name, "<", attrs, ">(", args, ")") : std::string();
    case OpKind::softmax: case OpKind::log_softmax: case OpKind::flatten: case OpKind::concat:
      if (const auto* a = std::get_if<relax::AxisAttrs>(&b.attrs)) return str_cat(name, "<", int_literal(a->axis), ">(", args, ")");
      return {};
    default: return {};
  }
}

inline std::string dims_list(const relax::TensorType& t) {
  std::string text;
  for (int a = 0; a < t.rank; ++a) text += str_cat(", ", t.dims[a].constant_value());
  return text;
}

inline std::string shape_literal(const relax::TensorType& t) {
  std::string dims;
  for (int a = 0; a < t.rank; ++a) dims += str_cat(a ? ", " : "", t.dims[a].constant_value());
  return str_cat("kiln::static_graph::StaticShape{kiln::", dtype_literal(t.dtype), ", ", t.rank, ", {", dims, "}}");
}

// A static graph's tensors have constant, positive dims (Param checks the latter).
inline Status check_static(const relax::TensorType& t, std::string_view what, bool positive) {
  if (t.rank < 0 || t.rank > kMaxRank) return make_error(StatusCode::unsupported, what, ": rank ", t.rank, " is not supported");
  for (int a = 0; a < t.rank; ++a) {
    if (!t.dims[a].is_constant())
      return make_error(StatusCode::unsupported, what, ": dim ", a, " of ", relax::to_string(t), " is not a constant");
    if (positive && t.dims[a].constant_value() < 1)
      return make_error(StatusCode::unsupported, what, ": ", relax::to_string(t),
                        " has an empty dim; a static graph's inputs and weights need positive dims");
  }
  return Status();
}

} // namespace detail

// A C++ identifier made from `text`: other characters become '_' (never two in a row, which
// C++ reserves), a leading digit or '_' gets a prefix, and keywords or names the generated
// code uses get a suffix.
inline std::string sanitize_identifier(std::string_view text) {
  std::string out = "model_";
  for (char c : text) {
    const char kept = detail::is_ident_char(c) ? c : '_';
    if (!(kept == '_' && out.back() == '_')) out += kept;
  }
  // The prefix stays only where the name needs it.
  if (out.size() > 6 && out[6] != '_' && !(out[6] >= '0' && out[6] <= '9')) out.erase(0, 6);
  bool taken = relax::parse_op(out).has_value();
  for (std::string_view k : detail::kCppKeywords) taken = taken || out == k;
  if (taken) out += "_model";
  return out;
}

inline Result<EmittedGraph> emit_static_graph(const relax::Module& module, const EmitOptions& options) {
  using relax::OpKind;
  using relax::ValueId;
  if (module.functions.empty()) return make_error(StatusCode::invalid_argument, "emit: the module has no functions");
  if (options.name.empty() || sanitize_identifier(options.name) != options.name)
    return make_error(StatusCode::invalid_argument, "emit: '", options.name, "' is not a usable C++ namespace name");
  const relax::Function& fn = module.main();
  const auto at = [](ValueId id) { return static_cast<std::size_t>(id); };

  // Printer numbers (%n) of binding outputs, for messages and local names.
  std::vector<int> number(fn.values.size(), -1);
  {
    int next = 0;
    fn.for_each_binding([&](const relax::Binding& b) {
      for (ValueId out : b.outputs) number[at(out)] = next++;
    });
  }
  const auto node_name = [&](const relax::Binding& b) {
    return str_cat("node %", b.outputs.empty() ? -1 : number[at(b.outputs[0])], " (", relax::to_string(b.op), ")");
  };

  // What the outputs need; a reshape or expand does not need its shape tensor.
  std::vector<int> uses(fn.values.size(), 0);
  for (ValueId out : fn.outputs) ++uses[at(out)];
  std::vector<const relax::Binding*> bindings;
  fn.for_each_binding([&](const relax::Binding& b) { bindings.push_back(&b); });
  std::vector<char> emit(bindings.size(), 0);
  for (std::size_t i = bindings.size(); i-- > 0;) {
    const relax::Binding& b = *bindings[i];
    bool needed = false;
    for (ValueId out : b.outputs) needed = needed || uses[at(out)] > 0;
    if (!needed) continue;
    emit[i] = 1;
    const bool static_target = b.op == OpKind::reshape || b.op == OpKind::expand;
    for (std::size_t k = 0; k < b.inputs.size(); ++k)
      if (b.inputs[k] != relax::kNoValue && !(static_target && k == 1)) ++uses[at(b.inputs[k])];
  }

  EmittedGraph out;
  std::vector<std::string> expr(fn.values.size());
  std::string body;

  // Parameters the graph reads, in order: its inputs.
  std::vector<int> positions;
  std::string input_list, input_names, input_shapes;
  for (std::size_t k = 0; k < fn.params.size(); ++k) {
    const relax::Value& p = fn.value(fn.params[k]);
    if (uses[at(fn.params[k])] == 0) continue;
    KILN_RETURN_IF_ERROR(detail::check_static(p.type, str_cat("input '", p.name, "'"), true));
    // The name in the type is for messages; Name holds 31 characters.
    bool plain = !p.name.empty() && Name::fits(p.name.size());
    for (char c : p.name) plain = plain && c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    const std::string local = str_cat("x", k);
    expr[at(fn.params[k])] = local;
    body += str_cat("  constexpr auto ", local, " = input<", detail::string_literal(plain ? p.name : str_cat("input_", k)),
                    ", ", detail::dtype_literal(p.type.dtype), detail::dims_list(p.type), ">();\n");
    const std::string sep = positions.empty() ? "" : ", ";
    input_list += sep + local;
    input_names += sep + detail::string_literal(p.name);
    input_shapes += sep + detail::shape_literal(p.type);
    positions.push_back(static_cast<int>(k));
  }

  // Constants the graph reads: weights w0, w1, ... in the order the graph first reads them,
  // written inline where read once.
  std::vector<ValueId> constants;
  const auto note_constant = [&](ValueId id) {
    if (id == relax::kNoValue || fn.value(id).kind != relax::ValueKind::constant) return;
    if (std::find(constants.begin(), constants.end(), id) == constants.end()) constants.push_back(id);
  };
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    if (!emit[i]) continue;
    const bool static_target = bindings[i]->op == OpKind::reshape || bindings[i]->op == OpKind::expand;
    for (std::size_t k = 0; k < bindings[i]->inputs.size() && !(static_target && k == 1); ++k) note_constant(bindings[i]->inputs[k]);
  }
  for (ValueId o : fn.outputs) note_constant(o);
  std::string weight_names;
  for (ValueId id : constants) {
    const relax::Value& v = fn.value(id);
    const std::string name = str_cat("w", out.weights.size());
    KILN_RETURN_IF_ERROR(detail::check_static(v.type, str_cat("constant ", name), true));
    const std::string node = str_cat("weight<\"", name, "\", ", detail::dtype_literal(v.type.dtype), detail::dims_list(v.type), ">()");
    if (uses[at(id)] == 1) {
      expr[at(id)] = node;
    } else {
      expr[at(id)] = name;
      body += str_cat("  constexpr auto ", name, " = ", node, ";\n");
    }
    weight_names += str_cat(out.weights.empty() ? "" : ", ", "\"", name, "\"");
    out.weights.push_back({name, fn.constants[static_cast<std::size_t>(v.index)]});
  }

  for (std::size_t i = 0; i < bindings.size(); ++i) {
    if (!emit[i]) continue;
    const relax::Binding& b = *bindings[i];
    const std::string where = node_name(b);
    if (!detail::has_static_form(b.op))
      return make_error(StatusCode::unsupported, where, ": ", detail::refusal(b.op));
    for (ValueId o : b.outputs)
      KILN_RETURN_IF_ERROR(detail::check_static(fn.type(o), str_cat(where, ": output"), false));
    const std::string local = str_cat("v", number[at(b.outputs[0])]);

    // The inputs, less trailing absent ones; NoInput{} for one absent in between.
    std::vector<ValueId> ins = b.inputs;
    if (b.op == OpKind::reshape || b.op == OpKind::expand) ins.resize(1);
    while (!ins.empty() && ins.back() == relax::kNoValue) ins.pop_back();
    if (ins.size() > 16)  // static_graph::kMaxNodeInputs
      return make_error(StatusCode::unsupported, where, ": ", ins.size(),
                        " inputs; a static graph node reads at most 16");
    std::string args;
    for (std::size_t k = 0; k < ins.size(); ++k)
      args += str_cat(k ? ", " : "", ins[k] == relax::kNoValue ? std::string("NoInput{}") : expr[at(ins[k])]);

    if (b.op == OpKind::reshape || b.op == OpKind::expand) {
      std::string dims;
      const relax::TensorType& t = fn.type(b.outputs[0]);
      for (int a = 0; a < t.rank; ++a) dims += str_cat(a ? ", " : "", t.dims[a].constant_value());
      body += str_cat("  constexpr auto ", local, " = ", relax::to_string(b.op), "<", dims, ">(", args, ");\n");
      expr[at(b.outputs[0])] = local;
    } else if (b.op == OpKind::split) {
      // One slice per output, along the split axis.
      const auto* a = std::get_if<relax::SplitAttrs>(&b.attrs);
      const relax::TensorType& x = fn.type(b.inputs[0]);
      const std::int64_t axis = a == nullptr ? 0 : (a->axis < 0 ? a->axis + x.rank : a->axis);
      if (axis < 0 || axis >= x.rank) return make_error(StatusCode::invalid_argument, where, ": axis out of range");
      std::int64_t start = 0;
      for (ValueId o : b.outputs) {
        const std::int64_t size = fn.type(o).dims[static_cast<int>(axis)].constant_value();
        const std::string part = str_cat("v", number[at(o)]);
        if (uses[at(o)] > 0)
          body += str_cat("  constexpr auto ", part, " = apply<OpKind::slice, relax::SliceAttrs{.starts = {", start,
                          "}, .ends = {", start + size, "}, .axes = {", axis, "}}>(", args, ");\n");
        expr[at(o)] = part;
        start += size;
      }
    } else {
      Result<std::string> attrs = detail::attrs_literal(b.attrs);
      if (!attrs.ok()) return std::move(attrs).status().with_context(str_cat(where));
      std::string call = detail::helper_call(b, *attrs, args, ins.size());
      if (call.empty())
        call = str_cat("apply<OpKind::", relax::to_string(b.op), attrs->empty() ? "" : ", ", *attrs, ">(", args, ")");
      body += str_cat("  constexpr auto ", local, " = ", call, ";\n");
      expr[at(b.outputs[0])] = local;
      for (std::size_t k = 1; k < b.outputs.size(); ++k) expr[at(b.outputs[k])] = str_cat("output<", k, ">(", local, ")");
    }
    ++out.nodes;
  }

  std::string output_list, output_names, output_shapes;
  for (std::size_t k = 0; k < fn.outputs.size(); ++k) {
    const relax::Value& v = fn.value(fn.outputs[k]);
    KILN_RETURN_IF_ERROR(detail::check_static(v.type, str_cat("output ", k), false));
    const std::string sep = k ? ", " : "";
    output_list += sep + expr[at(fn.outputs[k])];
    output_names += sep + detail::string_literal(v.name.empty() ? str_cat("output_", k) : v.name);
    output_shapes += sep + detail::shape_literal(v.type);
  }

  const std::string& ns = options.name;
  const std::size_t n_in = positions.size(), n_out = fn.outputs.size(), n_w = out.weights.size();
  std::string position_list;
  for (std::size_t k = 0; k < n_in; ++k) position_list += str_cat(k ? ", " : "", positions[k]);
  std::string h;
  h += str_cat("// ", ns, ".hpp: ", options.source.empty() ? std::string("a model") : options.source,
               " as a kiln static graph. Generated by `kiln aot`; do not edit.\n//\n");
  h += str_cat("//   auto model = ", ns, "::Model::create(&pool).value();\n");
  h += str_cat("//   KILN_RETURN_IF_ERROR(", ns, "::bind_weights(model", options.embed ? "" : str_cat(", \"", ns, ".weights\""), "));\n");
  h += "//   KILN_RETURN_IF_ERROR(model.run({inputs...}));   // in the order of input_names; allocates nothing\n";
  h += "//   const kiln::vm::Slot& y = model.output(0);      // in the order of output_names\n";
  if (!options.shape_note.empty()) h += str_cat("//\n// Shape symbols fixed at generation: ", options.shape_note, ".\n");
  h += "#pragma once\n\n#include <array>\n#include <filesystem>\n#include <limits>\n#include <span>\n#include <string_view>\n#include <vector>\n\n";
  h += "#include <kiln/aot/weights_file.hpp>\n#include <kiln/static_graph/graph.hpp>\n#include <kiln/static_graph/model.hpp>\n"
       "#include <kiln/static_graph/ops.hpp>\n\n";
  if (options.embed) h += str_cat("#include \"", ns, "_weights.inc\"\n\n");
  h += str_cat("namespace ", ns, " {\n\n");
  h += "// The graph: one node per op of the model; shapes, fusion and the memory plan are the compiler's.\n";
  h += "constexpr auto graph() {\n  using namespace kiln::static_graph;\n  using kiln::DType;\n  namespace relax = kiln::relax;\n";
  h += body;
  h += str_cat("  return build(inputs(", input_list, "), ", output_list, ");\n}\n\n");
  h += "using Graph = decltype(graph());\nusing Model = kiln::static_graph::Model<Graph>;\n\n";
  h += "// Inputs in the order Model::run takes them, with their places among the ONNX graph's inputs.\n";
  h += str_cat("inline constexpr std::array<std::string_view, ", n_in, "> input_names = {", input_names, "};\n");
  h += str_cat("inline constexpr std::array<kiln::static_graph::StaticShape, ", n_in, "> input_shapes = {", input_shapes, "};\n");
  h += str_cat("inline constexpr std::array<int, ", n_in, "> input_positions = {", position_list, "};\n");
  h += str_cat("inline constexpr std::array<std::string_view, ", n_out, "> output_names = {", output_names, "};\n");
  h += str_cat("inline constexpr std::array<kiln::static_graph::StaticShape, ", n_out, "> output_shapes = {", output_shapes, "};\n");
  h += str_cat("inline constexpr std::array<std::string_view, ", n_w, "> weight_names = {", weight_names, "};\n\n");
  if (options.embed) {
    h += "// Binds every weight from the bytes embedded in the program (no copy).\n";
    h += "inline kiln::Status bind_weights(Model& model) {\n";
    h += "  const auto bytes = std::as_bytes(std::span<const char>(weights_data, sizeof weights_data - 1));\n";
    h += "  KILN_ASSIGN_OR_RETURN(const std::vector<kiln::aot::NamedTensor> weights, kiln::aot::decode_weights(bytes));\n";
  } else {
    h += "// Binds every weight from the weights file `kiln aot` wrote next to this header.\n";
    h += "inline kiln::Status bind_weights(Model& model, const std::filesystem::path& file) {\n";
    h += "  KILN_ASSIGN_OR_RETURN(const std::vector<kiln::aot::NamedTensor> weights, kiln::aot::read_weights_file(file));\n";
  }
  h += "  return kiln::aot::bind_weights(model, weights, weight_names);\n}\n\n";
  h += str_cat("} // namespace ", ns, "\n");
  out.header = std::move(h);
  return out;
}

} // namespace kiln::aot
