// kiln/frontend/onnx/import_graph.hpp: importing one ONNX graph into a relax function, and
// NodeContext, what an op converter sees of the node it converts.
//
// A GraphImporter owns a relax::Builder and the scope of one graph: the relax value of every
// ONNX name defined so far (graph inputs, initializers, node outputs). A subgraph (If's
// branches, Loop's body) gets an importer of its own whose parent is the enclosing graph;
// the outer values it reads become parameters of the sub-function (or constants, when the
// outer value is one), since relax sub-functions see only their arguments.
//
// Converters (import_ops_*.hpp) turn one node into relax bindings through a NodeContext:
// typed access to attributes and inputs, the inputs whose values must be known at load time
// (shapes, axes, pads, ...), small constants, and outputs. Their errors say what is wrong;
// the importer prefixes them with the node ("node 3 (Conv 'conv1'), opset 13: ...").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "../../core/dtype.hpp"
#include "../../core/name.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../../relax/builder.hpp"
#include "../../relax/module.hpp"
#include "../../relax/reference_eval.hpp"
#include "../../runtime/tensor.hpp"
#include "import_options.hpp"
#include "proto.hpp"
#include "tensor_data.hpp"

namespace kiln::onnx::detail {

class NodeContext;
class GraphImporter;

// Converts one node; the importer adds the node's name to any error.
using ConvertFn = Status (*)(NodeContext&);
// The converter of an op type of a domain, or null for an op the importer does not know.
using ConverterLookup = ConvertFn (*)(std::string_view domain, std::string_view op_type);
// Whether the importer knows any op of a domain.
using DomainCheck = bool (*)(std::string_view domain);
// Why a default-domain op the importer knows of cannot be imported, or "" for an unknown op.
using RefusalReason = std::string_view (*)(std::string_view op_type);

struct ConverterEntry {
  std::string_view op_type;
  ConvertFn convert = nullptr;
};

inline bool is_default_domain(std::string_view domain) noexcept { return domain.empty() || domain == "ai.onnx"; }

// What every graph of one model shares.
struct ModelState {
  std::int64_t opset = 0;  // of the default domain
  std::filesystem::path model_dir;
  const ImportOptions* options = nullptr;
  ConverterLookup lookup = nullptr;
  DomainCheck knows_domain = nullptr;
  RefusalReason refusal = nullptr;
  // dim_param names -> relax symbols (names longer than a kiln::Name are shortened uniquely).
  std::unordered_map<std::string, Name> symbols;
  std::unordered_set<std::string> taken_symbols;
  int fresh_symbols = 0;
  // The model's local functions, expanded where a node calls one; how deep expansions nest.
  std::span<const FunctionProto> functions;
  int expansion_depth = 0;

  // The dim an ONNX dimension becomes: its value, the caller's value for its dim_param, the
  // dim_param's symbol, or a fresh symbol for an unnamed unknown extent.
  relax::SymDim dim_of(const TensorShapeProto::Dimension& dim) {
    if (dim.dim_value && *dim.dim_value >= 0) return relax::SymDim(*dim.dim_value);
    if (dim.dim_param && !dim.dim_param->empty()) {
      const std::string& param = *dim.dim_param;
      for (const auto& [name, value] : options->dim_values)
        if (name == param) return relax::SymDim(value);
      auto it = symbols.find(param);
      if (it != symbols.end()) return relax::sym(it->second);
      // dim_params are reserved in taken_symbols up front, so fresh names never collide with them.
      const Name symbol = Name::fits(param.size()) ? Name(std::string_view(param)) : fresh_name(param.substr(0, 24));
      taken_symbols.insert(std::string(symbol.view()));
      symbols.emplace(param, symbol);
      return relax::sym(symbol);
    }
    return fresh_symbol("unk");
  }

  // A symbol no other dim of the model uses: "stem_N".
  relax::SymDim fresh_symbol(std::string_view stem) {
    const Name symbol = fresh_name(stem);
    taken_symbols.insert(std::string(symbol.view()));
    return relax::sym(symbol);
  }

