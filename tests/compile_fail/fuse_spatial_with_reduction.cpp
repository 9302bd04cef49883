#include "matmul.hpp"

// A spatial loop cannot be fused with a reduction loop.
auto kernel = cases::build<kiln::tir::schedule("C").fuse("j", "k")>();
