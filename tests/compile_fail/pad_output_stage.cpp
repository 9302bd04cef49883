#include "matmul.hpp"

// Padding changes a stage's buffer, and the output's buffer is the caller's.
auto kernel = cases::build<kiln::tir::schedule("C").pad("i", 4)>();
