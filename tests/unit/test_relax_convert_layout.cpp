// The blocked NCHWc layout: the kernels of to_nchwc, from_nchwc and conv_nchwc against naive
// loops; the convert_layout pass's rewrites as printed modules; and small resnet-like modules
// run through vm::load with the pass on and off against a naive reference convolution.
#include <doctest/doctest.h>

#include "vm_op_harness.hpp"

#include <kiln/relax/builder.hpp>
#include <kiln/relax/passes/convert_layout.hpp>
#include <kiln/relax/printer.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>
#include <kiln/vm/ops/layout.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

using namespace kiln;
using kiln::test::at;
using kiln::test::pattern;
using relax::Builder;
using relax::ConvAttrs;
using relax::Module;
using relax::OpKind;
using relax::TensorType;
using relax::Var;

namespace {

using Vec = std::vector<float>;
namespace vm_ops = kiln::test::vm_ops;

std::int64_t blocks_of(std::int64_t channels, std::int64_t block) { return (channels + block - 1) / block; }

// n x c x h x w -> n x ceil(c / b) x h x w x b, zero-padded.
Vec pack_activations(const Vec& x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t b) {
  const std::int64_t cb = blocks_of(c, b);
  Vec out(at(n * cb * h * w * b), 0.0f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t q = 0; q < w; ++q)
          out[at((((i * cb + ch / b) * h + y) * w + q) * b + ch % b)] = x[at(((i * c + ch) * h + y) * w + q)];
  return out;
}

// k x c x r x s -> ceil(k / ob) x ceil(c / ib) x r x s x ib x ob, zero-padded.
Vec pack_weights(const Vec& wt, std::int64_t k, std::int64_t c, std::int64_t r, std::int64_t s, std::int64_t ib,
                 std::int64_t ob) {
  const std::int64_t kb = blocks_of(k, ob), cb = blocks_of(c, ib);
  Vec out(at(kb * cb * r * s * ib * ob), 0.0f);
  for (std::int64_t f = 0; f < k; ++f)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t u = 0; u < r; ++u)
        for (std::int64_t v = 0; v < s; ++v)
          out[at(((((f / ob * cb + ch / ib) * r + u) * s + v) * ib + ch % ib) * ob + f % ob)] =
              wt[at(((f * c + ch) * r + u) * s + v)];
  return out;
}

struct ConvShape {
  std::int64_t n = 1, c = 1, h = 1, w = 1, k = 1, r = 1, s = 1;
  std::int64_t stride = 1, pad = 0, dilation = 1;
  std::int64_t out_h() const { return (h + 2 * pad - dilation * (r - 1) - 1) / stride + 1; }
  std::int64_t out_w() const { return (w + 2 * pad - dilation * (s - 1) - 1) / stride + 1; }
  ConvAttrs attrs() const {
    return ConvAttrs{.strides = {stride, stride}, .pads = {pad, pad, pad, pad}, .dilations = {dilation, dilation}};
  }
};

// The plain NCHW convolution in double, with an optional bias.
std::vector<double> reference_conv(const Vec& x, const Vec& wt, const Vec* bias, const ConvShape& p) {
  const std::int64_t oh = p.out_h(), ow = p.out_w();
  std::vector<double> y(at(p.n * p.k * oh * ow), 0.0);
  for (std::int64_t b = 0; b < p.n; ++b)
    for (std::int64_t f = 0; f < p.k; ++f)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          double sum = bias != nullptr ? double((*bias)[at(f)]) : 0.0;
          for (std::int64_t ch = 0; ch < p.c; ++ch)
            for (std::int64_t u = 0; u < p.r; ++u)
              for (std::int64_t v = 0; v < p.s; ++v) {
                const std::int64_t iy = oy * p.stride + u * p.dilation - p.pad;
                const std::int64_t ix = ox * p.stride + v * p.dilation - p.pad;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                sum += double(x[at(((b * p.c + ch) * p.h + iy) * p.w + ix)]) *
                       double(wt[at(((f * p.c + ch) * p.r + u) * p.s + v)]);
              }
          y[at(((b * p.k + f) * oh + oy) * ow + ox)] = sum;
        }
  return y;
}

Module finished(Builder& b, Var out) { return vm_ops::finished(b, out); }

} // namespace

// ---- the kernels ------------------------------------------------------------------------------

TEST_CASE("to_nchwc and from_nchwc round-trip, zero-padding the last block") {
  for (std::int64_t block : {16, 8, 3}) {
    for (std::int64_t channels : {20, 16, 5}) {
      CAPTURE(block);
      CAPTURE(channels);
      const std::int64_t n = 2, h = 3, w = 7, cb = blocks_of(channels, block);
      const Vec x = pattern(at(n * channels * h * w), 0.3f);
      Builder to;
      const Var xin = to.input("x", TensorType(DType::f32, {n, channels, h, w}));
      Module to_module = finished(to, to.emit(OpKind::to_nchwc, {xin}, relax::BlockAttrs{block}));
      vm_ops::Host hx = vm_ops::host(x, {n, channels, h, w});
      ThreadPool pool(2);
      const vm_ops::Outcome packed = vm_ops::run_op(to_module, {&hx}, vm::cpu_layout_kernel, &pool);
      REQUIRE_MESSAGE(packed.status.ok(), packed.status.to_string());
      CHECK(packed.dims() == std::vector<std::int64_t>{n, cb, h, w, block});
      CHECK(packed.out() == pack_activations(x, n, channels, h, w, block));

      Builder from;
      const Var yin = from.input("y", TensorType(DType::f32, {n, cb, h, w, block}));
      Module from_module = finished(from, from.emit(OpKind::from_nchwc, {yin}, relax::ChannelsAttrs{channels}));
      vm_ops::Host hy = vm_ops::host(packed.out(), {n, cb, h, w, block});
      const vm_ops::Outcome plain = vm_ops::run_op(from_module, {&hy}, vm::cpu_layout_kernel);
      REQUIRE_MESSAGE(plain.status.ok(), plain.status.to_string());
      CHECK(plain.out() == x);
    }
  }
}

