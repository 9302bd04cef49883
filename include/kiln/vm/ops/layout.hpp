// kiln/vm/ops/layout.hpp: the dynamic module's CPU kernels for the blocked NCHWc layout:
// to_nchwc and from_nchwc (the transforms at the boundaries of a blocked region) and
// conv_nchwc, the convolution the layout exists for (dense, or depthwise: groups equal to
// the channels). All f32, all extents dynamic.
//
// conv_nchwc is a direct, register-blocked loop. An output tile is T consecutive pixels of
// one output row times J vectors of output channels (one SIMD vector is a block of 16 on
// AVX-512, 8 on AVX2, or part of a wider block); its T * J sums stay in registers for the
// whole reduction over input channel blocks, kernel rows, kernel columns and the channels
// of a block. For each input channel the kernel loads J weight vectors and broadcasts one
// input value per pixel, so T * J FMAs cost T + J loads. Pixels whose taps all land inside
// the input row run in full tiles; the few at the edges of a padded row run one by one
// over the taps that land inside, so no padded copy of the input is needed and the kernel
// needs no scratch. Work is split by (image, output channel vectors, output row).
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"
#include "linear.hpp"

namespace kiln::vm {
namespace layout_detail {

using relax::OpKind;
using cpu_support::op_error;

inline Status require_f32_operands(const relax::Binding& b, const relax::Function& fn) {
  for (std::size_t i = 0; i < b.inputs.size(); ++i)
    if (const relax::TensorType* t = cpu_support::input_type(b, fn, i); t != nullptr && t->dtype != DType::f32)
      return cpu_support::dtype_unsupported(b.op, "input", t->dtype, "f32 only");
  return {};
}

inline Status require_rank(OpKind op, std::string_view role, const relax::TensorType* t, int rank) {
  if (t != nullptr && t->rank == rank) return {};
  return op_error(StatusCode::unsupported, op, role, " must have rank ", rank);
}

inline Status require_rank(OpKind op, std::string_view role, const Slot& s, int rank) {
  if (s.rank == rank) return {};
  return op_error(StatusCode::shape_mismatch, op, role, " has rank ", s.rank, ", expected ", rank);
}

inline Status require_contiguous(OpKind op, std::string_view role, const Slot& s) {
  if (s.contiguous()) return {};
  return op_error(StatusCode::unsupported, op, role, " must be row-major contiguous");
}

// ---------------------------------------------------------------------------------------
// to_nchwc and from_nchwc: one pass over the tensor, a row (all widths of one channel
// block and one image row) at a time.

inline Status to_nchwc_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 1, 1));
  KILN_RETURN_IF_ERROR(require_f32_operands(b, fn));
  KILN_RETURN_IF_ERROR(require_rank(b.op, "the input", cpu_support::input_type(b, fn, 0), 4));
  const auto* attrs = std::get_if<relax::BlockAttrs>(&b.attrs);
  if (attrs == nullptr || attrs->block < 1) return op_error(StatusCode::invalid_argument, b.op, "the block must be positive");
  return {};
}

inline Status to_nchwc_run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the input", x, 4));
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the output", y, 5));
  KILN_RETURN_IF_ERROR(require_contiguous(call.op, "the output", y));
  const std::int64_t batch = x.dims[0], channels = x.dims[1], height = x.dims[2], width = x.dims[3];
  const std::int64_t blocks = y.dims[1], block = y.dims[4];
  if (block != call.attr<relax::BlockAttrs>().block || y.dims[0] != batch || y.dims[2] != height ||
      y.dims[3] != width || blocks != (channels + block - 1) / block)
    return op_error(StatusCode::shape_mismatch, call.op, "the output does not match the input and the block");
  const float* src = x.data_as<float>();
  float* dst = y.data_as<float>();
  const std::int64_t rows = batch * blocks * height;
  cpu_support::parallel_items(call.pool, rows, width * block, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const std::int64_t n = row / (blocks * height), c_block = row / height % blocks, h = row % height;
      float* out = dst + row * width * block;
      for (std::int64_t lane = 0; lane < block; ++lane) {
        const std::int64_t c = c_block * block + lane;
        if (c >= channels) {
          for (std::int64_t w = 0; w < width; ++w) out[w * block + lane] = 0.0f;
          continue;
        }
        const float* in = src + n * x.strides[0] + c * x.strides[1] + h * x.strides[2];
        for (std::int64_t w = 0; w < width; ++w) out[w * block + lane] = in[w * x.strides[3]];
      }
    }
  });
  return {};
}

