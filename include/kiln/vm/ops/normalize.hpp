// kiln/vm/ops/normalize.hpp: the CPU kernels of the dynamic module's normalizations: softmax,
// log-softmax and hardmax along any axis, layer, batch (inference form), instance and group
// norm.
//
// They are direct SIMD loops over contiguous rows (kiln/vm/ops/cpu_support.hpp) rather than
// the multi-stage tensor-expression kernels of kiln/kernels/: those keep their intermediate
// stages in workspace the kernel object allocates and owns, which a run may neither allocate
// nor share between threads. Statistics take two passes (mean, then squared deviations) for
// accuracy. f32 only; other dtypes are refused at load with a message naming op and dtype.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../../relax/attributes.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace normalize_impl {

using relax::OpKind;
using cpu_support::f32_batch;
using cpu_support::kLanes;

// ---- softmax and log-softmax -----------------------------------------------------------------------

// Columns of a non-last softmax axis processed together: their running statistics live on
// the stack.
inline constexpr std::int64_t kColumnBlock = 256;

// One contiguous row: y = softmax(x) or log_softmax(x).
inline void softmax_row(const float* x, float* y, std::int64_t n, bool log) noexcept {
  const float top = cpu_support::row_max(x, n);
  const float sum = cpu_support::exp_shifted(x, y, n, top);
  if (log) cpu_support::row_affine(x, y, n, 1.0f, -(top + std::log(sum)));
  else cpu_support::row_scale(y, y, n, 1.0f / sum);
}

// Columns [0, width) of an [n, stride] block (the axis is n, rows `stride` apart).
inline void softmax_columns(const float* x, float* y, std::int64_t n, std::int64_t stride, std::int64_t width,
                            bool log) noexcept {
  alignas(64) float top[kColumnBlock];
  alignas(64) float sum[kColumnBlock];
  std::fill(top, top + width, -std::numeric_limits<float>::infinity());
  std::fill(sum, sum + width, 0.0f);
  const auto max_fn = [](auto a, auto b) { return xsimd::max(a, b); };
  for (std::int64_t i = 0; i < n; ++i) cpu_support::combine_into(top, x + i * stride, width, max_fn);
  for (std::int64_t i = 0; i < n; ++i) {
    float* row = y + i * stride;
    cpu_support::zip_row(row, x + i * stride, top, width, [](auto v, auto t) { return xsimd::exp(v - t); });
    cpu_support::combine_into(sum, row, width, [](auto a, auto b) { return a + b; });
  }
  if (log) {
    // log_softmax = x - (max + log(sum)); once per column, so std::log is enough.
    for (std::int64_t j = 0; j < width; ++j) sum[j] = top[j] + std::log(sum[j]);
    for (std::int64_t i = 0; i < n; ++i)
      cpu_support::zip_row(y + i * stride, x + i * stride, sum, width, [](auto v, auto s) { return v - s; });
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      cpu_support::combine_into(y + i * stride, sum, width, [](auto v, auto s) { return v / s; });
  }
}

// ---- hardmax --------------------------------------------------------------------------------------

// ONNX Hardmax (opset 13): 1 at the first maximum along the axis, 0 elsewhere. Ties go to the
// first; a NaN never compares greater, so, as in argmax, it wins only in the first position.
inline void hardmax_row(const float* x, float* y, std::int64_t n) noexcept {
  std::int64_t winner = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (x[i] > x[winner]) winner = i;
  // Every read is done before the first write: y may be x.
  std::fill(y, y + n, 0.0f);
  y[winner] = 1.0f;
}

// Columns [0, width) of an [n, stride] block, as softmax_columns.
inline void hardmax_columns(const float* x, float* y, std::int64_t n, std::int64_t stride,
                            std::int64_t width) noexcept {
  alignas(64) float best[kColumnBlock];
  std::int64_t winner[kColumnBlock];
  std::copy(x, x + width, best);
  std::fill(winner, winner + width, std::int64_t{0});
  for (std::int64_t i = 1; i < n; ++i) {
    const float* row = x + i * stride;
    for (std::int64_t j = 0; j < width; ++j)
      if (row[j] > best[j]) {
        best[j] = row[j];
        winner[j] = i;
      }
  }
  for (std::int64_t i = 0; i < n; ++i) std::fill(y + i * stride, y + i * stride + width, 0.0f);
  for (std::int64_t j = 0; j < width; ++j) y[winner[j] * stride + j] = 1.0f;
}

