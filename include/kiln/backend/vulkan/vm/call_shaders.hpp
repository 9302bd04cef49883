// kiln/backend/vulkan/vm/call_shaders.hpp: which shader maker serves each op of a dynamic
// module on the Vulkan device (the makers live in op_shaders.hpp and its neighbours).
#pragma once

#include "../../../relax/op_kind.hpp"
#include "../../../vm/op_kernel.hpp"
#include "op_shaders.hpp"
#include "norm_shaders.hpp"
#include "resize_shader.hpp"
#include "scatter_shaders.hpp"
#include "topk_shader.hpp"

namespace kiln::vulkan::vm_ops {

// The shader for a call, or why the call runs on the CPU.
inline OpShaderResult shader_for(const vm::OpCall& call) {
  switch (call.op) {
    case OpKind::matmul:
    case OpKind::gemm: return linear_shader(call);
    case OpKind::reduce_sum:
    case OpKind::reduce_mean:
    case OpKind::reduce_max:
    case OpKind::reduce_min:
    case OpKind::reduce_prod: return reduce_shader(call);
    case OpKind::softmax:
    case OpKind::log_softmax: return softmax_shader(call);
    case OpKind::cast: return cast_shader(call);
    case OpKind::transpose: return transpose_shader(call);
    case OpKind::slice: return slice_shader(call);
    case OpKind::gather: return gather_shader(call);
    case OpKind::gather_elements: return gather_elements_shader(call);
    case OpKind::concat: return concat_shader(call);
    case OpKind::argmax:
    case OpKind::argmin:
    case OpKind::hardmax: return arg_reduce_shader(call);
    case OpKind::cumsum: return cumsum_shader(call);
    case OpKind::tile: return tile_shader(call);
    case OpKind::max_pool:
    case OpKind::average_pool: return pool_shader(call);
    case OpKind::conv: return conv_shader(call);
    case OpKind::conv_transpose: return conv_transpose_shader(call);
    case OpKind::expand: return expand_shader(call);
    case OpKind::global_max_pool:
    case OpKind::global_average_pool: return global_pool_shader(call);
    case OpKind::shape_of: return shape_of_shader(call);
    case OpKind::resize: return resize_shader(call);
    case OpKind::scatter_elements: return scatter_elements_shader(call);
    case OpKind::scatter_nd: return scatter_nd_shader(call);
    case OpKind::pad: return pad_shader(call);
    case OpKind::topk: return topk_shader(call);
    case OpKind::batch_norm: return batch_norm_shader(call);
    case OpKind::instance_norm:
    case OpKind::group_norm: return group_norm_shader(call);
    case OpKind::layer_norm: return layer_norm_shader(call);
    default: return elementwise_shader(call);
  }
}

} // namespace kiln::vulkan::vm_ops
