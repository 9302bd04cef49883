// kiln/frontend/onnx/import_ops_elementwise.hpp: ONNX's elementwise ops as relax ops.
//
// Ops with a relax op of their own map onto it; the activations relax lacks (LeakyRelu,
// Elu, Selu, Celu, HardSigmoid, HardSwish, Softplus, Mish, ...) are written with the ops it
// has, following the formulas of the ONNX specification.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

template <OpKind Op>
Status convert_unary(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  return ctx.set_output(0, ctx.emit(Op, {x}));
}

// Before opset 7, binary ops broadcast only with broadcast = 1, and then the second operand's
// dims line up with the first's from `axis` on (by default at the end, as NumPy would).
inline Result<Var> legacy_broadcast(NodeContext& ctx, Var a, Var b) {
  if (ctx.opset() >= 7 || ctx.attr_int("broadcast", 0) == 0 || !ctx.has_attr("axis")) return b;
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType at = ctx.type(a), bt = ctx.type(b);
  std::int64_t axis = ctx.attr_int("axis", 0);
  if (axis < 0) axis += at.rank;
  if (axis < 0 || axis + bt.rank > at.rank) return ctx.invalid("axis ", ctx.attr_int("axis", 0), " does not fit ", to_string(bt), " into ", to_string(at));
  relax::Dims dims;
  for (int i = 0; i < bt.rank; ++i) dims.push_back(bt.dims[i]);
  for (std::int64_t i = axis + bt.rank; i < at.rank; ++i) dims.push_back(1);
  return ctx.b().reshape(b, dims);
}

template <OpKind Op>
Status convert_binary(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var b, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(b, legacy_broadcast(ctx, a, b));
  return ctx.set_output(0, ctx.emit(Op, {a, b}));
}

// Identity: the output is the input's value itself (no binding).
// Identity passes tensors, sequences and optionals alike.
inline Status convert_identity(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ImportedValue x, ctx.value_input(0));
  return ctx.set_value_output(0, std::move(x));
}

// Sum, Mean, Max, Min: any number of inputs, broadcast together.
template <OpKind Op, bool Mean = false>
Status convert_variadic(NodeContext& ctx) {
  if (ctx.input_count() == 0) return ctx.invalid("needs at least one input");
  KILN_ASSIGN_OR_RETURN(Var acc, ctx.input(0));
  for (int i = 1; i < ctx.input_count(); ++i) {
    KILN_ASSIGN_OR_RETURN(const Var next, ctx.input(i));
    acc = ctx.emit(Op, {acc, next});
  }
  if (Mean && ctx.input_count() > 1) acc = ctx.emit(OpKind::divide, {acc, ctx.scalar(ctx.dtype(acc), ctx.input_count())});
  if (ctx.input_count() == 1) acc = ctx.emit(OpKind::identity, {acc});
  return ctx.set_output(0, acc);
}

