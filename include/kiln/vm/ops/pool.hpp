// kiln/vm/ops/pool.hpp: the CPU kernels of the dynamic module's pooling: max_pool and
// average_pool over 1-D and 2-D windows (NCW, NCHW) with ONNX's strides, pads, dilations,
// auto_pad and ceil_mode, and global_max_pool and global_average_pool over any number of
// spatial axes.
//
// Each output element visits only the taps that fall inside the input: the range of valid
// taps along each axis is computed once per output row and column, so padding costs no
// test per tap. PoolAttrs has no count_include_pad, so averages divide by the number of
// valid taps (ONNX's default, count_include_pad = 0); a window with no valid tap gives -inf
// (max) or 0 (average). f32 only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../../relax/attributes.hpp"
#include "../../relax/infer_conv.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace pool_impl {

using relax::OpKind;

// One spatial axis of a window: its taps, their spacing, and where output position 0 starts.
struct Axis {
  std::int64_t in = 1;
  std::int64_t out = 1;
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;

  // The taps [first, last) of output position o that land inside the input.
  void taps(std::int64_t o, std::int64_t& first, std::int64_t& last) const noexcept {
    const std::int64_t start = o * stride - pad_begin;
    first = start >= 0 ? 0 : (-start + dilation - 1) / dilation;
    last = in - start <= 0 ? 0 : std::min(kernel, (in - start + dilation - 1) / dilation);
    if (last < first) last = first;
  }
};

// A 1-D pool is a 2-D one whose height is 1.
struct Geometry {
  Axis h;
  Axis w;
};

inline Status resolve_geometry(const OpCall& call, const relax::PoolAttrs& attrs, const Slot& x, const Slot& y,
                               Geometry& g) {
  const int spatial = x.rank - 2;
  Axis* axes[2] = {&g.h, &g.w};
  for (int i = 0; i < spatial; ++i) {
    Axis& a = *axes[spatial == 1 ? 1 : i];
    a.in = x.dims[2 + i];
    a.out = y.dims[2 + i];
    a.kernel = attrs.kernel_shape[i];
    if (!attrs.strides.empty()) a.stride = attrs.strides[i];
    if (!attrs.dilations.empty()) a.dilation = attrs.dilations[i];
    switch (attrs.auto_pad) {
      case relax::AutoPad::explicit_pads:
        if (!attrs.pads.empty()) a.pad_begin = attrs.pads[i];
        break;
      case relax::AutoPad::valid: a.pad_begin = 0; break;
      case relax::AutoPad::same_upper:
      case relax::AutoPad::same_lower: {
        // Enough padding for `out` windows, the odd one at the end (upper) or the start (lower).
        const std::int64_t total =
            std::max<std::int64_t>(0, (a.out - 1) * a.stride + (a.kernel - 1) * a.dilation + 1 - a.in);
        a.pad_begin = attrs.auto_pad == relax::AutoPad::same_upper ? total / 2 : total - total / 2;
        break;
      }
    }
    if (a.kernel < 1 || a.stride < 1 || a.dilation < 1 || a.pad_begin < 0)
      return cpu_support::op_error(StatusCode::invalid_argument, call.op,
                                   "kernel, strides and dilations must be positive and pads not negative");
  }
  return {};
}

inline void pool_plane(bool take_max, const Geometry& g, const float* x, float* y) noexcept {
  for (std::int64_t oh = 0; oh < g.h.out; ++oh) {
    std::int64_t kh_first = 0, kh_last = 0;
    g.h.taps(oh, kh_first, kh_last);
    const std::int64_t h0 = oh * g.h.stride - g.h.pad_begin;
    for (std::int64_t ow = 0; ow < g.w.out; ++ow) {
      std::int64_t kw_first = 0, kw_last = 0;
      g.w.taps(ow, kw_first, kw_last);
      const std::int64_t w0 = ow * g.w.stride - g.w.pad_begin;
      float acc = take_max ? -std::numeric_limits<float>::infinity() : 0.0f;
      for (std::int64_t kh = kh_first; kh < kh_last; ++kh) {
        // Indices, not a row pointer: w0 may be negative (padding) and only the taps are valid.
        const std::int64_t row = (h0 + kh * g.h.dilation) * g.w.in + w0;
        for (std::int64_t kw = kw_first; kw < kw_last; ++kw) {
          const float v = x[row + kw * g.w.dilation];
          acc = take_max ? std::max(acc, v) : acc + v;
        }
      }
      const std::int64_t count = (kh_last - kh_first) * (kw_last - kw_first);
      if (!take_max) acc = count > 0 ? acc / static_cast<float>(count) : 0.0f;
      y[oh * g.w.out + ow] = acc;
    }
  }
}