inline Status from_nchwc_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 1, 1));
  KILN_RETURN_IF_ERROR(require_f32_operands(b, fn));
  return require_rank(b.op, "the input", cpu_support::input_type(b, fn, 0), 5);
}

inline Status from_nchwc_run(const OpCall& call) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 1));
  const Slot& x = *call.input(0);
  const Slot& y = call.output();
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the input", x, 5));
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the output", y, 4));
  KILN_RETURN_IF_ERROR(require_contiguous(call.op, "the output", y));
  const std::int64_t batch = y.dims[0], channels = y.dims[1], height = y.dims[2], width = y.dims[3];
  const std::int64_t block = x.dims[4];
  if (x.dims[0] != batch || x.dims[2] != height || x.dims[3] != width || block < 1 ||
      x.dims[1] != (channels + block - 1) / block)
    return op_error(StatusCode::shape_mismatch, call.op, "the output does not match the blocked input");
  const float* src = x.data_as<float>();
  float* dst = y.data_as<float>();
  const std::int64_t rows = batch * channels * height;
  cpu_support::parallel_items(call.pool, rows, width, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const std::int64_t n = row / (channels * height), c = row / height % channels, h = row % height;
      const float* in = src + n * x.strides[0] + c / block * x.strides[1] + h * x.strides[2] + c % block * x.strides[4];
      float* out = dst + row * width;
      for (std::int64_t w = 0; w < width; ++w) out[w] = in[w * x.strides[3]];
    }
  });
  return {};
}

// ---------------------------------------------------------------------------------------
// conv_nchwc

using Batch = xsimd::batch<float>;
inline constexpr std::int64_t kLanes = static_cast<std::int64_t>(Batch::size);
// Output vectors per tile, and pixels per tile: the T * J sums, J weights and a broadcast
// input fill the vector registers (32 on AVX-512, 16 below it) without spilling.
inline constexpr int kTileVectors = 2;
inline constexpr int kTilePixels = kLanes >= 16 ? 14 : 6;

using linear_detail::Range;

// Where the pixels of a tile lie: floats between neighbouring pixels' inputs and outputs
// (along a row, or down a column for the edge columns of a band of rows).
struct TileSteps {
  std::int64_t in = 0;
  std::int64_t out = 0;
};
// Output rows per work item: the edge columns of a band run as one tile down it.
inline constexpr std::int64_t kBandRows = kTilePixels;

struct ConvGeometry {
  std::int64_t batch = 0, in_blocks = 0, in_block = 0, height = 0, width = 0;
  std::int64_t out_blocks = 0, out_block = 0, out_height = 0, out_width = 0;
  linear_detail::Axis h;  // kernel rows
  linear_detail::Axis w;  // kernel columns
  // Input strides, in floats: a pixel's channels and a row's pixels are packed.
  std::int64_t x_image = 0, x_block = 0, x_row = 0;
  // Weight floats per output channel block and per (input block, kernel row, kernel column).
  std::int64_t w_out_block = 0, w_tap = 0;
  std::int64_t y_image = 0, y_block = 0;
  bool depthwise = false;  // groups == channels: output channel k filters input channel k alone

