// kiln/vm/user_kernel.hpp: UserKernel, a kernel of the user's own that a graph calls by name.
//
// A `call_kernel` binding names a kernel and declares the types of its outputs (the graph
// cannot look inside it). The kernels themselves are given at load, in
// LoadOptions::user_kernels: a name, how many inputs and outputs it takes, and a function
// over slots. A kernel built with kiln's tensor expressions and schedules is the usual
// thing to register (wrap the slots in views and call it), which is how a graph calls into
// the kernel level. The VM plans the outputs' memory from the declared types, as for any
// op, and the function must compute into it without allocating. Everything that can be
// checked without shapes (the name, the counts, that the declared output dims are fixed by
// the inputs) is checked at load.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/module.hpp"
#include "slot.hpp"

namespace kiln::vm {

// Computes the outputs from the inputs. Every slot holds the concrete shape of that run and
// is row-major contiguous; the outputs' memory is placed by the VM.
using UserKernelFn = std::function<Status(std::span<const Slot* const> inputs, std::span<const Slot* const> outputs)>;

struct UserKernel {
  std::string name;  // what call_kernel bindings call it by
  std::size_t input_count = 0;
  std::size_t output_count = 1;
  UserKernelFn run;
};

namespace detail {

// Whether some parameter's dims mention `symbol`, so that binding the inputs fixes it.
inline bool bound_by_params(const relax::Function& fn, const Name& symbol) {
  for (relax::ValueId p : fn.params) {
    const relax::TensorType& t = fn.type(p);
    for (int a = 0; a < t.rank; ++a)
      for (int s = 0; s < t.dims[a].symbol_count(); ++s)
        if (t.dims[a].symbol_at(s) == symbol) return true;
  }
  return false;
}

} // namespace detail

// No two kernels of the table share a name, and each has a function.
inline Status check_user_kernels(std::span<const UserKernel> kernels) {
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].name.empty()) return make_error(StatusCode::invalid_argument, "user kernel ", i, " has no name");
    if (!kernels[i].run)
      return make_error(StatusCode::invalid_argument, "user kernel '", kernels[i].name, "' has no function");
    for (std::size_t j = 0; j < i; ++j)
      if (kernels[j].name == kernels[i].name)
        return make_error(StatusCode::invalid_argument, "two user kernels are named '", kernels[i].name, "'");
  }
  return {};
}

// The kernel a call_kernel binding of `fn` calls, checked against the binding: the name is
// registered, the counts agree, and the inputs fix every symbol of the declared outputs.
// Messages leave the binding and op to the caller's context ("%3 = call_kernel: ...").
inline Result<const UserKernel*> find_user_kernel(std::span<const UserKernel> kernels, const relax::Binding& binding,
                                                  const relax::Function& fn) {
  const auto& attrs = std::get<relax::CallKernelAttrs>(binding.attrs);
  const UserKernel* kernel = nullptr;
  for (const UserKernel& k : kernels)
    if (k.name == attrs.kernel) kernel = &k;
  if (kernel == nullptr)
    return make_error(StatusCode::not_found, "no kernel named '", attrs.kernel, "' was registered");
  if (binding.inputs.size() != kernel->input_count)
    return make_error(StatusCode::invalid_argument, "the graph passes ", binding.inputs.size(), " inputs, '",
                      attrs.kernel, "' takes ", kernel->input_count);
  if (binding.outputs.size() != kernel->output_count || attrs.outputs.size() != kernel->output_count)
    return make_error(StatusCode::invalid_argument, "the graph declares ", attrs.outputs.size(), " outputs, '",
                      attrs.kernel, "' writes ", kernel->output_count);
  for (relax::ValueId in : binding.inputs)
    if (in == relax::kNoValue)
      return make_error(StatusCode::invalid_argument, "an input of '", attrs.kernel, "' is absent");
  for (std::size_t o = 0; o < attrs.outputs.size(); ++o) {
    const relax::TensorType& t = attrs.outputs[o];
    for (int a = 0; a < t.rank; ++a)
      for (int s = 0; s < t.dims[a].symbol_count(); ++s)
        if (!detail::bound_by_params(fn, t.dims[a].symbol_at(s)))
          return make_error(StatusCode::invalid_argument, "output ", o, " of '", attrs.kernel, "' is ",
                            relax::to_string(t), ", but no input of @", fn.name, " fixes ",
                            t.dims[a].symbol_at(s).view());
  }
  return kernel;
}

} // namespace kiln::vm
