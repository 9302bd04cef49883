#include "matmul.hpp"

// A fused loop does not step one axis by one.
auto kernel = cases::build<kiln::tir::schedule("C").split("j", 4).split("i", 4).reorder("i.o", "j.o", "k", "i.i", "j.i").fuse("i.i", "j.i").vectorize("i.i_j.i")>();
