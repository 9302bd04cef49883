// The ONNX importer: every case of Debian's libonnx-testdata node tests imported, loaded
// into the VM, run and compared with its expected outputs (onnx/test_case.hpp); a checked-in
// list of expected failures keeps the result honest both ways (a listed case that passes
// fails the test, as does an unlisted one that fails). And hand-built models: a small
// graph with a symbolic dim end to end, and the errors for an unknown op, an unknown
// domain, an input that must be known at load time, and an opset out of range.
#include <doctest/doctest.h>

#include "onnx_testdata.hpp"

#include <kiln/frontend/onnx/import.hpp>
#include <kiln/frontend/onnx/test_case.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace kiln;
namespace fs = std::filesystem;

namespace {

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

fs::path node_tests_dir() { return test::onnx_node_tests_dir(); }
bool node_tests_available() { return test::onnx_node_tests_available("the importer's conformance cases"); }

// tests/data/onnx_node_expected_failures.txt, found beside this file's directory (or at
// KILN_ONNX_EXPECTED_FAILURES).
fs::path expected_failures_file() {
  if (const char* file = std::getenv("KILN_ONNX_EXPECTED_FAILURES"); file != nullptr && *file != '\0') return file;
  return fs::path(__FILE__).parent_path().parent_path() / "data" / "onnx_node_expected_failures.txt";
}

// "name  # reason" lines; blank lines and lines starting with '#' are comments.
std::map<std::string, std::string> read_expected_failures(const fs::path& file) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::size_t hash = line.find('#', start);
    std::string name = line.substr(start, hash == std::string::npos ? std::string::npos : hash - start);
    name.erase(name.find_last_not_of(" \t\r") + 1);
    const std::string reason = hash == std::string::npos ? "" : line.substr(hash + 1);
    out[name] = reason;
  }
  return out;
}

// The first line of an error, cut to fit a list entry.
std::string short_reason(const std::string& detail) {
  std::string line = detail.substr(0, detail.find('\n'));
  if (line.size() > 160) line = line.substr(0, 157) + "...";
  return line;
}

} // namespace

