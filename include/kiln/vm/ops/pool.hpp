// kiln/vm/ops/pool.hpp: the CPU kernels of the dynamic module's pooling: max_pool,
// average_pool and lp_pool over 1-D, 2-D and 3-D windows (NCW, NCHW, NCDHW) with ONNX's
// strides, pads, dilations, auto_pad and ceil_mode, and global_max_pool,
// global_average_pool and global_lp_pool over any number of spatial axes.
//
// Each output element visits only the taps that fall inside the input: the range of valid
// taps along each axis is computed once per output slice, row and column, so padding costs
// no test per tap. A 1-D or 2-D window runs as a 3-D one whose outer axes have extent 1.
//
// lp pooling takes its order from PoolAttrs::p (global_lp_pool from LpNormAttrs::p); padding
// adds nothing to an lp norm (|0|^p = 0). average_pool divides by the number of taps inside
// the input, or with count_include_pad by the number inside the padded input: the explicit
// (or auto_pad) pads count as zeros, but the taps ceil_mode's last windows reach beyond the
// end pad do not, as in ONNX's reference (it pads the input with zeros and keeps only the
// window positions below in + pad_begin + pad_end). A window with no valid tap gives -inf
// (max) or 0 (average, lp). f32 only.
//
// A 2-D window over a blocked NCHWc tensor arrives as a 3-D one over [n, cb, h, w, b] whose
// last axis has a window of one (relax/passes/convert_layout.hpp rewrites it so): max and
// average pooling then combine whole vectors of the block's channels per tap.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <variant>

#include <xsimd/xsimd.hpp>

#include "../../relax/attributes.hpp"
#include "../../relax/infer_conv.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace pool_impl {

using relax::OpKind;
using relax::PoolKind;

// The most spatial axes a window pool runs (1-D to 3-D).
inline constexpr int kMaxWindowAxes = 3;

// One spatial axis of a window: its taps, their spacing, and where output position 0 starts.
struct Axis {
  std::int64_t in = 1;
  std::int64_t out = 1;
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;
  std::int64_t pad_end = 0;

  // The taps [first, last) of output position o that land inside the input.
  void taps(std::int64_t o, std::int64_t& first, std::int64_t& last) const noexcept {
    const std::int64_t start = o * stride - pad_begin;
    first = start >= 0 ? 0 : (-start + dilation - 1) / dilation;
    last = in - start <= 0 ? 0 : std::min(kernel, (in - start + dilation - 1) / dilation);
    if (last < first) last = first;
  }

  // How many taps of output position o land inside the padded input [-pad_begin, in +
  // pad_end): windows start at or after -pad_begin, so only the end can cut them short.
  std::int64_t padded_taps(std::int64_t o) const noexcept {
    const std::int64_t room = in + pad_end - (o * stride - pad_begin);
    return room <= 0 ? 0 : std::min(kernel, (room + dilation - 1) / dilation);
  }
};

// Depth, height, width: a 2-D pool is a 3-D one of depth 1, a 1-D pool also of height 1.
struct Geometry {
  Axis d;
  Axis h;
  Axis w;
  Axis& spatial_axis(int spatial, int i) noexcept {
    Axis* axes[kMaxWindowAxes] = {&d, &h, &w};
    return *axes[kMaxWindowAxes - spatial + i];
  }
  std::int64_t in_plane() const noexcept { return d.in * h.in * w.in; }
  std::int64_t out_plane() const noexcept { return d.out * h.out * w.out; }
  std::int64_t window() const noexcept { return d.kernel * h.kernel * w.kernel; }
};

// ---- how the taps of a window combine ---------------------------------------------------------------

