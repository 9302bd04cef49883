// kiln/vm/fused_program.hpp: FusedProgram, what a `fused` binding computes, in a form a
// backend kernel walks without looking at the graph.
//
// The fusion pass leaves a sub-function of an optional anchor (matmul, gemm, conv), a chain
// of elementwise ops and an optional closing reduction. Loading turns it into registers and
// steps: registers [0, input_count) are the call's inputs (broadcast into the chain's
// shape), then the anchor's result when there is one (the anchor's own kernel writes it into
// the output first), then one register per step. The backend kernel evaluates the steps
// tile by tile, so the chain's intermediate tensors never reach memory; with a reduction,
// each tile of the last step is reduced into the output instead of stored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/module.hpp"
#include "../relax/passes/fuse_ops.hpp"
#include "op_kernel.hpp"

namespace kiln::vm {

inline constexpr int kMaxFusedRegisters = relax::kMaxFusedInputs + relax::kMaxFusedOps + 1;

struct FusedStep {
  relax::OpKind op = relax::OpKind::identity;
  std::int8_t args[3] = {-1, -1, -1};  // registers; -1 for an absent operand (clip's bounds)
  std::int8_t result = -1;
};

struct FusedProgram {
  int input_count = 0;
  // The anchor, run by its own kernel into the call's output before the steps; its binding
  // (op and attributes) is in the sub-function, owned by the Executable's module.
  const OpKernel* anchor = nullptr;
  const relax::Binding* anchor_binding = nullptr;
  std::vector<std::int8_t> anchor_inputs;  // call input per anchor input; -1 absent
  std::int8_t anchor_register = -1;
  std::vector<FusedStep> steps;
  int register_count = 0;
  std::uint32_t step_inputs = 0;  // bit r: the steps read input r (others feed only the anchor)
  // The closing reduction (reduce_sum, ...; identity when none) of the last step's result
  // over the axes in reduced_axes (bit a: chain axis a); the chain has chain_rank axes.
  relax::OpKind reduction = relax::OpKind::identity;
  std::uint32_t reduced_axes = 0;
  int chain_rank = 0;
  const relax::Function* function = nullptr;  // the sub-function

  bool reduces() const noexcept { return reduction != relax::OpKind::identity; }

