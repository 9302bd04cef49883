# kiln_cpu_dispatch_sources(<target> <arch> <source>... [<arch> <source>...])
#
# Adds sources to <target>, each compiled for the SIMD architecture named before it, so that
# a kernel built once per architecture can be chosen at run time with kiln::cpu::dispatch.
# Architectures: avx512 (AVX-512 F/CD/DQ/BW/VL with FMA), avx2 (AVX2 with FMA), sse2.
function(kiln_cpu_dispatch_sources target)
  set(flags_avx512 -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma)
  set(flags_avx2 -mavx2 -mfma)
  set(flags_sse2 -msse2)
  set(arch "")
  foreach(item IN LISTS ARGN)
    if(item STREQUAL "avx512" OR item STREQUAL "avx2" OR item STREQUAL "sse2")
      set(arch ${item})
    elseif(arch STREQUAL "")
      message(FATAL_ERROR "kiln_cpu_dispatch_sources: name an architecture (avx512, avx2, sse2) before ${item}")
    else()
      target_sources(${target} PRIVATE ${item})
      set_source_files_properties(${item} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS "${flags_${arch}}")
    endif()
  endforeach()
endfunction()