struct MaxTaps {
  static float start() noexcept { return -std::numeric_limits<float>::infinity(); }
  float add(float acc, float v) const noexcept { return std::max(acc, v); }
  float finish(float acc, std::int64_t) const noexcept { return acc; }
};
struct MeanTaps {
  static float start() noexcept { return 0.0f; }
  float add(float acc, float v) const noexcept { return acc + v; }
  float finish(float acc, std::int64_t count) const noexcept {
    return count > 0 ? acc / static_cast<float>(count) : 0.0f;
  }
};
// The lp norm, with p = 1 and p = 2 spared the calls to pow.
struct AbsSumTaps {
  static float start() noexcept { return 0.0f; }
  float add(float acc, float v) const noexcept { return acc + std::fabs(v); }
  float finish(float acc, std::int64_t) const noexcept { return acc; }
};
struct EuclideanTaps {
  static float start() noexcept { return 0.0f; }
  float add(float acc, float v) const noexcept { return acc + v * v; }
  float finish(float acc, std::int64_t) const noexcept { return std::sqrt(acc); }
};
struct PowerTaps {
  float p;
  static float start() noexcept { return 0.0f; }
  float add(float acc, float v) const noexcept { return acc + std::pow(std::fabs(v), p); }
  float finish(float acc, std::int64_t) const noexcept { return std::pow(acc, 1.0f / p); }
};

// Calls fn with the tap combiner of `kind` (and lp order p).
template <class Fn>
void with_taps(PoolKind kind, float p, Fn&& fn) {
  switch (kind) {
    case PoolKind::max: fn(MaxTaps{}); return;
    case PoolKind::average: fn(MeanTaps{}); return;
    case PoolKind::lp:
      if (p == 1.0f) fn(AbsSumTaps{});
      else if (p == 2.0f) fn(EuclideanTaps{});
      else fn(PowerTaps{p});
      return;
  }
}

// ---- window pooling -------------------------------------------------------------------------------

inline Status resolve_geometry(const OpCall& call, const relax::PoolAttrs& attrs, const Slot& x, const Slot& y,
                               Geometry& g) {
  const int spatial = x.rank - 2;
  for (int i = 0; i < spatial; ++i) {
    Axis& a = g.spatial_axis(spatial, i);
    a.in = x.dims[2 + i];
    a.out = y.dims[2 + i];
    a.kernel = attrs.kernel_shape[i];
    if (!attrs.strides.empty()) a.stride = attrs.strides[i];
    if (!attrs.dilations.empty()) a.dilation = attrs.dilations[i];
    switch (attrs.auto_pad) {
      case relax::AutoPad::explicit_pads:
        if (!attrs.pads.empty()) {
          a.pad_begin = attrs.pads[i];
          a.pad_end = attrs.pads[spatial + i];
        }
        break;
      case relax::AutoPad::valid: break;
      case relax::AutoPad::same_upper:
      case relax::AutoPad::same_lower: {
        // Enough padding for `out` windows, the odd one at the end (upper) or the start (lower).
        const std::int64_t total =
            std::max<std::int64_t>(0, (a.out - 1) * a.stride + (a.kernel - 1) * a.dilation + 1 - a.in);
        a.pad_begin = attrs.auto_pad == relax::AutoPad::same_upper ? total / 2 : total - total / 2;
        a.pad_end = total - a.pad_begin;
        break;
      }
    }
    if (a.kernel < 1 || a.stride < 1 || a.dilation < 1 || a.pad_begin < 0 || a.pad_end < 0)
      return cpu_support::op_error(StatusCode::invalid_argument, call.op,
                                   "kernel, strides and dilations must be positive and pads not negative");
  }
  return {};
}

