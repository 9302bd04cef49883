// kiln/relax/shape_inference.hpp: shape and dtype inference for the graph level's op set.
//
// Every op's inference is a constexpr function in kiln::relax::infer that takes the input
// TensorTypes (and the op's attributes) and returns Inferred<TensorType>: the output type,
// or a TypeError whose message names the op and what was wrong. The same functions serve a
// static graph, where the C++ compiler runs them on constant dims:
//
//   constexpr auto y = infer::conv(x, w, nullptr, {.strides = {2, 2}, .pads = {3, 3, 3, 3}});
//   static_assert(y.ok() && y->dims[2] == 112);
//
// and a dynamic module, where dims are symbolic and errors become kiln::Status:
//
//   Result<TensorType> t = infer::matmul(a, b);
#pragma once

#include "sym_dim.hpp"
#include "tensor_type.hpp"
#include "inferred.hpp"
#include "broadcast.hpp"
#include "infer_elementwise.hpp"
#include "infer_linear.hpp"
#include "infer_conv.hpp"
#include "infer_norm.hpp"
#include "infer_reduce.hpp"
#include "infer_layout.hpp"
#include "infer_slice.hpp"
#include "infer_resize.hpp"
#include "infer_index.hpp"
#include "infer_nchwc.hpp"
