// Runs the dense layer through kiln::cpu::dispatch: the best build the CPU supports, and each
// narrower build when KILN_CPU_ARCH caps the choice; every result against a naive loop.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "dense.hpp"

namespace {
void check_dense_layer() {
  const std::int64_t m = 13, n = 70, k = 29;
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
  std::vector<float> bias(static_cast<std::size_t>(n)), y(static_cast<std::size_t>(m * n));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 0.3f);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::cos(float(i) * 0.7f);
  for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = 0.1f * float(i % 7) - 0.3f;
  auto view2 = [](float* p, std::int64_t r, std::int64_t c) {
    kiln::DynShape<2> s(r, c);
    kiln::DynStride<2> st(c, 1);
    return Dense::View2(p, s, st);
  };
  Dense::View1 bias_view(bias.data(), kiln::DynShape<1>(n), kiln::DynStride<1>(1));
  REQUIRE(kiln::cpu::dispatch<Dense>(Dense::Archs{}, view2(a.data(), m, k), view2(b.data(), k, n), bias_view,
                                     view2(y.data(), m, n))
              .ok());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = bias[std::size_t(j)];
      for (std::int64_t q = 0; q < k; ++q) acc += double(a[std::size_t(i * k + q)]) * double(b[std::size_t(q * n + j)]);
      CHECK(y[std::size_t(i * n + j)] == doctest::Approx(std::max(acc, 0.0)).epsilon(1e-5));
    }
}
} // namespace

TEST_CASE("dispatch picks the best build the CPU supports") {
  unsetenv("KILN_CPU_ARCH");
  const auto cpu = xsimd::available_architectures();
  const std::string expected = cpu.avx512bw ? "avx512bw" : cpu.fma3_avx2 ? "fma3+avx2" : "sse2";
  CHECK(kiln::cpu::chosen_arch_name(Dense::Archs{}) == expected);
  check_dense_layer();
}

TEST_CASE("KILN_CPU_ARCH caps the choice, and every build computes the same layer") {
  for (const char* arch : {"fma3+avx2", "sse2"}) {
    CAPTURE(arch);
    setenv("KILN_CPU_ARCH", arch, 1);
    const auto cpu = xsimd::available_architectures();
    if (std::string(arch) == "fma3+avx2" && !cpu.fma3_avx2) continue;  // the cap cannot raise the CPU
    CHECK(kiln::cpu::chosen_arch_name(Dense::Archs{}) == arch);
    check_dense_layer();
  }
  unsetenv("KILN_CPU_ARCH");
}

TEST_CASE("a CPU with none of the builds gets an error, not a crash") {
  using Only512 = kiln::cpu::arch_list<xsimd::avx512bw>;
  setenv("KILN_CPU_ARCH", "sse2", 1);  // names no listed build: the CPU's best applies
  const auto cpu = xsimd::available_architectures();
  CHECK(kiln::cpu::chosen_arch(Only512{}) == (cpu.avx512bw ? 0 : -1));
  unsetenv("KILN_CPU_ARCH");
}
