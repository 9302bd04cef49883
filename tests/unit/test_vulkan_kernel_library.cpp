// Every kernel of the kernel library (kiln/kernels/) on a Vulkan device under the default GPU
// schedule, against the same kernel on the CPU backend, with named extents at several sizes
// and with static extents. Kernels with reductions before their last stage (softmax, layer
// norm) run as several dispatches.
#include <doctest/doctest.h>

#include "test_data.hpp"
#include "vulkan_device.hpp"

#include <kiln/backend/cpu/rules.hpp>
#include <kiln/backend/vulkan/kernel.hpp>
#include <kiln/kernels/conv2d.hpp>
#include <kiln/kernels/conv2d_nchwc.hpp>
#include <kiln/kernels/elementwise.hpp>
#include <kiln/kernels/layer_norm.hpp>
#include <kiln/kernels/layout.hpp>
#include <kiln/kernels/matmul.hpp>
#include <kiln/kernels/pool2d.hpp>
#include <kiln/kernels/reduce.hpp>
#include <kiln/kernels/reduce_axes.hpp>
#include <kiln/kernels/softmax.hpp>
#include <kiln/kernels/transpose.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
using kiln::test::at;
using kiln::test::pattern;
using te::dim;

namespace {

// Runs `compute` on the CPU and on the device through `call(kernel, output)` (the same views
// for both) and compares the outputs element by element.
template <class T = float, class Compute, class Call>
void check_same_as_cpu(const Compute& compute, std::size_t outputs, Call&& call, double tolerance = 1e-5) {
  auto on_cpu = cpu::build(compute);
  auto on_gpu = vulkan::build(kiln::test::shaders::device(), compute);
  REQUIRE(on_gpu.ok());
  std::vector<T> want(outputs, T(-7)), got(outputs, T(-9));
  REQUIRE(call(on_cpu, want).ok());
  const Status s = call(*on_gpu, got);
  REQUIRE_MESSAGE(s.ok(), s.message());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < outputs; ++i) {
    const double a = static_cast<double>(got[i]), b = static_cast<double>(want[i]);
    if (!(std::abs(a - b) <= tolerance * std::max(1.0, std::abs(b)))) {
      if (wrong++ < 5) MESSAGE("element ", i, ": device ", a, ", cpu ", b);
    }
  }
  CHECK(wrong == 0);
}

} // namespace

TEST_CASE("matmul and batched matmul, named and static extents") {
  const auto mm = kernels::matmul<float>(dim<"m">, dim<"n">, dim<"k">);
  for (auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {5, 17, 9}, {33, 70, 64}}) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    const auto a = pattern(at(m * k), 0.1f), b = pattern(at(k * n), 0.3f);
    check_same_as_cpu(mm, at(m * n), [&](auto& kernel, auto& c) {
      return kernel(make_view(a.data(), shape(m, k)), make_view(b.data(), shape(k, n)), make_view(c.data(), shape(m, n)));
    });
  }
  const auto fixed = kernels::matmul<float>(17_c, 33_c, 65_c);
  const auto a = pattern(17 * 65, 0.4f), b = pattern(65 * 33, 0.8f);
  check_same_as_cpu(fixed, 17 * 33, [&](auto& kernel, auto& c) {
    return kernel(make_view(a.data(), shape(17_c, 65_c)), make_view(b.data(), shape(65_c, 33_c)), make_view(c.data(), shape(17_c, 33_c)));
  });
  const std::int64_t bs = 3, m = 5, n = 17, k = 9;
  const auto ba = pattern(at(bs * m * k), 0.1f), bb = pattern(at(bs * k * n), 0.3f);
  check_same_as_cpu(kernels::batch_matmul<float>(dim<"b">, dim<"m">, dim<"n">, dim<"k">), at(bs * m * n), [&](auto& kernel, auto& c) {
    return kernel(make_view(ba.data(), shape(bs, m, k)), make_view(bb.data(), shape(bs, k, n)), make_view(c.data(), shape(bs, m, n)));
  });
}