namespace {

enum class BiasForm { none, flat, blocked };

// conv_nchwc on packed pattern data against reference_conv, channel by channel; the padding
// channels of the output must come out exactly zero.
void check_conv_nchwc(const ConvShape& p, std::int64_t in_block, std::int64_t out_block, BiasForm bias_form,
                      ThreadPool* pool) {
  CAPTURE(p.n);
  CAPTURE(p.c);
  CAPTURE(p.h);
  CAPTURE(p.w);
  CAPTURE(p.k);
  CAPTURE(p.r);
  CAPTURE(p.stride);
  CAPTURE(p.pad);
  CAPTURE(p.dilation);
  CAPTURE(in_block);
  CAPTURE(out_block);
  const std::int64_t cb = blocks_of(p.c, in_block), kb = blocks_of(p.k, out_block);
  const std::int64_t oh = p.out_h(), ow = p.out_w();
  const Vec x = pattern(at(p.n * p.c * p.h * p.w), 0.1f);
  const Vec wt = pattern(at(p.k * p.c * p.r * p.s), 0.8f, 0.5f);
  const Vec bias = pattern(at(p.k), 1.7f);
  Vec packed_bias(at(kb * out_block), 0.0f);
  std::copy(bias.begin(), bias.end(), packed_bias.begin());

  Builder b;
  const Var xin = b.input("x", TensorType(DType::f32, {p.n, cb, p.h, p.w, in_block}));
  const Var win = b.input("w", TensorType(DType::f32, {kb, cb, p.r, p.s, in_block, out_block}));
  Var bin;
  if (bias_form == BiasForm::flat) bin = b.input("bias", TensorType(DType::f32, {kb * out_block}));
  if (bias_form == BiasForm::blocked) bin = b.input("bias", TensorType(DType::f32, {kb, out_block}));
  Module m = finished(b, b.emit(OpKind::conv_nchwc, {xin, win, bin}, p.attrs()));
  vm_ops::Host hx = vm_ops::host(pack_activations(x, p.n, p.c, p.h, p.w, in_block), {p.n, cb, p.h, p.w, in_block});
  vm_ops::Host hw = vm_ops::host(pack_weights(wt, p.k, p.c, p.r, p.s, in_block, out_block),
                                 {kb, cb, p.r, p.s, in_block, out_block});
  vm_ops::Host hb = vm_ops::host(packed_bias, bias_form == BiasForm::blocked ? std::vector<std::int64_t>{kb, out_block}
                                                                            : std::vector<std::int64_t>{kb * out_block});
  std::vector<vm_ops::Host*> params{&hx, &hw};
  if (bias_form != BiasForm::none) params.push_back(&hb);
  const vm_ops::Outcome o = vm_ops::run_op(m, params, vm::cpu_layout_kernel, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  CHECK(o.scratch_bytes == 0);
  REQUIRE(o.dims() == std::vector<std::int64_t>{p.n, kb, oh, ow, out_block});
  const std::vector<double> want = reference_conv(x, wt, bias_form == BiasForm::none ? nullptr : &bias, p);
  const Vec got = o.out();
  const double tolerance = 1e-5 * double(p.c * p.r * p.s + 1);
  int wrong = 0;
  for (std::int64_t i = 0; i < p.n; ++i)
    for (std::int64_t f = 0; f < kb * out_block; ++f)
      for (std::int64_t y = 0; y < oh; ++y)
        for (std::int64_t q = 0; q < ow; ++q) {
          const float value = got[at((((i * kb + f / out_block) * oh + y) * ow + q) * out_block + f % out_block)];
          const bool right = f < p.k ? std::fabs(double(value) - want[at(((i * p.k + f) * oh + y) * ow + q)]) <= tolerance
                                     : value == 0.0f;
          if (!right && wrong++ < 5) FAIL_CHECK("output (", i, ", ", f, ", ", y, ", ", q, ") is ", value);
        }
  CHECK(wrong == 0);
}

} // namespace

TEST_CASE("conv_nchwc matches a naive convolution over strides, pads, dilations and odd sizes") {
  const std::int64_t lanes = vm::layout_detail::kLanes;
  ThreadPool pool(2);
  // 3x3 with padding over odd widths: edge pixels, full tiles and every tail length.
  for (std::int64_t w : {1, 2, 7, 13, 16, 31})
    check_conv_nchwc({.n = 1, .c = 2 * lanes, .h = 5, .w = w, .k = 2 * lanes, .r = 3, .s = 3, .pad = 1}, lanes, lanes,
                     BiasForm::blocked, nullptr);
  // Strides, dilations, a wide kernel, no padding, several images, threads.
  check_conv_nchwc({.n = 3, .c = lanes, .h = 13, .w = 13, .k = 3 * lanes, .r = 3, .s = 3, .stride = 2, .pad = 1},
                   lanes, lanes, BiasForm::flat, &pool);
  check_conv_nchwc({.n = 2, .c = 5, .h = 9, .w = 11, .k = lanes, .r = 3, .s = 2, .pad = 2, .dilation = 2}, 5, lanes,
                   BiasForm::none, &pool);
  check_conv_nchwc({.n = 1, .c = 3, .h = 17, .w = 17, .k = 2 * lanes, .r = 7, .s = 7, .stride = 2, .pad = 3}, 3, lanes,
                   BiasForm::blocked, &pool);
  // 1x1 (pointwise), stride 2 without padding.
  check_conv_nchwc({.n = 2, .c = 2 * lanes, .h = 7, .w = 7, .k = lanes, .stride = 2}, lanes, lanes, BiasForm::flat,
                   nullptr);
  // Channel counts that do not fill their blocks: zero-padded input and output channels.
  check_conv_nchwc({.n = 2, .c = lanes + 3, .h = 6, .w = 9, .k = lanes + 4, .r = 3, .s = 3, .pad = 1}, lanes, lanes,
                   BiasForm::blocked, &pool);
  // A block of two vectors, and blocks that are not whole vectors (the one-channel path).
  check_conv_nchwc({.n = 1, .c = 8, .h = 6, .w = 10, .k = 4 * lanes, .r = 3, .s = 3, .pad = 1}, 8, 2 * lanes,
                   BiasForm::flat, &pool);
  check_conv_nchwc({.n = 2, .c = 7, .h = 5, .w = 6, .k = 5, .r = 3, .s = 3, .stride = 2, .pad = 1}, 4, 3,
                   BiasForm::blocked, &pool);
  // Every output pixel on an edge: a kernel wider than the input.
  check_conv_nchwc({.n = 1, .c = lanes, .h = 3, .w = 3, .k = lanes, .r = 5, .s = 5, .pad = 2}, lanes, lanes,
                   BiasForm::none, nullptr);
  // Several bands of rows, whose edge columns run as tiles down the band: a tall input, a
  // band ending inside the bottom edge rows, and one vector of output channels.
  check_conv_nchwc({.n = 2, .c = lanes, .h = 37, .w = 9, .k = 2 * lanes, .r = 3, .s = 3, .pad = 1}, lanes, lanes,
                   BiasForm::blocked, &pool);
  check_conv_nchwc({.n = 1, .c = 3, .h = 30, .w = 6, .k = lanes, .r = 5, .s = 3, .stride = 2, .pad = 2}, 3, lanes,
                   BiasForm::flat, nullptr);
}

namespace {

// Depthwise conv_nchwc (groups == c, one 2-D filter per channel) on packed pattern data
// against a naive depthwise convolution in double; padding channels must come out zero.
void check_depthwise_nchwc(const ConvShape& p, std::int64_t block, bool with_bias, ThreadPool* pool) {
  CAPTURE(p.n);
  CAPTURE(p.c);
  CAPTURE(p.h);
  CAPTURE(p.w);
  CAPTURE(p.r);
  CAPTURE(p.s);
  CAPTURE(p.stride);
  CAPTURE(p.pad);
  CAPTURE(p.dilation);
  CAPTURE(block);
  const std::int64_t cb = blocks_of(p.c, block), oh = p.out_h(), ow = p.out_w();
  const Vec x = pattern(at(p.n * p.c * p.h * p.w), 0.3f);
  const Vec wt = pattern(at(p.c * p.r * p.s), 0.6f, 0.5f);
  const Vec bias = pattern(at(p.c), 1.1f);
  Vec packed_bias(at(cb * block), 0.0f);
  std::copy(bias.begin(), bias.end(), packed_bias.begin());
  ConvAttrs attrs = p.attrs();
  attrs.groups = p.c;

  Builder b;
  const Var xin = b.input("x", TensorType(DType::f32, {p.n, cb, p.h, p.w, block}));
  const Var win = b.input("w", TensorType(DType::f32, {cb, 1, p.r, p.s, 1, block}));
  Var bin;
  if (with_bias) bin = b.input("bias", TensorType(DType::f32, {cb, block}));
  Module m = finished(b, b.emit(OpKind::conv_nchwc, {xin, win, bin}, attrs));
  vm_ops::Host hx = vm_ops::host(pack_activations(x, p.n, p.c, p.h, p.w, block), {p.n, cb, p.h, p.w, block});
  vm_ops::Host hw = vm_ops::host(pack_weights(wt, p.c, 1, p.r, p.s, 1, block), {cb, 1, p.r, p.s, 1, block});
  vm_ops::Host hb = vm_ops::host(packed_bias, {cb, block});
  std::vector<vm_ops::Host*> params{&hx, &hw};
  if (with_bias) params.push_back(&hb);
  const vm_ops::Outcome o = vm_ops::run_op(m, params, vm::cpu_layout_kernel, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  REQUIRE(o.dims() == std::vector<std::int64_t>{p.n, cb, oh, ow, block});
  const Vec got = o.out();
  int wrong = 0;
  for (std::int64_t i = 0; i < p.n; ++i)
    for (std::int64_t f = 0; f < cb * block; ++f)
      for (std::int64_t y = 0; y < oh; ++y)
        for (std::int64_t q = 0; q < ow; ++q) {
          double want = 0.0;
          if (f < p.c) {
            want = with_bias ? double(bias[at(f)]) : 0.0;
            for (std::int64_t u = 0; u < p.r; ++u)
              for (std::int64_t v = 0; v < p.s; ++v) {
                const std::int64_t iy = y * p.stride + u * p.dilation - p.pad;
                const std::int64_t ix = q * p.stride + v * p.dilation - p.pad;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                want += double(x[at(((i * p.c + f) * p.h + iy) * p.w + ix)]) * double(wt[at((f * p.r + u) * p.s + v)]);
              }
          }
          const float value = got[at((((i * cb + f / block) * oh + y) * ow + q) * block + f % block)];
          const bool right = f < p.c ? std::fabs(double(value) - want) <= 1e-5 * double(p.r * p.s + 1) : value == 0.0f;
          if (!right && wrong++ < 5) FAIL_CHECK("output (", i, ", ", f, ", ", y, ", ", q, ") is ", value, ", expected ", want);
        }
  CHECK(wrong == 0);
}

} // namespace

TEST_CASE("depthwise conv_nchwc matches a naive depthwise convolution over strides, pads, dilations and odd sizes") {
  const std::int64_t lanes = vm::layout_detail::kLanes;
  ThreadPool pool(2);
  // 3x3 with padding over odd widths: edge pixels, full tiles and every tail length.
  for (std::int64_t w : {1, 2, 7, 13, 16, 31})
    check_depthwise_nchwc({.n = 1, .c = 2 * lanes, .h = 5, .w = w, .r = 3, .s = 3, .pad = 1}, lanes, true, nullptr);
  // Stride 2 (mobilenet's downsampling), 5x5, dilation, several images, threads.
  check_depthwise_nchwc({.n = 3, .c = lanes, .h = 15, .w = 17, .r = 3, .s = 3, .stride = 2, .pad = 1}, lanes, true,
                        &pool);
  check_depthwise_nchwc({.n = 2, .c = lanes, .h = 12, .w = 19, .r = 5, .s = 5, .stride = 2, .pad = 2}, lanes, false,
                        &pool);
  check_depthwise_nchwc({.n = 1, .c = lanes, .h = 9, .w = 11, .r = 3, .s = 3, .pad = 2, .dilation = 2}, lanes, true,
                        &pool);
  // Channels that do not fill the last block: the padding lanes stay zero.
  check_depthwise_nchwc({.n = 2, .c = 2 * lanes + 3, .h = 6, .w = 9, .r = 3, .s = 3, .pad = 1}, lanes, true, &pool);
  // A block of two vectors, and blocks that are not whole vectors (the one-channel path).
  check_depthwise_nchwc({.n = 1, .c = 3 * lanes, .h = 6, .w = 10, .r = 3, .s = 3, .pad = 1}, 2 * lanes, true, &pool);
  check_depthwise_nchwc({.n = 2, .c = 7, .h = 5, .w = 6, .r = 3, .s = 3, .stride = 2, .pad = 1}, 3, true, &pool);
  // Every output pixel on an edge: a kernel wider than the input.
  check_depthwise_nchwc({.n = 1, .c = lanes, .h = 3, .w = 3, .r = 5, .s = 5, .pad = 2}, lanes, false, nullptr);
  // Several bands of rows, with edge columns down each band.
  check_depthwise_nchwc({.n = 2, .c = 2 * lanes, .h = 45, .w = 7, .r = 3, .s = 3, .pad = 1}, lanes, true, &pool);
  check_depthwise_nchwc({.n = 1, .c = lanes, .h = 33, .w = 12, .r = 5, .s = 5, .stride = 2, .pad = 2}, lanes, true,
                        nullptr);
}

TEST_CASE("The NCHWc ops reject wrong operands with the op and the reason") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {1, 2, 4, 4, 8}));
  const Var w = b.input("w", TensorType(DType::f32, {1, 2, 3, 3, 8, 8}));
  SUBCASE("groups with a dense weight") {
    b.emit(OpKind::conv_nchwc, {x, w}, ConvAttrs{.groups = 2});
    CHECK(b.status().message() == "%0: conv_nchwc: groups 2 is supported depthwise only, with a weight "
                                  "[cb, 1, r, s, 1, b] for the input f32[1, 2, 4, 4, 8], got f32[1, 2, 3, 3, 8, 8]");
  }
  SUBCASE("a depthwise conv whose groups do not fill the blocks") {
    const Var depthwise = b.input("dw", TensorType(DType::f32, {2, 1, 3, 3, 1, 8}));
    b.emit(OpKind::conv_nchwc, {x, depthwise}, ConvAttrs{.groups = 8});
    CHECK(b.status().message() == "%0: conv_nchwc: 8 channels (groups) do not fill the 2 blocks of f32[1, 2, 4, 4, 8]");
  }
  SUBCASE("a bias of the wrong size") {
    const Var bias = b.input("bias", TensorType(DType::f32, {16}));
    b.emit(OpKind::conv_nchwc, {x, w, bias});
    CHECK(b.status().message() == "%0: conv_nchwc: the bias must be [1, 8] or flat, got f32[16]");
  }
  SUBCASE("too few channels for the blocks") {
    b.emit(OpKind::from_nchwc, {x}, relax::ChannelsAttrs{8});
    CHECK(b.status().message() == "%0: from_nchwc: 8 channels do not fill the 2 blocks of 8 of f32[1, 2, 4, 4, 8]");
  }
  SUBCASE("a block of zero") {
    const Var plain = b.input("plain", TensorType(DType::f32, {1, 3, 4, 4}));
    b.emit(OpKind::to_nchwc, {plain}, relax::BlockAttrs{0});
    CHECK(b.status().message() == "%0: to_nchwc: the block must be positive, got 0");
  }
}