 private:
  Name fresh_name(std::string_view stem) {
    for (;;) {
      const std::string text = str_cat(stem, "_", fresh_symbols++);
      if (taken_symbols.count(text) == 0 && Name::fits(text.size())) return Name(std::string_view(text));
    }
  }
};

// The names a graph reads without defining them: values of enclosing graphs (for subgraphs
// inside it too), in order of first use.
inline void collect_free_names(const GraphProto& graph, std::vector<std::string>& out) {
  std::unordered_set<std::string> defined;
  for (const ValueInfoProto& input : graph.input) defined.insert(input.name);
  for (const TensorProto& init : graph.initializer) defined.insert(init.name);
  const auto use = [&](const std::string& name) {
    if (name.empty() || defined.count(name) != 0) return;
    for (const std::string& seen : out)
      if (seen == name) return;
    out.push_back(name);
  };
  for (const NodeProto& node : graph.node) {
    for (const std::string& name : node.input) use(name);
    for (const AttributeProto& attr : node.attribute) {
      std::vector<std::string> inner;
      if (attr.g) collect_free_names(*attr.g, inner);
      for (const GraphProto& g : attr.graphs) collect_free_names(g, inner);
      for (const std::string& name : inner) use(name);
    }
    for (const std::string& name : node.output)
      if (!name.empty()) defined.insert(name);
  }
  for (const ValueInfoProto& output : graph.output) use(output.name);
}

// The relax type of an ONNX value's declared tensor type.
inline Result<relax::TensorType> tensor_type_of(const ValueInfoProto& info, ModelState& model) {
  const TypeProto::Tensor* tensor = info.type ? info.type->tensor_type() : nullptr;
  if (tensor == nullptr) {
    if (info.type && info.type->sequence_type())
      return make_error(StatusCode::unsupported, "'", info.name, "' is a sequence; kiln imports tensors only");
    if (info.type && info.type->optional_type())
      return make_error(StatusCode::unsupported, "'", info.name, "' is an optional; kiln imports tensors only");
    return make_error(StatusCode::unsupported, "'", info.name, "' has no tensor type");
  }
  const std::optional<DType> dtype = to_dtype(tensor->elem_type);
  if (!dtype)
    return make_error(StatusCode::unsupported, "'", info.name, "' has element type ", describe(tensor->elem_type),
                      ", which kiln has no dtype for");
  if (!tensor->shape) return make_error(StatusCode::unsupported, "'", info.name, "' has no shape (unknown rank)");
  if (tensor->shape->dim.size() > static_cast<std::size_t>(kMaxRank))
    return make_error(StatusCode::unsupported, "'", info.name, "' has rank ", tensor->shape->dim.size(),
                      ", above kiln's maximum ", kMaxRank);
  relax::TensorType type;
  type.dtype = *dtype;
  for (const TensorShapeProto::Dimension& dim : tensor->shape->dim) type.push_back(model.dim_of(dim));
  return type;
}

// A sequence as the importer holds it. kiln has no sequence values at run time: a sequence is
// a list of tensors whose length is known at load time, and every op on it (SequenceAt at a
// known position, SequenceInsert, SequenceMap, ...) is resolved while importing.
struct SequenceValue {
  DType dtype = DType::f32;  // of its elements, also when there are none
  std::vector<relax::Var> items;
};

// An optional, which holds a value or not at load time.
struct OptionalValue {
  std::optional<relax::Var> tensor;
  std::optional<SequenceValue> sequence;
  bool present() const noexcept { return tensor.has_value() || sequence.has_value(); }
};

// Any value of an ONNX graph as the importer holds it.
using ImportedValue = std::variant<relax::Var, SequenceValue, OptionalValue>;

// The declared type of a sequence's elements (or an optional's tensor), with every dim a
// fresh symbol: elements of one sequence may differ in shape. `rank` is used where the type
// declares no shape.
inline Result<relax::TensorType> element_type_of(const TypeProto& type, std::string_view name, std::optional<int> rank,
                                                 ModelState& model) {
  const TypeProto::Tensor* tensor = type.tensor_type();
  if (tensor == nullptr) return make_error(StatusCode::unsupported, "'", name, "' has elements that are no tensors");
  const std::optional<DType> dtype = to_dtype(tensor->elem_type);
  if (!dtype)
    return make_error(StatusCode::unsupported, "'", name, "' has elements of type ", describe(tensor->elem_type),
                      ", which kiln has no dtype for");
  const int declared = tensor->shape ? static_cast<int>(tensor->shape->dim.size()) : -1;
  const int r = declared >= 0 ? declared : rank.value_or(-1);
  if (r < 0) return make_error(StatusCode::unsupported, "'", name, "': the rank of its elements is unknown");
  if (declared >= 0 && rank && *rank != declared)
    return make_error(StatusCode::shape_mismatch, "'", name, "': an element of rank ", *rank, " where the model declares ",
                      declared);
  if (r > kMaxRank) return make_error(StatusCode::unsupported, "'", name, "': elements of rank ", r, " are above kiln's maximum");
  relax::TensorType t;
  t.dtype = *dtype;
  for (int a = 0; a < r; ++a) {
    const TensorShapeProto::Dimension* d = declared >= 0 ? &tensor->shape->dim[static_cast<std::size_t>(a)] : nullptr;
    t.push_back(d && d->dim_value && *d->dim_value >= 0 ? relax::SymDim(*d->dim_value) : model.fresh_symbol("elem"));
  }
  return t;
}

// A value a subgraph reads from the graph around it.
struct Capture {
  std::string name;
  relax::Var outer;                  // in the enclosing graph
  relax::TensorType type;
  std::optional<Tensor> constant;    // known at load time: copied in instead of passed
};

class GraphImporter {
 public:
  GraphImporter(ModelState& model, const GraphImporter* parent, std::string function_name)
      : model_(model), parent_(parent), builder_(std::move(function_name)) {}
  GraphImporter(const GraphImporter&) = delete;
  GraphImporter& operator=(const GraphImporter&) = delete;

