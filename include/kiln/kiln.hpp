// kiln/kiln.hpp: the whole library in one include.
#pragma once

#include "config.hpp"

// core: errors, element types, extents and shapes
#include "core/status.hpp"
#include "core/result.hpp"
#include "core/float16.hpp"
#include "core/bfloat16.hpp"
#include "core/dtype.hpp"
#include "core/extent.hpp"
#include "core/shape.hpp"

// runtime: tensors, memory and threads
#include "runtime/aligned_alloc.hpp"
#include "runtime/device.hpp"
#include "runtime/storage.hpp"
#include "runtime/tensor_view.hpp"
#include "runtime/tensor.hpp"
#include "runtime/arena.hpp"
#include "runtime/thread_pool.hpp"

// kernel level: tensor expressions, schedules, lowering and the printer
#include "core/name.hpp"
#include "te/type_list.hpp"
#include "te/expr.hpp"
#include "te/tensor.hpp"
#include "te/inline.hpp"
#include "te/var_traits.hpp"
#include "tir/intrinsic.hpp"
#include "tir/schedule.hpp"
#include "tir/loop_program.hpp"
#include "tir/compute_spec.hpp"
#include "tir/lower.hpp"
#include "tir/stage_graph.hpp"
#include "tir/tensorize.hpp"
#include "tir/region.hpp"
#include "tir/rebuild.hpp"
#include "tir/cache.hpp"
#include "tir/rfactor.hpp"
#include "tir/stage_rewrites.hpp"
#include "tir/stage_plan.hpp"
#include "tir/print.hpp"

// the kernel library: tensor expressions of common operators
#include "kernels/accumulate.hpp"
#include "kernels/matmul.hpp"
#include "kernels/softmax.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/reduce.hpp"
#include "kernels/transpose.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/conv2d_nchwc.hpp"
#include "kernels/layout.hpp"
#include "kernels/pool2d.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/reduce_axes.hpp"

// graph level: symbolic dimensions and shape/dtype inference of the operators; the dynamic
// module (built at run time), its printer, passes and shape binding
#include "relax/shape_inference.hpp"
#include "relax/module.hpp"
#include "relax/builder.hpp"
#include "relax/printer.hpp"
#include "relax/bind_shapes.hpp"
#include "relax/passes/pass_manager.hpp"
#include "relax/passes/convert_layout.hpp"
#include "relax/passes/fuse_ops.hpp"

// the VM: a module loaded into a flat instruction list, run with one planned arena
#include "vm/slot.hpp"
#include "vm/op_kernel.hpp"
#include "vm/memory_plan.hpp"
#include "vm/fused_program.hpp"
#include "vm/user_kernel.hpp"
#include "vm/control_flow.hpp"
#include "vm/executable.hpp"
#include "vm/execution_context.hpp"

// the static graph: a model whose shapes, fusion and memory plan the compiler works out
#include "static_graph/node.hpp"
#include "static_graph/ops.hpp"
#include "static_graph/plan.hpp"
#include "static_graph/graph.hpp"
#include "static_graph/kernel_call.hpp"
#include "static_graph/control_flow.hpp"

// the ONNX frontend: the protobuf wire format, ONNX's messages, tensors and files
#include "frontend/onnx/wire.hpp"
#include "frontend/onnx/proto.hpp"
#include "frontend/onnx/tensor_data.hpp"
#include "frontend/onnx/load_file.hpp"
#include "frontend/onnx/import.hpp"
#include "frontend/onnx/write_tensor.hpp"

// Interop with libraries found on the include path. These come last so that every header
// they need is already included unconditionally above.
#if __has_include(<dlpack/dlpack.h>)
#include "runtime/dlpack.hpp"
#endif
#if __has_include(<Eigen/Core>)
#include "runtime/eigen.hpp"
#endif

// The CPU backend, built on xsimd.
#if __has_include(<xsimd/xsimd.hpp>)
#include "backend/cpu/buffer.hpp"
#include "backend/cpu/vector_eval.hpp"
#include "backend/cpu/tensor_intrinsic.hpp"
#include "backend/cpu/kernel.hpp"
#include "backend/cpu/rules.hpp"
#include "backend/cpu/dispatch.hpp"
#include "backend/cpu/intrin/int8_dot.hpp"
#include "backend/cpu/arch.hpp"
#include "backend/cpu/intrin/fma_block.hpp"
#include "backend/cpu/gemm.hpp"
#include "backend/cpu/element_math.hpp"
// the VM's CPU kernels
#include "vm/cpu_kernels.hpp"
#include "frontend/onnx/test_case.hpp"
#include "static_graph/fused_loop.hpp"
#include "static_graph/model.hpp"
// kiln aot: ONNX models as static-graph headers, their weights files and CMake projects
#include "aot/static_shapes.hpp"
#include "aot/emit_static_graph.hpp"
#include "aot/weights_file.hpp"
#include "aot/project_files.hpp"
#include "aot/case_runner.hpp"
#endif
