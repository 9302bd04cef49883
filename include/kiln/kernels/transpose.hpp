// kiln/kernels/transpose.hpp: Y[j, i] = X[i, j] for a rows x cols input "X".
#pragma once

#include "../te/tensor.hpp"

namespace kiln::kernels {

template <Element T = float, Name Out = "Y", te::TeExtent Rows, te::TeExtent Cols>
auto transpose(Rows, Cols cols) {
  constexpr auto X = te::placeholder<T, "X">(Rows{}, Cols{});
  return te::compute<Out, "j", "i">(te::extents(cols, Rows{}), [=](auto j, auto i) { return X(i, j); });
}

} // namespace kiln::kernels
