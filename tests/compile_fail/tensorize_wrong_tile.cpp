#include "matmul.hpp"

// The tile loops must have the extents of the intrinsic's tile (6 x 32 here, not 4 x 32).
auto kernel = cases::build<kiln::tir::schedule("C")
                               .split("i", 4)
                               .split("j", 32)
                               .reorder("i.o", "j.o", "k", "i.i", "j.i")
                               .tensorize("k", kiln::tir::intrin::fma_block<6, 32>)>();
