// The kernels the Vulkan tests emit and run, with naive references: static and named extents,
// broadcasting, the math functions, integer arithmetic, reductions with guarded tails, an
// inlined producer, a padded read guarded by a lazy select, and a 1-D kernel with more
// workgroups than one dispatch row holds.
#pragma once

#include <kiln/te/tensor.hpp>
#include <kiln/tir/schedule.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace kiln::test::shaders {

using te::dim;

// ---- elementwise ---------------------------------------------------------------------------
inline constexpr auto X = te::placeholder<float, "X">(37_c, 70_c);
inline constexpr auto Bias = te::placeholder<float, "bias">(70_c);
// x + bias, then GELU with erf: static extents, a broadcast row.
inline constexpr auto bias_gelu = te::compute<"Y", "i", "j">(te::extents(37_c, 70_c), [](auto i, auto j) {
  const auto x = X(i, j) + Bias(j);
  return 0.5f * x * (1.0f + te::erf(x * 0.70710678f));
});
inline float bias_gelu_reference(float x, float bias) {
  const float v = x + bias;
  return 0.5f * v * (1.0f + std::erf(v * 0.70710678f));
}

inline constexpr auto V = te::placeholder<float, "V">(dim<"n">);
// Every unary function and min/max/select, over a named extent.
inline constexpr auto math = te::compute<"W", "i">(te::extents(dim<"n">), [](auto i) {
  const auto v = V(i);
  return te::select(v > 0.0f, te::sqrt(v) + te::log(v + 1.0f) + te::rsqrt(v + 0.5f), te::tanh(v) * 0.1f - te::exp(v)) +
         te::sigmoid(v) + te::abs(v) + te::floor(v) + te::ceil(v * 0.5f) + te::round(v * 3.0f) + te::max(v, 0.25f) +
         te::min(v, -0.25f) + te::pow(te::abs(v) + 1.0f, 1.5f) - v / 3.0f;
});
inline float math_reference(float v) {
  const float chosen = v > 0.0f ? std::sqrt(v) + std::log(v + 1.0f) + 1.0f / std::sqrt(v + 0.5f) : std::tanh(v) * 0.1f - std::exp(v);
  return chosen + 1.0f / (1.0f + std::exp(-v)) + std::fabs(v) + std::floor(v) + std::ceil(v * 0.5f) + std::nearbyint(v * 3.0f) +
         std::max(v, 0.25f) + std::min(v, -0.25f) + std::pow(std::fabs(v) + 1.0f, 1.5f) - v / 3.0f;
}

inline constexpr auto P = te::placeholder<std::int32_t, "P">(dim<"n">);
inline constexpr auto Q = te::placeholder<std::int32_t, "Q">(dim<"n">);
// Floor division and modulo with negative operands, comparisons, logic and casts.
inline constexpr auto integer_ops = te::compute<"R", "i">(te::extents(dim<"n">), [](auto i) {
  const auto p = P(i), q = Q(i);
  return te::floordiv(p, q) * 1000 + te::floormod(p, q) * 10 + te::cast<std::int32_t>(p < q && p != 0) +
         te::cast<std::int32_t>(te::cast<float>(p) * 0.5f) - te::select(p >= q || !(p == 3), p / q, 7);
});
inline std::int32_t integer_ops_reference(std::int32_t p, std::int32_t q) {
  std::int32_t div = p / q;
  if (p % q != 0 && ((p < 0) != (q < 0))) --div;
  const std::int32_t mod = p - div * q;
  return div * 1000 + mod * 10 + static_cast<std::int32_t>(p < q && p != 0) + static_cast<std::int32_t>(static_cast<float>(p) * 0.5f) -
         ((p >= q || !(p == 3)) ? p / q : 7);
}