// ---- the pass, as printed modules ---------------------------------------------------------------

namespace {

const relax::SymDim batch = relax::sym("batch");
const ConvAttrs same_3x3{.pads = {1, 1, 1, 1}};

// A constant with every element `value`.
Tensor filled(std::initializer_list<std::int64_t> dims, float value) {
  Result<Tensor> t = Tensor::empty(DType::f32, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i) t->data_as<float>()[i] = value;
  return *t;
}

// The module after the pass with blocks of 8 (whatever this machine's vector width), a lone
// conv converting too, checked to still verify.
std::string converted(Module& m) {
  const Status s = relax::convert_layout(m, {.block = 8, .min_region_convs = 1});
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  const Status check = relax::verify(m);
  REQUIRE_MESSAGE(check.ok(), check.to_string());
  return relax::to_string(m);
}

} // namespace

TEST_CASE("convert_layout wraps a single conv in transforms and packs its weight and bias") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16, 14, 14}));
  Module m = finished(b, b.conv(x, b.constant(filled({16, 16, 3, 3}, 0.5f)), b.constant(filled({16}, 0.1f)), same_3x3));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 16, 14, 14]) -> f32[batch, 16, 14, 14] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  %c1 = constant f32[2, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 2, 14, 14, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0, %c1, pads=[1, 1, 1, 1]) : f32[batch, 2, 14, 14, 8]\n"
        "    %2 = relax.from_nchwc(%1, channels=16) : f32[batch, 16, 14, 14]\n"
        "  }\n"
        "  return %2\n"
        "}\n");
  // The packed weight: w[f, c, u, v] at [f / 8, c / 8, u, v, c % 8, f % 8]; the bias [f / 8, f % 8].
  const Tensor& weight = m.main().constants[0];
  CHECK(weight.at<float>(1, 0, 2, 1, 3, 5) == 0.5f);
  CHECK(m.main().constants[1].at<float>(1, 7) == 0.1f);
}

