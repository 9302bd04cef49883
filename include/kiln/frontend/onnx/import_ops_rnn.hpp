// kiln/frontend/onnx/import_ops_rnn.hpp: ONNX's recurrent layers RNN, GRU and LSTM, unrolled
// over the time steps (the sequence length must be known at load time) into matmuls and
// elementwise ops, as the specification writes each step:
//
//   RNN:  H = f(X W^T + H R^T + Wb + Rb)
//   GRU:  z = f(X Wz^T + H Rz^T + b_z), r = f(X Wr^T + H Rr^T + b_r),
//         n = g(X Wh^T + (r . H) Rh^T + Rbh + Wbh)  (or r . (H Rh^T + Rbh) with linear_before_reset),
//         H = (1 - z) . n + z . H
//   LSTM: i = f(.. + Pi . C), f = f(.. + Pf . C), c = g(..), C = f . C + i . c,
//         o = f(.. + Po . C), H = o . h(C)
//
// With sequence_lens, a batch entry's state stops changing after its length and its outputs
// are zero there. Directions forward, reverse and bidirectional; layout 0 ([seq, batch, ...])
// and 1 ([batch, seq, ...]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_elementwise.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

enum class RecurrentKind : std::uint8_t { rnn, gru, lstm };

// One of the activation functions the recurrent ops name, with its alpha and beta.
struct Activation {
  std::string name;
  double alpha = 0.0;
  double beta = 0.0;
};

inline Result<Var> apply_activation(NodeContext& ctx, const Activation& a, Var x) {
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  if (a.name == "Tanh") return b.tanh(x);
  if (a.name == "Sigmoid") return b.sigmoid(x);
  if (a.name == "Relu") return b.relu(x);
  if (a.name == "Affine") return b.add(b.multiply(x, ctx.scalar(t, a.alpha)), ctx.scalar(t, a.beta));
  if (a.name == "LeakyRelu") {
    const Var negative = b.compare(OpKind::less, x, ctx.scalar(t, 0));
    return b.where(negative, b.multiply(x, ctx.scalar(t, a.alpha)), x);
  }
  if (a.name == "ThresholdedRelu")
    return b.where(b.compare(OpKind::greater, x, ctx.scalar(t, a.alpha)), x, ctx.scalar(t, 0));
  if (a.name == "ScaledTanh")
    return b.multiply(b.tanh(b.multiply(x, ctx.scalar(t, a.beta))), ctx.scalar(t, a.alpha));
  if (a.name == "HardSigmoid") return hard_sigmoid(ctx, x, a.alpha, a.beta);
  if (a.name == "Elu") {
    const Var negative = b.compare(OpKind::less, x, ctx.scalar(t, 0));
    const Var curve = b.multiply(b.subtract(b.exp(x), ctx.scalar(t, 1)), ctx.scalar(t, a.alpha));
    return b.where(negative, curve, x);
  }
  if (a.name == "Softsign") return b.divide(x, b.add(ctx.scalar(t, 1), b.unary(OpKind::abs, x)));
  if (a.name == "Softplus") return softplus(ctx, x);
  return ctx.unsupported("activation '", a.name, "' is not supported");
}

