// kiln/kernels/matmul.hpp: matrix products as tensor expressions: C[i, j] = sum_k A[i, k] * B[k, j]
// and its batched form, accumulating in accumulator_t (f32 for f16/bf16, i32 for int8).
#pragma once

#include "../te/tensor.hpp"
#include "accumulate.hpp"

namespace kiln::kernels {

// A is m x k, B is k x n, C is m x n; placeholders "A" and "B", output `Out`.
template <Element In = float, Name Out = "C", te::TeExtent M, te::TeExtent N, te::TeExtent K>
auto matmul(M, N, K) {
  using Acc = accumulator_t<In>;
  static constexpr auto A = te::placeholder<In, "A">(M{}, K{});
  static constexpr auto B = te::placeholder<In, "B">(K{}, N{});
  static constexpr auto k = te::reduce_axis<"k">(K{});
  return te::compute<Out, "i", "j">(te::extents(M{}, N{}), [](auto i, auto j) {
    return te::sum(te::cast<Acc>(A(i, k)) * te::cast<Acc>(B(k, j)), k);
  });
}

// A is b x m x k, B is b x k x n, C is b x m x n.
template <Element In = float, Name Out = "C", te::TeExtent Batch, te::TeExtent M, te::TeExtent N, te::TeExtent K>
auto batch_matmul(Batch, M, N, K) {
  using Acc = accumulator_t<In>;
  static constexpr auto A = te::placeholder<In, "A">(Batch{}, M{}, K{});
  static constexpr auto B = te::placeholder<In, "B">(Batch{}, K{}, N{});
  static constexpr auto k = te::reduce_axis<"k">(K{});
  return te::compute<Out, "b", "i", "j">(te::extents(Batch{}, M{}, N{}), [](auto b, auto i, auto j) {
    return te::sum(te::cast<Acc>(A(b, i, k)) * te::cast<Acc>(B(b, k, j)), k);
  });
}

} // namespace kiln::kernels
