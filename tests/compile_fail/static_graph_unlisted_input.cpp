#include <kiln/static_graph/graph.hpp>
#include <kiln/static_graph/ops.hpp>

// The graph reads input "y", which inputs(...) does not list.
using namespace kiln::static_graph;
constexpr auto x = input<"x", kiln::DType::f32, 4>();
constexpr auto y = input<"y", kiln::DType::f32, 4>();
using Net = decltype(build(inputs(x), x + y));
constexpr bool planned = Net::inputs_complete;
