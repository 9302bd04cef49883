#include "matmul.hpp"

// Fused loops must be nested directly.
auto kernel = cases::build<kiln::tir::schedule("C").fuse("i", "k")>();
