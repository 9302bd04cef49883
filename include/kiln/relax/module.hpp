// kiln/relax/module.hpp: Module, the load-time form of a graph: functions of bindings over values.
//
// A function is SSA over values named by small integer ids (ValueId): its parameters, its
// constants (kiln::Tensors) and the outputs of its bindings `%v = op(args, attrs) : type`.
// Ids index `Function::values`, so a function copies, moves and is edited without any
// pointer to fix up. Bindings sit in blocks in an order where every input is defined
// before it is used; a dataflow block holds only pure ops, control flow (if, loop) sits in
// blocks of its own, and refers to other functions of the module by index.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/name.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/tensor.hpp"
#include "attributes.hpp"
#include "op_kind.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

using ValueId = std::int32_t;
// An optional input that is absent (a conv without bias).
inline constexpr ValueId kNoValue = -1;

enum class ValueKind : std::uint8_t { param, constant, binding };

// The elements of a small integer tensor, as dims (they are usually a shape).
using Contents = std::vector<SymDim>;

struct Value {
  ValueKind kind = ValueKind::binding;
  TensorType type;
  std::string name;  // a parameter's name, or an output's (the importer names them); else empty
  // A parameter's position, a constant's index in Function::constants, or which output of
  // its binding this value is.
  int index = 0;
  // For small 1-D or 0-D integer tensors whose elements are known at load time, perhaps
  // only symbolically (shape_of(x) is [batch, 3, 224, 224]): the elements. Reshapes and
  // expands read their target shapes from here.
  std::optional<Contents> contents;
};

struct Binding {
  OpKind op = OpKind::identity;
  std::vector<ValueId> inputs;  // kNoValue for an absent optional input
  Attrs attrs;
  std::vector<ValueId> outputs;
};

struct Block {
  bool dataflow = true;  // false for the blocks that hold control flow
  std::vector<Binding> bindings;
};

struct Function {
  std::string name;
  std::vector<Name> symbols;  // the shape variables its parameters' dims are written in
  std::vector<ValueId> params;
  std::vector<Tensor> constants;
  std::vector<Value> values;
  std::vector<Block> blocks;
  std::vector<ValueId> outputs;
  // Parameters (by position) whose values the function was built for, as ONNX's
  // ImportOptions::input_values fixes a shape fed through a graph input: a run with another
  // value would compute something else, so the VM refuses it.
  std::vector<std::pair<int, Tensor>> fixed_param_values;

  bool has_value(ValueId id) const noexcept { return id >= 0 && id < static_cast<ValueId>(values.size()); }
  const Value& value(ValueId id) const { return values[static_cast<std::size_t>(id)]; }
  Value& value(ValueId id) { return values[static_cast<std::size_t>(id)]; }
  const TensorType& type(ValueId id) const { return value(id).type; }

  // The constant a value holds, or null when it is not a constant.
  const Tensor* constant_of(ValueId id) const {
    if (!has_value(id) || value(id).kind != ValueKind::constant) return nullptr;
    return &constants[static_cast<std::size_t>(value(id).index)];
  }

  std::optional<ValueId> find_param(std::string_view param_name) const {
    for (ValueId p : params)
      if (value(p).name == param_name) return p;
    return std::nullopt;
  }

  // Adds a value and returns its id.
  ValueId add_value(Value v) {
    values.push_back(std::move(v));
    return static_cast<ValueId>(values.size() - 1);
  }
  ValueId add_constant(Tensor tensor, const TensorType& type) {
    Value v;
    v.kind = ValueKind::constant;
    v.type = type;
    v.index = static_cast<int>(constants.size());
    constants.push_back(std::move(tensor));
    return add_value(std::move(v));
  }

  int binding_count() const noexcept {
    int n = 0;
    for (const Block& b : blocks) n += static_cast<int>(b.bindings.size());
    return n;
  }

  // Calls fn(binding) for every binding, in order.
  template <class Fn>
  void for_each_binding(Fn&& fn) const {
    for (const Block& b : blocks)
      for (const Binding& binding : b.bindings) fn(binding);
  }
  template <class Fn>
  void for_each_binding(Fn&& fn) {
    for (Block& b : blocks)
      for (Binding& binding : b.bindings) fn(binding);
  }
};

struct Module {
  std::vector<Function> functions;  // functions[0] is the entry point

  const Function& main() const { return functions.front(); }
  Function& main() { return functions.front(); }

  std::optional<int> find_function(std::string_view function_name) const {
    for (std::size_t i = 0; i < functions.size(); ++i)
      if (functions[i].name == function_name) return static_cast<int>(i);
    return std::nullopt;
  }
};

