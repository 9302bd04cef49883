// kiln/backend/vulkan/vm/vm_kernels.hpp: the dynamic module (the VM) with its ops on the Vulkan
// device. Each op's kernel writes a shader for the call (vm/call_shaders.hpp) and records it on
// the process's device; a run's recorded dispatches go to the device together at its end, or
// where the VM or a CPU kernel needs the values in host memory (op_runtime.hpp). A call the
// device cannot run (a dtype its buffers do not hold, an op without a shader yet) runs the CPU
// kernel instead and is noted, so that a runner can report a model as run partly on the CPU
// and name the ops.
//
//   auto exe = kiln::vulkan::load(std::move(module));   // like vm::load
//   kiln::vm::ExecutionContext ctx(*exe);
//   kiln::vulkan::clear_cpu_fallbacks();
//   ctx.run(inputs);
//   for (const auto& f : kiln::vulkan::cpu_fallbacks()) ...   // ops that ran on the CPU
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "../../../core/result.hpp"
#include "../../../relax/module.hpp"
#include "../../../vm/cpu_kernels.hpp"
#include "../../../vm/executable.hpp"
#include "call_shaders.hpp"
#include "op_runtime.hpp"

namespace kiln::vulkan {

// An op that ran on the CPU, and why.
struct CpuFallback {
  relax::OpKind op;
  std::string reason;
};

// The ops of this thread's runs since the last clear that ran on the CPU, each op once.
inline std::vector<CpuFallback>& cpu_fallbacks() {
  thread_local std::vector<CpuFallback> list;
  return list;
}
inline void clear_cpu_fallbacks() { cpu_fallbacks().clear(); }

namespace detail {

inline void note_fallback(relax::OpKind op, std::string reason) {
  std::vector<CpuFallback>& list = cpu_fallbacks();
  for (const CpuFallback& f : list)
    if (f.op == op) return;
  list.push_back({op, std::move(reason)});
}

// Ops whose shader makers read an input's values on the host (to check indices).
inline bool reads_values_on_host(relax::OpKind op) {
  return op == relax::OpKind::gather || op == relax::OpKind::gather_elements || op == relax::OpKind::scatter_elements ||
         op == relax::OpKind::scatter_nd;
}

inline Status run_on_device(const vm::OpCall& call) {
  const vm::OpKernel* cpu = vm::cpu_kernel(call.op);
  Result<vm_ops::OpRuntime*> runtime = vm_ops::OpRuntime::get();
  if (!runtime.ok()) {
    note_fallback(call.op, runtime.status().message());
  } else {
    if (reads_values_on_host(call.op)) {
      bool on_host = true;
      for (const vm::Slot* slot : call.inputs) on_host = on_host && (slot == nullptr || (*runtime)->on_host(*slot));
      if (!on_host) KILN_RETURN_IF_ERROR((*runtime)->sync());
    }
    // Most ops are one shader; split is one per output.
    std::vector<vm_ops::OpShader> shaders;
    std::string why;
    if (call.op == relax::OpKind::split) {
      auto made = vm_ops::split_shaders(call);
      if (auto* list = std::get_if<std::vector<vm_ops::OpShader>>(&made)) shaders = std::move(*list);
      else why = std::move(std::get<std::string>(made));
    } else {
      vm_ops::OpShaderResult made = vm_ops::shader_for(call);
      if (auto* one = std::get_if<vm_ops::OpShader>(&made)) shaders.push_back(std::move(*one));
      else why = std::move(std::get<std::string>(made));
    }
    const ShaderFeatures has = (*runtime)->device().features();
    for (const vm::Slot* slot : call.inputs)  // the shaders index elements in 32 bits
      if (slot != nullptr && slot->elements() > std::numeric_limits<std::int32_t>::max()) why = "a tensor has 2^31 elements or more";
    for (const vm::Slot* slot : call.outputs)
      if (slot->elements() > std::numeric_limits<std::int32_t>::max()) why = "a tensor has 2^31 elements or more";
    for (const vm_ops::OpShader& s : shaders)
      if (!has.covers(s.needs())) why = "the device lacks a storage, int64 or float64 feature the call's dtypes need";
    if (why.empty()) {
      for (const vm_ops::OpShader& s : shaders) KILN_RETURN_IF_ERROR((*runtime)->run(s));
      return {};
    }
    note_fallback(call.op, std::move(why));
    KILN_RETURN_IF_ERROR((*runtime)->sync());  // the CPU reads and writes host memory
  }
  return cpu->run(call);
}

// A run records its calls and syncs where the VM needs host memory and at its end.
inline Status begin_run() {
  Result<vm_ops::OpRuntime*> runtime = vm_ops::OpRuntime::get();
  if (runtime.ok()) (*runtime)->begin_run();
  return {};
}
inline Status sync_run() {
  Result<vm_ops::OpRuntime*> runtime = vm_ops::OpRuntime::get();
  return runtime.ok() ? (*runtime)->sync() : Status{};
}
inline Status end_run() {
  Result<vm_ops::OpRuntime*> runtime = vm_ops::OpRuntime::get();
  return runtime.ok() ? (*runtime)->end_run() : Status{};
}
inline constexpr vm::RunHooks kRunHooks{begin_run, sync_run, end_run};

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  return vm::cpu_kernel(binding.op)->supports(binding, fn);
}
inline std::size_t scratch_bytes(const vm::OpCall& call) {
  const vm::OpKernel* cpu = vm::cpu_kernel(call.op);
  return cpu->scratch_bytes != nullptr ? cpu->scratch_bytes(call) : 0;
}

inline constexpr vm::OpKernel kDeviceKernel{supports, scratch_bytes, run_on_device};

} // namespace detail

// The Vulkan backend's kernel of `op` for the VM: every op the CPU backend runs (the CPU
// kernel is its fallback), null for the others.
inline const vm::OpKernel* vm_kernel(relax::OpKind op) {
  return vm::cpu_kernel(op) != nullptr ? &detail::kDeviceKernel : nullptr;
}

// Load options for the device: no fusion into CPU-only fused kernels and no NCHWc layout,
// so that each op reaches its own kernel; a run's calls go to the device together.
inline vm::LoadOptions device_load_options(vm::LoadOptions options = {}) {
  options.fuse = false;
  options.convert_layout = false;
  options.run_hooks = &detail::kRunHooks;
  return options;
}

// Compiles `module` to run its ops on the Vulkan device.
inline Result<std::shared_ptr<const vm::Executable>> load(relax::Module module, const vm::LoadOptions& options = {}) {
  return vm::Executable::load(std::move(module), vm_kernel, device_load_options(options));
}

} // namespace kiln::vulkan
