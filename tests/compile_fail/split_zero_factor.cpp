#include "matmul.hpp"

// A split factor must be positive.
auto kernel = cases::build<kiln::tir::schedule("C").split("i", 0)>();
