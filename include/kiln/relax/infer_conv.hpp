// kiln/relax/infer_conv.hpp: types of sliding-window ops: conv and conv-transpose (1-D, 2-D,
// 3-D), pooling and global pooling, with ONNX's attributes.
//
// Inputs are [batch, channels, spatial...]. An output extent along a spatial axis is an
// expression of the input extent, so a symbolic height stays symbolic:
//   conv, pool:      floordiv(in + pad_begin + pad_end - dilation*(kernel - 1) - 1, stride) + 1
//   conv-transpose:  stride*(in - 1) + output_padding + dilation*(kernel - 1) + 1 - pad_begin - pad_end
#pragma once

#include <cstdint>
#include <string_view>

#include "broadcast.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

// ONNX's auto_pad: explicit pads, or pads chosen so that out = ceildiv(in, stride) (the
// odd pad at the end for same_upper, at the beginning for same_lower), or no padding.
enum class AutoPad : std::uint8_t { explicit_pads, same_upper, same_lower, valid };

// Empty lists mean the defaults: strides and dilations 1, pads 0. `pads` holds the begin
// pads of every spatial axis, then the end pads (ONNX order).
struct ConvAttrs {
  Ints strides = {};
  Ints pads = {};
  Ints dilations = {};
  std::int64_t groups = 1;
  AutoPad auto_pad = AutoPad::explicit_pads;
};

struct ConvTransposeAttrs {
  Ints strides = {};
  Ints pads = {};
  Ints dilations = {};
  std::int64_t groups = 1;
  AutoPad auto_pad = AutoPad::explicit_pads;
  Ints output_padding = {};  // added at the end of each spatial axis; empty: 0
  Dims output_shape = {};    // the spatial output extents, when given (pads are then implied)
};

enum class PoolKind : std::uint8_t { max, average, lp };

struct PoolAttrs {
  Ints kernel_shape = {};  // required: one extent per spatial axis
  Ints strides = {};
  Ints pads = {};
  Ints dilations = {};
  bool ceil_mode = false;
  AutoPad auto_pad = AutoPad::explicit_pads;
  std::int64_t p = 2;              // lp_pool: the order of the norm
  bool count_include_pad = false;  // average_pool: divide by the whole window, pads included
};

constexpr std::string_view pool_name(PoolKind kind) noexcept {
  switch (kind) {
    case PoolKind::max: return "max_pool";
    case PoolKind::average: return "average_pool";
    case PoolKind::lp: return "lp_pool";
  }
  return "pool";
}
constexpr std::string_view global_pool_name(PoolKind kind) noexcept {
  switch (kind) {
    case PoolKind::max: return "global_max_pool";
    case PoolKind::average: return "global_average_pool";
    case PoolKind::lp: return "global_lp_pool";
  }
  return "global_pool";
}

namespace detail {

inline constexpr int kMaxSpatial = kMaxRank - 2;

struct Window {
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;
  std::int64_t pad_end = 0;
};
struct Windows {
  Window axis[kMaxSpatial] = {};
};

constexpr Inferred<Windows> resolve_windows(std::string_view op, int spatial, const Ints& strides, const Ints& pads,
                                            const Ints& dilations) noexcept {
  KILN_RELAX_CHECK(check_length(op, "strides", strides, spatial));
  KILN_RELAX_CHECK(check_length(op, "dilations", dilations, spatial));
  KILN_RELAX_CHECK(check_length(op, "pads", pads, 2 * spatial));
  Windows w;
  for (int i = 0; i < spatial; ++i) {
    Window& a = w.axis[i];
    if (!strides.empty()) a.stride = strides[i];
    if (!dilations.empty()) a.dilation = dilations[i];
    if (!pads.empty()) {
      a.pad_begin = pads[i];
      a.pad_end = pads[spatial + i];
    }
    if (a.stride < 1) return type_error(StatusCode::invalid_argument, op, ": strides must be positive, got ", a.stride);
    if (a.dilation < 1)
      return type_error(StatusCode::invalid_argument, op, ": dilations must be positive, got ", a.dilation);
    if (a.pad_begin < 0 || a.pad_end < 0)
      return type_error(StatusCode::invalid_argument, op, ": pads must not be negative, got ",
                        a.pad_begin < 0 ? a.pad_begin : a.pad_end);
  }
  return w;
}

// The number of positions of a window of `kernel` taps along an axis of extent `in`.
constexpr SymDim window_count(const SymDim& in, const SymDim& kernel, const Window& w, AutoPad auto_pad,
                              bool ceil_mode) noexcept {
  if (auto_pad == AutoPad::same_upper || auto_pad == AutoPad::same_lower) return ceildiv(in, w.stride);
  const bool padded = auto_pad == AutoPad::explicit_pads;
  const std::int64_t pad_begin = padded ? w.pad_begin : 0;
  const std::int64_t pad_end = padded ? w.pad_end : 0;
  const SymDim span = in + SymDim(pad_begin + pad_end) - SymDim(w.dilation) * (kernel - 1) - 1;
  if (!ceil_mode) return floordiv(span, w.stride) + 1;
  // ceil_mode adds a last, partial window, but never one that starts in the end padding.
  const SymDim out = ceildiv(span, w.stride) + 1;
  const SymDim starts_inside = ceildiv(in + SymDim(pad_begin), w.stride);
  if (out.is_constant() && starts_inside.is_constant()) {
    // The rule as ONNX Runtime and PyTorch state it.
    const std::int64_t n = out.constant_value();
    return (n - 1) * w.stride >= in.constant_value() + pad_begin ? SymDim(n - 1) : out;
  }
  return min(out, starts_inside);
}

// An output extent that is provably below 1 means the window does not fit.
constexpr Check check_window_fits(std::string_view op, int axis, const SymDim& out, const SymDim& in,
                                  const SymDim& kernel) noexcept {
  if (!out.valid())
    return type_error(StatusCode::unsupported, op, ": output extent of spatial axis ", axis, " is ",
                      to_string(out.fault()));
  if (out.bounds().hi >= 1) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": spatial axis ", axis, " of the output would have extent ", out,
                    " (input ", in, ", kernel ", kernel, ")");
}

