// The blocked NCHWc convolution and the layout transforms, against naive double-precision loops:
// NCHW -> NCHWc -> NCHW round trips and weight packing with channel counts that are not a
// multiple of the block; conv2d_nchwc and depthwise_conv2d_nchwc over strides, padding and
// dilation, static and dynamic extents, under the default schedule and hand-written ones with
// guarded and separate tails; the default convolution rule on conv2d_nchw; and shape errors.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/rules.hpp>
#include <kiln/kernels/conv2d.hpp>
#include <kiln/kernels/conv2d_nchwc.hpp>
#include <kiln/kernels/layout.hpp>
#include <kiln/kernels/reduce_axes.hpp>
#include <kiln/tir/print.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::pattern;

// The vector width of the default rules, so hand-written schedules vectorize the same way.
constexpr std::int64_t kWidth = static_cast<std::int64_t>(xsimd::batch<float, cpu::default_arch>::size);

// n x c x h x w -> n x ceil(c / cb) x h x w x cb, zero-padded.
std::vector<float> pack_activations(const std::vector<float>& x, std::int64_t n, std::int64_t c, std::int64_t h,
                                    std::int64_t w, std::int64_t cb) {
  const std::int64_t blocks = ceildiv(c, cb);
  std::vector<float> out(at(n * blocks * h * w * cb), 0.0f);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t q = 0; q < w; ++q)
          out[at((((b * blocks + ch / cb) * h + y) * w + q) * cb + ch % cb)] = x[at(((b * c + ch) * h + y) * w + q)];
  return out;
}

// k x c x r x s -> ceil(k / kb) x ceil(c / cb) x r x s x cb x kb, zero-padded.
std::vector<float> pack_weights(const std::vector<float>& wt, std::int64_t k, std::int64_t c, std::int64_t r,
                                std::int64_t s, std::int64_t cb, std::int64_t kb) {
  const std::int64_t k_blocks = ceildiv(k, kb), c_blocks = ceildiv(c, cb);
  std::vector<float> out(at(k_blocks * c_blocks * r * s * cb * kb), 0.0f);
  for (std::int64_t f = 0; f < k; ++f)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t u = 0; u < r; ++u)
        for (std::int64_t v = 0; v < s; ++v)
          out[at(((((f / kb * c_blocks + ch / cb) * r + u) * s + v) * cb + ch % cb) * kb + f % kb)] =
              wt[at(((f * c + ch) * r + u) * s + v)];
  return out;
}

// The plain NCHW convolution in double; depthwise when `depthwise` (then k == c and the
// weights are c x 1 x r x s).
template <kernels::Conv2dParams P>
std::vector<double> reference_conv(const std::vector<float>& x, const std::vector<float>& wt, std::int64_t n,
                                   std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t r,
                                   std::int64_t s, bool depthwise) {
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, P.stride_h, P.pad_h, P.dilation_h);
  const std::int64_t ow = kernels::conv2d_output_extent(w, s, P.stride_w, P.pad_w, P.dilation_w);
  const std::int64_t per_output = depthwise ? 1 : c;
  std::vector<double> y(at(n * k * oh * ow), 0.0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t f = 0; f < k; ++f)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          double sum = 0;
          for (std::int64_t q = 0; q < per_output; ++q)
            for (std::int64_t u = 0; u < r; ++u)
              for (std::int64_t v = 0; v < s; ++v) {
                const std::int64_t iy = oy * P.stride_h + u * P.dilation_h - P.pad_h;
                const std::int64_t ix = ox * P.stride_w + v * P.dilation_w - P.pad_w;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const std::int64_t ch = depthwise ? f : q;
                sum += double(x[at(((b * c + ch) * h + iy) * w + ix)]) * double(wt[at(((f * per_output + q) * r + u) * s + v)]);
              }
          y[at(((b * k + f) * oh + oy) * ow + ox)] = sum;
        }
  return y;
}

