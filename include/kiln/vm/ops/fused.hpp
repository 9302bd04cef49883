// kiln/vm/ops/fused.hpp: the CPU kernel of `fused` calls: an optional anchor, then a chain
// of f32 elementwise steps evaluated tile by tile in registers on the stack.
//
// A tile is kTileFloats consecutive elements of the chain. Each input is loaded into its
// register for the tile (or read in place when it has the chain's shape), each step writes
// its own register, and the last one is stored into the output. An anchor (matmul, gemm,
// conv) first writes the whole output with its own kernel; the steps then read it back tile
// by tile while it is still in cache and overwrite it with the final values. A closing
// reduction takes the last register of each tile instead and folds it into the output,
// run by run along the chain's last axis: a reduced last axis folds a run into one output
// element, a kept one adds the run into a row of outputs (both SIMD).
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
#include "reduce.hpp"

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
    case OpKind::tan: map_unary<OpKind::tan>(x, y, n); break;
    case OpKind::asin: map_unary<OpKind::asin>(x, y, n); break;
    case OpKind::acos: map_unary<OpKind::acos>(x, y, n); break;
    case OpKind::atan: map_unary<OpKind::atan>(x, y, n); break;
    case OpKind::sinh: map_unary<OpKind::sinh>(x, y, n); break;
    case OpKind::cosh: map_unary<OpKind::cosh>(x, y, n); break;
    case OpKind::asinh: map_unary<OpKind::asinh>(x, y, n); break;
    case OpKind::acosh: map_unary<OpKind::acosh>(x, y, n); break;
    case OpKind::atanh: map_unary<OpKind::atanh>(x, y, n); break;
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

// clip(x, lo, hi) with either bound absent (null). A bound below x's value raises it, one
// above lowers it; a NaN x stays NaN (the comparisons fail), as in the clip kernel.
template <bool Low, bool High>
KILN_FORCEINLINE void clip_bounds(const float* x, const float* lo, const float* hi, float* y, std::int64_t n) {
  std::int64_t i = 0;
#if KILN_CPU_HAVE_XSIMD
  using batch = cpu::math::batch;
  constexpr auto w = static_cast<std::int64_t>(batch::size);
  for (; i + w <= n; i += w) {
    batch v = batch::load_unaligned(x + i);
    if constexpr (Low) {
      const batch l = batch::load_unaligned(lo + i);
      v = xsimd::select(v < l, l, v);
    }
    if constexpr (High) {
      const batch h = batch::load_unaligned(hi + i);
      v = xsimd::select(v > h, h, v);
    }
    v.store_unaligned(y + i);
  }
#endif
  for (; i < n; ++i) {
    float v = x[i];
    if constexpr (Low) v = v < lo[i] ? lo[i] : v;
    if constexpr (High) v = v > hi[i] ? hi[i] : v;
    y[i] = v;
  }
}

inline void clip_step(const float* x, const float* lo, const float* hi, float* y, std::int64_t n) {
  if (lo != nullptr && hi != nullptr) clip_bounds<true, true>(x, lo, hi, y, n);
  else if (lo != nullptr) clip_bounds<true, false>(x, lo, hi, y, n);
  else if (hi != nullptr) clip_bounds<false, true>(x, lo, hi, y, n);
  else if (x != y) std::memmove(y, x, static_cast<std::size_t>(n) * sizeof(float));
}

// The registers of one tile, and where each register's values are for the tile. A
// one-element input is broadcast into its register once per call, not once per tile.
struct TileRegisters {
  alignas(64) float values[kMaxFusedRegisters][kTileFloats];
  const float* source[kMaxFusedRegisters] = {};
  std::int64_t broadcast[kMaxFusedRegisters] = {};  // floats of values[r] that hold input r's one element
};

