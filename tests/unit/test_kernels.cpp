// The kernel library under its default CPU schedules, against naive loops: matmul (f32, f16,
// bf16, int8), batched matmul, softmax, log-softmax, layer norm, reductions, transpose,
// conv2d (strides, padding, dilation, groups, depthwise), max/average/global pooling.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/backend/cpu/rules.hpp>
#include <kiln/kernels/conv2d.hpp>
#include <kiln/kernels/layer_norm.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/kernels/pool2d.hpp>
#include <kiln/kernels/reduce.hpp>
#include <kiln/kernels/softmax.hpp>
#include <kiln/kernels/transpose.hpp>
#include <kiln/tir/print.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace kiln;
using te::dim;

namespace {
using kiln::test::at;
using kiln::test::pattern;
template <class T>
std::vector<T> converted(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = T(v[i]);
  return out;
}
} // namespace

TEST_CASE("matmul: f32, f16 and bf16 with f32 accumulation, int8 with i32, static and dynamic extents") {
  ThreadPool pool(2);
  auto dynamic = cpu::build(kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">));
  auto half = cpu::build(kernels::matmul<f16>(dim<"m">, dim<"n">, dim<"k">));
  auto brain = cpu::build(kernels::matmul<bf16>(dim<"m">, dim<"n">, dim<"k">));
  auto quantized = cpu::build(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">));
  for (std::int64_t m : {1, 3, 17})
    for (std::int64_t n : {1, 17, 40})
      for (std::int64_t k : {1, 3, 17, 1023}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        auto a = pattern(at(m * k), 0.1f), b = pattern(at(k * n), 0.2f);
        auto ah = converted<f16>(a), bh = converted<f16>(b);
        auto ab = converted<bf16>(a), bb = converted<bf16>(b);
        std::vector<std::int8_t> ai(a.size()), bi(b.size());
        for (std::size_t i = 0; i < a.size(); ++i) ai[i] = static_cast<std::int8_t>(std::lround(a[i] * 100));
        for (std::size_t i = 0; i < b.size(); ++i) bi[i] = static_cast<std::int8_t>(std::lround(b[i] * 100));
        std::vector<float> c(at(m * n)), ch(c.size()), cb(c.size());
        std::vector<std::int32_t> ci(c.size());
        REQUIRE(dynamic.run(&pool, make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(c.data(), shape(m, n))).ok());
        REQUIRE(half.run(&pool, make_view(ah.data(), shape(m, k)), make_view(bh.data(), shape(k, n)), make_view(ch.data(), shape(m, n))).ok());
        REQUIRE(brain(make_view(ab.data(), shape(m, k)), make_view(bb.data(), shape(k, n)), make_view(cb.data(), shape(m, n))).ok());
        REQUIRE(quantized(make_view(ai.data(), shape(m, k)), make_view(bi.data(), shape(k, n)), make_view(ci.data(), shape(m, n))).ok());
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) {
            double ref = 0, ref_h = 0, ref_b = 0;
            std::int64_t ref_i = 0;
            for (std::int64_t q = 0; q < k; ++q) {
              ref += double(a[at(i * k + q)]) * double(b[at(q * n + j)]);
              ref_h += double(float(ah[at(i * k + q)])) * double(float(bh[at(q * n + j)]));
              ref_b += double(float(ab[at(i * k + q)])) * double(float(bb[at(q * n + j)]));
              ref_i += std::int64_t{ai[at(i * k + q)]} * bi[at(q * n + j)];
            }
            const double tol = 1e-5 * double(k + 1);
            CHECK(std::fabs(c[at(i * n + j)] - ref) <= tol);
            CHECK(std::fabs(ch[at(i * n + j)] - ref_h) <= tol);
            CHECK(std::fabs(cb[at(i * n + j)] - ref_b) <= tol);
            CHECK(ci[at(i * n + j)] == ref_i);
          }
      }
  // Fully static extents.
  auto fixed = cpu::build(kernels::matmul<float>(17_c, 33_c, 65_c));
  auto a = pattern(17 * 65, 0.4f), b = pattern(65 * 33, 0.5f);
  std::vector<float> c(17 * 33);
  REQUIRE(fixed(make_view(a.data(), shape(17_c, 65_c)), make_view(b.data(), shape(65_c, 33_c)), make_view(c.data(), shape(17_c, 33_c))).ok());
  for (int i = 0; i < 17; ++i)
    for (int j = 0; j < 33; ++j) {
      double ref = 0;
      for (int q = 0; q < 65; ++q) ref += double(a[at(i * 65 + q)]) * double(b[at(q * 33 + j)]);
      CHECK(c[at(i * 33 + j)] == doctest::Approx(ref).epsilon(1e-5));
    }
}

TEST_CASE("the default matmul schedule is the tiled, vectorized rule") {
  const auto mm = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  constexpr auto s = cpu::default_schedule<std::remove_const_t<decltype(mm)>>();
  const std::string text = tir::print<s>(mm);
  CHECK(text.find("for i.o in T.parallel(T.ceildiv(m, 4)):") != std::string::npos);
  CHECK(text.find("for k in range(k):  # reduction") != std::string::npos);
  CHECK(text.find("for i.i in T.unroll(4):") != std::string::npos);
  CHECK(text.find("in T.vectorized(") != std::string::npos);
}

TEST_CASE("batched matmul") {
  auto kernel = cpu::build(kernels::batch_matmul<float>(dim<"b">, dim<"m">, dim<"n">, dim<"k">));
  const std::int64_t bs = 3, m = 5, n = 17, k = 9;
  auto a = pattern(at(bs * m * k), 0.1f), b = pattern(at(bs * k * n), 0.3f);
  std::vector<float> c(at(bs * m * n));
  REQUIRE(kernel(make_view(a.data(), shape(bs, m, k)), make_view(b.data(), shape(bs, k, n)), make_view(c.data(), shape(bs, m, n))).ok());
  for (std::int64_t p = 0; p < bs; ++p)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double ref = 0;
        for (std::int64_t q = 0; q < k; ++q) ref += double(a[at((p * m + i) * k + q)]) * double(b[at((p * k + q) * n + j)]);
        CHECK(c[at((p * m + i) * n + j)] == doctest::Approx(ref).epsilon(1e-5));
      }
}