  ModelState& model() noexcept { return model_; }
  std::int64_t opset() const noexcept { return model_.opset; }
  relax::Builder& builder() noexcept { return builder_; }
  const relax::Builder& builder() const noexcept { return builder_; }
  const relax::TensorType& type(relax::Var v) const { return builder_.type(v); }

  // The tensor an ONNX name stands for in this graph.
  Result<relax::Var> lookup(std::string_view name) const {
    auto it = values_.find(std::string(name));
    if (it != values_.end()) return it->second;
    if (composites_.count(std::string(name)) != 0)
      return make_error(StatusCode::unsupported, "'", name, "' is ",
                        std::holds_alternative<SequenceValue>(composites_.at(std::string(name))) ? "a sequence" : "an optional",
                        " where a tensor is expected");
    return make_error(StatusCode::not_found, "'", name,
                      "' is not defined (no graph input, initializer or earlier node output has this name)");
  }
  bool defines(std::string_view name) const {
    return values_.count(std::string(name)) != 0 || composites_.count(std::string(name)) != 0;
  }
  void define(const std::string& name, relax::Var v) {
    composites_.erase(name);
    values_[name] = v;
  }

  // Any value: a tensor, a sequence or an optional.
  Result<ImportedValue> lookup_value(std::string_view name) const {
    if (auto it = composites_.find(std::string(name)); it != composites_.end()) return it->second;
    KILN_ASSIGN_OR_RETURN(const relax::Var v, lookup(name));
    return ImportedValue(v);
  }
  void define_value(const std::string& name, ImportedValue value) {
    if (const relax::Var* v = std::get_if<relax::Var>(&value)) return define(name, *v);
    values_.erase(name);
    composites_[name] = std::move(value);
  }

  // Imports `body`'s nodes into this function with its inputs bound to `args` (a Loop body
  // unrolled, SequenceMap's body per element) and returns the values of its outputs. The
  // body's own names do not outlive the call.
  Result<std::vector<ImportedValue>> inline_graph(const GraphProto& body, std::span<const ImportedValue> args) {
    if (args.size() != body.input.size())
      return make_error(StatusCode::invalid_argument, "the body takes ", body.input.size(), " inputs, given ", args.size());
    const auto saved_values = values_;
    const auto saved_composites = composites_;
    const auto restore = [&] {
      values_ = saved_values;
      composites_ = saved_composites;
    };
    for (std::size_t i = 0; i < args.size(); ++i)
      if (!body.input[i].name.empty()) define_value(body.input[i].name, args[i]);
    Status s = import_initializers(body);
    if (s.ok()) s = import_nodes(body);
    std::vector<ImportedValue> out;
    for (std::size_t i = 0; s.ok() && i < body.output.size(); ++i) {
      Result<ImportedValue> v = lookup_value(body.output[i].name);
      if (v.ok()) out.push_back(std::move(*v));
      else s = std::move(v).status().with_context(str_cat("body output '", body.output[i].name, "'"));
    }
    restore();
    KILN_RETURN_IF_ERROR(s);
    return out;
  }

  // The elements of `v` when they are known at load time: a constant, an integer tensor
  // whose elements inference tracked (shape arithmetic), or a graph input whose value the
  // caller gave in ImportOptions::input_values.
  std::optional<Tensor> known_value(relax::Var v) const {
    const relax::Function& fn = builder_.function();
    if (!v.valid() || !fn.has_value(v.id)) return std::nullopt;
    if (const Tensor* t = fn.constant_of(v.id)) return *t;
    const relax::Value& value = fn.value(v.id);
    if (value.kind == relax::ValueKind::param) {
      for (const auto& [name, tensor] : model_.options->input_values)
        if (name == value.name && fits(tensor, value.type)) return tensor;
      return std::nullopt;
    }
    if (!value.contents || !is_integer(value.type.dtype) || value.type.rank > 1) return fold(v.id);
    std::vector<std::int64_t> elements;
    for (const relax::SymDim& d : *value.contents) {
      if (!d.is_constant()) return fold(v.id);
      elements.push_back(d.constant_value());
    }
    std::vector<std::int64_t> dims;
    if (value.type.rank == 1) dims.push_back(static_cast<std::int64_t>(elements.size()));
    Result<Tensor> t = Tensor::empty(value.type.dtype, dims);
    if (!t.ok()) return std::nullopt;
    for (std::size_t i = 0; i < elements.size(); ++i) {
      visit_dtype(value.type.dtype, [&](auto zero) {
        using T = decltype(zero);
        static_cast<T*>(t->data())[i] = static_cast<T>(elements[i]);
      });
    }
    return std::move(*t);
  }

  // Whether a caller-given input value has the input's dtype and (where known) dims.
  static bool fits(const Tensor& t, const relax::TensorType& type) {
    if (!t.defined() || t.dtype() != type.dtype || t.rank() != type.rank) return false;
    for (int a = 0; a < type.rank; ++a)
      if (type.dims[a].is_constant() && type.dims[a].constant_value() != t.dim(a)) return false;
    return true;
  }