// The TensorType of a constant tensor (its dims are all static).
inline Result<TensorType> type_of(const Tensor& t) {
  if (!t.defined()) return make_error(StatusCode::invalid_argument, "constant: the tensor is undefined");
  TensorType type;
  type.dtype = t.dtype();
  for (std::int64_t d : t.dims()) type.push_back(d);
  return type;
}

namespace detail {

inline Status check_ref(const Function& fn, ValueId id, const std::vector<char>& defined, std::string_view where) {
  if (!fn.has_value(id))
    return make_error(StatusCode::internal, "function ", fn.name, ": ", where, " refers to value ", id,
                      ", which does not exist");
  if (!defined[static_cast<std::size_t>(id)])
    return make_error(StatusCode::internal, "function ", fn.name, ": ", where, " uses value ", id,
                      " before it is defined");
  return {};
}

} // namespace detail

// Checks the invariants the passes rely on: every id exists, each value is defined once,
// before its uses; each binding holds the attributes of its op; control flow sits outside
// dataflow blocks and, when `function_count` is given, refers to functions that exist. A
// failure is a bug in whatever built or rewrote the function.
inline Status verify(const Function& fn, std::optional<int> function_count = std::nullopt) {
  std::vector<char> defined(fn.values.size(), 0);
  const auto define = [&](ValueId id, std::string_view what) -> Status {
    if (!fn.has_value(id))
      return make_error(StatusCode::internal, "function ", fn.name, ": ", what, " defines value ", id,
                        ", which does not exist");
    if (defined[static_cast<std::size_t>(id)])
      return make_error(StatusCode::internal, "function ", fn.name, ": value ", id, " is defined twice");
    defined[static_cast<std::size_t>(id)] = 1;
    return {};
  };
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    KILN_RETURN_IF_ERROR(define(fn.params[i], "a parameter"));
    if (fn.value(fn.params[i]).kind != ValueKind::param || fn.value(fn.params[i]).index != static_cast<int>(i))
      return make_error(StatusCode::internal, "function ", fn.name, ": parameter ", i, " is not marked as one");
  }
  for (std::size_t i = 0; i < fn.values.size(); ++i) {
    const Value& v = fn.values[i];
    if (v.kind != ValueKind::constant) continue;
    KILN_RETURN_IF_ERROR(define(static_cast<ValueId>(i), "a constant"));
    if (v.index < 0 || v.index >= static_cast<int>(fn.constants.size()))
      return make_error(StatusCode::internal, "function ", fn.name, ": constant ", v.index, " does not exist");
  }
  for (const Block& block : fn.blocks) {
    for (const Binding& b : block.bindings) {
      const std::string where = str_cat("a binding of ", to_string(b.op));
      for (ValueId in : b.inputs)
        if (in != kNoValue) KILN_RETURN_IF_ERROR(detail::check_ref(fn, in, defined, where));
      if (!attrs_fit(b.op, b.attrs))
        return make_error(StatusCode::internal, "function ", fn.name, ": ", where, " holds another op's attributes");
      if (block.dataflow && is_control_flow(b.op))
        return make_error(StatusCode::internal, "function ", fn.name, ": ", to_string(b.op),
                          " inside a dataflow block");
      const auto exists = [&](int f) { return !function_count || (f >= 0 && f < *function_count); };
      if (const auto* a = std::get_if<IfAttrs>(&b.attrs); a && (!exists(a->then_branch) || !exists(a->else_branch)))
        return make_error(StatusCode::internal, "function ", fn.name, ": if refers to a missing branch");
      if (const auto* a = std::get_if<LoopAttrs>(&b.attrs); a && !exists(a->body))
        return make_error(StatusCode::internal, "function ", fn.name, ": loop refers to a missing body");
      if (const auto* a = std::get_if<FusedAttrs>(&b.attrs); a && !exists(a->function))
        return make_error(StatusCode::internal, "function ", fn.name, ": fused refers to a missing function");
      for (ValueId out : b.outputs) KILN_RETURN_IF_ERROR(define(out, where));
    }
  }
  for (ValueId out : fn.outputs) KILN_RETURN_IF_ERROR(detail::check_ref(fn, out, defined, "an output"));
  return {};
}

inline Status verify(const Module& module) {
  if (module.functions.empty()) return make_error(StatusCode::internal, "module: no functions");
  for (const Function& fn : module.functions)
    KILN_RETURN_IF_ERROR(verify(fn, static_cast<int>(module.functions.size())));
  return {};
}

} // namespace kiln::relax
