// kiln/frontend/onnx/test_case.hpp: runs one case of ONNX's backend test layout, a directory
// holding model.onnx and test_data_set_*/input_K.pb, output_K.pb, and compares what kiln
// computes with the expected outputs.
//
//   Result<onnx::CaseResult> r = onnx::run_case("/usr/share/libonnx-testdata/data/node/test_relu");
//   // r->outcome: passed, failed (r->detail says why) or skipped (a dtype kiln lacks)
//
// The model is imported, loaded into the VM, and run on every data set's inputs (bound to
// the graph's inputs in order); each output must have the expected dtype and shape and
// values within rtol * |expected| + atol (floating point; NaN matches NaN) or equal (integers,
// bools). A model that needs an input's value at load time (a shape or axes fed as a graph
// input, as many node tests do) is imported a second time with the case's input values
// known (ImportOptions::input_values); the result says so.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../../runtime/tensor.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../../vm/cpu_kernels.hpp"
#include "../../vm/execution_context.hpp"
#include "import.hpp"
#include "file_bytes.hpp"
#include "load_file.hpp"
#include "proto.hpp"
#include "tensor_data.hpp"

namespace kiln::onnx {

struct CaseOptions {
  double rtol = 1e-3;
  double atol = 1e-7;
  // Retry a failed import with the inputs' values known at load time.
  bool allow_input_values = true;
  vm::LoadOptions load = {};
  ThreadPool* pool = nullptr;  // not owned; null runs on the caller's thread
  // The backend whose kernels run the ops (kiln::vulkan::vm_kernel, ...); null: the CPU's.
  vm::KernelLookup kernels = nullptr;
};

struct CaseResult {
  enum Outcome { passed, failed, skipped };
  std::string name;
  Outcome outcome = failed;
  std::string detail;              // why it failed or was skipped
  bool used_input_values = false;  // imported with the inputs' values known at load time
};

constexpr std::string_view to_string(CaseResult::Outcome outcome) noexcept {
  switch (outcome) {
    case CaseResult::passed: return "passed";
    case CaseResult::failed: return "failed";
    case CaseResult::skipped: return "skipped";
  }
  return "?";
}

namespace detail {

// One graph input's or output's value in a data set, as the module takes or returns it: a
// tensor as itself, a sequence as its elements, an optional as its value or nothing.
struct FlatValue {
  std::vector<TensorProto> tensors;
  bool sequence = false;  // a sequence, or an optional holding one
  bool absent = false;    // an optional holding nothing
};

struct DataSet {
  std::string name;
  std::vector<FlatValue> input_values;  // by graph input (initializers left out)
  std::vector<TensorProto> inputs;      // flattened, in the module's parameter order
  std::vector<TensorProto> outputs;     // flattened, in the module's output order
};

inline Status flatten_sequence(const SequenceProto& seq, FlatValue& out) {
  if (!seq.sequence_values.empty() || !seq.optional_values.empty())
    return make_error(StatusCode::unsupported, "a sequence of sequences or optionals; kiln's sequences hold tensors");
  out.sequence = true;
  out.tensors.insert(out.tensors.end(), seq.tensor_values.begin(), seq.tensor_values.end());
  return {};
}

// The value in `file`, decoded as the graph declares it (`type`: null for a tensor).
inline Result<FlatValue> read_value_file(const std::filesystem::path& file, const TypeProto* type) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::byte> bytes, read_whole_file(file, kMaxProtobufFileBytes));
  const std::string source = file.string();
  FlatValue value;
  if (type == nullptr || type->tensor_type() != nullptr) {
    KILN_ASSIGN_OR_RETURN(TensorProto t, decode_tensor_proto(bytes, source));
    value.tensors.push_back(std::move(t));
  } else if (type->sequence_type() != nullptr) {
    KILN_ASSIGN_OR_RETURN(const SequenceProto seq, decode<SequenceProto>(bytes, source));
    KILN_RETURN_IF_ERROR(flatten_sequence(seq, value));
  } else if (type->optional_type() != nullptr) {
    KILN_ASSIGN_OR_RETURN(const OptionalProto opt, decode<OptionalProto>(bytes, source));
    if (opt.tensor_value) value.tensors.push_back(*opt.tensor_value);
    else if (opt.sequence_value) KILN_RETURN_IF_ERROR(flatten_sequence(*opt.sequence_value, value));
    else if (opt.optional_value) return make_error(StatusCode::unsupported, source, ": an optional of an optional");
    else value.absent = true;
  } else {
    return make_error(StatusCode::unsupported, source, ": a map or sparse tensor; kiln reads tensors, sequences and optionals");
  }
  return value;
}

inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

// input_0.pb, input_1.pb, ... (or output_K.pb) in order of K, each decoded as values[K]
// declares it.
inline Result<std::vector<FlatValue>> numbered_values(const std::filesystem::path& dir, std::string_view stem,
                                                      std::span<const ValueInfoProto* const> values) {
  std::vector<FlatValue> out;
  for (int k = 0;; ++k) {
    const std::filesystem::path file = dir / str_cat(stem, "_", k, ".pb");
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) break;
    const auto index = static_cast<std::size_t>(k);
    const TypeProto* type = index < values.size() && values[index]->type ? &*values[index]->type : nullptr;
    KILN_ASSIGN_OR_RETURN(FlatValue v, read_value_file(file, type));
    out.push_back(std::move(v));
  }
  return out;
}

inline std::vector<TensorProto> flatten(const std::vector<FlatValue>& values) {
  std::vector<TensorProto> out;
  for (const FlatValue& v : values) out.insert(out.end(), v.tensors.begin(), v.tensors.end());
  return out;
}

// input_K.pb (or output_K.pb) files that all hold tensors, in order of K.
inline Result<std::vector<TensorProto>> numbered_tensors(const std::filesystem::path& dir, std::string_view stem) {
  KILN_ASSIGN_OR_RETURN(const std::vector<FlatValue> values, numbered_values(dir, stem, {}));
  return flatten(values);
}

// Element i (row-major) of a slot, as a double.
inline double slot_real(const vm::Slot& s, std::int64_t i) {
  std::int64_t offset = 0;
  for (int a = s.rank; a-- > 0;) {
    offset += (i % s.dims[a]) * s.strides[a];
    i /= s.dims[a];
  }
  return visit_dtype(s.dtype, [&](auto zero) {
    using T = decltype(zero);
    return static_cast<double>(static_cast<const T*>(s.data)[offset]);
  });
}

// Why `got` differs from `want`, or nullopt when it matches.
inline std::optional<std::string> mismatch(const vm::Slot& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype != want.dtype())
    return str_cat("dtype ", to_string(got.dtype), ", expected ", to_string(want.dtype()));
  bool same_shape = got.rank == want.rank();
  for (int a = 0; same_shape && a < got.rank; ++a) same_shape = got.dims[a] == want.dim(a);
  if (!same_shape) {
    return str_cat("shape ", Tensor::shape_string(got.shape()), ", expected ", Tensor::shape_string(want.dims()));
  }
  const bool floating = is_floating_point(want.dtype());
  const std::vector<double> expected = detail::NodeContext::reals_of(want);
  std::int64_t bad = 0;
  std::string first;
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    const double g = slot_real(got, i);
    const double w = expected[static_cast<std::size_t>(i)];
    bool ok;
    if (!floating) ok = g == w;
    else if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok && bad++ == 0) first = str_cat("element ", i, " is ", g, ", expected ", w);
  }
  if (bad == 0) return std::nullopt;
  return str_cat(bad, " of ", want.numel(), " elements differ; ", first);
}

// ONNX's older test data holds BFLOAT16 tensors as UINT16 (numpy has no bfloat16): such a
// tensor, where the model declares bf16, is its elements' bit patterns, read as bf16.
inline Result<Tensor> as_declared_dtype(Tensor t, DType declared) {
  if (t.dtype() != DType::u16 || declared != DType::bf16) return t;
  KILN_ASSIGN_OR_RETURN(Tensor bits, Tensor::empty(DType::bf16, t.dims()));
  if (t.numel() > 0) std::memcpy(bits.data(), t.data(), static_cast<std::size_t>(t.numel()) * sizeof(std::uint16_t));
  return bits;
}

