#include "matmul.hpp"

// The schedule is for a stage named D.
auto kernel = cases::build<kiln::tir::schedule("D")>();