// One channel's output volume; `count_padding` divides averages by the taps inside the padded
// input rather than inside the input.
template <class Taps>
void pool_volume(const Taps& combine, const Geometry& g, bool count_padding, const float* x, float* y) noexcept {
  const std::int64_t in_slice = g.h.in * g.w.in;
  for (std::int64_t od = 0; od < g.d.out; ++od) {
    std::int64_t kd_first = 0, kd_last = 0;
    g.d.taps(od, kd_first, kd_last);
    const std::int64_t d0 = od * g.d.stride - g.d.pad_begin;
    float* y_slice = y + od * g.h.out * g.w.out;
    for (std::int64_t oh = 0; oh < g.h.out; ++oh) {
      std::int64_t kh_first = 0, kh_last = 0;
      g.h.taps(oh, kh_first, kh_last);
      const std::int64_t h0 = oh * g.h.stride - g.h.pad_begin;
      for (std::int64_t ow = 0; ow < g.w.out; ++ow) {
        std::int64_t kw_first = 0, kw_last = 0;
        g.w.taps(ow, kw_first, kw_last);
        const std::int64_t w0 = ow * g.w.stride - g.w.pad_begin;
        float acc = Taps::start();
        for (std::int64_t kd = kd_first; kd < kd_last; ++kd) {
          const std::int64_t slice = (d0 + kd * g.d.dilation) * in_slice;
          for (std::int64_t kh = kh_first; kh < kh_last; ++kh) {
            // Indices, not a row pointer: w0 may be negative (padding) and only the taps are valid.
            const std::int64_t row = slice + (h0 + kh * g.h.dilation) * g.w.in + w0;
            for (std::int64_t kw = kw_first; kw < kw_last; ++kw) acc = combine.add(acc, x[row + kw * g.w.dilation]);
          }
        }
        const std::int64_t count =
            count_padding ? g.d.padded_taps(od) * g.h.padded_taps(oh) * g.w.padded_taps(ow)
                          : (kd_last - kd_first) * (kh_last - kh_first) * (kw_last - kw_first);
        y_slice[oh * g.w.out + ow] = combine.finish(acc, count);
      }
    }
  }
}

// Whether a 3-D window pools a blocked NCHWc tensor: its last axis (the channels of a block)
// keeps every element, in whole vectors.
inline bool is_blocked_window(const Geometry& g) noexcept {
  const Axis& lanes = g.w;
  return lanes.kernel == 1 && lanes.stride == 1 && lanes.dilation == 1 && lanes.pad_begin == 0 &&
         lanes.pad_end == 0 && lanes.out == lanes.in && lanes.in % cpu_support::kLanes == 0;
}

// One image and channel block of a blocked tensor: output pixel (oh, ow) combines the block
// vectors of the taps inside the input, kLanes channels at a time. g.d and g.h are the
// spatial axes, g.w the block.
inline void pool_blocked(PoolKind kind, const Geometry& g, bool count_padding, const float* x, float* y) noexcept {
  using Batch = cpu_support::f32_batch;
  const std::int64_t block = g.w.in;
  for (std::int64_t oh = 0; oh < g.d.out; ++oh) {
    std::int64_t kh_first = 0, kh_last = 0;
    g.d.taps(oh, kh_first, kh_last);
    const std::int64_t h0 = oh * g.d.stride - g.d.pad_begin;
    for (std::int64_t ow = 0; ow < g.h.out; ++ow) {
      std::int64_t kw_first = 0, kw_last = 0;
      g.h.taps(ow, kw_first, kw_last);
      const std::int64_t w0 = ow * g.h.stride - g.h.pad_begin;
      const std::int64_t count =
          count_padding ? g.d.padded_taps(oh) * g.h.padded_taps(ow) : (kh_last - kh_first) * (kw_last - kw_first);
      float* out = y + (oh * g.h.out + ow) * block;
      for (std::int64_t lane = 0; lane < block; lane += cpu_support::kLanes) {
        Batch acc(kind == PoolKind::max ? -std::numeric_limits<float>::infinity() : 0.0f);
        for (std::int64_t kh = kh_first; kh < kh_last; ++kh) {
          const std::int64_t row = (h0 + kh * g.d.dilation) * g.h.in;
          for (std::int64_t kw = kw_first; kw < kw_last; ++kw) {
            const Batch v = Batch::load_unaligned(x + (row + w0 + kw * g.h.dilation) * block + lane);
            acc = kind == PoolKind::max ? xsimd::max(acc, v) : acc + v;
          }
        }
        if (kind == PoolKind::average) acc = count > 0 ? acc / Batch(static_cast<float>(count)) : Batch(0.0f);
        acc.store_unaligned(out + lane);
      }
    }
  }
}

