# single_header_up_to_date: regenerates the single header into the build tree and
# compares it with the committed single_include/kiln.hpp.
#
# Included from tests/CMakeLists.txt, this file registers the test; run with
# `cmake -P`, it is the test.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  add_test(NAME single_header_up_to_date
    COMMAND "${CMAKE_COMMAND}"
      "-DKILN_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "-DKILN_FRESH_HEADER=${CMAKE_CURRENT_BINARY_DIR}/amalgamation/kiln.hpp"
      -P "${CMAKE_CURRENT_LIST_FILE}")
  return()
endif()

set(_committed "${KILN_SOURCE_DIR}/single_include/kiln.hpp")
execute_process(
  COMMAND "${CMAKE_COMMAND}"
    "-DKILN_SOURCE_DIR=${KILN_SOURCE_DIR}"
    "-DKILN_AMALGAMATE_OUTPUT=${KILN_FRESH_HEADER}"
    -P "${KILN_SOURCE_DIR}/cmake/Amalgamate.cmake"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "generating the single header failed (${_rc})")
endif()
if(NOT EXISTS "${_committed}")
  message(FATAL_ERROR "single_include/kiln.hpp is missing: run scripts/amalgamate")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" -E compare_files "${KILN_FRESH_HEADER}" "${_committed}"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "single_include/kiln.hpp is out of date with include/kiln/: "
    "run scripts/amalgamate and commit the result (fresh copy: ${KILN_FRESH_HEADER})")
endif()
message(STATUS "single_include/kiln.hpp is up to date")
