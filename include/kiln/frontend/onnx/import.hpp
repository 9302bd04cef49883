// kiln/frontend/onnx/import.hpp: ONNX models as relax modules, the dynamic modules the VM loads.
//
//   Result<relax::Module> m = onnx::load("model.onnx");
//   auto exe = vm::load(std::move(*m)).value();
//
// The graph's inputs (less those an initializer defines) become the module's parameters, by
// name and in order; initializers and Constant nodes become constants; each node becomes one
// or more relax bindings (import_ops_*.hpp); the graph's outputs are the function's results,
// named after them. dim_params become relax symbols (shared by every input that names them),
// unnamed unknown extents fresh symbols.
//
// Ops of the default domain ("" or "ai.onnx") are imported at the model's opset, from 1 to
// kMaxOpset, with the attribute and input changes of the opsets in between; the optimizers of
// ai.onnx.preview.training (Adagrad, Adam, Momentum) too. Anything else (an
// op kiln does not know, another domain, an attribute value it cannot honour, an input that
// must be known at load time but is computed) is an error that names the node, its op and
// the opset: "onnx: node 3 (Conv 'conv1'), opset 13: ...".
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../../relax/module.hpp"
#include "import_graph.hpp"
#include "import_ops_control.hpp"
#include "import_ops_data_dependent.hpp"
#include "import_ops_einsum.hpp"
#include "import_ops_elementwise.hpp"
#include "import_ops_index.hpp"
#include "import_ops_linalg.hpp"
#include "import_ops_loss.hpp"
#include "import_ops_nn.hpp"
#include "import_ops_quantize.hpp"
#include "import_ops_reduce.hpp"
#include "import_ops_resize.hpp"
#include "import_ops_rnn.hpp"
#include "import_ops_sample.hpp"
#include "import_ops_shape.hpp"
#include "import_ops_sequence.hpp"
#include "import_ops_signal.hpp"
#include "import_ops_text.hpp"
#include "import_ops_training.hpp"
#include "import_options.hpp"
#include "load_file.hpp"
#include "proto.hpp"

