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
#include "../../backend/cpu/element_math.hpp"
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

// y = op(x) and y = op(a, b) over n floats: SIMD batches, then a scalar tail.
template <relax::OpKind Op>
KILN_FORCEINLINE void map_unary(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
#if KILN_CPU_HAVE_XSIMD
  using batch = cpu::math::batch;
  constexpr auto w = static_cast<std::int64_t>(batch::size);
  for (; i + w <= n; i += w) cpu::math::unary<Op>(batch::load_unaligned(x + i)).store_unaligned(y + i);
#endif
  for (; i < n; ++i) y[i] = cpu::math::unary<Op>(x[i]);
}

template <relax::OpKind Op>
KILN_FORCEINLINE void map_binary(const float* a, const float* b, float* y, std::int64_t n) {
  std::int64_t i = 0;
#if KILN_CPU_HAVE_XSIMD
  using batch = cpu::math::batch;
  constexpr auto w = static_cast<std::int64_t>(batch::size);
  for (; i + w <= n; i += w)
    cpu::math::binary<Op>(batch::load_unaligned(a + i), batch::load_unaligned(b + i)).store_unaligned(y + i);
#endif
  for (; i < n; ++i) y[i] = cpu::math::binary<Op>(a[i], b[i]);
}

inline void unary_step(relax::OpKind op, const float* x, float* y, std::int64_t n) {
  using relax::OpKind;
  switch (op) {
    case OpKind::identity: std::memmove(y, x, static_cast<std::size_t>(n) * sizeof(float)); break;
    case OpKind::neg: map_unary<OpKind::neg>(x, y, n); break;
    case OpKind::abs: map_unary<OpKind::abs>(x, y, n); break;
    case OpKind::sign: map_unary<OpKind::sign>(x, y, n); break;
    case OpKind::relu: map_unary<OpKind::relu>(x, y, n); break;
    case OpKind::sigmoid: map_unary<OpKind::sigmoid>(x, y, n); break;
    case OpKind::tanh: map_unary<OpKind::tanh>(x, y, n); break;
    case OpKind::exp: map_unary<OpKind::exp>(x, y, n); break;
    case OpKind::log: map_unary<OpKind::log>(x, y, n); break;
    case OpKind::sqrt: map_unary<OpKind::sqrt>(x, y, n); break;
    case OpKind::rsqrt: map_unary<OpKind::rsqrt>(x, y, n); break;
    case OpKind::reciprocal: map_unary<OpKind::reciprocal>(x, y, n); break;
    case OpKind::floor: map_unary<OpKind::floor>(x, y, n); break;
    case OpKind::ceil: map_unary<OpKind::ceil>(x, y, n); break;
    case OpKind::round: map_unary<OpKind::round>(x, y, n); break;
    case OpKind::sin: map_unary<OpKind::sin>(x, y, n); break;
    case OpKind::cos: map_unary<OpKind::cos>(x, y, n); break;
    case OpKind::erf: map_unary<OpKind::erf>(x, y, n); break;
    case OpKind::gelu: map_unary<OpKind::gelu>(x, y, n); break;
    case OpKind::silu: map_unary<OpKind::silu>(x, y, n); break;
    default: break;  // compile_fused admits only the ops above
  }
}

inline void binary_step(relax::OpKind op, const float* a, const float* b, float* y, std::int64_t n) {
  using relax::OpKind;
  switch (op) {
    case OpKind::add: map_binary<OpKind::add>(a, b, y, n); break;
    case OpKind::subtract: map_binary<OpKind::subtract>(a, b, y, n); break;
    case OpKind::multiply: map_binary<OpKind::multiply>(a, b, y, n); break;
    case OpKind::divide: map_binary<OpKind::divide>(a, b, y, n); break;
    case OpKind::maximum: map_binary<OpKind::maximum>(a, b, y, n); break;
    case OpKind::minimum: map_binary<OpKind::minimum>(a, b, y, n); break;
    case OpKind::power: map_binary<OpKind::power>(a, b, y, n); break;
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
