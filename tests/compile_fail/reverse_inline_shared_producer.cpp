#include "matmul.hpp"

// D cannot become C's epilogue when E reads C too.
namespace {
using namespace kiln;
const auto D = te::compute<"D", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return cases::C(i, j) * 2.0f; });
const auto E = te::compute<"E", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                          [](auto i, auto j) { return D(i, j) + cases::C(i, j); });
auto kernel = cpu::build<tir::schedule("D").reverse_compute_inline()>(E);
} // namespace