// Pow: the exponent may have another dtype than the base; the result has the base's.
inline Status convert_pow(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(Var base, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var exponent, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType out = ctx.dtype(base);
  if (ctx.dtype(exponent) == out) return ctx.set_output(0, ctx.emit(OpKind::power, {base, exponent}));
  if (is_floating_point(out) || !is_floating_point(ctx.dtype(exponent))) {
    exponent = ctx.b().cast(exponent, out);
    return ctx.set_output(0, ctx.emit(OpKind::power, {base, exponent}));
  }
  // An integer base with a floating exponent: computed in the exponent's type, truncated back.
  const Var result = ctx.emit(OpKind::power, {ctx.b().cast(base, ctx.dtype(exponent)), exponent});
  return ctx.set_output(0, ctx.b().cast(result, out));
}

// Mod: fmod = 0 takes the divisor's sign (integers only), fmod = 1 the dividend's (C fmod).
inline Status convert_mod(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var b, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const bool fmod = ctx.attr_int("fmod", 0) != 0;
  const DType dtype = ctx.dtype(a);
  if (is_floating_point(dtype)) {
    if (!fmod) return ctx.invalid("fmod must be 1 for floating-point inputs");
    return ctx.set_output(0, ctx.emit(OpKind::mod, {a, b}));  // relax's float mod is C fmod
  }
  if (!fmod) return ctx.set_output(0, ctx.emit(OpKind::mod, {a, b}));  // relax's integer mod: the divisor's sign
  // C's remainder: a - trunc(a / b) * b, relax's integer divide truncating.
  const Var quotient = ctx.emit(OpKind::divide, {a, b});
  return ctx.set_output(0, ctx.emit(OpKind::subtract, {a, ctx.emit(OpKind::multiply, {quotient, b})}));
}

// BitShift on unsigned integers, as multiplication and division by powers of two.
inline Status convert_bitshift(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var shift, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType dtype = ctx.dtype(x);
  if (is_signed(dtype) || dtype == DType::boolean)
    return ctx.unsupported("BitShift is defined on unsigned integers, got ", to_string(dtype));
  const std::string direction = ctx.attr_string("direction", "");
  const Var factor = ctx.emit(OpKind::power, {ctx.scalar(dtype, 2), shift});
  if (direction == "LEFT") return ctx.set_output(0, ctx.emit(OpKind::multiply, {x, factor}));
  if (direction == "RIGHT") return ctx.set_output(0, ctx.emit(OpKind::divide, {x, factor}));
  return ctx.invalid("direction must be LEFT or RIGHT, got '", direction, "'");
}

inline Status convert_where(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var condition, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(const Var y, ctx.input(2));
  return ctx.set_output(0, ctx.b().where(condition, x, y));
}

// Clip: bounds as attributes before opset 11, as optional scalar inputs from 11 on.
inline Status convert_clip(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  Var low, high;
  if (ctx.opset() < 11) {
    const double lowest = -std::numeric_limits<double>::infinity();
    if (ctx.has_attr("min")) low = ctx.scalar(ctx.dtype(x), ctx.attr_float("min", lowest));
    if (ctx.has_attr("max")) high = ctx.scalar(ctx.dtype(x), ctx.attr_float("max", -lowest));
  } else {
    KILN_ASSIGN_OR_RETURN(low, ctx.optional_input(1));
    KILN_ASSIGN_OR_RETURN(high, ctx.optional_input(2));
  }
  if (!low.valid() && !high.valid()) return ctx.set_output(0, ctx.emit(OpKind::identity, {x}));
  return ctx.set_output(0, ctx.b().clip(x, low, high));
}

inline Result<DType> dtype_attr(const NodeContext& ctx, std::string_view name) {
  const AttributeProto* a = ctx.attr(name);
  if (a == nullptr) return ctx.invalid("the attribute '", name, "' is required");
  const auto type = static_cast<DataType>(a->i);
  const std::optional<DType> dtype = to_dtype(type);
  if (!dtype) return ctx.unsupported(name, " = ", describe(type), ": kiln has no such dtype");
  return *dtype;
}

inline Status convert_cast(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  if (ctx.opset() < 6) {
    const AttributeProto* a = ctx.attr("to");
    if (a != nullptr && a->has_s) return ctx.unsupported("Cast with a string 'to' (opset < 6) is not supported");
  }
  KILN_ASSIGN_OR_RETURN(const DType to, dtype_attr(ctx, "to"));
  return ctx.set_output(0, ctx.b().cast(x, to));
}

inline Status convert_cast_like(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var like, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, ctx.b().cast(x, ctx.dtype(like)));
}

// ---- activations written with relax ops --------------------------------------------------

// where(x < 0, negative(x), x)
template <class Negative>
Status piecewise_at_zero(NodeContext& ctx, Negative&& negative) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const Var zero = ctx.scalar(ctx.dtype(x), 0);
  const Var is_negative = ctx.b().compare(OpKind::less, x, zero);
  return ctx.set_output(0, ctx.b().where(is_negative, negative(x), x));
}

inline Status convert_leaky_relu(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 0.01);
  return piecewise_at_zero(ctx, [&](Var x) { return ctx.b().multiply(x, ctx.scalar(ctx.dtype(x), alpha)); });
}

inline Status convert_prelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x_in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(Var slope, ctx.input(1));
  KILN_RETURN_IF_ERROR(ctx.status());
  // Before opset 7 a 1-D slope holds one value per channel (axis 1).
  const relax::TensorType st = ctx.type(slope), xt = ctx.type(x_in);
  if (ctx.opset() < 7 && st.rank == 1 && xt.rank > 2 && !st.dims[0].is_constant(1)) {
    relax::Dims per_channel{st.dims[0]};
    for (int a = 2; a < xt.rank; ++a) per_channel.push_back(1);
    slope = ctx.b().reshape(slope, per_channel);
  }
  return piecewise_at_zero(ctx, [&](Var x) { return ctx.b().multiply(x, slope); });
}

// alpha * (exp(x) - 1) below zero.
inline Status convert_elu(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 1.0);
  return piecewise_at_zero(ctx, [&](Var x) {
    const DType t = ctx.dtype(x);
    return ctx.b().multiply(ctx.b().subtract(ctx.b().exp(x), ctx.scalar(t, 1)), ctx.scalar(t, alpha));
  });
}

