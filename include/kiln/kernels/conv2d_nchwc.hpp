// kiln/kernels/conv2d_nchwc.hpp: 2-D convolution in the blocked NCHWc layout, where channels
// come in blocks that are the innermost, contiguous axis, so a kernel can vectorize over
// output channels. Input "X" is n x c_blocks x h x w x cb, weights "W" are
// k_blocks x c_blocks x r x s x cb x kb (OIHW{cb}i{kb}o), output is n x k_blocks x oh x ow x kb,
// with strides, zero padding and dilation as in conv2d_nchw and the output extents given by
// conv2d_output_extent. Channel counts that are not a multiple of a block are zero-padded
// (kernels/layout.hpp packs tensors into these layouts). Every input read is bounds-checked,
// so a wrong output shape can give wrong values but never reads outside the input.
//
// Groups: conv2d_nchwc computes groups == 1 only; depthwise_conv2d_nchwc is the depthwise case
// (one group per channel, channel multiplier 1). Other grouped convolutions are not supported
// in the blocked layout.
#pragma once

#include <cstdint>
#include <utility>

#include "../te/tensor.hpp"
#include "conv2d.hpp"

namespace kiln::kernels {

// Y[b, f, y, x, kb] = sum over rc, rr, rs and i < CB of X[b, rc, iy, ix, i] * W[f, rc, rr, rs, i, kb].
// The input-channel block is summed in the body, so the statement reads a whole block of X
// (one value per lane, broadcast) against contiguous rows of W, and the stage keeps three
// reduction axes, as conv2d_nchw does.
template <Conv2dParams P, Element T = float, Name Out = "Y", te::TeExtent N, te::TeExtent CBlocks, te::TeExtent H,
          te::TeExtent Wd, te::TeExtent KBlocks, te::TeExtent R, te::TeExtent S, te::TeExtent OH, te::TeExtent OW,
          std::int64_t CB, std::int64_t KB>
auto conv2d_nchwc(N n, CBlocks, H h, Wd w, KBlocks k_blocks, R, S, OH oh, OW ow, Int<CB>, Int<KB>) {
  static_assert(P.stride_h > 0 && P.stride_w > 0 && P.dilation_h > 0 && P.dilation_w > 0,
                "conv2d_nchwc: strides and dilations must be positive");
  static_assert(P.groups == 1,
                "conv2d_nchwc: only groups == 1 is supported in the blocked layout; use depthwise_conv2d_nchwc for "
                "depthwise convolution");
  static_assert(CB > 0 && KB > 0, "conv2d_nchwc: channel blocks must be positive");
  constexpr auto X = te::placeholder<T, "X">(N{}, CBlocks{}, H{}, Wd{}, Int<CB>{});
  constexpr auto W = te::placeholder<T, "W">(KBlocks{}, CBlocks{}, R{}, S{}, Int<CB>{}, Int<KB>{});
  constexpr auto rc = te::reduce_axis<"rc">(CBlocks{});
  constexpr auto rr = te::reduce_axis<"rr">(R{});
  constexpr auto rs = te::reduce_axis<"rs">(S{});
  const auto height = te::extent_of(h);
  const auto width = te::extent_of(w);
  return te::compute<Out, "n", "k", "y", "x", "kb">(
      te::extents(n, k_blocks, oh, ow, Int<KB>{}), [=](auto b, auto f, auto y, auto x, auto kb) {
        const auto tap = conv2d_tap<P>(y, x, rr, rs, height, width);
        // Each term guards its own read: a guard around the whole sum would depend on kb.
        auto block = [&]<std::int64_t... I>(std::integer_sequence<std::int64_t, I...>) {
          return (... + (te::if_then_else(tap.inside, X(b, rc, tap.iy, tap.ix, I), T(0)) * W(f, rc, rr, rs, I, kb)));
        };
        return te::sum(block(std::make_integer_sequence<std::int64_t, CB>{}), rc, rr, rs);
      });
}

// Depthwise: Y[b, f, y, x, kb] = sum over rr, rs of X[b, f, iy, ix, kb] * W[f, 0, rr, rs, 0, kb],
// with weights c_blocks x 1 x r x s x 1 x cb (OIHW1i{cb}o, what oihw_to_oihwio<1, CB> makes of
// c x 1 x r x s weights). P.groups is implied (one group per channel) and not read.
template <Conv2dParams P, Element T = float, Name Out = "Y", te::TeExtent N, te::TeExtent CBlocks, te::TeExtent H,
          te::TeExtent Wd, te::TeExtent R, te::TeExtent S, te::TeExtent OH, te::TeExtent OW, std::int64_t CB>
auto depthwise_conv2d_nchwc(N n, CBlocks c_blocks, H h, Wd w, R, S, OH oh, OW ow, Int<CB>) {
  static_assert(P.stride_h > 0 && P.stride_w > 0 && P.dilation_h > 0 && P.dilation_w > 0,
                "depthwise_conv2d_nchwc: strides and dilations must be positive");
  static_assert(CB > 0, "depthwise_conv2d_nchwc: the channel block must be positive");
  constexpr auto X = te::placeholder<T, "X">(N{}, CBlocks{}, H{}, Wd{}, Int<CB>{});
  constexpr auto W = te::placeholder<T, "W">(CBlocks{}, Int<1>{}, R{}, S{}, Int<1>{}, Int<CB>{});
  constexpr auto rr = te::reduce_axis<"rr">(R{});
  constexpr auto rs = te::reduce_axis<"rs">(S{});
  const auto height = te::extent_of(h);
  const auto width = te::extent_of(w);
  return te::compute<Out, "n", "k", "y", "x", "kb">(
      te::extents(n, c_blocks, oh, ow, Int<CB>{}), [=](auto b, auto f, auto y, auto x, auto kb) {
        const auto tap = conv2d_tap<P>(y, x, rr, rs, height, width);
        return te::sum(te::if_then_else(tap.inside, X(b, f, tap.iy, tap.ix, kb), T(0)) * W(f, 0, rr, rs, 0, kb), rr, rs);
      });
}

} // namespace kiln::kernels
