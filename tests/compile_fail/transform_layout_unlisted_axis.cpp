#include "matmul.hpp"

// A layout names every spatial axis of the stage once; this one forgets j.
auto kernel = cases::build<
    kiln::tir::schedule("C").cache_write(kiln::tir::Scope::global).stage("C_global").transform_layout("i")>();