TEST_CASE("convert_layout keeps conv -> relu -> conv blocked between one transform in and one out") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 8, 14, 14}));
  const Var y = b.relu(b.conv(x, b.constant(filled({16, 8, 3, 3}, 0.5f)), {}, same_3x3));
  Module m = finished(b, b.conv(y, b.constant(filled({16, 16, 3, 3}, 0.25f)), {},
                                ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 8, 14, 14]) -> f32[batch, 16, 7, 7] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[2, 1, 3, 3, 8, 8]\n"
        "  %c1 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 1, 14, 14, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0, pads=[1, 1, 1, 1]) : f32[batch, 2, 14, 14, 8]\n"
        "    %2 = relax.relu(%1) : f32[batch, 2, 14, 14, 8]\n"
        "    %3 = relax.conv_nchwc(%2, %c1, strides=[2, 2], pads=[1, 1, 1, 1]) : f32[batch, 2, 7, 7, 8]\n"
        "    %4 = relax.from_nchwc(%3, channels=16) : f32[batch, 16, 7, 7]\n"
        "  }\n"
        "  return %4\n"
        "}\n");
}

TEST_CASE("convert_layout keeps a residual block blocked: the skip reuses the input's transform") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16, 7, 7}));
  Var y = b.relu(b.conv(x, b.constant(filled({16, 16, 3, 3}, 0.5f)), b.constant(filled({16}, 0.1f)), same_3x3));
  y = b.conv(y, b.constant(filled({16, 16, 3, 3}, 0.25f)), b.constant(filled({16}, 0.2f)), same_3x3);
  Module m = finished(b, b.relu(b.add(y, x)));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 16, 7, 7]) -> f32[batch, 16, 7, 7] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  %c1 = constant f32[2, 8]\n"
        "  %c2 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  %c3 = constant f32[2, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 2, 7, 7, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0, %c1, pads=[1, 1, 1, 1]) : f32[batch, 2, 7, 7, 8]\n"
        "    %2 = relax.relu(%1) : f32[batch, 2, 7, 7, 8]\n"
        "    %3 = relax.conv_nchwc(%2, %c2, %c3, pads=[1, 1, 1, 1]) : f32[batch, 2, 7, 7, 8]\n"
        "    %4 = relax.add(%3, %0) : f32[batch, 2, 7, 7, 8]\n"
        "    %5 = relax.relu(%4) : f32[batch, 2, 7, 7, 8]\n"
        "    %6 = relax.from_nchwc(%5, channels=16) : f32[batch, 16, 7, 7]\n"
        "  }\n"
        "  return %6\n"
        "}\n");
}

TEST_CASE("convert_layout zero-pads channel counts that do not fill a block, and stops at ops that would not keep zeros") {
  // 12 input and 20 output channels in blocks of 8: relu keeps the padding zero, sigmoid
  // would make it 0.5, so it reads the plain layout.
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 12, 13, 13}));
  const Var y = b.relu(b.conv(x, b.constant(filled({20, 12, 3, 3}, 0.5f)), b.constant(filled({20}, 0.1f)), same_3x3));
  Module m = finished(b, b.sigmoid(y));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 12, 13, 13]) -> f32[batch, 20, 13, 13] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[3, 2, 3, 3, 8, 8]\n"
        "  %c1 = constant f32[3, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 2, 13, 13, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0, %c1, pads=[1, 1, 1, 1]) : f32[batch, 3, 13, 13, 8]\n"
        "    %2 = relax.relu(%1) : f32[batch, 3, 13, 13, 8]\n"
        "    %3 = relax.from_nchwc(%2, channels=20) : f32[batch, 20, 13, 13]\n"
        "    %4 = relax.sigmoid(%3) : f32[batch, 20, 13, 13]\n"
        "  }\n"
        "  return %4\n"
        "}\n");
  // Padding channels of the packed weight and bias are zero.
  CHECK(m.main().constants[0].at<float>(2, 1, 0, 0, 3, 3) == 0.5f);  // output channel 19, input channel 11
  CHECK(m.main().constants[0].at<float>(2, 1, 0, 0, 3, 4) == 0.0f);  // output channel 20: padding
  CHECK(m.main().constants[0].at<float>(2, 1, 0, 0, 4, 3) == 0.0f);  // input channel 12: padding
  CHECK(m.main().constants[1].at<float>(2, 3) == 0.1f);
  CHECK(m.main().constants[1].at<float>(2, 4) == 0.0f);
}