TEST_CASE("softmax and log-softmax over rows") {
  auto soft = cpu::build(kernels::softmax(dim<"rows">, dim<"cols">));
  auto logsoft = cpu::build(kernels::log_softmax(dim<"rows">, dim<"cols">));
  for (std::int64_t rows : {1, 3})
    for (std::int64_t cols : {1, 17, 1023}) {
      auto x = pattern(at(rows * cols), 0.2f, 30.0f);  // large values: the max shift matters
      std::vector<float> y(x.size()), ly(x.size());
      REQUIRE(soft(make_view(x.data(), shape(rows, cols)), make_view(y.data(), shape(rows, cols))).ok());
      REQUIRE(logsoft(make_view(x.data(), shape(rows, cols)), make_view(ly.data(), shape(rows, cols))).ok());
      for (std::int64_t i = 0; i < rows; ++i) {
        double hi = -INFINITY, sum = 0;
        for (std::int64_t j = 0; j < cols; ++j) hi = std::max(hi, double(x[at(i * cols + j)]));
        for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(double(x[at(i * cols + j)]) - hi);
        for (std::int64_t j = 0; j < cols; ++j) {
          const double v = double(x[at(i * cols + j)]) - hi;
          CHECK(double(y[at(i * cols + j)]) == doctest::Approx(std::exp(v) / sum).epsilon(1e-5));
          CHECK(double(ly[at(i * cols + j)]) == doctest::Approx(v - std::log(sum)).epsilon(1e-5));
        }
      }
    }
}

