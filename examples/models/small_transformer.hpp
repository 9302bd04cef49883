// small_transformer.hpp: one pre-trained-shaped transformer encoder layer, written with the
// graph builder: multi-head self-attention (4 heads of 16 over a width of 64), residual,
// layer norm, a GELU feed-forward of width 128, residual, layer norm. Batch and sequence
// length are symbols, so one loaded module serves every size. The same layer is also written
// as a static graph (small_transformer_graph) for one batch and sequence length fixed at
// compile time.
#pragma once

#include <cstdint>
#include <utility>

#include <kiln/relax/builder.hpp>
#include <kiln/static_graph/graph.hpp>
#include <kiln/static_graph/ops.hpp>

#include "weights.hpp"

namespace kiln::examples {

struct TransformerWeights {
  static constexpr std::int64_t width = 64, heads = 4, head_size = 16, hidden = 128;
  Weight wq = make_weight({width, width}, 0.1f, 0.15f), bq = make_weight({width}, 0.2f, 0.05f);
  Weight wk = make_weight({width, width}, 0.3f, 0.15f), bk = make_weight({width}, 0.4f, 0.05f);
  Weight wv = make_weight({width, width}, 0.5f, 0.15f), bv = make_weight({width}, 0.6f, 0.05f);
  Weight wo = make_weight({width, width}, 0.7f, 0.15f), bo = make_weight({width}, 0.8f, 0.05f);
  Weight gamma1 = make_weight({width}, 0.9f, 0.2f), beta1 = make_weight({width}, 1.0f, 0.1f);
  Weight w1 = make_weight({width, hidden}, 1.1f, 0.15f), b1 = make_weight({hidden}, 1.2f, 0.05f);
  Weight w2 = make_weight({hidden, width}, 1.3f, 0.1f), b2 = make_weight({width}, 1.4f, 0.05f);
  Weight gamma2 = make_weight({width}, 1.5f, 0.2f), beta2 = make_weight({width}, 1.6f, 0.1f);
};

// The layer as a module with one input "x" of f32[batch, seq, 64].
inline Result<relax::Module> small_transformer(const TransformerWeights& w = {}) {
  using relax::Var;
  const relax::SymDim batch = relax::sym("batch"), seq = relax::sym("seq");
  constexpr std::int64_t width = TransformerWeights::width, heads = TransformerWeights::heads;
  constexpr std::int64_t head_size = TransformerWeights::head_size;
  relax::Builder b;
  const Var x = b.input("x", relax::TensorType(DType::f32, {batch, seq, width}));
  const auto linear = [&](Var in, const Weight& weight, const Weight& bias) {
    return b.add(b.matmul(in, b.constant(weight.tensor())), b.constant(bias.tensor()));
  };
  const auto split_heads = [&](Var v) { return b.transpose(b.reshape(v, {batch, seq, heads, head_size}), {0, 2, 1, 3}); };
  const Var q = split_heads(linear(x, w.wq, w.bq));
  const Var k = split_heads(linear(x, w.wk, w.bk));
  const Var v = split_heads(linear(x, w.wv, w.bv));
  const Var attended = b.reshape(b.transpose(b.attention(q, k, v), {0, 2, 1, 3}), {batch, seq, width});
  const auto norm = [&](Var in, const Weight& gamma, const Weight& beta) {
    return b.layer_norm(in, b.constant(gamma.tensor()), b.constant(beta.tensor()));
  };
  const Var h = norm(b.add(x, linear(attended, w.wo, w.bo)), w.gamma1, w.beta1);
  const Var ffn = linear(b.gelu(linear(h, w.w1, w.b1)), w.w2, w.b2);
  return b.finish({norm(b.add(h, ffn), w.gamma2, w.beta2)});
}

// The same layer as a static graph for `Batch` sequences of `Seq` tokens; weights are bound
// by name (bind_transformer_weights).
template <std::int64_t Batch, std::int64_t Seq>
constexpr auto small_transformer_graph() {
  using namespace kiln::static_graph;
  constexpr DType f32 = DType::f32;
  constexpr std::int64_t width = TransformerWeights::width, heads = TransformerWeights::heads;
  constexpr std::int64_t head_size = TransformerWeights::head_size, hidden = TransformerWeights::hidden;
  constexpr auto x = input<"x", f32, Batch, Seq, width>();
  constexpr auto split_heads = [](auto v) { return transpose<0, 2, 1, 3>(reshape<Batch, Seq, heads, head_size>(v)); };
  constexpr auto q = split_heads(matmul(x, weight<"wq", f32, width, width>()) + weight<"bq", f32, width>());
  constexpr auto k = split_heads(matmul(x, weight<"wk", f32, width, width>()) + weight<"bk", f32, width>());
  constexpr auto v = split_heads(matmul(x, weight<"wv", f32, width, width>()) + weight<"bv", f32, width>());
  constexpr auto attended = reshape<Batch, Seq, width>(transpose<0, 2, 1, 3>(attention(q, k, v)));
  constexpr auto projected = matmul(attended, weight<"wo", f32, width, width>()) + weight<"bo", f32, width>();
  constexpr auto h = layer_norm(x + projected, weight<"gamma1", f32, width>(), weight<"beta1", f32, width>());
  constexpr auto up = gelu(matmul(h, weight<"w1", f32, width, hidden>()) + weight<"b1", f32, hidden>());
  constexpr auto ffn = matmul(up, weight<"w2", f32, hidden, width>()) + weight<"b2", f32, width>();
  return build(inputs(x), layer_norm(h + ffn, weight<"gamma2", f32, width>(), weight<"beta2", f32, width>()));
}

// Binds the weights of small_transformer_graph by name; `model` is a static_graph::Model.
template <class Model>
Status bind_transformer_weights(Model& model, const TransformerWeights& w) {
  const std::pair<const char*, const Weight*> named[] = {
      {"wq", &w.wq}, {"bq", &w.bq}, {"wk", &w.wk}, {"bk", &w.bk}, {"wv", &w.wv}, {"bv", &w.bv},
      {"wo", &w.wo}, {"bo", &w.bo}, {"gamma1", &w.gamma1}, {"beta1", &w.beta1}, {"w1", &w.w1}, {"b1", &w.b1},
      {"w2", &w.w2}, {"b2", &w.b2}, {"gamma2", &w.gamma2}, {"beta2", &w.beta2}};
  for (const auto& [name, weight] : named) KILN_RETURN_IF_ERROR(model.bind(name, weight->tensor()));
  return Status();
}

} // namespace kiln::examples
