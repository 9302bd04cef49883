// kiln aot: a module's shapes fixed (aot::make_static), the module as static-graph C++ text
// (aot::emit_static_graph) with clear refusals, and the weights file format.
#include <doctest/doctest.h>

#include <kiln/aot/emit_static_graph.hpp>
#include <kiln/aot/project_files.hpp>
#include <kiln/aot/static_shapes.hpp>
#include <kiln/aot/weights_file.hpp>
#include <kiln/relax/builder.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

using namespace kiln;
using relax::Builder;
using relax::OpKind;
using relax::TensorType;
using relax::Var;

namespace {

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

Tensor filled(std::initializer_list<std::int64_t> dims, float first) {
  Result<Tensor> t = Tensor::empty(DType::f32, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i) t->data_as<float>()[i] = first + 0.25f * static_cast<float>(i);
  return *t;
}

relax::Module finished(Builder& b, std::initializer_list<Var> outputs) {
  Result<relax::Module> m = b.finish(outputs);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  return std::move(*m);
}

// conv + relu + pool, flattened by a reshape whose target is shape arithmetic on a symbol,
// then a classifier: what an exported CNN looks like.
relax::Module small_cnn() {
  Builder b;
  const Var x = b.input("image", TensorType(DType::f32, {relax::sym("batch"), 3, 8, 8}));
  Var y = b.relu(b.conv(x, b.constant(filled({4, 3, 3, 3}, 0.5f)), b.constant(filled({4}, 0.1f)),
                        relax::ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  y = b.max_pool(y, relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}});
  // [batch, 4 * 2 * 2] from shape_of(y)[0] and a constant, as exporters write a flatten.
  const Var batch = b.slice(b.shape_of(y), relax::SliceAttrs{.starts = {0}, .ends = {1}});
  Result<Tensor> sixteen = Tensor::from_values<std::int64_t>({1}, {16});
  REQUIRE(sixteen.ok());
  y = b.reshape(y, b.concat({batch, b.constant(*sixteen)}, 0));
  const Var logits = b.gemm(y, b.constant(filled({5, 16}, -1.0f)), b.constant(filled({5}, 0.0f)),
                            relax::GemmOpAttrs{.trans_b = true});
  return finished(b, {b.softmax(logits, 1)});
}

Result<aot::EmittedGraph> emit(relax::Module m, std::initializer_list<aot::DimSize> dims = {}) {
  const std::vector<aot::DimSize> sizes(dims);
  KILN_ASSIGN_OR_RETURN(aot::StaticModule s, aot::make_static(std::move(m), sizes));
  return aot::emit_static_graph(s.module, {.name = "net"});
}

} // namespace