// ---- along one axis -------------------------------------------------------------------------------

// Runs row(x, y, n) over each contiguous row when the axis is the last, else
// columns(x, y, n, stride, width) over blocks of at most kColumnBlock columns; in parallel.
template <class Row, class Columns>
Status along_axis(const OpCall& call, const Slot& x, const Slot& y, Row&& row, Columns&& columns) {
  const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
  const int axis = attrs ? cpu_support::resolve_axis(attrs->axis, x.rank) : -1;
  if (axis < 0) return cpu_support::op_error(StatusCode::invalid_argument, call.op, "the axis is out of range");
  const std::int64_t outer = cpu_support::extent_product(x, 0, axis);
  const std::int64_t n = x.dims[axis];
  const std::int64_t inner = cpu_support::extent_product(x, axis + 1, x.rank);
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  if (outer * n * inner == 0) return {};
  if (inner == 1) {
    cpu_support::parallel_items(call.pool, outer, n, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) row(in + r * n, out + r * n, n);
    });
    return {};
  }
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  cpu_support::parallel_items(call.pool, outer * blocks, n * std::min(inner, kColumnBlock),
                              [&](std::int64_t begin, std::int64_t end) {
                                for (std::int64_t item = begin; item < end; ++item) {
                                  const std::int64_t o = item / blocks, first = (item % blocks) * kColumnBlock;
                                  const std::int64_t offset = o * n * inner + first;
                                  columns(in + offset, out + offset, n, inner, std::min(kColumnBlock, inner - first));
                                }
                              });
  return {};
}

inline Status run_softmax(const OpCall& call, const Slot& x, const Slot& y) {
  const bool log = call.op == OpKind::log_softmax;
  return along_axis(
      call, x, y, [log](const float* in, float* out, std::int64_t n) { softmax_row(in, out, n, log); },
      [log](const float* in, float* out, std::int64_t n, std::int64_t stride, std::int64_t width) {
        softmax_columns(in, out, n, stride, width, log);
      });
}

inline Status run_hardmax(const OpCall& call, const Slot& x, const Slot& y) {
  return along_axis(call, x, y, hardmax_row, hardmax_columns);
}

// ---- statistics and the affine step -----------------------------------------------------------------

struct Moments {
  float mean = 0.0f;
  float inv_std = 0.0f;  // 1 / sqrt(variance + epsilon)
};

inline Moments moments_of(const float* x, std::int64_t n, float epsilon) noexcept {
  if (n == 0) return {};
  const float mean = cpu_support::row_sum(x, n) / static_cast<float>(n);
  const float variance = cpu_support::row_squared_deviation(x, n, mean) / static_cast<float>(n);
  return {mean, 1.0f / std::sqrt(variance + epsilon)};
}

// y = (x - mean) * inv_std * scale[i] + bias[i] (bias may be null).
inline void normalize_row(const float* x, float* y, std::int64_t n, Moments m, const float* scale,
                          const float* bias) noexcept {
  const f32_batch mean(m.mean), inv_std(m.inv_std);
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const f32_batch centred = (f32_batch::load_unaligned(x + i) - mean) * inv_std;
    const f32_batch shift = bias ? f32_batch::load_unaligned(bias + i) : f32_batch(0.0f);
    xsimd::fma(centred, f32_batch::load_unaligned(scale + i), shift).store_unaligned(y + i);
  }
  for (; i < n; ++i) y[i] = (x[i] - m.mean) * m.inv_std * scale[i] + (bias ? bias[i] : 0.0f);
}

// ---- layer norm ----------------------------------------------------------------------------------

