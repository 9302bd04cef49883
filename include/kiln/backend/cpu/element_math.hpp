// kiln/backend/cpu/element_math.hpp: the f32 elementwise ops that fused code computes, on one
// float or on a SIMD batch of them, the op chosen at compile time. The VM's fused kernel and
// the static graph's fused loops both take their math from here.
#pragma once

#include <cmath>
#include <type_traits>

#include "../../config.hpp"
#include "../../relax/op_kind.hpp"
#include "arch.hpp"

namespace kiln::cpu::math {

template <relax::OpKind Op>
KILN_FORCEINLINE float unary(float s) {
  using relax::OpKind;
  if constexpr (Op == OpKind::neg) return -s;
  else if constexpr (Op == OpKind::abs) return std::fabs(s);
  else if constexpr (Op == OpKind::sign) return s > 0.0f ? 1.0f : (s < 0.0f ? -1.0f : 0.0f);
  else if constexpr (Op == OpKind::relu) return s > 0.0f ? s : 0.0f;
  else if constexpr (Op == OpKind::sigmoid) return 1.0f / (1.0f + std::exp(-s));
  else if constexpr (Op == OpKind::tanh) return std::tanh(s);
  else if constexpr (Op == OpKind::exp) return std::exp(s);
  else if constexpr (Op == OpKind::log) return std::log(s);
  else if constexpr (Op == OpKind::sqrt) return std::sqrt(s);
  else if constexpr (Op == OpKind::rsqrt) return 1.0f / std::sqrt(s);
  else if constexpr (Op == OpKind::reciprocal) return 1.0f / s;
  else if constexpr (Op == OpKind::floor) return std::floor(s);
  else if constexpr (Op == OpKind::ceil) return std::ceil(s);
  else if constexpr (Op == OpKind::round) return std::nearbyint(s);  // halves to even, as ONNX Round
  else if constexpr (Op == OpKind::sin) return std::sin(s);
  else if constexpr (Op == OpKind::cos) return std::cos(s);
  else if constexpr (Op == OpKind::tan) return std::tan(s);
  else if constexpr (Op == OpKind::asin) return std::asin(s);
  else if constexpr (Op == OpKind::acos) return std::acos(s);
  else if constexpr (Op == OpKind::atan) return std::atan(s);
  else if constexpr (Op == OpKind::sinh) return std::sinh(s);
  else if constexpr (Op == OpKind::cosh) return std::cosh(s);
  else if constexpr (Op == OpKind::asinh) return std::asinh(s);
  else if constexpr (Op == OpKind::acosh) return std::acosh(s);
  else if constexpr (Op == OpKind::atanh) return std::atanh(s);
  else if constexpr (Op == OpKind::erf) return std::erf(s);
  else if constexpr (Op == OpKind::gelu) return 0.5f * s * (1.0f + std::erf(s * 0.70710678118654752f));
  else if constexpr (Op == OpKind::silu) return s / (1.0f + std::exp(-s));
  else static_assert(Op == OpKind::neg, "kiln: not a fusable unary op");
}

template <relax::OpKind Op>
KILN_FORCEINLINE float binary(float a, float b) {
  using relax::OpKind;
  if constexpr (Op == OpKind::add) return a + b;
  else if constexpr (Op == OpKind::subtract) return a - b;
  else if constexpr (Op == OpKind::multiply) return a * b;
  else if constexpr (Op == OpKind::divide) return a / b;
  else if constexpr (Op == OpKind::maximum) return a > b ? a : b;
  else if constexpr (Op == OpKind::minimum) return a < b ? a : b;
  else if constexpr (Op == OpKind::power) return std::pow(a, b);
  else static_assert(Op == OpKind::add, "kiln: not a fusable binary op");
}

#if KILN_CPU_HAVE_XSIMD
using batch = xsimd::batch<float>;

template <relax::OpKind Op>
KILN_FORCEINLINE batch unary(batch v) {
  using relax::OpKind;
  const batch one(1.0f), zero(0.0f);
  if constexpr (Op == OpKind::neg) return -v;
  else if constexpr (Op == OpKind::abs) return xsimd::abs(v);
  else if constexpr (Op == OpKind::sign) return xsimd::select(v > zero, one, xsimd::select(v < zero, -one, zero));
  else if constexpr (Op == OpKind::relu) return xsimd::max(v, zero);
  else if constexpr (Op == OpKind::sigmoid) return one / (one + xsimd::exp(-v));
  else if constexpr (Op == OpKind::tanh) return xsimd::tanh(v);
  else if constexpr (Op == OpKind::exp) return xsimd::exp(v);
  else if constexpr (Op == OpKind::log) return xsimd::log(v);
  else if constexpr (Op == OpKind::sqrt) return xsimd::sqrt(v);
  else if constexpr (Op == OpKind::rsqrt) return one / xsimd::sqrt(v);
  else if constexpr (Op == OpKind::reciprocal) return one / v;
  else if constexpr (Op == OpKind::floor) return xsimd::floor(v);
  else if constexpr (Op == OpKind::ceil) return xsimd::ceil(v);
  else if constexpr (Op == OpKind::round) return xsimd::nearbyint(v);
  else if constexpr (Op == OpKind::sin) return xsimd::sin(v);
  else if constexpr (Op == OpKind::cos) return xsimd::cos(v);
  else if constexpr (Op == OpKind::tan) return xsimd::tan(v);
  else if constexpr (Op == OpKind::asin) return xsimd::asin(v);
  else if constexpr (Op == OpKind::acos) return xsimd::acos(v);
  else if constexpr (Op == OpKind::atan) return xsimd::atan(v);
  else if constexpr (Op == OpKind::sinh) return xsimd::sinh(v);
  else if constexpr (Op == OpKind::cosh) return xsimd::cosh(v);
  else if constexpr (Op == OpKind::asinh) return xsimd::asinh(v);
  else if constexpr (Op == OpKind::acosh) return xsimd::acosh(v);
  else if constexpr (Op == OpKind::atanh) return xsimd::atanh(v);
  else if constexpr (Op == OpKind::erf) return xsimd::erf(v);
  else if constexpr (Op == OpKind::gelu) return batch(0.5f) * v * (one + xsimd::erf(v * batch(0.70710678118654752f)));
  else if constexpr (Op == OpKind::silu) return v / (one + xsimd::exp(-v));
  else static_assert(Op == OpKind::neg, "kiln: not a fusable unary op");
}

template <relax::OpKind Op>
KILN_FORCEINLINE batch binary(batch a, batch b) {
  using relax::OpKind;
  if constexpr (Op == OpKind::add) return a + b;
  else if constexpr (Op == OpKind::subtract) return a - b;
  else if constexpr (Op == OpKind::multiply) return a * b;
  else if constexpr (Op == OpKind::divide) return a / b;
  else if constexpr (Op == OpKind::maximum) return xsimd::max(a, b);
  else if constexpr (Op == OpKind::minimum) return xsimd::min(a, b);
  else if constexpr (Op == OpKind::power) return xsimd::pow(a, b);
  else static_assert(Op == OpKind::add, "kiln: not a fusable binary op");
}
#endif

} // namespace kiln::cpu::math