  // Initializers become constants.
  Status import_initializers(const GraphProto& graph) {
    for (const TensorProto& init : graph.initializer) {
      if (init.name.empty()) return make_error(StatusCode::parse_error, "an initializer has no name");
      Result<Tensor> tensor = to_tensor(init, model_.model_dir);
      if (!tensor.ok()) return std::move(tensor).status();
      const relax::Var v = builder_.constant(std::move(*tensor));
      if (!builder_.ok()) return builder_.status();
      define(init.name, v);
    }
    return {};
  }

  // A sequence graph input: its elements as parameters "name[0]", "name[1]", ...
  Result<SequenceValue> import_sequence_input(const std::string& name, const TypeProto::Sequence& type) {
    const SequenceInput* given = nullptr;
    for (const SequenceInput& s : model_.options->sequence_inputs)
      if (s.name == name) given = &s;
    if (given == nullptr)
      return make_error(StatusCode::unsupported, "graph input '", name, "' is a sequence: kiln needs its length at load "
                        "time (ImportOptions::sequence_inputs)");
    if (!type.elem_type) return make_error(StatusCode::unsupported, "graph input '", name, "' has no element type");
    SequenceValue seq;
    for (std::size_t i = 0; i < given->element_ranks.size(); ++i) {
      const std::string item = str_cat(name, "[", i, "]");
      KILN_ASSIGN_OR_RETURN(const relax::TensorType t,
                            element_type_of(*type.elem_type, item, given->element_ranks[i], model_));
      seq.dtype = t.dtype;
      seq.items.push_back(builder_.input(item, t));
      KILN_RETURN_IF_ERROR(builder_.status());
    }
    if (given->element_ranks.empty()) {  // no element to take the dtype from
      const TypeProto::Tensor* tensor = type.elem_type->tensor_type();
      const std::optional<DType> dtype = tensor ? to_dtype(tensor->elem_type) : std::nullopt;
      if (!dtype) return make_error(StatusCode::unsupported, "graph input '", name, "' has elements kiln has no dtype for");
      seq.dtype = *dtype;
    }
    return seq;
  }

  // Graph inputs that no initializer defines become parameters, in order; a sequence input
  // one per element, an optional one when it holds a value.
  Status import_inputs(const GraphProto& graph) {
    for (const ValueInfoProto& input : graph.input) {
      if (defines(input.name)) continue;  // an initializer (IR < 4 lists them as inputs too)
      if (input.type && input.type->sequence_type()) {
        KILN_ASSIGN_OR_RETURN(SequenceValue seq, import_sequence_input(input.name, *input.type->sequence_type()));
        define_value(input.name, std::move(seq));
        continue;
      }
      if (const TypeProto::Optional* opt = input.type ? input.type->optional_type() : nullptr) {
        OptionalValue value;
        const auto& absent = model_.options->absent_optionals;
        if (std::find(absent.begin(), absent.end(), input.name) == absent.end()) {
          if (!opt->elem_type)
            return make_error(StatusCode::unsupported, "graph input '", input.name, "' has no element type");
          if (const TypeProto::Sequence* seq = opt->elem_type->sequence_type()) {
            KILN_ASSIGN_OR_RETURN(value.sequence, import_sequence_input(input.name, *seq));
          } else {
            ValueInfoProto element;
            element.name = input.name;
            element.type = *opt->elem_type;
            KILN_ASSIGN_OR_RETURN(const relax::TensorType t, tensor_type_of(element, model_));
            value.tensor = builder_.input(input.name, t);
            KILN_RETURN_IF_ERROR(builder_.status());
          }
        }
        define_value(input.name, std::move(value));
        continue;
      }
      Result<relax::TensorType> type = tensor_type_of(input, model_);
      if (!type.ok()) return std::move(type).status().with_context(str_cat("graph input '", input.name, "'"));
      const relax::Var v = builder_.input(input.name, *type);
      if (!builder_.ok()) return builder_.status();
      define(input.name, v);
    }
    return {};
  }

  // The values this subgraph reads from enclosing graphs, each resolved in `outer` (the
  // importer of the graph the node holding this subgraph sits in).
  static Result<std::vector<Capture>> captures_of(std::span<const GraphProto* const> graphs, const GraphImporter& outer) {
    std::vector<std::string> names;
    for (const GraphProto* g : graphs) {
      std::vector<std::string> free;
      collect_free_names(*g, free);
      for (const std::string& name : free) {
        bool seen = false;
        for (const std::string& n : names) seen = seen || n == name;
        if (!seen) names.push_back(name);
      }
    }
    std::vector<Capture> captures;
    for (const std::string& name : names) {
      KILN_ASSIGN_OR_RETURN(const relax::Var outer_value, outer.lookup(name));
      Capture c;
      c.name = name;
      c.outer = outer_value;
      c.type = outer.type(outer_value);
      c.constant = outer.known_value(outer_value);
      // An input with a caller-given value is still a run-time value of the outer graph.
      if (c.constant && outer.builder().function().value(outer_value.id).kind == relax::ValueKind::param)
        c.constant.reset();
      captures.push_back(std::move(c));
    }
    return captures;
  }