// Evaluates the steps for elements [t0, t0 + n) of the chain, whose index space is `space`.
// With `output_tile` the anchor's values are read from it and the last step writes into it;
// without, the last step keeps its register. Returns where the last step's values are.
inline const float* eval_tile(const FusedProgram& p, const OpCall& call, const Slot& space, std::int64_t t0,
                              std::int64_t n, TileRegisters& regs, float* output_tile) {
  for (int r = 0; r < p.input_count; ++r) {
    if (!((p.step_inputs >> r) & 1u)) continue;
    const Slot& in = *call.inputs[static_cast<std::size_t>(r)];
    if (in.elements() == 1 && space.elements() != 1) {
      if (regs.broadcast[r] < n) {
        std::fill(regs.values[r], regs.values[r] + kTileFloats, *static_cast<const float*>(in.data));
        regs.broadcast[r] = kTileFloats;
      }
      regs.source[r] = regs.values[r];
      continue;
    }
    regs.source[r] = load_input(in, space, t0, n, regs.values[r]);
  }
  if (p.anchor_register >= 0) regs.source[p.anchor_register] = output_tile;
  const float* last_values = nullptr;
  for (std::size_t s = 0; s < p.steps.size(); ++s) {
    const FusedStep& step = p.steps[s];
    const bool last = s + 1 == p.steps.size();
    float* y = last && output_tile != nullptr ? output_tile : regs.values[step.result];
    const auto arg = [&](int i) { return step.args[i] < 0 ? nullptr : regs.source[step.args[i]]; };
    const relax::OpFamily family = relax::op_info(step.op).family;
    if (family == relax::OpFamily::unary) unary_step(step.op, arg(0), y, n);
    else if (family == relax::OpFamily::binary) binary_step(step.op, arg(0), arg(1), y, n);
    else clip_step(arg(0), arg(1), arg(2), y, n);
    regs.source[step.result] = y;
    last_values = y;
  }
  return last_values;
}

// Output elements [begin, end) of the steps.
inline void run_tiles(const FusedProgram& p, const OpCall& call, std::int64_t begin, std::int64_t end) {
  const Slot& out = call.output();
  auto* result = static_cast<float*>(out.data);
  TileRegisters regs;
  for (std::int64_t t0 = begin; t0 < end; t0 += kTileFloats)
    eval_tile(p, call, out, t0, std::min(kTileFloats, end - t0), regs, result + t0);
}

// ---- a chain closed by a reduction ------------------------------------------------------------

// How the chain's elements fold into the output. The leading kept axes split the work into
// units that touch disjoint outputs: unit u reduces chain elements [u * unit_elements, ...)
// into outputs [u * unit_outputs, ...).
struct ReducePlan {
  Slot space;                                  // the chain's index space, row-major
  std::int64_t output_stride[kMaxRank] = {};   // per chain axis; 0 where reduced
  std::int64_t units = 0;
  std::int64_t unit_elements = 0;
  std::int64_t unit_outputs = 0;
  std::int64_t reduced_count = 1;
  reduce_impl::Reduction reduction = reduce_impl::Reduction::sum;
};

inline Status plan_reduction(const FusedProgram& p, const OpCall& call, ReducePlan& plan) {
  Slot& space = plan.space;
  // The chain's shape is the broadcast of the inputs its steps read: every step keeps it,
  // so those inputs broadcast into it and together span it.
  space.rank = std::max(p.chain_rank, 1);
  for (int a = 0; a < space.rank; ++a) space.dims[a] = 1;
  for (int r = 0; r < p.input_count; ++r) {
    if (!((p.step_inputs >> r) & 1u)) continue;
    const Slot& in = *call.inputs[static_cast<std::size_t>(r)];
    const int shift = space.rank - in.rank;
    if (shift < 0 || in.dtype != DType::f32)
      return make_error(StatusCode::shape_mismatch, "fused: input ", r, " does not broadcast into the chain");
    for (int a = 0; a < in.rank; ++a) {
      std::int64_t& d = space.dims[a + shift];
      if (in.dims[a] == 1) continue;
      if (d != 1 && d != in.dims[a])
        return make_error(StatusCode::shape_mismatch, "fused: input ", r, " has extent ", in.dims[a], " on axis ", a,
                          " where the chain has ", d);
      d = in.dims[a];
    }
  }
  space.set_shape(std::span<const std::int64_t>(space.dims, static_cast<std::size_t>(space.rank)));
  const std::uint32_t reduced = p.chain_rank == 0 ? 1u : p.reduced_axes;
  std::int64_t stride = 1;
  for (int a = space.rank; a-- > 0;) {
    const bool is_reduced = (reduced >> a) & 1u;
    plan.output_stride[a] = is_reduced ? 0 : stride;
    if (is_reduced) plan.reduced_count *= space.dims[a];
    else stride *= space.dims[a];
  }
  const std::int64_t outputs = stride;
  if (call.output().elements() != outputs || call.output().dtype != DType::f32 || !call.output().contiguous())
    return make_error(StatusCode::shape_mismatch, "fused: the output has ", call.output().elements(),
                      " elements, the reduction gives ", outputs);
  plan.units = 1;
  for (int a = 0; a < space.rank && !((reduced >> a) & 1u); ++a) plan.units *= space.dims[a];
  plan.unit_elements = plan.units > 0 ? space.elements() / plan.units : 0;
  plan.unit_outputs = plan.units > 0 ? outputs / plan.units : 0;
  plan.reduction = reduce_impl::reduction_of(p.reduction);
  return {};
}

