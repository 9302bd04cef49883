// kiln/frontend/onnx/import_ops_sequence.hpp: ONNX's sequence and optional ops.
//
// kiln has no sequence or optional values at run time: a sequence is a list of tensors whose
// length is known at load time and an optional holds its value or not at load time
// (SequenceValue, OptionalValue in import_graph.hpp). So these ops run while importing:
// SequenceAt at a known position is that element, SequenceInsert makes a longer list,
// SequenceMap imports its body once per element, SplitToSequence is slices and
// ConcatFromSequence a concat. Positions must be known at load time; a Loop that carries a
// sequence is unrolled (import_ops_control.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../../relax/attributes.hpp"
#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

// A position into a sequence of `length` elements (negative counts from the end); `end_ok`
// allows `length` itself (inserting at the back).
inline Result<std::size_t> sequence_position(NodeContext& ctx, int input, std::size_t length, bool end_ok) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> p, ctx.constant_ints(input, "position"));
  if (p.size() != 1) return ctx.invalid("the position must hold one element, got ", p.size());
  const auto n = static_cast<std::int64_t>(length);
  const std::int64_t at = p[0] < 0 ? p[0] + n : p[0];
  if (at < 0 || at > n || (at == n && !end_ok))
    return ctx.invalid("position ", p[0], " is out of range for a sequence of ", n, " elements");
  return static_cast<std::size_t>(at);
}

inline Status check_element_dtype(NodeContext& ctx, const SequenceValue& seq, relax::Var item) {
  if (ctx.dtype(item) != seq.dtype)
    return ctx.invalid("a ", to_string(ctx.dtype(item)), " tensor cannot join a sequence of ", to_string(seq.dtype));
  return {};
}

inline Status convert_sequence_construct(NodeContext& ctx) {
  if (ctx.input_count() == 0) return ctx.invalid("needs at least one input");
  SequenceValue seq;
  for (int i = 0; i < ctx.input_count(); ++i) {
    KILN_ASSIGN_OR_RETURN(const relax::Var v, ctx.input(i));
    if (i == 0) seq.dtype = ctx.dtype(v);
    KILN_RETURN_IF_ERROR(check_element_dtype(ctx, seq, v));
    seq.items.push_back(v);
  }
  return ctx.set_value_output(0, std::move(seq));
}

inline Status convert_sequence_empty(NodeContext& ctx) {
  const auto type = static_cast<DataType>(ctx.attr_int("dtype", static_cast<std::int64_t>(DataType::float32)));
  const std::optional<DType> dtype = to_dtype(type);
  if (!dtype) return ctx.unsupported("dtype ", describe(type), ": kiln has no such dtype");
  return ctx.set_value_output(0, SequenceValue{*dtype, {}});
}

inline Status convert_sequence_insert(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(SequenceValue seq, ctx.sequence_input(0));
  KILN_ASSIGN_OR_RETURN(const relax::Var item, ctx.input(1));
  KILN_RETURN_IF_ERROR(check_element_dtype(ctx, seq, item));
  std::size_t at = seq.items.size();
  if (ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(at, sequence_position(ctx, 2, seq.items.size(), true));
  }
  seq.items.insert(seq.items.begin() + static_cast<std::ptrdiff_t>(at), item);
  return ctx.set_value_output(0, std::move(seq));
}

inline Status convert_sequence_at(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue seq, ctx.sequence_input(0));
  KILN_ASSIGN_OR_RETURN(const std::size_t at, sequence_position(ctx, 1, seq.items.size(), false));
  return ctx.set_output(0, seq.items[at]);
}

inline Status convert_sequence_erase(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(SequenceValue seq, ctx.sequence_input(0));
  if (seq.items.empty()) return ctx.invalid("cannot erase from an empty sequence");
  std::size_t at = seq.items.size() - 1;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(at, sequence_position(ctx, 1, seq.items.size(), false));
  }
  seq.items.erase(seq.items.begin() + static_cast<std::ptrdiff_t>(at));
  return ctx.set_value_output(0, std::move(seq));
}

inline Status convert_sequence_length(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue seq, ctx.sequence_input(0));
  return ctx.set_output(0, ctx.scalar(DType::i64, static_cast<double>(seq.items.size())));
}

