# Every public header compiles on its own: one generated translation unit per header that
# includes it (twice, so a missing `#pragma once` shows up as redefinitions). Each is an
# OBJECT library in the default build, so a broken header breaks the build, and a ctest
# test per header, `header/<path>`, rebuilds that one target so ctest reports per header.
#
# Headers under kiln/backend/cuda/ need nvcc and are not checked here. Other CUDA and
# Vulkan headers are checked only when the kiln::cuda / kiln::vulkan targets exist.
set(_kiln_include_dir "${PROJECT_SOURCE_DIR}/include")
file(GLOB_RECURSE KILN_PUBLIC_HEADERS CONFIGURE_DEPENDS RELATIVE "${_kiln_include_dir}"
  "${_kiln_include_dir}/kiln/*.hpp"
  "${_kiln_include_dir}/kiln/*.h")
list(SORT KILN_PUBLIC_HEADERS)

foreach(KILN_HEADER IN LISTS KILN_PUBLIC_HEADERS)
  set(_extra_libs "")
  if(KILN_HEADER MATCHES "^kiln/backend/cuda/")
    continue()
  elseif(KILN_HEADER MATCHES "(^|/|_)cuda[/_.]")
    if(NOT TARGET kiln::cuda)
      continue()
    endif()
    set(_extra_libs kiln::cuda)
  elseif(KILN_HEADER MATCHES "vulkan")
    if(NOT TARGET kiln::vulkan)
      continue()
    endif()
    set(_extra_libs kiln::vulkan)
  endif()

  string(MAKE_C_IDENTIFIER "${KILN_HEADER}" _id)
  set(_target "kiln_header_check_${_id}")
  set(_source "${CMAKE_CURRENT_BINARY_DIR}/header_checks/${KILN_HEADER}.cpp")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/header_check.cpp.in" "${_source}" @ONLY)

  add_library(${_target} OBJECT "${_source}")
  target_link_libraries(${_target} PRIVATE kiln::kiln kiln_warnings ${_extra_libs})
  add_test(NAME "header/${KILN_HEADER}"
    COMMAND "${CMAKE_COMMAND}" --build "${CMAKE_BINARY_DIR}" --target ${_target})
  # The checks share one build tree: run them one at a time.
  set_tests_properties("header/${KILN_HEADER}" PROPERTIES
    RESOURCE_LOCK kiln_build_tree)
endforeach()
