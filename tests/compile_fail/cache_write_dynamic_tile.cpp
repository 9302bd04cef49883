#include "matmul.hpp"

// The local accumulator tile must have a static size; j is dynamic and inside k.
auto kernel = cases::build<kiln::tir::schedule("C").reorder("i", "k", "j").cache_write(kiln::tir::Scope::local)>();
