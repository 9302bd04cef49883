#include "matmul.hpp"

// A reorder lists each loop once.
auto kernel = cases::build<kiln::tir::schedule("C").reorder("i", "i")>();
