// kiln/kernels/softmax.hpp: softmax and log-softmax over the last axis of a rows x cols input
// "X", in stages (row max, exponentials, row sum, normalize) so that large inputs do not
// overflow. The exponentials stage "E" is a candidate for compute_inline.
#pragma once

#include "../te/tensor.hpp"

namespace kiln::kernels {

template <Name Out = "Y", te::TeExtent Rows, te::TeExtent Cols>
auto softmax(Rows rows, Cols cols) {
  constexpr auto X = te::placeholder<float, "X">(Rows{}, Cols{});
  constexpr auto c1 = te::reduce_axis<"c1">(Cols{});
  constexpr auto c2 = te::reduce_axis<"c2">(Cols{});
  const auto M = te::compute<"M", "i">(te::extents(rows), [=](auto i) { return te::max(X(i, c1), c1); });
  const auto E = te::compute<"E", "i", "j">(te::extents(rows, cols), [=](auto i, auto j) { return te::exp(X(i, j) - M(i)); });
  const auto S = te::compute<"S", "i">(te::extents(rows), [=](auto i) { return te::sum(E(i, c2), c2); });
  return te::compute<Out, "i", "j">(te::extents(rows, cols), [=](auto i, auto j) { return E(i, j) / S(i); });
}

// log(softmax(x)) = x - max - log(sum(exp(x - max)))
template <Name Out = "Y", te::TeExtent Rows, te::TeExtent Cols>
auto log_softmax(Rows rows, Cols cols) {
  constexpr auto X = te::placeholder<float, "X">(Rows{}, Cols{});
  constexpr auto c1 = te::reduce_axis<"c1">(Cols{});
  constexpr auto c2 = te::reduce_axis<"c2">(Cols{});
  const auto M = te::compute<"M", "i">(te::extents(rows), [=](auto i) { return te::max(X(i, c1), c1); });
  const auto S = te::compute<"S", "i">(te::extents(rows), [=](auto i) { return te::sum(te::exp(X(i, c2) - M(i)), c2); });
  return te::compute<Out, "i", "j">(te::extents(rows, cols),
                                    [=](auto i, auto j) { return X(i, j) - M(i) - te::log(S(i)); });
}

} // namespace kiln::kernels