// SplitToSequence: pieces of `split`'s sizes (or of its one size, the last piece shorter), or
// without split every index along the axis, squeezed unless keepdims.
inline Status convert_split_to_sequence(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const relax::Var x, ctx.input(0));
  const int rank = ctx.rank(x);
  std::int64_t axis = ctx.attr_int("axis", 0);
  if (axis < -rank || axis >= rank) return ctx.invalid("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  const relax::SymDim extent = ctx.type(x).dims[static_cast<int>(axis)];
  if (!extent.is_constant()) return ctx.unsupported("the extent of the split axis must be known at load time");
  const std::int64_t n = extent.constant_value();
  std::vector<std::int64_t> sizes;
  bool squeeze = false;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(const Tensor split, ctx.constant_input(1, "split"));
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> values, NodeContext::ints_of(split, "split"));
    if (split.rank() == 0) {
      if (values[0] <= 0) return ctx.invalid("split must be positive, got ", values[0]);
      for (std::int64_t at = 0; at < n; at += values[0]) sizes.push_back(std::min(values[0], n - at));
    } else {
      sizes = values;
      std::int64_t total = 0;
      for (std::int64_t s : sizes) {
        if (s < 0) return ctx.invalid("split sizes must not be negative, got ", s);
        total += s;
      }
      if (total != n) return ctx.invalid("split sizes add up to ", total, ", the axis has ", n);
    }
  } else {
    sizes.assign(static_cast<std::size_t>(n), 1);
    squeeze = ctx.attr_int("keepdims", 1) == 0;
  }
  SequenceValue seq{ctx.dtype(x), {}};
  std::int64_t begin = 0;
  for (std::int64_t s : sizes) {
    relax::Var piece = ctx.b().slice(x, relax::SliceAttrs{.starts = {begin}, .ends = {begin + s}, .axes = {axis}});
    if (squeeze) piece = ctx.b().squeeze(piece, relax::Ints{axis});
    seq.items.push_back(piece);
    begin += s;
  }
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_value_output(0, std::move(seq));
}

// ConcatFromSequence: the elements joined along `axis`, or stacked along a new one.
inline Status convert_concat_from_sequence(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue seq, ctx.sequence_input(0));
  if (seq.items.empty()) return ctx.invalid("cannot concatenate an empty sequence");
  const bool new_axis = ctx.attr_int("new_axis", 0) != 0;
  if (!ctx.has_attr("axis")) return ctx.invalid("the axis attribute is required");
  std::int64_t axis = ctx.attr_int("axis", 0);
  const int rank = ctx.rank(seq.items[0]) + (new_axis ? 1 : 0);
  if (axis < -rank || axis >= rank) return ctx.invalid("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  std::vector<relax::Var> parts = seq.items;
  if (new_axis)
    for (relax::Var& p : parts) p = ctx.b().unsqueeze(p, relax::Ints{axis});
  return ctx.set_output(0, parts.size() == 1 ? parts[0] : ctx.b().concat(parts, axis));
}

