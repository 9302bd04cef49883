# Warning flags for kiln's own targets (never imposed on consumers).
add_library(kiln_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(kiln_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror=return-type)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 warns inside its own AVX-512 intrinsic headers when xsimd inlines them
  # (GCC bug 105593, "__Y is used uninitialized"); the warning is a false positive.
  target_compile_options(kiln_warnings INTERFACE -Wno-maybe-uninitialized -Wno-uninitialized)
endif()

# ASan + UBSan flags for the sanitizer build of the unit tests.
set(KILN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

# kiln's own kernels, tests and benchmarks are built for the machine that builds them, so
# the CPU backend's SIMD path is the best the machine has (AVX-512 here, AVX2 elsewhere).
option(KILN_NATIVE_ARCH "Build kiln's own tests, examples and benchmarks with -march=native" ON)
add_library(kiln_arch INTERFACE)
if(KILN_NATIVE_ARCH AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(kiln_arch INTERFACE -march=native)
endif()