// ---- reductions -----------------------------------------------------------------------------
inline constexpr auto A = te::placeholder<float, "A">(67_c, 50_c);
inline constexpr auto B = te::placeholder<float, "B">(50_c, 45_c);
inline constexpr auto kk = te::reduce_axis<"k">(50_c);
inline constexpr auto matmul_static = te::compute<"C", "i", "j">(te::extents(67_c, 45_c), [](auto i, auto j) {
  return te::sum(A(i, kk) * B(kk, j), kk);
});
// 8 x 8 tiles over workgroups of 8 x 8 invocations, tails guarded on every axis; the
// reduction split by 16 (a guarded tail of 2) with the inner loop unrolled.
inline constexpr auto matmul_tiles = tir::schedule("C")
                                         .tile("i", "j", 8, 8)
                                         .split("k", 16)
                                         .unroll("k.i")
                                         .bind("i.o", tir::ThreadAxis::block_y)
                                         .bind("j.o", tir::ThreadAxis::block_x)
                                         .bind("i.i", tir::ThreadAxis::thread_y)
                                         .bind("j.i", tir::ThreadAxis::thread_x);

inline constexpr auto Ad = te::placeholder<float, "A">(dim<"m">, dim<"k">);
inline constexpr auto Bd = te::placeholder<float, "B">(dim<"k">, dim<"n">);
inline constexpr auto kd = te::reduce_axis<"r">(dim<"k">);
inline constexpr auto matmul_dynamic = te::compute<"C", "i", "j">(te::extents(dim<"m">, dim<"n">), [](auto i, auto j) {
  return te::sum(Ad(i, kd) * Bd(kd, j), kd);
});

inline constexpr auto Rows = te::placeholder<float, "X">(dim<"rows">, dim<"cols">);
inline constexpr auto cd = te::reduce_axis<"c">(dim<"cols">);
inline constexpr auto row_max = te::compute<"M", "r">(te::extents(dim<"rows">), [](auto r) { return te::max(Rows(r, cd), cd); });

// A row sum reduced by 24 invocations per row (a tree whose width is not a power of two), 4
// rows per workgroup on thread_y, the rest of each row stepped by 24 in a loop.
inline constexpr auto row_sum = te::compute<"M", "r">(te::extents(dim<"rows">), [](auto r) { return te::sum(Rows(r, cd), cd); });
inline constexpr auto row_sum_tree = tir::schedule("M")
                                         .split("r", 4)
                                         .split("c", 24)
                                         .bind("r.o", tir::ThreadAxis::block_x)
                                         .bind("r.i", tir::ThreadAxis::thread_y)
                                         .bind("c.i", tir::ThreadAxis::thread_x);

// ---- several stages, padding, large dispatches ----------------------------------------------
inline constexpr auto S1 = te::placeholder<float, "S">(dim<"m">, 33_c);
inline constexpr auto T1 = te::placeholder<float, "T">(33_c);
// D = relu(S + T) is inlined into E, which reads it at j and at 32 - j.
inline constexpr auto relu_sum = te::compute<"D", "i", "j">(te::extents(dim<"m">, 33_c), [](auto i, auto j) {
  return te::max(S1(i, j) + T1(j), 0.0f);
});
inline constexpr auto mirrored = te::compute<"E", "i", "j">(te::extents(dim<"m">, 33_c), [](auto i, auto j) {
  return relu_sum(i, j) * 2.0f - relu_sum(i, 32_c - j);
});

inline constexpr auto U = te::placeholder<float, "U">(dim<"n">);
// One zero-free border: reads U(i - 1) only inside [1, n + 1), so the lazy select must not
// evaluate the read outside it.
inline constexpr auto bordered = te::compute<"Z", "i">(te::extents(dim<"n"> + 2_c), [](auto i) {
  return te::if_then_else(i >= 1 && i < te::extent_of(dim<"n">) + 1, U(i - 1), -1.0f);
});

inline constexpr auto axpb = te::compute<"Z", "i">(te::extents(dim<"n">), [](auto i) { return U(i) * 2.0f + 1.0f; });