// A blocked output n x ceil(k / kb) x oh x ow x kb against the NCHW reference: equal channel by
// channel, and exactly zero in the padding channels (their weights are zero).
void check_blocked_output(const std::vector<float>& y, const std::vector<double>& ref, std::int64_t n, std::int64_t k,
                          std::int64_t oh, std::int64_t ow, std::int64_t kb, std::int64_t terms) {
  const std::int64_t blocks = ceildiv(k, kb);
  const double tolerance = 1e-5 * double(terms + 1);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t f = 0; f < blocks * kb; ++f)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          const float got = y[at((((b * blocks + f / kb) * oh + oy) * ow + ox) * kb + f % kb)];
          if (f < k) CHECK(std::fabs(double(got) - ref[at(((b * k + f) * oh + oy) * ow + ox)]) <= tolerance);
          else CHECK(got == 0.0f);
        }
}

// Runs a built conv2d_nchwc kernel on packed pattern data and checks it against reference_conv.
template <kernels::Conv2dParams P, std::int64_t CB, std::int64_t KB, class Kernel>
void check_nchwc_conv(const Kernel& kernel, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                      std::int64_t k, std::int64_t r, std::int64_t s) {
  CAPTURE(n);
  CAPTURE(c);
  CAPTURE(h);
  CAPTURE(w);
  CAPTURE(k);
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, P.stride_h, P.pad_h, P.dilation_h);
  const std::int64_t ow = kernels::conv2d_output_extent(w, s, P.stride_w, P.pad_w, P.dilation_w);
  const std::int64_t c_blocks = ceildiv(c, CB), k_blocks = ceildiv(k, KB);
  const auto x = pattern(at(n * c * h * w), 0.1f), wt = pattern(at(k * c * r * s), 0.8f);
  const auto xp = pack_activations(x, n, c, h, w, CB);
  const auto wp = pack_weights(wt, k, c, r, s, CB, KB);
  std::vector<float> y(at(n * k_blocks * oh * ow * KB), -5.0f);
  ThreadPool pool(2);
  REQUIRE(kernel
              .run(&pool, make_view(xp.data(), shape(n, c_blocks, h, w, CB)),
                   make_view(wp.data(), shape(k_blocks, c_blocks, r, s, CB, KB)),
                   make_view(y.data(), shape(n, k_blocks, oh, ow, KB)))
              .ok());
  check_blocked_output(y, reference_conv<P>(x, wt, n, c, h, w, k, r, s, false), n, k, oh, ow, KB, c * r * s);
}

// conv2d_nchwc with every extent dynamic, under schedule S, or the default one when S names no
// stage.
template <kernels::Conv2dParams P, std::int64_t CB, std::int64_t KB, tir::Schedule S = tir::Schedule("")>
auto dynamic_nchwc_conv() {
  const auto conv = kernels::conv2d_nchwc<P>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"KB">, dim<"R">, dim<"S">,
                                             dim<"OH">, dim<"OW">, Int<CB>{}, Int<KB>{});
  if constexpr (S.current.empty()) return cpu::build(conv);
  else return cpu::build<S>(conv);
}

// conv2d_nchwc with every extent static.
template <kernels::Conv2dParams P, std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t K,
          std::int64_t R, std::int64_t S, std::int64_t CB, std::int64_t KB>
auto static_nchwc_conv_expr() {
  constexpr std::int64_t oh = kernels::conv2d_output_extent(H, R, P.stride_h, P.pad_h, P.dilation_h);
  constexpr std::int64_t ow = kernels::conv2d_output_extent(W, S, P.stride_w, P.pad_w, P.dilation_w);
  return kernels::conv2d_nchwc<P>(Int<N>{}, Int<ceildiv(C, CB)>{}, Int<H>{}, Int<W>{}, Int<ceildiv(K, KB)>{}, Int<R>{},
                                  Int<S>{}, Int<oh>{}, Int<ow>{}, Int<CB>{}, Int<KB>{});
}