struct LayerShape {
  int axis = -1;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

inline LayerShape layer_shape(const OpCall& call, const Slot& x) {
  const auto* attrs = std::get_if<relax::NormAttrs>(call.attrs);
  LayerShape s;
  s.axis = attrs ? cpu_support::resolve_axis(attrs->axis, x.rank) : -1;
  if (s.axis < 0) return s;
  s.rows = cpu_support::extent_product(x, 0, s.axis);
  s.cols = cpu_support::extent_product(x, s.axis, x.rank);
  return s;
}

// A parameter that does not already hold one value per normalized element is expanded
// (broadcast) into scratch.
inline bool needs_expansion(const Slot* p, const LayerShape& s) noexcept {
  return p != nullptr && p->elements() != s.cols;
}

inline std::size_t layer_norm_scratch(const OpCall& call) {
  const Slot* x = call.input(0);
  if (x == nullptr) return 0;
  const LayerShape s = layer_shape(call, *x);
  if (s.axis < 0) return 0;
  std::size_t floats = 0;
  for (const Slot* p : {call.input(1), call.input(2)})
    if (needs_expansion(p, s)) floats += static_cast<std::size_t>(s.cols);
  return floats * sizeof(float);
}

// Writes `p` broadcast to x's dims from `axis` on into `out` (cols floats); false when its
// dims do not broadcast.
inline bool expand_parameter(const Slot& p, const Slot& x, int axis, float* out, std::int64_t cols) {
  const int normalized = x.rank - axis;
  if (p.rank > normalized) return false;
  const int shift = normalized - p.rank;
  for (int a = 0; a < p.rank; ++a)
    if (p.dims[a] != 1 && p.dims[a] != x.dims[axis + shift + a]) return false;
  const float* values = p.data_as<const float>();
  for (std::int64_t j = 0; j < cols; ++j) {
    std::int64_t rest = j, offset = 0;
    for (int a = x.rank - 1; a >= axis; --a) {
      const std::int64_t i = rest % x.dims[a];
      rest /= x.dims[a];
      const int pa = a - axis - shift;
      if (pa >= 0 && p.dims[pa] != 1) offset += i * p.strides[pa];
    }
    out[j] = values[offset];
  }
  return true;
}

inline Status run_layer_norm(const OpCall& call, const Slot& x, const Slot& y) {
  const LayerShape s = layer_shape(call, x);
  if (s.axis < 0) return cpu_support::op_error(StatusCode::invalid_argument, call.op, "the axis is out of range");
  const float epsilon = static_cast<float>(std::get<relax::NormAttrs>(*call.attrs).epsilon);
  if (s.rows * s.cols == 0) return {};
  float* scratch = reinterpret_cast<float*>(call.scratch.data());
  if (call.scratch.size() < layer_norm_scratch(call))
    return cpu_support::op_error(StatusCode::internal, call.op, "the scratch is smaller than scratch_bytes()");
  const float* params[2] = {nullptr, nullptr};
  for (int k = 0; k < 2; ++k) {
    const Slot* p = call.input(static_cast<std::size_t>(k + 1));
    if (p == nullptr) continue;
    if (!needs_expansion(p, s)) {
      params[k] = p->data_as<const float>();
      continue;
    }
    if (!expand_parameter(*p, x, s.axis, scratch, s.cols))
      return cpu_support::op_error(StatusCode::shape_mismatch, call.op, k == 0 ? "the scale" : "the bias",
                                   " does not broadcast to the normalized dims");
    params[k] = scratch;
    scratch += s.cols;
  }
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, s.rows, s.cols, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = in + r * s.cols;
      normalize_row(row, out + r * s.cols, s.cols, moments_of(row, s.cols, epsilon), params[0], params[1]);
    }
  });
  return {};
}

// ---- per-channel norms: batch, instance, group ---------------------------------------------------

// A per-channel parameter: `count` f32 elements.
inline Status check_parameter(const OpCall& call, const Slot* p, std::string_view role, std::int64_t count) {
  if (p == nullptr) return cpu_support::op_error(StatusCode::internal, call.op, role, " is missing");
  if (p->dtype != DType::f32 || p->elements() != count)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, role, " must hold ", count,
                                 " f32 elements, got ", p->elements(), " of ", to_string(p->dtype));
  return {};
}