  std::int64_t out_vectors() const noexcept { return out_blocks * out_block / kLanes; }
  // The output rows a kernel row `oh` sums over and the taps of a column `ow` inside the input.
  Range kernel_rows(std::int64_t oh) const noexcept {
    return linear_detail::inside(oh * h.stride - h.pad_begin, h.dilation, h.in, h.kernel);
  }
  Range kernel_columns(std::int64_t ow) const noexcept {
    return linear_detail::inside(ow * w.stride - w.pad_begin, w.dilation, w.in, w.kernel);
  }
  // The output columns (rows) whose every tap lands inside the input.
  Range interior_columns() const noexcept { return interior(w); }
  Range interior_rows() const noexcept { return interior(h); }
  static Range interior(const linear_detail::Axis& a) noexcept {
    const Range first = linear_detail::inside(-a.pad_begin, a.stride, a.in, a.out);
    const Range last = linear_detail::inside((a.kernel - 1) * a.dilation - a.pad_begin, a.stride, a.in, a.out);
    const Range both{std::max(first.begin, last.begin), std::min(first.end, last.end)};
    return both.end > both.begin ? both : Range{0, 0};
  }
};

inline Status plan_conv(const OpCall& call, ConvGeometry& g) {
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 2));
  const Slot& x = *call.input(0);
  const Slot& weight = *call.input(1);
  const Slot* bias = call.input(2);
  const Slot& y = call.output();
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the input", x, 5));
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the weight", weight, 6));
  KILN_RETURN_IF_ERROR(require_rank(call.op, "the output", y, 5));
  KILN_RETURN_IF_ERROR(require_contiguous(call.op, "the weight", weight));
  KILN_RETURN_IF_ERROR(require_contiguous(call.op, "the output", y));
  g.batch = x.dims[0];
  g.in_blocks = x.dims[1];
  g.height = x.dims[2];
  g.width = x.dims[3];
  g.in_block = x.dims[4];
  g.out_blocks = weight.dims[0];
  g.out_block = weight.dims[5];
  g.out_height = y.dims[2];
  g.out_width = y.dims[3];
  const auto& attrs = call.attr<relax::ConvAttrs>();
  g.depthwise = attrs.groups != 1;
  const bool blocks_match =
      g.depthwise ? weight.dims[0] == g.in_blocks && weight.dims[1] == 1 && weight.dims[4] == 1 && g.out_block == g.in_block &&
                        attrs.groups > (g.in_blocks - 1) * g.in_block && attrs.groups <= g.in_blocks * g.in_block
                  : weight.dims[1] == g.in_blocks && weight.dims[4] == g.in_block;
  if (!blocks_match || y.dims[0] != g.batch || y.dims[1] != g.out_blocks || y.dims[4] != g.out_block)
    return op_error(StatusCode::shape_mismatch, call.op, "the input, weight and output blocks do not match",
                    g.depthwise ? " (depthwise: weight [cb, 1, r, s, 1, b] for an input [n, cb, h, w, b])" : "");
  if ((g.width > 1 && x.strides[3] != g.in_block) || (g.in_block > 1 && x.strides[4] != 1))
    return op_error(StatusCode::unsupported, call.op, "the input's pixels must be packed");
  if (bias != nullptr && bias->elements() != g.out_blocks * g.out_block)
    return op_error(StatusCode::shape_mismatch, call.op, "the bias must hold ", g.out_blocks * g.out_block, " values");
  if (bias != nullptr && !bias->contiguous()) return require_contiguous(call.op, "the bias", *bias);
  KILN_RETURN_IF_ERROR(linear_detail::check_window_lists(call.op, 2, attrs.strides, attrs.pads, attrs.dilations));
  linear_detail::Axis* axes[2] = {&g.h, &g.w};
  const std::int64_t in[2] = {g.height, g.width}, out[2] = {g.out_height, g.out_width};
  for (int i = 0; i < 2; ++i) {
    linear_detail::Axis& a = *axes[i];
    a.in = in[i];
    a.out = out[i];
    a.kernel = weight.dims[2 + i];
    std::int64_t pad_end = 0;
    linear_detail::read_window(attrs.strides, attrs.pads, attrs.dilations, 2, i, a, pad_end);
    KILN_RETURN_IF_ERROR(linear_detail::resolve_conv_axis(attrs.auto_pad, pad_end, a).with_context("conv_nchwc"));
  }
  g.x_image = x.strides[0];
  g.x_block = x.strides[1];
  g.x_row = x.strides[2];
  g.w_tap = (g.depthwise ? 1 : g.in_block) * g.out_block;
  g.w_out_block = (g.depthwise ? 1 : g.in_blocks) * g.h.kernel * g.w.kernel * g.w_tap;
  g.y_block = g.out_height * g.out_width * g.out_block;
  g.y_image = g.out_blocks * g.y_block;
  return {};
}