constexpr Check check_spatial_rank(std::string_view op, const TensorType& x) noexcept {
  if (x.rank >= 3 && x.rank <= 5) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op,
                    ": input must have rank 3, 4 or 5 (batch, channels, 1 to 3 spatial axes), got ", x);
}

constexpr Check check_bias(std::string_view op, const TensorType* bias, const TensorType& x,
                           const SymDim& channels) noexcept {
  if (!bias) return std::nullopt;
  KILN_RELAX_CHECK(check_input(op, "the bias", *bias));
  KILN_RELAX_CHECK(check_same_dtype(op, x, *bias));
  if (bias->rank != 1 || prove_equal(bias->dims[0], channels) == Truth::no)
    return type_error(StatusCode::shape_mismatch, op, ": bias must be [", channels, "], got ", *bias);
  return std::nullopt;
}

// What conv and conv_transpose check alike (both operands, their dtype and rank, the groups),
// and the windows their attributes describe.
template <class Attrs>
constexpr Inferred<Windows> check_conv_operands(std::string_view op, const TensorType& x, const TensorType& weight,
                                                const Attrs& attrs) noexcept {
  KILN_RELAX_CHECK(check_input(op, "the input", x));
  KILN_RELAX_CHECK(check_input(op, "the weight", weight));
  KILN_RELAX_CHECK(check_same_dtype(op, x, weight));
  KILN_RELAX_CHECK(check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(check_spatial_rank(op, x));
  if (weight.rank != x.rank)
    return type_error(StatusCode::shape_mismatch, op, ": weight must have rank ", x.rank, " like the input, got ",
                      weight);
  if (attrs.groups < 1)
    return type_error(StatusCode::invalid_argument, op, ": groups must be positive, got ", attrs.groups);
  return resolve_windows(op, x.rank - 2, attrs.strides, attrs.pads, attrs.dilations);
}

} // namespace detail