inline Status run_batch_norm(const OpCall& call, const Slot& x, const Slot& y) {
  const std::int64_t channels = x.dims[1];
  const char* roles[] = {"the scale", "the bias", "the mean", "the variance"};
  for (std::size_t k = 0; k < 4; ++k) KILN_RETURN_IF_ERROR(check_parameter(call, call.input(k + 1), roles[k], channels));
  const float epsilon = static_cast<float>(std::get<relax::NormAttrs>(*call.attrs).epsilon);
  const float* scale = call.input(1)->data_as<const float>();
  const float* bias = call.input(2)->data_as<const float>();
  const float* mean = call.input(3)->data_as<const float>();
  const float* variance = call.input(4)->data_as<const float>();
  const std::int64_t plane = cpu_support::extent_product(x, 2, x.rank);
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, x.dims[0] * channels, plane, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p) {
      const std::int64_t c = p % channels;
      const float a = scale[c] / std::sqrt(variance[c] + epsilon);
      cpu_support::row_affine(in + p * plane, out + p * plane, plane, a, bias[c] - mean[c] * a);
    }
  });
  return {};
}

// instance_norm is group_norm with one channel per group.
inline Status run_group_norm(const OpCall& call, const Slot& x, const Slot& y) {
  const auto& attrs = std::get<relax::NormAttrs>(*call.attrs);
  const std::int64_t channels = x.dims[1];
  const std::int64_t groups = call.op == OpKind::instance_norm ? channels : attrs.num_groups;
  if (groups < 1 || channels % groups != 0)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, channels, " channels do not divide into ",
                                 groups, " groups");
  // Scale and bias hold one value per channel, or (group_norm, opset 18) one per group.
  const Slot* scale_slot = call.input(1);
  const bool per_group = call.op == OpKind::group_norm && scale_slot != nullptr &&
                         scale_slot->elements() == groups && groups != channels;
  const std::int64_t params = per_group ? groups : channels;
  KILN_RETURN_IF_ERROR(check_parameter(call, scale_slot, "the scale", params));
  KILN_RETURN_IF_ERROR(check_parameter(call, call.input(2), "the bias", params));
  const float epsilon = static_cast<float>(attrs.epsilon);
  const float* scale = scale_slot->data_as<const float>();
  const float* bias = call.input(2)->data_as<const float>();
  const std::int64_t plane = cpu_support::extent_product(x, 2, x.rank);
  const std::int64_t per = channels / groups;
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, x.dims[0] * groups, per * plane, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t g = item % groups;
      const std::int64_t first = item * per * plane;  // the group's channels are contiguous
      const Moments m = moments_of(in + first, per * plane, epsilon);
      for (std::int64_t k = 0; k < per; ++k) {
        const std::int64_t p = per_group ? g : g * per + k;
        const float a = scale[p] * m.inv_std;
        cpu_support::row_affine(in + first + k * plane, out + first + k * plane, plane, a, bias[p] - m.mean * a);
      }
    }
  });
  return {};
}

// ---- the entry points -------------------------------------------------------------------------------