// Where output vector v of image n starts: its weights, bias and the output at pixel (0, 0).
struct VectorStart {
  const float* weight = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
};
inline VectorStart vector_start(const ConvGeometry& g, const float* weight, const float* bias, float* y,
                                std::int64_t n, std::int64_t v) noexcept {
  const std::int64_t block = v * kLanes / g.out_block, lane = v * kLanes % g.out_block;
  return VectorStart{weight + block * g.w_out_block + lane,
                     bias != nullptr ? bias + block * g.out_block + lane : nullptr,
                     y + n * g.y_image + block * g.y_block + lane};
}

// One tile: T pixels from output column ow of row oh, J output vectors, summing over the
// kernel rows `rows` and the kernel columns `columns` (all of them inside the input for
// every pixel of the tile).
//
// A tile of few pixels (the edges of a row, a narrow row's tail) has too few sums to hide the
// FMA latency behind independent chains, so its input channels take turns among kSplit sets
// of sums, added up at the end.
template <int J, int T>
void conv_tile(const ConvGeometry& g, const float* x_image, const VectorStart* vectors, std::int64_t oh,
               std::int64_t ow, Range rows, Range columns, TileSteps steps) noexcept {
  constexpr int kChains = 8;
  constexpr int kSplit = T * J >= kChains ? 1 : (kChains + T * J - 1) / (T * J);
  Batch sums[kSplit][T][J];
  for (int j = 0; j < J; ++j) {
    const Batch start = vectors[j].bias != nullptr ? Batch::load_unaligned(vectors[j].bias) : Batch(0.0f);
    for (int p = 0; p < T; ++p) {
      sums[0][p][j] = start;
      for (int q = 1; q < kSplit; ++q) sums[q][p][j] = Batch(0.0f);
    }
  }
  const std::int64_t ib = g.in_block, ob = g.out_block;
  const std::int64_t pixel_step = steps.in;
  const std::int64_t first_column = ow * g.w.stride - g.w.pad_begin;
  const std::int64_t first_row = oh * g.h.stride - g.h.pad_begin;
  // Input channel ci of the tap at x_tap (weights at w_tap) into sums set q.
  const auto channel = [&](int q, const float* x_tap, std::int64_t w_tap, std::int64_t ci) {
    Batch weights[J];
    for (int j = 0; j < J; ++j) weights[j] = Batch::load_unaligned(vectors[j].weight + w_tap + ci * ob);
    for (int p = 0; p < T; ++p) {
      const Batch in(x_tap[p * pixel_step + ci]);
      for (int j = 0; j < J; ++j) sums[q][p][j] = xsimd::fma(in, weights[j], sums[q][p][j]);
    }
  };
  for (std::int64_t cb = 0; cb < g.in_blocks; ++cb) {
    const float* x_block = x_image + cb * g.x_block;
    const std::int64_t w_block = cb * g.h.kernel * g.w.kernel * g.w_tap;
    for (std::int64_t r = rows.begin; r < rows.end; ++r) {
      const float* x_row = x_block + (first_row + r * g.h.dilation) * g.x_row;
      const std::int64_t w_row = w_block + r * g.w.kernel * g.w_tap;
      for (std::int64_t s = columns.begin; s < columns.end; ++s) {
        const float* x_tap = x_row + (first_column + s * g.w.dilation) * ib;
        const std::int64_t w_tap = w_row + s * g.w_tap;
        std::int64_t ci = 0;
        for (; ci + kSplit <= ib; ci += kSplit)
          for (int q = 0; q < kSplit; ++q) channel(q, x_tap, w_tap, ci + q);
        for (; ci < ib; ++ci) channel(0, x_tap, w_tap, ci);
      }
    }
  }
  for (int q = 1; q < kSplit; ++q)
    for (int p = 0; p < T; ++p)
      for (int j = 0; j < J; ++j) sums[0][p][j] += sums[q][p][j];
  const std::int64_t out_pixel = (oh * g.out_width + ow) * ob;
  for (int p = 0; p < T; ++p)
    for (int j = 0; j < J; ++j) sums[0][p][j].store_unaligned(vectors[j].out + out_pixel + p * steps.out);
}