TEST_CASE("layer norm over rows with scale and shift") {
  auto kernel = cpu::build(kernels::layer_norm(dim<"rows">, dim<"cols">, 1e-5f));
  for (std::int64_t rows : {1, 4})
    for (std::int64_t cols : {1, 3, 256}) {
      auto x = pattern(at(rows * cols), 0.3f, 2.0f), gamma = pattern(at(cols), 0.9f), beta = pattern(at(cols), 1.7f);
      std::vector<float> y(x.size());
      REQUIRE(kernel(make_view(x.data(), shape(rows, cols)), make_view(gamma.data(), shape(cols)),
                     make_view(beta.data(), shape(cols)), make_view(y.data(), shape(rows, cols)))
                  .ok());
      for (std::int64_t i = 0; i < rows; ++i) {
        double mean = 0, var = 0;
        for (std::int64_t j = 0; j < cols; ++j) mean += x[at(i * cols + j)];
        mean /= double(cols);
        for (std::int64_t j = 0; j < cols; ++j) var += (x[at(i * cols + j)] - mean) * (x[at(i * cols + j)] - mean);
        var /= double(cols);
        for (std::int64_t j = 0; j < cols; ++j) {
          const double ref = (x[at(i * cols + j)] - mean) / std::sqrt(var + 1e-5) * gamma[at(j)] + beta[at(j)];
          CHECK(double(y[at(i * cols + j)]) == doctest::Approx(ref).epsilon(1e-4));
        }
      }
    }
}

TEST_CASE("reductions over the last axis and transpose") {
  using kernels::Reduction;
  auto sum = cpu::build(kernels::reduce_last_axis<Reduction::sum>(dim<"r">, dim<"c">));
  auto mean = cpu::build(kernels::reduce_last_axis<Reduction::mean>(dim<"r">, dim<"c">));
  auto hi = cpu::build(kernels::reduce_last_axis<Reduction::max>(dim<"r">, dim<"c">));
  auto lo = cpu::build(kernels::reduce_last_axis<Reduction::min>(dim<"r">, dim<"c">));
  auto prod = cpu::build(kernels::reduce_last_axis<Reduction::prod>(dim<"r">, dim<"c">));
  auto transpose = cpu::build(kernels::transpose<std::int32_t>(dim<"r">, dim<"c">));
  for (std::int64_t r : {1, 17})
    for (std::int64_t c : {1, 3, 1023}) {
      auto x = pattern(at(r * c), 0.6f);
      for (auto& v : x) v = 1.0f + v * 0.001f;  // keeps the product finite
      std::vector<float> ys(at(r)), ym(at(r)), yh(at(r)), yl(at(r)), yp(at(r));
      auto xv = make_view(x.data(), shape(r, c));
      REQUIRE(sum(xv, make_view(ys.data(), shape(r))).ok());
      REQUIRE(mean(xv, make_view(ym.data(), shape(r))).ok());
      REQUIRE(hi(xv, make_view(yh.data(), shape(r))).ok());
      REQUIRE(lo(xv, make_view(yl.data(), shape(r))).ok());
      REQUIRE(prod(xv, make_view(yp.data(), shape(r))).ok());
      for (std::int64_t i = 0; i < r; ++i) {
        double s = 0, p = 1;
        float h = -INFINITY, l = INFINITY;
        for (std::int64_t j = 0; j < c; ++j) {
          s += xv(i, j);
          p *= xv(i, j);
          h = std::max(h, xv(i, j));
          l = std::min(l, xv(i, j));
        }
        CHECK(ys[at(i)] == doctest::Approx(s).epsilon(1e-5));
        CHECK(ym[at(i)] == doctest::Approx(s / double(c)).epsilon(1e-5));
        CHECK(yh[at(i)] == h);
        CHECK(yl[at(i)] == l);
        CHECK(yp[at(i)] == doctest::Approx(p).epsilon(1e-4));
      }
      std::vector<std::int32_t> xi(at(r * c)), yt(at(r * c));
      for (std::size_t q = 0; q < xi.size(); ++q) xi[q] = static_cast<std::int32_t>(q * 7);
      REQUIRE(transpose(make_view(xi.data(), shape(r, c)), make_view(yt.data(), shape(c, r))).ok());
      for (std::int64_t i = 0; i < r; ++i)
        for (std::int64_t j = 0; j < c; ++j) CHECK(yt[at(j * r + i)] == xi[at(i * c + j)]);
    }
}

