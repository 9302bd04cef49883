#include <kiln/backend/cpu/kernel.hpp>

// compute_at names a loop the consumer does not have (its loops are i and j, then k).
using namespace kiln;
constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, 64_c);
constexpr auto B = te::placeholder<float, "B">(64_c, te::dim<"n">);
constexpr auto k = te::reduce_axis<"k">(64_c);
const auto T = te::compute<"T", "p", "q">(te::extents(te::dim<"m">, 64_c), [](auto p, auto q) { return te::exp(A(p, q)); });
const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return te::sum(T(i, k) * B(k, j), k); });
auto kernel = cpu::build<tir::schedule("T").compute_at("C", "i.o")>(C);