template <int J>
using TileFn = void (*)(const ConvGeometry&, const float*, const VectorStart*, std::int64_t, std::int64_t, Range, Range,
                        TileSteps);

// conv_tile<J, t> for every t in [1, kTilePixels], indexed by t - 1: the tail of a row is
// one shorter tile.
template <int J, std::size_t... I>
constexpr std::array<TileFn<J>, sizeof...(I)> tile_table(std::index_sequence<I...>) {
  return {&conv_tile<J, static_cast<int>(I) + 1>...};
}
template <int J>
inline constexpr auto kTiles = tile_table<J>(std::make_index_sequence<kTilePixels>{});

// Runs `tile(t, oh, ow, rows, columns, steps)` (t pixels) over the output rows [first, last)
// of one image: each row's interior columns in tiles of kTilePixels along the row; the edge
// columns, whose taps run past the input, in one tile down the rows whose every kernel row
// lands inside, and pixel by pixel at the corners. A tile of few pixels along a narrow row's
// edges would leave the vector unit waiting on too few FMA chains.
template <class Tile>
void band_tiles(const ConvGeometry& g, std::int64_t first, std::int64_t last, Tile&& tile) {
  const Range interior = g.interior_columns();
  const Range all_columns{0, g.w.kernel}, all_rows{0, g.h.kernel};
  const TileSteps along{g.w.stride * g.in_block, g.out_block};
  const TileSteps down{g.h.stride * g.x_row, g.out_width * g.out_block};
  for (std::int64_t oh = first; oh < last; ++oh) {
    const Range rows = g.kernel_rows(oh);
    std::int64_t ow = interior.begin;
    for (; ow + kTilePixels <= interior.end; ow += kTilePixels) tile(kTilePixels, oh, ow, rows, all_columns, along);
    if (ow < interior.end) tile(interior.end - ow, oh, ow, rows, all_columns, along);
  }
  const Range inner = g.interior_rows();
  const Range column_rows{std::max(first, inner.begin), std::min(last, inner.end)};
  const auto edge_column = [&](std::int64_t ow) {
    const Range columns = g.kernel_columns(ow);
    for (std::int64_t oh = first; oh < last; ++oh)
      if (oh < column_rows.begin || oh >= column_rows.end) tile(1, oh, ow, g.kernel_rows(oh), columns, along);
    if (column_rows.end > column_rows.begin)
      tile(column_rows.end - column_rows.begin, column_rows.begin, ow, all_rows, columns, down);
  };
  for (std::int64_t ow = 0; ow < interior.begin; ++ow) edge_column(ow);
  for (std::int64_t ow = std::max(interior.end, interior.begin); ow < g.out_width; ++ow) edge_column(ow);
}