// gamma * (x > 0 ? x : alpha * exp(x) - alpha)
inline Status convert_selu(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 1.67326319217681884765625);
  const double gamma = ctx.attr_float("gamma", 1.05070102214813232421875);
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  const Var negative = b.subtract(b.multiply(b.exp(x), ctx.scalar(t, alpha)), ctx.scalar(t, alpha));
  const Var positive = b.compare(OpKind::greater, x, ctx.scalar(t, 0));
  return ctx.set_output(0, b.multiply(b.where(positive, x, negative), ctx.scalar(t, gamma)));
}

// max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
inline Status convert_celu(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 1.0);
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  const Var zero = ctx.scalar(t, 0);
  const Var expm1 = b.subtract(b.exp(b.divide(x, ctx.scalar(t, alpha))), ctx.scalar(t, 1));
  return ctx.set_output(0, b.add(b.maximum(x, zero), b.minimum(b.multiply(expm1, ctx.scalar(t, alpha)), zero)));
}

inline Status convert_thresholded_relu(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 1.0);
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const DType t = ctx.dtype(x);
  const Var above = ctx.b().compare(OpKind::greater, x, ctx.scalar(t, alpha));
  return ctx.set_output(0, ctx.b().where(above, x, ctx.scalar(t, 0)));
}

// max(0, min(1, alpha * x + beta))
inline Var hard_sigmoid(NodeContext& ctx, Var x, double alpha, double beta) {
  const DType t = ctx.dtype(x);
  const Var linear = ctx.b().add(ctx.b().multiply(x, ctx.scalar(t, alpha)), ctx.scalar(t, beta));
  return ctx.b().clip(linear, ctx.scalar(t, 0), ctx.scalar(t, 1));
}

inline Status convert_hard_sigmoid(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, hard_sigmoid(ctx, x, ctx.attr_float("alpha", 0.2), ctx.attr_float("beta", 0.5)));
}

inline Status convert_hard_swish(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, ctx.b().multiply(x, hard_sigmoid(ctx, x, 1.0 / 6.0, 0.5)));
}

// log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)), which does not overflow.
inline Var softplus(NodeContext& ctx, Var x) {
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  const Var tail = b.emit(OpKind::log, {b.add(ctx.scalar(t, 1), b.exp(b.neg(b.emit(OpKind::abs, {x}))))});
  return b.add(b.maximum(x, ctx.scalar(t, 0)), tail);
}

inline Status convert_softplus(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, softplus(ctx, x));
}

inline Status convert_softsign(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const Var denominator = ctx.b().add(ctx.scalar(ctx.dtype(x), 1), ctx.b().emit(OpKind::abs, {x}));
  return ctx.set_output(0, ctx.b().divide(x, denominator));
}

// x * tanh(softplus(x))
inline Status convert_mish(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  return ctx.set_output(0, ctx.b().multiply(x, ctx.b().tanh(softplus(ctx, x))));
}

// x < -lambd: x + bias; x > lambd: x - bias; else 0.
inline Status convert_shrink(NodeContext& ctx) {
  const double bias = ctx.attr_float("bias", 0.0);
  const double lambd = ctx.attr_float("lambd", 0.5);
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  const Var below = b.compare(OpKind::less, x, ctx.scalar(t, -lambd));
  const Var above = b.compare(OpKind::greater, x, ctx.scalar(t, lambd));
  const Var inner = b.where(above, b.subtract(x, ctx.scalar(t, bias)), ctx.scalar(t, 0));
  return ctx.set_output(0, b.where(below, b.add(x, ctx.scalar(t, bias)), inner));
}

// Gelu (opset 20): exact, or the tanh approximation written out.
inline Status convert_gelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::string approximate = ctx.attr_string("approximate", "none");
  if (approximate == "none") return ctx.set_output(0, ctx.b().gelu(x));
  if (approximate != "tanh") return ctx.invalid("approximate must be none or tanh, got '", approximate, "'");
  relax::Builder& b = ctx.b();
  const DType t = ctx.dtype(x);
  // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
  const Var cube = b.multiply(b.multiply(x, x), x);
  const Var inner = b.multiply(b.add(x, b.multiply(cube, ctx.scalar(t, 0.044715))),
                               ctx.scalar(t, 0.7978845608028654));
  const Var half_x = b.multiply(x, ctx.scalar(t, 0.5));
  return ctx.set_output(0, b.multiply(half_x, b.add(ctx.scalar(t, 1), b.tanh(inner))));
}

// IsNaN: x != x.
inline Status convert_isnan(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  return ctx.set_output(0, ctx.b().compare(OpKind::not_equal, x, x));
}