namespace {
// Naive NCHW convolution; out-of-range input reads count as zero.
template <kernels::Conv2dParams P>
void check_conv(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t r, std::int64_t s) {
  CAPTURE(c);
  CAPTURE(h);
  CAPTURE(k);
  CAPTURE(r);
  const std::int64_t cg = c / P.groups;
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, P.stride_h, P.pad_h, P.dilation_h);
  const std::int64_t ow = kernels::conv2d_output_extent(w, s, P.stride_w, P.pad_w, P.dilation_w);
  auto x = pattern(at(n * c * h * w), 0.1f), wt = pattern(at(k * cg * r * s), 0.8f);
  std::vector<float> y(at(n * k * oh * ow), -5.0f);
  auto kernel = cpu::build(kernels::conv2d_nchw<P>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">,
                                                   dim<"S">, dim<"OH">, dim<"OW">));
  ThreadPool pool(2);
  REQUIRE(kernel.run(&pool, make_view(x.data(), shape(n, c, h, w)), make_view(wt.data(), shape(k, cg, r, s)),
                     make_view(y.data(), shape(n, k, oh, ow)))
              .ok());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t f = 0; f < k; ++f)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          double ref = 0;
          const std::int64_t group = f / (k / P.groups);
          for (std::int64_t q = 0; q < cg; ++q)
            for (std::int64_t ky = 0; ky < r; ++ky)
              for (std::int64_t kx = 0; kx < s; ++kx) {
                const std::int64_t iy = oy * P.stride_h + ky * P.dilation_h - P.pad_h;
                const std::int64_t ix = ox * P.stride_w + kx * P.dilation_w - P.pad_w;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                ref += double(x[at(((b * c + group * cg + q) * h + iy) * w + ix)]) * double(wt[at(((f * cg + q) * r + ky) * s + kx)]);
              }
          CHECK(y[at(((b * k + f) * oh + oy) * ow + ox)] == doctest::Approx(ref).epsilon(1e-5));
        }
}
} // namespace

TEST_CASE("conv2d NCHW: strides, padding, dilation, groups and depthwise") {
  check_conv<kernels::Conv2dParams{}>(1, 3, 7, 6, 4, 3, 3);
  check_conv<kernels::Conv2dParams{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}>(2, 3, 9, 8, 5, 3, 3);
  check_conv<kernels::Conv2dParams{.pad_h = 2, .pad_w = 1, .dilation_h = 2, .dilation_w = 3}>(1, 2, 8, 9, 3, 3, 2);
  check_conv<kernels::Conv2dParams{.pad_h = 1, .pad_w = 1, .groups = 2}>(1, 4, 5, 5, 6, 3, 3);
  check_conv<kernels::Conv2dParams{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 8}>(1, 8, 7, 7, 8, 3, 3);
  check_conv<kernels::Conv2dParams{}>(1, 17, 1, 1, 3, 1, 1);  // a 1x1 convolution
}