TEST_CASE("softmax, log-softmax and layer norm run as several dispatches") {
  const auto soft = kernels::softmax(dim<"rows">, dim<"cols">);
  static_assert(vulkan::gpu_stages_t<std::remove_cvref_t<decltype(soft)>>::size == 3);  // max, sum, normalize
  for (std::int64_t rows : {1, 3, 70})
    for (std::int64_t cols : {1, 17, 1023}) {
      CAPTURE(rows);
      CAPTURE(cols);
      const auto x = pattern(at(rows * cols), 0.2f, 30.0f);
      auto call = [&](auto& kernel, auto& y) {
        return kernel(make_view(x.data(), shape(rows, cols)), make_view(y.data(), shape(rows, cols)));
      };
      check_same_as_cpu(soft, at(rows * cols), call);
      check_same_as_cpu(kernels::log_softmax(dim<"rows">, dim<"cols">), at(rows * cols), call);
      const auto gamma = pattern(at(cols), 0.5f), beta = pattern(at(cols), 1.5f);
      check_same_as_cpu(kernels::layer_norm(dim<"rows">, dim<"cols">, 1e-5f), at(rows * cols), [&](auto& kernel, auto& y) {
        return kernel(make_view(x.data(), shape(rows, cols)), make_view(gamma.data(), shape(cols)), make_view(beta.data(), shape(cols)),
                      make_view(y.data(), shape(rows, cols)));
      }, 1e-4);
    }
}

