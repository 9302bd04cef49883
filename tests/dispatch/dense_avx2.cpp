// The avx2 build of the dense layer (compiled with that architecture's flags).
#include "dense.hpp"

template kiln::Status Dense::run<xsimd::fma3<xsimd::avx2>>(View2, View2, View1, View2);
