// kiln/relax/rewrite.hpp: the edits passes make to a function: replacing values, dropping
// bindings, and compacting the value table afterwards.
//
// A pass decides, for some values, another value that computes the same thing (CSE: an
// earlier duplicate; canonicalization: the input of x*1; folding: a new constant). A
// Replacement records those decisions; apply() points every use at the replacement and
// drops the bindings whose outputs were all replaced, and compact() renumbers the values
// that are left so ids stay dense and in definition order.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "module.hpp"

namespace kiln::relax {

class Replacement {
 public:
  explicit Replacement(const Function& fn) : to_(fn.values.size(), kNoValue) {}

  // From now on `from` is computed by `to`, which is defined before every use of `from`.
  void replace(ValueId from, ValueId to) {
    grow(from);
    to_[static_cast<std::size_t>(from)] = to;
  }

  // What `id` stands for after the replacements (following chains).
  ValueId resolve(ValueId id) const {
    while (id >= 0 && static_cast<std::size_t>(id) < to_.size() && to_[static_cast<std::size_t>(id)] != kNoValue)
      id = to_[static_cast<std::size_t>(id)];
    return id;
  }
  bool replaced(ValueId id) const { return resolve(id) != id; }
  bool empty() const {
    for (ValueId t : to_)
      if (t != kNoValue) return false;
    return true;
  }

  // Rewrites every use in `fn` and drops the bindings whose outputs were all replaced.
  void apply(Function& fn) const {
    for (Block& block : fn.blocks) {
      std::vector<Binding> kept;
      kept.reserve(block.bindings.size());
      for (Binding& b : block.bindings) {
        bool all_replaced = !b.outputs.empty();
        for (ValueId out : b.outputs) all_replaced = all_replaced && replaced(out);
        if (all_replaced) continue;
        for (ValueId& in : b.inputs)
          if (in != kNoValue) in = resolve(in);
        kept.push_back(std::move(b));
      }
      block.bindings = std::move(kept);
    }
    for (ValueId& out : fn.outputs) out = resolve(out);
  }

 private:
  void grow(ValueId id) {
    if (static_cast<std::size_t>(id) >= to_.size()) to_.resize(static_cast<std::size_t>(id) + 1, kNoValue);
  }
  std::vector<ValueId> to_;
};

// Renumbers the values of `fn`: parameters, then constants, then binding outputs in
// definition order; values nothing defines any more are dropped, as are empty blocks, and
// neighbouring blocks of one kind are merged. Constants keep their indices.
inline void compact(Function& fn) {
  std::vector<ValueId> new_id(fn.values.size(), kNoValue);
  std::vector<Value> values;
  values.reserve(fn.values.size());
  const auto keep = [&](ValueId id) {
    if (!fn.has_value(id) || new_id[static_cast<std::size_t>(id)] != kNoValue) return;
    new_id[static_cast<std::size_t>(id)] = static_cast<ValueId>(values.size());
    values.push_back(std::move(fn.value(id)));
  };
  for (ValueId p : fn.params) keep(p);
  for (std::size_t i = 0; i < fn.values.size(); ++i)
    if (fn.values[i].kind == ValueKind::constant) keep(static_cast<ValueId>(i));
  fn.for_each_binding([&](const Binding& b) {
    for (ValueId out : b.outputs) keep(out);
  });
  const auto map = [&](ValueId id) {
    return fn.has_value(id) ? new_id[static_cast<std::size_t>(id)] : kNoValue;
  };
  for (ValueId& p : fn.params) p = map(p);
  fn.for_each_binding([&](Binding& b) {
    for (ValueId& in : b.inputs) in = in == kNoValue ? kNoValue : map(in);
    for (ValueId& out : b.outputs) out = map(out);
  });
  for (ValueId& out : fn.outputs) out = map(out);
  fn.values = std::move(values);

  std::vector<Block> blocks;
  for (Block& block : fn.blocks) {
    if (block.bindings.empty()) continue;
    if (!blocks.empty() && blocks.back().dataflow == block.dataflow) {
      for (Binding& b : block.bindings) blocks.back().bindings.push_back(std::move(b));
    } else {
      blocks.push_back(std::move(block));
    }
  }
  fn.blocks = std::move(blocks);
}

// Drops the constants whose `keep` entry is 0, renumbering the rest; their values become
// undefined, for compact() to remove.
inline void drop_constants(Function& fn, const std::vector<char>& keep) {
  std::vector<int> new_index(fn.constants.size(), -1);
  std::vector<Tensor> constants;
  for (std::size_t i = 0; i < fn.constants.size(); ++i) {
    if (i < keep.size() && !keep[i]) continue;
    new_index[i] = static_cast<int>(constants.size());
    constants.push_back(std::move(fn.constants[i]));
  }
  for (Value& v : fn.values) {
    if (v.kind != ValueKind::constant) continue;
    const int index = new_index[static_cast<std::size_t>(v.index)];
    if (index < 0) v.kind = ValueKind::binding;  // no longer defined by anything
    else v.index = index;
  }
  fn.constants = std::move(constants);
}

} // namespace kiln::relax
