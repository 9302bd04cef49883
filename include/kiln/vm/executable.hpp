// kiln/vm/executable.hpp: Executable, a module compiled for the VM: a flat instruction list.
//
// Loading runs the graph passes once, then turns every binding of the entry function into
// one instruction, in order. An instruction either calls the backend's OpKernel for its op;
// or, for the ops that only reinterpret a shape (reshape, flatten, squeeze, unsqueeze,
// identity), is a view: its output shares its input's memory and costs nothing at run time;
// or calls a user kernel registered by name (call_kernel, user_kernel.hpp); or runs
// sub-functions (if, loop), each loaded as an Executable of its own (control_flow.hpp).
// Everything that can be checked without concrete shapes is checked here, so that a module
// the backend cannot run fails at load with the op and the reason, never half-way through a
// run. An Executable is immutable after loading; any number of ExecutionContexts (one per
// thread) run it at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/module.hpp"
#include "../relax/passes/convert_layout.hpp"
#include "../relax/passes/pass_manager.hpp"
#include "../relax/printer.hpp"
#include "control_flow.hpp"
#include "fused_program.hpp"
#include "op_kernel.hpp"
#include "user_kernel.hpp"

namespace kiln::vm {

// Which backend's kernel runs an op: null when the backend has none.
using KernelLookup = const OpKernel* (*)(relax::OpKind op);

class Executable;

enum class InstructionKind : std::uint8_t {
  kernel,        // the backend's OpKernel for the op (fused calls included)
  view,          // the output shares its input's memory
  user_kernel,   // call_kernel: a kernel the user registered by name
  if_then_else,  // runs one of two sub-executables
  loop,          // runs a sub-executable trip-count times
};

struct Instruction {
  InstructionKind kind = InstructionKind::kernel;
  relax::OpKind op = relax::OpKind::identity;
  const relax::Attrs* attrs = nullptr;  // the binding's, owned by the Executable
  const OpKernel* kernel = nullptr;     // for InstructionKind::kernel
  const FusedProgram* fused = nullptr;  // for a fused call
  const UserKernel* user_kernel = nullptr;  // for call_kernel, owned by the Executable's options
  // The sub-functions, loaded: then and else branch for an if, the body for a loop.
  std::vector<std::shared_ptr<const Executable>> subprograms;
  std::vector<relax::ValueId> inputs;   // relax::kNoValue for an absent optional input
  std::vector<relax::ValueId> outputs;

  bool is_view() const noexcept { return kind == InstructionKind::view; }
  bool is_control_flow() const noexcept {
    return kind == InstructionKind::if_then_else || kind == InstructionKind::loop;
  }
};

// Ops that may write their output over an input of the same shape and element size that
// dies with them: every output element depends only on the input elements at its own position.
constexpr bool may_run_in_place(relax::OpKind op) noexcept {
  using relax::OpFamily;
  const OpFamily family = relax::op_info(op).family;
  return family == OpFamily::unary || family == OpFamily::binary || family == OpFamily::compare ||
         family == OpFamily::logical || op == relax::OpKind::where || op == relax::OpKind::clip ||
         op == relax::OpKind::cast;
}

struct LoadOptions {
  bool run_passes = true;   // the default pipeline (constant folding, CSE, DCE, ...)
  bool fuse = true;         // operator fusion (relax/passes/fuse_ops.hpp), after the pipeline
  bool plan_memory = true;  // reuse memory between values; off, every value has its own bytes
  // 2-D convolutions in the blocked NCHWc layout (relax/passes/convert_layout.hpp), after
  // the pipeline and before fusion; `layout_block` channels per block.
  bool convert_layout = true;
  std::int64_t layout_block = relax::kNativeNchwcBlock;
  // The kernels call_kernel bindings call, by name; a call of a name not here fails at load.
  std::vector<UserKernel> user_kernels = {};
  // The backend's part in a whole run (op_kernel.hpp), when it has one; not owned.
  const RunHooks* run_hooks = nullptr;
};

class Executable {
 public:
  Executable(const Executable&) = delete;
  Executable& operator=(const Executable&) = delete;

