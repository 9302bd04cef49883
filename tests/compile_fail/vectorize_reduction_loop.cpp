#include "matmul.hpp"

// A reduction loop cannot be vectorized.
auto kernel = cases::build<kiln::tir::schedule("C").vectorize("k")>();
