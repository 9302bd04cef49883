// kiln/relax/passes/fold_constants.hpp: constant folding: a binding whose inputs are all
// constants becomes the constant it computes, when the reference evaluator can compute it.
//
// Also folded: shape_of of a value whose dims are all static (its result depends only on
// the type), and reshape/expand whose target shape is a constant tensor, which become the
// static form with an attribute. Heavy ops (conv, matmul, reductions) are left alone, as
// is any result with more than `max_elements` elements, so folding never bloats a module.
#pragma once

#include <cstdint>
#include <vector>

#include "../../core/status.hpp"
#include "../../runtime/tensor.hpp"
#include "../module.hpp"
#include "../reference_eval.hpp"
#include "../rewrite.hpp"
#include "simplify_shapes.hpp"

namespace kiln::relax {

struct FoldOptions {
  std::int64_t max_elements = std::int64_t{1} << 16;
};

inline void fold_constants(Function& fn, const FoldOptions& options = {}) {
  Replacement replacement(fn);
  for (Block& block : fn.blocks) {
    if (!block.dataflow) continue;
    for (Binding& b : block.bindings) {
      for (ValueId& in : b.inputs)
        if (in != kNoValue) in = replacement.resolve(in);
      if (std::optional<Tensor> shape = b.op == OpKind::shape_of ? detail::constant_from_contents(fn, b) : std::nullopt) {
        const TensorType type = fn.type(b.outputs[0]);
        replacement.replace(b.outputs[0], detail::add_folded_constant(fn, std::move(*shape), type));
        continue;
      }
      detail::use_static_target(fn, b, [](const Function& f, ValueId v) { return f.constant_of(v) != nullptr; });
      if (!is_pure(b.op) || b.inputs.empty() || b.outputs.size() != 1) continue;
      std::vector<Tensor> inputs;
      bool all_constant = true;
      for (ValueId in : b.inputs) {
        const Tensor* t = in == kNoValue ? nullptr : fn.constant_of(in);
        if (in != kNoValue && !t) all_constant = false;
        inputs.push_back(t ? *t : Tensor());
      }
      const TensorType type = fn.type(b.outputs[0]);
      if (!all_constant || !type.is_static() || type.element_count().constant_value() > options.max_elements)
        continue;
      Result<std::vector<Tensor>> folded = evaluate_reference(b.op, b.attrs, inputs, std::span<const TensorType>(&type, 1));
      if (!folded.ok()) continue;  // not something the evaluator does: leave the binding
      replacement.replace(b.outputs[0], detail::add_folded_constant(fn, std::move(folded->front()), type));
    }
  }
  replacement.apply(fn);
  compact(fn);
}

inline Status fold_constants(Module& module) {
  for (Function& fn : module.functions) fold_constants(fn);
  return {};
}

} // namespace kiln::relax