// IsInf: x == +inf and/or x == -inf.
inline Status convert_isinf(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const bool positive = ctx.attr_int("detect_positive", 1) != 0;
  const bool negative = ctx.attr_int("detect_negative", 1) != 0;
  const DType t = ctx.dtype(x);
  const double inf = std::numeric_limits<double>::infinity();
  relax::Builder& b = ctx.b();
  if (positive && negative)
    return ctx.set_output(0, b.compare(OpKind::equal, b.emit(OpKind::abs, {x}), ctx.scalar(t, inf)));
  if (positive) return ctx.set_output(0, b.compare(OpKind::equal, x, ctx.scalar(t, inf)));
  if (negative) return ctx.set_output(0, b.compare(OpKind::equal, x, ctx.scalar(t, -inf)));
  return ctx.set_output(0, b.compare(OpKind::less, x, x));  // neither sign: never true
}

// GreaterOrEqual and LessOrEqual, and the comparisons.
template <OpKind Op>
Status convert_compare(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const Var b, ctx.input(1));
  return ctx.set_output(0, ctx.b().compare(Op, a, b));
}

inline constexpr ConverterEntry kElementwiseConverters[] = {
    {"Identity", convert_identity},
    {"Neg", convert_unary<OpKind::neg>},
    {"Abs", convert_unary<OpKind::abs>},
    {"Sign", convert_unary<OpKind::sign>},
    {"Relu", convert_unary<OpKind::relu>},
    {"Sigmoid", convert_unary<OpKind::sigmoid>},
    {"Tanh", convert_unary<OpKind::tanh>},
    {"Exp", convert_unary<OpKind::exp>},
    {"Log", convert_unary<OpKind::log>},
    {"Sqrt", convert_unary<OpKind::sqrt>},
    {"Reciprocal", convert_unary<OpKind::reciprocal>},
    {"Floor", convert_unary<OpKind::floor>},
    {"Ceil", convert_unary<OpKind::ceil>},
    {"Round", convert_unary<OpKind::round>},
    {"Sin", convert_unary<OpKind::sin>},
    {"Cos", convert_unary<OpKind::cos>},
    {"Tan", convert_unary<OpKind::tan>},
    {"Asin", convert_unary<OpKind::asin>},
    {"Acos", convert_unary<OpKind::acos>},
    {"Atan", convert_unary<OpKind::atan>},
    {"Sinh", convert_unary<OpKind::sinh>},
    {"Cosh", convert_unary<OpKind::cosh>},
    {"Asinh", convert_unary<OpKind::asinh>},
    {"Acosh", convert_unary<OpKind::acosh>},
    {"Atanh", convert_unary<OpKind::atanh>},
    {"Erf", convert_unary<OpKind::erf>},
    {"Not", convert_unary<OpKind::logical_not>},
    {"Add", convert_binary<OpKind::add>},
    {"Sub", convert_binary<OpKind::subtract>},
    {"Mul", convert_binary<OpKind::multiply>},
    {"Div", convert_binary<OpKind::divide>},
    {"Pow", convert_pow},
    {"Mod", convert_mod},
    {"BitShift", convert_bitshift},
    {"Sum", convert_variadic<OpKind::add>},
    {"Mean", convert_variadic<OpKind::add, true>},
    {"Max", convert_variadic<OpKind::maximum>},
    {"Min", convert_variadic<OpKind::minimum>},
    {"Equal", convert_compare<OpKind::equal>},
    {"Less", convert_compare<OpKind::less>},
    {"LessOrEqual", convert_compare<OpKind::less_equal>},
    {"Greater", convert_compare<OpKind::greater>},
    {"GreaterOrEqual", convert_compare<OpKind::greater_equal>},
    {"And", convert_binary<OpKind::logical_and>},
    {"Or", convert_binary<OpKind::logical_or>},
    {"Xor", convert_binary<OpKind::logical_xor>},
    {"Where", convert_where},
    {"Clip", convert_clip},
    {"Cast", convert_cast},
    {"CastLike", convert_cast_like},
    {"LeakyRelu", convert_leaky_relu},
    {"PRelu", convert_prelu},
    {"Elu", convert_elu},
    {"Selu", convert_selu},
    {"Celu", convert_celu},
    {"ThresholdedRelu", convert_thresholded_relu},
    {"HardSigmoid", convert_hard_sigmoid},
    {"HardSwish", convert_hard_swish},
    {"Softplus", convert_softplus},
    {"Softsign", convert_softsign},
    {"Mish", convert_mish},
    {"Shrink", convert_shrink},
    {"Gelu", convert_gelu},
    {"IsNaN", convert_isnan},
    {"IsInf", convert_isinf},
};

} // namespace kiln::onnx::detail
