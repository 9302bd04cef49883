// kiln/vm/ops/fused.hpp: the CPU kernel of `fused` calls: an optional anchor, then a chain
// of f32 elementwise steps evaluated tile by tile in registers on the stack.
//
// A tile is kTileFloats consecutive output elements. Each input is loaded into its register
// for the tile (or read in place when it has the output's shape), each step writes its own
// register, and the last one is stored into the output. An anchor (matmul, gemm, conv)
// first writes the whole output with its own kernel; the steps then read it back tile by
// tile while it is still in cache and overwrite it with the final values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../backend/cpu/arch.hpp"
#include "../../config.hpp"
#include "../../core/status.hpp"
#include "../fused_program.hpp"
#include "../op_kernel.hpp"

namespace kiln::vm {
namespace fused_detail {

inline constexpr std::int64_t kTileFloats = 256;

// Where input `slot` is for output elements [begin, begin + count) of an output of `out`
// shape: a pointer into the slot when its elements line up with the output's, else the
// broadcast values gathered into `buffer`.
inline const float* load_input(const Slot& in, const Slot& out, std::int64_t begin, std::int64_t count, float* buffer) {
  const auto* data = static_cast<const float*>(in.data);
  if (in.elements() == out.elements() && in.contiguous()) return data + begin;
  if (in.elements() == 1) {
    std::fill(buffer, buffer + count, data[0]);
    return buffer;
  }
  // Output axis a reads the input's axis a - (out.rank - in.rank), with stride 0 where the
  // input has extent 1 or no such axis.
  std::int64_t stride[kMaxRank] = {};
  std::int64_t index[kMaxRank] = {};
  const int shift = out.rank - in.rank;
  for (int a = 0; a < out.rank; ++a) {
    const int ia = a - shift;
    stride[a] = (ia >= 0 && in.dims[ia] != 1) ? in.strides[ia] : 0;
  }
  std::int64_t rest = begin;
  for (int a = out.rank; a-- > 0;) {
    index[a] = out.dims[a] > 0 ? rest % out.dims[a] : 0;
    rest = out.dims[a] > 0 ? rest / out.dims[a] : 0;
  }
  std::int64_t offset = 0;
  for (int a = 0; a < out.rank; ++a) offset += index[a] * stride[a];
  const int last = out.rank - 1;
  std::int64_t done = 0;
  while (done < count) {
    // A run along the last axis, then carry into the outer axes.
    const std::int64_t run = std::min(count - done, out.dims[last] - index[last]);
    if (stride[last] == 0) std::fill(buffer + done, buffer + done + run, data[offset]);
    else if (stride[last] == 1) std::memcpy(buffer + done, data + offset, static_cast<std::size_t>(run) * sizeof(float));
    else
      for (std::int64_t i = 0; i < run; ++i) buffer[done + i] = data[offset + i * stride[last]];
    done += run;
    offset += run * stride[last];
    index[last] += run;
    for (int a = last; a > 0 && index[a] == out.dims[a]; --a) {
      offset -= index[a] * stride[a];
      index[a] = 0;
      ++index[a - 1];
      offset += stride[a - 1];
    }
  }
  return buffer;
}

template <class Fn>
KILN_FORCEINLINE void map1(const float* x, float* y, std::int64_t n, Fn fn) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = fn(x[i]);
}

#if KILN_CPU_HAVE_XSIMD
using batch = xsimd::batch<float>;
// y = vector_fn(x) over whole batches, scalar_fn on the tail.
template <class VFn, class SFn>
KILN_FORCEINLINE void map1v(const float* x, float* y, std::int64_t n, VFn vector_fn, SFn scalar_fn) {
  constexpr std::int64_t w = static_cast<std::int64_t>(batch::size);
  std::int64_t i = 0;
  for (; i + w <= n; i += w) vector_fn(batch::load_unaligned(x + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = scalar_fn(x[i]);
}
#define KILN_FUSED_MAP(VEXPR, SEXPR) map1v(x, y, n, [](batch v) { return VEXPR; }, [](float s) { return SEXPR; })
#else
#define KILN_FUSED_MAP(VEXPR, SEXPR) map1(x, y, n, [](float s) { return SEXPR; })
#endif

inline float sigmoid(float s) { return 1.0f / (1.0f + std::exp(-s)); }
inline float gelu(float s) { return 0.5f * s * (1.0f + std::erf(s * 0.70710678118654752f)); }

inline void unary_step(relax::OpKind op, const float* x, float* y, std::int64_t n) {
  using relax::OpKind;
  switch (op) {
    case OpKind::identity: std::memmove(y, x, static_cast<std::size_t>(n) * sizeof(float)); break;
    case OpKind::neg: KILN_FUSED_MAP(-v, -s); break;
    case OpKind::abs: KILN_FUSED_MAP(xsimd::abs(v), std::fabs(s)); break;
    case OpKind::relu: KILN_FUSED_MAP(xsimd::max(v, batch(0.0f)), s > 0.0f ? s : 0.0f); break;
    case OpKind::sigmoid: KILN_FUSED_MAP(batch(1.0f) / (batch(1.0f) + xsimd::exp(-v)), sigmoid(s)); break;
    case OpKind::tanh: KILN_FUSED_MAP(xsimd::tanh(v), std::tanh(s)); break;
    case OpKind::exp: KILN_FUSED_MAP(xsimd::exp(v), std::exp(s)); break;
    case OpKind::log: KILN_FUSED_MAP(xsimd::log(v), std::log(s)); break;
    case OpKind::sqrt: KILN_FUSED_MAP(xsimd::sqrt(v), std::sqrt(s)); break;
    case OpKind::rsqrt: KILN_FUSED_MAP(batch(1.0f) / xsimd::sqrt(v), 1.0f / std::sqrt(s)); break;
    case OpKind::reciprocal: KILN_FUSED_MAP(batch(1.0f) / v, 1.0f / s); break;
    case OpKind::floor: KILN_FUSED_MAP(xsimd::floor(v), std::floor(s)); break;
    case OpKind::ceil: KILN_FUSED_MAP(xsimd::ceil(v), std::ceil(s)); break;
    case OpKind::erf: KILN_FUSED_MAP(xsimd::erf(v), std::erf(s)); break;
    case OpKind::gelu:
      KILN_FUSED_MAP(batch(0.5f) * v * (batch(1.0f) + xsimd::erf(v * batch(0.70710678118654752f))), gelu(s));
      break;
    case OpKind::silu: KILN_FUSED_MAP(v / (batch(1.0f) + xsimd::exp(-v)), s * sigmoid(s)); break;
    // Rare in fused chains: plain loops, exact as the reference.
    case OpKind::sign: map1(x, y, n, [](float s) { return s > 0.0f ? 1.0f : (s < 0.0f ? -1.0f : 0.0f); }); break;
    case OpKind::round: map1(x, y, n, [](float s) { return std::nearbyint(s); }); break;
    case OpKind::sin: map1(x, y, n, [](float s) { return std::sin(s); }); break;
    case OpKind::cos: map1(x, y, n, [](float s) { return std::cos(s); }); break;
    default: break;  // compile_fused admits only the ops above
  }
}
#undef KILN_FUSED_MAP

inline void binary_step(relax::OpKind op, const float* a, const float* b, float* y, std::int64_t n) {
  using relax::OpKind;
  switch (op) {
    case OpKind::add: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i]; break;
    case OpKind::subtract: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i]; break;
    case OpKind::multiply: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i]; break;
    case OpKind::divide: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] / b[i]; break;
    case OpKind::maximum: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] > b[i] ? a[i] : b[i]; break;
    case OpKind::minimum: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] < b[i] ? a[i] : b[i]; break;
    case OpKind::power: for (std::int64_t i = 0; i < n; ++i) y[i] = std::pow(a[i], b[i]); break;
    case OpKind::mod: for (std::int64_t i = 0; i < n; ++i) y[i] = std::fmod(a[i], b[i]); break;
    default: break;
  }
}