constexpr kernels::Conv2dParams kPlain{};
constexpr kernels::Conv2dParams kStrided{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
constexpr kernels::Conv2dParams kDilated{.stride_h = 1, .stride_w = 2, .pad_h = 2, .pad_w = 1, .dilation_h = 2,
                                         .dilation_w = 3};

// Hand-written schedules of the "Y" stage (axes n, k, y, x, kb; reductions rc, rr, rs), one
// per tail strategy: x is split by 4 (and y by 2 in the separate one), so outputs of 3 or 6
// columns (and of 5 rows) end in partial tiles.
constexpr tir::Schedule kGuarded = tir::schedule("Y")
                                       .fuse("n", "k")
                                       .fuse("n_k", "y")
                                       .parallel("n_k_y")
                                       .split("x", 4)
                                       .split("kb", kWidth)
                                       .reorder("x.o", "rc", "rr", "rs", "x.i", "kb.o", "kb.i")
                                       .unroll("x.i")
                                       .vectorize("kb.i")
                                       .cache_write(tir::Scope::local);
constexpr tir::Schedule kSeparate = tir::schedule("Y")
                                        .fuse("n", "k")
                                        .parallel("n_k")
                                        .split("y", 2, tir::Tail::separate)
                                        .split("x", 4, tir::Tail::separate)
                                        .reorder("y.o", "x.o", "rc", "rr", "rs", "y.i", "x.i", "kb")
                                        .decompose_reduction()
                                        .vectorize("kb");
} // namespace

TEST_CASE("NCHWc layout: NCHW -> NCHWc -> NCHW round trip and weight packing, zero-padded blocks") {
  auto to_blocked = cpu::build(kernels::nchw_to_nchwc<8>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"CB">));
  auto to_plain = cpu::build(kernels::nchwc_to_nchw<8>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"C">));
  for (std::int64_t c : {1, 3, 8, 17}) {
    CAPTURE(c);
    const std::int64_t n = 2, h = 7, w = 6, blocks = ceildiv(c, std::int64_t{8});
    const auto x = pattern(at(n * c * h * w), 0.3f);
    std::vector<float> packed(at(n * blocks * h * w * 8), -5.0f), back(x.size(), -5.0f);
    REQUIRE(to_blocked(make_view(x.data(), shape(n, c, h, w)), make_view(packed.data(), shape(n, blocks, h, w, 8_c))).ok());
    CHECK(packed == pack_activations(x, n, c, h, w, 8));
    REQUIRE(to_plain(make_view(packed.data(), shape(n, blocks, h, w, 8_c)), make_view(back.data(), shape(n, c, h, w))).ok());
    CHECK(back == x);
  }

  // Static extents, and an output asking for more channels than the blocks hold: the extra
  // channels read as zero instead of reading past the input.
  const auto x = pattern(2 * 17 * 9 * 8, 0.6f);
  std::vector<float> packed(2 * 5 * 9 * 8 * 4, -5.0f), back(2 * 21 * 9 * 8, -5.0f);
  auto to_blocked_static = cpu::build(kernels::nchw_to_nchwc<4>(2_c, 17_c, 9_c, 8_c, ceildiv(17_c, 4_c)));
  auto to_plain_static = cpu::build(kernels::nchwc_to_nchw<4>(2_c, 5_c, 9_c, 8_c, 21_c));
  REQUIRE(to_blocked_static(make_view(x.data(), shape(2_c, 17_c, 9_c, 8_c)), make_view(packed.data(), shape(2_c, 5_c, 9_c, 8_c, 4_c))).ok());
  CHECK(packed == pack_activations(x, 2, 17, 9, 8, 4));
  REQUIRE(to_plain_static(make_view(packed.data(), shape(2_c, 5_c, 9_c, 8_c, 4_c)), make_view(back.data(), shape(2_c, 21_c, 9_c, 8_c))).ok());
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t ch = 0; ch < 21; ++ch)
      for (std::int64_t q = 0; q < 9 * 8; ++q)
        CHECK(back[at((b * 21 + ch) * 72 + q)] == (ch < 17 ? x[at((b * 17 + ch) * 72 + q)] : 0.0f));

  // Weights k x c x r x s -> OIHW{4}i{8}o, and depthwise weights c x 1 x r x s -> OIHW1i{8}o.
  auto pack = cpu::build(kernels::oihw_to_oihwio<4, 8>(dim<"K">, dim<"C">, dim<"R">, dim<"S">, dim<"KB">, dim<"CB">));
  auto pack_static = cpu::build(kernels::oihw_to_oihwio<1, 8>(17_c, 1_c, 3_c, 3_c, 3_c, 1_c));
  for (const auto& kc : {std::pair<std::int64_t, std::int64_t>{3, 17}, {17, 3}, {8, 4}, {1, 1}}) {
    const std::int64_t k = kc.first, c = kc.second;  // not a structured binding: clang 14 cannot capture one
    CAPTURE(k);
    CAPTURE(c);
    const std::int64_t r = 3, s = 2, kb = ceildiv(k, std::int64_t{8}), cb = ceildiv(c, std::int64_t{4});
    const auto wt = pattern(at(k * c * r * s), 0.9f);
    std::vector<float> wp(at(kb * cb * r * s * 4 * 8), -5.0f);
    REQUIRE(pack(make_view(wt.data(), shape(k, c, r, s)), make_view(wp.data(), shape(kb, cb, r, s, 4_c, 8_c))).ok());
    CHECK(wp == pack_weights(wt, k, c, r, s, 4, 8));
  }
  const auto dw = pattern(17 * 9, 0.2f);
  std::vector<float> dwp(3 * 9 * 8, -5.0f);
  REQUIRE(pack_static(make_view(dw.data(), shape(17_c, 1_c, 3_c, 3_c)), make_view(dwp.data(), shape(3_c, 1_c, 3_c, 3_c, 1_c, 8_c))).ok());
  CHECK(dwp == pack_weights(dw, 17, 1, 3, 3, 1, 8));
}

