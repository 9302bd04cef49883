#include <kiln/te/tensor.hpp>

// A rank-2 placeholder indexed with one index.
using namespace kiln;
constexpr auto A = te::placeholder<float, "A">(4_c, 4_c);
auto E = te::compute<"E", "i">(te::extents(4_c), [](auto i) { return A(i) * 2.0f; });
