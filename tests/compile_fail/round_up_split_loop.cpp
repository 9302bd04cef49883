#include "matmul.hpp"

// A round-up tail pads an axis of the buffer: it applies to the axis's own loop, not to a
// loop that a split made.
auto kernel = cases::build<kiln::tir::schedule("C")
                               .cache_write(kiln::tir::Scope::global)
                               .stage("C_global")
                               .split("i", 8)
                               .split("i.o", 2, kiln::tir::Tail::round_up)>();
