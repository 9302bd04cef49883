# Installs the kiln build tree KILN_BUILD_DIR into a fresh KILN_PREFIX.
file(REMOVE_RECURSE "${KILN_PREFIX}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${KILN_BUILD_DIR}" --prefix "${KILN_PREFIX}"
  COMMAND_ERROR_IS_FATAL ANY)