TEST_CASE("conv2d NCHWc, default schedule, dynamic extents: strides, padding, dilation, odd channel counts") {
  const auto plain = dynamic_nchwc_conv<kPlain, 4, 16>();
  const auto strided = dynamic_nchwc_conv<kStrided, 4, 16>();
  const auto dilated = dynamic_nchwc_conv<kDilated, 8, 8>();
  for (std::int64_t c : {1, 3, 17})
    for (std::int64_t k : {3, 17}) {
      check_nchwc_conv<kPlain, 4, 16>(plain, 1, c, 7, 6, k, 3, 3);
      check_nchwc_conv<kStrided, 4, 16>(strided, 2, c, 9, 8, k, 3, 3);
      check_nchwc_conv<kDilated, 8, 8>(dilated, 1, c, 9, 8, k, 3, 2);
    }
  check_nchwc_conv<kPlain, 4, 16>(plain, 2, 17, 1, 1, 5, 1, 1);  // 1x1
}

TEST_CASE("conv2d NCHWc, default schedule, static extents") {
  const auto strided = cpu::build(static_nchwc_conv_expr<kStrided, 2, 17, 9, 8, 17, 3, 3, 8, 8>());
  check_nchwc_conv<kStrided, 8, 8>(strided, 2, 17, 9, 8, 17, 3, 3);
  const auto dilated = cpu::build(static_nchwc_conv_expr<kDilated, 1, 3, 7, 6, 20, 3, 3, 4, 16>());
  check_nchwc_conv<kDilated, 4, 16>(dilated, 1, 3, 7, 6, 20, 3, 3);
}

