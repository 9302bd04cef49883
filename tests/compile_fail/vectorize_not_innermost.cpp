#include "matmul.hpp"

// Only the innermost loop can be vectorized.
auto kernel = cases::build<kiln::tir::schedule("C").split("i", 8).reorder("i.o", "j", "i.i", "k").vectorize("i.i")>();
