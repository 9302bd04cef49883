// kiln/frontend/onnx/import_ops_loss.hpp: ONNX's NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss, written with gather_elements, gather, log_softmax and reductions.
//
// For input [N, C, d...] and target [N, d...]: loss[n, d] = -input[n, target[n, d], d] *
// weight[target[n, d]], zero where the target is ignore_index; reduced by none, sum, or mean
// (the sum divided by the sum of the weights that applied).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

// The loss of `log_prob` [N, C, d...] against `target` [N, d...], reduced as `reduction` says.
inline Result<Var> negative_log_likelihood(NodeContext& ctx, Var log_prob, Var target, Var weight) {
  relax::Builder& b = ctx.b();
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType dtype = ctx.dtype(log_prob);
  const std::string reduction = ctx.attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.invalid("reduction '", reduction, "' is not one of none, sum, mean");
  if (ctx.rank(log_prob) < 2) return ctx.invalid("the input must have rank 2 or more");
  target = b.cast(target, DType::i64);
  std::optional<std::int64_t> ignore;
  if (ctx.has_attr("ignore_index")) ignore = ctx.attr_int("ignore_index", 0);
  Var valid;  // where the target counts, as 0 or 1 of the input's dtype
  if (ignore) {
    const Var ignored = b.compare(OpKind::equal, target, ctx.scalar(DType::i64, static_cast<double>(*ignore)));
    valid = b.cast(b.emit(OpKind::logical_not, {ignored}), dtype);
    // Ignored positions read class 0, which exists, and count for nothing.
    target = b.where(ignored, ctx.scalar(DType::i64, 0), target);
  }
  const Var picked = b.squeeze(b.emit(OpKind::gather_elements, {log_prob, b.unsqueeze(target, {1})}, relax::AxisAttrs{1}), {1});
  Var factor = weight.valid() ? b.gather(weight, target, 0) : Var{};
  if (valid.valid()) factor = factor.valid() ? b.multiply(factor, valid) : valid;
  Var loss = b.neg(picked);
  if (factor.valid()) loss = b.multiply(loss, factor);
  if (reduction == "none") return loss;
  const relax::ReduceAttrs all{.keepdims = false};
  const Var total = b.reduce(OpKind::reduce_sum, loss, all);
  if (reduction == "sum") return total;
  if (!factor.valid()) return b.reduce(OpKind::reduce_mean, loss, all);
  return b.divide(total, b.reduce(OpKind::reduce_sum, factor, all));
}

inline Status convert_nll_loss(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var input, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var target, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var weight, ctx.optional_input(2));
  KILN_ASSIGN_OR_RETURN(const Var loss, negative_log_likelihood(ctx, input, target, weight));
  return ctx.set_output(0, loss);
}

inline Status convert_softmax_cross_entropy(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var scores, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var labels, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var weight, ctx.optional_input(2));
  const Var log_prob = ctx.emit(OpKind::log_softmax, {scores}, relax::AxisAttrs{1});
  KILN_ASSIGN_OR_RETURN(const Var loss, negative_log_likelihood(ctx, log_prob, labels, weight));
  KILN_RETURN_IF_ERROR(ctx.set_output(0, loss));
  return ctx.set_output(1, log_prob);
}

inline constexpr ConverterEntry kLossConverters[] = {
    {"NegativeLogLikelihoodLoss", convert_nll_loss},
    {"SoftmaxCrossEntropyLoss", convert_softmax_cross_entropy},
};

} // namespace kiln::onnx::detail