inline Status run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  if (x.dtype != DType::f32 || y.dtype != DType::f32)
    return cpu_support::dtype_unsupported(call.op, "input", x.dtype, "f32 only");
  if (!cpu_support::same_dims(x, y))
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output's dims differ from the input's");
  if (!x.contiguous() || !y.contiguous())
    return cpu_support::op_error(StatusCode::unsupported, call.op, "non-contiguous operands are not supported");
  for (std::size_t i = 1; i < call.inputs.size(); ++i)
    if (const Slot* p = call.input(i); p != nullptr && (!p->contiguous() || p->dtype != DType::f32))
      return cpu_support::op_error(StatusCode::unsupported, call.op, "parameter ", i,
                                   " must be a contiguous f32 tensor");
  const bool needs_channels = call.op == OpKind::batch_norm || call.op == OpKind::instance_norm ||
                              call.op == OpKind::group_norm;
  if (needs_channels && x.rank < 2)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the input must have rank 2 or more");
  const bool along_one_axis =
      call.op == OpKind::softmax || call.op == OpKind::log_softmax || call.op == OpKind::hardmax;
  if (!along_one_axis && std::get_if<relax::NormAttrs>(call.attrs) == nullptr)
    return cpu_support::op_error(StatusCode::internal, call.op, "expects norm attributes");
  if (x.elements() == 0) return {};
  switch (call.op) {
    case OpKind::softmax:
    case OpKind::log_softmax: return run_softmax(call, x, y);
    case OpKind::hardmax: return run_hardmax(call, x, y);
    case OpKind::layer_norm: return run_layer_norm(call, x, y);
    case OpKind::batch_norm: return run_batch_norm(call, x, y);
    case OpKind::instance_norm:
    case OpKind::group_norm: return run_group_norm(call, x, y);
    default: return cpu_support::op_error(StatusCode::unsupported, call.op, "is not a normalization");
  }
}

inline std::size_t scratch_bytes(const OpCall& call) {
  return call.op == OpKind::layer_norm ? layer_norm_scratch(call) : 0;
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  const OpKind op = binding.op;
  const relax::OpInfo& info = relax::op_info(op);
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, info.min_inputs, info.max_inputs));
  for (std::size_t i = 0; i < binding.inputs.size(); ++i) {
    const relax::TensorType* t = cpu_support::input_type(binding, fn, i);
    if (t != nullptr && t->dtype != DType::f32)
      return cpu_support::dtype_unsupported(op, i == 0 ? "input" : "parameter", t->dtype, "f32 only");
  }
  const relax::TensorType& x = *cpu_support::input_type(binding, fn, 0);
  if (cpu_support::output_type(binding, fn)->dtype != DType::f32)
    return cpu_support::dtype_unsupported(op, "output", cpu_support::output_type(binding, fn)->dtype, "f32 only");
  if (x.rank < 1 || x.rank > kMaxRank)
    return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported");
  if (op == OpKind::softmax || op == OpKind::log_softmax || op == OpKind::hardmax) {
    const auto* attrs = std::get_if<relax::AxisAttrs>(&binding.attrs);
    if (attrs == nullptr || cpu_support::resolve_axis(attrs->axis, x.rank) < 0)
      return cpu_support::op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", x.rank);
    return {};
  }
  const auto* attrs = std::get_if<relax::NormAttrs>(&binding.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::invalid_argument, op, "expects norm attributes");
  switch (op) {
    case OpKind::layer_norm:
      if (cpu_support::resolve_axis(attrs->axis, x.rank) < 0)
        return cpu_support::op_error(StatusCode::invalid_argument, op, "axis ", attrs->axis,
                                     " is out of range for rank ", x.rank);
      return {};
    case OpKind::batch_norm:
      if (x.rank < 2) return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported");
      return {};
    case OpKind::instance_norm:
      if (x.rank < 3) return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported");
      return {};
    case OpKind::group_norm:
      if (x.rank < 2) return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported");
      if (attrs->num_groups < 1)
        return cpu_support::op_error(StatusCode::invalid_argument, op, "num_groups must be positive, got ",
                                     attrs->num_groups);
      return {};
    default: return cpu_support::op_error(StatusCode::unsupported, op, "is not a normalization");
  }
}

inline constexpr OpKernel kKernel{&supports, &scratch_bytes, &run};

} // namespace normalize_impl

// The CPU kernel of softmax, log_softmax, hardmax, layer_norm, batch_norm, instance_norm and
// group_norm; null for other ops.
inline const OpKernel* cpu_normalize_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::softmax:
    case OpKind::log_softmax:
    case OpKind::hardmax:
    case OpKind::layer_norm:
    case OpKind::batch_norm:
    case OpKind::instance_norm:
    case OpKind::group_norm: return &normalize_impl::kKernel;
    default: return nullptr;
  }
}

} // namespace kiln::vm