// A mean divides the sums of units [u0, u1) by the reduced count; an empty mean is 0 / 0,
// NaN, as the reduction kernel gives.
inline void finish_mean(const FusedProgram& p, const OpCall& call, const ReducePlan& plan, std::int64_t u0,
                        std::int64_t u1) {
  if (p.reduction != relax::OpKind::reduce_mean) return;
  auto* out = static_cast<float*>(call.output().data);
  const float count = static_cast<float>(plan.reduced_count);
  for (std::int64_t i = u0 * plan.unit_outputs; i < u1 * plan.unit_outputs; ++i) out[i] /= count;
}

// Units [u0, u1) of the reduction.
inline void reduce_units(const FusedProgram& p, const OpCall& call, const ReducePlan& plan, std::int64_t u0,
                         std::int64_t u1) {
  using reduce_impl::combine;
  const Slot& space = plan.space;
  auto* out = static_cast<float*>(call.output().data);
  std::fill(out + u0 * plan.unit_outputs, out + u1 * plan.unit_outputs,
            reduce_impl::identity_of<float>(plan.reduction));
  const std::int64_t begin = u0 * plan.unit_elements;
  const std::int64_t end = u1 * plan.unit_elements;
  const int last = space.rank - 1;
  if (begin >= end) return finish_mean(p, call, plan, u0, u1);  // an empty reduction (an extent of 0)
  std::int64_t index[kMaxRank] = {};
  std::int64_t rest = begin;
  for (int a = last; a >= 0; --a) {
    index[a] = rest % space.dims[a];
    rest /= space.dims[a];
  }
  std::int64_t offset = 0;
  for (int a = 0; a <= last; ++a) offset += index[a] * plan.output_stride[a];
  TileRegisters regs;
  for (std::int64_t t0 = begin; t0 < end; t0 += kTileFloats) {
    const std::int64_t n = std::min(kTileFloats, end - t0);
    const float* values = eval_tile(p, call, space, t0, n, regs, nullptr);
    for (std::int64_t done = 0; done < n;) {
      const std::int64_t run = std::min(n - done, space.dims[last] - index[last]);
      if (plan.output_stride[last] == 0)
        out[offset] = combine(plan.reduction, out[offset], reduce_impl::reduce_row(plan.reduction, values + done, run));
      else
        reduce_impl::accumulate_row(plan.reduction, out + offset, values + done, run);
      done += run;
      offset += run * plan.output_stride[last];
      index[last] += run;
      for (int a = last; a > 0 && index[a] == space.dims[a]; --a) {
        offset -= index[a] * plan.output_stride[a];
        index[a] = 0;
        ++index[a - 1];
        offset += plan.output_stride[a - 1];
      }
    }
  }
  finish_mean(p, call, plan, u0, u1);
}

inline Status run_reduction(const FusedProgram& p, const OpCall& call) {
  ReducePlan plan;
  KILN_RETURN_IF_ERROR(plan_reduction(p, call, plan));
  cpu_support::parallel_items(call.pool, plan.units, plan.unit_elements,
                              [&](std::int64_t u0, std::int64_t u1) { reduce_units(p, call, plan, u0, u1); });
  return {};
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
  if (p.reduces()) return run_reduction(p, call);
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
