// kiln/backend/cpu/dispatch.hpp: run-time choice between builds of one kernel for several SIMD
// architectures. Each build lives in a translation unit compiled with that architecture's
// flags (see kiln_cpu_dispatch_sources in cmake/KilnDispatch.cmake); the program calls
// dispatch(), which runs the best build the CPU supports.
//
//   struct Dense {                                        // in a header
//     template <class Arch> static kiln::Status run(Args...);   // defined in the header too
//   };
//   extern template kiln::Status Dense::run<xsimd::avx512bw>(Args...);  // built elsewhere
//   template kiln::Status Dense::run<xsimd::avx512bw>(Args...);  // in dense_avx512.cpp
//   kiln::cpu::dispatch<Dense>(kiln::cpu::arch_list<xsimd::avx512bw, xsimd::fma3<xsimd::avx2>>{}, args...);
//
// The environment variable KILN_CPU_ARCH (an xsimd architecture name such as "fma3+avx2")
// caps the choice, to test or compare the narrower builds on a wider machine.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "../../core/result.hpp"
#include "../../core/status.hpp"

namespace kiln::cpu {

// Architectures from the most capable to the least.
template <class... Archs>
struct arch_list {
  static_assert(sizeof...(Archs) > 0, "kiln::cpu::arch_list needs at least one architecture");
};

namespace detail {
// The best architecture version to use: the CPU's, capped by KILN_CPU_ARCH when it names
// one of the listed architectures.
template <class... Archs>
unsigned usable_version() noexcept {
  unsigned best = xsimd::available_architectures().best;
  if (const char* cap = std::getenv("KILN_CPU_ARCH"); cap != nullptr && *cap != '\0') {
    unsigned capped = 0;
    ((std::strcmp(cap, Archs::name()) == 0 ? (capped = Archs::version(), 0) : 0), ...);
    if (capped != 0 && capped < best) best = capped;
  }
  return best;
}
} // namespace detail

// The position in the list of the architecture dispatch() runs, or -1 when the CPU supports
// none of them.
template <class... Archs>
int chosen_arch(arch_list<Archs...>) noexcept {
  const unsigned usable = detail::usable_version<Archs...>();
  int index = 0, chosen = -1;
  ((chosen < 0 && Archs::version() <= usable ? (chosen = index, 0) : 0, ++index), ...);
  return chosen;
}

template <class... Archs>
std::string chosen_arch_name(arch_list<Archs...> list) {
  const int chosen = chosen_arch(list);
  const char* names[] = {Archs::name()...};
  return chosen < 0 ? std::string("none") : std::string(names[chosen]);
}

// Runs Fn::run<Arch>(args...) for the best listed architecture the CPU supports. Fn::run
// returns a Status; when no listed architecture is supported the result says so.
template <class Fn, class... Archs, class... Args>
Status dispatch(arch_list<Archs...> list, Args&&... args) {
  const int chosen = chosen_arch(list);
  Status status = make_error(StatusCode::unavailable, "kiln::cpu::dispatch: this CPU supports none of the builds (",
                             [] {
                               std::string names;
                               ((names += std::string(names.empty() ? "" : ", ") + Archs::name()), ...);
                               return names;
                             }(),
                             ")");
  int index = 0;
  ((index++ == chosen ? (status = Fn::template run<Archs>(std::forward<Args>(args)...), 0) : 0), ...);
  return status;
}

} // namespace kiln::cpu
