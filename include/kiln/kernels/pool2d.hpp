// kiln/kernels/pool2d.hpp: 2-D max and average pooling in the NCHW layout with strides and
// padding (padded positions are ignored by max and, for average, counted only when
// count_include_pad), and global average pooling. Output extents follow conv2d's rule.
#pragma once

#include <cstdint>
#include <limits>

#include "../te/tensor.hpp"

namespace kiln::kernels {

struct Pool2dParams {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  bool count_include_pad = false;
};

template <Pool2dParams P, Name Out = "Y", te::TeExtent N, te::TeExtent C, te::TeExtent H, te::TeExtent W,
          te::TeExtent OH, te::TeExtent OW>
auto max_pool2d_nchw(N n, C c, H h, W w, OH oh, OW ow) {
  constexpr auto X = te::placeholder<float, "X">(N{}, C{}, H{}, W{});
  constexpr auto ry = te::reduce_axis<"ry">(Int<P.kernel_h>{});
  constexpr auto rx = te::reduce_axis<"rx">(Int<P.kernel_w>{});
  const auto height = te::extent_of(h);
  const auto width = te::extent_of(w);
  return te::compute<Out, "n", "c", "y", "x">(te::extents(n, c, oh, ow), [=](auto b, auto ch, auto y, auto x) {
    const auto iy = y * P.stride_h + ry - P.pad_h;
    const auto ix = x * P.stride_w + rx - P.pad_w;
    const auto inside = (iy >= 0) && (iy < height) && (ix >= 0) && (ix < width);
    return te::max(te::if_then_else(inside, X(b, ch, iy, ix), std::numeric_limits<float>::lowest()), ry, rx);
  });
}

template <Pool2dParams P, Name Out = "Y", te::TeExtent N, te::TeExtent C, te::TeExtent H, te::TeExtent W,
          te::TeExtent OH, te::TeExtent OW>
auto avg_pool2d_nchw(N n, C c, H h, W w, OH oh, OW ow) {
  constexpr auto X = te::placeholder<float, "X">(N{}, C{}, H{}, W{});
  constexpr auto ry = te::reduce_axis<"ry">(Int<P.kernel_h>{});
  constexpr auto rx = te::reduce_axis<"rx">(Int<P.kernel_w>{});
  const auto height = te::extent_of(h);
  const auto width = te::extent_of(w);
  return te::compute<Out, "n", "c", "y", "x">(te::extents(n, c, oh, ow), [=](auto b, auto ch, auto y, auto x) {
    const auto y0 = y * P.stride_h - P.pad_h;
    const auto x0 = x * P.stride_w - P.pad_w;
    const auto iy = y0 + ry;
    const auto ix = x0 + rx;
    const auto inside = (iy >= 0) && (iy < height) && (ix >= 0) && (ix < width);
    // The window's element count: the whole window, or its part inside the input.
    const auto count = [&] {
      if constexpr (P.count_include_pad) {
        return te::cast<float>(te::min(y0 + P.kernel_h, height + P.pad_h) - y0) *
               te::cast<float>(te::min(x0 + P.kernel_w, width + P.pad_w) - x0);
      } else {
        return te::cast<float>(te::min(y0 + P.kernel_h, height) - te::max(y0, 0)) *
               te::cast<float>(te::min(x0 + P.kernel_w, width) - te::max(x0, 0));
      }
    }();
    return te::sum(te::if_then_else(inside, X(b, ch, iy, ix), 0.0f) / count, ry, rx);
  });
}

// Y[n, c] = mean over h, w of X[n, c, h, w]
template <Name Out = "Y", te::TeExtent N, te::TeExtent C, te::TeExtent H, te::TeExtent W>
auto global_avg_pool_nchw(N n, C c, H h, W w) {
  constexpr auto X = te::placeholder<float, "X">(N{}, C{}, H{}, W{});
  constexpr auto ry = te::reduce_axis<"ry">(H{});
  constexpr auto rx = te::reduce_axis<"rx">(W{});
  const auto count = te::cast<float>(te::extent_of(h)) * te::cast<float>(te::extent_of(w));
  return te::compute<Out, "n", "c">(te::extents(n, c), [=](auto b, auto ch) { return te::sum(X(b, ch, ry, rx) / count, ry, rx); });
}

} // namespace kiln::kernels
