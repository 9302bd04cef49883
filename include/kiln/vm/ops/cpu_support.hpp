// kiln/vm/ops/cpu_support.hpp: what the CPU op kernels of the dynamic module share: error
// messages that name the op, the types a binding's operands have, a parallel loop that stays
// on the caller's thread for small work, and SIMD loops over contiguous f32 rows (sums,
// extremes, running combinations) that normalizations, reductions and pools are built from.
//
// Everything here is allocation-free on success; an error Status allocates its message.
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"

namespace kiln::vm::cpu_support {

// ---- errors and binding types ---------------------------------------------------------------

template <class... Pieces>
Status op_error(StatusCode code, relax::OpKind op, const Pieces&... pieces) {
  return make_error(code, relax::to_string(op), ": ", pieces...);
}

// "softmax: f16 input is not supported (f32 only)"
inline Status dtype_unsupported(relax::OpKind op, std::string_view role, DType dtype, std::string_view accepted) {
  return op_error(StatusCode::unsupported, op, to_string(dtype), " ", role, " is not supported (", accepted, ")");
}

// The type of input i of a binding; null when that optional input is absent or missing.
inline const relax::TensorType* input_type(const relax::Binding& b, const relax::Function& fn, std::size_t i) {
  if (i >= b.inputs.size() || b.inputs[i] == relax::kNoValue || !fn.has_value(b.inputs[i])) return nullptr;
  return &fn.type(b.inputs[i]);
}
inline const relax::TensorType* output_type(const relax::Binding& b, const relax::Function& fn, std::size_t i = 0) {
  if (i >= b.outputs.size() || !fn.has_value(b.outputs[i])) return nullptr;
  return &fn.type(b.outputs[i]);
}

// The inputs a binding must have present (`required`), how many it may have, and one output.
inline Status check_operands(const relax::Binding& b, const relax::Function& fn, std::size_t required,
                             std::size_t most) {
  if (b.inputs.size() < required || b.inputs.size() > most)
    return op_error(StatusCode::invalid_argument, b.op, "takes ", required, " to ", most, " inputs, got ",
                    b.inputs.size());
  for (std::size_t i = 0; i < required; ++i)
    if (input_type(b, fn, i) == nullptr) return op_error(StatusCode::invalid_argument, b.op, "input ", i, " is absent");
  if (b.outputs.size() != 1 || output_type(b, fn) == nullptr)
    return op_error(StatusCode::invalid_argument, b.op, "expects one output, got ", b.outputs.size());
  return {};
}

// A present input slot, or an error naming it (the VM passes null only for optional inputs).
inline Status require_inputs(const OpCall& call, std::size_t count) {
  if (call.outputs.size() != 1 || call.outputs[0] == nullptr)
    return op_error(StatusCode::internal, call.op, "expects one output slot");
  for (std::size_t i = 0; i < count; ++i)
    if (call.input(i) == nullptr) return op_error(StatusCode::internal, call.op, "input slot ", i, " is missing");
  return {};
}

// An axis in [-rank, rank) as a position in [0, rank); -1 when out of range.
inline int resolve_axis(std::int64_t axis, int rank) noexcept {
  if (axis < -rank || axis >= rank) return -1;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

inline bool same_dims(const Slot& a, const Slot& b) noexcept {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.dims[i] != b.dims[i]) return false;
  return true;
}

// The product of dims [first, last).
inline std::int64_t extent_product(const Slot& s, int first, int last) noexcept {
  std::int64_t n = 1;
  for (int a = first; a < last; ++a) n *= s.dims[a];
  return n;
}

// ---- parallel loops ---------------------------------------------------------------------------

// Work below this many elements runs on the caller's thread: waking workers costs more.
inline constexpr std::int64_t kParallelMinElements = std::int64_t{1} << 15;

// Calls fn(begin, end) over [0, count) items of about `item_cost` elements each, split among
// the pool's threads when the whole is large enough; chunks keep at least
// kParallelMinElements / 2 elements.
template <class Fn>
void parallel_items(ThreadPool* pool, std::int64_t count, std::int64_t item_cost, Fn&& fn) {
  if (count <= 0) return;
  const std::int64_t cost = std::max<std::int64_t>(item_cost, 1);
  if (pool == nullptr || pool->size() <= 1 || count == 1 || count * cost < kParallelMinElements) {
    fn(std::int64_t{0}, count);
    return;
  }
  const std::int64_t min_items = std::max<std::int64_t>(kParallelMinElements / 2 / cost, 1);
  pool->parallel_for(std::int64_t{0}, count, fn, min_items);
}

// ---- SIMD loops over contiguous f32 rows --------------------------------------------------------

using f32_batch = xsimd::batch<float>;
inline constexpr std::int64_t kLanes = static_cast<std::int64_t>(f32_batch::size);

inline float lane_max(const f32_batch& v) noexcept {
  alignas(64) float lanes[f32_batch::size];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (std::size_t l = 1; l < f32_batch::size; ++l) m = std::max(m, lanes[l]);
  return m;
}
inline float lane_min(const f32_batch& v) noexcept {
  alignas(64) float lanes[f32_batch::size];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (std::size_t l = 1; l < f32_batch::size; ++l) m = std::min(m, lanes[l]);
  return m;
}

// Two accumulators per loop hide the latency of the adds.
inline float row_sum(const float* x, std::int64_t n) noexcept {
  f32_batch a(0.0f), b(0.0f);
  std::int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    a += f32_batch::load_unaligned(x + i);
    b += f32_batch::load_unaligned(x + i + kLanes);
  }
  for (; i + kLanes <= n; i += kLanes) a += f32_batch::load_unaligned(x + i);
  float s = xsimd::hadd(a + b);
  for (; i < n; ++i) s += x[i];
  return s;
}

