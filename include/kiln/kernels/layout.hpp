// kiln/kernels/layout.hpp: layout transforms between NCHW and the blocked layouts of
// conv2d_nchwc: activations n x c x h x w <-> n x c_blocks x h x w x cb, and the packing of
// k x c x r x s weights into k_blocks x c_blocks x r x s x cb x kb (OIHW{cb}i{kb}o). Packing
// pads a channel count that is not a multiple of its block with zeros; the block counts are
// extents of the output, ceildiv(c, cb) for a tight fit (kiln::ceildiv keeps Int<N> static).
// Every read is bounds-checked, so a wrong output extent gives zeros, never a read outside
// the input.
#pragma once

#include <cstdint>

#include "../te/tensor.hpp"

namespace kiln::kernels {

// Y[b, cb, y, x, i] = X[b, cb * CB + i, y, x], zero where cb * CB + i >= c.
template <std::int64_t CB, Element T = float, Name Out = "Y", te::TeExtent N, te::TeExtent C, te::TeExtent H,
          te::TeExtent W, te::TeExtent CBlocks>
auto nchw_to_nchwc(N n, C c, H h, W w, CBlocks c_blocks) {
  static_assert(CB > 0, "nchw_to_nchwc: the channel block must be positive");
  constexpr auto X = te::placeholder<T, "X">(N{}, C{}, H{}, W{});
  const auto channels = te::extent_of(c);
  return te::compute<Out, "n", "cb", "y", "x", "i">(
      te::extents(n, c_blocks, h, w, Int<CB>{}), [=](auto b, auto block, auto y, auto x, auto i) {
        const auto channel = block * CB + i;
        return te::if_then_else(channel < channels, X(b, channel, y, x), T(0));
      });
}

// Y[b, ch, y, x] = X[b, ch / CB, y, x, ch % CB]: the first c channels, dropping the padding.
template <std::int64_t CB, Element T = float, Name Out = "Y", te::TeExtent N, te::TeExtent CBlocks, te::TeExtent H,
          te::TeExtent W, te::TeExtent C>
auto nchwc_to_nchw(N n, CBlocks c_blocks, H h, W w, C c) {
  static_assert(CB > 0, "nchwc_to_nchw: the channel block must be positive");
  constexpr auto X = te::placeholder<T, "X">(N{}, CBlocks{}, H{}, W{}, Int<CB>{});
  const auto blocks = te::extent_of(c_blocks);
  return te::compute<Out, "n", "c", "y", "x">(te::extents(n, c, h, w), [=](auto b, auto ch, auto y, auto x) {
    const auto block = te::floordiv(ch, CB);
    return te::if_then_else(block < blocks, X(b, block, y, x, te::floormod(ch, CB)), T(0));
  });
}

// Y[ko, co, u, v, ci, ki] = W[ko * KB + ki, co * CB + ci, u, v], zero past k output or c
// input channels. Depthwise weights (c x 1 x r x s) pack with CB = 1.
template <std::int64_t CB, std::int64_t KB, Element T = float, Name Out = "Y", te::TeExtent K, te::TeExtent C,
          te::TeExtent R, te::TeExtent S, te::TeExtent KBlocks, te::TeExtent CBlocks>
auto oihw_to_oihwio(K k, C c, R r, S s, KBlocks k_blocks, CBlocks c_blocks) {
  static_assert(CB > 0 && KB > 0, "oihw_to_oihwio: channel blocks must be positive");
  constexpr auto W = te::placeholder<T, "W">(K{}, C{}, R{}, S{});
  const auto outputs = te::extent_of(k);
  const auto inputs = te::extent_of(c);
  return te::compute<Out, "ko", "co", "u", "v", "ci", "ki">(
      te::extents(k_blocks, c_blocks, r, s, Int<CB>{}, Int<KB>{}),
      [=](auto ko, auto co, auto u, auto v, auto ci, auto ki) {
        const auto output_channel = ko * KB + ki;
        const auto input_channel = co * CB + ci;
        return te::if_then_else((output_channel < outputs) && (input_channel < inputs),
                                W(output_channel, input_channel, u, v), T(0));
      });
}

} // namespace kiln::kernels