// ---- shared copies (cache_read into workgroup memory) ---------------------------------------
// matmul_tiles with the 8 x 16 tile of A and the 16 x 8 tile of B that each step of k.o reads
// copied into workgroup memory; the last step (k = 48, 49) copies zeros past the tensors.
inline constexpr auto matmul_shared_tiles = matmul_tiles.cache_read("A", tir::Scope::shared)
                                                .cache_read("B", tir::Scope::shared)
                                                .stage("A_shared")
                                                .compute_at("C", "k.o")
                                                .stage("B_shared")
                                                .compute_at("C", "k.o");
// The same over named extents, 8 x 16 workgroups.
inline constexpr auto matmul_dynamic_shared = tir::schedule("C")
                                                  .tile("i", "j", 8, 16)
                                                  .split("r", 16)
                                                  .bind("i.o", tir::ThreadAxis::block_y)
                                                  .bind("j.o", tir::ThreadAxis::block_x)
                                                  .bind("i.i", tir::ThreadAxis::thread_y)
                                                  .bind("j.i", tir::ThreadAxis::thread_x)
                                                  .cache_read("A", tir::Scope::shared)
                                                  .cache_read("B", tir::Scope::shared)
                                                  .stage("A_shared")
                                                  .compute_at("C", "r.o")
                                                  .stage("B_shared")
                                                  .compute_at("C", "r.o");

// A transpose through workgroup memory, copied once per workgroup (at a block loop): the
// workgroup reads a 8 x 16 tile of X row by row and writes it column by column.
inline constexpr auto Xt = te::placeholder<float, "X">(dim<"rows">, dim<"cols">);
inline constexpr auto transposed = te::compute<"T", "i", "j">(te::extents(dim<"cols">, dim<"rows">), [](auto i, auto j) {
  return Xt(j, i) * 2.0f;
});
inline constexpr auto transposed_shared = tir::schedule("T")
                                              .tile("i", "j", 16, 8)
                                              .bind("i.o", tir::ThreadAxis::block_y)
                                              .bind("j.o", tir::ThreadAxis::block_x)
                                              .bind("i.i", tir::ThreadAxis::thread_y)
                                              .bind("j.i", tir::ThreadAxis::thread_x)
                                              .cache_read("X", tir::Scope::shared)
                                              .stage("X_shared")
                                              .compute_at("T", "j.o");

// A scalar copied once per workgroup (a region of rank 0).
inline constexpr auto Scale = te::placeholder<float, "s">();
inline constexpr auto scaled = te::compute<"Z", "i">(te::extents(dim<"n">), [](auto i) { return U(i) * Scale(); });
inline constexpr auto scaled_shared = tir::schedule("Z")
                                          .split("i", 64)
                                          .bind("i.o", tir::ThreadAxis::block_x)
                                          .bind("i.i", tir::ThreadAxis::thread_x)
                                          .cache_read("s", tir::Scope::shared)
                                          .stage("s_shared")
                                          .compute_at("Z", "i.o");

// A 1-D convolution per row, Y(b, i) = sum_r S(b, i + r) * Taps(r): a workgroup of 64 outputs
// reads 64 + 4 samples, which it copies once (the region of i + r with both ranging).
inline constexpr auto Signal = te::placeholder<float, "S">(dim<"b">, dim<"w">);
inline constexpr auto Taps = te::placeholder<float, "taps">(5_c);
inline constexpr auto rr = te::reduce_axis<"r">(5_c);
inline constexpr auto stencil = te::compute<"Y", "b", "i">(te::extents(dim<"b">, dim<"ow">), [](auto b, auto i) {
  return te::sum(Signal(b, i + rr) * Taps(rr), rr);
});
inline constexpr auto stencil_shared = tir::schedule("Y")
                                           .split("i", 64)
                                           .bind("b", tir::ThreadAxis::block_y)
                                           .bind("i.o", tir::ThreadAxis::block_x)
                                           .bind("i.i", tir::ThreadAxis::thread_x)
                                           .cache_read("S", tir::Scope::shared)
                                           .cache_read("taps", tir::Scope::shared)
                                           .stage("S_shared")
                                           .compute_at("Y", "i.o")
                                           .stage("taps_shared")
                                           .compute_at("Y", "i.o");

} // namespace kiln::test::shaders
