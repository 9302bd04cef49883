#include "matmul.hpp"

// A loop with a dynamic extent cannot be vectorized.
auto kernel = cases::build<kiln::tir::schedule("C").reorder("i", "k", "j").vectorize("j")>();