TEST_CASE("max, average and global average pooling") {
  constexpr kernels::Pool2dParams p{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  constexpr kernels::Pool2dParams p_incl{.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                                         .count_include_pad = true};
  auto max_pool = cpu::build(kernels::max_pool2d_nchw<p>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">));
  auto avg_pool = cpu::build(kernels::avg_pool2d_nchw<p>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">));
  auto avg_incl = cpu::build(kernels::avg_pool2d_nchw<p_incl>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">));
  auto global = cpu::build(kernels::global_avg_pool_nchw(dim<"N">, dim<"C">, dim<"H">, dim<"W">));
  const std::int64_t n = 2, c = 3, h = 7, w = 6;
  auto x = pattern(at(n * c * h * w), 0.4f);
  auto xv = make_view(x.data(), shape(n, c, h, w));
  auto check = [&](auto& kernel, const kernels::Pool2dParams& q, bool is_max) {
    const std::int64_t oh = kernels::conv2d_output_extent(h, q.kernel_h, q.stride_h, q.pad_h, 1);
    const std::int64_t ow = kernels::conv2d_output_extent(w, q.kernel_w, q.stride_w, q.pad_w, 1);
    std::vector<float> y(at(n * c * oh * ow));
    REQUIRE(kernel(xv, make_view(y.data(), shape(n, c, oh, ow))).ok());
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t oy = 0; oy < oh; ++oy)
          for (std::int64_t ox = 0; ox < ow; ++ox) {
            double best = -INFINITY, sum = 0;
            std::int64_t count = 0;
            for (std::int64_t ky = 0; ky < q.kernel_h; ++ky)
              for (std::int64_t kx = 0; kx < q.kernel_w; ++kx) {
                const std::int64_t iy = oy * q.stride_h + ky - q.pad_h, ix = ox * q.stride_w + kx - q.pad_w;
                const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                if (q.count_include_pad && iy < h + q.pad_h && ix < w + q.pad_w) ++count;
                if (!inside) continue;
                best = std::max(best, double(xv(b, ch, iy, ix)));
                sum += xv(b, ch, iy, ix);
                if (!q.count_include_pad) ++count;
              }
            const double ref = is_max ? best : sum / double(count);
            CHECK(y[at(((b * c + ch) * oh + oy) * ow + ox)] == doctest::Approx(ref).epsilon(1e-5));
          }
  };
  check(max_pool, p, true);
  check(avg_pool, p, false);
  check(avg_incl, p_incl, false);
  std::vector<float> g(at(n * c));
  REQUIRE(global(xv, make_view(g.data(), shape(n, c))).ok());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch) {
      double sum = 0;
      for (std::int64_t iy = 0; iy < h; ++iy)
        for (std::int64_t ix = 0; ix < w; ++ix) sum += xv(b, ch, iy, ix);
      CHECK(g[at(b * c + ch)] == doctest::Approx(sum / double(h * w)).epsilon(1e-5));
    }
}

#include <kiln/kernels/elementwise.hpp>
#include <kiln/kernels/reduce_axes.hpp>

TEST_CASE("elementwise with NumPy broadcasting across ranks") {
  // A: [N, 1, W] against B: [H, 1] -> [N, H, W]
  auto add = cpu::build(kernels::broadcast_binary(te::extents(dim<"N">, 1_c, dim<"W">), te::extents(dim<"H">, 1_c),
                                                  [](auto a, auto b) { return a + b * 2.0f; }));
  const std::int64_t n = 3, h = 5, w = 17;
  auto a = pattern(at(n * w), 0.1f), b = pattern(at(h), 0.2f);
  std::vector<float> y(at(n * h * w));
  REQUIRE(add(make_view(a.data(), shape(n, 1_c, w)), make_view(b.data(), shape(h, 1_c)), make_view(y.data(), shape(n, h, w))).ok());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < h; ++j)
      for (std::int64_t k = 0; k < w; ++k) CHECK(y[at((i * h + j) * w + k)] == a[at(i * w + k)] + b[at(j)] * 2.0f);
  // Same shapes, an integer type and a comparison producing a select.
  auto relu_diff = cpu::build(kernels::broadcast_binary<std::int32_t>(te::extents(dim<"N">), te::extents(dim<"N">),
                                                                      [](auto p, auto q) { return te::max(p - q, 0); }));
  std::vector<std::int32_t> p(1023), q(1023), r(1023);
  for (int i = 0; i < 1023; ++i) {
    p[at(i)] = (i * 37) % 101;
    q[at(i)] = (i * 53) % 89;
  }
  REQUIRE(relu_diff(make_view(p.data(), shape(std::int64_t{1023})), make_view(q.data(), shape(std::int64_t{1023})),
                    make_view(r.data(), shape(std::int64_t{1023})))
              .ok());
  for (int i = 0; i < 1023; ++i) CHECK(r[at(i)] == std::max(p[at(i)] - q[at(i)], 0));
  auto sig = cpu::build(kernels::unary(te::extents(dim<"a">, dim<"b">, 3_c), [](auto x) { return te::sigmoid(x); }));
  auto xs = pattern(2 * 7 * 3, 0.3f, 4.0f);
  std::vector<float> ys(xs.size());
  REQUIRE(sig(make_view(xs.data(), shape(std::int64_t{2}, std::int64_t{7}, 3_c)), make_view(ys.data(), shape(std::int64_t{2}, std::int64_t{7}, 3_c))).ok());
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(ys[i] == doctest::Approx(1.0 / (1.0 + std::exp(-double(xs[i])))).epsilon(1e-6));
}

TEST_CASE("reductions over any axes, with and without kept dimensions") {
  using kernels::AxisList;
  using kernels::Reduction;
  const std::int64_t d0 = 3, d1 = 4, d2 = 5, d3 = 2;
  auto x = pattern(at(d0 * d1 * d2 * d3), 0.7f);
  auto xv = make_view(x.data(), shape(d0, d1, d2, d3));
  const auto ext = te::extents(dim<"a">, dim<"b">, dim<"c">, dim<"d">);
  // Sum over axes 0 and 2, kept as extent 1: [1, d1, 1, d3].
  auto sum02 = cpu::build(kernels::reduce_axes<Reduction::sum, AxisList<0, 2>, true>(ext));
  std::vector<float> s(at(d1 * d3));
  REQUIRE(sum02(xv, make_view(s.data(), shape(1_c, d1, 1_c, d3))).ok());
  // Max over axis 1, dropped: [d0, d2, d3].
  auto max1 = cpu::build(kernels::reduce_axes<Reduction::max, AxisList<1>, false>(ext));
  std::vector<float> mx(at(d0 * d2 * d3));
  REQUIRE(max1(xv, make_view(mx.data(), shape(d0, d2, d3))).ok());
  // Mean over the last three axes.
  auto mean123 = cpu::build(kernels::reduce_axes<Reduction::mean, AxisList<1, 2, 3>, false>(ext));
  std::vector<float> mean(at(d0));
  REQUIRE(mean123(xv, make_view(mean.data(), shape(d0))).ok());
  for (std::int64_t j = 0; j < d1; ++j)
    for (std::int64_t l = 0; l < d3; ++l) {
      double ref = 0;
      for (std::int64_t i = 0; i < d0; ++i)
        for (std::int64_t k = 0; k < d2; ++k) ref += xv(i, j, k, l);
      CHECK(s[at(j * d3 + l)] == doctest::Approx(ref).epsilon(1e-5));
    }
  for (std::int64_t i = 0; i < d0; ++i)
    for (std::int64_t k = 0; k < d2; ++k)
      for (std::int64_t l = 0; l < d3; ++l) {
        float ref = -INFINITY;
        for (std::int64_t j = 0; j < d1; ++j) ref = std::max(ref, xv(i, j, k, l));
        CHECK(mx[at((i * d2 + k) * d3 + l)] == ref);
      }
  for (std::int64_t i = 0; i < d0; ++i) {
    double ref = 0;
    for (std::int64_t j = 0; j < d1; ++j)
      for (std::int64_t k = 0; k < d2; ++k)
        for (std::int64_t l = 0; l < d3; ++l) ref += xv(i, j, k, l);
    CHECK(mean[at(i)] == doctest::Approx(ref / double(d1 * d2 * d3)).epsilon(1e-5));
  }
}