TEST_CASE("reductions over the last axis and over any axes; transpose") {
  using kernels::AxisList;
  using kernels::Reduction;
  const std::int64_t r = 7, c = 130;
  const auto x = pattern(at(r * c), 0.9f, 1.1f);
  auto call = [&](auto& kernel, auto& y) { return kernel(make_view(x.data(), shape(r, c)), make_view(y.data(), shape(r))); };
  check_same_as_cpu(kernels::reduce_last_axis<Reduction::sum>(dim<"r">, dim<"c">), at(r), call);
  check_same_as_cpu(kernels::reduce_last_axis<Reduction::mean>(dim<"r">, dim<"c">), at(r), call);
  check_same_as_cpu(kernels::reduce_last_axis<Reduction::max>(dim<"r">, dim<"c">), at(r), call);
  check_same_as_cpu(kernels::reduce_last_axis<Reduction::min>(dim<"r">, dim<"c">), at(r), call);
  check_same_as_cpu(kernels::reduce_last_axis<Reduction::prod>(dim<"r">, dim<"c">), at(r), call, 1e-4);

  const std::int64_t d0 = 3, d1 = 4, d2 = 5, d3 = 2;
  const auto y = pattern(at(d0 * d1 * d2 * d3), 0.7f);
  const auto ext = te::extents(dim<"a">, dim<"b">, dim<"c">, dim<"d">);
  auto in = [&] { return make_view(y.data(), shape(d0, d1, d2, d3)); };
  check_same_as_cpu(kernels::reduce_axes<Reduction::sum, AxisList<0, 2>, true>(ext), at(d1 * d3),
                    [&](auto& kernel, auto& out) { return kernel(in(), make_view(out.data(), shape(1_c, d1, 1_c, d3))); });
  check_same_as_cpu(kernels::reduce_axes<Reduction::max, AxisList<1>, false>(ext), at(d0 * d2 * d3),
                    [&](auto& kernel, auto& out) { return kernel(in(), make_view(out.data(), shape(d0, d2, d3))); });
  check_same_as_cpu(kernels::reduce_axes<Reduction::mean, AxisList<1, 2, 3>, false>(ext), at(d0),
                    [&](auto& kernel, auto& out) { return kernel(in(), make_view(out.data(), shape(d0))); });

  std::vector<std::int32_t> ints(at(r * c));
  for (std::size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<std::int32_t>(i * 7919 % 1000) - 500;
  check_same_as_cpu<std::int32_t>(kernels::transpose<std::int32_t>(dim<"r">, dim<"c">), at(r * c), [&](auto& kernel, auto& out) {
    return kernel(make_view(ints.data(), shape(r, c)), make_view(out.data(), shape(c, r)));
  });
}

TEST_CASE("elementwise with broadcasting, float and integer") {
  const std::int64_t n = 3, h = 5, w = 17;
  const auto a = pattern(at(n * w), 0.1f), b = pattern(at(h), 0.2f);
  check_same_as_cpu(kernels::broadcast_binary(te::extents(dim<"N">, 1_c, dim<"W">), te::extents(dim<"H">, 1_c),
                                              [](auto p, auto q) { return p + q * 2.0f; }),
                    at(n * h * w), [&](auto& kernel, auto& y) {
                      return kernel(make_view(a.data(), shape(n, 1_c, w)), make_view(b.data(), shape(h, 1_c)), make_view(y.data(), shape(n, h, w)));
                    });
  std::vector<std::int32_t> p(1023), q(1023);
  for (int i = 0; i < 1023; ++i) {
    p[at(i)] = (i * 37) % 101;
    q[at(i)] = (i * 53) % 89;
  }
  check_same_as_cpu<std::int32_t>(
      kernels::broadcast_binary<std::int32_t>(te::extents(dim<"N">), te::extents(dim<"N">), [](auto u, auto v) { return te::max(u - v, 0); }),
      1023, [&](auto& kernel, auto& r) {
        return kernel(make_view(p.data(), shape(std::int64_t{1023})), make_view(q.data(), shape(std::int64_t{1023})),
                      make_view(r.data(), shape(std::int64_t{1023})));
      });
  const auto xs = pattern(2 * 7 * 3, 0.3f, 4.0f);
  check_same_as_cpu(kernels::unary(te::extents(dim<"a">, dim<"b">, 3_c), [](auto x) { return te::sigmoid(x); }), xs.size(),
                    [&](auto& kernel, auto& ys) {
                      return kernel(make_view(xs.data(), shape(std::int64_t{2}, std::int64_t{7}, 3_c)),
                                    make_view(ys.data(), shape(std::int64_t{2}, std::int64_t{7}, 3_c)));
                    });
}

namespace {
template <kernels::Conv2dParams P>
void check_conv(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t r, std::int64_t s) {
  CAPTURE(n);
  CAPTURE(c);
  CAPTURE(h);
  CAPTURE(k);
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, P.stride_h, P.pad_h, P.dilation_h);
  const std::int64_t ow = kernels::conv2d_output_extent(w, s, P.stride_w, P.pad_w, P.dilation_w);
  const std::int64_t cg = c / P.groups;
  const auto x = pattern(at(n * c * h * w), 0.3f), wt = pattern(at(k * cg * r * s), 0.6f);
  check_same_as_cpu(kernels::conv2d_nchw<P>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"K">, dim<"CG">, dim<"R">, dim<"S">, dim<"OH">, dim<"OW">),
                    at(n * k * oh * ow), [&](auto& kernel, auto& y) {
                      return kernel(make_view(x.data(), shape(n, c, h, w)), make_view(wt.data(), shape(k, cg, r, s)),
                                    make_view(y.data(), shape(n, k, oh, ow)));
                    });
}
} // namespace

TEST_CASE("conv2d in NCHW: strides, padding, dilation, groups, depthwise") {
  check_conv<kernels::Conv2dParams{}>(1, 3, 7, 6, 4, 3, 3);
  check_conv<kernels::Conv2dParams{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}>(2, 3, 9, 8, 5, 3, 3);
  check_conv<kernels::Conv2dParams{.pad_h = 2, .pad_w = 1, .dilation_h = 2, .dilation_w = 3}>(1, 2, 8, 9, 3, 3, 2);
  check_conv<kernels::Conv2dParams{.pad_h = 1, .pad_w = 1, .groups = 2}>(1, 4, 5, 5, 6, 3, 3);
  check_conv<kernels::Conv2dParams{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 8}>(1, 8, 7, 7, 8, 3, 3);
}

