// kiln/relax/passes/canonicalize.hpp: local rewrites that remove work that does nothing.
//
//   x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0   -> x   (a one-element constant, no broadcast growth)
//   identity(x), cast(x) to x's dtype           -> x
//   transpose(transpose(x, p), q)               -> transpose(x, p o q), or x when that is the identity
//   reshape(reshape(x)) (flatten, squeeze, ...) -> one reshape of x
//   reshape, flatten, squeeze, unsqueeze, expand, transpose that keep x's type and order -> x
//
// Bindings whose outputs are replaced are dropped; inputs they leave unused are left for
// dead code elimination.
#pragma once

#include <vector>

#include "../../core/status.hpp"
#include "../module.hpp"
#include "../reference_eval.hpp"
#include "../rewrite.hpp"

namespace kiln::relax {
namespace detail {

// Whether `id` is a one-element constant equal to `value`.
inline bool is_scalar_constant(const Function& fn, ValueId id, double value) {
  const Tensor* t = fn.constant_of(id);
  if (!t || t->numel() != 1 || t->dtype() == DType::boolean) return false;
  return load_real(*t, 0) == value;
}

// A permutation with the empty "reverse" form spelled out.
inline Ints explicit_perm(const Ints& perm, int rank) {
  Ints out;
  for (int i = 0; i < rank; ++i) {
    std::int64_t p = perm.empty() ? rank - 1 - i : perm[i];
    out.push_back(p < 0 ? p + rank : p);
  }
  return out;
}

inline bool is_identity_perm(const Ints& perm) {
  for (int i = 0; i < perm.size(); ++i)
    if (perm[i] != i) return false;
  return true;
}

constexpr bool is_reshape_like(OpKind op) noexcept {
  return op == OpKind::reshape || op == OpKind::flatten || op == OpKind::squeeze || op == OpKind::unsqueeze;
}

// The static reshape to `t`: its dims as the target, 0 meaning 0.
inline ShapeAttrs reshape_to(const TensorType& t) {
  ShapeAttrs a;
  for (int i = 0; i < t.rank; ++i) {
    a.shape.push_back(t.dims[i]);
    a.allowzero = a.allowzero || t.dims[i].is_constant(0);
  }
  return a;
}

// The value `b` can be replaced by, or kNoValue.
inline ValueId trivial_result(const Function& fn, const Binding& b) {
  if (b.outputs.size() != 1 || b.inputs.empty() || b.inputs[0] == kNoValue) return kNoValue;
  const TensorType& out = fn.type(b.outputs[0]);
  const ValueId x = b.inputs[0];
  const auto keeps_type = [&](ValueId v) { return v != kNoValue && fn.type(v) == out; };
  switch (b.op) {
    case OpKind::identity: return x;
    case OpKind::cast:
    case OpKind::reshape:
    case OpKind::flatten:
    case OpKind::squeeze:
    case OpKind::unsqueeze:
    case OpKind::expand: return keeps_type(x) ? x : kNoValue;
    case OpKind::transpose:
      return keeps_type(x) && is_identity_perm(explicit_perm(std::get<PermAttrs>(b.attrs).perm, out.rank)) ? x
                                                                                                          : kNoValue;
    case OpKind::multiply:
      if (is_scalar_constant(fn, b.inputs[1], 1.0) && keeps_type(x)) return x;
      if (is_scalar_constant(fn, x, 1.0) && keeps_type(b.inputs[1])) return b.inputs[1];
      return kNoValue;
    case OpKind::add:
      if (is_scalar_constant(fn, b.inputs[1], 0.0) && keeps_type(x)) return x;
      if (is_scalar_constant(fn, x, 0.0) && keeps_type(b.inputs[1])) return b.inputs[1];
      return kNoValue;
    case OpKind::subtract: return is_scalar_constant(fn, b.inputs[1], 0.0) && keeps_type(x) ? x : kNoValue;
    case OpKind::divide: return is_scalar_constant(fn, b.inputs[1], 1.0) && keeps_type(x) ? x : kNoValue;
    default: return kNoValue;
  }
}

} // namespace detail

inline void canonicalize(Function& fn) {
  Replacement replacement(fn);
  // The binding that defines each value, for patterns that look through their inputs.
  std::vector<const Binding*> producer(fn.values.size(), nullptr);
  for (Block& block : fn.blocks) {
    for (Binding& b : block.bindings) {
      for (ValueId& in : b.inputs)
        if (in != kNoValue) in = replacement.resolve(in);
      const Binding* inner = b.inputs.empty() || b.inputs[0] == kNoValue
                                 ? nullptr
                                 : producer[static_cast<std::size_t>(b.inputs[0])];
      // Two transposes compose into one: out[i] = x[p[q[i]]].
      if (b.op == OpKind::transpose && inner && inner->op == OpKind::transpose) {
        const int rank = fn.type(b.outputs[0]).rank;
        const Ints p = detail::explicit_perm(std::get<PermAttrs>(inner->attrs).perm, rank);
        const Ints q = detail::explicit_perm(std::get<PermAttrs>(b.attrs).perm, rank);
        Ints composed;
        for (int i = 0; i < rank; ++i) composed.push_back(p[static_cast<int>(q[i])]);
        b.inputs = {inner->inputs[0]};
        b.attrs = PermAttrs{composed};
      }
      // Reshapes of reshapes: only the last target matters.
      if (detail::is_reshape_like(b.op) && inner && detail::is_reshape_like(inner->op)) {
        b.op = OpKind::reshape;
        b.inputs = {inner->inputs[0]};
        b.attrs = detail::reshape_to(fn.type(b.outputs[0]));
      }
      if (const ValueId to = detail::trivial_result(fn, b); to != kNoValue) {
        replacement.replace(b.outputs[0], to);
        continue;
      }
      for (ValueId out : b.outputs) producer[static_cast<std::size_t>(out)] = &b;
    }
  }
  replacement.apply(fn);
  compact(fn);
}

inline Status canonicalize(Module& module) {
  for (Function& fn : module.functions) canonicalize(fn);
  return {};
}

} // namespace kiln::relax