  std::string to_string() const {
    std::string text;
    const auto reg = [](int r) { return r < 0 ? std::string("_") : str_cat("r", r); };
    if (anchor != nullptr) {
      text += str_cat(reg(anchor_register), " = ", relax::to_string(anchor_binding->op), "(");
      for (std::size_t i = 0; i < anchor_inputs.size(); ++i) text += str_cat(i ? ", " : "", reg(anchor_inputs[i]));
      text += ")\n";
    }
    for (const FusedStep& s : steps) {
      text += str_cat(reg(s.result), " = ", relax::to_string(s.op), "(");
      const int arity = s.op == relax::OpKind::clip ? 3 : relax::op_info(s.op).max_inputs;
      for (int i = 0; i < arity; ++i) text += str_cat(i ? ", " : "", reg(s.args[i]));
      text += ")\n";
    }
    if (reduces()) {
      text += str_cat("out = ", relax::to_string(reduction), "(", reg(register_count - 1), ") over axes [");
      bool first = true;
      for (int a = 0; a < chain_rank; ++a)
        if ((reduced_axes >> a) & 1u) {
          text += str_cat(first ? "" : ", ", a);
          first = false;
        }
      text += "]\n";
    }
    return text;
  }
};

// The program of a `fused` binding whose sub-function is `sub`; `lookup` gives the anchor's kernel.
inline Result<FusedProgram> compile_fused(const relax::Function& sub, const OpKernel* (*lookup)(relax::OpKind)) {
  FusedProgram p;
  p.function = &sub;
  p.input_count = static_cast<int>(sub.params.size());
  if (p.input_count > relax::kMaxFusedInputs)
    return make_error(StatusCode::unsupported, "fused @", sub.name, ": ", p.input_count, " inputs, above ",
                      relax::kMaxFusedInputs);
  std::vector<int> register_of(sub.values.size(), -1);
  for (std::size_t i = 0; i < sub.params.size(); ++i) register_of[static_cast<std::size_t>(sub.params[i])] = static_cast<int>(i);
  int next = p.input_count;
  bool first = true;
  relax::ValueId reduced_value = relax::kNoValue;  // the closing reduction's output
  for (const relax::Block& block : sub.blocks) {
    for (const relax::Binding& b : block.bindings) {
      if (b.outputs.size() != 1)
        return make_error(StatusCode::unsupported, "fused @", sub.name, ": ", relax::to_string(b.op), " has ",
                          b.outputs.size(), " outputs");
      if (sub.type(b.outputs[0]).dtype != DType::f32)
        return make_error(StatusCode::unsupported, "fused @", sub.name, ": only f32 groups run fused");
      if (p.reduces())
        return make_error(StatusCode::unsupported, "fused @", sub.name, ": ", relax::to_string(p.reduction),
                          " must be the last op");
      if (!first && relax::is_fusible_reduction(b.op)) {
        // Closes the chain: it must reduce the last step's result.
        const auto* attrs = std::get_if<relax::ReduceAttrs>(&b.attrs);
        const relax::TensorType& chain = sub.type(b.inputs[0]);
        if (attrs == nullptr || p.anchor != nullptr || register_of[static_cast<std::size_t>(b.inputs[0])] != next - 1)
          return make_error(StatusCode::unsupported, "fused @", sub.name, ": ", relax::to_string(b.op),
                            " must reduce the result of an elementwise chain");
        if (attrs->axes.empty() && attrs->noop_with_empty_axes)
          return make_error(StatusCode::unsupported, "fused @", sub.name, ": a reduction over no axes");
        p.chain_rank = chain.rank;
        if (attrs->axes.empty()) p.reduced_axes = (1u << chain.rank) - 1u;
        for (std::int64_t axis : attrs->axes) {
          const std::int64_t a = axis < 0 ? axis + chain.rank : axis;
          if (a < 0 || a >= chain.rank)
            return make_error(StatusCode::out_of_range, "fused @", sub.name, ": axis ", axis, " of a rank ",
                              chain.rank, " chain");
          p.reduced_axes |= 1u << a;
        }
        p.reduction = b.op;
        reduced_value = b.outputs[0];
        continue;
      }
      if (first && relax::is_fusion_anchor(b.op)) {
        p.anchor = lookup != nullptr ? lookup(b.op) : nullptr;
        if (p.anchor == nullptr)
          return make_error(StatusCode::unsupported, "fused @", sub.name, ": the backend has no kernel for ",
                            relax::to_string(b.op));
        if (p.anchor->supports != nullptr)
          KILN_RETURN_IF_ERROR(p.anchor->supports(b, sub).with_context(str_cat("fused @", sub.name)));
        p.anchor_binding = &b;
        for (relax::ValueId in : b.inputs) {
          const int r = in == relax::kNoValue ? -1 : register_of[static_cast<std::size_t>(in)];
          if (in != relax::kNoValue && (r < 0 || r >= p.input_count))
            return make_error(StatusCode::internal, "fused @", sub.name, ": the anchor reads a non-input");
          p.anchor_inputs.push_back(static_cast<std::int8_t>(r));
        }
        p.anchor_register = static_cast<std::int8_t>(next);
        register_of[static_cast<std::size_t>(b.outputs[0])] = next++;
      } else {
        if (!relax::is_fusible_elementwise(b.op))
          return make_error(StatusCode::unsupported, "fused @", sub.name, ": ", relax::to_string(b.op),
                            " cannot run in a fused kernel");
        FusedStep step;
        step.op = b.op;
        for (std::size_t i = 0; i < b.inputs.size() && i < 3; ++i) {
          const relax::ValueId in = b.inputs[i];
          step.args[i] = static_cast<std::int8_t>(in == relax::kNoValue ? -1 : register_of[static_cast<std::size_t>(in)]);
          if (step.args[i] >= 0 && step.args[i] < p.input_count) p.step_inputs |= 1u << step.args[i];
        }
        if (next >= kMaxFusedRegisters)
          return make_error(StatusCode::unsupported, "fused @", sub.name, ": more than ", kMaxFusedRegisters,
                            " registers");
        step.result = static_cast<std::int8_t>(next);
        register_of[static_cast<std::size_t>(b.outputs[0])] = next++;
        p.steps.push_back(step);
      }
      first = false;
    }
  }
  const bool result_is_last =
      sub.outputs.size() == 1 && (p.reduces() ? sub.outputs[0] == reduced_value
                                              : register_of[static_cast<std::size_t>(sub.outputs[0])] == next - 1);
  if (sub.outputs.size() != 1 || !result_is_last || next == p.input_count)
    return make_error(StatusCode::unsupported, "fused @", sub.name, ": the result must be the last op's");
  p.register_count = next;
  return p;
}

} // namespace kiln::vm
