// kiln/relax/op_kind.hpp: OpKind, the ops a dynamic module's bindings apply, and what each one takes.
//
// A dynamic module names its ops with a run-time enum instead of types, so that a graph
// loaded at run time (an ONNX file) and one built in code are the same data. The table
// below is the one place that says, per op, its printed name, how many inputs it takes and
// which family it belongs to; inference, printing, the passes and the reference evaluator
// all read it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tensor_type.hpp"

namespace kiln::relax {

enum class OpKind : std::uint8_t {
  // elementwise unary
  identity, neg, abs, sign, relu, sigmoid, tanh, exp, log, sqrt, rsqrt, reciprocal, floor, ceil, round, sin, cos,
  tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, erf, gelu, silu, logical_not,
  // elementwise binary, with broadcasting
  add, subtract, multiply, divide, power, maximum, minimum, mod,
  // comparisons (bool results) and logic (bool inputs)
  equal, not_equal, less, less_equal, greater, greater_equal,
  logical_and, logical_or, logical_xor,
  where, clip, cast,
  // linear algebra and sliding windows
  matmul, gemm, conv, conv_transpose,
  max_pool, average_pool, lp_pool, global_max_pool, global_average_pool, global_lp_pool,
  // normalization and the softmax family
  batch_norm, layer_norm, instance_norm, group_norm,
  softmax, log_softmax, hardmax,
  // reductions
  reduce_sum, reduce_mean, reduce_max, reduce_min, reduce_prod, argmax, argmin, topk, cumsum,
  // layout
  reshape, flatten, squeeze, unsqueeze, expand, transpose, shape_of,
  // cutting, joining, indexing
  concat, split, slice, gather, gather_elements, scatter_elements, scatter_nd, pad, tile, resize,
  attention,
  // ops whose output extent depends on the input values: the kernel reports it
  non_zero, unique, non_max_suppression,
  // the blocked NCHWc layout the CPU backend runs convolutions in (relax/passes/convert_layout.hpp)
  to_nchwc, from_nchwc, conv_nchwc,
  // a user's own scheduled kernel, referenced by name (a cross-level call)
  call_kernel,
  // a group of ops the fusion pass moved into a sub-function, run as one kernel
  fused,
  // control flow: run sub-functions of the module
  if_then_else, loop,
};

// How an op relates its inputs to its outputs; passes and the evaluator switch on it.
enum class OpFamily : std::uint8_t {
  unary,     // one input, same type out
  binary,    // two inputs broadcast, same dtype out
  compare,   // two inputs broadcast, bool out
  logical,   // bool inputs broadcast, bool out
  other,     // an op with its own rule
  control,   // if_then_else and loop: the types come from sub-functions
};

// Inputs an op takes. Optional inputs (a conv's bias) may be absent (kNoValue) in a binding.
inline constexpr int kVariadic = 255;

struct OpInfo {
  std::string_view name;
  OpFamily family = OpFamily::other;
  std::uint8_t min_inputs = 1;
  std::uint8_t max_inputs = 1;
  ElementKind element = ElementKind::any;  // for unary and binary ops: what they compute on
};

namespace detail::op_table {
using F = OpFamily;
using E = ElementKind;
inline constexpr std::uint8_t V = kVariadic;
// In OpKind order; a static_assert below keeps the two in step.
inline constexpr OpInfo kOpTable[] = {
    {"identity", F::unary, 1, 1, E::any},
    {"neg", F::unary, 1, 1, E::numeric},
    {"abs", F::unary, 1, 1, E::numeric},
    {"sign", F::unary, 1, 1, E::numeric},
    {"relu", F::unary, 1, 1, E::numeric},
    {"sigmoid", F::unary, 1, 1, E::floating},
    {"tanh", F::unary, 1, 1, E::floating},
    {"exp", F::unary, 1, 1, E::floating},
    {"log", F::unary, 1, 1, E::floating},
    {"sqrt", F::unary, 1, 1, E::floating},
    {"rsqrt", F::unary, 1, 1, E::floating},
    {"reciprocal", F::unary, 1, 1, E::floating},
    {"floor", F::unary, 1, 1, E::floating},
    {"ceil", F::unary, 1, 1, E::floating},
    {"round", F::unary, 1, 1, E::floating},
    {"sin", F::unary, 1, 1, E::floating},
    {"cos", F::unary, 1, 1, E::floating},
    {"tan", F::unary, 1, 1, E::floating},
    {"asin", F::unary, 1, 1, E::floating},
    {"acos", F::unary, 1, 1, E::floating},
    {"atan", F::unary, 1, 1, E::floating},
    {"sinh", F::unary, 1, 1, E::floating},
    {"cosh", F::unary, 1, 1, E::floating},
    {"asinh", F::unary, 1, 1, E::floating},
    {"acosh", F::unary, 1, 1, E::floating},
    {"atanh", F::unary, 1, 1, E::floating},
    {"erf", F::unary, 1, 1, E::floating},
    {"gelu", F::unary, 1, 1, E::floating},
    {"silu", F::unary, 1, 1, E::floating},
    {"logical_not", F::unary, 1, 1, E::boolean},
    {"add", F::binary, 2, 2, E::numeric},
    {"subtract", F::binary, 2, 2, E::numeric},
    {"multiply", F::binary, 2, 2, E::numeric},
    {"divide", F::binary, 2, 2, E::numeric},
    {"power", F::binary, 2, 2, E::numeric},
    {"maximum", F::binary, 2, 2, E::numeric},
    {"minimum", F::binary, 2, 2, E::numeric},
    {"mod", F::binary, 2, 2, E::numeric},
    {"equal", F::compare, 2, 2},
    {"not_equal", F::compare, 2, 2},
    {"less", F::compare, 2, 2},
    {"less_equal", F::compare, 2, 2},
    {"greater", F::compare, 2, 2},
    {"greater_equal", F::compare, 2, 2},
    {"logical_and", F::logical, 2, 2, E::boolean},
    {"logical_or", F::logical, 2, 2, E::boolean},
    {"logical_xor", F::logical, 2, 2, E::boolean},
    {"where", F::other, 3, 3},
    {"clip", F::other, 1, 3},  // x, min, max
    {"cast", F::other, 1, 1},
    {"matmul", F::other, 2, 2},
    {"gemm", F::other, 2, 3},  // a, b, c
    {"conv", F::other, 2, 3},  // x, weight, bias
    {"conv_transpose", F::other, 2, 3},
    {"max_pool", F::other, 1, 1},
    {"average_pool", F::other, 1, 1},
    {"lp_pool", F::other, 1, 1},
    {"global_max_pool", F::other, 1, 1},
    {"global_average_pool", F::other, 1, 1},
    {"global_lp_pool", F::other, 1, 1},
    {"batch_norm", F::other, 5, 5},  // x, scale, bias, mean, variance
    {"layer_norm", F::other, 2, 3},  // x, scale, bias
    {"instance_norm", F::other, 3, 3},
    {"group_norm", F::other, 3, 3},
    {"softmax", F::other, 1, 1},
    {"log_softmax", F::other, 1, 1},
    {"hardmax", F::other, 1, 1},
    {"reduce_sum", F::other, 1, 1},
    {"reduce_mean", F::other, 1, 1},
    {"reduce_max", F::other, 1, 1},
    {"reduce_min", F::other, 1, 1},
    {"reduce_prod", F::other, 1, 1},
    {"argmax", F::other, 1, 1},
    {"argmin", F::other, 1, 1},
    {"topk", F::other, 1, 1},
    {"cumsum", F::other, 1, 1},
    {"reshape", F::other, 1, 2},  // x, and the target shape as an i64 tensor unless it is an attribute
    {"flatten", F::other, 1, 1},
    {"squeeze", F::other, 1, 1},
    {"unsqueeze", F::other, 1, 1},
    {"expand", F::other, 1, 2},  // x, and the shape as an i64 tensor unless it is an attribute
    {"transpose", F::other, 1, 1},
    {"shape_of", F::other, 1, 1},
    {"concat", F::other, 1, V},
    {"split", F::other, 1, 1},
    {"slice", F::other, 1, 1},
    {"gather", F::other, 2, 2},
    {"gather_elements", F::other, 2, 2},
    {"scatter_elements", F::other, 3, 3},
    {"scatter_nd", F::other, 3, 3},
    {"pad", F::other, 1, 1},
    {"tile", F::other, 1, 1},
    {"resize", F::other, 1, 1},
    {"attention", F::other, 3, 4},  // q, k, v, mask
    {"non_zero", F::other, 1, 1},
    {"unique", F::other, 1, 1},
    // boxes, scores, and optionally max_output_boxes_per_class, iou_threshold, score_threshold
    {"non_max_suppression", F::other, 2, 5},
    {"to_nchwc", F::other, 1, 1},
    {"from_nchwc", F::other, 1, 1},
    {"conv_nchwc", F::other, 2, 3},  // x, packed weight, packed bias
    {"call_kernel", F::other, 0, V},
    {"fused", F::other, 1, V},  // the arguments of the fused sub-function
    {"if", F::control, 1, V},    // condition, then the arguments both branches take
    {"loop", F::control, 1, V},  // trip count, then the carried values
};
} // namespace detail::op_table

inline constexpr int kOpCount = static_cast<int>(OpKind::loop) + 1;
static_assert(sizeof(detail::op_table::kOpTable) / sizeof(OpInfo) == kOpCount, "kOpTable must list every OpKind in order");

constexpr const OpInfo& op_info(OpKind op) noexcept { return detail::op_table::kOpTable[static_cast<int>(op)]; }
constexpr std::string_view to_string(OpKind op) noexcept { return op_info(op).name; }

constexpr std::optional<OpKind> parse_op(std::string_view name) noexcept {
  for (int i = 0; i < kOpCount; ++i)
    if (detail::op_table::kOpTable[i].name == name) return static_cast<OpKind>(i);
  return std::nullopt;
}

constexpr bool is_control_flow(OpKind op) noexcept { return op_info(op).family == OpFamily::control; }

// Ops whose output is their first input under another shape (row-major data unchanged), so
// a runtime can make them views instead of copies.
constexpr bool is_view_op(OpKind op) noexcept {
  return op == OpKind::reshape || op == OpKind::flatten || op == OpKind::squeeze || op == OpKind::unsqueeze ||
         op == OpKind::identity;
}

// Ops whose result depends only on their inputs and attributes: passes may merge or drop
// them. A user kernel is opaque (it may write elsewhere, or count its calls), so passes
// keep every call to it.
constexpr bool is_pure(OpKind op) noexcept { return op != OpKind::call_kernel; }

} // namespace kiln::relax
