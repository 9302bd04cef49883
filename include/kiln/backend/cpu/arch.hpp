// kiln/backend/cpu/arch.hpp: the CPU backend's architecture tags (over xsimd), the one the
// compile flags select, and a run-time query of what the running CPU supports.
//
// A tag is usable in a translation unit only when the unit was compiled with its
// instruction set (`Arch::compiled`): xsimd, like the intrinsics under it, emits
// instructions for the flags of the unit. Run-time dispatch therefore chooses among the
// compiled tags the best one that detect() also reports; running code for a tag the CPU
// lacks is an illegal instruction.
#pragma once

#include <string_view>
#include <type_traits>

#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#define KILN_CPU_HAVE_XSIMD 1
#else
#define KILN_CPU_HAVE_XSIMD 0
#endif

// Which vector tags this translation unit can instantiate. xsimd's AVX-512 batch needs
// F, CD, DQ and BW (-march=native on any AVX-512 machine since Skylake-SP gives them all).
#if KILN_CPU_HAVE_XSIMD && XSIMD_WITH_AVX512F && XSIMD_WITH_AVX512CD && XSIMD_WITH_AVX512DQ && \
    XSIMD_WITH_AVX512BW
#define KILN_CPU_COMPILED_AVX512 1
#else
#define KILN_CPU_COMPILED_AVX512 0
#endif
#if KILN_CPU_HAVE_XSIMD && XSIMD_WITH_FMA3_AVX2
#define KILN_CPU_COMPILED_AVX2 1
#else
#define KILN_CPU_COMPILED_AVX2 0
#endif

namespace kiln::cpu {

// Plain C++ floats, one lane: correct everywhere, the reference for the vector tags.
struct scalar {
  static constexpr int width = 1;  // floats per vector register
  static constexpr bool compiled = true;
  static constexpr std::string_view name = "scalar";
};

// AVX2 + FMA3: 16 ymm registers of 8 floats.
struct avx2 {
  static constexpr int width = 8;
  static constexpr int registers = 16;
  static constexpr bool compiled = KILN_CPU_COMPILED_AVX2 != 0;
  static constexpr std::string_view name = "avx2";
#if KILN_CPU_HAVE_XSIMD
  using xsimd_arch = xsimd::fma3<xsimd::avx2>;
#endif
};

// AVX-512 (F, CD, DQ, BW): 32 zmm registers of 16 floats.
struct avx512 {
  static constexpr int width = 16;
  static constexpr int registers = 32;
  static constexpr bool compiled = KILN_CPU_COMPILED_AVX512 != 0;
  static constexpr std::string_view name = "avx512";
#if KILN_CPU_HAVE_XSIMD
  using xsimd_arch = xsimd::avx512bw;
#endif
};

template <class Arch>
concept CpuArch = std::is_same_v<Arch, scalar> || std::is_same_v<Arch, avx2> || std::is_same_v<Arch, avx512>;

// Floats per vector register of an architecture.
template <CpuArch Arch>
inline constexpr int simd_width_v = Arch::width;

// The widest tag the compile flags allow: what kernels use unless told otherwise.
using native_arch = std::conditional_t<avx512::compiled, avx512, std::conditional_t<avx2::compiled, avx2, scalar>>;

// What the running CPU (and OS) supports, for dispatch and for tests that must skip code
// the machine cannot run.
struct CpuFeatures {
  bool has_avx2 = false;
  bool has_fma = false;
  bool has_avx512f = false;
  bool has_avx512cd = false;
  bool has_avx512dq = false;
  bool has_avx512bw = false;
  bool has_avx512vl = false;

  // Whether code compiled for Arch runs on this CPU (false when it was not compiled in).
  template <CpuArch Arch>
  constexpr bool supports() const noexcept {
    if constexpr (!Arch::compiled) return false;
    else if constexpr (std::is_same_v<Arch, cpu::avx512>)
      return has_avx512f && has_avx512cd && has_avx512dq && has_avx512bw && has_avx512vl;
    else if constexpr (std::is_same_v<Arch, cpu::avx2>) return has_avx2 && has_fma;
    else return true;
  }
};

// Queries the CPU once per call (cheap: the compiler's runtime caches CPUID). Includes the
// OS check that the wide register state is saved on context switches.
inline CpuFeatures detect() noexcept {
  CpuFeatures f;
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();  // needed when called before main (static initializers)
  f.has_avx2 = __builtin_cpu_supports("avx2") != 0;
  f.has_fma = __builtin_cpu_supports("fma") != 0;
  f.has_avx512f = __builtin_cpu_supports("avx512f") != 0;
  f.has_avx512cd = __builtin_cpu_supports("avx512cd") != 0;
  f.has_avx512dq = __builtin_cpu_supports("avx512dq") != 0;
  f.has_avx512bw = __builtin_cpu_supports("avx512bw") != 0;
  f.has_avx512vl = __builtin_cpu_supports("avx512vl") != 0;
#endif
  return f;
}

// The kinds of tag, widest first, for run-time dispatch over the compiled ones.
enum class ArchKind { scalar, avx2, avx512 };

template <CpuArch Arch>
inline constexpr ArchKind arch_kind_v = std::is_same_v<Arch, avx512> ? ArchKind::avx512
                                        : std::is_same_v<Arch, avx2> ? ArchKind::avx2
                                                                      : ArchKind::scalar;

// The widest tag that is both compiled in and supported by this CPU.
inline ArchKind best_arch() noexcept {
  const CpuFeatures f = detect();
  if (f.supports<avx512>()) return ArchKind::avx512;
  if (f.supports<avx2>()) return ArchKind::avx2;
  return ArchKind::scalar;
}

constexpr std::string_view to_string(ArchKind kind) noexcept {
  switch (kind) {
    case ArchKind::avx512: return avx512::name;
    case ArchKind::avx2: return avx2::name;
    case ArchKind::scalar: return scalar::name;
  }
  return "unknown";
}

} // namespace kiln::cpu
