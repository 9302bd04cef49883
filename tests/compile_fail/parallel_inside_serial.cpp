#include "matmul.hpp"

// Only the outermost loops can run in parallel.
auto kernel = cases::build<kiln::tir::schedule("C").parallel("j")>();
