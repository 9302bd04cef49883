// The avx512 build of the dense layer (compiled with that architecture's flags).
#include "dense.hpp"

template kiln::Status Dense::run<xsimd::avx512bw>(View2, View2, View1, View2);
