// What the ONNX importer fixes at load time. Sequences and optionals (import_ops_sequence.hpp):
// ONNX's own sequence models imported with sequence lengths other than their test data's and
// run against sums computed here, and the errors for what kiln cannot fix at load time (a
// sequence input of unknown length, sequences of different lengths into SequenceMap, a
// position out of range, an optional without value read). Input values given at load time
// (ImportOptions::input_values): a run with another value is refused.
#include <doctest/doctest.h>

#include <kiln/frontend/onnx/import.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "onnx_testdata.hpp"

using namespace kiln;

namespace {

onnx::ModelProto node_model(std::string_view name) {
  Result<onnx::LoadedModel> loaded = onnx::load_model(test::onnx_node_tests_dir() / name / "model.onnx");
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  return std::move(loaded->model);
}

Tensor vector_of(std::vector<float> values) {
  Result<Tensor> t = Tensor::empty(DType::f32, {static_cast<std::int64_t>(values.size())});
  REQUIRE(t.ok());
  std::copy(values.begin(), values.end(), t->data_as<float>());
  return std::move(t).value();
}

void check_error(const Status& s, std::string_view part) {
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.to_string().find(part) != std::string::npos, s.to_string());
}

} // namespace

TEST_CASE("onnx sequences: SequenceMap over two sequences of any length, elements of different lengths") {
  if (!test::onnx_node_tests_available("the sequence tests")) return;
  for (const char* name : {"test_sequence_map_add_2_sequences", "test_sequence_map_add_2_sequences_expanded"}) {
    CAPTURE(name);
    const onnx::ModelProto model = node_model(name);
    for (int length : {0, 1, 4}) {
      CAPTURE(length);
      onnx::ImportOptions options;
      options.sequence_inputs = {{"x0", std::vector<int>(static_cast<std::size_t>(length), 1)},
                                 {"x1", std::vector<int>(static_cast<std::size_t>(length), 1)}};
      Result<relax::Module> m = onnx::import_model(model, {}, options);
      if (length == 0) {
        // No element: the module would have no outputs, which kiln refuses clearly.
        check_error(m.status(), "hold no tensors");
        continue;
      }
      REQUIRE_MESSAGE(m.ok(), m.status().to_string());
      REQUIRE(m->main().params.size() == static_cast<std::size_t>(2 * length));
      CHECK(m->main().value(m->main().params[0]).name == "x0[0]");
      Result<std::shared_ptr<const vm::Executable>> exe = vm::load(std::move(*m));
      REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
      vm::ExecutionContext ctx(*exe);
      std::vector<Tensor> inputs;
      std::vector<std::vector<float>> a, b;
      for (int i = 0; i < length; ++i) {
        a.emplace_back(static_cast<std::size_t>(i + 2), 0.5f * static_cast<float>(i));
        for (std::size_t j = 0; j < a.back().size(); ++j) a.back()[j] += static_cast<float>(j);
        inputs.push_back(vector_of(a.back()));
      }
      for (int i = 0; i < length; ++i) {
        b.emplace_back(a[static_cast<std::size_t>(i)].size(), 10.0f * static_cast<float>(i + 1));
        inputs.push_back(vector_of(b.back()));
      }
      const Status s = ctx.run(inputs);
      REQUIRE_MESSAGE(s.ok(), s.to_string());
      REQUIRE(ctx.output_count() == static_cast<std::size_t>(length));
      for (int i = 0; i < length; ++i) {
        const vm::Slot& y = ctx.output(static_cast<std::size_t>(i));
        const auto& ai = a[static_cast<std::size_t>(i)];
        REQUIRE(y.elements() == static_cast<std::int64_t>(ai.size()));
        for (std::size_t j = 0; j < ai.size(); ++j)
          CHECK(y.data_as<const float>()[j] == ai[j] + b[static_cast<std::size_t>(i)][j]);
      }
    }
  }
}

TEST_CASE("onnx sequences: what cannot be fixed at load time is a clear error") {
  if (!test::onnx_node_tests_available("the sequence tests")) return;
  const onnx::ModelProto map = node_model("test_sequence_map_add_2_sequences");
  check_error(onnx::import_model(map).status(), "graph input 'x0' is a sequence: kiln needs its length at load time");

  onnx::ImportOptions uneven;
  uneven.sequence_inputs = {{"x0", {1, 1}}, {"x1", {1, 1, 1}}};
  check_error(onnx::import_model(map, {}, uneven).status(), "input 1 has 3 elements, the first sequence 2");

  onnx::ImportOptions wrong_rank;
  wrong_rank.sequence_inputs = {{"x0", {2}}, {"x1", {1}}};
  check_error(onnx::import_model(map, {}, wrong_rank).status(), "an element of rank 2 where the model declares 1");

  // SequenceInsert at a position given at load time, outside the sequence.
  const onnx::ModelProto insert = node_model("test_sequence_insert_at_front");
  onnx::ImportOptions far;
  far.sequence_inputs = {{"sequence", {1, 1, 1}}};
  Result<Tensor> position = Tensor::empty(DType::i64, {1});
  REQUIRE(position.ok());
  position->data_as<std::int64_t>()[0] = 10;
  far.input_values = {{"position", *position}};
  check_error(onnx::import_model(insert, {}, far).status(), "position 10 is out of range for a sequence of 3 elements");
  // Without the position's value the insert cannot be resolved.
  onnx::ImportOptions unknown;
  unknown.sequence_inputs = far.sequence_inputs;
  check_error(onnx::import_model(insert, {}, unknown).status(), "must be known at load time");

  // An optional without value cannot be read.
  onnx::ImportOptions absent;
  absent.absent_optionals = {"optional_input"};
  check_error(onnx::import_model(node_model("test_optional_get_element"), {}, absent).status(), "holds no value");
}

TEST_CASE("onnx input values fixed at load time: the same value runs, another is refused") {
  if (!test::onnx_node_tests_available("the input-value tests")) return;
  const onnx::ModelProto model = node_model("test_reshape_reordered_all_dims");
  Result<Tensor> shape = Tensor::empty(DType::i64, {3});
  REQUIRE(shape.ok());
  const std::int64_t dims[] = {4, 2, 3};
  std::copy(std::begin(dims), std::end(dims), shape->data_as<std::int64_t>());
  onnx::ImportOptions options;
  options.input_values = {{"shape", *shape}};
  Result<relax::Module> m = onnx::import_model(model, {}, options);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  Result<std::shared_ptr<const vm::Executable>> exe = vm::load(std::move(*m));
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  vm::ExecutionContext ctx(*exe);
  const Tensor data = Tensor::zeros(DType::f32, {2, 3, 4}).value();
  const Status same = ctx.run({data, *shape});
  REQUIRE_MESSAGE(same.ok(), same.to_string());
  CHECK(ctx.output(0).dims[0] == 4);
  Tensor other = shape->clone().value();
  other.data_as<std::int64_t>()[0] = 3;
  other.data_as<std::int64_t>()[2] = 4;
  check_error(ctx.run({data, other}), "input shape differs from the value the module was built for");
}
