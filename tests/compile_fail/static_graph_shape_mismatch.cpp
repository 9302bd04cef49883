#include <kiln/static_graph/ops.hpp>

// A static graph whose shapes do not fit: the inner dimensions of the product differ.
using namespace kiln::static_graph;
constexpr auto product = matmul(input<"x", kiln::DType::f32, 8, 64>(), weight<"w", kiln::DType::f32, 32, 16>());
