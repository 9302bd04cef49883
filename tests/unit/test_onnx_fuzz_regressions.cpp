// test_onnx_fuzz_regressions.cpp: the inputs the ONNX import fuzzer (fuzz/) found crashing,
// hanging or tripping a sanitizer, kept in tests/data/fuzz_regressions/, each decoded,
// imported and loaded into the VM as the fuzzer does: every one must now end in an error
// (or a loaded module), never a crash. And hostile models built here (a truncated varint, a
// length past the end, dims that overflow, a negative dim, short raw_data, subgraphs nested
// 1000 deep), each refused with an error that names the problem.
#include <doctest/doctest.h>

#include "protobuf_encoder.hpp"

#include <kiln/frontend/onnx/import.hpp>
#include <kiln/frontend/onnx/load_file.hpp>
#include <kiln/frontend/onnx/proto.hpp>
#include <kiln/frontend/onnx/wire.hpp>
#include <kiln/vm/cpu_kernels.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using namespace kiln;
namespace fs = std::filesystem;
using onnx::wire::WireType;
using test::Encoder;

namespace {

// tests/data/fuzz_regressions/, found beside this file's directory.
fs::path regressions_dir() { return fs::path(__FILE__).parent_path().parent_path() / "data" / "fuzz_regressions"; }

// What the fuzzer does with one input: decode, import (with no model directory, so external
// data is refused) and load into the VM. The first error, or ok.
Status decode_import_load(std::span<const std::byte> bytes) {
  Result<onnx::ModelProto> model = onnx::decode_model(bytes, "input");
  if (!model.ok()) return std::move(model).status();
  Result<relax::Module> module = onnx::import_model(*model);
  if (!module.ok()) return std::move(module).status();
  auto exe = vm::load(std::move(*module));
  if (!exe.ok()) return std::move(exe).status();
  return {};
}

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

void check_error(const Status& status, std::initializer_list<std::string_view> fragments) {
  REQUIRE_MESSAGE(!status.ok(), "expected an error");
  for (std::string_view fragment : fragments)
    CHECK_MESSAGE(contains(status.message(), fragment), "expected \"", std::string(fragment),
                  "\" in: ", status.to_string());
}

// A model (opset 13) whose graph holds one initializer `w` and outputs it.
Encoder model_with_initializer(const Encoder& tensor) {
  Encoder output;
  output.string_field(1, "w");  // ValueInfoProto.name
  Encoder graph;
  graph.message_field(5, tensor).message_field(12, output);  // initializer, output
  Encoder opset;
  opset.string_field(1, "").int_field(2, 13);
  Encoder model;
  model.int_field(1, 8).message_field(7, graph).message_field(8, opset);  // ir_version, graph, opset_import
  return model;
}

// TensorProto fields: dims 1, data_type 2, name 8, raw_data 9.
Encoder tensor(std::initializer_list<std::int64_t> dims, onnx::DataType type) {
  Encoder t;
  for (std::int64_t d : dims) t.int_field(1, d);
  t.int_field(2, static_cast<std::int64_t>(type)).string_field(8, "w");
  return t;
}

} // namespace

TEST_CASE("onnx fuzz regressions: every saved input decodes, imports and loads or fails cleanly") {
  const fs::path dir = regressions_dir();
  std::error_code ec;
  REQUIRE_MESSAGE(fs::is_directory(dir, ec), dir.string(), " is missing");
  // The error each input must now give, where it is known (a fragment of the message).
  const std::map<std::string, std::string> expected = {
      {"celu_nan_alpha_integer_scalar.onnx", ""},
      {"constant_of_shape_huge_known_shape.onnx", ""},
      {"layer_norm_axis_far_out_of_range.onnx", "out of range for rank"},
      {"max_unpool_strides_shorter_than_kernel.onnx", "strides must have one value per spatial axis"},
  };
  int inputs = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".onnx") continue;
    ++inputs;
    const std::string name = entry.path().filename().string();
    CAPTURE(name);
    Result<std::vector<std::byte>> bytes = onnx::detail::read_whole_file(entry.path(), onnx::kMaxProtobufFileBytes);
    REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
    const Status status = decode_import_load(*bytes);
    const std::string outcome = status.ok() ? std::string("loads") : status.to_string();
    INFO(outcome);
    if (!status.ok()) CHECK_FALSE(status.message().empty());
    if (auto it = expected.find(name); it != expected.end() && !it->second.empty()) check_error(status, {it->second});
  }
  CHECK(inputs == static_cast<int>(expected.size()));
}

TEST_CASE("onnx fuzz regressions: hostile inputs are refused with an error naming the problem") {
  SUBCASE("a truncated varint") {
    Encoder model;
    model.tag(1, WireType::varint).byte(0x80).byte(0x80);  // ir_version whose varint never ends
    check_error(decode_import_load(model.span()), {"ModelProto.ir_version", "truncated varint"});
  }
  SUBCASE("a length prefix larger than the file") {
    Encoder model;
    model.tag(7, WireType::length_delimited).varint(1000).byte(0x0a).byte(0x00);  // graph of 1000 bytes, 2 there
    check_error(decode_import_load(model.span()), {"truncated length-delimited field", "needs 1000 bytes, 2 remain"});
  }
  SUBCASE("dims whose product passes 2^64") {
    Encoder t = tensor({std::int64_t{1} << 32, std::int64_t{1} << 32}, onnx::DataType::float32);
    check_error(decode_import_load(model_with_initializer(t).span()),
                {"TensorProto 'w'", "[4294967296, 4294967296]", "overflow the element count"});
  }
  SUBCASE("dims whose product passes 2^63 but not 2^64") {
    Encoder t = tensor({std::int64_t{1} << 62, 4}, onnx::DataType::uint8);
    check_error(decode_import_load(model_with_initializer(t).span()),
                {"TensorProto 'w'", "[4611686018427387904, 4]", "overflow the element count"});
  }
  SUBCASE("a negative dim") {
    Encoder t = tensor({2, -3}, onnx::DataType::float32);
    check_error(decode_import_load(model_with_initializer(t).span()), {"TensorProto 'w'", "dims[1] = -3 is negative"});
  }
  SUBCASE("raw_data shorter than the dims say") {
    Encoder t = tensor({4}, onnx::DataType::float32);
    const std::vector<std::byte> eight(8);
    t.bytes_field(9, eight);
    check_error(decode_import_load(model_with_initializer(t).span()),
                {"TensorProto 'w'", "raw_data has 8 bytes but dims [4] of FLOAT (1) need 16"});
  }
  SUBCASE("subgraphs nested 1000 deep") {
    // graph { node If { attribute then_branch { g: graph { node If { ... } } } } }
    Encoder graph;
    graph.string_field(2, "innermost");
    for (int level = 0; level < 1000; ++level) {
      Encoder attribute;
      attribute.string_field(1, "then_branch").message_field(6, graph).int_field(20, 5);  // name, g, type GRAPH
      Encoder node;
      node.string_field(1, "cond").string_field(2, "out").string_field(4, "If").message_field(5, attribute);
      Encoder outer;
      outer.message_field(1, node);
      graph = std::move(outer);
    }
    Encoder model;
    model.int_field(1, 8).message_field(7, graph);
    check_error(decode_import_load(model.span()),
                {"ModelProto.graph.node[0].attribute[0].g", "nested deeper than 64 levels"});
  }
}
