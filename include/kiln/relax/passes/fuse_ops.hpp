// kiln/relax/passes/fuse_ops.hpp: operator fusion: groups of ops that one kernel can run
// without writing their intermediate results move into a sub-function, called by one
// `fused` binding.
//
// Two kinds of group are formed, walking the bindings in order:
//   - a chain of elementwise ops (unary, binary, clip) where each op reads the previous
//     one's result, which nothing else reads; the kernel computes the chain tile by tile,
//     so the intermediate tensors never reach memory;
//   - an anchor (matmul, gemm, conv, conv_nchwc) followed by such a chain: the elementwise epilogue
//     (bias, activation, residual add) runs on the anchor's output while it is in cache;
//   - a chain followed by the reduction (sum, mean, max, min, prod over axes) that alone
//     reads it: the kernel reduces each tile of the chain as it is computed, so the
//     tensor being reduced (x * x of a variance, exp(x) of a softmax denominator) is never
//     written.
// Every elementwise op of a group keeps the chain's shape (operands may broadcast into it,
// never the other way), so the kernel walks one index space; a reduction ends a group. Only f32
// groups fuse: that is what the fused kernels compute in. A group is at most
// kMaxFusedOps ops, so that its registers fit a kernel's stack.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../attributes.hpp"
#include "../module.hpp"
#include "../rewrite.hpp"

