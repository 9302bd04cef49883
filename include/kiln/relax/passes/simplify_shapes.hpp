// kiln/relax/passes/simplify_shapes.hpp: shape computations folded into the types they describe.
//
//   shape_of(x) with every dim of x known, and any shape arithmetic whose elements are
//   all known numbers (the static tail of a symbolic shape)  -> a constant i64 tensor
//   reshape(x, s) / expand(x, s) where the elements of s are known, perhaps symbolically
//   (shape_of -> gather -> concat of a [batch, seq, 768] input)  -> reshape(x, shape=[batch*seq, 768])
//
// The second rule is what lets a module with symbolic dims drop the shape arithmetic an
// exporter wrote: the target becomes SymDim expressions, evaluated once the symbols are
// bound. The shape computations left unused go with dead code elimination.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "../../core/status.hpp"
#include "../../runtime/tensor.hpp"
#include "../known_contents.hpp"
#include "../module.hpp"
#include "../reference_eval.hpp"
#include "../rewrite.hpp"
#include "canonicalize.hpp"

namespace kiln::relax {
namespace detail {

// The constant a binding computes when its elements are all known numbers (shape_of of
// static dims, a slice or gather of those, arithmetic on them).
inline std::optional<Tensor> constant_from_contents(const Function& fn, const Binding& b) {
  if (b.outputs.size() != 1) return std::nullopt;
  const Value& v = fn.value(b.outputs[0]);
  if (!v.contents) return std::nullopt;
  for (const SymDim& d : *v.contents)
    if (!d.is_constant()) return std::nullopt;
  const std::optional<std::vector<std::int64_t>> dims = static_dims(v.type);
  if (!dims) return std::nullopt;
  Result<Tensor> t = Tensor::empty(v.type.dtype, std::span<const std::int64_t>(*dims));
  if (!t.ok() || t->numel() != static_cast<std::int64_t>(v.contents->size())) return std::nullopt;
  for (std::size_t i = 0; i < v.contents->size(); ++i)
    store_int(*t, static_cast<std::int64_t>(i), (*v.contents)[i].constant_value());
  return std::move(*t);
}

// A constant of `fn` for `t`, with its contents tracked.
inline ValueId add_folded_constant(Function& fn, Tensor t, const TensorType& type) {
  std::optional<Contents> contents = contents_of(t);
  const ValueId id = fn.add_constant(std::move(t), type);
  fn.value(id).contents = std::move(contents);
  return id;
}

// Turns a reshape or expand that reads its target from a tensor into the static form, when
// `known` says the target is known; the target becomes the output's own dims.
inline bool use_static_target(Function& fn, Binding& b, bool (*known)(const Function&, ValueId)) {
  if ((b.op != OpKind::reshape && b.op != OpKind::expand) || b.inputs.size() != 2) return false;
  if (!known(fn, b.inputs[1])) return false;
  ShapeAttrs attrs = reshape_to(fn.type(b.outputs[0]));
  if (b.op == OpKind::expand) attrs.allowzero = false;
  b.inputs.resize(1);
  b.attrs = attrs;
  return true;
}

} // namespace detail

inline void simplify_shapes(Function& fn) {
  Replacement replacement(fn);
  for (Block& block : fn.blocks) {
    for (Binding& b : block.bindings) {
      for (ValueId& in : b.inputs)
        if (in != kNoValue) in = replacement.resolve(in);
      if (std::optional<Tensor> known = detail::constant_from_contents(fn, b)) {
        const TensorType type = fn.type(b.outputs[0]);
        replacement.replace(b.outputs[0], detail::add_folded_constant(fn, std::move(*known), type));
        continue;
      }
      detail::use_static_target(fn, b, [](const Function& f, ValueId v) { return f.value(v).contents.has_value(); });
    }
  }
  replacement.apply(fn);
  compact(fn);
}

inline Status simplify_shapes(Module& module) {
  for (Function& fn : module.functions) simplify_shapes(fn);
  return {};
}

} // namespace kiln::relax
