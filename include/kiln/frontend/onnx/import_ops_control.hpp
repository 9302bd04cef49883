// kiln/frontend/onnx/import_ops_control.hpp: ONNX's If, Loop and Scan as relax's if and loop,
// whose branches and body are sub-functions of the module.
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

// A loop body's captured run-time values ride along as carried values it returns unchanged:
// each gets a name, the body's value to return and the outer value to start from.
inline Status carry_captures(const GraphImporter& body, std::span<const Capture> captures,
                             std::vector<std::string>& names, std::vector<Var>& returned, std::vector<Var>& args) {
  for (const Capture& c : captures) {
    if (c.constant) continue;
    KILN_ASSIGN_OR_RETURN(const Var inner, body.lookup(c.name));
    names.push_back(c.name);
    returned.push_back(inner);
    args.push_back(c.outer);
  }
  return {};
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

// A Loop that carries a sequence or optional, which exist only while importing: the body is
// imported once per iteration, so the trip count must be known at load time; a condition
// the body computes must be known too, and ends the unrolling when false.
inline Status unroll_loop(NodeContext& ctx, const GraphProto& body, int carried, int scans) {
  std::optional<Tensor> trips;
  if (ctx.has_input(0)) {
    KILN_ASSIGN_OR_RETURN(const Var trip_count, ctx.input(0));
    trips = ctx.known_value(trip_count);
  }
  if (!trips || trips->numel() != 1)
    return ctx.unsupported("a loop that carries a sequence or optional needs its trip count known at load time");
  const auto iterations = static_cast<std::int64_t>(NodeContext::reals_of(*trips)[0]);
  bool running = true;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(const Var condition, ctx.input(1));
    const std::optional<Tensor> known = ctx.known_value(condition);
    if (!known || known->numel() != 1) return ctx.unsupported("the loop's condition must be known at load time");
    running = NodeContext::reals_of(*known)[0] != 0.0;
  }
  std::vector<ImportedValue> state;
  for (int i = 0; i < carried; ++i) {
    KILN_ASSIGN_OR_RETURN(ImportedValue v, ctx.value_input(2 + i));
    state.push_back(std::move(v));
  }
  std::vector<std::vector<Var>> scanned(static_cast<std::size_t>(scans));
  for (std::int64_t k = 0; running && k < iterations; ++k) {
    std::vector<ImportedValue> args{ctx.scalar(DType::i64, static_cast<double>(k)), ctx.scalar(DType::boolean, 1.0)};
    args.insert(args.end(), state.begin(), state.end());
    Result<std::vector<ImportedValue>> out = ctx.graph().inline_graph(body, args);
    if (!out.ok()) return std::move(out).status().with_context(str_cat("body, iteration ", k));
    const Var* condition = std::get_if<Var>(&(*out)[0]);
    const std::optional<Tensor> known = condition ? ctx.known_value(*condition) : std::nullopt;
    if (!known || known->numel() != 1)
      return ctx.unsupported("the body's condition output must be known at load time in a loop that carries a sequence");
    running = NodeContext::reals_of(*known)[0] != 0.0;
    for (int i = 0; i < carried; ++i) state[static_cast<std::size_t>(i)] = (*out)[static_cast<std::size_t>(1 + i)];
    for (int j = 0; j < scans; ++j) {
      const Var* v = std::get_if<Var>(&(*out)[static_cast<std::size_t>(1 + carried + j)]);
      if (v == nullptr) return ctx.unsupported("scan output ", j, " is not a tensor");
      scanned[static_cast<std::size_t>(j)].push_back(ctx.b().unsqueeze(*v, relax::Ints{0}));
    }
  }
  for (int i = 0; i < carried; ++i) KILN_RETURN_IF_ERROR(ctx.set_value_output(i, state[static_cast<std::size_t>(i)]));
  for (int j = 0; j < scans; ++j) {
    const std::vector<Var>& rows = scanned[static_cast<std::size_t>(j)];
    if (rows.empty()) return ctx.unsupported("scan output ", j, " of a loop that runs no iteration has no shape");
    KILN_RETURN_IF_ERROR(ctx.set_output(carried + j, rows.size() == 1 ? rows[0] : ctx.b().concat(rows, 0)));
  }
  return ctx.status();
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
  for (int i = 0; i < carried; ++i) {
    KILN_ASSIGN_OR_RETURN(const ImportedValue v, ctx.value_input(2 + i));
    if (!std::holds_alternative<Var>(v)) return unroll_loop(ctx, *body, carried, scans);
  }
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
  std::vector<Var> args = initial;
  KILN_RETURN_IF_ERROR(carry_captures(sub, captures, names, returned, args));
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

// Scan: a loop over the scan axis (its length known at load time). The scan inputs are
// carried through unchanged and each iteration gathers its slice; the scan outputs are
// carried buffers, as Loop's are. Opset 8's leading batch axis must have extent 1.
inline Status convert_scan(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const GraphProto* body, graph_attr(ctx, "body"));
  const std::int64_t scan_inputs = ctx.attr_int("num_scan_inputs", 0);
  const bool batched = ctx.opset() < 9;  // opset 8: sequence_lens first, inputs [batch, sequence, ...]
  const int first = batched ? 1 : 0;
  if (batched && ctx.has_input(0)) return ctx.unsupported("sequence_lens is not supported");
  const int states = ctx.input_count() - first - static_cast<int>(scan_inputs);
  if (scan_inputs < 1 || states < 0) return ctx.invalid("num_scan_inputs ", scan_inputs, " does not fit ", ctx.input_count(), " inputs");
  const int scan_outputs = ctx.output_count() - states;
  if (body->input.size() != static_cast<std::size_t>(states + scan_inputs) ||
      body->output.size() != static_cast<std::size_t>(ctx.output_count()) || scan_outputs < 0)
    return ctx.invalid("the body's inputs and outputs do not match the node's");
  relax::Builder& b = ctx.b();
  const auto axis_list = [&](std::string_view name, std::size_t count) {
    std::vector<std::int64_t> v = ctx.attr_ints(name);
    v.resize(count, 0);
    return v;
  };
  std::vector<std::int64_t> in_axes = axis_list("scan_input_axes", static_cast<std::size_t>(scan_inputs));
  const std::vector<std::int64_t> in_reverse = axis_list(batched ? "directions" : "scan_input_directions", static_cast<std::size_t>(scan_inputs));
  std::vector<std::int64_t> out_axes = axis_list("scan_output_axes", static_cast<std::size_t>(scan_outputs));
  const std::vector<std::int64_t> out_reverse = axis_list("scan_output_directions", static_cast<std::size_t>(scan_outputs));
  // The states and the scan inputs, without opset 8's batch axis.
  std::vector<Var> initial, sequences;
  for (int i = 0; i < states + static_cast<int>(scan_inputs); ++i) {
    KILN_ASSIGN_OR_RETURN(Var v, ctx.input(first + i));
    KILN_RETURN_IF_ERROR(ctx.status());
    if (batched) {
      if (ctx.rank(v) < 1 || !ctx.type(v).dims[0].is_constant(1)) return ctx.unsupported("opset 8 Scan needs a batch of 1");
      v = b.squeeze(v, {0});
    }
    (i < states ? initial : sequences).push_back(v);
  }
  std::int64_t length = -1;
  for (std::size_t k = 0; k < sequences.size(); ++k) {
    const relax::TensorType t = ctx.type(sequences[k]);
    if (in_axes[k] < 0) in_axes[k] += t.rank;
    if (in_axes[k] < 0 || in_axes[k] >= t.rank) return ctx.invalid("scan input axis ", in_axes[k], " is out of range");
    const relax::SymDim& extent = t.dims[in_axes[k]];
    if (!extent.is_constant()) return ctx.unsupported("the scan length must be known at load time, got ", to_string(t));
    if (length >= 0 && extent.constant_value() != length) return ctx.invalid("the scan inputs have different lengths");
    length = extent.constant_value();
  }
  const GraphProto* graphs[] = {body};
  KILN_ASSIGN_OR_RETURN(const std::vector<Capture> captures, GraphImporter::captures_of(graphs, ctx.graph()));

  GraphImporter sub(ctx.graph().model(), &ctx.graph(), "scan_body");
  relax::Builder& sb = sub.builder();
  const Var iteration = sb.input("iteration", relax::TensorType(DType::i64, {}));
  for (int i = 0; i < states; ++i) {
    const std::string& name = body->input[static_cast<std::size_t>(i)].name;
    sub.define(name, sb.input(name, ctx.type(initial[static_cast<std::size_t>(i)])));
  }
  std::vector<Var> whole;  // the scan inputs inside the body
  for (std::size_t k = 0; k < sequences.size(); ++k) {
    const std::string& name = body->input[static_cast<std::size_t>(states) + k].name;
    whole.push_back(sb.input(str_cat(name, "_sequence"), ctx.type(sequences[k])));
  }
  // The position an iteration reads or writes: the iteration, or counted from the end.
  Result<Tensor> last_position = Tensor::empty(DType::i64, std::span<const std::int64_t>{});
  if (!last_position.ok()) return std::move(last_position).status();
  NodeContext::store(*last_position, 0, static_cast<double>(length - 1));
  const Var last = sb.constant(std::move(*last_position));
  const auto step_of = [&](bool reverse) { return reverse ? sb.subtract(last, iteration) : iteration; };
  for (std::size_t k = 0; k < sequences.size(); ++k)
    sub.define(body->input[static_cast<std::size_t>(states) + k].name,
               sb.gather(whole[k], step_of(in_reverse[k] != 0), in_axes[k]));
  KILN_RETURN_IF_ERROR(sb.status());
  KILN_RETURN_IF_ERROR(sub.declare_captures(captures));
  KILN_RETURN_IF_ERROR(sub.import_initializers(*body));
  KILN_RETURN_IF_ERROR(sub.import_nodes(*body).with_context("body"));
  KILN_ASSIGN_OR_RETURN(std::vector<Var> body_outputs, sub.outputs(*body));
  std::vector<std::string> names;
  std::vector<Var> returned, args;
  for (int i = 0; i < states; ++i) {
    names.push_back(body->output[static_cast<std::size_t>(i)].name);
    returned.push_back(body_outputs[static_cast<std::size_t>(i)]);
    args.push_back(initial[static_cast<std::size_t>(i)]);
  }
  for (std::size_t k = 0; k < sequences.size(); ++k) {
    names.push_back(str_cat(body->input[static_cast<std::size_t>(states) + k].name, "_sequence"));
    returned.push_back(whole[k]);
    args.push_back(sequences[k]);
  }
  KILN_RETURN_IF_ERROR(carry_captures(sub, captures, names, returned, args));
  std::vector<relax::TensorType> slice_types;
  for (int k = 0; k < scan_outputs; ++k) {
    const Var value = body_outputs[static_cast<std::size_t>(states + k)];
    KILN_RETURN_IF_ERROR(sb.status());
    const relax::TensorType vt = sub.type(value);
    slice_types.push_back(vt);
    relax::TensorType buffer_type = vt.with_no_dims();
    buffer_type.push_back(length);
    for (int a = 0; a < vt.rank; ++a) buffer_type.push_back(vt.dims[a]);
    const std::string& name = body->output[static_cast<std::size_t>(states + k)].name;
    const Var buffer = sb.input(str_cat(name, "_scan"), buffer_type);
    const Var row = sb.reshape(step_of(out_reverse[static_cast<std::size_t>(k)] != 0), relax::Dims{1, 1});
    names.push_back(name);
    returned.push_back(sb.emit(OpKind::scatter_nd, {buffer, row, sb.unsqueeze(value, {0})}));
    args.push_back(b.expand(ctx.scalar(vt.dtype, 0), dims_of(buffer_type)));
  }
  KILN_RETURN_IF_ERROR(sb.status());
  KILN_ASSIGN_OR_RETURN(relax::Module body_module, sub.finish(names, std::move(returned)));
  const Var trip_count = ctx.scalar(DType::i64, static_cast<double>(length));
  const std::vector<Var> finals = b.loop(trip_count, std::move(body_module), args);
  KILN_RETURN_IF_ERROR(ctx.status());
  const auto restore_batch = [&](Var v) { return batched ? b.unsqueeze(v, {0}) : v; };
  for (int i = 0; i < states; ++i) KILN_RETURN_IF_ERROR(ctx.set_output(i, restore_batch(finals[static_cast<std::size_t>(i)])));
  for (int k = 0; k < scan_outputs; ++k) {
    Var y = finals[finals.size() - static_cast<std::size_t>(scan_outputs - k)];
    std::int64_t axis = out_axes[static_cast<std::size_t>(k)];
    const int rank = slice_types[static_cast<std::size_t>(k)].rank + 1;
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.invalid("scan output axis ", out_axes[static_cast<std::size_t>(k)], " is out of range");
    if (axis != 0) {
      // The stacking axis moves from the front to `axis`.
      relax::Ints perm;
      for (int a = 1; a < rank; ++a) {
        if (a - 1 == axis) perm.push_back(0);
        perm.push_back(a);
      }
      if (axis == rank - 1) perm.push_back(0);
      y = b.transpose(y, perm);
    }
    KILN_RETURN_IF_ERROR(ctx.set_output(states + k, restore_batch(y)));
  }
  return {};
}

inline constexpr ConverterEntry kControlConverters[] = {
    {"Scan", convert_scan},
    {"If", convert_if},
    {"Loop", convert_loop},
};

} // namespace kiln::onnx::detail
