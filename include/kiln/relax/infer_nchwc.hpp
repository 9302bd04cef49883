// kiln/relax/infer_nchwc.hpp: types of the ops of the blocked NCHWc layout, where channels
// come in blocks of b that form the innermost axis (what relax/passes/convert_layout.hpp
// rewrites 2-D convolutions into):
//
//   to_nchwc    x [n, c, h, w], block b           -> [n, ceil(c / b), h, w, b] (padding channels zero)
//   from_nchwc  x [n, cb, h, w, b], channels c    -> [n, c, h, w]
//   conv_nchwc  x [n, cb, h, w, ib], weight [kb, cb, r, s, ib, ob] (OIHW{ib}i{ob}o),
//               bias [kb * ob] or [kb, ob]        -> [n, kb, oh, ow, ob]
//               depthwise (groups > 1): x [n, cb, h, w, b], weight [cb, 1, r, s, 1, b],
//               groups the channel count (one filter per channel), bias as above
//
// conv_nchwc takes conv's attributes (strides, pads, dilations, auto_pad) for its two
// spatial axes; groups is 1 or, depthwise, the channel count. Its output extents are conv's.
#pragma once

#include <cstdint>
#include <string_view>

#include "infer_conv.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax::infer {

constexpr Inferred<TensorType> to_nchwc(const TensorType& x, std::int64_t block) noexcept {
  constexpr std::string_view op = "to_nchwc";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::check_rank(op, "the input", x, 4));
  if (block < 1) return type_error(StatusCode::invalid_argument, op, ": the block must be positive, got ", block);
  return TensorType(x.dtype, {x.dims[0], ceildiv(x.dims[1], SymDim(block)), x.dims[2], x.dims[3], block});
}

constexpr Inferred<TensorType> from_nchwc(const TensorType& x, std::int64_t channels) noexcept {
  constexpr std::string_view op = "from_nchwc";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::check_rank(op, "the input", x, 5));
  if (!x.dims[4].is_constant() || x.dims[4].constant_value() < 1)
    return type_error(StatusCode::shape_mismatch, op, ": the block (the last dimension) must be a positive constant, got ",
                      x);
  if (channels < 1)
    return type_error(StatusCode::invalid_argument, op, ": the channel count must be positive, got ", channels);
  // The channels fill every block but the last, which they reach into.
  const SymDim blocks = ceildiv(SymDim(channels), x.dims[4]);
  if (prove_equal(blocks, x.dims[1]) == Truth::no)
    return type_error(StatusCode::shape_mismatch, op, ": ", channels, " channels do not fill the ", x.dims[1],
                      " blocks of ", x.dims[4], " of ", x);
  return TensorType(x.dtype, {x.dims[0], channels, x.dims[2], x.dims[3]});
}

constexpr Inferred<TensorType> conv_nchwc(const TensorType& x, const TensorType& weight, const TensorType* bias,
                                          const ConvAttrs& attrs) noexcept {
  constexpr std::string_view op = "conv_nchwc";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_input(op, "the weight", weight));
  KILN_RELAX_CHECK(detail::check_same_dtype(op, x, weight));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::numeric));
  KILN_RELAX_CHECK(detail::check_rank(op, "the input", x, 5));
  KILN_RELAX_CHECK(detail::check_rank(op, "the weight", weight, 6));
  if (attrs.groups < 1) return type_error(StatusCode::invalid_argument, op, ": groups must be positive, got ", attrs.groups);
  if (attrs.groups == 1) {
    if (prove_equal(x.dims[1], weight.dims[1]) == Truth::no || prove_equal(x.dims[4], weight.dims[4]) == Truth::no)
      return type_error(StatusCode::shape_mismatch, op, ": the input ", x, " has other channel blocks than the weight ",
                        weight);
  } else {
    // Depthwise: the channels of block cb, lane l are filtered by weight [cb, 0, :, :, 0, l].
    const SymDim groups(attrs.groups);
    const bool depthwise_weight = weight.dims[1].is_constant(1) && weight.dims[4].is_constant(1) &&
                                  prove_equal(weight.dims[0], x.dims[1]) != Truth::no &&
                                  prove_equal(weight.dims[5], x.dims[4]) != Truth::no;
    if (!depthwise_weight)
      return type_error(StatusCode::unsupported, op, ": groups ", attrs.groups,
                        " is supported depthwise only, with a weight [cb, 1, r, s, 1, b] for the input ", x,
                        ", got ", weight);
    if (prove_equal(ceildiv(groups, x.dims[4]), x.dims[1]) == Truth::no)
      return type_error(StatusCode::shape_mismatch, op, ": ", attrs.groups, " channels (groups) do not fill the ",
                        x.dims[1], " blocks of ", x);
  }
  const SymDim& out_blocks = weight.dims[0];
  const SymDim& out_block = weight.dims[5];
  if (bias) {
    KILN_RELAX_CHECK(detail::check_input(op, "the bias", *bias));
    KILN_RELAX_CHECK(detail::check_same_dtype(op, x, *bias));
    const bool flat = bias->rank == 1 && prove_equal(bias->dims[0], out_blocks * out_block) != Truth::no;
    const bool blocked = bias->rank == 2 && prove_equal(bias->dims[0], out_blocks) != Truth::no &&
                         prove_equal(bias->dims[1], out_block) != Truth::no;
    if (!flat && !blocked)
      return type_error(StatusCode::shape_mismatch, op, ": the bias must be [", out_blocks, ", ", out_block,
                        "] or flat, got ", *bias);
  }
  KILN_RELAX_ASSIGN(const detail::Windows windows,
                    detail::resolve_windows(op, 2, attrs.strides, attrs.pads, attrs.dilations));
  TensorType out(x.dtype, {x.dims[0], out_blocks});
  for (int i = 0; i < 2; ++i) {
    const SymDim& in = x.dims[2 + i];
    const SymDim& kernel = weight.dims[2 + i];
    const SymDim extent = detail::window_count(in, kernel, windows.axis[i], attrs.auto_pad, false);
    KILN_RELAX_CHECK(detail::check_window_fits(op, i, extent, in, kernel));
    out.push_back(extent);
  }
  out.push_back(out_block);
  return out;
}

} // namespace kiln::relax::infer