TEST_CASE("convert_layout leaves grouped convs, non-constant weights and narrow outputs alone") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16, 7, 7}));
  const Var w = b.input("w", TensorType(DType::f32, {16, 16, 3, 3}));
  const Var grouped = b.conv(x, b.constant(filled({16, 8, 3, 3}, 0.5f)), {}, ConvAttrs{.pads = {1, 1, 1, 1}, .groups = 2});
  const Var dynamic = b.conv(grouped, w, {}, same_3x3);
  Module m = finished(b, b.conv(dynamic, b.constant(filled({4, 16, 1, 1}, 0.5f))));
  const std::string before = relax::to_string(m);
  CHECK(converted(m) == before);
  CHECK(before ==
        "function @main(%x: f32[batch, 16, 7, 7], %w: f32[16, 16, 3, 3]) -> f32[batch, 4, 7, 7] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[16, 8, 3, 3]\n"
        "  %c1 = constant f32[4, 16, 1, 1]\n"
        "  dataflow {\n"
        "    %0 = relax.conv(%x, %c0, pads=[1, 1, 1, 1], groups=2) : f32[batch, 16, 7, 7]\n"
        "    %1 = relax.conv(%0, %w, pads=[1, 1, 1, 1]) : f32[batch, 16, 7, 7]\n"
        "    %2 = relax.conv(%1, %c1) : f32[batch, 4, 7, 7]\n"
        "  }\n"
        "  return %2\n"
        "}\n");
}

TEST_CASE("convert_layout runs depthwise convs blocked, in the block of the convs around them") {
  // A mobilenet block: 1x1 expand, 3x3 depthwise with stride 2, 1x1 project; 20 channels
  // fill a block of 8 and a half (the padding lanes stay zero through the depthwise conv).
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 8, 9, 9}));
  const Var expanded = b.relu(b.conv(x, b.constant(filled({20, 8, 1, 1}, 0.5f))));
  const Var filtered = b.relu(b.conv(expanded, b.constant(filled({20, 1, 3, 3}, 0.25f)), b.constant(filled({20}, 0.1f)),
                                     ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}, .groups = 20}));
  Module m = finished(b, b.conv(filtered, b.constant(filled({8, 20, 1, 1}, 0.125f))));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 8, 9, 9]) -> f32[batch, 8, 5, 5] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[3, 1, 1, 1, 8, 8]\n"
        "  %c1 = constant f32[3, 1, 3, 3, 1, 8]\n"
        "  %c2 = constant f32[3, 8]\n"
        "  %c3 = constant f32[1, 3, 1, 1, 8, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 1, 9, 9, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0) : f32[batch, 3, 9, 9, 8]\n"
        "    %2 = relax.relu(%1) : f32[batch, 3, 9, 9, 8]\n"
        "    %3 = relax.conv_nchwc(%2, %c1, %c2, strides=[2, 2], pads=[1, 1, 1, 1], groups=20) : f32[batch, 3, 5, 5, 8]\n"
        "    %4 = relax.relu(%3) : f32[batch, 3, 5, 5, 8]\n"
        "    %5 = relax.conv_nchwc(%4, %c3) : f32[batch, 1, 5, 5, 8]\n"
        "    %6 = relax.from_nchwc(%5, channels=8) : f32[batch, 8, 5, 5]\n"
        "  }\n"
        "  return %6\n"
        "}\n");
  // The depthwise weight: w[f, 0, u, v] at [f / 8, 0, u, v, 0, f % 8], zero past channel 20.
  const Tensor& depthwise = m.main().constants[1];
  CHECK(depthwise.at<float>(2, 0, 1, 2, 0, 3) == 0.25f);
  CHECK(depthwise.at<float>(2, 0, 1, 2, 0, 4) == 0.0f);
}

TEST_CASE("convert_layout pools blocked values in the blocked layout, with a window of one on the block") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16, 14, 14}));
  const Var h = b.relu(b.conv(x, b.constant(filled({16, 16, 3, 3}, 0.5f)), {}, same_3x3));
  const Var pooled = b.max_pool(h, relax::PoolAttrs{.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
  const Var averaged = b.emit(OpKind::average_pool, {pooled},
                              relax::PoolAttrs{.kernel_shape = {2, 2}, .ceil_mode = true, .count_include_pad = true});
  Module m = finished(b, b.conv(averaged, b.constant(filled({16, 16, 1, 1}, 0.25f))));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 16, 14, 14]) -> f32[batch, 16, 6, 6] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  %c1 = constant f32[2, 2, 1, 1, 8, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=8) : f32[batch, 2, 14, 14, 8]\n"
        "    %1 = relax.conv_nchwc(%0, %c0, pads=[1, 1, 1, 1]) : f32[batch, 2, 14, 14, 8]\n"
        "    %2 = relax.relu(%1) : f32[batch, 2, 14, 14, 8]\n"
        "    %3 = relax.max_pool(%2, kernel=[3, 3, 1], strides=[2, 2, 1], pads=[1, 1, 0, 1, 1, 0]) : f32[batch, 2, 7, 7, 8]\n"
        "    %4 = relax.average_pool(%3, kernel=[2, 2, 1], ceil_mode=true, count_include_pad=true) : f32[batch, 2, 6, 6, 8]\n"
        "    %5 = relax.conv_nchwc(%4, %c1) : f32[batch, 2, 6, 6, 8]\n"
        "    %6 = relax.from_nchwc(%5, channels=16) : f32[batch, 16, 6, 6]\n"
        "  }\n"
        "  return %6\n"
        "}\n");

  // 12 channels pad a block of 8: a max pool that pads would leave -inf in the padding
  // channels, so it stays NCHW; one that does not pad stays blocked.
  Builder padded;
  const Var px = padded.input("x", TensorType(DType::f32, {batch, 8, 8, 8}));
  const Var narrow = padded.relu(padded.conv(px, padded.constant(filled({12, 8, 1, 1}, 0.5f))));
  const Var unpadded_pool = padded.max_pool(narrow, relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}});
  const Var padded_pool = padded.max_pool(unpadded_pool, relax::PoolAttrs{.kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}});
  Module pm = finished(padded, padded_pool);
  const std::string text = converted(pm);
  CHECK(text.find("relax.max_pool(%2, kernel=[2, 2, 1], strides=[2, 2, 1]) : f32[batch, 2, 4, 4, 8]") != std::string::npos);
  CHECK(text.find("relax.max_pool(%4, kernel=[3, 3], pads=[1, 1, 1, 1]) : f32[batch, 12, 4, 4]") != std::string::npos);
}

