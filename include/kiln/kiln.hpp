// kiln/kiln.hpp: the whole library in one include.
#pragma once

#include "config.hpp"

// core: errors, element types, extents and shapes
#include "core/status.hpp"
#include "core/result.hpp"
#include "core/float16.hpp"
#include "core/bfloat16.hpp"
#include "core/dtype.hpp"
#include "core/extent.hpp"
#include "core/shape.hpp"

// runtime: tensors, memory and threads
#include "runtime/aligned_alloc.hpp"
#include "runtime/device.hpp"
#include "runtime/storage.hpp"
#include "runtime/tensor_view.hpp"
#include "runtime/tensor.hpp"
#include "runtime/arena.hpp"
#include "runtime/thread_pool.hpp"

// Interop with libraries found on the include path. These come last so that every header
// they need is already included unconditionally above.
#if __has_include(<dlpack/dlpack.h>)
#include "runtime/dlpack.hpp"
#endif
#if __has_include(<Eigen/Core>)
#include "runtime/eigen.hpp"
#endif
