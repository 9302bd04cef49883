# Opt-in backend targets. kiln::cuda adds the CUDA runtime for code compiled by nvcc;
# kiln::vulkan adds the Vulkan loader. KILN_CUDA / KILN_VULKAN decide whether kiln's own
# CUDA and Vulkan tests, examples and benchmarks are built; each defaults ON when its
# toolkit is found.
include(CheckLanguage)

find_package(CUDAToolkit QUIET)
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(CUDAToolkit_FOUND AND CMAKE_CUDA_COMPILER)
  set(_kiln_cuda_default ON)
else()
  set(_kiln_cuda_default OFF)
endif()
option(KILN_CUDA "Build kiln's CUDA tests, examples and benchmarks" ${_kiln_cuda_default})

find_package(Vulkan QUIET)
option(KILN_VULKAN "Build kiln's Vulkan tests, examples and benchmarks" ${Vulkan_FOUND})

if(CUDAToolkit_FOUND)
  add_library(kiln_cuda INTERFACE)
  add_library(kiln::cuda ALIAS kiln_cuda)
  set_target_properties(kiln_cuda PROPERTIES EXPORT_NAME cuda)
  target_link_libraries(kiln_cuda INTERFACE kiln CUDA::cudart)
  target_compile_definitions(kiln_cuda INTERFACE KILN_WITH_CUDA=1)
endif()

if(Vulkan_FOUND)
  add_library(kiln_vulkan INTERFACE)
  add_library(kiln::vulkan ALIAS kiln_vulkan)
  set_target_properties(kiln_vulkan PROPERTIES EXPORT_NAME vulkan)
  target_link_libraries(kiln_vulkan INTERFACE kiln Vulkan::Vulkan)
  target_compile_definitions(kiln_vulkan INTERFACE KILN_WITH_VULKAN=1)
endif()

if(KILN_CUDA AND NOT CUDAToolkit_FOUND)
  message(FATAL_ERROR "KILN_CUDA is ON but no CUDA toolkit was found")
endif()
if(KILN_VULKAN AND NOT Vulkan_FOUND)
  message(FATAL_ERROR "KILN_VULKAN is ON but no Vulkan loader and headers were found (Debian: libvulkan-dev)")
endif()