namespace kiln::relax {

inline constexpr int kMaxFusedOps = 8;
inline constexpr int kMaxFusedInputs = 8;

// Elementwise ops a fused kernel computes.
constexpr bool is_fusible_elementwise(OpKind op) noexcept {
  const OpFamily family = op_info(op).family;
  return (family == OpFamily::unary && op != OpKind::logical_not) || family == OpFamily::binary ||
         op == OpKind::clip;
}
// Ops whose output an elementwise epilogue may follow.
constexpr bool is_fusion_anchor(OpKind op) noexcept {
  return op == OpKind::matmul || op == OpKind::gemm || op == OpKind::conv || op == OpKind::conv_nchwc;
}
// Reductions that may end an elementwise chain.
constexpr bool is_fusible_reduction(OpKind op) noexcept {
  return op == OpKind::reduce_sum || op == OpKind::reduce_mean || op == OpKind::reduce_max ||
         op == OpKind::reduce_min || op == OpKind::reduce_prod;
}

namespace detail {

struct FusionGroup {
  std::vector<const Binding*> members;
  ValueId output = kNoValue;  // the last member's output
  std::vector<ValueId> inputs;  // values from outside the group, in order of first use
};

inline bool all_f32(const Function& fn, const Binding& b) {
  for (ValueId in : b.inputs)
    if (in != kNoValue && fn.type(in).dtype != DType::f32) return false;
  for (ValueId out : b.outputs)
    if (fn.type(out).dtype != DType::f32) return false;
  return b.outputs.size() == 1;
}

// The external inputs a group would have with `extra` added.
inline std::vector<ValueId> group_inputs(const FusionGroup& g, const Binding& extra) {
  std::vector<ValueId> inputs = g.inputs;
  for (ValueId in : extra.inputs) {
    if (in == kNoValue || in == g.output) continue;
    bool known = false;
    for (ValueId seen : inputs) known = known || seen == in;
    if (!known) inputs.push_back(in);
  }
  return inputs;
}

inline Function fused_function(const Function& fn, const FusionGroup& g) {
  Function sub;
  sub.name = "fused";
  for (const Binding* b : g.members) sub.name += str_cat("_", to_string(b->op));
  sub.symbols = fn.symbols;
  std::vector<ValueId> mapped(fn.values.size(), kNoValue);
  for (ValueId in : g.inputs) {
    Value p;
    p.kind = ValueKind::param;
    p.type = fn.type(in);
    p.name = str_cat("in", sub.params.size());
    p.index = static_cast<int>(sub.params.size());
    const ValueId id = sub.add_value(std::move(p));
    sub.params.push_back(id);
    mapped[static_cast<std::size_t>(in)] = id;
  }
  Block block;
  for (const Binding* b : g.members) {
    Binding copy = *b;
    for (ValueId& in : copy.inputs)
      if (in != kNoValue) in = mapped[static_cast<std::size_t>(in)];
    for (ValueId& out : copy.outputs) {
      Value v;
      v.type = fn.type(out);
      const ValueId id = sub.add_value(std::move(v));
      mapped[static_cast<std::size_t>(out)] = id;
      out = id;
    }
    block.bindings.push_back(std::move(copy));
  }
  sub.blocks.push_back(std::move(block));
  sub.outputs.push_back(mapped[static_cast<std::size_t>(g.output)]);
  return sub;
}

} // namespace detail

// Fuses the groups of the module's entry function. Returns the number of fused bindings made.
inline Result<int> fuse_ops(Module& module) {
  if (module.functions.empty()) return 0;
  Function& fn = module.main();

  std::vector<int> uses(fn.values.size(), 0);
  fn.for_each_binding([&](const Binding& b) {
    for (ValueId in : b.inputs)
      if (in != kNoValue) ++uses[static_cast<std::size_t>(in)];
  });
  for (ValueId out : fn.outputs) uses[static_cast<std::size_t>(out)] += 2;  // never an intermediate

  std::vector<detail::FusionGroup> groups;
  std::vector<int> group_of_output(fn.values.size(), -1);  // the group whose current output it is
  for (const Block& block : fn.blocks) {
    if (!block.dataflow) continue;
    for (const Binding& b : block.bindings) {
      const bool elementwise = is_fusible_elementwise(b.op);
      const bool reduction = is_fusible_reduction(b.op);
      if (!(elementwise || reduction || is_fusion_anchor(b.op)) || !detail::all_f32(fn, b)) continue;
      const ValueId out = b.outputs[0];
      if (reduction) {
        // Ends the chain that computes its input, when it alone reads it. A reduction with
        // no such chain runs on its own kernel, and nothing joins after it.
        const ValueId in = b.inputs[0];
        const auto* attrs = std::get_if<ReduceAttrs>(&b.attrs);
        const int g = group_of_output[static_cast<std::size_t>(in)];
        if (attrs == nullptr || (attrs->axes.empty() && attrs->noop_with_empty_axes) || g < 0 ||
            uses[static_cast<std::size_t>(in)] != 1)
          continue;
        detail::FusionGroup& group = groups[static_cast<std::size_t>(g)];
        if (is_fusion_anchor(group.members[0]->op) || static_cast<int>(group.members.size()) >= kMaxFusedOps) continue;
        group.members.push_back(&b);
        group_of_output[static_cast<std::size_t>(in)] = -1;
        group.output = out;
        continue;
      }
      if (elementwise) {
        // Join the group of an input this op alone reads, when the shape stays.
        int joined = -1;
        for (ValueId in : b.inputs) {
          if (in == kNoValue || joined >= 0) continue;
          const int g = group_of_output[static_cast<std::size_t>(in)];
          if (g < 0 || uses[static_cast<std::size_t>(in)] != 1 || !(fn.type(in) == fn.type(out))) continue;
          detail::FusionGroup& group = groups[static_cast<std::size_t>(g)];
          const std::vector<ValueId> inputs = detail::group_inputs(group, b);
          if (static_cast<int>(group.members.size()) >= kMaxFusedOps ||
              static_cast<int>(inputs.size()) > kMaxFusedInputs)
            continue;
          group.members.push_back(&b);
          group.inputs = inputs;
          group_of_output[static_cast<std::size_t>(in)] = -1;
          group.output = out;
          group_of_output[static_cast<std::size_t>(out)] = g;
          joined = g;
        }
        if (joined >= 0) continue;
      }
      detail::FusionGroup group;
      group.output = out;
      group.inputs = detail::group_inputs(group, b);
      group.members.push_back(&b);
      if (static_cast<int>(group.inputs.size()) > kMaxFusedInputs) continue;
      group_of_output[static_cast<std::size_t>(out)] = static_cast<int>(groups.size());
      groups.push_back(std::move(group));
    }
  }

  // Each group of two or more ops becomes a sub-function; its last binding turns into the call.
  std::vector<Function> added;
  std::vector<char> fused_away(fn.values.size(), 0);
  std::vector<Binding> calls;
  std::vector<int> call_replacing(fn.values.size(), -1);  // by output: the call its binding becomes
  for (const detail::FusionGroup& g : groups) {
    if (g.members.size() < 2) continue;
    Function sub = detail::fused_function(fn, g);
    const auto taken = [&](const std::string& name) {
      if (module.find_function(name)) return true;
      for (const Function& f : added)
        if (f.name == name) return true;
      return false;
    };
    const std::string base = sub.name;
    for (int n = 1; taken(sub.name); ++n) sub.name = str_cat(base, "_", n);
    Binding call;
    call.op = OpKind::fused;
    call.inputs = g.inputs;
    call.attrs = FusedAttrs{static_cast<int>(module.functions.size() + added.size())};
    call.outputs = {g.output};
    for (const Binding* m : g.members)
      if (m->outputs[0] != g.output) fused_away[static_cast<std::size_t>(m->outputs[0])] = 1;
    call_replacing[static_cast<std::size_t>(g.output)] = static_cast<int>(calls.size());
    calls.push_back(std::move(call));
    added.push_back(std::move(sub));
  }
  if (calls.empty()) return 0;

  for (Block& block : fn.blocks) {
    std::vector<Binding> kept;
    for (Binding& b : block.bindings) {
      const std::size_t out = b.outputs.size() == 1 ? static_cast<std::size_t>(b.outputs[0]) : 0;
      if (b.outputs.size() == 1 && fused_away[out]) continue;
      if (b.outputs.size() == 1 && call_replacing[out] >= 0)
        kept.push_back(std::move(calls[static_cast<std::size_t>(call_replacing[out])]));
      else
        kept.push_back(std::move(b));
    }
    block.bindings = std::move(kept);
  }
  compact(fn);
  const int count = static_cast<int>(added.size());
  for (Function& f : added) module.functions.push_back(std::move(f));
  return count;
}

} // namespace kiln::relax
