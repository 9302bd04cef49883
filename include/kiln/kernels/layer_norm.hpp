// kiln/kernels/layer_norm.hpp: layer normalization over the last axis of a rows x cols input
// "X" with per-column scale "gamma" and shift "beta":
// Y = (X - mean) / sqrt(var + eps) * gamma + beta, with the biased variance.
#pragma once

#include "../te/tensor.hpp"

namespace kiln::kernels {

template <Name Out = "Y", te::TeExtent Rows, te::TeExtent Cols>
auto layer_norm(Rows rows, Cols cols, float eps) {
  constexpr auto X = te::placeholder<float, "X">(Rows{}, Cols{});
  constexpr auto Gamma = te::placeholder<float, "gamma">(Cols{});
  constexpr auto Beta = te::placeholder<float, "beta">(Cols{});
  constexpr auto c1 = te::reduce_axis<"c1">(Cols{});
  constexpr auto c2 = te::reduce_axis<"c2">(Cols{});
  const auto n = te::cast<float>(te::extent_of(cols));
  const auto Mean = te::compute<"mean", "i">(te::extents(rows), [=](auto i) { return te::sum(X(i, c1) / n, c1); });
  const auto Var = te::compute<"var", "i">(te::extents(rows), [=](auto i) {
    const auto d = X(i, c2) - Mean(i);
    return te::sum(d * d / n, c2);
  });
  return te::compute<Out, "i", "j">(te::extents(rows, cols), [=](auto i, auto j) {
    return (X(i, j) - Mean(i)) * te::rsqrt(Var(i) + eps) * Gamma(j) + Beta(j);
  });
}

} // namespace kiln::kernels
