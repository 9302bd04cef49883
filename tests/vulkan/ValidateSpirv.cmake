# Runs spirv-val on every module the emitter tests wrote, for the Vulkan 1.1 environment
# (SPIR-V 1.3), and fails on the first module it rejects or when there is none at all (with
# -DSKIP_WHEN_EMPTY=ON, for modules written only where a device ran them, it says "skipped").
#
#   cmake -DSPIRV_VAL=<spirv-val> -DSPIRV_DIR=<folder of .spv files> -P ValidateSpirv.cmake
file(GLOB modules "${SPIRV_DIR}/*.spv")
list(LENGTH modules count)
if(count EQUAL 0 AND SKIP_WHEN_EMPTY)
  message(STATUS "skipped: no SPIR-V modules in ${SPIRV_DIR} (no Vulkan device ran the ops)")
  return()
endif()
if(count EQUAL 0)
  message(FATAL_ERROR "no SPIR-V modules in ${SPIRV_DIR}: the emitter tests did not write any")
endif()
foreach(module IN LISTS modules)
  execute_process(COMMAND "${SPIRV_VAL}" --target-env vulkan1.1 "${module}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "spirv-val rejects ${module}:\n${out}${err}")
  endif()
endforeach()
message(STATUS "spirv-val accepts all ${count} modules in ${SPIRV_DIR}")
