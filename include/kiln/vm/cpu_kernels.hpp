// kiln/vm/cpu_kernels.hpp: the CPU backend's kernel for every op the VM runs there, and
// load(), which compiles a module for it.
#pragma once

#include <memory>

#include "../core/result.hpp"
#include "../relax/module.hpp"
#include "executable.hpp"
#include "op_kernel.hpp"
#include "ops/elementwise.hpp"
#include "ops/cumsum.hpp"
#include "ops/data_dependent.hpp"
#include "ops/fused.hpp"
#include "ops/indexing.hpp"
#include "ops/layout.hpp"
#include "ops/linear.hpp"
#include "ops/movement.hpp"
#include "ops/normalize.hpp"
#include "ops/pool.hpp"
#include "ops/reduce.hpp"
#include "ops/resize.hpp"
#include "ops/topk.hpp"

namespace kiln::vm {

// The CPU kernel of `op`, or null when the CPU backend has none.
inline const OpKernel* cpu_kernel(relax::OpKind op) {
  using Family = const OpKernel* (*)(relax::OpKind);
  constexpr Family families[] = {
      cpu_elementwise_kernel,
      cpu_linear_kernel,
      cpu_layout_kernel,
      cpu_normalize_kernel,
      cpu_reduce_kernel,
      cpu_cumsum_kernel,
      cpu_topk_kernel,
      cpu_pool_kernel,
      cpu_movement_kernel,
      cpu_index_kernel,
      cpu_resize_kernel,
      cpu_data_dependent_kernel,
      cpu_fused_kernel,
  };
  for (Family family : families)
    if (const OpKernel* k = family(op)) return k;
  return nullptr;
}

// Compiles `module` to run on the CPU.
inline Result<std::shared_ptr<const Executable>> load(relax::Module module, const LoadOptions& options = {}) {
  return Executable::load(std::move(module), cpu_kernel, options);
}

} // namespace kiln::vm