// Output rows [first, last) of image n for J output vectors.
template <int J>
void conv_band(const ConvGeometry& g, const float* x_image, const VectorStart* vectors, std::int64_t first,
               std::int64_t last) noexcept {
  band_tiles(g, first, last, [&](std::int64_t t, std::int64_t oh, std::int64_t ow, Range rows, Range columns, TileSteps steps) {
    kTiles<J>[static_cast<std::size_t>(t - 1)](g, x_image, vectors, oh, ow, rows, columns, steps);
  });
}

// Any output block (one that is not whole vectors): one output channel at a time.
inline void conv_scalar_row(const ConvGeometry& g, const float* x_image, const float* weight, const float* bias,
                            float* y_image, std::int64_t out_block, std::int64_t oh) noexcept {
  const Range rows = g.kernel_rows(oh);
  const std::int64_t ob = g.out_block, ib = g.in_block;
  for (std::int64_t ow = 0; ow < g.out_width; ++ow) {
    const Range columns = g.kernel_columns(ow);
    float* out = y_image + out_block * g.y_block + (oh * g.out_width + ow) * ob;
    for (std::int64_t k = 0; k < ob; ++k) {
      float sum = bias != nullptr ? bias[out_block * ob + k] : 0.0f;
      for (std::int64_t cb = 0; cb < g.in_blocks; ++cb)
        for (std::int64_t r = rows.begin; r < rows.end; ++r) {
          const float* x_row = x_image + cb * g.x_block + (oh * g.h.stride - g.h.pad_begin + r * g.h.dilation) * g.x_row;
          for (std::int64_t s = columns.begin; s < columns.end; ++s) {
            const float* in = x_row + (ow * g.w.stride - g.w.pad_begin + s * g.w.dilation) * ib;
            const float* w = weight + out_block * g.w_out_block + ((cb * g.h.kernel + r) * g.w.kernel + s) * g.w_tap + k;
            for (std::int64_t ci = 0; ci < ib; ++ci) sum += in[ci] * w[ci * ob];
          }
        }
      out[k] = sum;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Depthwise conv_nchwc: a block's channels are independent, so one SIMD vector holds
// kLanes channels of one pixel and every tap is one FMA per vector. A tile is T pixels of
// one output row for one vector of channels; its T sums stay in registers over the taps,
// and each tap loads one weight vector and T input vectors. Edges run pixel by pixel over
// the taps inside, as in the dense kernel.

// T pixels from output column ow of row oh, for the channels of lanes [lane, lane + kLanes)
// of block `x_block` (the input of one image and channel block).
template <int T>
void depthwise_tile(const ConvGeometry& g, const float* x_block, const float* weight, const float* bias, float* y_block,
                    std::int64_t oh, std::int64_t ow, Range rows, Range columns, TileSteps steps) noexcept {
  Batch sums[T];
  const Batch start = bias != nullptr ? Batch::load_unaligned(bias) : Batch(0.0f);
  for (int p = 0; p < T; ++p) sums[p] = start;
  const std::int64_t b = g.in_block;
  const std::int64_t pixel_step = steps.in;
  const std::int64_t first_column = ow * g.w.stride - g.w.pad_begin;
  const std::int64_t first_row = oh * g.h.stride - g.h.pad_begin;
  for (std::int64_t r = rows.begin; r < rows.end; ++r) {
    const float* x_row = x_block + (first_row + r * g.h.dilation) * g.x_row;
    const float* w_row = weight + r * g.w.kernel * g.w_tap;
    for (std::int64_t s = columns.begin; s < columns.end; ++s) {
      const float* x_tap = x_row + (first_column + s * g.w.dilation) * b;
      const Batch w = Batch::load_unaligned(w_row + s * g.w_tap);
      for (int p = 0; p < T; ++p) sums[p] = xsimd::fma(Batch::load_unaligned(x_tap + p * pixel_step), w, sums[p]);
    }
  }
  float* out = y_block + (oh * g.out_width + ow) * g.out_block;
  for (int p = 0; p < T; ++p) sums[p].store_unaligned(out + p * steps.out);
}

using DepthwiseTileFn = void (*)(const ConvGeometry&, const float*, const float*, const float*, float*, std::int64_t,
                                 std::int64_t, Range, Range, TileSteps);
template <std::size_t... I>
constexpr std::array<DepthwiseTileFn, sizeof...(I)> depthwise_tile_table(std::index_sequence<I...>) {
  return {&depthwise_tile<static_cast<int>(I) + 1>...};
}
inline constexpr auto kDepthwiseTiles = depthwise_tile_table(std::make_index_sequence<kTilePixels>{});

// Output rows [first, last) of one image and channel block, one vector of lanes at a time.
// The pointers are offset to the vector's first lane.
inline void depthwise_band(const ConvGeometry& g, const float* x_block, const float* weight, const float* bias,
                           float* y_block, std::int64_t first, std::int64_t last) noexcept {
  band_tiles(g, first, last, [&](std::int64_t t, std::int64_t oh, std::int64_t ow, Range rows, Range columns, TileSteps steps) {
    kDepthwiseTiles[static_cast<std::size_t>(t - 1)](g, x_block, weight, bias, y_block, oh, ow, rows, columns, steps);
  });
}

// A block that is not whole vectors: one channel at a time.
inline void depthwise_scalar_row(const ConvGeometry& g, const float* x_block, const float* weight, const float* bias,
                                 float* y_block, std::int64_t oh) noexcept {
  const Range rows = g.kernel_rows(oh);
  const std::int64_t b = g.in_block;
  for (std::int64_t ow = 0; ow < g.out_width; ++ow) {
    const Range columns = g.kernel_columns(ow);
    float* out = y_block + (oh * g.out_width + ow) * b;
    for (std::int64_t lane = 0; lane < b; ++lane) {
      float sum = bias != nullptr ? bias[lane] : 0.0f;
      for (std::int64_t r = rows.begin; r < rows.end; ++r) {
        const float* x_row = x_block + (oh * g.h.stride - g.h.pad_begin + r * g.h.dilation) * g.x_row;
        for (std::int64_t s = columns.begin; s < columns.end; ++s)
          sum += x_row[(ow * g.w.stride - g.w.pad_begin + s * g.w.dilation) * b + lane] *
                 weight[(r * g.w.kernel + s) * g.w_tap + lane];
      }
      out[lane] = sum;
    }
  }
}

// Items are (image, channel block, band of kBandRows output rows), bands innermost.
inline void depthwise_run(const OpCall& call, const ConvGeometry& g, const float* x, const float* weight,
                          const float* bias, float* y) {
  const std::int64_t bands = (g.out_height + kBandRows - 1) / kBandRows;
  const std::int64_t items = g.batch * g.out_blocks * bands;
  const std::int64_t flops_per_item = kBandRows * g.out_width * g.out_block * g.h.kernel * g.w.kernel;
  const bool vectors = g.out_block % kLanes == 0;
  cpu_support::parallel_items(call.pool, items, flops_per_item, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t n = item / (g.out_blocks * bands), block = item / bands % g.out_blocks;
      const std::int64_t first = item % bands * kBandRows, last = std::min(first + kBandRows, g.out_height);
      const float* x_block = x + n * g.x_image + block * g.x_block;
      const float* w_block = weight + block * g.w_out_block;
      const float* b_block = bias != nullptr ? bias + block * g.out_block : nullptr;
      float* y_block = y + n * g.y_image + block * g.y_block;
      if (!vectors) {
        for (std::int64_t oh = first; oh < last; ++oh) depthwise_scalar_row(g, x_block, w_block, b_block, y_block, oh);
        continue;
      }
      for (std::int64_t lane = 0; lane < g.out_block; lane += kLanes)
        depthwise_band(g, x_block + lane, w_block + lane, b_block != nullptr ? b_block + lane : nullptr, y_block + lane,
                       first, last);
    }
  });
}

inline Status conv_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 2, 3));
  KILN_RETURN_IF_ERROR(require_f32_operands(b, fn));
  KILN_RETURN_IF_ERROR(require_rank(b.op, "the input", cpu_support::input_type(b, fn, 0), 5));
  KILN_RETURN_IF_ERROR(require_rank(b.op, "the weight", cpu_support::input_type(b, fn, 1), 6));
  const auto* attrs = std::get_if<relax::ConvAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, b.op, "the binding holds another op's attributes");
  return linear_detail::check_window_lists(b.op, 2, attrs->strides, attrs->pads, attrs->dilations);
}

