#include "matmul.hpp"

// The CPU backend has no GPU thread axes.
auto kernel = cases::build<kiln::tir::schedule("C").bind("i", kiln::tir::ThreadAxis::thread_x)>();