  // Defines the captured values here: constants are copied in, the others become parameters
  // (in capture order) whose arguments the caller passes.
  Status declare_captures(std::span<const Capture> captures) {
    for (const Capture& c : captures) {
      if (defines(c.name)) continue;
      relax::Var v = c.constant ? builder_.constant(*c.constant) : builder_.input(c.name, c.type);
      if (!builder_.ok()) return builder_.status();
      define(c.name, v);
    }
    return {};
  }

  Status import_nodes(const GraphProto& graph);

  // The model-local function a node calls, if any (a function of the model shadows an op).
  const FunctionProto* find_function(const NodeProto& node) const {
    for (const FunctionProto& f : model_.functions)
      if (f.name == node.op_type && (f.domain == node.domain || (is_default_domain(f.domain) && is_default_domain(node.domain))))
        return &f;
    return nullptr;
  }

  // Expands a call of a model-local function in place: its nodes are imported with the
  // caller's inputs, and with the caller's attributes where they refer to them (ref_attr_name),
  // else the function's defaults.
  Status expand_function(const NodeProto& node, const FunctionProto& fn) {
    static constexpr int kMaxExpansionDepth = 32;
    if (model_.expansion_depth >= kMaxExpansionDepth)
      return make_error(StatusCode::unsupported, "function ", fn.name, " expands more than ", kMaxExpansionDepth,
                        " levels deep (a recursive function?)");
    if (node.input.size() > fn.input.size() || node.output.size() > fn.output.size())
      return make_error(StatusCode::invalid_argument, "the call has ", node.input.size(), " inputs and ",
                        node.output.size(), " outputs; function ", fn.name, " takes ", fn.input.size(), " and returns ",
                        fn.output.size());
    GraphProto body;
    std::vector<ImportedValue> args;
    std::unordered_set<std::string> absent;  // inputs the caller left out: empty names inside
    for (std::size_t i = 0; i < fn.input.size(); ++i) {
      if (i < node.input.size() && !node.input[i].empty()) {
        KILN_ASSIGN_OR_RETURN(ImportedValue v, lookup_value(node.input[i]));
        ValueInfoProto in;
        in.name = fn.input[i];
        body.input.push_back(std::move(in));
        args.push_back(std::move(v));
      } else {
        absent.insert(fn.input[i]);
      }
    }
    for (const std::string& name : fn.output) {
      ValueInfoProto out;
      out.name = name;
      body.output.push_back(std::move(out));
    }
    for (NodeProto inner : fn.node) {
      for (std::string& in : inner.input)
        if (absent.count(in) != 0) in.clear();
      std::vector<AttributeProto> attributes;
      for (AttributeProto& attr : inner.attribute) {
        if (attr.ref_attr_name.empty()) {
          attributes.push_back(std::move(attr));
          continue;
        }
        const AttributeProto* given = nullptr;
        for (const AttributeProto& a : node.attribute)
          if (a.name == attr.ref_attr_name) given = &a;
        for (const AttributeProto& a : fn.attribute_proto)
          if (given == nullptr && a.name == attr.ref_attr_name) given = &a;
        if (given == nullptr) continue;  // neither given nor defaulted: the inner attribute is absent
        AttributeProto resolved = *given;
        resolved.name = attr.name;
        attributes.push_back(std::move(resolved));
      }
      inner.attribute = std::move(attributes);
      body.node.push_back(std::move(inner));
    }
    ++model_.expansion_depth;
    Result<std::vector<ImportedValue>> out = inline_graph(body, args);
    --model_.expansion_depth;
    if (!out.ok()) return std::move(out).status().with_context(str_cat("in function ", fn.name));
    for (std::size_t i = 0; i < node.output.size(); ++i)
      if (!node.output[i].empty()) define_value(node.output[i], (*out)[i]);
    return {};
  }

  // The values of the graph's outputs, in order.
  Result<std::vector<relax::Var>> outputs(const GraphProto& graph) const {
    std::vector<relax::Var> out;
    for (const ValueInfoProto& output : graph.output) {
      Result<relax::Var> v = lookup(output.name);
      if (!v.ok()) return std::move(v).status().with_context(str_cat("graph output '", output.name, "'"));
      out.push_back(*v);
    }
    return out;
  }

