// small_cnn.hpp: a small image classifier written with the graph builder: a 3x3 stem
// convolution, max pooling, a depthwise-separable block with a residual connection, global
// average pooling and a linear classifier with softmax. Written twice with the two graph
// APIs: a dynamic module whose batch size is a symbol, and a static graph whose batch size
// is a template argument (shapes, fusion and the memory plan then come from the compiler).
#pragma once

#include <cstdint>
#include <utility>

#include <kiln/relax/builder.hpp>
#include <kiln/static_graph/graph.hpp>
#include <kiln/static_graph/ops.hpp>

#include "weights.hpp"

namespace kiln::examples {

struct CnnWeights {
  static constexpr std::int64_t channels = 3, size = 32, width = 16, classes = 10;
  Weight stem = make_weight({width, channels, 3, 3}, 0.1f, 0.3f), stem_bias = make_weight({width}, 0.2f, 0.05f);
  Weight depthwise = make_weight({width, 1, 3, 3}, 0.3f, 0.4f), depthwise_bias = make_weight({width}, 0.4f, 0.05f);
  Weight pointwise = make_weight({width, width, 1, 1}, 0.5f, 0.3f), pointwise_bias = make_weight({width}, 0.6f, 0.05f);
  Weight fc = make_weight({classes, width}, 0.7f, 0.3f), fc_bias = make_weight({classes}, 0.8f, 0.05f);
};

// The classifier as a module with one input "image" of f32[batch, 3, 32, 32] and one output,
// the class probabilities f32[batch, 10].
inline Result<relax::Module> small_cnn(const CnnWeights& w = {}) {
  using relax::Var;
  const relax::SymDim batch = relax::sym("batch");
  constexpr std::int64_t width = CnnWeights::width;
  relax::Builder b;
  const Var image = b.input("image", relax::TensorType(DType::f32, {batch, CnnWeights::channels, 32, 32}));
  const auto constant = [&](const Weight& weight) { return b.constant(weight.tensor()); };
  // stem: 3x3 conv, stride 1, ReLU, 2x2 max pool -> [batch, 16, 16, 16]
  Var y = b.relu(b.conv(image, constant(w.stem), constant(w.stem_bias), relax::ConvAttrs{.pads = {1, 1, 1, 1}}));
  y = b.max_pool(y, relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}});
  // depthwise 3x3 + ReLU, pointwise 1x1, residual add, ReLU
  Var d = b.relu(b.conv(y, constant(w.depthwise), constant(w.depthwise_bias),
                        relax::ConvAttrs{.pads = {1, 1, 1, 1}, .groups = width}));
  y = b.relu(b.add(b.conv(d, constant(w.pointwise), constant(w.pointwise_bias)), y));
  // classifier
  const Var pooled = b.flatten(b.global_average_pool(y));
  const Var logits = b.gemm(pooled, constant(w.fc), constant(w.fc_bias), relax::GemmOpAttrs{.trans_b = true});
  return b.finish({b.softmax(logits)});
}

// The same classifier as a static graph for `Batch` images. Its weights are parameters bound
// by name (bind_cnn_weights).
template <std::int64_t Batch>
constexpr auto small_cnn_graph() {
  using namespace kiln::static_graph;
  constexpr DType f32 = DType::f32;
  constexpr std::int64_t width = CnnWeights::width, classes = CnnWeights::classes;
  constexpr auto image = input<"image", f32, Batch, CnnWeights::channels, 32, 32>();
  constexpr auto y = max_pool<relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}}>(
      relu(conv<relax::ConvAttrs{.pads = {1, 1, 1, 1}}>(image, weight<"stem", f32, width, CnnWeights::channels, 3, 3>(),
                                                          weight<"stem_bias", f32, width>())));
  constexpr auto d = relu(conv<relax::ConvAttrs{.pads = {1, 1, 1, 1}, .groups = width}>(
      y, weight<"depthwise", f32, width, 1, 3, 3>(), weight<"depthwise_bias", f32, width>()));
  constexpr auto block = relu(conv(d, weight<"pointwise", f32, width, width, 1, 1>(), weight<"pointwise_bias", f32, width>()) + y);
  constexpr auto logits = gemm<relax::GemmOpAttrs{.trans_b = true}>(
      flatten(global_average_pool(block)), weight<"fc", f32, classes, width>(), weight<"fc_bias", f32, classes>());
  return build(inputs(image), softmax(logits));
}

// Binds the weights of small_cnn_graph by name; `model` is a static_graph::Model.
template <class Model>
Status bind_cnn_weights(Model& model, const CnnWeights& w) {
  const std::pair<const char*, const Weight*> named[] = {
      {"stem", &w.stem},           {"stem_bias", &w.stem_bias}, {"depthwise", &w.depthwise},
      {"depthwise_bias", &w.depthwise_bias}, {"pointwise", &w.pointwise}, {"pointwise_bias", &w.pointwise_bias},
      {"fc", &w.fc},               {"fc_bias", &w.fc_bias}};
  for (const auto& [name, weight] : named) KILN_RETURN_IF_ERROR(model.bind(name, weight->tensor()));
  return Status();
}

} // namespace kiln::examples