TEST_CASE("conv2d NCHWc, hand-written schedules with guarded and separate tails") {
  const auto guarded = dynamic_nchwc_conv<kStrided, 4, 16, kGuarded>();
  const auto separate = dynamic_nchwc_conv<kStrided, 4, 16, kSeparate>();
  for (std::int64_t c : {1, 3, 17}) {
    check_nchwc_conv<kStrided, 4, 16>(guarded, 2, c, 9, 11, 17, 3, 3);  // 5 x 6 outputs
    check_nchwc_conv<kStrided, 4, 16>(separate, 2, c, 9, 11, 17, 3, 3);
    check_nchwc_conv<kStrided, 4, 16>(guarded, 1, c, 7, 6, 3, 3, 3);  // 4 x 3 outputs
    check_nchwc_conv<kStrided, 4, 16>(separate, 1, c, 7, 6, 3, 3, 3);
  }
  const auto expr = static_nchwc_conv_expr<kStrided, 2, 17, 9, 11, 17, 3, 3, 4, 16>();
  const auto guarded_static = cpu::build<kGuarded>(expr);
  const auto separate_static = cpu::build<kSeparate>(expr);
  check_nchwc_conv<kStrided, 4, 16>(guarded_static, 2, 17, 9, 11, 17, 3, 3);
  check_nchwc_conv<kStrided, 4, 16>(separate_static, 2, 17, 9, 11, 17, 3, 3);
}

TEST_CASE("depthwise conv2d NCHWc against the NCHW depthwise convolution") {
  const auto conv = cpu::build(kernels::depthwise_conv2d_nchwc<kStrided>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"R">,
                                                                          dim<"S">, dim<"OH">, dim<"OW">, 8_c));
  for (std::int64_t c : {1, 3, 17}) {
    CAPTURE(c);
    const std::int64_t n = 2, h = 9, w = 8, r = 3, s = 3, blocks = ceildiv(c, std::int64_t{8});
    const std::int64_t oh = kernels::conv2d_output_extent(h, r, 2, 1, 1), ow = kernels::conv2d_output_extent(w, s, 2, 1, 1);
    const auto x = pattern(at(n * c * h * w), 0.4f), wt = pattern(at(c * r * s), 0.7f);
    const auto xp = pack_activations(x, n, c, h, w, 8);
    const auto wp = pack_weights(wt, c, 1, r, s, 1, 8);
    std::vector<float> y(at(n * blocks * oh * ow * 8), -5.0f);
    REQUIRE(conv(make_view(xp.data(), shape(n, blocks, h, w, 8_c)), make_view(wp.data(), shape(blocks, 1_c, r, s, 1_c, 8_c)),
                 make_view(y.data(), shape(n, blocks, oh, ow, 8_c)))
                .ok());
    check_blocked_output(y, reference_conv<kStrided>(x, wt, n, c, h, w, c, r, s, true), n, c, oh, ow, 8, r * s);
  }
}

TEST_CASE("conv2d NCHWc end to end: pack, convolve and unpack with kernels") {
  constexpr std::int64_t n = 1, c = 17, h = 7, w = 6, k = 5, r = 3, s = 3;
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, 1, 0, 1), ow = kernels::conv2d_output_extent(w, s, 1, 0, 1);
  auto pack_x = cpu::build(kernels::nchw_to_nchwc<4>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"CB">));
  auto pack_w = cpu::build(kernels::oihw_to_oihwio<4, 16>(dim<"K">, dim<"C">, dim<"R">, dim<"S">, dim<"KB">, dim<"CB">));
  auto unpack = cpu::build(kernels::nchwc_to_nchw<16>(dim<"N">, dim<"KB">, dim<"H">, dim<"W">, dim<"K">));
  const auto conv = dynamic_nchwc_conv<kPlain, 4, 16>();
  const auto x = pattern(at(n * c * h * w), 0.5f), wt = pattern(at(k * c * r * s), 0.6f);
  std::vector<float> xp(at(n * 5 * h * w * 4)), wp(at(5 * r * s * 4 * 16)), yp(at(n * oh * ow * 16)), y(at(n * k * oh * ow));
  REQUIRE(pack_x(make_view(x.data(), shape(n, c, h, w)), make_view(xp.data(), shape(n, 5, h, w, 4_c))).ok());
  REQUIRE(pack_w(make_view(wt.data(), shape(k, c, r, s)), make_view(wp.data(), shape(1, 5, r, s, 4_c, 16_c))).ok());
  REQUIRE(conv(make_view(xp.data(), shape(n, 5, h, w, 4_c)), make_view(wp.data(), shape(1, 5, r, s, 4_c, 16_c)),
               make_view(yp.data(), shape(n, 1, oh, ow, 16_c)))
              .ok());
  REQUIRE(unpack(make_view(yp.data(), shape(n, 1, oh, ow, 16_c)), make_view(y.data(), shape(n, k, oh, ow))).ok());
  const auto ref = reference_conv<kPlain>(x, wt, n, c, h, w, k, r, s, false);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::fabs(double(y[i]) - ref[i]) <= 1e-5 * double(c * r * s + 1));
}