  // The graph's outputs as the module returns them, with their names: a sequence as its
  // elements "name[0]", "name[1]", ...; an optional as its value, or nothing when it has none.
  Status flat_outputs(const GraphProto& graph, std::vector<std::string>& names, std::vector<relax::Var>& out) const {
    const auto add_sequence = [&](const std::string& name, const SequenceValue& seq) {
      for (std::size_t i = 0; i < seq.items.size(); ++i) {
        names.push_back(str_cat(name, "[", i, "]"));
        out.push_back(seq.items[i]);
      }
    };
    for (const ValueInfoProto& output : graph.output) {
      Result<ImportedValue> v = lookup_value(output.name);
      if (!v.ok()) return std::move(v).status().with_context(str_cat("graph output '", output.name, "'"));
      if (const relax::Var* t = std::get_if<relax::Var>(&*v)) {
        names.push_back(output.name);
        out.push_back(*t);
      } else if (const SequenceValue* seq = std::get_if<SequenceValue>(&*v)) {
        add_sequence(output.name, *seq);
      } else {
        const OptionalValue& opt = std::get<OptionalValue>(*v);
        if (opt.tensor) names.push_back(output.name), out.push_back(*opt.tensor);
        if (opt.sequence) add_sequence(output.name, *opt.sequence);
      }
    }
    return {};
  }

  // Finishes the function with `outputs`. Each output gets a binding of its own (an identity
  // where it is an input, a constant or another output), named after the ONNX output.
  Result<relax::Module> finish(const GraphProto& graph, std::vector<relax::Var> outputs) {
    std::vector<std::string> names;
    for (const ValueInfoProto& output : graph.output) names.push_back(output.name);
    return finish(names, std::move(outputs));
  }
  Result<relax::Module> finish(std::span<const std::string> names, std::vector<relax::Var> outputs) {
    std::unordered_set<relax::ValueId> used;
    for (relax::Var& v : outputs) {
      const relax::Value& value = builder_.function().value(v.id);
      if (value.kind != relax::ValueKind::binding || used.count(v.id) != 0 || !value.name.empty())
        v = builder_.emit(relax::OpKind::identity, {v});
      if (!builder_.ok()) return builder_.status();
      used.insert(v.id);
    }
    KILN_ASSIGN_OR_RETURN(relax::Module module, builder_.finish(outputs));
    relax::Function& fn = module.main();
    for (std::size_t i = 0; i < outputs.size() && i < names.size(); ++i) fn.value(outputs[i].id).name = names[i];
    return module;
  }

  const GraphImporter* parent() const noexcept { return parent_; }

 private:
  // Bindings whose inputs are all known are evaluated (by relax's reference evaluator, as
  // constant folding would) when an op needs their value; small results only.
  static constexpr std::int64_t kMaxFoldedElements = std::int64_t{1} << 16;

  std::optional<Tensor> fold(relax::ValueId id) const {
    if (auto it = folded_.find(id); it != folded_.end()) return it->second;
    folded_[id] = std::nullopt;
    const relax::Function& fn = builder_.function();
    const relax::Binding* producer = nullptr;
    fn.for_each_binding([&](const relax::Binding& binding) {
      for (relax::ValueId out : binding.outputs)
        if (out == id) producer = &binding;
    });
    if (producer == nullptr || producer->outputs.size() != 1) return std::nullopt;
    const relax::TensorType& type = fn.type(id);
    if (!type.is_static()) return std::nullopt;
    const relax::SymDim count = type.element_count();
    if (!count.is_constant() || count.constant_value() > kMaxFoldedElements) return std::nullopt;
    std::vector<Tensor> inputs;
    for (relax::ValueId in : producer->inputs) {
      if (in == relax::kNoValue) {
        inputs.emplace_back();
        continue;
      }
      std::optional<Tensor> known = known_value(relax::Var{in});
      if (!known) return std::nullopt;
      inputs.push_back(std::move(*known));
    }
    Result<std::vector<Tensor>> out =
        relax::evaluate_reference(producer->op, producer->attrs, inputs, std::span<const relax::TensorType>(&type, 1));
    if (!out.ok() || out->size() != 1) return std::nullopt;
    folded_[id] = (*out)[0];
    return (*out)[0];
  }

  mutable std::unordered_map<relax::ValueId, std::optional<Tensor>> folded_;
  ModelState& model_;
  const GraphImporter* parent_;
  relax::Builder builder_;
  std::unordered_map<std::string, relax::Var> values_;
  std::unordered_map<std::string, ImportedValue> composites_;  // sequences and optionals
};

// "Conv 'conv1'" or "Conv".
inline std::string describe_node(const NodeProto& node) {
  std::string text = node.op_type.empty() ? std::string("(no op_type)") : node.op_type;
  if (!node.domain.empty() && !is_default_domain(node.domain)) text = str_cat(node.domain, ".", text);
  if (!node.name.empty()) text += str_cat(" '", node.name, "'");
  return text;
}

class NodeContext {
 public:
  NodeContext(GraphImporter& graph, const NodeProto& node, int index) : graph_(graph), node_(node), index_(index) {}

  const NodeProto& node() const noexcept { return node_; }
  int index() const noexcept { return index_; }
  std::int64_t opset() const noexcept { return graph_.opset(); }
  GraphImporter& graph() noexcept { return graph_; }
  relax::Builder& b() noexcept { return graph_.builder(); }
  // A copy: emitting bindings may move the builder's values, so no reference is kept.
  relax::TensorType type(relax::Var v) const { return graph_.type(v); }
  DType dtype(relax::Var v) const { return graph_.type(v).dtype; }
  int rank(relax::Var v) const { return graph_.type(v).rank; }

