// kiln/relax/passes/common_subexpr.hpp: common subexpression elimination: a binding that
// applies the same op with the same attributes to the same inputs as an earlier one is
// dropped, and its uses take the earlier binding's outputs. Equal constants merge too.
//
// Attributes compare by their canonical text (attributes.hpp), so `axis=-1` and the
// default axis of softmax are one. Calls of user kernels and control flow are left alone.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../attributes.hpp"
#include "../module.hpp"
#include "../rewrite.hpp"

namespace kiln::relax {
namespace detail {

// Whether two constants hold the same dtype, shape and bytes.
inline bool same_constant(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.rank() != b.rank() || !a.is_contiguous() || !b.is_contiguous()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (a.dim(i) != b.dim(i)) return false;
  return a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

// FNV-1a over a constant's bytes: buckets for same_constant.
inline std::uint64_t constant_hash(const Tensor& t) {
  std::uint64_t h = 1469598103934665603ull ^ static_cast<std::uint64_t>(t.dtype());
  if (!t.is_contiguous()) return h;
  const auto* p = static_cast<const unsigned char*>(t.data());
  for (std::size_t i = 0; i < t.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  for (std::int64_t d : t.dims()) h = (h ^ static_cast<std::uint64_t>(d)) * 1099511628211ull;
  return h;
}

} // namespace detail

inline void eliminate_common_subexpressions(Function& fn) {
  Replacement replacement(fn);
  std::unordered_map<std::uint64_t, std::vector<ValueId>> constants;
  for (std::size_t i = 0; i < fn.values.size(); ++i) {
    const auto id = static_cast<ValueId>(i);
    const Tensor* t = fn.constant_of(id);
    if (!t) continue;
    std::vector<ValueId>& bucket = constants[detail::constant_hash(*t)];
    bool merged = false;
    for (ValueId earlier : bucket) {
      if (detail::same_constant(*fn.constant_of(earlier), *t)) {
        replacement.replace(id, earlier);
        merged = true;
        break;
      }
    }
    if (!merged) bucket.push_back(id);
  }
  std::unordered_map<std::string, const Binding*> seen;
  for (const Block& block : fn.blocks) {
    for (const Binding& b : block.bindings) {
      if (!is_pure(b.op) || is_control_flow(b.op)) continue;
      std::string key = str_cat(to_string(b.op), "(");
      for (ValueId in : b.inputs) key += str_cat(replacement.resolve(in), ",");
      key += ")" + to_string(b.attrs);
      const auto [it, inserted] = seen.emplace(std::move(key), &b);
      if (inserted) continue;
      for (std::size_t i = 0; i < b.outputs.size(); ++i) replacement.replace(b.outputs[i], it->second->outputs[i]);
    }
  }
  if (replacement.empty()) return;
  replacement.apply(fn);
  std::vector<char> keep(fn.constants.size(), 1);
  for (std::size_t i = 0; i < fn.values.size(); ++i)
    if (fn.values[i].kind == ValueKind::constant && replacement.replaced(static_cast<ValueId>(i)))
      keep[static_cast<std::size_t>(fn.values[i].index)] = 0;
  drop_constants(fn, keep);
  compact(fn);
}

inline Status common_subexpression_elimination(Module& module) {
  for (Function& fn : module.functions) eliminate_common_subexpressions(fn);
  return {};
}

} // namespace kiln::relax
