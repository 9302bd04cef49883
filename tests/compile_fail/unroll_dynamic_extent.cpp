#include "matmul.hpp"

// A loop with a dynamic extent cannot be unrolled.
auto kernel = cases::build<kiln::tir::schedule("C").unroll("i")>();
