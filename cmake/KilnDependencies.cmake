# Third-party libraries kiln builds on, all from Debian's packages. Each is optional for
# the core headers; when found, the kiln target carries it so that the matching headers
# (kiln/runtime/dlpack.hpp, kiln/runtime/eigen.hpp, the xsimd CPU backend) are usable.
include(GNUInstallDirs)

# Debian's xsimd export names a plain `xtl` target. Provide it when xtl's own package
# config is missing so that xsimd's imported target stays usable.
find_package(xtl QUIET)
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_package(xsimd QUIET)
find_package(dlpack QUIET)
find_package(Eigen3 3.3 QUIET NO_MODULE)

set(KILN_HAVE_XSIMD ${xsimd_FOUND})
set(KILN_HAVE_DLPACK ${dlpack_FOUND})
set(KILN_HAVE_EIGEN ${Eigen3_FOUND})

function(kiln_link_dependencies target)
  if(KILN_HAVE_XSIMD)
    target_link_libraries(${target} INTERFACE xsimd)
  endif()
  if(KILN_HAVE_DLPACK)
    target_link_libraries(${target} INTERFACE dlpack::dlpack)
  endif()
  if(KILN_HAVE_EIGEN)
    target_link_libraries(${target} INTERFACE Eigen3::Eigen)
  endif()
  find_package(Threads REQUIRED)
  target_link_libraries(${target} INTERFACE Threads::Threads)
endfunction()