// clip(x, lo, hi) with either bound absent (null).
inline void clip_step(const float* x, const float* lo, const float* hi, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (lo != nullptr) v = v < lo[i] ? lo[i] : v;
    if (hi != nullptr) v = v > hi[i] ? hi[i] : v;
    y[i] = v;
  }
}

// Output elements [begin, end) of the steps.
inline void run_tiles(const FusedProgram& p, const OpCall& call, std::int64_t begin, std::int64_t end) {
  const Slot& out = call.output();
  auto* result = static_cast<float*>(out.data);
  alignas(64) float registers[kMaxFusedRegisters][kTileFloats];
  const float* source[kMaxFusedRegisters] = {};
  for (std::int64_t t0 = begin; t0 < end; t0 += kTileFloats) {
    const std::int64_t n = std::min(kTileFloats, end - t0);
    for (int r = 0; r < p.input_count; ++r)
      if ((p.step_inputs >> r) & 1u)
        source[r] = load_input(*call.inputs[static_cast<std::size_t>(r)], out, t0, n, registers[r]);
    if (p.anchor_register >= 0) source[p.anchor_register] = result + t0;
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
      const FusedStep& step = p.steps[s];
      const bool last = s + 1 == p.steps.size();
      float* y = last ? result + t0 : registers[step.result];
      const auto arg = [&](int i) { return step.args[i] < 0 ? nullptr : source[step.args[i]]; };
      const relax::OpFamily family = relax::op_info(step.op).family;
      if (family == relax::OpFamily::unary) unary_step(step.op, arg(0), y, n);
      else if (family == relax::OpFamily::binary) binary_step(step.op, arg(0), arg(1), y, n);
      else clip_step(arg(0), arg(1), arg(2), y, n);
      source[step.result] = y;
    }
  }
}

