# model_<name>_aot: `kiln aot` a reference model, configure and build the generated project,
# and run its model-run on the model's case directory; fails on any step's failure.
#
#   cmake -DKILN=<kiln> -DCASE_DIR=<dir> -DNAME=<name> -DOUT_DIR=<dir> [-DAOT_ARGS="..."]
#         [-DRUN_ARGS="..."] [-DGENERATOR=Ninja] [-DCXX_COMPILER=g++] -P RunAot.cmake
cmake_minimum_required(VERSION 3.20)

foreach(var KILN CASE_DIR NAME OUT_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "RunAot.cmake: -D${var}=... is required")
  endif()
endforeach()
separate_arguments(aot_args UNIX_COMMAND "${AOT_ARGS}")
separate_arguments(run_args UNIX_COMMAND "${RUN_ARGS}")

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
endfunction()

run_step("kiln aot" "${KILN}" aot "${CASE_DIR}/model.onnx" -o "${OUT_DIR}" --name "${NAME}" ${aot_args})
set(configure "${CMAKE_COMMAND}" -S "${OUT_DIR}" -B "${OUT_DIR}/build" -DCMAKE_BUILD_TYPE=Release)
if(GENERATOR)
  list(APPEND configure -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
  list(APPEND configure "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
run_step("configuring the generated project" ${configure})
run_step("building the generated project" "${CMAKE_COMMAND}" --build "${OUT_DIR}/build")
run_step("model-run" "${OUT_DIR}/build/model-run" "${CASE_DIR}" ${run_args})