// The first dtype kiln lacks among the tensors, as a reason to skip.
inline std::optional<std::string> missing_dtype(const std::vector<DataSet>& sets) {
  for (const DataSet& set : sets)
    for (const auto* list : {&set.inputs, &set.outputs})
      for (const TensorProto& t : *list)
        if (!to_dtype(t.data_type)) return str_cat(describe(t.data_type), " tensors: kiln has no such dtype");
  return std::nullopt;
}

inline std::optional<std::string> missing_dtype(const GraphProto& graph) {
  for (const auto* list : {&graph.input, &graph.output}) {
    for (const ValueInfoProto& v : *list) {
      const TypeProto::Tensor* t = v.type ? v.type->tensor_type() : nullptr;
      if (t != nullptr && !to_dtype(t->elem_type))
        return str_cat(describe(t->elem_type), " tensors: kiln has no such dtype");
    }
  }
  return std::nullopt;
}

} // namespace detail

// Runs the case in `dir`. An error is returned only when the case itself cannot be read
// (no model.onnx); everything kiln cannot do is a failed (or skipped) outcome.
inline Result<CaseResult> run_case(const std::filesystem::path& dir, const CaseOptions& options = {}) {
  CaseResult result;
  result.name = dir.filename().string();
  const auto fail = [&](std::string detail) {
    result.outcome = CaseResult::failed;
    result.detail = std::move(detail);
    return result;
  };
  const std::filesystem::path model_file = dir / "model.onnx";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_file, ec))
    return make_error(StatusCode::not_found, "onnx test case ", dir.string(), ": no model.onnx");

  Result<LoadedModel> loaded = load_model(model_file);
  if (!loaded.ok()) return fail(loaded.status().to_string());
  if (!loaded->model.graph) return fail("the model has no graph");
  const GraphProto& graph = *loaded->model.graph;
  if (std::optional<std::string> reason = detail::missing_dtype(graph)) {
    result.outcome = CaseResult::skipped;
    result.detail = *reason;
    return result;
  }

  // The graph's inputs less the initializers (which IR < 4 lists as inputs too), and its
  // outputs: what the data files hold, in order.
  std::vector<const ValueInfoProto*> graph_inputs, graph_outputs;
  for (const ValueInfoProto& input : graph.input) {
    bool initializer = false;
    for (const TensorProto& init : graph.initializer) initializer = initializer || init.name == input.name;
    if (!initializer) graph_inputs.push_back(&input);
  }
  for (const ValueInfoProto& output : graph.output) graph_outputs.push_back(&output);

  std::vector<detail::DataSet> sets;
  for (const std::filesystem::path& entry : detail::sorted_entries(dir)) {
    const std::string name = entry.filename().string();
    if (name.rfind("test_data_set_", 0) != 0) continue;
    detail::DataSet set;
    set.name = name;
    Result<std::vector<detail::FlatValue>> inputs = detail::numbered_values(entry, "input", graph_inputs);
    if (!inputs.ok()) return fail(inputs.status().to_string());
    Result<std::vector<detail::FlatValue>> outputs = detail::numbered_values(entry, "output", graph_outputs);
    if (!outputs.ok()) return fail(outputs.status().to_string());
    set.inputs = detail::flatten(*inputs);
    set.outputs = detail::flatten(*outputs);
    set.input_values = std::move(*inputs);
    sets.push_back(std::move(set));
  }
  if (std::optional<std::string> reason = detail::missing_dtype(sets)) {
    result.outcome = CaseResult::skipped;
    result.detail = *reason;
    return result;
  }
  if (sets.empty()) return fail("no test_data_set_* directory");

  // The inputs of every data set as tensors.
  std::vector<std::vector<Tensor>> inputs(sets.size());
  for (std::size_t s = 0; s < sets.size(); ++s) {
    for (const TensorProto& proto : sets[s].inputs) {
      Result<Tensor> t = to_tensor(proto, dir / sets[s].name);
      if (!t.ok()) return fail(t.status().to_string());
      inputs[s].push_back(std::move(*t));
    }
  }

  // Sequences and optionals are fixed at load time (their lengths, whether they hold a value):
  // as the first data set has them, which the other data sets must share.
  ImportOptions layout;
  const std::vector<detail::FlatValue>& first = sets[0].input_values;
  for (std::size_t k = 0; k < first.size() && k < graph_inputs.size(); ++k) {
    const std::string& name = graph_inputs[k]->name;
    if (first[k].absent) layout.absent_optionals.push_back(name);
    if (!first[k].sequence) continue;
    SequenceInput seq{name, {}};
    for (const TensorProto& t : first[k].tensors) seq.element_ranks.push_back(static_cast<int>(t.dims.size()));
    layout.sequence_inputs.push_back(std::move(seq));
  }
  for (const detail::DataSet& set : sets)
    for (std::size_t k = 0; k < set.input_values.size() && k < first.size(); ++k)
      if (set.input_values[k].absent != first[k].absent ||
          (first[k].sequence && set.input_values[k].tensors.size() != first[k].tensors.size()))
        return fail(str_cat(set.name, ": input ", k, " differs in its sequence length or optional value from ",
                            sets[0].name, "; kiln fixes those at load time"));

  const std::string model_dir = loaded->directory.string();
  Result<relax::Module> module = import_model(loaded->model, model_dir, layout);
  if (!module.ok() && options.allow_input_values) {
    // Again, with the tensor inputs' values (of the first data set) known at load time.
    ImportOptions known = layout;
    std::size_t next = 0;
    for (std::size_t k = 0; k < first.size() && k < graph_inputs.size(); ++k) {
      if (!first[k].sequence && first[k].tensors.size() == 1 && next < inputs[0].size())
        known.input_values.emplace_back(graph_inputs[k]->name, inputs[0][next]);
      next += first[k].tensors.size();
    }
    Result<relax::Module> retried = import_model(loaded->model, model_dir, known);
    // Either way the second attempt got further: its error is the one to report.
    module = std::move(retried);
    result.used_input_values = module.ok();
  }
  if (!module.ok()) return fail(module.status().to_string());
  const std::size_t params = module->main().params.size();
  const std::size_t outputs = module->main().outputs.size();

  Result<std::shared_ptr<const vm::Executable>> exe =
      vm::Executable::load(std::move(*module), options.kernels != nullptr ? options.kernels : vm::cpu_kernel, options.load);
  if (!exe.ok()) return fail(exe.status().to_string());
  vm::ExecutionContext ctx(*exe, options.pool);
  const relax::Function& entry = (*exe)->module().main();
  for (std::size_t s = 0; s < sets.size(); ++s) {
    if (inputs[s].size() != params)
      return fail(str_cat(sets[s].name, ": ", inputs[s].size(), " inputs for a module of ", params, " parameters"));
    for (std::size_t i = 0; i < params; ++i) {
      Result<Tensor> t = detail::as_declared_dtype(std::move(inputs[s][i]), entry.type(entry.params[i]).dtype);
      if (!t.ok()) return fail(t.status().to_string());
      inputs[s][i] = std::move(*t);
    }
    if (sets[s].outputs.size() > outputs)
      return fail(str_cat(sets[s].name, ": ", sets[s].outputs.size(), " expected outputs, the module has ", outputs));
    Status run = ctx.run(inputs[s]);
    if (!run.ok()) return fail(str_cat(sets[s].name, ": ", run.to_string()));
    for (std::size_t o = 0; o < sets[s].outputs.size(); ++o) {
      Result<Tensor> want = to_tensor(sets[s].outputs[o], dir / sets[s].name);
      if (want.ok()) want = detail::as_declared_dtype(std::move(*want), ctx.output(o).dtype);
      if (!want.ok()) return fail(want.status().to_string());
      if (std::optional<std::string> why = detail::mismatch(ctx.output(o), *want, options.rtol, options.atol))
        return fail(str_cat(sets[s].name, ": output ", o, ": ", *why));
    }
  }
  result.outcome = CaseResult::passed;
  result.detail.clear();
  return result;
}

} // namespace kiln::onnx