inline OpCall anchor_call(const FusedProgram& p, const OpCall& call, const Slot** inputs) {
  for (std::size_t i = 0; i < p.anchor_inputs.size(); ++i)
    inputs[i] = p.anchor_inputs[i] < 0 ? nullptr : call.inputs[static_cast<std::size_t>(p.anchor_inputs[i])];
  OpCall anchor;
  anchor.op = p.anchor_binding->op;
  anchor.attrs = &p.anchor_binding->attrs;
  anchor.inputs = std::span<const Slot* const>(inputs, p.anchor_inputs.size());
  anchor.outputs = call.outputs;
  anchor.pool = call.pool;
  anchor.scratch = call.scratch;
  return anchor;
}

inline std::size_t scratch_bytes(const OpCall& call) {
  const FusedProgram& p = *call.fused;
  if (p.anchor == nullptr || p.anchor->scratch_bytes == nullptr) return 0;
  const Slot* inputs[relax::kMaxFusedInputs] = {};
  return p.anchor->scratch_bytes(anchor_call(p, call, inputs));
}

inline Status run(const OpCall& call) {
  if (call.fused == nullptr) return make_error(StatusCode::internal, "fused: the call has no program");
  const FusedProgram& p = *call.fused;
  if (p.anchor != nullptr) {
    const Slot* inputs[relax::kMaxFusedInputs] = {};
    KILN_RETURN_IF_ERROR(p.anchor->run(anchor_call(p, call, inputs)));
  }
  if (p.steps.empty()) return {};
  const std::int64_t total = call.output().elements();
  const std::int64_t tiles = (total + kTileFloats - 1) / kTileFloats;
  // A few tiles per task: enough work to outweigh waking a thread.
  if (call.pool != nullptr && tiles >= 16) {
    call.pool->parallel_for(
        0, tiles,
        [&](std::int64_t first, std::int64_t last) {
          run_tiles(p, call, first * kTileFloats, std::min(total, last * kTileFloats));
        },
        8);
  } else {
    run_tiles(p, call, 0, total);
  }
  return {};
}

} // namespace fused_detail

inline const OpKernel* cpu_fused_kernel(relax::OpKind op) {
  static constexpr OpKernel kFused{nullptr, fused_detail::scratch_bytes, fused_detail::run};
  return op == relax::OpKind::fused ? &kFused : nullptr;
}

} // namespace kiln::vm
