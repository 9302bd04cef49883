// The sse2 build of the dense layer (compiled with that architecture's flags).
#include "dense.hpp"

template kiln::Status Dense::run<xsimd::sse2>(View2, View2, View1, View2);