TEST_CASE("convert_layout packs per-channel constants, keeps clip blocked and pools globally in the blocked layout") {
  // An RGB input packs as one block of 3; 12 output channels fill one and a half blocks of 8,
  // and every op keeps the padding zero (the divisor pads with 1).
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 3, 13, 13}));
  const Var low = b.constant(filled({}, 0.0f));
  const Var high = b.constant(filled({}, 6.0f));
  Var y = b.conv(x, b.constant(filled({12, 3, 3, 3}, 0.5f)), {}, ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}});
  y = b.add(b.multiply(y, b.constant(filled({1, 12, 1, 1}, 2.0f))), b.constant(filled({12, 1, 1}, 0.5f)));
  y = b.clip(b.divide(y, b.constant(filled({1, 12, 1, 1}, 4.0f))), low, high);
  Module m = finished(b, b.flatten(b.global_average_pool(y)));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 3, 13, 13]) -> f32[batch, 12] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[] [0]\n"
        "  %c1 = constant f32[] [6]\n"
        "  %c2 = constant f32[2, 1, 3, 3, 3, 8]\n"
        "  %c3 = constant f32[1, 2, 1, 1, 8]\n"
        "  %c4 = constant f32[2, 1, 1, 8]\n"
        "  %c5 = constant f32[1, 2, 1, 1, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.to_nchwc(%x, block=3) : f32[batch, 1, 13, 13, 3]\n"
        "    %1 = relax.conv_nchwc(%0, %c2, strides=[2, 2], pads=[1, 1, 1, 1]) : f32[batch, 2, 7, 7, 8]\n"
        "    %2 = relax.multiply(%1, %c3) : f32[batch, 2, 7, 7, 8]\n"
        "    %3 = relax.add(%2, %c4) : f32[batch, 2, 7, 7, 8]\n"
        "    %4 = relax.divide(%3, %c5) : f32[batch, 2, 7, 7, 8]\n"
        "    %5 = relax.clip(%4, %c0, %c1) : f32[batch, 2, 7, 7, 8]\n"
        "    %6 = relax.reduce_mean(%5, axes=[2, 3]) : f32[batch, 2, 1, 1, 8]\n"
        "    %7 = relax.from_nchwc(%6, channels=12) : f32[batch, 12, 1, 1]\n"
        "    %8 = relax.flatten(%7, axis=1) : f32[batch, 12]\n"
        "  }\n"
        "  return %8\n"
        "}\n");
  const std::vector<Tensor>& c = m.main().constants;
  CHECK(c[3].at<float>(0, 1, 0, 0, 3) == 2.0f);  // channel 11 of the scale
  CHECK(c[3].at<float>(0, 1, 0, 0, 4) == 0.0f);  // padding
  CHECK(c[4].at<float>(1, 0, 0, 3) == 0.5f);
  CHECK(c[4].at<float>(1, 0, 0, 4) == 0.0f);
  CHECK(c[5].at<float>(0, 1, 0, 0, 4) == 1.0f);  // the divisor's padding
}

TEST_CASE("convert_layout cancels from_nchwc -> to_nchwc and changes nothing when run again") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 2, 7, 7, 8}));
  const Var y = b.relu(b.emit(OpKind::from_nchwc, {x}, relax::ChannelsAttrs{16}));
  Module m = finished(b, b.emit(OpKind::to_nchwc, {y}, relax::BlockAttrs{8}));
  CHECK(converted(m) ==
        "function @main(%x: f32[batch, 2, 7, 7, 8]) -> f32[batch, 2, 7, 7, 8] {\n"
        "  symbols batch\n"
        "  dataflow {\n"
        "    %0 = relax.relu(%x) : f32[batch, 2, 7, 7, 8]\n"
        "  }\n"
        "  return %0\n"
        "}\n");

  Builder residual;
  const Var image = residual.input("x", TensorType(DType::f32, {batch, 16, 7, 7}));
  const Var h = residual.relu(residual.conv(image, residual.constant(filled({16, 16, 3, 3}, 0.5f)), {}, same_3x3));
  Module twice = finished(residual, residual.add(h, image));
  const std::string once = converted(twice);
  CHECK(converted(twice) == once);
}

TEST_CASE("convert_layout by default leaves a lone conv in NCHW and converts convs that share a region") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {batch, 16, 7, 7}));
  // A lone conv, then an lp pool (a boundary: max and average pools join the layout), then
  // two convs joined by relu.
  const Var lone = b.relu(b.conv(x, b.constant(filled({16, 16, 3, 3}, 0.5f)), {}, same_3x3));
  const Var pooled = b.emit(OpKind::lp_pool, {lone}, relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}});
  const Var h = b.relu(b.conv(pooled, b.constant(filled({16, 16, 1, 1}, 0.25f))));
  Module m = finished(b, b.conv(h, b.constant(filled({16, 16, 3, 3}, 0.125f)), {}, same_3x3));
  REQUIRE(relax::convert_layout(m, {.block = 8}).ok());
  CHECK(relax::to_string(m) ==
        "function @main(%x: f32[batch, 16, 7, 7]) -> f32[batch, 16, 3, 3] {\n"
        "  symbols batch\n"
        "  %c0 = constant f32[16, 16, 3, 3]\n"
        "  %c1 = constant f32[2, 2, 1, 1, 8, 8]\n"
        "  %c2 = constant f32[2, 2, 3, 3, 8, 8]\n"
        "  dataflow {\n"
        "    %0 = relax.conv(%x, %c0, pads=[1, 1, 1, 1]) : f32[batch, 16, 7, 7]\n"
        "    %1 = relax.relu(%0) : f32[batch, 16, 7, 7]\n"
        "    %2 = relax.lp_pool(%1, kernel=[2, 2], strides=[2, 2]) : f32[batch, 16, 3, 3]\n"
        "    %3 = relax.to_nchwc(%2, block=8) : f32[batch, 2, 3, 3, 8]\n"
        "    %4 = relax.conv_nchwc(%3, %c1) : f32[batch, 2, 3, 3, 8]\n"
        "    %5 = relax.relu(%4) : f32[batch, 2, 3, 3, 8]\n"
        "    %6 = relax.conv_nchwc(%5, %c2, pads=[1, 1, 1, 1]) : f32[batch, 2, 3, 3, 8]\n"
        "    %7 = relax.from_nchwc(%6, channels=16) : f32[batch, 16, 3, 3]\n"
        "  }\n"
        "  return %7\n"
        "}\n");
}

TEST_CASE("convert_layout rejects a block that is not positive") {
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {1, 16, 4, 4}));
  Module m = finished(b, b.relu(x));
  const Status s = relax::convert_layout(m, {.block = 0});
  CHECK(s.message() == "convert_layout: the block must be positive, got 0");
}

// ---- resnet-like modules through vm::load, the pass on and off ------------------------------

namespace {

struct Param {
  std::vector<std::int64_t> dims;
  Vec values;
};
Param param(std::vector<std::int64_t> dims, float phase, float scale) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return Param{std::move(dims), pattern(at(n), phase, scale)};
}
Tensor tensor_of(const Param& p) {
  Result<Tensor> t = Tensor::from_values(std::span<const std::int64_t>(p.dims), std::span<const float>(p.values));
  REQUIRE(t.ok());
  return *t;
}

// A stem, a residual block, a strided block with a 1x1 projection, a per-channel scale and
// shift, a 1x1 conv to 20 channels (padding channels in any block of 8 or 16), global
// average pooling and a classifier.
struct ResnetWeights {
  Param stem = param({16, 3, 3, 3}, 0.1f, 0.4f), stem_bias = param({16}, 0.2f, 0.1f);
  Param conv1 = param({16, 16, 3, 3}, 0.3f, 0.15f), conv1_bias = param({16}, 0.4f, 0.1f);
  Param conv2 = param({16, 16, 3, 3}, 0.5f, 0.15f), conv2_bias = param({16}, 0.6f, 0.1f);
  Param down = param({32, 16, 3, 3}, 0.7f, 0.15f), down_bias = param({32}, 0.8f, 0.1f);
  Param projection = param({32, 16, 1, 1}, 0.9f, 0.3f);
  Param scale = param({1, 32, 1, 1}, 1.0f, 1.0f), shift = param({32, 1, 1}, 1.1f, 0.2f);
  Param narrow = param({20, 32, 1, 1}, 1.2f, 0.3f), narrow_bias = param({20}, 1.3f, 0.1f);
  Param fc = param({10, 20}, 1.4f, 0.5f), fc_bias = param({10}, 1.5f, 0.1f);
};

