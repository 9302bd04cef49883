#include "matmul.hpp"

// transform_layout reorders a stage's buffer, and the output's buffer is the caller's.
auto kernel = cases::build<kiln::tir::schedule("C").transform_layout("j", "i")>();