inline PoolKind kind_of(OpKind op) noexcept {
  switch (op) {
    case OpKind::max_pool:
    case OpKind::global_max_pool: return PoolKind::max;
    case OpKind::lp_pool:
    case OpKind::global_lp_pool: return PoolKind::lp;
    default: return PoolKind::average;
  }
}

// What supports() checks of the attributes, again at run: the loops index the lists.
inline Status check_pool_attrs(OpKind op, const relax::PoolAttrs& attrs, int spatial) {
  const auto check_list = [&](const relax::Ints& list, int expected, std::string_view what) -> Status {
    if (list.overflow || (!list.empty() && list.size() != expected))
      return cpu_support::op_error(StatusCode::invalid_argument, op, what, " has ", list.size(), " values, expected ",
                                   expected);
    return {};
  };
  if (attrs.kernel_shape.overflow || attrs.kernel_shape.size() != spatial)
    return cpu_support::op_error(StatusCode::invalid_argument, op, "kernel_shape has ", attrs.kernel_shape.size(),
                                 " values, expected ", spatial);
  KILN_RETURN_IF_ERROR(check_list(attrs.strides, spatial, "strides"));
  KILN_RETURN_IF_ERROR(check_list(attrs.dilations, spatial, "dilations"));
  KILN_RETURN_IF_ERROR(check_list(attrs.pads, 2 * spatial, "pads"));
  return {};
}

inline Status window_rank_unsupported(OpKind op, int rank) {
  return cpu_support::op_error(StatusCode::unsupported, op, rank - 2,
                               "-D pooling is not supported (1-D to 3-D: input of rank 3 to 5)");
}

inline Status run_window_pool(const OpCall& call, const Slot& x, const Slot& y, float lp_order) {
  const auto* attrs = std::get_if<relax::PoolAttrs>(call.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::internal, call.op, "expects pool attributes");
  if (x.rank > 2 + kMaxWindowAxes) return window_rank_unsupported(call.op, x.rank);
  KILN_RETURN_IF_ERROR(check_pool_attrs(call.op, *attrs, x.rank - 2));
  Geometry g;
  KILN_RETURN_IF_ERROR(resolve_geometry(call, *attrs, x, y, g));
  const std::int64_t planes = x.dims[0] * x.dims[1];
  const std::int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  if (planes * out_plane == 0) return {};
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  const bool count_padding = attrs->count_include_pad && kind_of(call.op) == PoolKind::average;
  if (x.rank == 5 && kind_of(call.op) != PoolKind::lp && is_blocked_window(g)) {
    cpu_support::parallel_items(call.pool, planes, out_plane * g.window(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t p = begin; p < end; ++p)
        pool_blocked(kind_of(call.op), g, count_padding, in + p * in_plane, out + p * out_plane);
    });
    return {};
  }
  with_taps(kind_of(call.op), lp_order, [&](const auto& combine) {
    cpu_support::parallel_items(call.pool, planes, out_plane * g.window(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t p = begin; p < end; ++p)
        pool_volume(combine, g, count_padding, in + p * in_plane, out + p * out_plane);
    });
  });
  return {};
}

// ---- global pooling -------------------------------------------------------------------------------

inline float global_lp(const float* x, std::int64_t n, float p) noexcept {
  if (p == 2.0f) return std::sqrt(cpu_support::row_squared_deviation(x, n, 0.0f));
  float acc = 0.0f;
  with_taps(PoolKind::lp, p, [&](const auto& combine) {
    for (std::int64_t i = 0; i < n; ++i) acc = combine.add(acc, x[i]);
    acc = combine.finish(acc, n);
  });
  return acc;
}

