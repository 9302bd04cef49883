// kiln/frontend/onnx/import_ops_training.hpp: the optimizer steps of ONNX's
// ai.onnx.preview.training domain (Adagrad, Adam, Momentum), written elementwise as their
// specification states them. Each takes the learning rate R and the step count T (scalars),
// then n tensors of each kind (X, G, and the optimizer's state), and returns the updated
// tensors and states, n of each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline constexpr std::string_view kTrainingDomain = "ai.onnx.preview.training";

// The n inputs of each of `kinds` groups after R and T.
inline Result<std::vector<std::vector<Var>>> optimizer_groups(const NodeContext& ctx, int kinds) {
  const int per_kind = (ctx.input_count() - 2) / kinds;
  if (per_kind < 1 || 2 + per_kind * kinds != ctx.input_count())
    return ctx.invalid("takes R, T and ", kinds, " groups of n tensors, got ", ctx.input_count(), " inputs");
  std::vector<std::vector<Var>> groups(static_cast<std::size_t>(kinds));
  for (int k = 0; k < kinds; ++k) {
    for (int i = 0; i < per_kind; ++i) {
      KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(2 + k * per_kind + i));
      groups[static_cast<std::size_t>(k)].push_back(v);
    }
  }
  return groups;
}

// T > 0, and T as f32.
inline Var step_positive(NodeContext& ctx, Var t) {
  return ctx.b().compare(OpKind::greater, t, ctx.scalar(ctx.dtype(t), 0));
}

// g + norm_coefficient * x
inline Var regularized(NodeContext& ctx, Var x, Var g, double norm_coefficient) {
  return ctx.b().add(ctx.b().multiply(x, ctx.scalar(ctx.dtype(x), norm_coefficient)), g);
}

inline Status convert_adagrad(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var r, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var t, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const auto groups, optimizer_groups(ctx, 3));
  KILN_RETURN_IF_ERROR(ctx.status());
  const double norm = ctx.attr_float("norm_coefficient", 0.0);
  const double epsilon = ctx.attr_float("epsilon", 0.0);
  const double decay = ctx.attr_float("decay_factor", 0.0);
  relax::Builder& b = ctx.b();
  const DType ft = ctx.dtype(r);
  // r / (1 + t * decay_factor)
  const Var rate = b.divide(r, b.add(ctx.scalar(ft, 1), b.multiply(b.cast(t, ft), ctx.scalar(ft, decay))));
  const std::size_t n = groups[0].size();
  for (std::size_t i = 0; i < n; ++i) {
    const Var x = groups[0][i];
    const Var g = regularized(ctx, x, groups[1][i], norm);
    const Var h = b.add(groups[2][i], b.multiply(g, g));
    const Var step = b.divide(b.multiply(b.cast(rate, ctx.dtype(x)), g), b.add(b.sqrt(h), ctx.scalar(ctx.dtype(x), epsilon)));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(i), b.subtract(x, step)));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(n + i), h));
  }
  return {};
}

inline Status convert_adam(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var r, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var t, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const auto groups, optimizer_groups(ctx, 4));
  KILN_RETURN_IF_ERROR(ctx.status());
  const double norm = ctx.attr_float("norm_coefficient", 0.0);
  const double norm_post = ctx.attr_float("norm_coefficient_post", 0.0);
  const double alpha = ctx.attr_float("alpha", 0.9);
  const double beta = ctx.attr_float("beta", 0.999);
  const double epsilon = ctx.attr_float("epsilon", 0.0);
  relax::Builder& b = ctx.b();
  const DType ft = ctx.dtype(r);
  // With bias correction once T > 0: r * sqrt(1 - beta^T) / (1 - alpha^T).
  const Var tf = b.cast(t, ft);
  const Var one = ctx.scalar(ft, 1);
  const Var corrected = b.divide(b.multiply(r, b.sqrt(b.subtract(one, b.power(ctx.scalar(ft, beta), tf)))),
                                 b.subtract(one, b.power(ctx.scalar(ft, alpha), tf)));
  const Var rate = b.where(step_positive(ctx, t), corrected, r);
  const std::size_t n = groups[0].size();
  for (std::size_t i = 0; i < n; ++i) {
    const Var x = groups[0][i];
    const DType xt = ctx.dtype(x);
    const Var g = regularized(ctx, x, groups[1][i], norm);
    const Var v = b.add(b.multiply(groups[2][i], ctx.scalar(xt, alpha)), b.multiply(g, ctx.scalar(xt, 1 - alpha)));
    const Var h =
        b.add(b.multiply(groups[3][i], ctx.scalar(xt, beta)), b.multiply(b.multiply(g, g), ctx.scalar(xt, 1 - beta)));
    const Var denominator = b.add(b.sqrt(h), ctx.scalar(xt, epsilon));
    const Var x_new = b.subtract(x, b.multiply(b.cast(rate, xt), b.divide(v, denominator)));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(i), b.multiply(x_new, ctx.scalar(xt, 1 - norm_post))));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(n + i), v));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(2 * n + i), h));
  }
  return {};
}

inline Status convert_momentum(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var r, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var t, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const auto groups, optimizer_groups(ctx, 3));
  KILN_RETURN_IF_ERROR(ctx.status());
  const double norm = ctx.attr_float("norm_coefficient", 0.0);
  const double alpha = ctx.attr_float("alpha", 0.0);
  const double beta = ctx.attr_float("beta", 0.0);
  const std::string mode = ctx.attr_string("mode", "standard");
  if (mode != "standard" && mode != "nesterov") return ctx.invalid("mode must be standard or nesterov, got '", mode, "'");
  relax::Builder& b = ctx.b();
  const std::size_t n = groups[0].size();
  for (std::size_t i = 0; i < n; ++i) {
    const Var x = groups[0][i];
    const DType xt = ctx.dtype(x);
    const Var g = regularized(ctx, x, groups[1][i], norm);
    // The gradient's coefficient is 1 in the first step.
    const Var g_scale = b.where(step_positive(ctx, t), ctx.scalar(xt, beta), ctx.scalar(xt, 1));
    const Var v = b.add(b.multiply(groups[2][i], ctx.scalar(xt, alpha)), b.multiply(g, g_scale));
    const Var direction = mode == "standard" ? v : b.add(g, b.multiply(v, ctx.scalar(xt, alpha)));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(i), b.subtract(x, b.multiply(b.cast(r, xt), direction))));
    KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(n + i), v));
  }
  return {};
}

inline constexpr ConverterEntry kTrainingConverters[] = {
    {"Adagrad", convert_adagrad},
    {"Adam", convert_adam},
    {"Momentum", convert_momentum},
};

} // namespace kiln::onnx::detail
