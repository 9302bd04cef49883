// kiln/relax/passes/dead_code.hpp: dead code elimination: drops bindings and constants that
// no output of the function depends on.
//
// A binding lives when one of its outputs is used by a live binding or returned; calls of
// user kernels always live (they are opaque). Parameters stay: they are the interface.
#pragma once

#include <vector>

#include "../../core/status.hpp"
#include "../module.hpp"
#include "../rewrite.hpp"

namespace kiln::relax {

inline void eliminate_dead_code(Function& fn) {
  std::vector<char> used(fn.values.size(), 0);
  const auto use = [&](ValueId id) {
    if (fn.has_value(id)) used[static_cast<std::size_t>(id)] = 1;
  };
  for (ValueId out : fn.outputs) use(out);
  // Walk backwards: a binding's users come after it.
  for (auto block = fn.blocks.rbegin(); block != fn.blocks.rend(); ++block) {
    std::vector<Binding> kept;
    for (auto b = block->bindings.rbegin(); b != block->bindings.rend(); ++b) {
      bool live = !is_pure(b->op);
      for (ValueId out : b->outputs) live = live || (fn.has_value(out) && used[static_cast<std::size_t>(out)]);
      if (!live) continue;
      for (ValueId in : b->inputs) use(in);
      kept.push_back(std::move(*b));
    }
    block->bindings.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
  }
  std::vector<char> keep(fn.constants.size(), 0);
  for (std::size_t i = 0; i < fn.values.size(); ++i)
    if (fn.values[i].kind == ValueKind::constant && used[i]) keep[static_cast<std::size_t>(fn.values[i].index)] = 1;
  drop_constants(fn, keep);
  compact(fn);
}

inline Status dead_code_elimination(Module& module) {
  for (Function& fn : module.functions) eliminate_dead_code(fn);
  return {};
}

} // namespace kiln::relax