  // The builder's first error, if any: converters check it before reading inferred types.
  Status status() const { return graph_.builder().status(); }

  // ---- errors ------------------------------------------------------------------------------
  template <class... Pieces>
  static Status error(StatusCode code, const Pieces&... pieces) {
    return make_error(code, pieces...);
  }
  template <class... Pieces>
  static Status unsupported(const Pieces&... pieces) {
    return make_error(StatusCode::unsupported, pieces...);
  }
  template <class... Pieces>
  static Status invalid(const Pieces&... pieces) {
    return make_error(StatusCode::invalid_argument, pieces...);
  }

  // ---- inputs ------------------------------------------------------------------------------
  int input_count() const noexcept { return static_cast<int>(node_.input.size()); }
  bool has_input(int i) const noexcept {
    return i >= 0 && i < input_count() && !node_.input[static_cast<std::size_t>(i)].empty();
  }
  const std::string& input_name(int i) const { return node_.input[static_cast<std::size_t>(i)]; }

  Result<relax::Var> input(int i) const {
    if (!has_input(i)) return invalid("input ", i, " is required");
    return graph_.lookup(input_name(i));
  }
  // An optional input: an invalid Var when absent.
  Result<relax::Var> optional_input(int i) const {
    if (!has_input(i)) return relax::Var{};
    return graph_.lookup(input_name(i));
  }
  std::optional<Tensor> known_value(relax::Var v) const { return graph_.known_value(v); }

  // An input whose elements must be known at load time; `role` names it in errors.
  Result<Tensor> constant_input(int i, std::string_view role) const {
    KILN_ASSIGN_OR_RETURN(const relax::Var v, input(i));
    if (std::optional<Tensor> t = known_value(v)) return std::move(*t);
    return unsupported("the ", role, " (input ", i, " '", input_name(i),
                       "') must be known at load time (an initializer or a Constant's output); here it is computed "
                       "at run time");
  }
  Result<std::vector<std::int64_t>> constant_ints(int i, std::string_view role) const {
    KILN_ASSIGN_OR_RETURN(const Tensor t, constant_input(i, role));
    return ints_of(t, role);
  }
  Result<std::vector<double>> constant_reals(int i, std::string_view role) const {
    KILN_ASSIGN_OR_RETURN(const Tensor t, constant_input(i, role));
    return reals_of(t);
  }

  static Result<std::vector<std::int64_t>> ints_of(const Tensor& t, std::string_view role) {
    if (!is_integer(t.dtype()))
      return invalid("the ", role, " must be an integer tensor, got ", to_string(t.dtype()));
    std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = visit_dtype(t.dtype(), [&](auto zero) -> std::int64_t {
        using T = decltype(zero);
        return static_cast<std::int64_t>(static_cast<const T*>(t.data())[i]);
      });
    }
    return out;
  }
  static std::vector<double> reals_of(const Tensor& t) {
    std::vector<double> out(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = visit_dtype(t.dtype(), [&](auto zero) -> double {
        using T = decltype(zero);
        return static_cast<double>(static_cast<const T*>(t.data())[i]);
      });
    }
    return out;
  }

  // ---- attributes --------------------------------------------------------------------------
  const AttributeProto* attr(std::string_view name) const {
    for (const AttributeProto& a : node_.attribute)
      if (a.name == name) return &a;
    return nullptr;
  }
  bool has_attr(std::string_view name) const { return attr(name) != nullptr; }
  std::int64_t attr_int(std::string_view name, std::int64_t fallback) const {
    const AttributeProto* a = attr(name);
    return a ? a->i : fallback;
  }
  double attr_float(std::string_view name, double fallback) const {
    const AttributeProto* a = attr(name);
    return a ? static_cast<double>(a->f) : fallback;
  }
  std::string attr_string(std::string_view name, std::string_view fallback) const {
    const AttributeProto* a = attr(name);
    return a ? a->s : std::string(fallback);
  }
  std::vector<std::int64_t> attr_ints(std::string_view name) const {
    const AttributeProto* a = attr(name);
    return a ? a->ints : std::vector<std::int64_t>{};
  }
  std::vector<float> attr_floats(std::string_view name) const {
    const AttributeProto* a = attr(name);
    return a ? a->floats : std::vector<float>{};
  }