TEST_CASE("aot: a CNN becomes one static-graph node per op, with its shapes fixed") {
  Result<aot::StaticModule> s = aot::make_static(small_cnn(), std::vector<aot::DimSize>{{"batch", 2}});
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  REQUIRE(s->sizes.size() == 1);
  CHECK(s->sizes[0].symbol == "batch");
  CHECK(s->sizes[0].size == 2);

  Result<aot::EmittedGraph> g = aot::emit_static_graph(s->module, {.name = "net", .source = "cnn.onnx"});
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  const std::string& h = g->header;
  INFO(h);
  CHECK(contains(h, "namespace net {"));
  CHECK(contains(h, "constexpr auto graph() {"));
  CHECK(contains(h, "constexpr auto x0 = input<\"image\", DType::f32, 2, 3, 8, 8>();"));
  CHECK(contains(h, "conv<relax::ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}}>(x0, weight<\"w0\", DType::f32, "
                    "4, 3, 3, 3>(), weight<\"w1\", DType::f32, 4>())"));
  CHECK(contains(h, "= relu(v"));
  CHECK(contains(h, "max_pool<relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}}>("));
  // The reshape takes its static dims; the shape arithmetic that fed it is gone.
  CHECK(contains(h, "= reshape<2, 16>(v"));
  CHECK_FALSE(contains(h, "shape_of"));
  CHECK_FALSE(contains(h, "concat"));
  CHECK(contains(h, "gemm<relax::GemmOpAttrs{.trans_b = true}>("));
  CHECK(contains(h, "softmax<1>("));
  CHECK(contains(h, "return build(inputs(x0), v"));
  CHECK(contains(h, "using Graph = decltype(graph());"));
  CHECK(contains(h, "using Model = kiln::static_graph::Model<Graph>;"));
  CHECK(contains(h, "input_names = {\"image\"};"));
  CHECK(contains(h, "input_shapes = {kiln::static_graph::StaticShape{kiln::DType::f32, 4, {2, 3, 8, 8}}};"));
  CHECK(contains(h, "output_shapes = {kiln::static_graph::StaticShape{kiln::DType::f32, 2, {2, 5}}};"));
  CHECK(contains(h, "inline kiln::Status bind_weights(Model& model, const std::filesystem::path& file)"));
  CHECK(g->nodes == 6);  // conv, relu, max_pool, reshape, gemm, softmax

  // The weights are the constants the graph reads, named as its weight<...>() nodes are.
  REQUIRE(g->weights.size() == 4);
  CHECK(contains(h, "weight_names = {\"w0\", \"w1\", \"w2\", \"w3\"};"));
  CHECK(g->weights[0].name == "w0");
  CHECK(g->weights[0].tensor.numel() == 4 * 3 * 3 * 3);
  CHECK(g->weights[2].tensor.dim(0) == 5);
  CHECK(g->weights[2].tensor.data_as<float>()[1] == -0.75f);
}

TEST_CASE("aot: every symbol takes its --dim size, 1 otherwise; a wrong --dim is an error") {
  Result<aot::EmittedGraph> one = emit(small_cnn());
  REQUIRE(one.ok());
  CHECK(contains(one->header, "input<\"image\", DType::f32, 1, 3, 8, 8>()"));
  CHECK(contains(one->header, "reshape<1, 16>("));

  Result<aot::EmittedGraph> unknown = emit(small_cnn(), {{"seq", 4}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(contains(unknown.status().message(), "--dim seq: the model has no such symbol (its symbols: batch)"));
  Result<aot::EmittedGraph> zero = emit(small_cnn(), {{"batch", 0}});
  REQUIRE_FALSE(zero.ok());
  CHECK(contains(zero.status().message(), "at least 1"));
  Result<aot::EmittedGraph> twice = emit(small_cnn(), {{"batch", 2}, {"batch", 3}});
  REQUIRE_FALSE(twice.ok());
  CHECK(contains(twice.status().message(), "given twice"));
}

TEST_CASE("aot: ops with several outputs, absent inputs and shared weights") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {2, 6}));
  const std::vector<Var> parts = b.split(x, relax::SplitAttrs{.axis = 1, .sizes = {2, 4}});
  REQUIRE(parts.size() == 2);
  const std::vector<Var> top = b.emit_multi(OpKind::topk, {parts[1]}, relax::TopKAttrs{.k = 3});
  REQUIRE(top.size() == 2);
  const Var limit = b.constant(filled({}, 0.5f));
  const Var clipped = b.clip(parts[0], Var{}, limit);      // no lower bound
  const Var again = b.maximum(b.clip(top[0], limit), limit); // the same weight read three times
  relax::Module m = finished(b, {clipped, again, top[1]});

  Result<aot::EmittedGraph> g = emit(std::move(m));
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  const std::string& h = g->header;
  INFO(h);
  CHECK(contains(h, "apply<OpKind::slice, relax::SliceAttrs{.starts = {0}, .ends = {2}, .axes = {1}}>(x0)"));
  CHECK(contains(h, "apply<OpKind::slice, relax::SliceAttrs{.starts = {2}, .ends = {6}, .axes = {1}}>(x0)"));
  CHECK(contains(h, "apply<OpKind::topk, TopKAttrs{.k = 3}>("));
  CHECK(contains(h, "constexpr auto w0 = weight<\"w0\", DType::f32>();"));
  CHECK(contains(h, "apply<OpKind::clip>(v0, NoInput{}, w0)"));
  CHECK(contains(h, "apply<OpKind::clip>(v2, w0)"));
  CHECK(contains(h, "output<1>(v2))"));  // topk's indices are the third output
  CHECK(g->weights.size() == 1);
}

