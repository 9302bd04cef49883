// kiln/kernels/reduce.hpp: reductions of a rows x cols input "X" over its last axis: sum,
// mean, max, min and prod.
#pragma once

#include "../te/tensor.hpp"

namespace kiln::kernels {

enum class Reduction { sum, mean, max, min, prod };

template <Reduction R, Element T = float, Name Out = "Y", te::TeExtent Rows, te::TeExtent Cols>
auto reduce_last_axis(Rows rows, Cols cols) {
  constexpr auto X = te::placeholder<T, "X">(Rows{}, Cols{});
  constexpr auto c = te::reduce_axis<"c">(Cols{});
  return te::compute<Out, "i">(te::extents(rows), [=](auto i) {
    if constexpr (R == Reduction::sum) return te::sum(X(i, c), c);
    else if constexpr (R == Reduction::mean) return te::sum(X(i, c) / te::cast<T>(te::extent_of(cols)), c);
    else if constexpr (R == Reduction::max) return te::max(X(i, c), c);
    else if constexpr (R == Reduction::min) return te::min(X(i, c), c);
    else return te::prod(X(i, c), c);
  });
}

} // namespace kiln::kernels