// The activations of each direction: the node's list, or the op's defaults.
inline Result<std::vector<Activation>> activations_of(const NodeContext& ctx, RecurrentKind kind, int directions) {
  std::vector<std::string> defaults;
  switch (kind) {
    case RecurrentKind::rnn: defaults = {"Tanh"}; break;
    case RecurrentKind::gru: defaults = {"Sigmoid", "Tanh"}; break;
    case RecurrentKind::lstm: defaults = {"Sigmoid", "Tanh", "Tanh"}; break;
  }
  const AttributeProto* names = ctx.attr("activations");
  const std::vector<float> alphas = ctx.attr_floats("activation_alpha");
  const std::vector<float> betas = ctx.attr_floats("activation_beta");
  const std::size_t per_direction = defaults.size();
  std::vector<Activation> out;
  for (int d = 0; d < directions; ++d) {
    for (std::size_t i = 0; i < per_direction; ++i) {
      const std::size_t at = static_cast<std::size_t>(d) * per_direction + i;
      Activation a;
      if (names == nullptr || names->strings.empty()) {
        a.name = defaults[i];
      } else if (at < names->strings.size()) {
        a.name = names->strings[at];
      } else {
        return ctx.invalid("activations lists ", names->strings.size(), " functions, ", per_direction * directions,
                           " are needed");
      }
      // Defaults of the parametrized activations, as the ONNX operator list gives them.
      if (a.name == "LeakyRelu") a.alpha = 0.01;
      if (a.name == "ThresholdedRelu") a.alpha = 1.0;
      if (a.name == "HardSigmoid") {
        a.alpha = 0.2;
        a.beta = 0.5;
      }
      if (a.name == "Elu") a.alpha = 1.0;
      if (a.name == "Affine" || a.name == "ScaledTanh") a.alpha = 1.0;
      if (names != nullptr && at < alphas.size()) a.alpha = static_cast<double>(alphas[at]);
      if (names != nullptr && at < betas.size()) a.beta = static_cast<double>(betas[at]);
      out.push_back(a);
    }
  }
  return out;
}

// x[index] along axis 0, the axis removed.
inline Var take_row(relax::Builder& b, Var x, std::int64_t index) {
  relax::SliceAttrs attrs;
  attrs.starts = {index};
  attrs.ends = {index + 1};
  attrs.axes = {0};
  return b.squeeze(b.slice(x, attrs), {0});
}

// Columns [part * width, (part + 1) * width) of a 2-D value.
inline Var take_columns(relax::Builder& b, Var x, std::int64_t part, std::int64_t width) {
  relax::SliceAttrs attrs;
  attrs.starts = {part * width};
  attrs.ends = {(part + 1) * width};
  attrs.axes = {-1};
  return b.slice(x, attrs);
}