TEST_CASE("ONNX node tests: every case imports, runs and matches, or is a listed failure") {
  if (!node_tests_available()) return;
  const fs::path list_file = expected_failures_file();
  std::error_code ec;
  REQUIRE_MESSAGE(fs::is_regular_file(list_file, ec), "expected-failures list not found at ", list_file.string());
  const std::map<std::string, std::string> expected = read_expected_failures(list_file);

  std::vector<fs::path> cases;
  for (fs::directory_iterator it(node_tests_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory()) cases.push_back(it->path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(!cases.empty());

  const auto started = std::chrono::steady_clock::now();
  int passed = 0, failed = 0, skipped = 0, with_input_values = 0;
  std::vector<onnx::CaseResult> unexpected_failures, unexpected_passes, all_failures;
  std::map<std::string, int> skip_reasons;
  std::vector<std::string> seen;
  for (const fs::path& dir : cases) {
    Result<onnx::CaseResult> r = onnx::run_case(dir);
    onnx::CaseResult result;
    if (r.ok()) {
      result = std::move(*r);
    } else {
      result.name = dir.filename().string();
      result.outcome = onnx::CaseResult::failed;
      result.detail = r.status().to_string();
    }
    seen.push_back(result.name);
    const bool listed = expected.count(result.name) != 0;
    switch (result.outcome) {
      case onnx::CaseResult::passed:
        ++passed;
        if (result.used_input_values) ++with_input_values;
        if (listed) unexpected_passes.push_back(result);
        break;
      case onnx::CaseResult::failed:
        ++failed;
        all_failures.push_back(result);
        if (!listed) unexpected_failures.push_back(result);
        break;
      case onnx::CaseResult::skipped:
        ++skipped;
        ++skip_reasons[result.detail];
        if (listed) unexpected_passes.push_back(result);
        break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("ONNX node tests: ", passed, " passed, ", failed, " failed, ", skipped, " skipped (of ", cases.size(),
          "; ", with_input_values, " of the passes took graph inputs' values at load time) in ", seconds, " s");
  for (const auto& [reason, count] : skip_reasons) MESSAGE("skipped ", count, ": ", reason);

  // KILN_ONNX_WRITE_EXPECTED_FAILURES=path writes the current failures as a new list.
  if (const char* out = std::getenv("KILN_ONNX_WRITE_EXPECTED_FAILURES"); out != nullptr && *out != '\0') {
    std::ofstream file(out);
    for (const onnx::CaseResult& f : all_failures) file << f.name << "  # " << short_reason(f.detail) << "\n";
  }
  for (const onnx::CaseResult& f : unexpected_failures)
    FAIL_CHECK(str_cat(f.name, " failed and is not in ", list_file.filename().string(), ": ", f.detail));
  for (const onnx::CaseResult& p : unexpected_passes)
    FAIL_CHECK(str_cat(p.name, " is listed as an expected failure but ", onnx::to_string(p.outcome),
                       "; remove it from ", list_file.filename().string()));
  for (const auto& [name, reason] : expected)
    if (std::find(seen.begin(), seen.end(), name) == seen.end())
      FAIL_CHECK(str_cat(name, " is listed as an expected failure but is no case of ", node_tests_dir().string()));
}

namespace {

onnx::ValueInfoProto tensor_info(std::string name, onnx::DataType type, std::vector<std::string> dim_params,
                                 std::vector<std::int64_t> dims) {
  onnx::ValueInfoProto info;
  info.name = std::move(name);
  onnx::TypeProto::Tensor tensor;
  tensor.elem_type = type;
  tensor.shape.emplace();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    onnx::TensorShapeProto::Dimension d;
    if (i < dim_params.size() && !dim_params[i].empty()) d.dim_param = dim_params[i];
    else d.dim_value = dims[i];
    tensor.shape->dim.push_back(d);
  }
  info.type.emplace();
  info.type->value = tensor;
  return info;
}

onnx::NodeProto node(std::string op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                     std::string name = {}) {
  onnx::NodeProto n;
  n.op_type = std::move(op);
  n.input = std::move(inputs);
  n.output = std::move(outputs);
  n.name = std::move(name);
  return n;
}

onnx::ModelProto model_with(std::int64_t opset, std::vector<onnx::NodeProto> nodes,
                            std::vector<onnx::ValueInfoProto> inputs, std::vector<onnx::ValueInfoProto> outputs) {
  onnx::ModelProto model;
  model.ir_version = 8;
  model.opset_import.push_back(onnx::OperatorSetIdProto{"", opset});
  model.graph.emplace();
  model.graph->node = std::move(nodes);
  model.graph->input = std::move(inputs);
  model.graph->output = std::move(outputs);
  return model;
}

} // namespace

TEST_CASE("ONNX import: a hand-built graph with a symbolic batch runs at two batch sizes") {
  // y = relu(x + b), b an initializer; x is f32[batch, 3].
  onnx::ModelProto model = model_with(13, {node("Add", {"x", "b"}, {"sum"}), node("Relu", {"sum"}, {"y"})},
                                      {tensor_info("x", onnx::DataType::float32, {"batch"}, {0, 3})},
                                      {tensor_info("y", onnx::DataType::float32, {"batch"}, {0, 3})});
  onnx::TensorProto bias;
  bias.name = "b";
  bias.data_type = onnx::DataType::float32;
  bias.dims = {3};
  bias.float_data = {1.0f, -2.0f, 0.5f};
  model.graph->initializer.push_back(bias);
  Result<relax::Module> module = onnx::import_model(model);
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  REQUIRE(module->main().params.size() == 1);  // the initializer is a constant, not an input
  CHECK(module->main().value(module->main().params[0]).name == "x");
  CHECK(module->main().value(module->main().outputs[0]).name == "y");
  CHECK(relax::to_string(module->main().type(module->main().outputs[0])) == "f32[batch, 3]");
  // A caller may fix the symbol instead.
  onnx::ImportOptions fixed;
  fixed.dim_values.emplace_back("batch", 4);
  Result<relax::Module> fixed_module = onnx::import_model(model, {}, fixed);
  REQUIRE_MESSAGE(fixed_module.ok(), fixed_module.status().to_string());
  CHECK(relax::to_string(fixed_module->main().type(fixed_module->main().outputs[0])) == "f32[4, 3]");
  auto exe = vm::load(std::move(*module));
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  vm::ExecutionContext ctx(*exe);
  for (std::int64_t batch : {2, 5}) {
    std::vector<float> values(static_cast<std::size_t>(batch * 3));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) - 4.0f;
    const Tensor x = Tensor::from_values<float>(std::vector<std::int64_t>{batch, 3}, values).value();
    Status s = ctx.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    const vm::Slot& y = ctx.output();
    REQUIRE(y.rank == 2);
    CHECK(y.dims[0] == batch);
    const float b[3] = {1.0f, -2.0f, 0.5f};
    for (std::size_t i = 0; i < values.size(); ++i)
      CHECK(y.data_as<float>()[i] == std::max(values[i] + b[i % 3], 0.0f));
  }
}

TEST_CASE("ONNX import: errors name the node, its op and the opset") {
  const auto x = tensor_info("x", onnx::DataType::float32, {}, {2, 3});
  const auto y = tensor_info("y", onnx::DataType::float32, {}, {2, 3});

  SUBCASE("an unknown op") {
    Result<relax::Module> m =
        onnx::import_model(model_with(13, {node("Relu", {"x"}, {"t"}), node("FrobnicateTensor", {"t"}, {"y"}, "frob")},
                                      {x}, {y}));
    REQUIRE(!m.ok());
    CHECK(m.status().code() == StatusCode::unsupported);
    CHECK_MESSAGE(contains(m.status().message(),
                           "onnx: node 1 (FrobnicateTensor 'frob'), opset 13: the op FrobnicateTensor is not supported"),
                  m.status().message());
  }
  SUBCASE("an unknown domain") {
    onnx::NodeProto custom = node("Relu", {"x"}, {"y"});
    custom.domain = "com.example";
    Result<relax::Module> m = onnx::import_model(model_with(13, {custom}, {x}, {y}));
    REQUIRE(!m.ok());
    CHECK_MESSAGE(contains(m.status().message(), "node 0 (com.example.Relu), opset 13: the operator domain 'com.example'"),
                  m.status().message());
  }
  SUBCASE("an input that must be known at load time is computed") {
    // Unsqueeze's axes (an input from opset 13) come from the graph input `axes`.
    const auto axes = tensor_info("axes", onnx::DataType::int64, {}, {1});
    const auto y3 = tensor_info("y", onnx::DataType::float32, {}, {1, 2, 3});
    Result<relax::Module> m =
        onnx::import_model(model_with(13, {node("Unsqueeze", {"x", "axes"}, {"y"}, "unsq")}, {x, axes}, {y3}));
    REQUIRE(!m.ok());
    CHECK(m.status().code() == StatusCode::unsupported);
    CHECK_MESSAGE(contains(m.status().message(), "node 0 (Unsqueeze 'unsq'), opset 13: the axes (input 1 'axes') must be "
                                                 "known at load time"),
                  m.status().message());
    // Known through ImportOptions::input_values, the same model imports.
    onnx::ImportOptions options;
    options.input_values.emplace_back("axes", Tensor::from_values<std::int64_t>({1}, {0}).value());
    Result<relax::Module> known =
        onnx::import_model(model_with(13, {node("Unsqueeze", {"x", "axes"}, {"y"}, "unsq")}, {x, axes}, {y3}), {},
                           options);
    REQUIRE_MESSAGE(known.ok(), known.status().to_string());
    CHECK(relax::to_string(known->main().type(known->main().outputs[0])) == "f32[1, 2, 3]");
  }
  SUBCASE("an opset out of range") {
    Result<relax::Module> m = onnx::import_model(model_with(99, {node("Relu", {"x"}, {"y"})}, {x}, {y}));
    REQUIRE(!m.ok());
    CHECK_MESSAGE(contains(m.status().message(), "default-domain opset 99 is not supported"), m.status().message());
  }
  SUBCASE("an attribute value the op cannot honour") {
    onnx::NodeProto pad = node("Pad", {"x"}, {"y"}, "p");
    onnx::AttributeProto mode;
    mode.name = "mode";
    mode.type = onnx::AttributeType::string;
    mode.s = "mirror";
    pad.attribute.push_back(mode);
    onnx::AttributeProto pads;
    pads.name = "pads";
    pads.type = onnx::AttributeType::ints;
    pads.ints = {0, 0, 0, 0};
    pad.attribute.push_back(pads);
    Result<relax::Module> m = onnx::import_model(model_with(7, {pad}, {x}, {y}));
    REQUIRE(!m.ok());
    CHECK_MESSAGE(contains(m.status().message(), "node 0 (Pad 'p'), opset 7: mode 'mirror' is not one of"),
                  m.status().message());
  }
}