TEST_CASE("aot: what a static graph cannot express is an error naming the node and op") {
  SUBCASE("a user kernel") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {4}));
    const std::vector<Var> y = b.call_kernel("mine", std::vector<Var>{b.relu(x)}, {TensorType(DType::f32, {4})});
    Result<aot::EmittedGraph> g = emit(finished(b, {y[0]}));
    REQUIRE_FALSE(g.ok());
    CHECK(g.status().code() == StatusCode::unsupported);
    CHECK(contains(g.status().message(), "node %1 (call_kernel): a static graph cannot call a user kernel"));
  }
  SUBCASE("control flow") {
    const TensorType vec(DType::f32, {8});
    const auto branch = [&](std::string name, OpKind op) {
      Builder sub(std::move(name));
      const Var v = sub.input("v", vec);
      return finished(sub, {sub.unary(op, v)});
    };
    Builder b;
    const Var x = b.input("x", vec);
    const Var c = b.input("c", TensorType(DType::boolean, {}));
    const std::vector<Var> y = b.if_then_else(c, branch("then", OpKind::relu), branch("else", OpKind::neg), std::vector<Var>{x});
    REQUIRE(y.size() == 1);
    Result<aot::EmittedGraph> g = emit(finished(b, {y[0]}));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.status().message(), "node %0 (if): control flow has no static-graph form"));
  }
  SUBCASE("an empty input") {
    Builder b;
    const Var empty = b.input("x", TensorType(DType::f32, {0, 4}));
    Result<aot::EmittedGraph> g = aot::emit_static_graph(finished(b, {b.relu(empty)}), {.name = "net"});
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.status().message(), "input 'x'"));
    CHECK(contains(g.status().message(), "positive dims"));
  }
  SUBCASE("a namespace that is no identifier") {
    Builder b;
    const Var x = b.input("x", TensorType(DType::f32, {4}));
    Result<aot::EmittedGraph> g = aot::emit_static_graph(finished(b, {b.relu(x)}), {.name = "my-net"});
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.status().message(), "'my-net' is not a usable C++ namespace name"));
  }
}

TEST_CASE("aot: names become identifiers") {
  CHECK(aot::sanitize_identifier("resnet18") == "resnet18");
  CHECK(aot::sanitize_identifier("mobilenet-v2.opt") == "mobilenet_v2_opt");
  CHECK(aot::sanitize_identifier("18layers") == "model_18layers");
  CHECK(aot::sanitize_identifier("namespace") == "namespace_model");
  CHECK(aot::sanitize_identifier("relu") == "relu_model");
  CHECK(aot::sanitize_identifier("a__b") == "a_b");
  CHECK(aot::sanitize_identifier("_x") == "x");
  CHECK(aot::sanitize_identifier("") == "model_");
}