namespace infer {

// x [n, c, spatial...], weight [m, c / groups, kernel...] (, bias [m]) -> [n, m, out...].
constexpr Inferred<TensorType> conv(const TensorType& x, const TensorType& weight, const TensorType* bias = nullptr,
                                    const ConvAttrs& attrs = {}) noexcept {
  constexpr std::string_view op = "conv";
  const int spatial = x.rank - 2;
  KILN_RELAX_ASSIGN(const detail::Windows windows, detail::check_conv_operands(op, x, weight, attrs));
  const SymDim& out_channels = weight.dims[0];
  if (prove_equal(x.dims[1], weight.dims[1] * attrs.groups) == Truth::no)
    return type_error(StatusCode::shape_mismatch, op, ": input has ", x.dims[1], " channels, the weight expects ",
                      weight.dims[1], " per group x ", attrs.groups, " groups");
  if (out_channels.is_constant() && out_channels.constant_value() % attrs.groups != 0)
    return type_error(StatusCode::shape_mismatch, op, ": ", out_channels, " output channels do not divide into ",
                      attrs.groups, " groups");
  KILN_RELAX_CHECK(detail::check_bias(op, bias, x, out_channels));
  TensorType out(x.dtype, {x.dims[0], out_channels});
  for (int i = 0; i < spatial; ++i) {
    const SymDim& in = x.dims[2 + i];
    const SymDim& kernel = weight.dims[2 + i];
    const SymDim extent = detail::window_count(in, kernel, windows.axis[i], attrs.auto_pad, false);
    KILN_RELAX_CHECK(detail::check_window_fits(op, i, extent, in, kernel));
    out.push_back(extent);
  }
  return out;
}

// x [n, c, spatial...], weight [c, m / groups, kernel...] (, bias [m]) -> [n, m, out...].
constexpr Inferred<TensorType> conv_transpose(const TensorType& x, const TensorType& weight,
                                              const TensorType* bias = nullptr,
                                              const ConvTransposeAttrs& attrs = {}) noexcept {
  constexpr std::string_view op = "conv_transpose";
  const int spatial = x.rank - 2;
  KILN_RELAX_ASSIGN(const detail::Windows windows, detail::check_conv_operands(op, x, weight, attrs));
  KILN_RELAX_CHECK(detail::check_length(op, "output_padding", attrs.output_padding, spatial));
  KILN_RELAX_CHECK(detail::check_length(op, "output_shape", attrs.output_shape, spatial));
  if (prove_equal(x.dims[1], weight.dims[0]) == Truth::no)
    return type_error(StatusCode::shape_mismatch, op, ": input has ", x.dims[1], " channels, the weight expects ",
                      weight.dims[0]);
  const SymDim out_channels = weight.dims[1] * attrs.groups;
  KILN_RELAX_CHECK(detail::check_bias(op, bias, x, out_channels));
  TensorType out(x.dtype, {x.dims[0], out_channels});
  for (int i = 0; i < spatial; ++i) {
    const detail::Window& w = windows.axis[i];
    const std::int64_t output_padding = attrs.output_padding.empty() ? 0 : attrs.output_padding[i];
    if (output_padding < 0 || (output_padding >= w.stride && output_padding >= w.dilation))
      return type_error(StatusCode::invalid_argument, op, ": output_padding ", output_padding,
                        " must be smaller than the stride or the dilation");
    const SymDim& in = x.dims[2 + i];
    const SymDim& kernel = weight.dims[2 + i];
    SymDim extent;
    if (!attrs.output_shape.empty()) {
      extent = attrs.output_shape[i];
    } else if (attrs.auto_pad == AutoPad::same_upper || attrs.auto_pad == AutoPad::same_lower) {
      extent = in * w.stride;
    } else {
      const std::int64_t pads = attrs.auto_pad == AutoPad::valid ? 0 : w.pad_begin + w.pad_end;
      extent = SymDim(w.stride) * (in - 1) + SymDim(output_padding) + SymDim(w.dilation) * (kernel - 1) + 1 - pads;
    }
    KILN_RELAX_CHECK(detail::check_window_fits(op, i, extent, in, kernel));
    out.push_back(extent);
  }
  return out;
}

// max/average/lp pooling: x [n, c, spatial...] -> [n, c, out...].
constexpr Inferred<TensorType> pool(PoolKind kind, const TensorType& x, const PoolAttrs& attrs) noexcept {
  const std::string_view op = pool_name(kind);
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::check_spatial_rank(op, x));
  const int spatial = x.rank - 2;
  KILN_RELAX_CHECK(detail::check_list(op, "kernel_shape", attrs.kernel_shape));
  if (attrs.kernel_shape.size() != spatial)
    return type_error(StatusCode::invalid_argument, op, ": kernel_shape has ", attrs.kernel_shape.size(),
                      " values, expected ", spatial);
  KILN_RELAX_ASSIGN(const detail::Windows windows,
                    detail::resolve_windows(op, spatial, attrs.strides, attrs.pads, attrs.dilations));
  TensorType out(x.dtype, {x.dims[0], x.dims[1]});
  for (int i = 0; i < spatial; ++i) {
    const std::int64_t kernel = attrs.kernel_shape[i];
    if (kernel < 1)
      return type_error(StatusCode::invalid_argument, op, ": kernel_shape must be positive, got ", kernel);
    const SymDim& in = x.dims[2 + i];
    const SymDim extent = detail::window_count(in, kernel, windows.axis[i], attrs.auto_pad, attrs.ceil_mode);
    KILN_RELAX_CHECK(detail::check_window_fits(op, i, extent, in, kernel));
    out.push_back(extent);
  }
  return out;
}

// Global pooling: x [n, c, spatial...] -> [n, c, 1, ...].
constexpr Inferred<TensorType> global_pool(PoolKind kind, const TensorType& x) noexcept {
  const std::string_view op = global_pool_name(kind);
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::check_spatial_rank(op, x));
  TensorType out = x;
  for (int i = 2; i < x.rank; ++i) out.dims[i] = 1;
  return out;
}

} // namespace infer
} // namespace kiln::relax