Module resnet_like(const ResnetWeights& w) {
  Builder b;
  const Var image = b.input("image", TensorType(DType::f32, {batch, 3, relax::sym("height"), relax::sym("width")}));
  const auto c = [&](const Param& p) { return b.constant(tensor_of(p)); };
  const ConvAttrs down_3x3{.strides = {2, 2}, .pads = {1, 1, 1, 1}};
  Var x = b.relu(b.conv(image, c(w.stem), c(w.stem_bias), same_3x3));
  Var y = b.relu(b.conv(x, c(w.conv1), c(w.conv1_bias), same_3x3));
  x = b.relu(b.add(b.conv(y, c(w.conv2), c(w.conv2_bias), same_3x3), x));
  y = b.relu(b.conv(x, c(w.down), c(w.down_bias), down_3x3));
  x = b.relu(b.add(y, b.conv(x, c(w.projection), {}, ConvAttrs{.strides = {2, 2}})));
  x = b.add(b.multiply(x, c(w.scale)), c(w.shift));
  x = b.relu(b.conv(x, c(w.narrow), c(w.narrow_bias)));
  const Var pooled = b.flatten(b.global_average_pool(x));
  return finished(b, b.gemm(pooled, c(w.fc), c(w.fc_bias), relax::GemmOpAttrs{.trans_b = true}));
}

// An NCHW activation in double: n x c x h x w.
struct Activation {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  std::vector<double> v;
  double& operator()(std::int64_t i, std::int64_t ch, std::int64_t y, std::int64_t q) {
    return v[at(((i * c + ch) * h + y) * w + q)];
  }
};

Activation naive_conv(const Activation& x, const Param& weight, const Param* bias, std::int64_t stride,
                      std::int64_t pad) {
  const std::int64_t k = weight.dims[0], r = weight.dims[2], s = weight.dims[3];
  Activation y{x.n, k, (x.h + 2 * pad - r) / stride + 1, (x.w + 2 * pad - s) / stride + 1, {}};
  y.v.assign(at(y.n * y.c * y.h * y.w), 0.0);
  for (std::int64_t i = 0; i < y.n; ++i)
    for (std::int64_t f = 0; f < k; ++f)
      for (std::int64_t oy = 0; oy < y.h; ++oy)
        for (std::int64_t ox = 0; ox < y.w; ++ox) {
          double sum = bias != nullptr ? double(bias->values[at(f)]) : 0.0;
          for (std::int64_t ch = 0; ch < x.c; ++ch)
            for (std::int64_t u = 0; u < r; ++u)
              for (std::int64_t q = 0; q < s; ++q) {
                const std::int64_t iy = oy * stride + u - pad, ix = ox * stride + q - pad;
                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                sum += x.v[at(((i * x.c + ch) * x.h + iy) * x.w + ix)] *
                       double(weight.values[at(((f * x.c + ch) * r + u) * s + q)]);
              }
          y(i, f, oy, ox) = sum;
        }
  return y;
}
Activation relu(Activation x) {
  for (double& e : x.v) e = std::max(e, 0.0);
  return x;
}
Activation plus(Activation a, const Activation& b) {
  for (std::size_t i = 0; i < a.v.size(); ++i) a.v[i] += b.v[i];
  return a;
}

std::vector<double> naive_resnet(const Activation& image, const ResnetWeights& w) {
  Activation x = relu(naive_conv(image, w.stem, &w.stem_bias, 1, 1));
  Activation y = relu(naive_conv(x, w.conv1, &w.conv1_bias, 1, 1));
  x = relu(plus(naive_conv(y, w.conv2, &w.conv2_bias, 1, 1), x));
  y = relu(naive_conv(x, w.down, &w.down_bias, 2, 1));
  x = relu(plus(y, naive_conv(x, w.projection, nullptr, 2, 0)));
  for (std::int64_t i = 0; i < x.n; ++i)
    for (std::int64_t ch = 0; ch < x.c; ++ch)
      for (std::int64_t q = 0; q < x.h * x.w; ++q) {
        double& e = x.v[at((i * x.c + ch) * x.h * x.w + q)];
        e = e * w.scale.values[at(ch)] + w.shift.values[at(ch)];
      }
  x = relu(naive_conv(x, w.narrow, &w.narrow_bias, 1, 0));
  std::vector<double> logits(at(x.n * 10));
  for (std::int64_t i = 0; i < x.n; ++i)
    for (std::int64_t f = 0; f < 10; ++f) {
      double sum = w.fc_bias.values[at(f)];
      for (std::int64_t ch = 0; ch < x.c; ++ch) {
        double mean = 0.0;
        for (std::int64_t q = 0; q < x.h * x.w; ++q) mean += x.v[at((i * x.c + ch) * x.h * x.w + q)];
        sum += mean / double(x.h * x.w) * w.fc.values[at(f * x.c + ch)];
      }
      logits[at(i * 10 + f)] = sum;
    }
  return logits;
}

// Instructions that run `op`, alone or as the anchor of a fused call.
int count_ops(const vm::Executable& exe, OpKind op) {
  int n = 0;
  for (const vm::Instruction& ins : exe.instructions()) {
    const bool anchor = ins.fused != nullptr && ins.fused->anchor_binding != nullptr && ins.fused->anchor_binding->op == op;
    n += ins.op == op || anchor ? 1 : 0;
  }
  return n;
}

int count_fused_anchors(const vm::Executable& exe, OpKind op) {
  int n = 0;
  for (const vm::Instruction& ins : exe.instructions())
    n += ins.fused != nullptr && ins.fused->anchor_binding != nullptr && ins.fused->anchor_binding->op == op ? 1 : 0;
  return n;
}

std::shared_ptr<const vm::Executable> loaded(Module m, vm::LoadOptions options) {
  auto exe = vm::load(std::move(m), options);
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

// Loads `m` with the layout conversion on and off, checks that the converted module runs
// blocked from its first transform to its last (`convs` blocked convs, one transform each
// way), and that both give the same `outputs_per_image` values at several batch sizes and
// image sizes.
void check_blocked_matches_plain(Module m, int convs, std::int64_t outputs_per_image) {
  auto blocked = loaded(m, vm::LoadOptions{.convert_layout = true});
  auto plain = loaded(std::move(m), vm::LoadOptions{.convert_layout = false});
  CHECK(count_ops(*blocked, OpKind::conv_nchwc) == convs);
  CHECK(count_ops(*blocked, OpKind::conv) == 0);
  CHECK(count_ops(*blocked, OpKind::to_nchwc) == 1);
  CHECK(count_ops(*blocked, OpKind::from_nchwc) == 1);
  ThreadPool pool(2);
  vm::ExecutionContext on(blocked, &pool), off(plain);
  for (std::int64_t n : {1, 2})
    for (std::int64_t size : {9, 16}) {
      CAPTURE(n);
      CAPTURE(size);
      const Tensor input = tensor_of(param({n, 3, size, size + 3}, 0.3f * float(size), 1.0f));
      REQUIRE(on.run({input}).ok());
      REQUIRE(off.run({input}).ok());
      REQUIRE(on.output().elements() == n * outputs_per_image);
      REQUIRE(off.output().elements() == n * outputs_per_image);
      for (std::int64_t i = 0; i < n * outputs_per_image; ++i) {
        const double want = off.output().data_as<float>()[i];
        CHECK(std::fabs(double(on.output().data_as<float>()[i]) - want) <= 1e-5 * (1.0 + std::fabs(want)));
      }
    }
}

} // namespace