  // Compiles `module` for the backend whose kernels `lookup` gives.
  static Result<std::shared_ptr<const Executable>> load(relax::Module module, KernelLookup lookup,
                                                        const LoadOptions& options = {}) {
    if (module.functions.empty()) return make_error(StatusCode::invalid_argument, "load: the module has no functions");
    KILN_RETURN_IF_ERROR(check_user_kernels(options.user_kernels).with_context("load"));
    if (options.run_passes) KILN_RETURN_IF_ERROR(relax::default_pipeline().run(module).with_context("load"));
    else KILN_RETURN_IF_ERROR(relax::verify(module).with_context("load"));
    if (options.convert_layout) {
      KILN_RETURN_IF_ERROR(relax::convert_layout(module, {.block = options.layout_block}).with_context("load"));
      KILN_RETURN_IF_ERROR(relax::verify(module).with_context("load: after layout conversion"));
    }
    if (options.fuse) {
      Result<int> fused = relax::fuse_ops(module);
      if (!fused.ok()) return std::move(fused).status().with_context("load: fusion");
      KILN_RETURN_IF_ERROR(relax::verify(module).with_context("load: after fusion"));
    }
    KILN_RETURN_IF_ERROR(check_no_recursion(module).with_context("load"));
    std::shared_ptr<Executable> exe(new Executable(std::move(module), options));
    KILN_RETURN_IF_ERROR(exe->compile(lookup));
    return std::shared_ptr<const Executable>(std::move(exe));
  }

  const relax::Module& module() const noexcept { return module_; }
  const relax::Function& function() const noexcept { return module_.main(); }
  const LoadOptions& options() const noexcept { return options_; }
  std::span<const Instruction> instructions() const noexcept { return instructions_; }

  // The value whose memory `id` lives in: itself, or the start of its chain of views.
  relax::ValueId storage_of(relax::ValueId id) const { return storage_[static_cast<std::size_t>(id)]; }

  // The instruction list, one line per instruction ("view" marks those that cost nothing).
  std::string to_string() const {
    const relax::Function& fn = function();
    const auto name = [&](relax::ValueId id) -> std::string {
      if (id == relax::kNoValue) return "_";
      const relax::Value& v = fn.value(id);
      if (v.kind == relax::ValueKind::param) return str_cat("%", v.name);
      if (v.kind == relax::ValueKind::constant) return str_cat("%c", v.index);
      return str_cat("%", id);
    };
    std::string text;
    for (std::size_t i = 0; i < instructions_.size(); ++i) {
      const Instruction& ins = instructions_[i];
      text += str_cat(i, ": ");
      for (std::size_t o = 0; o < ins.outputs.size(); ++o) text += str_cat(o ? ", " : "", name(ins.outputs[o]));
      text += str_cat(" = ", ins.is_view() ? "view " : "call ", relax::to_string(ins.op));
      if (ins.fused != nullptr) text += str_cat(" @", ins.fused->function->name);
      if (ins.user_kernel != nullptr) text += str_cat(" '", ins.user_kernel->name, "'");
      for (const auto& sub : ins.subprograms) text += str_cat(" @", sub->function().name);
      text += "(";
      for (std::size_t a = 0; a < ins.inputs.size(); ++a) text += str_cat(a ? ", " : "", name(ins.inputs[a]));
      text += ")\n";
    }
    return text;
  }

 private:
  Executable(relax::Module module, const LoadOptions& options) : module_(std::move(module)), options_(options) {}