inline Status run_global_pool(const OpCall& call, const Slot& x, const Slot& y, float lp_order) {
  const std::int64_t planes = x.dims[0] * x.dims[1];
  const std::int64_t plane = cpu_support::extent_product(x, 2, x.rank);
  if (y.elements() != planes)
    return cpu_support::op_error(StatusCode::shape_mismatch, call.op, "the output holds ", y.elements(),
                                 " elements, expected ", planes);
  const PoolKind kind = kind_of(call.op);
  const float* in = x.data_as<const float>();
  float* out = y.data_as<float>();
  cpu_support::parallel_items(call.pool, planes, plane, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p) {
      const float* row = in + p * plane;
      switch (kind) {
        case PoolKind::max: out[p] = cpu_support::row_max(row, plane); break;
        case PoolKind::average:
          out[p] = plane > 0 ? cpu_support::row_sum(row, plane) / static_cast<float>(plane) : 0.0f;
          break;
        case PoolKind::lp: out[p] = global_lp(row, plane, lp_order); break;
      }
    }
  });
  return {};
}

// ---- the entry points -------------------------------------------------------------------------------

inline bool is_global(OpKind op) noexcept {
  return op == OpKind::global_max_pool || op == OpKind::global_average_pool || op == OpKind::global_lp_pool;
}

// The order of an lp pooling's norm, from its attributes; it must be positive.
inline Status lp_order_of(OpKind op, const relax::Attrs* attrs, float& p) {
  const auto* window = std::get_if<relax::PoolAttrs>(attrs);
  const auto* global = std::get_if<relax::LpNormAttrs>(attrs);
  if (op == OpKind::lp_pool ? window == nullptr : global == nullptr)
    return cpu_support::op_error(StatusCode::invalid_argument, op, "expects ",
                                 op == OpKind::lp_pool ? "pool" : "lp norm", " attributes");
  const std::int64_t order = op == OpKind::lp_pool ? window->p : global->p;
  if (order < 1) return cpu_support::op_error(StatusCode::invalid_argument, op, "p must be positive, got ", order);
  p = static_cast<float>(order);
  return {};
}

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
  float lp_order = 2.0f;  // read by lp pooling only
  if (kind_of(call.op) == PoolKind::lp) {
    KILN_RETURN_IF_ERROR(lp_order_of(call.op, call.attrs, lp_order));
  }
  return is_global(call.op) ? run_global_pool(call, x, y, lp_order) : run_window_pool(call, x, y, lp_order);
}

inline Status supports(const relax::Binding& binding, const relax::Function& fn) {
  const OpKind op = binding.op;
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(binding, fn, 1, 1));
  const relax::TensorType& x = *cpu_support::input_type(binding, fn, 0);
  if (x.dtype != DType::f32) return cpu_support::dtype_unsupported(op, "input", x.dtype, "f32 only");
  if (x.rank < 3 || x.rank > kMaxRank)
    return cpu_support::op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank,
                                 " are not supported ([batch, channels, spatial...])");
  if (kind_of(op) == PoolKind::lp) {
    float p = 0.0f;
    KILN_RETURN_IF_ERROR(lp_order_of(op, &binding.attrs, p));
  }
  if (is_global(op)) return {};
  if (x.rank > 2 + kMaxWindowAxes) return window_rank_unsupported(op, x.rank);
  const auto* attrs = std::get_if<relax::PoolAttrs>(&binding.attrs);
  if (attrs == nullptr) return cpu_support::op_error(StatusCode::invalid_argument, op, "expects pool attributes");
  return check_pool_attrs(op, *attrs, x.rank - 2);
}

inline constexpr OpKernel kKernel{&supports, nullptr, &run};

} // namespace pool_impl

// The CPU kernel of max_pool, average_pool, lp_pool (1-D to 3-D windows), global_max_pool,
// global_average_pool and global_lp_pool; null for other ops.
inline const OpKernel* cpu_pool_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::max_pool:
    case OpKind::average_pool:
    case OpKind::lp_pool:
    case OpKind::global_max_pool:
    case OpKind::global_average_pool:
    case OpKind::global_lp_pool: return &pool_impl::kKernel;
    default: return nullptr;
  }
}

} // namespace kiln::vm
