// A dense layer, relu(A @ B + bias), whose kernel is built once per SIMD architecture in its
// own translation unit and chosen at run time.
#pragma once

#include <kiln/backend/cpu/dispatch.hpp>
#include <kiln/backend/cpu/kernel.hpp>

#include <xsimd/xsimd.hpp>

struct Dense {
  using View2 = kiln::DynTensorView<float, 2>;
  using View1 = kiln::DynTensorView<float, 1>;
  using Archs = kiln::cpu::arch_list<xsimd::avx512bw, xsimd::fma3<xsimd::avx2>, xsimd::sse2>;

  template <class Arch>
  static kiln::Status run(View2 a, View2 b, View1 bias, View2 out) {
    using namespace kiln;
    constexpr auto A = te::placeholder<float, "A">(te::dim<"m">, te::dim<"k">);
    constexpr auto B = te::placeholder<float, "B">(te::dim<"k">, te::dim<"n">);
    constexpr auto Bias = te::placeholder<float, "bias">(te::dim<"n">);
    constexpr auto r = te::reduce_axis<"r">(te::dim<"k">);
    const auto C = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                              [=](auto i, auto j) { return te::sum(A(i, r) * B(r, j), r); });
    const auto D = te::compute<"D", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                              [=](auto i, auto j) { return te::max(C(i, j) + Bias(j), 0.0f); });
    constexpr auto s = tir::schedule("C")
                           .split("i", 4)
                           .split("j", 32)
                           .reorder("i.o", "j.o", "r", "i.i", "j.i")
                           .unroll("i.i")
                           .vectorize("j.i")
                           .cache_write(tir::Scope::local)
                           .stage("D")
                           .reverse_compute_inline();
    return cpu::build<s, Arch>(D)(a, b, bias, out);
  }
};

// The builds live in dense_avx512.cpp, dense_avx2.cpp and dense_sse2.cpp.
extern template kiln::Status Dense::run<xsimd::avx512bw>(View2, View2, View1, View2);
extern template kiln::Status Dense::run<xsimd::fma3<xsimd::avx2>>(View2, View2, View1, View2);
extern template kiln::Status Dense::run<xsimd::sse2>(View2, View2, View1, View2);