TEST_CASE("conv2d NCHW under the convolution rule with static extents: a whole vectorized row") {
  const auto conv = cpu::build(kernels::conv2d_nchw<kPlain>(1_c, 3_c, 9_c, 40_c, 5_c, 3_c, 3_c, 3_c, 7_c, 38_c));
  const auto x = pattern(3 * 9 * 40, 0.1f), wt = pattern(5 * 3 * 3 * 3, 0.8f);
  std::vector<float> y(5 * 7 * 38, -5.0f);
  REQUIRE(conv(make_view(x.data(), shape(1_c, 3_c, 9_c, 40_c)), make_view(wt.data(), shape(5_c, 3_c, 3_c, 3_c)),
               make_view(y.data(), shape(1_c, 5_c, 7_c, 38_c)))
              .ok());
  const auto ref = reference_conv<kPlain>(x, wt, 1, 3, 9, 40, 5, 3, 3, false);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::fabs(double(y[i]) - ref[i]) <= 1e-5 * 28.0);
}

TEST_CASE("the default convolution rule: conv2d_nchwc vectorizes with the reductions outside") {
  // The position of the loop line `text` (after indentation), or npos.
  auto line = [](const std::string& program, const std::string& text) {
    for (std::size_t at = program.find(text); at != std::string::npos; at = program.find(text, at + 1))
      if (at > 0 && program[at - 1] == ' ') return at;
    return std::string::npos;
  };
  // The loop line that comes next after the loop line `text`, without its indentation.
  auto loop_after = [&](const std::string& program, const std::string& text) {
    const std::size_t from = line(program, text);
    if (from == std::string::npos) return std::string("(no line ") + text + ")";
    const std::size_t next = program.find("for ", from + text.size());
    if (next == std::string::npos) return std::string("(no loop after ") + text + ")";
    return program.substr(next, program.find('\n', next) - next);
  };
  // NCHW: the bounds-checked reads (a lazy if_then_else whose condition holds on an interval
  // of ow) vectorize, so the conv rule applies: n and k fused and in parallel, ow the vector.
  const auto nchw = kernels::conv2d_nchw<kStrided>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">,
                                                   dim<"S">, dim<"OH">, dim<"OW">);
  constexpr auto nchw_schedule = cpu::default_schedule<std::remove_const_t<decltype(nchw)>>();
  const std::string a = tir::print<nchw_schedule>(nchw);
  CAPTURE(a);
  CHECK(line(a, "for n_k in T.parallel(N * K):") == a.find("for "));
  CHECK(a.find("for x.i in T.vectorized(") != std::string::npos);

  // NCHWc: the rows join the parallel loop; the channel block is the vector.
  const auto nchwc = static_nchwc_conv_expr<kPlain, 1, 17, 7, 6, 17, 3, 3, 4, 16>();
  constexpr auto nchwc_schedule = cpu::default_schedule<std::remove_const_t<decltype(nchwc)>>();
  const std::string c = tir::print<nchwc_schedule>(nchwc);
  CAPTURE(c);
  CHECK(line(c, "for n_k_y in T.parallel(10):") == c.find("for "));
  CHECK(loop_after(c, "for n_k_y in T.parallel(10):") == "for x in range(4):");
  CHECK(c.find("Y_local = T.alloc_buffer((16,)") != std::string::npos);
  CHECK(loop_after(c, "for rs in range(3):  # reduction") == "for kb in T.vectorized(16):");
  const auto nchwc_dynamic = kernels::conv2d_nchwc<kPlain>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"KB">, dim<"R">,
                                                           dim<"S">, dim<"OH">, dim<"OW">, 4_c, 16_c);
  constexpr auto nchwc_dynamic_schedule = cpu::default_schedule<std::remove_const_t<decltype(nchwc_dynamic)>>();
  const std::string d = tir::print<nchwc_dynamic_schedule>(nchwc_dynamic);
  CAPTURE(d);
  CHECK(loop_after(d, "for n_k_y in T.parallel(N * KB * OH):") == "for x in range(OW):");
  CHECK(loop_after(d, "for rs in range(S):  # reduction") == "for kb in T.vectorized(16):");

  // A three-axis sum of one tensor is not a convolution: it keeps the plain reduction rule.
  const auto sum = kernels::reduce_axes<kernels::Reduction::sum, kernels::AxisList<1, 2, 3>, true>(
      te::extents(dim<"N">, dim<"C">, dim<"H">, dim<"W">));
  constexpr auto sum_schedule = cpu::default_schedule<std::remove_const_t<decltype(sum)>>();
  const std::string e = tir::print<sum_schedule>(sum);
  CAPTURE(e);
  CHECK(e.find("T.vectorized") == std::string::npos);
  CHECK(e.find("for i0_i1 in T.parallel(N * 1):") != std::string::npos);
}