namespace kiln::onnx {

// The newest default-domain opset the importer knows the changes of.
inline constexpr std::int64_t kMaxOpset = 21;

namespace detail {

template <std::size_t N>
ConvertFn find_in(const ConverterEntry (&table)[N], std::string_view op_type) {
  for (const ConverterEntry& entry : table)
    if (entry.op_type == op_type) return entry.convert;
  return nullptr;
}

inline bool knows_domain(std::string_view domain) {
  return is_default_domain(domain) || domain == kTrainingDomain;
}

inline ConvertFn find_converter(std::string_view domain, std::string_view op_type) {
  if (domain == kTrainingDomain) return find_in(kTrainingConverters, op_type);
  if (!is_default_domain(domain)) return nullptr;
  for (ConvertFn fn : {find_in(kElementwiseConverters, op_type), find_in(kNnConverters, op_type),
                       find_in(kReduceConverters, op_type), find_in(kShapeConverters, op_type),
                       find_in(kIndexConverters, op_type), find_in(kResizeConverters, op_type),
                       find_in(kLossConverters, op_type), find_in(kQuantizeConverters, op_type),
                       find_in(kSignalConverters, op_type), find_in(kRecurrentConverters, op_type),
                       find_in(kEinsumConverters, op_type), find_in(kSampleConverters, op_type),
                       find_in(kLinalgConverters, op_type), find_in(kTextConverters, op_type),
                       find_in(kDataDependentConverters, op_type), find_in(kSequenceConverters, op_type),
                       find_in(kControlConverters, op_type)})
    if (fn != nullptr) return fn;
  return nullptr;
}

// Ops of the default domain that are known and refused, with the reason.
inline std::string_view refusal_reason(std::string_view op_type) {
  static constexpr std::string_view kRandom = "it draws random numbers";
  struct Refusal {
    std::string_view op_type;
    std::string_view reason;
  };
  static constexpr Refusal kRefusals[] = {
      {"StringNormalizer", "kiln has no string dtype"},
      {"Bernoulli", kRandom},              {"RandomUniform", kRandom},
      {"RandomUniformLike", kRandom},      {"RandomNormal", kRandom},
      {"RandomNormalLike", kRandom},       {"Multinomial", kRandom},
  };
  for (const Refusal& r : kRefusals)
    if (r.op_type == op_type) return r.reason;
  return {};
}

inline Result<std::int64_t> default_opset(const ModelProto& model) {
  std::int64_t opset = -1;
  for (const OperatorSetIdProto& id : model.opset_import)
    if (is_default_domain(id.domain)) opset = id.version;
  if (opset < 0) {
    // Allowed only when no node uses the default domain.
    if (model.graph)
      for (const NodeProto& node : model.graph->node)
        if (is_default_domain(node.domain))
          return make_error(StatusCode::invalid_argument,
                            "onnx: the model imports no version of the default operator set, but node '",
                            node.name.empty() ? node.op_type : node.name, "' uses it");
    return std::int64_t{0};
  }
  if (opset < 1 || opset > kMaxOpset)
    return make_error(StatusCode::unsupported, "onnx: default-domain opset ", opset,
                      " is not supported (the importer knows opsets 1 to ", kMaxOpset, ")");
  return opset;
}

} // namespace detail

// Imports `model`. `model_dir` is where its external data lives (relative locations).
inline Result<relax::Module> import_model(const ModelProto& model, std::string_view model_dir = {},
                                          const ImportOptions& options = {}) {
  if (!model.graph) return make_error(StatusCode::invalid_argument, "onnx: the model has no graph");
  const GraphProto& graph = *model.graph;
  detail::ModelState state;
  KILN_ASSIGN_OR_RETURN(state.opset, detail::default_opset(model));
  state.model_dir = std::filesystem::path(model_dir);
  state.options = &options;
  state.lookup = detail::find_converter;
  state.knows_domain = detail::knows_domain;
  state.refusal = detail::refusal_reason;
  state.functions = model.functions;
  // Symbols are named after dim_params; fresh ones must not collide with them.
  for (const ValueInfoProto& input : graph.input) {
    const TypeProto::Tensor* t = input.type ? input.type->tensor_type() : nullptr;
    if (t && t->shape)
      for (const TensorShapeProto::Dimension& d : t->shape->dim)
        if (d.dim_param) state.taken_symbols.insert(*d.dim_param);
  }
  detail::GraphImporter importer(state, nullptr, "main");
  KILN_RETURN_IF_ERROR(importer.import_initializers(graph).with_context("onnx: initializers"));
  KILN_RETURN_IF_ERROR(importer.import_inputs(graph).with_context("onnx"));
  if (graph.output.empty()) return make_error(StatusCode::invalid_argument, "onnx: the graph has no outputs");
  KILN_RETURN_IF_ERROR(importer.import_nodes(graph));
  std::vector<std::string> names;
  std::vector<relax::Var> outputs;
  KILN_RETURN_IF_ERROR(importer.flat_outputs(graph, names, outputs).with_context("onnx"));
  if (outputs.empty()) return make_error(StatusCode::unsupported, "onnx: the graph's outputs hold no tensors");
  Result<relax::Module> module = importer.finish(names, std::move(outputs));
  if (!module.ok()) return std::move(module).status().with_context("onnx: graph outputs");
  // The inputs whose values were promised at load time are checked at every run.
  relax::Function& main = module->main();
  for (const auto& [name, value] : options.input_values)
    if (const std::optional<relax::ValueId> p = main.find_param(name); p && value.is_contiguous() && detail::GraphImporter::fits(value, main.type(*p)))
      main.fixed_param_values.emplace_back(main.value(*p).index, value);
  return module;
}

// Reads, decodes and imports the .onnx file at `path`.
inline Result<relax::Module> load(std::string_view path, const ImportOptions& options = {}) {
  KILN_ASSIGN_OR_RETURN(const LoadedModel loaded, load_model(std::filesystem::path(path)));
  const std::string directory = loaded.directory.string();
  Result<relax::Module> module = import_model(loaded.model, directory, options);
  if (!module.ok()) return std::move(module).status().with_context(path);
  return module;
}

} // namespace kiln::onnx