inline Status conv_run(const OpCall& call) {
  ConvGeometry g;
  KILN_RETURN_IF_ERROR(plan_conv(call, g));
  const float* x = call.input(0)->data_as<float>();
  const float* weight = call.input(1)->data_as<float>();
  const float* bias = call.input(2) != nullptr ? call.input(2)->data_as<float>() : nullptr;
  float* y = call.output().data_as<float>();
  if (g.depthwise) {
    depthwise_run(call, g, x, weight, bias, y);
    return {};
  }
  const std::int64_t flops_per_row =
      g.out_width * g.out_block * g.in_blocks * g.in_block * g.h.kernel * g.w.kernel;
  if (g.out_block % kLanes != 0) {
    const std::int64_t rows = g.batch * g.out_blocks * g.out_height;
    cpu_support::parallel_items(call.pool, rows, flops_per_row, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t item = begin; item < end; ++item) {
        const std::int64_t n = item / (g.out_blocks * g.out_height), block = item / g.out_height % g.out_blocks;
        conv_scalar_row(g, x + n * g.x_image, weight, bias, y + n * g.y_image, block, item % g.out_height);
      }
    });
    return {};
  }
  // Items are (image, group of kTileVectors output vectors, band of kBandRows output rows),
  // bands innermost, so the bands one thread takes in turn reuse their weights from cache.
  const std::int64_t groups = (g.out_vectors() + kTileVectors - 1) / kTileVectors;
  const std::int64_t bands = (g.out_height + kBandRows - 1) / kBandRows;
  const std::int64_t items = g.batch * groups * bands;
  const std::int64_t flops_per_item = kBandRows * flops_per_row / g.out_block * kLanes * kTileVectors;
  cpu_support::parallel_items(call.pool, items, flops_per_item, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t n = item / (groups * bands), group = item / bands % groups;
      const std::int64_t first = item % bands * kBandRows, last = std::min(first + kBandRows, g.out_height);
      const std::int64_t first_vector = group * kTileVectors;
      const int count = static_cast<int>(std::min<std::int64_t>(kTileVectors, g.out_vectors() - first_vector));
      VectorStart vectors[kTileVectors];
      for (int j = 0; j < count; ++j) vectors[j] = vector_start(g, weight, bias, y, n, first_vector + j);
      if (count == kTileVectors) conv_band<kTileVectors>(g, x + n * g.x_image, vectors, first, last);
      else conv_band<1>(g, x + n * g.x_image, vectors, first, last);
    }
  });
  return {};
}

inline constexpr OpKernel kToNchwc{&to_nchwc_supports, nullptr, &to_nchwc_run};
inline constexpr OpKernel kFromNchwc{&from_nchwc_supports, nullptr, &from_nchwc_run};
inline constexpr OpKernel kConvNchwc{&conv_supports, nullptr, &conv_run};

} // namespace layout_detail

// The CPU kernel of the NCHWc layout ops; null for other ops.
inline const OpKernel* cpu_layout_kernel(relax::OpKind op) {
  switch (op) {
    case relax::OpKind::to_nchwc: return &layout_detail::kToNchwc;
    case relax::OpKind::from_nchwc: return &layout_detail::kFromNchwc;
    case relax::OpKind::conv_nchwc: return &layout_detail::kConvNchwc;
    default: return nullptr;
  }
}

} // namespace kiln::vm