inline Status run_window_pool(const OpCall& call, const Slot& x, const Slot& y) {
  const auto* attrs = std::get_if<relax::PoolAttrs>(call.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::internal, call.op, "expects pool attributes");
  if (x.rank != 3 && x.rank != 4)
    return cpu_support::op_error(StatusCode::unsupported, call.op, "inputs of rank ", x.rank,
                                 " are not supported (1-D and 2-D pooling only)");
  if (y.rank != x.rank || attrs->kernel_shape.size() != x.rank - 2)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output or kernel_shape has the wrong rank");
  Geometry g;
  KILN_RETURN_IF_ERROR(resolve_geometry(call, *attrs, x, y, g));
  const std::int64_t planes = x.dims[0] * x.dims[1];
  const std::int64_t in_plane = g.h.in * g.w.in, out_plane = g.h.out * g.w.out;
  if (planes * out_plane == 0) return {};
  const bool take_max = call.op == OpKind::max_pool;
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, planes, out_plane * g.h.kernel * g.w.kernel,
                              [&](std::int64_t begin, std::int64_t end) {
                                for (std::int64_t p = begin; p < end; ++p)
                                  pool_plane(take_max, g, in + p * in_plane, out + p * out_plane);
                              });
  return {};
}

inline Status run_global_pool(const OpCall& call, const Slot& x, const Slot& y) {
  const std::int64_t planes = x.dims[0] * x.dims[1];
  const std::int64_t plane = cpu_support::extent_product(x, 2, x.rank);
  if (y.elements() != planes)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output holds ", y.elements(),
                                 " elements, expected ", planes);
  const bool take_max = call.op == OpKind::global_max_pool;
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, planes, plane, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p) {
      const float* row = in + p * plane;
      if (take_max) out[p] = cpu_support::row_max(row, plane);
      else out[p] = plane > 0 ? cpu_support::row_sum(row, plane) / static_cast<float>(plane) : 0.0f;
    }
  });
  return {};
}

// ---- the entry points -------------------------------------------------------------------------------

inline bool is_global(OpKind op) noexcept { return op == OpKind::global_max_pool || op == OpKind::global_average_pool; }

inline Status run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  if (x.dtype != DType::f32 || y.dtype != DType::f32)
    return cpu_support::dtype_unsupported(call.op, "input", x.dtype, "f32 only");
  if (x.rank < 3 || y.rank != x.rank || x.dims[0] != y.dims[0] || x.dims[1] != y.dims[1])
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op,
                                 "input and output must be [batch, channels, spatial...] alike");
  if (!x.contiguous() || !y.contiguous())
    return cpu_support::op_error(StatusCode::unsupported, call.op, "non-contiguous operands are not supported");
  return is_global(call.op) ? run_global_pool(call, x, y) : run_window_pool(call, x, y);
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  const OpKind op = binding.op;
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, 1, 1));
  const relax::TensorType& x = *cpu_support::input_type(binding, fn, 0);
  if (x.dtype != DType::f32) return cpu_support::dtype_unsupported(op, "input", x.dtype, "f32 only");
  if (x.rank < 3 || x.rank > kMaxRank)
    return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank,
                                 " are not supported ([batch, channels, spatial...])");
  if (is_global(op)) return {};
  if (x.rank > 4)
    return cpu_support::op_error(StatusCode::unsupported, op, x.rank - 2,
                                 "-D pooling is not supported (1-D and 2-D only)");
  const auto* attrs = std::get_if<relax::PoolAttrs>(&binding.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::invalid_argument, op, "expects pool attributes");
  const int spatial = x.rank - 2;
  if (attrs->kernel_shape.size() != spatial)
    return cpu_support::op_error(StatusCode::invalid_argument, op, "kernel_shape has ", attrs->kernel_shape.size(),
                                 " values, expected ", spatial);
  const auto check_list = [&](const relax::Ints& list, int expected, std::string_view what) -> Status {
    if (list.overflow || (!list.empty() && list.size() != expected))
      return cpu_support::op_error(StatusCode::invalid_argument, op, what, " has ", list.size(), " values, expected ",
                                   expected);
    return {};
  };
  KILN_RETURN_IF_ERROR(check_list(attrs->strides, spatial, "strides"));
  KILN_RETURN_IF_ERROR(check_list(attrs->dilations, spatial, "dilations"));
  KILN_RETURN_IF_ERROR(check_list(attrs->pads, 2 * spatial, "pads"));
  return {};
}

inline constexpr OpKernel kKernel{&supports, nullptr, &run};

} // namespace pool_impl

// The CPU kernel of max_pool, average_pool (1-D and 2-D), global_max_pool and
// global_average_pool; null for other ops (lp pooling included).
inline const OpKernel* cpu_pool_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::max_pool:
    case OpKind::average_pool:
    case OpKind::global_max_pool:
    case OpKind::global_average_pool: return &pool_impl::kKernel;
    default: return nullptr;
  }
}

} // namespace kiln::vm
