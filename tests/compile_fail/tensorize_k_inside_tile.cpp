#include "matmul.hpp"

// The gemm pattern is k outside the row and column loops; here the rows are outermost.
auto kernel = cases::build<kiln::tir::schedule("C")
                               .split("i", 6)
                               .split("j", 32)
                               .reorder("i.o", "j.o", "i.i", "k", "j.i")
                               .tensorize("i.i", kiln::tir::intrin::fma_block<6, 32>)>();