// Sum of (x - center)^2: the second pass of a two-pass variance.
inline float row_squared_deviation(const float* x, std::int64_t n, float center) noexcept {
  const f32_batch c(center);
  f32_batch a(0.0f);
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const f32_batch d = f32_batch::load_unaligned(x + i) - c;
    a = xsimd::fma(d, d, a);
  }
  float s = xsimd::hadd(a);
  for (; i < n; ++i) s += (x[i] - center) * (x[i] - center);
  return s;
}

// -inf for an empty row (the identity of max).
inline float row_max(const float* x, std::int64_t n) noexcept {
  float m = -std::numeric_limits<float>::infinity();
  std::int64_t i = 0;
  if (n >= kLanes) {
    f32_batch a = f32_batch::load_unaligned(x);
    for (i = kLanes; i + kLanes <= n; i += kLanes) a = xsimd::max(a, f32_batch::load_unaligned(x + i));
    m = lane_max(a);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}
inline float row_min(const float* x, std::int64_t n) noexcept {
  float m = std::numeric_limits<float>::infinity();
  std::int64_t i = 0;
  if (n >= kLanes) {
    f32_batch a = f32_batch::load_unaligned(x);
    for (i = kLanes; i + kLanes <= n; i += kLanes) a = xsimd::min(a, f32_batch::load_unaligned(x + i));
    m = lane_min(a);
  }
  for (; i < n; ++i) m = std::min(m, x[i]);
  return m;
}

// out[i] = fn(a[i], b[i]) for an fn with a batch and a scalar form (a generic lambda over
// xsimd functions); out may be a or b.
template <class Fn>
void zip_row(float* out, const float* a, const float* b, std::int64_t n, Fn fn) noexcept {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    f32_batch(fn(f32_batch::load_unaligned(a + i), f32_batch::load_unaligned(b + i))).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = static_cast<float>(fn(a[i], b[i]));
}

// acc[i] = combine(acc[i], x[i]).
template <class Combine>
void combine_into(float* acc, const float* x, std::int64_t n, Combine combine) noexcept {
  zip_row(acc, acc, x, n, combine);
}

// y[i] = exp(x[i] - shift); returns the sum of the y[i].
inline float exp_shifted(const float* x, float* y, std::int64_t n, float shift) noexcept {
  const f32_batch s(shift);
  f32_batch acc(0.0f);
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const f32_batch e = xsimd::exp(f32_batch::load_unaligned(x + i) - s);
    e.store_unaligned(y + i);
    acc += e;
  }
  float sum = xsimd::hadd(acc);
  for (; i < n; ++i) {
    y[i] = std::exp(x[i] - shift);
    sum += y[i];
  }
  return sum;
}

// y[i] = x[i] * scale + shift
inline void row_affine(const float* x, float* y, std::int64_t n, float scale, float shift) noexcept {
  const f32_batch s(scale), t(shift);
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) xsimd::fma(f32_batch::load_unaligned(x + i), s, t).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = x[i] * scale + shift;
}

// y[i] = x[i] * factor
inline void row_scale(const float* x, float* y, std::int64_t n, float factor) noexcept {
  row_affine(x, y, n, factor, 0.0f);
}

} // namespace kiln::vm::cpu_support