  Status compile(KernelLookup lookup) {
    const relax::Function& fn = function();
    storage_.resize(fn.values.size());
    for (std::size_t v = 0; v < storage_.size(); ++v) storage_[v] = static_cast<relax::ValueId>(v);
    // Sub-functions by index, so a function two bindings call loads once.
    std::vector<std::shared_ptr<const Executable>> loaded(module_.functions.size());
    for (const relax::Block& block : fn.blocks) {
      for (const relax::Binding& b : block.bindings) {
        const auto where = [&] { return str_cat("%", b.outputs.empty() ? -1 : b.outputs.front(), " = ", relax::to_string(b.op)); };
        Instruction ins;
        ins.op = b.op;
        ins.attrs = &b.attrs;
        ins.inputs = b.inputs;
        ins.outputs = b.outputs;
        if (relax::is_view_op(b.op)) {
          if (b.inputs.empty() || b.inputs[0] == relax::kNoValue || b.outputs.size() != 1)
            return make_error(StatusCode::internal, where(), ": a view needs one input and one output");
          ins.kind = InstructionKind::view;
          storage_[static_cast<std::size_t>(b.outputs[0])] = storage_[static_cast<std::size_t>(b.inputs[0])];
        } else if (b.op == relax::OpKind::call_kernel) {
          Result<const UserKernel*> kernel = find_user_kernel(options_.user_kernels, b, fn);
          if (!kernel.ok()) return std::move(kernel).status().with_context(where());
          ins.kind = InstructionKind::user_kernel;
          ins.user_kernel = *kernel;
        } else if (const auto* branches = std::get_if<relax::IfAttrs>(&b.attrs)) {
          KILN_RETURN_IF_ERROR(check_if(b, fn, module_).with_context(where()));
          ins.kind = InstructionKind::if_then_else;
          for (const int branch : {branches->then_branch, branches->else_branch}) {
            Result<std::shared_ptr<const Executable>> sub = load_subfunction(branch, lookup, loaded);
            if (!sub.ok()) return std::move(sub).status().with_context(where());
            ins.subprograms.push_back(std::move(*sub));
          }
        } else if (const auto* loop = std::get_if<relax::LoopAttrs>(&b.attrs)) {
          KILN_RETURN_IF_ERROR(check_loop(b, fn, module_).with_context(where()));
          ins.kind = InstructionKind::loop;
          Result<std::shared_ptr<const Executable>> body = load_subfunction(loop->body, lookup, loaded);
          if (!body.ok()) return std::move(body).status().with_context(where());
          ins.subprograms.push_back(std::move(*body));
        } else {
          ins.kernel = lookup != nullptr ? lookup(b.op) : nullptr;
          if (ins.kernel == nullptr)
            return make_error(StatusCode::unsupported, where(), ": the backend has no kernel for this op");
          if (ins.kernel->supports != nullptr) KILN_RETURN_IF_ERROR(ins.kernel->supports(b, fn).with_context(where()));
          if (const auto* f = std::get_if<relax::FusedAttrs>(&b.attrs)) {
            Result<FusedProgram> program =
                compile_fused(module_.functions[static_cast<std::size_t>(f->function)], lookup);
            if (!program.ok()) return std::move(program).status().with_context(where());
            programs_.push_back(std::make_unique<FusedProgram>(std::move(*program)));
            ins.fused = programs_.back().get();
          }
        }
        instructions_.push_back(std::move(ins));
      }
    }
    return {};
  }

  // Function `index` of the module as an Executable of its own, loaded like the entry.
  Result<std::shared_ptr<const Executable>> load_subfunction(int index, KernelLookup lookup,
                                                            std::vector<std::shared_ptr<const Executable>>& loaded) {
    std::shared_ptr<const Executable>& slot = loaded[static_cast<std::size_t>(index)];
    if (slot == nullptr) {
      const std::string name = module_.functions[static_cast<std::size_t>(index)].name;
      Result<std::shared_ptr<const Executable>> sub = load(sub_module(module_, index), lookup, options_);
      if (!sub.ok()) return std::move(sub).status().with_context(str_cat("@", name));
      slot = std::move(*sub);
    }
    return slot;
  }

  relax::Module module_;
  LoadOptions options_;
  std::vector<Instruction> instructions_;
  std::vector<std::unique_ptr<FusedProgram>> programs_;
  std::vector<relax::ValueId> storage_;
};

} // namespace kiln::vm
