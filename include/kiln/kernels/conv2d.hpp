// kiln/kernels/conv2d.hpp: 2-D convolution in the NCHW layout with strides, zero padding,
// dilation and groups (depthwise when groups == channels). Input "X" is n x c x h x w, weights
// "W" are k x (c / groups) x r x s, output is n x k x oh x ow, where
// oh = (h + 2 * pad_h - dilation_h * (r - 1) - 1) / stride_h + 1 (likewise ow).
// The output extents are symbols bound from the output tensor (check them with
// conv2d_output_extent); every input read is bounds-checked, so a wrong output shape can
// give wrong values but never reads outside the input.
#pragma once

#include <cstdint>

#include "../te/tensor.hpp"

namespace kiln::kernels {

struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

constexpr std::int64_t conv2d_output_extent(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                                            std::int64_t dilation) noexcept {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// The input position a kernel tap (rr, rs) reads for output (y, x), and whether it lies inside
// the height x width image (outside is zero padding): the same for every layout.
template <class IY, class IX, class Inside>
struct Conv2dTap {
  IY iy;
  IX ix;
  Inside inside;
};
template <Conv2dParams P, class Y, class X, class RR, class RS, class Height, class Width>
constexpr auto conv2d_tap(Y y, X x, RR rr, RS rs, Height height, Width width) noexcept {
  // The parameters as compile-time constants: a unit stride or dilation folds away.
  const auto iy = y * Int<P.stride_h>{} + rr * Int<P.dilation_h>{} - Int<P.pad_h>{};
  const auto ix = x * Int<P.stride_w>{} + rs * Int<P.dilation_w>{} - Int<P.pad_w>{};
  const auto inside = (iy >= 0) && (iy < height) && (ix >= 0) && (ix < width);
  return Conv2dTap<decltype(iy), decltype(ix), decltype(inside)>{iy, ix, inside};
}

template <Conv2dParams P, Element T = float, Name Out = "Y", te::TeExtent N, te::TeExtent C, te::TeExtent H,
          te::TeExtent Wd, te::TeExtent K, te::TeExtent CPerGroup, te::TeExtent R, te::TeExtent S, te::TeExtent OH,
          te::TeExtent OW>
auto conv2d_nchw(N n, C, H h, Wd w, K k, CPerGroup, R, S, OH oh, OW ow) {
  static_assert(P.stride_h > 0 && P.stride_w > 0 && P.dilation_h > 0 && P.dilation_w > 0 && P.groups > 0,
                "conv2d_nchw: strides, dilations and groups must be positive");
  constexpr auto X = te::placeholder<T, "X">(N{}, C{}, H{}, Wd{});
  constexpr auto W = te::placeholder<T, "W">(K{}, CPerGroup{}, R{}, S{});
  constexpr auto rc = te::reduce_axis<"rc">(CPerGroup{});
  constexpr auto rr = te::reduce_axis<"rr">(R{});
  constexpr auto rs = te::reduce_axis<"rs">(S{});
  const auto height = te::extent_of(h);
  const auto width = te::extent_of(w);
  const auto out_per_group = te::extent_of(k) / P.groups;
  const auto in_per_group = te::extent_of(CPerGroup{});
  return te::compute<Out, "n", "k", "y", "x">(te::extents(n, k, oh, ow), [=](auto b, auto f, auto y, auto x) {
    const auto tap = conv2d_tap<P>(y, x, rr, rs, height, width);
    // The input channel of output channel f's group; without groups no division at all.
    const auto channel = [&] {
      if constexpr (P.groups == 1) return rc;
      else return te::floordiv(f, out_per_group) * in_per_group + rc;
    }();
    return te::sum(te::if_then_else(tap.inside, X(b, channel, tap.iy, tap.ix), T(0)) * W(f, rc, rr, rs), rc, rr, rs);
  });
}

} // namespace kiln::kernels
