#include <kiln/static_graph/control_flow.hpp>

// A loop body whose first input is not the iteration (an i64[]): it takes the carried value only.
using namespace kiln::static_graph;
constexpr auto h = input<"h", kiln::DType::f32, 2, 3>();
constexpr auto step = build(inputs(h), tanh(h));
constexpr auto y = loop(input<"trips", kiln::DType::i64>(), step, input<"h0", kiln::DType::f32, 2, 3>());
constexpr auto type = decltype(y)::shape;
