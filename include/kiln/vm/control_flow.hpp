// kiln/vm/control_flow.hpp: how `if` and `loop` bindings load: each sub-function they call
// becomes an Executable of its own.
//
// The semantics are relax's (relax/infer_binding.hpp):
//   - if_then_else(condition, args...): condition is one bool; then_branch(args...) or
//     else_branch(args...) runs, and both return values of the same types.
//   - loop(trip_count, carried...): body(iteration, carried...) -> carried... runs trip_count
//     times (none when it is 0 or less), iteration being an i64[] counting from 0; each
//     carried value keeps its type. There is no condition output and there are no scan
//     outputs: a loop that stops early carries a bool flag and freezes its values with
//     `where` once the flag is false.
// At load, a sub-function is cut out of the module with everything it calls (sub_module)
// and loaded like the entry (passes, fusion, its own nested control flow); the checks here
// are those that need no shapes. The execution context prepares a child context per
// sub-function with the actual shapes and checks those (execution_context.hpp).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/module.hpp"

namespace kiln::vm {

// The module whose entry is function `entry` of `module`, with the functions it reaches
// (nested branches and bodies, fused calls), renumbered in the order they are found.
inline relax::Module sub_module(const relax::Module& module, int entry) {
  std::vector<int> new_index(module.functions.size(), -1);
  std::vector<int> order{entry};
  new_index[static_cast<std::size_t>(entry)] = 0;
  const auto reach = [&](int& f) {
    if (new_index[static_cast<std::size_t>(f)] < 0) {
      new_index[static_cast<std::size_t>(f)] = static_cast<int>(order.size());
      order.push_back(f);
    }
    f = new_index[static_cast<std::size_t>(f)];
  };
  relax::Module sub;
  for (std::size_t i = 0; i < order.size(); ++i) {
    relax::Function fn = module.functions[static_cast<std::size_t>(order[i])];
    fn.for_each_binding([&](relax::Binding& b) {
      if (auto* a = std::get_if<relax::IfAttrs>(&b.attrs)) {
        reach(a->then_branch);
        reach(a->else_branch);
      } else if (auto* l = std::get_if<relax::LoopAttrs>(&b.attrs)) {
        reach(l->body);
      } else if (auto* fused = std::get_if<relax::FusedAttrs>(&b.attrs)) {
        reach(fused->function);
      }
    });
    sub.functions.push_back(std::move(fn));
  }
  return sub;
}

// The functions function `f` calls: its branches, bodies and fused sub-functions.
inline std::vector<int> callees(const relax::Function& f) {
  std::vector<int> out;
  f.for_each_binding([&](const relax::Binding& b) {
    if (const auto* a = std::get_if<relax::IfAttrs>(&b.attrs)) {
      out.push_back(a->then_branch);
      out.push_back(a->else_branch);
    } else if (const auto* l = std::get_if<relax::LoopAttrs>(&b.attrs)) {
      out.push_back(l->body);
    } else if (const auto* fused = std::get_if<relax::FusedAttrs>(&b.attrs)) {
      out.push_back(fused->function);
    }
  });
  return out;
}

// Refuses a module whose entry reaches a function that calls itself, directly or not: every
// sub-function loads as an Executable of its own, so loading would never end.
inline Status check_no_recursion(const relax::Module& module) {
  enum : char { unseen, open, done };
  std::vector<char> state(module.functions.size(), unseen);
  // Depth-first, with an explicit stack of (function, next callee to visit).
  std::vector<std::pair<int, std::size_t>> stack{{0, 0}};
  std::vector<std::vector<int>> calls(module.functions.size());
  state[0] = open;
  calls[0] = callees(module.functions[0]);
  while (!stack.empty()) {
    auto& [f, next] = stack.back();
    const std::vector<int>& out = calls[static_cast<std::size_t>(f)];
    if (next == out.size()) {
      state[static_cast<std::size_t>(f)] = done;
      stack.pop_back();
      continue;
    }
    const int g = out[next++];
    if (g < 0 || g >= static_cast<int>(module.functions.size()))
      return make_error(StatusCode::internal, "@", module.functions[static_cast<std::size_t>(f)].name,
                        " calls function ", g, ", which does not exist");
    if (state[static_cast<std::size_t>(g)] == open)
      return make_error(StatusCode::unsupported, "@", module.functions[static_cast<std::size_t>(g)].name,
                        " calls itself through if, loop or fused calls; the VM does not run recursion");
    if (state[static_cast<std::size_t>(g)] == unseen) {
      state[static_cast<std::size_t>(g)] = open;
      calls[static_cast<std::size_t>(g)] = callees(module.functions[static_cast<std::size_t>(g)]);
      stack.emplace_back(g, 0);
    }
  }
  return {};
}

namespace detail {

// `callee` takes `args` (by value id in `fn`): as many, and of the same dtypes and ranks.
// The symbolic dims are the prepare's to check, on the actual shapes.
inline Status check_arguments(std::string_view op, const relax::Function& fn, std::span<const relax::ValueId> args,
                              const relax::Function& callee, std::size_t first_param = 0) {
  if (callee.params.size() != first_param + args.size())
    return make_error(StatusCode::invalid_argument, "@", callee.name, " takes ", callee.params.size(),
                      " parameters, the ", op, " passes ", first_param + args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == relax::kNoValue)
      return make_error(StatusCode::invalid_argument, "argument ", first_param + i, " is absent");
    const relax::TensorType& arg = fn.type(args[i]);
    const relax::TensorType& param = callee.type(callee.params[first_param + i]);
    if (arg.dtype != param.dtype || arg.rank != param.rank)
      return make_error(StatusCode::shape_mismatch, "parameter ", callee.value(callee.params[first_param + i]).name,
                        " of @", callee.name, " is ", relax::to_string(param), ", the ", op, " passes ",
                        relax::to_string(arg));
  }
  return {};
}

// `callee` returns one value per output of the binding, of its dtype and rank.
inline Status check_results(std::string_view op, const relax::Function& fn, const relax::Binding& b,
                            const relax::Function& callee) {
  if (callee.outputs.size() != b.outputs.size())
    return make_error(StatusCode::invalid_argument, "@", callee.name, " returns ", callee.outputs.size(),
                      " values, the ", op, " has ", b.outputs.size(), " outputs");
  for (std::size_t o = 0; o < b.outputs.size(); ++o) {
    const relax::TensorType& result = callee.type(callee.outputs[o]);
    const relax::TensorType& out = fn.type(b.outputs[o]);
    if (result.dtype != out.dtype || result.rank != out.rank)
      return make_error(StatusCode::shape_mismatch, "output ", o, " is ", relax::to_string(out), ", but @",
                        callee.name, " returns ", relax::to_string(result));
  }
  return {};
}

} // namespace detail

