// The compute every compile-fail case schedules: C[i, j] = sum over k of A[i, k] * B[k, j],
// with a dynamic m and n and a static k.
#pragma once
#include <kiln/backend/cpu/kernel.hpp>

namespace cases {
using namespace kiln;
inline constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, 64_c);
inline constexpr auto B = te::placeholder<float, "B">(64_c, te::dim<"n">);
inline constexpr auto k = te::reduce_axis<"k">(64_c);
inline const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                                 [](auto i, auto j) { return te::sum(A(i, k) * B(k, j), k); });
template <tir::Schedule S>
auto build() {
  return cpu::build<S>(C);
}
} // namespace cases
