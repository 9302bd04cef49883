#include "matmul.hpp"

// There is no loop q.
auto kernel = cases::build<kiln::tir::schedule("C").split("q", 4)>();