// SequenceMap: the body once per element; inputs after the first that are tensors go to
// every call, sequences (of the first one's length) element by element.
inline Status convert_sequence_map(NodeContext& ctx) {
  const AttributeProto* body_attr = ctx.attr("body");
  if (body_attr == nullptr || !body_attr->g) return ctx.invalid("the body attribute (a graph) is required");
  const GraphProto& body = *body_attr->g;
  KILN_ASSIGN_OR_RETURN(const SequenceValue first, ctx.sequence_input(0));
  std::vector<ImportedValue> inputs;
  for (int i = 0; i < ctx.input_count(); ++i) {
    KILN_ASSIGN_OR_RETURN(ImportedValue v, ctx.value_input(i));
    if (const SequenceValue* s = std::get_if<SequenceValue>(&v); s && s->items.size() != first.items.size())
      return ctx.invalid("input ", i, " has ", s->items.size(), " elements, the first sequence ", first.items.size());
    if (std::holds_alternative<OptionalValue>(v)) return ctx.unsupported("input ", i, " is an optional");
    inputs.push_back(std::move(v));
  }
  if (body.output.size() != static_cast<std::size_t>(ctx.output_count()))
    return ctx.invalid("the body has ", body.output.size(), " outputs, the node ", ctx.output_count());
  std::vector<SequenceValue> outputs(body.output.size());
  for (std::size_t k = 0; k < first.items.size(); ++k) {
    std::vector<ImportedValue> args;
    for (const ImportedValue& v : inputs) {
      if (const SequenceValue* s = std::get_if<SequenceValue>(&v)) args.emplace_back(s->items[k]);
      else args.push_back(v);
    }
    Result<std::vector<ImportedValue>> out = ctx.graph().inline_graph(body, args);
    if (!out.ok()) return std::move(out).status().with_context(str_cat("body, element ", k));
    for (std::size_t o = 0; o < out->size(); ++o) {
      const relax::Var* t = std::get_if<relax::Var>(&(*out)[o]);
      if (t == nullptr) return ctx.unsupported("body output ", o, " is not a tensor");
      outputs[o].items.push_back(*t);
    }
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    // The element type of an empty result comes from the body's declared output.
    const TypeProto* declared = body.output[o].type ? &*body.output[o].type : nullptr;
    if (!outputs[o].items.empty()) outputs[o].dtype = ctx.dtype(outputs[o].items[0]);
    else if (declared && declared->tensor_type())
      if (std::optional<DType> d = to_dtype(declared->tensor_type()->elem_type)) outputs[o].dtype = *d;
    KILN_RETURN_IF_ERROR(ctx.set_value_output(static_cast<int>(o), std::move(outputs[o])));
  }
  return {};
}

// Optional: the input wrapped, or (without one) an empty optional of the `type` attribute.
inline Status convert_optional(NodeContext& ctx) {
  OptionalValue opt;
  if (ctx.has_input(0)) {
    KILN_ASSIGN_OR_RETURN(ImportedValue v, ctx.value_input(0));
    if (relax::Var* t = std::get_if<relax::Var>(&v)) opt.tensor = *t;
    else if (SequenceValue* s = std::get_if<SequenceValue>(&v)) opt.sequence = std::move(*s);
    else return ctx.unsupported("an optional of an optional");
  }
  return ctx.set_value_output(0, std::move(opt));
}

// OptionalGetElement: the value (a tensor or sequence input passes through, as opset 18 allows).
inline Status convert_optional_get_element(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ImportedValue v, ctx.value_input(0));
  if (OptionalValue* opt = std::get_if<OptionalValue>(&v)) {
    if (opt->tensor) return ctx.set_output(0, *opt->tensor);
    if (opt->sequence) return ctx.set_value_output(0, std::move(*opt->sequence));
    return ctx.invalid("the optional '", ctx.input_name(0), "' holds no value");
  }
  return ctx.set_value_output(0, std::move(v));
}

// OptionalHasElement: a bool known at load time; a missing input is an empty optional.
inline Status convert_optional_has_element(NodeContext& ctx) {
  bool has = false;
  if (ctx.has_input(0)) {
    KILN_ASSIGN_OR_RETURN(const ImportedValue v, ctx.value_input(0));
    const OptionalValue* opt = std::get_if<OptionalValue>(&v);
    has = opt == nullptr || opt->present();
  }
  return ctx.set_output(0, ctx.scalar(DType::boolean, has ? 1.0 : 0.0));
}

inline constexpr ConverterEntry kSequenceConverters[] = {
    {"SequenceConstruct", convert_sequence_construct},
    {"SequenceEmpty", convert_sequence_empty},
    {"SequenceInsert", convert_sequence_insert},
    {"SequenceAt", convert_sequence_at},
    {"SequenceErase", convert_sequence_erase},
    {"SequenceLength", convert_sequence_length},
    {"SplitToSequence", convert_split_to_sequence},
    {"ConcatFromSequence", convert_concat_from_sequence},
    {"SequenceMap", convert_sequence_map},
    {"Optional", convert_optional},
    {"OptionalGetElement", convert_optional_get_element},
    {"OptionalHasElement", convert_optional_has_element},
};

} // namespace kiln::onnx::detail
