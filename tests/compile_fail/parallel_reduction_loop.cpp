#include "matmul.hpp"

// A reduction loop cannot run in parallel.
auto kernel = cases::build<kiln::tir::schedule("C").reorder("k", "i", "j").parallel("k")>();
