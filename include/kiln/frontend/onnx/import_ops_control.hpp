// kiln/frontend/onnx/import_ops_control.hpp: ONNX's If and Loop as relax's if and loop, whose
// branches and body are sub-functions of the module.
//
// A subgraph reads values of the graphs around it freely; a relax sub-function sees only its
// arguments. So every outer value a subgraph reads becomes a parameter (passed by the if or
// loop binding; a loop carries it through unchanged), or a constant copied in when it is one.
//
// relax's loop runs its body a trip count of times and has no early exit and no scan
// outputs, so a Loop is imported when its body's condition output is the condition input
// passed through (or a constant true). A run-time initial condition is honoured by running
// zero iterations when it is false. Scan outputs become carried buffers, one row written per
// iteration, which needs the trip count known at load time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline Result<const GraphProto*> graph_attr(const NodeContext& ctx, std::string_view name) {
  const AttributeProto* a = ctx.attr(name);
  if (a == nullptr || !a->g) return ctx.invalid("the graph attribute '", name, "' is required");
  return a->g.get();
}

// Imports a branch of an If: no inputs of its own, the captures as parameters.
inline Result<relax::Module> import_branch(NodeContext& ctx, const GraphProto& graph, std::span<const Capture> captures,
                                           std::string name) {
  GraphImporter sub(ctx.graph().model(), &ctx.graph(), std::move(name));
  KILN_RETURN_IF_ERROR(sub.declare_captures(captures));
  KILN_RETURN_IF_ERROR(sub.import_initializers(graph));
  if (!graph.input.empty()) return ctx.invalid("an If branch must have no inputs, it has ", graph.input.size());
  KILN_RETURN_IF_ERROR(sub.import_nodes(graph));
  KILN_ASSIGN_OR_RETURN(std::vector<Var> outputs, sub.outputs(graph));
  return sub.finish(graph, std::move(outputs));
}

inline std::vector<Var> runtime_arguments(std::span<const Capture> captures) {
  std::vector<Var> args;
  for (const Capture& c : captures)
    if (!c.constant) args.push_back(c.outer);
  return args;
}

inline Status convert_if(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var condition, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const GraphProto* then_graph, graph_attr(ctx, "then_branch"));
  KILN_ASSIGN_OR_RETURN(const GraphProto* else_graph, graph_attr(ctx, "else_branch"));
  const GraphProto* branches[] = {then_graph, else_graph};
  KILN_ASSIGN_OR_RETURN(const std::vector<Capture> captures, GraphImporter::captures_of(branches, ctx.graph()));
  Result<relax::Module> then_module = import_branch(ctx, *then_graph, captures, "then_branch");
  if (!then_module.ok()) return std::move(then_module).status().with_context("then_branch");
  Result<relax::Module> else_module = import_branch(ctx, *else_graph, captures, "else_branch");
  if (!else_module.ok()) return std::move(else_module).status().with_context("else_branch");
  const std::vector<Var> args = runtime_arguments(captures);
  const std::vector<Var> outputs =
      ctx.b().if_then_else(condition, std::move(*then_module), std::move(*else_module), args);
  KILN_RETURN_IF_ERROR(ctx.status());
  if (outputs.size() != static_cast<std::size_t>(ctx.output_count()))
    return ctx.invalid("the branches return ", outputs.size(), " values, the node has ", ctx.output_count(),
                       " outputs");
  for (std::size_t i = 0; i < outputs.size(); ++i) KILN_RETURN_IF_ERROR(ctx.set_output(static_cast<int>(i), outputs[i]));
  return {};
}

