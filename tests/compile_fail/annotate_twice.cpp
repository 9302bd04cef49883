#include "matmul.hpp"

// A loop takes one annotation.
auto kernel = cases::build<kiln::tir::schedule("C").split("j", 16).reorder("i", "j.o", "k", "j.i").unroll("j.i").vectorize("j.i")>();
