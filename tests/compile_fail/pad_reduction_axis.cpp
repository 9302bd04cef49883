#include "matmul.hpp"

// Only spatial axes have a place in the stage's buffer to pad.
auto kernel = cases::build<kiln::tir::schedule("C").cache_write(kiln::tir::Scope::global).stage("C_global").pad("k", 8)>();