// What can be checked of an if_then_else binding of `fn` without shapes. Messages leave the
// binding and op to the caller's context ("%3 = if: ...").
inline Status check_if(const relax::Binding& b, const relax::Function& fn, const relax::Module& module) {
  const auto& attrs = std::get<relax::IfAttrs>(b.attrs);
  if (b.inputs.empty() || b.inputs[0] == relax::kNoValue)
    return make_error(StatusCode::invalid_argument, "the condition is missing");
  const relax::TensorType& condition = fn.type(b.inputs[0]);
  if (condition.dtype != DType::boolean)
    return make_error(StatusCode::dtype_mismatch, "the condition must be bool, got ", relax::to_string(condition));
  const std::span<const relax::ValueId> args = std::span<const relax::ValueId>(b.inputs).subspan(1);
  for (const int branch : {attrs.then_branch, attrs.else_branch}) {
    const relax::Function& callee = module.functions[static_cast<std::size_t>(branch)];
    KILN_RETURN_IF_ERROR(detail::check_arguments("if", fn, args, callee));
    KILN_RETURN_IF_ERROR(detail::check_results("if", fn, b, callee));
  }
  return {};
}

// What can be checked of a loop binding of `fn` without shapes; the forms relax cannot
// express (a condition output, scan outputs) are refused here with what the VM runs.
inline Status check_loop(const relax::Binding& b, const relax::Function& fn, const relax::Module& module) {
  const auto& attrs = std::get<relax::LoopAttrs>(b.attrs);
  const relax::Function& body = module.functions[static_cast<std::size_t>(attrs.body)];
  if (b.inputs.empty() || b.inputs[0] == relax::kNoValue)
    return make_error(StatusCode::invalid_argument, "the trip count is missing");
  const relax::TensorType& trip_count = fn.type(b.inputs[0]);
  if (!is_integer(trip_count.dtype))
    return make_error(StatusCode::dtype_mismatch, "the trip count must be an integer, got ",
                      relax::to_string(trip_count));
  const std::span<const relax::ValueId> carried = std::span<const relax::ValueId>(b.inputs).subspan(1);
  if (body.outputs.size() != carried.size() || b.outputs.size() != carried.size())
    return make_error(StatusCode::unsupported, "@", body.name, " returns ", body.outputs.size(),
                      " values and the loop has ", b.outputs.size(), " outputs for ", carried.size(),
                      " carried values; the VM runs body(iteration, carried...) -> carried... (no condition "
                      "output, no scan outputs)");
  if (body.params.empty())
    return make_error(StatusCode::invalid_argument, "@", body.name, " takes no iteration number");
  const relax::TensorType& iteration = body.type(body.params[0]);
  if (iteration.dtype != DType::i64 || iteration.rank != 0)
    return make_error(StatusCode::invalid_argument, "the first parameter of @", body.name,
                      " must be the iteration number, i64[], got ", relax::to_string(iteration));
  KILN_RETURN_IF_ERROR(detail::check_arguments("loop", fn, carried, body, 1));
  KILN_RETURN_IF_ERROR(detail::check_results("loop", fn, b, body));
  for (std::size_t i = 0; i < carried.size(); ++i) {
    const relax::TensorType& in = fn.type(carried[i]);
    const relax::TensorType& out = fn.type(b.outputs[i]);
    if (in.dtype != out.dtype || in.rank != out.rank)
      return make_error(StatusCode::shape_mismatch, "carried value ", i, " goes in as ", relax::to_string(in),
                        " and comes out as ", relax::to_string(out));
  }
  return {};
}

} // namespace kiln::vm
