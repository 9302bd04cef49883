# Install the headers, the single header and a relocatable package config so that
# `find_package(kiln)` works against an installed copy.
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kiln
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/single_include/kiln.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln/single_include)

set(_kiln_export_targets kiln)
if(TARGET kiln_cuda)
  list(APPEND _kiln_export_targets kiln_cuda)
endif()
if(TARGET kiln_vulkan)
  list(APPEND _kiln_export_targets kiln_vulkan)
endif()
install(TARGETS ${_kiln_export_targets} EXPORT kilnTargets)

set(KILN_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/cmake/kiln)
install(EXPORT kilnTargets
  NAMESPACE kiln::
  DESTINATION ${KILN_CMAKE_INSTALL_DIR})

# The config file re-finds exactly the dependencies this build linked.
set(KILN_CONFIG_HAVE_XSIMD ${KILN_HAVE_XSIMD})
set(KILN_CONFIG_HAVE_DLPACK ${KILN_HAVE_DLPACK})
set(KILN_CONFIG_HAVE_EIGEN ${KILN_HAVE_EIGEN})
if(TARGET kiln_cuda)
  set(KILN_CONFIG_HAVE_CUDA ON)
else()
  set(KILN_CONFIG_HAVE_CUDA OFF)
endif()
if(TARGET kiln_vulkan)
  set(KILN_CONFIG_HAVE_VULKAN ON)
else()
  set(KILN_CONFIG_HAVE_VULKAN OFF)
endif()
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/kilnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kilnConfig.cmake
  INSTALL_DESTINATION ${KILN_CMAKE_INSTALL_DIR})
# Header-only: the installed package fits any architecture.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES
  ${PROJECT_BINARY_DIR}/kilnConfig.cmake
  ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/KilnDispatch.cmake
  DESTINATION ${KILN_CMAKE_INSTALL_DIR})
