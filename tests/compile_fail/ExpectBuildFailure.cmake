# Builds TARGET in BUILD_DIR and succeeds only when the build fails with output matching
# EXPECTED.
execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not")
endif()
if(NOT output MATCHES "${EXPECTED}")
  message(FATAL_ERROR "${TARGET} failed to compile without the expected diagnostic\n"
                      "expected (regex): ${EXPECTED}\ncompiler output:\n${output}")
endif()
message(STATUS "${TARGET} is rejected as expected")
