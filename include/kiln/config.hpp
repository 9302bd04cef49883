// kiln/config.hpp: version, compiler feature detection and the few macros every header uses.
#pragma once

#include <cstddef>

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
#define KILN_VERSION_STRING "0.1.0"

// Exceptions are optional: every fallible API returns kiln::Status or kiln::Result<T>.
// When they are enabled, Result<T>::value() on an error throws kiln::Error; when they are
// disabled (-fno-exceptions) it prints the status and aborts.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define KILN_HAS_EXCEPTIONS 1
#else
#define KILN_HAS_EXCEPTIONS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KILN_FORCEINLINE inline __attribute__((always_inline))
#define KILN_LIKELY(x) __builtin_expect(!!(x), 1)
#define KILN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define KILN_FORCEINLINE inline
#define KILN_LIKELY(x) (x)
#define KILN_UNLIKELY(x) (x)
#endif

namespace kiln {

// Alignment of every buffer kiln allocates: one cache line, and the width of an AVX-512 register.
inline constexpr std::size_t kDefaultAlignment = 64;

// Most ranks a runtime tensor can have (ONNX models stay far below this).
inline constexpr int kMaxRank = 8;

} // namespace kiln
