# Generates kiln's single header from include/kiln/kiln.hpp.
#
#   cmake -DKILN_SOURCE_DIR=<repo> [-DKILN_AMALGAMATE_OUTPUT=<file>] -P cmake/Amalgamate.cmake
#
# Every `#include "..."` that names a kiln header (resolved relative to the including file)
# is replaced by that header's text, in place; `#include <...>` lines stay as they are.
# Each header's `#pragma once` is dropped and the output carries a single one at the top.
#
# A header is inlined where it is first reached; a later include of it is dropped when the
# first one sits in the same preprocessor conditionals as the later one, or in fewer of
# them (a header inlined outside any conditional is never inlined again). A header reached
# inside a conditional (`#if __has_include(<dlpack/dlpack.h>)` ...) is wrapped in its own
# `#ifndef KILN_AMALGAMATED_<PATH>` guard, and inlined again (with the same guard) where a
# later include is not covered by it, so the output is correct whatever order the umbrella
# header includes things in. The output depends only on the headers' text: reruns are
# byte-identical, and an unchanged output file is not rewritten.
cmake_minimum_required(VERSION 3.20)

if(NOT KILN_SOURCE_DIR)
  get_filename_component(KILN_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()
if(NOT KILN_AMALGAMATE_OUTPUT)
  set(KILN_AMALGAMATE_OUTPUT "${KILN_SOURCE_DIR}/single_include/kiln.hpp")
endif()
get_filename_component(KILN_AMALGAMATE_OUTPUT "${KILN_AMALGAMATE_OUTPUT}" ABSOLUTE)

set(_kiln_include_root "${KILN_SOURCE_DIR}/include")
set(_kiln_header_root "${_kiln_include_root}/kiln")
set(_kiln_umbrella "${_kiln_header_root}/kiln.hpp")
if(NOT EXISTS "${_kiln_umbrella}")
  message(FATAL_ERROR "amalgamate: ${_kiln_umbrella} does not exist")
endif()

# Header text is handled as a CMake list of lines, so the characters that CMake's list
# splitting treats specially are swapped for control characters while it is processed.
string(ASCII 1 _kiln_semicolon)
string(ASCII 2 _kiln_lbracket)
string(ASCII 3 _kiln_rbracket)
string(ASCII 4 _kiln_backslash)

# Reads `file` into `out_var` as a list of lines (special characters swapped out).
function(_kiln_read_lines file out_var)
  file(READ "${file}" text)
  string(REPLACE "\r" "" text "${text}")
  string(REPLACE "\\" "${_kiln_backslash}" text "${text}")
  string(REPLACE ";" "${_kiln_semicolon}" text "${text}")
  string(REPLACE "[" "${_kiln_lbracket}" text "${text}")
  string(REPLACE "]" "${_kiln_rbracket}" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# Whether `file` was already inlined in a conditional context that covers `context` (the
# same chain of open conditionals, or a prefix of it).
function(_kiln_already_inlined file context out_var)
  get_property(entries GLOBAL PROPERTY KILN_AMALGAMATED_CONTEXTS)
  set(found FALSE)
  foreach(entry IN LISTS entries)
    string(FIND "${entry}" "|" bar)
    string(SUBSTRING "${entry}" 0 ${bar} entry_file)
    math(EXPR start "${bar} + 1")
    string(SUBSTRING "${entry}" ${start} -1 entry_context)
    if(entry_file STREQUAL file)
      # A prefix of whole entries: "a:6" covers "a:6,b:2" but not "a:60".
      if(entry_context STREQUAL "" OR context STREQUAL entry_context)
        set(found TRUE)
      else()
        string(FIND "${context}" "${entry_context}," at)
        if(at EQUAL 0)
          set(found TRUE)
        endif()
      endif()
    endif()
  endforeach()
  set(${out_var} ${found} PARENT_SCOPE)
endfunction()

# Appends the inlined text of `file` to `out_var`. `context` names the preprocessor
# conditionals open around the include that reached it ("" at top level).
function(_kiln_inline file context out_var)
  file(RELATIVE_PATH rel "${_kiln_include_root}" "${file}")
  get_filename_component(dir "${file}" DIRECTORY)
  set(out "${${out_var}}")

  # A header inlined inside a conditional carries a guard there and wherever it is
  # inlined again.
  get_property(guarded GLOBAL PROPERTY KILN_AMALGAMATED_GUARDED)
  set(guard "")
  if(NOT context STREQUAL "" OR file IN_LIST guarded)
    string(MAKE_C_IDENTIFIER "KILN_AMALGAMATED_${rel}" guard)
    string(TOUPPER "${guard}" guard)
    string(APPEND out "#ifndef ${guard}\n#define ${guard}\n")
    set_property(GLOBAL APPEND PROPERTY KILN_AMALGAMATED_GUARDED "${file}")
  endif()
  # Semicolons would split the list entry; conditionals rarely contain them.
  string(REPLACE ";" "," recorded "${context}")
  set_property(GLOBAL APPEND PROPERTY KILN_AMALGAMATED_CONTEXTS "${file}|${recorded}")
  string(APPEND out "// ---- begin ${rel} ----\n")

  _kiln_read_lines("${file}" lines)
  # The conditionals open inside this file, each recorded as "<file>:<line number>" so that
  # the same condition text in two places counts as two contexts.
  set(open_conditionals "")
  set(line_number 0)
  foreach(line IN LISTS lines)
    math(EXPR line_number "${line_number} + 1")
    if(line MATCHES "^[ \t]*#[ \t]*pragma[ \t]+once")
      continue()
    elseif(line MATCHES "^[ \t]*#[ \t]*if")
      list(APPEND open_conditionals "${rel}:${line_number}")
    elseif(line MATCHES "^[ \t]*#[ \t]*(elif|else)")
      list(POP_BACK open_conditionals)
      list(APPEND open_conditionals "${rel}:${line_number}")
    elseif(line MATCHES "^[ \t]*#[ \t]*endif")
      list(POP_BACK open_conditionals)
    elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
      set(inc "${CMAKE_MATCH_1}")
      cmake_path(ABSOLUTE_PATH inc BASE_DIRECTORY "${dir}" NORMALIZE OUTPUT_VARIABLE target)
      cmake_path(IS_PREFIX _kiln_header_root "${target}" NORMALIZE in_kiln)
      if(in_kiln AND EXISTS "${target}")
        string(JOIN "," inner_context ${open_conditionals})
        if(NOT context STREQUAL "" AND NOT inner_context STREQUAL "")
          set(inner_context "${context},${inner_context}")
        elseif(inner_context STREQUAL "")
          set(inner_context "${context}")
        endif()
        _kiln_already_inlined("${target}" "${inner_context}" covered)
        if(NOT covered)
          _kiln_inline("${target}" "${inner_context}" out)
        endif()
        continue()
      elseif(in_kiln AND inc MATCHES "\\.hpp$")
        message(FATAL_ERROR "amalgamate: ${rel} includes \"${inc}\", which does not exist")
      endif()
      # Not a kiln header: keep the line.
    endif()
    string(APPEND out "${line}\n")
  endforeach()

  string(APPEND out "// ---- end ${rel} ----\n")
  if(guard)
    string(APPEND out "#endif // ${guard}\n")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# The version, from config.hpp (or the project() call when config.hpp lacks it).
set(_kiln_version "")
if(EXISTS "${_kiln_header_root}/config.hpp")
  file(STRINGS "${_kiln_header_root}/config.hpp" _kiln_version_line
       REGEX "^#[ \t]*define[ \t]+KILN_VERSION_STRING[ \t]+\"[^\"]*\"")
  if(_kiln_version_line MATCHES "\"([^\"]*)\"")
    set(_kiln_version "${CMAKE_MATCH_1}")
  endif()
endif()
if(NOT _kiln_version)
  file(STRINGS "${KILN_SOURCE_DIR}/CMakeLists.txt" _kiln_project_line REGEX "VERSION[ \t]+[0-9]")
  if(_kiln_project_line MATCHES "VERSION[ \t]+([0-9][0-9.]*)")
    set(_kiln_version "${CMAKE_MATCH_1}")
  endif()
endif()

set_property(GLOBAL PROPERTY KILN_AMALGAMATED_CONTEXTS "")
set_property(GLOBAL PROPERTY KILN_AMALGAMATED_GUARDED "")
set(_kiln_body "")
_kiln_inline("${_kiln_umbrella}" "" _kiln_body)
string(REPLACE "${_kiln_semicolon}" ";" _kiln_body "${_kiln_body}")
string(REPLACE "${_kiln_lbracket}" "[" _kiln_body "${_kiln_body}")
string(REPLACE "${_kiln_rbracket}" "]" _kiln_body "${_kiln_body}")
string(REPLACE "${_kiln_backslash}" "\\" _kiln_body "${_kiln_body}")

set(_kiln_text "// kiln ${_kiln_version}: the whole library in one header (include/kiln/kiln.hpp and\n")
string(APPEND _kiln_text "// every kiln header it includes). Generated by scripts/amalgamate; do not edit.\n")
string(APPEND _kiln_text "#pragma once\n\n${_kiln_body}")

set(_kiln_old "")
if(EXISTS "${KILN_AMALGAMATE_OUTPUT}")
  file(READ "${KILN_AMALGAMATE_OUTPUT}" _kiln_old)
endif()
if(NOT _kiln_old STREQUAL _kiln_text)
  file(WRITE "${KILN_AMALGAMATE_OUTPUT}" "${_kiln_text}")
  message(STATUS "amalgamate: wrote ${KILN_AMALGAMATE_OUTPUT}")
else()
  message(STATUS "amalgamate: ${KILN_AMALGAMATE_OUTPUT} is up to date")
endif()