TEST_CASE("pooling: max, average with and without the padding counted, global average") {
  constexpr kernels::Pool2dParams p{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  constexpr kernels::Pool2dParams p_incl{.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                                         .count_include_pad = true};
  const std::int64_t n = 2, c = 3, h = 9, w = 8;
  const auto x = pattern(at(n * c * h * w), 0.4f);
  auto pooled = [&](const kernels::Pool2dParams& q) {
    const std::int64_t oh = kernels::conv2d_output_extent(h, q.kernel_h, q.stride_h, q.pad_h, 1);
    const std::int64_t ow = kernels::conv2d_output_extent(w, q.kernel_w, q.stride_w, q.pad_w, 1);
    return std::pair{oh, ow};
  };
  {
    const auto [oh, ow] = pooled(p);
    auto call = [&](auto& kernel, auto& y) {
      return kernel(make_view(x.data(), shape(n, c, h, w)), make_view(y.data(), shape(n, c, oh, ow)));
    };
    check_same_as_cpu(kernels::max_pool2d_nchw<p>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">), at(n * c * oh * ow), call);
    check_same_as_cpu(kernels::avg_pool2d_nchw<p>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">), at(n * c * oh * ow), call);
  }
  {
    const auto [oh, ow] = pooled(p_incl);
    check_same_as_cpu(kernels::avg_pool2d_nchw<p_incl>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"OH">, dim<"OW">), at(n * c * oh * ow),
                      [&](auto& kernel, auto& y) {
                        return kernel(make_view(x.data(), shape(n, c, h, w)), make_view(y.data(), shape(n, c, oh, ow)));
                      });
  }
  check_same_as_cpu(kernels::global_avg_pool_nchw(dim<"N">, dim<"C">, dim<"H">, dim<"W">), at(n * c), [&](auto& kernel, auto& y) {
    return kernel(make_view(x.data(), shape(n, c, h, w)), make_view(y.data(), shape(n, c)));
  });
}

TEST_CASE("the blocked layout: transforms both ways, packed weights, blocked and depthwise convolutions") {
  const std::int64_t n = 1, c = 5, h = 6, w = 7, k = 6, r = 3, s = 3;
  constexpr std::int64_t cb = 4, kb = 4;
  const std::int64_t c_blocks = (c + cb - 1) / cb, k_blocks = (k + kb - 1) / kb;
  const auto x = pattern(at(n * c * h * w), 0.2f);
  check_same_as_cpu(kernels::nchw_to_nchwc<cb>(dim<"N">, dim<"C">, dim<"H">, dim<"W">, dim<"CB">), at(n * c_blocks * h * w * cb),
                    [&](auto& kernel, auto& y) {
                      return kernel(make_view(x.data(), shape(n, c, h, w)), make_view(y.data(), shape(n, c_blocks, h, w, Int<cb>{})));
                    });
  const auto blocked = pattern(at(n * c_blocks * h * w * cb), 0.5f);
  check_same_as_cpu(kernels::nchwc_to_nchw<cb>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"C">), at(n * c * h * w),
                    [&](auto& kernel, auto& y) {
                      return kernel(make_view(blocked.data(), shape(n, c_blocks, h, w, Int<cb>{})), make_view(y.data(), shape(n, c, h, w)));
                    });
  const auto weights = pattern(at(k * c * r * s), 0.9f);
  check_same_as_cpu(kernels::oihw_to_oihwio<cb, kb>(dim<"K">, dim<"C">, dim<"R">, dim<"S">, dim<"KB">, dim<"CB">),
                    at(k_blocks * c_blocks * r * s * cb * kb), [&](auto& kernel, auto& y) {
                      return kernel(make_view(weights.data(), shape(k, c, r, s)),
                                    make_view(y.data(), shape(k_blocks, c_blocks, r, s, Int<cb>{}, Int<kb>{})));
                    });
  constexpr kernels::Conv2dParams params{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  const std::int64_t oh = kernels::conv2d_output_extent(h, r, 2, 1, 1), ow = kernels::conv2d_output_extent(w, s, 1, 1, 1);
  const auto packed = pattern(at(k_blocks * c_blocks * r * s * cb * kb), 0.1f);
  check_same_as_cpu(kernels::conv2d_nchwc<params>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"KB">, dim<"R">, dim<"S">, dim<"OH">,
                                                  dim<"OW">, Int<cb>{}, Int<kb>{}),
                    at(n * k_blocks * oh * ow * kb), [&](auto& kernel, auto& y) {
                      return kernel(make_view(blocked.data(), shape(n, c_blocks, h, w, Int<cb>{})),
                                    make_view(packed.data(), shape(k_blocks, c_blocks, r, s, Int<cb>{}, Int<kb>{})),
                                    make_view(y.data(), shape(n, k_blocks, oh, ow, Int<kb>{})));
                    });
  const auto depthwise = pattern(at(c_blocks * r * s * cb), 0.7f);
  check_same_as_cpu(kernels::depthwise_conv2d_nchwc<params>(dim<"N">, dim<"CB">, dim<"H">, dim<"W">, dim<"R">, dim<"S">, dim<"OH">, dim<"OW">,
                                                            Int<cb>{}),
                    at(n * c_blocks * oh * ow * cb), [&](auto& kernel, auto& y) {
                      return kernel(make_view(blocked.data(), shape(n, c_blocks, h, w, Int<cb>{})),
                                    make_view(depthwise.data(), shape(c_blocks, 1_c, r, s, 1_c, Int<cb>{})),
                                    make_view(y.data(), shape(n, c_blocks, oh, ow, Int<cb>{})));
                    });
}

TEST_CASE("narrow element types: f16 and int8 matmuls, uint8 elementwise, f16 outputs") {
  for (auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {3, 17, 40}, {17, 40, 1023}}) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    const auto a = pattern(at(m * k), 0.1f), b = pattern(at(k * n), 0.2f);
    std::vector<f16> ah(a.size()), bh(b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ah[i] = f16(a[i]);
    for (std::size_t i = 0; i < b.size(); ++i) bh[i] = f16(b[i]);
    check_same_as_cpu(kernels::matmul<f16>(dim<"m">, dim<"n">, dim<"k">), at(m * n), [&](auto& kernel, auto& c) {
      return kernel(make_view(ah.data(), shape(m, k)), make_view(bh.data(), shape(k, n)), make_view(c.data(), shape(m, n)));
    });
    std::vector<std::int8_t> ai(a.size()), bi(b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ai[i] = static_cast<std::int8_t>(std::lround(a[i] * 100));
    for (std::size_t i = 0; i < b.size(); ++i) bi[i] = static_cast<std::int8_t>(std::lround(b[i] * 100));
    check_same_as_cpu<std::int32_t>(kernels::matmul<std::int8_t>(dim<"m">, dim<"n">, dim<"k">), at(m * n), [&](auto& kernel, auto& c) {
      return kernel(make_view(ai.data(), shape(m, k)), make_view(bi.data(), shape(k, n)), make_view(c.data(), shape(m, n)));
    }, 0.0);
  }
  std::vector<std::uint8_t> p(1000), q(1000);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = static_cast<std::uint8_t>(i * 37 % 256);
    q[i] = static_cast<std::uint8_t>(i * 91 % 256);
  }
  check_same_as_cpu<std::uint8_t>(
      kernels::broadcast_binary<std::uint8_t>(te::extents(dim<"N">), te::extents(dim<"N">), [](auto u, auto v) { return te::select(u > v, u, v); }),
      p.size(), [&](auto& kernel, auto& r) {
        return kernel(make_view(p.data(), shape(std::int64_t{1000})), make_view(q.data(), shape(std::int64_t{1000})),
                      make_view(r.data(), shape(std::int64_t{1000})));
      }, 0.0);
  // An f16 output: the f32 result rounded to the nearest f16, as the CPU rounds it.
  const auto xs = pattern(300, 0.3f, 40.0f);
  std::vector<f16> xh(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) xh[i] = f16(xs[i]);
  check_same_as_cpu<f16>(kernels::unary<f16>(te::extents(dim<"a">), [](auto x) { return te::cast<f16>(x * 0.5f + 1.0f); }), xs.size(), [&](auto& kernel, auto& y) {
    return kernel(make_view(xh.data(), shape(std::int64_t{300})), make_view(y.data(), shape(std::int64_t{300})));
  }, 0.0);
}