TEST_CASE("A resnet-like module gives the same logits with the layout conversion on and off") {
  const ResnetWeights weights;
  auto blocked = loaded(resnet_like(weights), vm::LoadOptions{.convert_layout = true});
  auto plain = loaded(resnet_like(weights), vm::LoadOptions{.convert_layout = false});
  // Six convs run blocked between one transform in and one out (after the global pool); the
  // elementwise ops between them run blocked too, fused where fusion groups them.
  CHECK(count_ops(*blocked, OpKind::conv_nchwc) == 6);
  CHECK(count_fused_anchors(*blocked, OpKind::conv_nchwc) > 0);  // relu epilogues fuse into the conv
  CHECK(count_ops(*blocked, OpKind::conv) == 0);
  CHECK(count_ops(*blocked, OpKind::to_nchwc) == 1);
  CHECK(count_ops(*blocked, OpKind::from_nchwc) == 1);
  CHECK(count_ops(*plain, OpKind::conv_nchwc) == 0);
  ThreadPool pool(2);
  vm::ExecutionContext on(blocked, &pool), on_one_thread(blocked), off(plain);
  for (std::int64_t n : {1, 3, 2})
    for (std::int64_t size : {7, 13, 8}) {
      CAPTURE(n);
      CAPTURE(size);
      const std::int64_t width = size + 2;
      Activation image{n, 3, size, width, {}};
      const Vec values = pattern(at(n * 3 * size * width), 0.37f * float(n + size));
      image.v.assign(values.begin(), values.end());
      const Tensor input = tensor_of(Param{{n, 3, size, width}, values});
      const std::vector<double> want = naive_resnet(image, weights);
      for (vm::ExecutionContext* ctx : {&on, &on_one_thread, &off}) {
        const Status s = ctx->run({input});
        REQUIRE_MESSAGE(s.ok(), s.to_string());
        const vm::Slot& out = ctx->output();
        REQUIRE(out.elements() == n * 10);
        for (std::int64_t i = 0; i < n * 10; ++i)
          CHECK(std::fabs(double(out.data_as<float>()[i]) - want[at(i)]) <= 1e-4 * (1.0 + std::fabs(want[at(i)])));
      }
    }
}

TEST_CASE("A mobilenet-like module with depthwise convs runs blocked end to end and agrees with NCHW") {
  // stem 3 -> 16 (stride 2), depthwise 3x3, project 16 -> 24, expand 24 -> 48, depthwise 3x3
  // stride 2, project 48 -> 24 with a residual-free tail, global average pool: one region.
  Builder b;
  const Var image = b.input("image", TensorType(DType::f32, {batch, 3, relax::sym("height"), relax::sym("width")}));
  const auto c = [&](std::vector<std::int64_t> dims, float phase, float scale) {
    return b.constant(tensor_of(param(std::move(dims), phase, scale)));
  };
  const auto relu6 = [&](Var v) { return b.clip(v, b.constant(filled({}, 0.0f)), b.constant(filled({}, 6.0f))); };
  const ConvAttrs stride_2{.strides = {2, 2}, .pads = {1, 1, 1, 1}};
  Var x = relu6(b.conv(image, c({16, 3, 3, 3}, 0.1f, 0.4f), c({16}, 0.2f, 0.1f), stride_2));
  x = relu6(b.conv(x, c({16, 1, 3, 3}, 0.3f, 0.5f), c({16}, 0.4f, 0.1f), ConvAttrs{.pads = {1, 1, 1, 1}, .groups = 16}));
  x = b.conv(x, c({24, 16, 1, 1}, 0.5f, 0.3f), c({24}, 0.6f, 0.1f));
  Var h = relu6(b.conv(x, c({48, 24, 1, 1}, 0.7f, 0.3f), c({48}, 0.8f, 0.1f)));
  h = relu6(b.conv(h, c({48, 1, 3, 3}, 0.9f, 0.5f), c({48}, 1.0f, 0.1f),
                   ConvAttrs{.strides = {2, 2}, .pads = {1, 1, 1, 1}, .groups = 48}));
  h = b.conv(h, c({24, 48, 1, 1}, 1.1f, 0.3f), c({24}, 1.2f, 0.1f));
  check_blocked_matches_plain(finished(b, b.global_average_pool(h)), 6, 24);
}

TEST_CASE("A module with max and average pools between convs runs blocked end to end and agrees with NCHW") {
  // A stem, a 3x3 max pool with stride 2 and padding, a conv, a ceil_mode average pool that
  // counts its padding, a 1x1 conv to 20 channels (padding lanes in a block of 16 or 8), an
  // unpadded max pool over those, a global pool.
  Builder b;
  const Var image = b.input("image", TensorType(DType::f32, {batch, 3, relax::sym("height"), relax::sym("width")}));
  const auto c = [&](std::vector<std::int64_t> dims, float phase, float scale) {
    return b.constant(tensor_of(param(std::move(dims), phase, scale)));
  };
  Var x = b.relu(b.conv(image, c({16, 3, 3, 3}, 0.1f, 0.4f), c({16}, 0.2f, 0.1f), same_3x3));
  x = b.max_pool(x, relax::PoolAttrs{.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
  x = b.relu(b.conv(x, c({16, 16, 3, 3}, 0.3f, 0.2f), c({16}, 0.4f, 0.1f), same_3x3));
  x = b.emit(OpKind::average_pool, {x},
             relax::PoolAttrs{.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {0, 0, 1, 1}, .ceil_mode = true,
                              .count_include_pad = true});
  x = b.relu(b.conv(x, c({20, 16, 1, 1}, 0.5f, 0.3f), c({20}, 0.6f, 0.1f)));
  x = b.max_pool(x, relax::PoolAttrs{.kernel_shape = {2, 2}, .strides = {1, 1}});
  check_blocked_matches_plain(finished(b, b.global_average_pool(x)), 3, 20);
}

TEST_CASE("conv_nchwc -> relu loads and runs with fusion on and off, and running allocates nothing") {
  const ResnetWeights weights;
  for (bool fuse : {true, false}) {
    CAPTURE(fuse);
    auto exe = loaded(resnet_like(weights), vm::LoadOptions{.fuse = fuse, .convert_layout = true});
    CHECK((count_ops(*exe, OpKind::fused) > 0) == fuse);
    ThreadPool pool(2);
    vm::ExecutionContext ctx(exe, &pool);
    const Param image = param({2, 3, 13, 11}, 0.5f, 1.0f);
    REQUIRE(ctx.prepare({{"image", image.dims}}).ok());
    const Tensor input = tensor_of(image);
    REQUIRE(ctx.run({input}).ok());
    test::CountAllocations allocations;
    for (int i = 0; i < 3; ++i) REQUIRE(ctx.run({input}).ok());
    CHECK(allocations.count() == 0);
  }
}
