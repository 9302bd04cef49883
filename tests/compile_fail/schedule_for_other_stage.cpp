#include "matmul.hpp"

// The schedule names a stage the kernel does not have.
auto kernel = cases::build<kiln::tir::schedule("D").split("i", 4)>();