template <RecurrentKind Kind>
Status convert_recurrent(NodeContext& ctx) {
  constexpr std::int64_t gates = Kind == RecurrentKind::rnn ? 1 : (Kind == RecurrentKind::gru ? 3 : 4);
  KILN_ASSIGN_OR_RETURN(Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var w, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var r, ctx.input(2));
  KILN_ASSIGN_OR_RETURN(const Var bias, ctx.optional_input(3));
  KILN_ASSIGN_OR_RETURN(const Var lengths, ctx.optional_input(4));
  KILN_ASSIGN_OR_RETURN(Var initial_h, ctx.optional_input(5));
  Var initial_c, peepholes;
  if (Kind == RecurrentKind::lstm) {
    KILN_ASSIGN_OR_RETURN(initial_c, ctx.optional_input(6));
    KILN_ASSIGN_OR_RETURN(peepholes, ctx.optional_input(7));
    if (ctx.attr_int("input_forget", 0) != 0) return ctx.unsupported("input_forget 1 is not supported");
  }
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const bool batch_major = ctx.attr_int("layout", 0) != 0;
  if (batch_major) {
    x = b.transpose(x, {1, 0, 2});
    if (initial_h.valid()) initial_h = b.transpose(initial_h, {1, 0, 2});
    if (initial_c.valid()) initial_c = b.transpose(initial_c, {1, 0, 2});
  }
  const relax::TensorType xt = ctx.type(x);
  const relax::TensorType rt = ctx.type(r);
  if (xt.rank != 3 || rt.rank != 3) return ctx.invalid("X and R must have rank 3");
  if (!xt.dims[0].is_constant()) return ctx.unsupported("the sequence length must be known at load time, got ", to_string(xt));
  if (!rt.dims[2].is_constant()) return ctx.unsupported("the hidden size must be known at load time");
  const std::int64_t steps = xt.dims[0].constant_value();
  const std::int64_t hidden = ctx.attr_int("hidden_size", rt.dims[2].constant_value());
  const std::string direction = ctx.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return ctx.invalid("direction '", direction, "' is not one of forward, reverse, bidirectional");
  const int directions = direction == "bidirectional" ? 2 : 1;
  KILN_ASSIGN_OR_RETURN(const std::vector<Activation> activations, activations_of(ctx, Kind, directions));
  const bool clipped = ctx.has_attr("clip");
  const double clip = ctx.attr_float("clip", 0.0);
  const bool linear_before_reset = ctx.attr_int("linear_before_reset", 0) != 0;
  const DType t = xt.dtype;
  const relax::SymDim batch = xt.dims[1];
  if (lengths.valid() && direction != "forward")
    return ctx.unsupported("sequence_lens with direction ", direction, " is not supported");

  std::vector<Var> outputs_h, outputs_c;  // per direction: [batch, hidden]
  std::vector<std::vector<Var>> per_step(static_cast<std::size_t>(directions));
  for (int d = 0; d < directions; ++d) {
    const std::size_t a0 = static_cast<std::size_t>(d) * (Kind == RecurrentKind::rnn ? 1 : (Kind == RecurrentKind::gru ? 2 : 3));
    const Var w_t = b.transpose(take_row(b, w, d), {1, 0});  // [input, gates * hidden]
    const Var r_t = b.transpose(take_row(b, r, d), {1, 0});  // [hidden, gates * hidden]
    Var w_bias, r_bias;
    if (bias.valid()) {
      const Var both = take_row(b, bias, d);
      w_bias = take_columns(b, both, 0, gates * hidden);
      r_bias = take_columns(b, both, 1, gates * hidden);
    }
    Var h = initial_h.valid() ? take_row(b, initial_h, d)
                              : b.expand(ctx.scalar(t, 0), relax::Dims{batch, hidden});
    Var c;
    if (Kind == RecurrentKind::lstm)
      c = initial_c.valid() ? take_row(b, initial_c, d) : b.expand(ctx.scalar(t, 0), relax::Dims{batch, hidden});
    Var p_i, p_o, p_f;
    if (peepholes.valid()) {
      const Var p = b.unsqueeze(take_row(b, peepholes, d), {0});  // [1, 3 * hidden], order i, o, f
      p_i = take_columns(b, p, 0, hidden);
      p_o = take_columns(b, p, 1, hidden);
      p_f = take_columns(b, p, 2, hidden);
    }
    const bool reverse = direction == "reverse" || d == 1;
    std::vector<Var>& ys = per_step[static_cast<std::size_t>(d)];
    ys.resize(static_cast<std::size_t>(steps));
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t step = reverse ? steps - 1 - s : s;
      const Var x_step = take_row(b, x, step);
      Var from_x = matmul_any(ctx, x_step, w_t);
      if (w_bias.valid()) from_x = b.add(from_x, w_bias);
      Var from_h = matmul_any(ctx, h, r_t);
      if (r_bias.valid()) from_h = b.add(from_h, r_bias);
      const auto gate = [&](Var pre) -> Var {
        return clipped ? b.clip(pre, ctx.scalar(t, -clip), ctx.scalar(t, clip)) : pre;
      };
      const auto part = [&](Var v, std::int64_t k) { return take_columns(b, v, k, hidden); };
      Var h_new, c_new;
      if (Kind == RecurrentKind::rnn) {
        KILN_ASSIGN_OR_RETURN(h_new, apply_activation(ctx, activations[a0], gate(b.add(from_x, from_h))));
      } else if (Kind == RecurrentKind::gru) {
        KILN_ASSIGN_OR_RETURN(const Var z, apply_activation(ctx, activations[a0], gate(b.add(part(from_x, 0), part(from_h, 0)))));
        KILN_ASSIGN_OR_RETURN(const Var reset, apply_activation(ctx, activations[a0], gate(b.add(part(from_x, 1), part(from_h, 1)))));
        Var recurrent;
        if (linear_before_reset) {
          recurrent = b.multiply(reset, part(from_h, 2));
        } else {
          const Var rh_t = take_columns(b, r_t, 2, hidden);
          recurrent = matmul_any(ctx, b.multiply(reset, h), rh_t);
          if (r_bias.valid()) recurrent = b.add(recurrent, take_columns(b, r_bias, 2, hidden));
        }
        KILN_ASSIGN_OR_RETURN(const Var n, apply_activation(ctx, activations[a0 + 1], gate(b.add(part(from_x, 2), recurrent))));
        h_new = b.add(b.multiply(b.subtract(ctx.scalar(t, 1), z), n), b.multiply(z, h));
      } else {
        const Var sum = b.add(from_x, from_h);  // gates i, o, f, c
        Var pre_i = part(sum, 0), pre_o = part(sum, 1), pre_f = part(sum, 2);
        if (p_i.valid()) {
          pre_i = b.add(pre_i, b.multiply(p_i, c));
          pre_f = b.add(pre_f, b.multiply(p_f, c));
        }
        KILN_ASSIGN_OR_RETURN(const Var in_gate, apply_activation(ctx, activations[a0], gate(pre_i)));
        KILN_ASSIGN_OR_RETURN(const Var forget, apply_activation(ctx, activations[a0], gate(pre_f)));
        KILN_ASSIGN_OR_RETURN(const Var cell, apply_activation(ctx, activations[a0 + 1], gate(part(sum, 3))));
        c_new = b.add(b.multiply(forget, c), b.multiply(in_gate, cell));
        if (p_o.valid()) pre_o = b.add(pre_o, b.multiply(p_o, c_new));
        KILN_ASSIGN_OR_RETURN(const Var out_gate, apply_activation(ctx, activations[a0], gate(pre_o)));
        KILN_ASSIGN_OR_RETURN(const Var squashed, apply_activation(ctx, activations[a0 + 2], c_new));
        h_new = b.multiply(out_gate, squashed);
      }
      if (lengths.valid()) {
        // Entries whose sequence has ended keep their state and output zeros.
        const Var live = b.unsqueeze(b.compare(OpKind::less, ctx.scalar(DType::i64, static_cast<double>(step)),
                                               b.cast(lengths, DType::i64)), {1});
        h_new = b.where(live, h_new, h);
        if (c_new.valid()) c_new = b.where(live, c_new, c);
        ys[static_cast<std::size_t>(step)] = b.where(live, h_new, ctx.scalar(t, 0));
      } else {
        ys[static_cast<std::size_t>(step)] = h_new;
      }
      h = h_new;
      if (c_new.valid()) c = c_new;
    }
    outputs_h.push_back(h);
    if (Kind == RecurrentKind::lstm) outputs_c.push_back(c);
  }
  KILN_RETURN_IF_ERROR(ctx.status());
  // Y: [seq, directions, batch, hidden]; Y_h, Y_c: [directions, batch, hidden].
  const auto stack = [&](const std::vector<Var>& parts, std::int64_t axis) {
    std::vector<Var> expanded;
    for (Var v : parts) expanded.push_back(b.unsqueeze(v, {axis}));
    return expanded.size() == 1 ? expanded[0] : b.concat(expanded, axis);
  };
  if (ctx.wants_output(0)) {
    std::vector<Var> rows;
    for (std::int64_t s = 0; s < steps; ++s) {
      std::vector<Var> dirs;
      for (int d = 0; d < directions; ++d) dirs.push_back(per_step[static_cast<std::size_t>(d)][static_cast<std::size_t>(s)]);
      rows.push_back(stack(dirs, 0));
    }
    Var y = stack(rows, 0);
    if (batch_major) y = b.transpose(y, {2, 0, 1, 3});
    KILN_RETURN_IF_ERROR(ctx.set_output(0, y));
  }
  Var y_h = stack(outputs_h, 0);
  if (batch_major) y_h = b.transpose(y_h, {1, 0, 2});
  KILN_RETURN_IF_ERROR(ctx.set_output(1, y_h));
  if (Kind == RecurrentKind::lstm && ctx.wants_output(2)) {
    Var y_c = stack(outputs_c, 0);
    if (batch_major) y_c = b.transpose(y_c, {1, 0, 2});
    KILN_RETURN_IF_ERROR(ctx.set_output(2, y_c));
  }
  return {};
}

inline constexpr ConverterEntry kRecurrentConverters[] = {
    {"RNN", convert_recurrent<RecurrentKind::rnn>},
    {"GRU", convert_recurrent<RecurrentKind::gru>},
    {"LSTM", convert_recurrent<RecurrentKind::lstm>},
};

} // namespace kiln::onnx::detail
