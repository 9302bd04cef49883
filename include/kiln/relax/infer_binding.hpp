// kiln/relax/infer_binding.hpp: the output types of one binding of a dynamic module, by op.
//
// infer_types() is the run-time dispatch from (OpKind, Attrs, input types) to the constexpr
// infer:: functions; the builder calls it for every op it records, and passes call it for
// the bindings they create. Reshape and expand may take their target shape as an i64
// tensor; its elements must then be known at load time (Value::contents), perhaps as
// symbolic dims: shape_of(x) followed by shape arithmetic is the usual way.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "attributes.hpp"
#include "infer_data_dependent.hpp"
#include "module.hpp"
#include "op_kind.hpp"
#include "shape_inference.hpp"

namespace kiln::relax {

// One input as inference sees it.
struct InferInput {
  const TensorType* type = nullptr;                // null: an absent optional input
  const Contents* contents = nullptr;              // the elements, when known at load time
};

namespace detail {

inline Result<std::vector<TensorType>> one_type(const Inferred<TensorType>& r) {
  if (!r.ok()) return r.error().to_status();
  return std::vector<TensorType>{*r};
}
inline Result<std::vector<TensorType>> type_list(const Inferred<TensorTypeList>& r) {
  if (!r.ok()) return r.error().to_status();
  return std::vector<TensorType>(r->begin(), r->end());
}

constexpr PoolKind pool_kind(OpKind op) noexcept {
  switch (op) {
    case OpKind::max_pool:
    case OpKind::global_max_pool: return PoolKind::max;
    case OpKind::lp_pool:
    case OpKind::global_lp_pool: return PoolKind::lp;
    default: return PoolKind::average;
  }
}

// The target shape of a reshape or expand: the attribute, or the known elements of the
// shape tensor.
inline Result<Dims> target_shape(std::string_view op, const Attrs& attrs, std::span<const InferInput> in) {
  if (in.size() < 2) return std::get<ShapeAttrs>(attrs).shape;
  const TensorType& shape = *in[1].type;
  if (!is_integer(shape.dtype) || shape.rank != 1)
    return make_error(StatusCode::dtype_mismatch, op, ": the shape must be a 1-D integer tensor, got ",
                      to_string(shape));
  if (!in[1].contents)
    return make_error(StatusCode::unsupported, op, ": the shape ", to_string(shape),
                      " is computed from run-time data; it must be known at load time");
  if (in[1].contents->size() > static_cast<std::size_t>(kMaxRank))
    return make_error(StatusCode::unsupported, op, ": the shape has ", in[1].contents->size(), " dims, above ",
                      kMaxRank);
  Dims dims;
  for (const SymDim& d : *in[1].contents) dims.push_back(d);
  return dims;
}

// The types of a call of `callee` with `args`; the parameters must take them as they are.
inline Status check_call(std::string_view op, const Module& module, int callee, std::span<const InferInput> args) {
  if (callee < 0 || callee >= static_cast<int>(module.functions.size()))
    return make_error(StatusCode::not_found, op, ": function ", callee, " does not exist");
  const Function& fn = module.functions[static_cast<std::size_t>(callee)];
  if (fn.params.size() != args.size())
    return make_error(StatusCode::invalid_argument, op, ": @", fn.name, " takes ", fn.params.size(),
                      " arguments, given ", args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    const TensorType& param = fn.type(fn.params[i]);
    if (!args[i].type || !(*args[i].type == param))
      return make_error(StatusCode::shape_mismatch, op, ": argument ", i, " of @", fn.name, " is ",
                        args[i].type ? to_string(*args[i].type) : std::string("absent"), ", the parameter ",
                        fn.value(fn.params[i]).name, " is ", to_string(param));
  }
  return {};
}

inline std::vector<TensorType> output_types(const Function& fn) {
  std::vector<TensorType> types;
  for (ValueId out : fn.outputs) types.push_back(fn.type(out));
  return types;
}

inline Result<std::vector<TensorType>> infer_control(OpKind op, const Attrs& attrs, std::span<const InferInput> in,
                                                     const Module* module) {
  const std::string_view name = to_string(op);
  if (!module) return make_error(StatusCode::invalid_argument, name, ": needs the module its sub-functions are in");
  const TensorType& head = *in[0].type;
  if (prove_equal(head.element_count(), 1) != Truth::yes)
    return make_error(StatusCode::shape_mismatch, name, ": ", op == OpKind::loop ? "the trip count" : "the condition",
                      " must have one element, got ", to_string(head));
  const std::span<const InferInput> args = in.subspan(1);
  if (op == OpKind::if_then_else) {
    if (head.dtype != DType::boolean)
      return make_error(StatusCode::dtype_mismatch, name, ": the condition must be bool, got ", to_string(head));
    const auto& a = std::get<IfAttrs>(attrs);
    KILN_RETURN_IF_ERROR(check_call(name, *module, a.then_branch, args));
    KILN_RETURN_IF_ERROR(check_call(name, *module, a.else_branch, args));
    std::vector<TensorType> then_types = output_types(module->functions[static_cast<std::size_t>(a.then_branch)]);
    std::vector<TensorType> else_types = output_types(module->functions[static_cast<std::size_t>(a.else_branch)]);
    if (then_types.size() != else_types.size())
      return make_error(StatusCode::shape_mismatch, name, ": the branches return ", then_types.size(), " and ",
                        else_types.size(), " values");
    for (std::size_t i = 0; i < then_types.size(); ++i)
      if (!(then_types[i] == else_types[i]))
        return make_error(StatusCode::shape_mismatch, name, ": output ", i, " is ", to_string(then_types[i]),
                          " in one branch and ", to_string(else_types[i]), " in the other");
    return then_types;
  }
  // loop: body(iteration, carried...) -> carried..., each carried value keeping its type.
  if (!is_integer(head.dtype))
    return make_error(StatusCode::dtype_mismatch, name, ": the trip count must be an integer, got ", to_string(head));
  const auto& a = std::get<LoopAttrs>(attrs);
  const TensorType iteration(DType::i64, {});
  std::vector<InferInput> body_args{InferInput{&iteration}};
  body_args.insert(body_args.end(), args.begin(), args.end());
  KILN_RETURN_IF_ERROR(check_call(name, *module, a.body, body_args));
  std::vector<TensorType> carried = output_types(module->functions[static_cast<std::size_t>(a.body)]);
  if (carried.size() != args.size())
    return make_error(StatusCode::invalid_argument, name, ": the body returns ", carried.size(), " values for ",
                      args.size(), " carried values");
  for (std::size_t i = 0; i < carried.size(); ++i)
    if (!(carried[i] == *args[i].type))
      return make_error(StatusCode::shape_mismatch, name, ": carried value ", i, " changes from ",
                        to_string(*args[i].type), " to ", to_string(carried[i]), " in the body");
  return carried;
}

} // namespace detail

// The output types of `op` applied to `inputs` with `attrs`, or an error whose message
// starts with the op. Control flow needs the module its sub-functions live in.
inline Result<std::vector<TensorType>> infer_types(OpKind op, const Attrs& attrs, std::span<const InferInput> in,
                                             const Module* module = nullptr) {
  const OpInfo& info = op_info(op);
  const std::string_view name = info.name;
  if (in.size() < info.min_inputs || (info.max_inputs != kVariadic && in.size() > info.max_inputs)) {
    if (info.min_inputs == info.max_inputs)
      return make_error(StatusCode::invalid_argument, name, ": takes ", int{info.min_inputs},
                        info.min_inputs == 1 ? " input" : " inputs", ", given ", in.size());
    return make_error(StatusCode::invalid_argument, name, ": takes ", int{info.min_inputs}, " to ",
                      info.max_inputs == kVariadic ? std::string("any number of") : str_cat(int{info.max_inputs}),
                      " inputs, given ", in.size());
  }
  for (std::size_t i = 0; i < in.size(); ++i)
    if (!in[i].type && (i < info.min_inputs || op == OpKind::concat || op == OpKind::call_kernel || op == OpKind::fused ||
                        is_control_flow(op)))
      return make_error(StatusCode::invalid_argument, name, ": input ", i, " is required");
  if (!attrs_fit(op, attrs))
    return make_error(StatusCode::invalid_argument, name, ": given the attributes of another op");

  const auto t = [&](std::size_t i) -> const TensorType& { return *in[i].type; };
  const auto optional = [&](std::size_t i) -> const TensorType* { return i < in.size() ? in[i].type : nullptr; };

  switch (info.family) {
    case OpFamily::unary: return detail::one_type(infer::unary(name, t(0), info.element));
    case OpFamily::binary: return detail::one_type(infer::binary(name, t(0), t(1), info.element));
    case OpFamily::compare: return detail::one_type(infer::compare(name, t(0), t(1)));
    case OpFamily::logical: return detail::one_type(infer::logical(name, t(0), t(1)));
    case OpFamily::control: return detail::infer_control(op, attrs, in, module);
    case OpFamily::other: break;
  }

  switch (op) {
    case OpKind::where: return detail::one_type(infer::where(t(0), t(1), t(2)));
    case OpKind::clip: return detail::one_type(infer::clip(t(0), optional(1), optional(2)));
    case OpKind::cast: return detail::one_type(infer::cast(t(0), std::get<CastAttrs>(attrs).to));
    case OpKind::matmul: return detail::one_type(infer::matmul(t(0), t(1)));
    case OpKind::gemm: {
      const auto& a = std::get<GemmOpAttrs>(attrs);
      return detail::one_type(infer::gemm(t(0), t(1), optional(2), infer::GemmAttrs{a.trans_a, a.trans_b}));
    }
    case OpKind::conv: return detail::one_type(infer::conv(t(0), t(1), optional(2), std::get<ConvAttrs>(attrs)));
    case OpKind::conv_transpose:
      return detail::one_type(infer::conv_transpose(t(0), t(1), optional(2), std::get<ConvTransposeAttrs>(attrs)));
    case OpKind::max_pool:
    case OpKind::average_pool:
    case OpKind::lp_pool: return detail::one_type(infer::pool(detail::pool_kind(op), t(0), std::get<PoolAttrs>(attrs)));
    case OpKind::global_max_pool:
    case OpKind::global_average_pool:
    case OpKind::global_lp_pool: return detail::one_type(infer::global_pool(detail::pool_kind(op), t(0)));
    case OpKind::batch_norm: return detail::one_type(infer::batch_norm(t(0), t(1), t(2), t(3), t(4)));
    case OpKind::layer_norm:
      return detail::one_type(infer::layer_norm(t(0), t(1), optional(2), std::get<NormAttrs>(attrs).axis));
    case OpKind::instance_norm: return detail::one_type(infer::instance_norm(t(0), t(1), t(2)));
    case OpKind::group_norm:
      return detail::one_type(infer::group_norm(t(0), t(1), t(2), std::get<NormAttrs>(attrs).num_groups));
    case OpKind::softmax:
    case OpKind::log_softmax:
    case OpKind::hardmax: return detail::one_type(infer::softmax(name, t(0), std::get<AxisAttrs>(attrs).axis));
    case OpKind::reduce_sum:
    case OpKind::reduce_mean:
    case OpKind::reduce_max:
    case OpKind::reduce_min:
    case OpKind::reduce_prod: return detail::one_type(infer::reduce(name, t(0), std::get<ReduceAttrs>(attrs)));
    case OpKind::argmax:
    case OpKind::argmin: {
      const auto& a = std::get<ArgReduceAttrs>(attrs);
      return detail::one_type(infer::arg_reduce(name, t(0), a.axis, a.keepdims));
    }
    case OpKind::topk: {
      const auto& a = std::get<TopKAttrs>(attrs);
      return detail::type_list(infer::topk(t(0), a.k, a.axis));
    }
    case OpKind::cumsum: return detail::one_type(infer::cumsum(t(0), std::get<CumSumAttrs>(attrs).axis));
    case OpKind::reshape: {
      KILN_ASSIGN_OR_RETURN(const Dims target, detail::target_shape(name, attrs, in));
      return detail::one_type(infer::reshape(t(0), target, std::get<ShapeAttrs>(attrs).allowzero));
    }
    case OpKind::expand: {
      KILN_ASSIGN_OR_RETURN(const Dims target, detail::target_shape(name, attrs, in));
      return detail::one_type(infer::expand(t(0), target));
    }
    case OpKind::flatten: return detail::one_type(infer::flatten(t(0), std::get<AxisAttrs>(attrs).axis));
    case OpKind::squeeze: return detail::one_type(infer::squeeze(t(0), std::get<AxesAttrs>(attrs).axes));
    case OpKind::unsqueeze: return detail::one_type(infer::unsqueeze(t(0), std::get<AxesAttrs>(attrs).axes));
    case OpKind::transpose: return detail::one_type(infer::transpose(t(0), std::get<PermAttrs>(attrs).perm));
    case OpKind::shape_of: {
      const auto& a = std::get<ShapeOfAttrs>(attrs);
      return detail::one_type(infer::shape_of(t(0), a.start, a.end));
    }
    case OpKind::concat: {
      std::vector<TensorType> types;
      for (const InferInput& i : in) types.push_back(*i.type);
      return detail::one_type(infer::concat(std::span<const TensorType>(types), std::get<AxisAttrs>(attrs).axis));
    }
    case OpKind::split: return detail::type_list(infer::split(t(0), std::get<SplitAttrs>(attrs)));
    case OpKind::slice: return detail::one_type(infer::slice(t(0), std::get<SliceAttrs>(attrs)));
    case OpKind::gather: return detail::one_type(infer::gather(t(0), t(1), std::get<AxisAttrs>(attrs).axis));
    case OpKind::gather_elements:
      return detail::one_type(infer::gather_elements(t(0), t(1), std::get<AxisAttrs>(attrs).axis));
    case OpKind::scatter_elements:
      return detail::one_type(infer::scatter_elements(t(0), t(1), t(2), std::get<ScatterAttrs>(attrs).axis));
    case OpKind::scatter_nd: return detail::one_type(infer::scatter_nd(t(0), t(1), t(2)));
    case OpKind::pad: {
      const auto& a = std::get<PadAttrs>(attrs);
      return detail::one_type(infer::pad(t(0), a.pads, a.axes));
    }
    case OpKind::tile: return detail::one_type(infer::tile(t(0), std::get<TileAttrs>(attrs).repeats));
    case OpKind::resize: return detail::one_type(infer::resize(t(0), std::get<ResizeAttrs>(attrs)));
    case OpKind::attention: return detail::one_type(infer::attention(t(0), t(1), t(2), optional(3)));
    case OpKind::non_zero: return infer::non_zero(t(0), std::get<NonZeroAttrs>(attrs));
    case OpKind::unique: return infer::unique(t(0), std::get<UniqueAttrs>(attrs));
    case OpKind::non_max_suppression:
      return infer::non_max_suppression(t(0), t(1), std::get<NonMaxSuppressionAttrs>(attrs));
    case OpKind::to_nchwc: return detail::one_type(infer::to_nchwc(t(0), std::get<BlockAttrs>(attrs).block));
    case OpKind::from_nchwc:
      return detail::one_type(infer::from_nchwc(t(0), std::get<ChannelsAttrs>(attrs).channels));
    case OpKind::conv_nchwc:
      return detail::one_type(infer::conv_nchwc(t(0), t(1), optional(2), std::get<ConvAttrs>(attrs)));
    case OpKind::call_kernel: {
      const auto& a = std::get<CallKernelAttrs>(attrs);
      if (a.kernel.empty()) return make_error(StatusCode::invalid_argument, name, ": the kernel has no name");
      if (a.outputs.empty())
        return make_error(StatusCode::invalid_argument, name, ": kernel \"", a.kernel, "\" declares no outputs");
      for (const TensorType& out : a.outputs) {
        if (auto error = detail::check_input(name, "an output", out)) return error->to_status();
      }
      return a.outputs;
    }
    case OpKind::fused: {
      if (!module) return make_error(StatusCode::invalid_argument, name, ": needs the module its sub-function is in");
      const int callee = std::get<FusedAttrs>(attrs).function;
      KILN_RETURN_IF_ERROR(detail::check_call(name, *module, callee, in));
      return detail::output_types(module->functions[static_cast<std::size_t>(callee)]);
    }
    default: break;
  }
  return make_error(StatusCode::internal, name, ": no inference rule");
}

// The output types of a binding of `fn`, from the types (and known contents) of its inputs.
inline Result<std::vector<TensorType>> infer_types(const Function& fn, const Binding& binding,
                                             const Module* module = nullptr) {
  std::vector<InferInput> inputs;
  for (ValueId id : binding.inputs) {
    if (id == kNoValue) {
      inputs.push_back({});
      continue;
    }
    if (!fn.has_value(id))
      return make_error(StatusCode::internal, to_string(binding.op), ": input ", inputs.size(), " is no value");
    const Value& v = fn.value(id);
    inputs.push_back({&v.type, v.contents ? &*v.contents : nullptr});
  }
  return infer_types(binding.op, binding.attrs, inputs, module);
}

} // namespace kiln::relax