TEST_CASE("aot: weights files round-trip, and every damage is an error") {
  Result<Tensor> ints = Tensor::from_values<std::int64_t>({3}, {1, -2, 3});
  REQUIRE(ints.ok());
  const std::vector<aot::NamedTensor> weights = {{"w", filled({2, 3}, 1.0f)}, {"idx", *ints}, {"s", filled({}, 7.0f)}};
  Result<std::string> bytes = aot::encode_weights(weights);
  REQUIRE(bytes.ok());
  CHECK(std::string_view(*bytes).substr(0, 7) == "KILNWTS");

  // An aligned copy, as read_weights_file and an embedded array have it.
  Result<Tensor> buffer = Tensor::empty(DType::u8, {static_cast<std::int64_t>(bytes->size())});
  REQUIRE(buffer.ok());
  std::memcpy(buffer->data(), bytes->data(), bytes->size());
  const auto* data = static_cast<const std::byte*>(buffer->data());
  Result<std::vector<aot::NamedTensor>> back = aot::decode_weights(std::span<const std::byte>(data, bytes->size()), &*buffer);
  REQUIRE_MESSAGE(back.ok(), back.status().to_string());
  REQUIRE(back->size() == 3);
  CHECK((*back)[0].name == "w");
  CHECK((*back)[0].tensor.dtype() == DType::f32);
  CHECK((*back)[0].tensor.dim(1) == 3);
  CHECK((*back)[0].tensor.data_as<float>()[5] == 2.25f);
  CHECK((*back)[1].tensor.dtype() == DType::i64);
  CHECK((*back)[1].tensor.data_as<std::int64_t>()[1] == -2);
  CHECK((*back)[2].tensor.rank() == 0);
  CHECK(reinterpret_cast<std::uintptr_t>((*back)[1].tensor.data()) % aot::kWeightsAlignment == 0);

  // Every truncation is an error, never a read past the end.
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    Result<std::vector<aot::NamedTensor>> cut = aot::decode_weights(std::span<const std::byte>(data, n));
    CHECK_FALSE(cut.ok());
  }
  // A wrong magic, version, dtype or size.
  const auto damaged = [&](std::size_t at, char value) {
    std::string copy = *bytes;
    copy[at] = value;
    std::memcpy(buffer->data(), copy.data(), copy.size());
    Result<std::vector<aot::NamedTensor>> r = aot::decode_weights(std::span<const std::byte>(data, copy.size()));
    return r.ok() ? std::string() : r.status().message();
  };
  CHECK(contains(damaged(0, 'X'), "wrong magic"));
  CHECK(contains(damaged(8, 2), "version 2"));
  // The first entry starts after the 32-byte header: u32 name length, "w", u8 3, "f32", u8 rank.
  CHECK(contains(damaged(32 + 4 + 1 + 1, 'x'), "unknown dtype 'x32'"));
  CHECK(contains(damaged(32 + 4 + 1 + 1 + 3, 9), "rank 9"));
  CHECK(contains(damaged(32 + 4 + 1 + 1 + 3 + 1 + 16 + 8, 7), "7 bytes for [2, 3] of f32"));  // its size
  // A misaligned buffer.
  CHECK_FALSE(aot::decode_weights(std::span<const std::byte>(data + 1, 64)).ok());
}

TEST_CASE("aot: binding weights by the graph's names") {
  struct Recorder {
    std::vector<std::string> bound;
    Status bind(std::string_view name, const Tensor&) {
      bound.emplace_back(name);
      return Status();
    }
  } model;
  const std::vector<aot::NamedTensor> weights = {{"c1", filled({2}, 0.0f)}, {"c0", filled({2}, 1.0f)}};
  const std::array<std::string_view, 2> names = {"c0", "c1"};
  CHECK(aot::bind_weights(model, weights, names).ok());
  CHECK(model.bound == std::vector<std::string>{"c0", "c1"});
  const std::array<std::string_view, 2> other = {"c0", "c7"};
  Status missing = aot::bind_weights(model, weights, other);
  CHECK(contains(missing.message(), "no tensor named 'c7'"));
}

TEST_CASE("aot: the project files") {
  const aot::ProjectOptions o{.name = "net", .include_dir = "/opt/kiln/include", .embed = false};
  const std::string cmake = aot::cmake_lists_text(o);
  CHECK(contains(cmake, "set(KILN_INCLUDE_DIR \"/opt/kiln/include\" CACHE PATH"));
  CHECK(contains(cmake, "add_executable(model-run model_run.cpp)"));
  CHECK(contains(cmake, "MODEL_WEIGHTS_FILE=\"${CMAKE_CURRENT_SOURCE_DIR}/net.weights\""));
  CHECK(contains(aot::model_run_text(o), "kiln::aot::run_case_main<net::Graph>"));
  CHECK(contains(aot::model_run_text(o), "net::bind_weights(m, MODEL_WEIGHTS_FILE)"));

  const unsigned char raw[] = {'a', '"', '\\', '?', 0, 255, '7', '\n'};
  const std::string inc = aot::embedded_weights_text("net", std::as_bytes(std::span(raw)));
  CHECK(contains(inc, "alignas(64) inline constexpr char weights_data[] ="));
  CHECK(contains(inc, "\"a\\042\\134\\077\\000\\3777\\012\""));
}