  // ---- outputs -----------------------------------------------------------------------------
  int output_count() const noexcept { return static_cast<int>(node_.output.size()); }
  bool wants_output(int i) const noexcept {
    return i >= 0 && i < output_count() && !node_.output[static_cast<std::size_t>(i)].empty();
  }
  // Output i of the node is `v`; an omitted output ignores it.
  Status set_output(int i, relax::Var v) {
    if (!wants_output(i)) return {};
    if (!v.valid()) {
      KILN_RETURN_IF_ERROR(status());
      return error(StatusCode::internal, "output ", i, " has no value");
    }
    graph_.define(node_.output[static_cast<std::size_t>(i)], v);
    return {};
  }
  // Inputs and outputs of any kind: tensors, sequences, optionals.
  Result<ImportedValue> value_input(int i) const {
    if (!has_input(i)) return invalid("input ", i, " is required");
    return graph_.lookup_value(input_name(i));
  }
  Result<SequenceValue> sequence_input(int i) const {
    KILN_ASSIGN_OR_RETURN(ImportedValue v, value_input(i));
    if (SequenceValue* seq = std::get_if<SequenceValue>(&v)) return std::move(*seq);
    return invalid("input ", i, " '", input_name(i), "' must be a sequence");
  }
  Status set_value_output(int i, ImportedValue v) {
    if (!wants_output(i)) return {};
    graph_.define_value(node_.output[static_cast<std::size_t>(i)], std::move(v));
    return {};
  }

  // Refuses outputs from `first` on, which the converter does not compute.
  Status no_outputs_from(int first, std::string_view what) const {
    for (int i = first; i < output_count(); ++i)
      if (wants_output(i)) return unsupported("output ", i, " (", what, ") is not supported");
    return {};
  }

  // ---- emitting ----------------------------------------------------------------------------
  relax::Var emit(relax::OpKind op, std::initializer_list<relax::Var> inputs, relax::Attrs attrs = relax::NoAttrs{}) {
    return b().emit(op, inputs, std::move(attrs));
  }
  relax::Var constant(Tensor t) { return b().constant(std::move(t)); }
  // A rank-0 constant of `dtype` holding `value`.
  relax::Var scalar(DType dtype, double value) {
    Result<Tensor> t = Tensor::empty(dtype, std::span<const std::int64_t>{});
    if (!t.ok()) return relax::Var{};
    store(*t, 0, value);
    return constant(std::move(*t));
  }
  // A constant of `dims` holding `values` (i64).
  relax::Var i64_constant(std::span<const std::int64_t> values, std::span<const std::int64_t> dims) {
    Result<Tensor> t = Tensor::from_values<std::int64_t>(dims, values);
    if (!t.ok()) return relax::Var{};
    return constant(std::move(*t));
  }
  relax::Var i64_vector(std::span<const std::int64_t> values) {
    const std::int64_t n = static_cast<std::int64_t>(values.size());
    return i64_constant(values, std::span<const std::int64_t>(&n, 1));
  }

  // Element `i` of a row-major tensor set from a double, for any dtype.
  static void store(const Tensor& t, std::int64_t i, double value) {
    visit_dtype(t.dtype(), [&](auto zero) {
      using T = decltype(zero);
      if constexpr (std::is_same_v<T, bool>) static_cast<T*>(t.data())[i] = value != 0.0;
      else if constexpr (std::is_integral_v<T>) static_cast<T*>(t.data())[i] = saturate<T>(value);
      else static_cast<T*>(t.data())[i] = static_cast<T>(value);
    });
  }
  // A double as an integer type: NaN is 0 and values beyond T's range clamp to it, since
  // casting those is undefined (an attribute such as alpha = NaN on an integer tensor).
  template <class T>
  static T saturate(double value) noexcept {
    if (std::isnan(value)) return T{0};
    if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(value);
  }

 private:
  GraphImporter& graph_;
  const NodeProto& node_;
  int index_;
};

inline Status GraphImporter::import_nodes(const GraphProto& graph) {
  const bool top = parent_ == nullptr;
  for (std::size_t n = 0; n < graph.node.size(); ++n) {
    const NodeProto& node = graph.node[n];
    const std::string where =
        str_cat(top ? "onnx: " : "", "node ", n, " (", describe_node(node), "), opset ", model_.opset);
    if (!model_.knows_domain(node.domain) && find_function(node) == nullptr)
      return make_error(StatusCode::unsupported, where, ": the operator domain '", node.domain, "' is not supported");
    const FunctionProto* function = find_function(node);
    const ConvertFn convert = function != nullptr ? nullptr : model_.lookup(node.domain, node.op_type);
    if (convert == nullptr && function == nullptr) {
      const std::string_view reason = is_default_domain(node.domain) && model_.refusal ? model_.refusal(node.op_type) : "";
      return make_error(StatusCode::unsupported, where, ": the op ", node.op_type, " is not supported",
                        reason.empty() ? "" : ": ", reason);
    }
    NodeContext ctx(*this, node, static_cast<int>(n));
    Status s = function != nullptr ? expand_function(node, *function) : convert(ctx);
    if (s.ok()) s = builder_.status();
    if (!s.ok()) return std::move(s).with_context(where);
    for (std::size_t o = 0; o < node.output.size(); ++o)
      if (!node.output[o].empty() && !defines(node.output[o]))
        return make_error(StatusCode::internal, where, ": output ", o, " '", node.output[o], "' was not produced");
  }
  return {};
}

} // namespace kiln::onnx::detail
