#include <kiln/static_graph/control_flow.hpp>

// The branches of an if return different types: the then graph keeps x's shape, the else
// graph sums over it.
using namespace kiln::static_graph;
constexpr auto tx = input<"x", kiln::DType::f32, 4, 8>();
constexpr auto ex = input<"x", kiln::DType::f32, 4, 8>();
constexpr auto keep = build(inputs(tx), relu(tx));
constexpr auto total = build(inputs(ex), reduce_sum<kiln::relax::ReduceAttrs{.axes = {1}, .keepdims = false}>(ex));
constexpr auto y = if_then_else(input<"flag", kiln::DType::boolean>(), keep, total, input<"x", kiln::DType::f32, 4, 8>());
constexpr auto type = decltype(y)::shape;