inline Status convert_loop(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const GraphProto* body, graph_attr(ctx, "body"));
  const int carried = ctx.input_count() - 2;
  if (carried < 0) return ctx.invalid("needs the trip count and condition inputs (either may be empty)");
  if (body->input.size() != static_cast<std::size_t>(carried + 2))
    return ctx.invalid("the body takes ", body->input.size(), " inputs, expected ", carried + 2);
  if (body->output.size() < static_cast<std::size_t>(carried + 1))
    return ctx.invalid("the body returns ", body->output.size(), " values, expected at least ", carried + 1);
  const int scans = static_cast<int>(body->output.size()) - (carried + 1);
  if (!ctx.has_input(0))
    return ctx.unsupported("a loop without a trip count (a while loop) is not supported: relax's loop has no early exit");
  KILN_ASSIGN_OR_RETURN(Var trip_count, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  bool runs = true;  // whether the initial condition is known to hold
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(const Var condition, ctx.input(1));
    const std::optional<Tensor> known = ctx.known_value(condition);
    runs = known && !NodeContext::reals_of(*known).empty() && NodeContext::reals_of(*known)[0] != 0.0;
    if (!runs) {
      // Zero iterations unless the initial condition holds.
      const Var zero = ctx.scalar(ctx.dtype(trip_count), 0);
      trip_count = b.where(condition, trip_count, zero);
    }
  }
  // Scan outputs stack one value per iteration: they become carried buffers of the trip
  // count's length, each iteration writing its row, so the trip count must be known.
  std::int64_t iterations = 0;
  if (scans > 0) {
    const std::optional<Tensor> known = ctx.known_value(trip_count);
    if (!known || known->numel() != 1 || !runs)
      return ctx.unsupported("scan outputs need the trip count and the initial condition known at load time");
    iterations = static_cast<std::int64_t>(NodeContext::reals_of(*known)[0]);
  }
  std::vector<Var> initial;
  for (int i = 0; i < carried; ++i) {
    KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(2 + i));
    initial.push_back(v);
  }
  const GraphProto* graphs[] = {body};
  KILN_ASSIGN_OR_RETURN(const std::vector<Capture> captures, GraphImporter::captures_of(graphs, ctx.graph()));

  GraphImporter sub(ctx.graph().model(), &ctx.graph(), "loop_body");
  relax::Builder& sb = sub.builder();
  const Var iteration =
      sb.input(body->input[0].name.empty() ? "iteration" : body->input[0].name, relax::TensorType(DType::i64, {}));
  sub.define(body->input[0].name, iteration);
  // The condition is true in every iteration that runs.
  Result<Tensor> truth = Tensor::empty(DType::boolean, std::span<const std::int64_t>{});
  if (!truth.ok()) return std::move(truth).status();
  NodeContext::store(*truth, 0, 1.0);
  const Var condition_in = sb.constant(std::move(*truth));
  if (!body->input[1].name.empty()) sub.define(body->input[1].name, condition_in);
  for (int i = 0; i < carried; ++i) {
    const std::string& name = body->input[static_cast<std::size_t>(2 + i)].name;
    sub.define(name, sb.input(name, ctx.type(initial[static_cast<std::size_t>(i)])));
  }
  KILN_RETURN_IF_ERROR(sb.status());
  KILN_RETURN_IF_ERROR(sub.declare_captures(captures));
  KILN_RETURN_IF_ERROR(sub.import_initializers(*body));
  KILN_RETURN_IF_ERROR(sub.import_nodes(*body).with_context("body"));
  KILN_ASSIGN_OR_RETURN(std::vector<Var> body_outputs, sub.outputs(*body));
  const std::optional<Tensor> condition_out = sub.known_value(body_outputs[0]);
  if (!condition_out || NodeContext::reals_of(*condition_out).empty() || NodeContext::reals_of(*condition_out)[0] == 0.0)
    return ctx.unsupported("the body computes its condition output: relax's loop has no early exit");
  std::vector<std::string> names;
  std::vector<Var> returned;
  for (int i = 0; i < carried; ++i) {
    names.push_back(body->output[static_cast<std::size_t>(1 + i)].name);
    returned.push_back(body_outputs[static_cast<std::size_t>(1 + i)]);
  }
  // Captured values ride along as carried values the body returns unchanged.
  std::vector<Var> args = initial;
  for (const Capture& c : captures) {
    if (c.constant) continue;
    KILN_ASSIGN_OR_RETURN(const Var inner, sub.lookup(c.name));
    names.push_back(c.name);
    returned.push_back(inner);
    args.push_back(c.outer);
  }
  // Each scan buffer [iterations, value dims...] starts as zeros; iteration i scatters its
  // value into row i.
  for (int k = 0; k < scans; ++k) {
    const Var value = body_outputs[static_cast<std::size_t>(1 + carried + k)];
    KILN_RETURN_IF_ERROR(sb.status());
    const relax::TensorType vt = sub.type(value);
    relax::TensorType buffer_type = vt.with_no_dims();
    buffer_type.push_back(iterations);
    for (int a = 0; a < vt.rank; ++a) buffer_type.push_back(vt.dims[a]);
    const std::string& name = body->output[static_cast<std::size_t>(1 + carried + k)].name;
    const Var buffer = sb.input(str_cat(name, "_scan"), buffer_type);
    const Var row = sb.reshape(iteration, relax::Dims{1, 1});
    names.push_back(name);
    returned.push_back(sb.emit(OpKind::scatter_nd, {buffer, row, sb.unsqueeze(value, {0})}));
    args.push_back(b.expand(ctx.scalar(vt.dtype, 0), dims_of(buffer_type)));
  }
  KILN_RETURN_IF_ERROR(sb.status());
  KILN_ASSIGN_OR_RETURN(relax::Module body_module, sub.finish(names, std::move(returned)));
  const std::vector<Var> finals = b.loop(trip_count, std::move(body_module), args);
  KILN_RETURN_IF_ERROR(ctx.status());
  for (int i = 0; i < carried; ++i) KILN_RETURN_IF_ERROR(ctx.set_output(i, finals[static_cast<std::size_t>(i)]));
  for (int k = 0; k < scans; ++k)
    KILN_RETURN_IF_ERROR(ctx.set_output(carried + k, finals[finals.size() - static_cast<std::size_t>(scans - k)]));
  return {};
}

inline constexpr ConverterEntry kControlConverters[] = {
    {"If", convert_if},
    {"Loop", convert_loop},
};

} // namespace kiln::onnx::detail