TEST_CASE("conv2d NCHWc: arguments whose extents disagree with the kernel's are a Status error") {
  const auto fixed = cpu::build(static_nchwc_conv_expr<kPlain, 1, 8, 7, 6, 8, 3, 3, 8, 8>());
  const auto dynamic = dynamic_nchwc_conv<kPlain, 8, 8>();
  std::vector<float> x(2 * 7 * 6 * 8, 1.0f), wt(2 * 2 * 3 * 3 * 8 * 8, 1.0f), y(5 * 4 * 8 * 2, -5.0f);
  // The static kernel was built for one input block, not two.
  Status s = fixed(make_view(x.data(), shape(1, 2, 7, 6, 8)), make_view(wt.data(), shape(1, 1, 3, 3, 8, 8)),
                   make_view(y.data(), shape(1, 1, 5, 4, 8)));
  CHECK(s.code() == StatusCode::shape_mismatch);
  // The weights have two input blocks, the input one.
  s = dynamic(make_view(x.data(), shape(1, 1, 7, 6, 8_c)), make_view(wt.data(), shape(1, 2, 3, 3, 8_c, 8_c)),
              make_view(y.data(), shape(1, 1, 5, 4, 8_c)));
  CHECK(s.code() == StatusCode::shape_mismatch);
  // The input's channel block is 4 where the kernel's is 8.
  s = dynamic(make_view(x.data(), shape(1, 2, 7, 6, 4)), make_view(wt.data(), shape(1, 2, 3, 3, 8_c, 8_c)),
              make_view(y.data(), shape(1, 1, 5, 4, 8_c)));
  CHECK(s.code() == StatusCode::shape_mismatch);
  CHECK(s.message().find("argument X") != std::string::npos);
  // Nothing ran.
  for (float v : y) CHECK(v == -5.0f);

  // An output larger than conv2d_output_extent has windows past the input's edge: their reads
  // are bounds-checked, and the outputs that do exist are still right (8 x 3 x 3 ones).
  std::vector<float> wide(7 * 6 * 8, -5.0f);
  REQUIRE(dynamic(make_view(x.data(), shape(1, 1, 7, 6, 8_c)), make_view(wt.data(), shape(1, 1, 3, 3, 8_c, 8_c)),
                  make_view(wide.data(), shape(1, 1, 7, 6, 8_c)))
              .ok());
  for (std::int64_t oy = 0; oy < 5; ++oy)
    for (std::int64_t ox = 0; ox < 4; ++ox)
      for (std::int64_t f = 0; f < 8; ++f) CHECK(wide[at((oy * 6 + ox) * 8 + f)] == 72.0f);
}
