#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/ops/linear.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "test_data.hpp"
#include "vm_op_harness.hpp"

using namespace kiln;
using namespace kiln::relax;
using kiln::test::at;
using kiln::test::pattern;
namespace vm_ops = kiln::test::vm_ops;
using kiln::vm::OpCall;
using kiln::vm::OpKernel;
using kiln::vm::Slot;

namespace {

using vm_ops::finished;
using vm_ops::host;
using vm_ops::host_type;
using vm_ops::Host;
using vm_ops::Outcome;

Host floats(const std::vector<std::int64_t>& dims, float phase) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return host(pattern(at(n), phase), dims);
}

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

Outcome run(const Module& m, const std::vector<Host*>& params, ThreadPool* pool = nullptr) {
  return vm_ops::run_op(m, params, vm::cpu_linear_kernel, pool);
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tolerance = 1e-4) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool ok = std::fabs(static_cast<double>(got[i]) - want[i]) <= tolerance * (1.0 + std::fabs(want[i]));
    if (!ok && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " differ; first at ", first, ": got ",
                bad ? got[first] : 0.0f, ", want ", bad ? want[first] : 0.0);
}

Outcome expect_ok(const Module& m, const std::vector<Host*>& params, ThreadPool* pool = nullptr) {
  Outcome o = run(m, params, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  return o;
}

// ---- references ---------------------------------------------------------------------------

// Row-major offset of `index` in dims, where axes of extent 1 are broadcast (index 0).
std::int64_t broadcast_offset(const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& index) {
  std::int64_t offset = 0;
  const std::size_t lead = index.size() - dims.size();
  for (std::size_t a = 0; a < dims.size(); ++a) offset = offset * dims[a] + (dims[a] == 1 ? 0 : index[lead + a]);
  return offset;
}

// numpy.matmul over float data, in double.
std::vector<double> naive_matmul_nd(const std::vector<float>& a, std::vector<std::int64_t> a_dims,
                                    const std::vector<float>& b, std::vector<std::int64_t> b_dims,
                                    std::vector<std::int64_t>& out_dims) {
  const bool a_vec = a_dims.size() == 1;
  const bool b_vec = b_dims.size() == 1;
  if (a_vec) a_dims.insert(a_dims.begin(), 1);
  if (b_vec) b_dims.push_back(1);
  const std::int64_t m = a_dims[a_dims.size() - 2], k = a_dims.back(), n = b_dims.back();
  const std::vector<std::int64_t> a_batch(a_dims.begin(), a_dims.end() - 2), b_batch(b_dims.begin(), b_dims.end() - 2);
  const std::size_t rank = std::max(a_batch.size(), b_batch.size());
  std::vector<std::int64_t> batch(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i + a_batch.size() >= rank ? a_batch[i + a_batch.size() - rank] : 1;
    const std::int64_t db = i + b_batch.size() >= rank ? b_batch[i + b_batch.size() - rank] : 1;
    batch[i] = std::max(da, db);
  }
  std::int64_t batches = 1;
  for (std::int64_t d : batch) batches *= d;
  std::vector<double> out(at(batches * m * n));
  std::vector<std::int64_t> index(rank);
  for (std::int64_t t = 0; t < batches; ++t) {
    std::int64_t rest = t;
    for (std::size_t i = rank; i-- > 0;) {
      index[i] = rest % batch[i];
      rest /= batch[i];
    }
    const std::int64_t ao = broadcast_offset(a_batch, index) * m * k;
    const std::int64_t bo = broadcast_offset(b_batch, index) * k * n;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (std::int64_t p = 0; p < k; ++p) sum += double{a[at(ao + i * k + p)]} * double{b[at(bo + p * n + j)]};
        out[at((t * m + i) * n + j)] = sum;
      }
  }
  out_dims = batch;
  if (!a_vec) out_dims.push_back(m);
  if (!b_vec) out_dims.push_back(n);
  return out;
}

struct ConvCase {
  std::int64_t n, c, h, w, m, kh, kw;
  std::int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  std::int64_t groups = 1;
  bool bias = false;
  bool one_d = false;  // h and kh are 1 and the op is 1-D
  AutoPad auto_pad = AutoPad::explicit_pads;
};

// The ONNX window arithmetic, written out for the reference.
std::int64_t conv_extent(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t pad_total) {
  return (in + pad_total - d * (k - 1) - 1) / s + 1;
}

std::vector<double> naive_conv(const ConvCase& cc, const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>& bias, std::int64_t oh, std::int64_t ow) {
  const std::int64_t cg = cc.c / cc.groups, mg = cc.m / cc.groups;
  std::vector<double> out(at(cc.n * cc.m * oh * ow));
  for (std::int64_t n = 0; n < cc.n; ++n)
    for (std::int64_t m = 0; m < cc.m; ++m)
      for (std::int64_t y = 0; y < oh; ++y)
        for (std::int64_t z = 0; z < ow; ++z) {
          double sum = cc.bias ? bias[at(m)] : 0.0;
          const std::int64_t g = m / mg;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t i = 0; i < cc.kh; ++i)
              for (std::int64_t j = 0; j < cc.kw; ++j) {
                const std::int64_t ih = y * cc.sh - cc.pt + i * cc.dh;
                const std::int64_t iw = z * cc.sw - cc.pl + j * cc.dw;
                if (ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w) continue;
                const std::int64_t c = g * cg + ci;
                sum += double{x[at(((n * cc.c + c) * cc.h + ih) * cc.w + iw)]} *
                       double{w[at(((m * cg + ci) * cc.kh + i) * cc.kw + j)]};
              }
          out[at(((n * cc.m + m) * oh + y) * ow + z)] = sum;
        }
  return out;
}

void check_conv(const ConvCase& cc, ThreadPool* pool = nullptr) {
  CAPTURE(cc.n);
  CAPTURE(cc.c);
  CAPTURE(cc.h);
  CAPTURE(cc.w);
  CAPTURE(cc.m);
  CAPTURE(cc.kh);
  CAPTURE(cc.kw);
  CAPTURE(cc.groups);
  CAPTURE(cc.sw);
  CAPTURE(cc.dw);
  const std::vector<std::int64_t> x_dims =
      cc.one_d ? std::vector<std::int64_t>{cc.n, cc.c, cc.w} : std::vector<std::int64_t>{cc.n, cc.c, cc.h, cc.w};
  const std::vector<std::int64_t> w_dims = cc.one_d ? std::vector<std::int64_t>{cc.m, cc.c / cc.groups, cc.kw}
                                                    : std::vector<std::int64_t>{cc.m, cc.c / cc.groups, cc.kh, cc.kw};
  Host x = floats(x_dims, 0.1f);
  Host w = floats(w_dims, 0.7f);
  Host bias = floats({cc.m}, 1.3f);
  ConvAttrs attrs;
  attrs.groups = cc.groups;
  attrs.auto_pad = cc.auto_pad;
  if (cc.one_d) {
    attrs.strides = {cc.sw};
    attrs.dilations = {cc.dw};
    attrs.pads = {cc.pl, cc.pr};
  } else {
    attrs.strides = {cc.sh, cc.sw};
    attrs.dilations = {cc.dh, cc.dw};
    attrs.pads = {cc.pt, cc.pl, cc.pb, cc.pr};
  }
  Builder b;
  Var xv = b.input("x", host_type(x));
  Var wv = b.input("w", host_type(w));
  Var bv = cc.bias ? b.input("bias", host_type(bias)) : Var{};
  Module m = finished(b, b.conv(xv, wv, bv, attrs));
  Outcome o = expect_ok(m, {&x, &w, &bias}, pool);
  ConvCase ref = cc;
  if (cc.auto_pad == AutoPad::valid) ref.pt = ref.pl = ref.pb = ref.pr = 0;
  if (cc.auto_pad == AutoPad::same_upper || cc.auto_pad == AutoPad::same_lower) {
    // ONNX: out = ceil(in / stride), the odd pad at the end (upper) or the beginning (lower).
    const auto pads = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d) {
      const std::int64_t out = (in + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s + d * (k - 1) + 1 - in);
      return cc.auto_pad == AutoPad::same_upper ? total / 2 : total - total / 2;
    };
    ref.pl = pads(cc.w, cc.kw, cc.sw, cc.dw);
    ref.pr = 0;
    ref.pt = cc.one_d ? 0 : pads(cc.h, cc.kh, cc.sh, cc.dh);
  }
  const Slot& out = o.outputs[0].slot;
  const std::int64_t oh = cc.one_d ? 1 : out.dims[2];
  const std::int64_t ow = out.dims[out.rank - 1];
  if (cc.auto_pad == AutoPad::explicit_pads) {
    CHECK(ow == conv_extent(cc.w, cc.kw, cc.sw, cc.dw, cc.pl + cc.pr));
    if (!cc.one_d) CHECK(oh == conv_extent(cc.h, cc.kh, cc.sh, cc.dh, cc.pt + cc.pb));
  }
  check_close(o.out(), naive_conv(ref, x.values<float>(), w.values<float>(), bias.values<float>(), oh, ow));
}

} // namespace

TEST_CASE("vm linear: matmul follows numpy.matmul for vectors, matrices and broadcast batches") {
  struct Case {
    std::vector<std::int64_t> a, b;
  };
  const Case cases[] = {
      {{3}, {3}},                   // dot product: a scalar
      {{17}, {17, 3}},              // vector @ matrix
      {{3, 17}, {17}},              // matrix @ vector
      {{1, 1}, {1, 1}},
      {{3, 17}, {17, 5}},
      {{2, 3, 4}, {4, 5}},          // a batch that folds into the rows
      {{2, 1, 3, 4}, {3, 4, 5}},    // broadcast batch dims on both sides
      {{4}, {2, 3, 4, 1}},          // a vector against a batch
      {{2, 3, 4}, {2, 4, 17}},
      {{1, 3, 4}, {5, 4, 2}},
      {{2, 0, 4}, {4, 3}},          // no rows
      {{2, 3, 0}, {0, 3}},          // empty inner dimension: zeros
  };
  ThreadPool pool(3);
  for (const Case& c : cases) {
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      CAPTURE(c.a.size());
      CAPTURE(c.b.size());
      Host a = floats(c.a, 0.2f);
      Host b = floats(c.b, 1.1f);
      Builder builder;
      Var av = builder.input("a", host_type(a));
      Var bv = builder.input("b", host_type(b));
      Module m = finished(builder, builder.matmul(av, bv));
      Outcome o = expect_ok(m, {&a, &b}, p);
      std::vector<std::int64_t> dims;
      const std::vector<double> want = naive_matmul_nd(a.values<float>(), c.a, b.values<float>(), c.b, dims);
      REQUIRE(o.outputs[0].slot.rank == static_cast<int>(dims.size()));
      check_close(o.out(), want);
    }
  }
}

TEST_CASE("vm linear: matmul honours operand strides and threads a large batch") {
  // A is read through a transposed view: element (i, p) sits at p * m + i.
  const std::int64_t m = 17, k = 9, n = 5;
  Host a = floats({m, k}, 0.3f);
  const std::vector<float> logical = a.values<float>();
  std::vector<float> column_major(at(m * k));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t p = 0; p < k; ++p) column_major[at(p * m + i)] = logical[at(i * k + p)];
  Host a_view = host(column_major, {m, k});
  a_view.slot.strides[0] = 1;
  a_view.slot.strides[1] = m;
  Host b = floats({k, n}, 0.9f);
  Builder builder;
  Var av = builder.input("a", host_type(a));
  Var bv = builder.input("b", host_type(b));
  Module mod = finished(builder, builder.matmul(av, bv));
  Outcome o = expect_ok(mod, {&a_view, &b});
  check_close(o.out(), kiln::test::naive_matmul<float, double>(logical, b.values<float>(), m, n, k));

  // Many small products run side by side on the pool.
  ThreadPool pool(4);
  Host qa = floats({6, 7, 3, 17}, 0.5f);
  Host qb = floats({6, 7, 17, 3}, 0.6f);
  Builder b2;
  Var qav = b2.input("a", host_type(qa));
  Var qbv = b2.input("b", host_type(qb));
  Module batched = finished(b2, b2.matmul(qav, qbv));
  Outcome ob = expect_ok(batched, {&qa, &qb}, &pool);
  std::vector<std::int64_t> dims;
  check_close(ob.out(), naive_matmul_nd(qa.values<float>(), {6, 7, 3, 17}, qb.values<float>(), {6, 7, 17, 3}, dims));
}

TEST_CASE("vm linear: gemm with transposes, alpha, beta and a broadcast C") {
  // One row (m = 1) runs as a row times a matrix: dot products down B's columns, or rows of
  // B accumulated into blocks of columns with a tail.
  const std::int64_t sizes[][3] = {{17, 3, 5}, {1, 3, 5}, {1, 37, 70}, {1, 300, 33}};
  for (const auto& size : sizes) {
    const std::int64_t m = size[0], n = size[1], k = size[2];
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    struct Case {
      bool trans_a, trans_b;
      std::vector<std::int64_t> c;  // empty: no C; {-1}: a scalar C
      double alpha, beta;
    };
    const Case cases[] = {
        {false, false, {}, 1.0, 1.0},        {true, false, {m, n}, 0.5, 2.0}, {false, true, {n}, 1.0, 1.0},
        {true, true, {m, 1}, -1.5, 0.25},    {false, false, {1}, 2.0, 0.0},   {false, true, {-1}, 1.0, -1.0},
        {true, false, {1, n}, 1.0, 1.0},
    };
    ThreadPool pool(2);
    for (const Case& c : cases) {
      CAPTURE(c.trans_a);
      CAPTURE(c.trans_b);
      CAPTURE(c.c.size());
      Host a = floats(c.trans_a ? std::vector<std::int64_t>{k, m} : std::vector<std::int64_t>{m, k}, 0.4f);
      Host b = floats(c.trans_b ? std::vector<std::int64_t>{n, k} : std::vector<std::int64_t>{k, n}, 1.7f);
      const bool scalar_c = c.c.size() == 1 && c.c[0] == -1;
      Host cc =
          scalar_c ? host(std::vector<float>{0.75f}, {}) : floats(c.c.empty() ? std::vector<std::int64_t>{1} : c.c, 2.9f);
      Builder builder;
      Var av = builder.input("a", host_type(a));
      Var bv = builder.input("b", host_type(b));
      Var cv = c.c.empty() ? Var{} : builder.input("c", host_type(cc));
      Module mod = finished(builder, builder.gemm(av, bv, cv, GemmOpAttrs{c.trans_a, c.trans_b, c.alpha, c.beta}));
      Outcome o = expect_ok(mod, {&a, &b, &cc}, &pool);
      const std::vector<float> av_ = a.values<float>(), bv_ = b.values<float>(), cv_ = cc.values<float>();
      std::vector<double> want(at(m * n));
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (std::int64_t p = 0; p < k; ++p)
            sum +=
                double{av_[at(c.trans_a ? p * m + i : i * k + p)]} * double{bv_[at(c.trans_b ? j * k + p : p * n + j)]};
          double bias = 0;
          if (!c.c.empty()) {
            const std::vector<std::int64_t> c_dims = scalar_c ? std::vector<std::int64_t>{} : c.c;
            bias = cv_[at(broadcast_offset(c_dims, {i, j}))];
          }
          want[at(i * n + j)] = c.alpha * sum + c.beta * bias;
        }
      check_close(o.out(), want);
    }
  }
}

TEST_CASE("vm linear: conv 2-D over strides, pads, dilations, groups and odd sizes") {
  const ConvCase cases[] = {
      {1, 1, 1, 1, 1, 1, 1},                                          // all ones
      {2, 3, 17, 17, 5, 1, 1},                                        // pointwise: no im2col
      {1, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},          // 3x3, pad 1, bias
      {2, 4, 17, 9, 6, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 2, true},        // stride 2, uneven pads, 2 groups
      {1, 2, 9, 11, 3, 3, 2, 1, 2, 2, 3, 2, 1, 0, 3},                 // dilations, rectangular kernel
      {1, 3, 3, 3, 2, 3, 3},                                          // kernel as large as the input
      {3, 6, 7, 5, 6, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 3},               // 3 groups
      {1, 2, 17, 17, 4, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1, true},       // stride 3, 5x5
  };
  for (const ConvCase& cc : cases) check_conv(cc);
  ThreadPool pool(4);
  for (const ConvCase& cc : cases) check_conv(cc, &pool);
}

TEST_CASE("vm linear: depthwise conv runs the direct loop, any stride, 3x3 and otherwise") {
  const ConvCase cases[] = {
      {1, 4, 17, 17, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true},   // 3x3 same, the fused path
      {2, 3, 9, 13, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, true},    // stride 2
      {1, 3, 8, 8, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3},           // dilation 2
      {1, 2, 5, 6, 4, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0, 2, true},     // channel multiplier 2, uneven pads
      {1, 3, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},           // 1x1 image under a 3x3 window
      {1, 5, 7, 3, 5, 5, 1, 1, 1, 1, 1, 2, 0, 2, 0, 5},           // a 5x1 kernel
      {1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 2},           // no padding
      {1, 2, 5, 37, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true},    // rows of several vectors and a tail
      {1, 2, 6, 41, 2, 3, 3, 1, 1, 2, 2, 0, 3, 2, 1, 2},          // wide rows, dilated, uneven pads
      {2, 3, 9, 45, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, true},    // stride 2 over rows of several vectors
      {1, 2, 7, 50, 4, 3, 5, 1, 3, 1, 2, 1, 2, 0, 3, 2},          // stride 3, dilation 2, multiplier 2
      {1, 4, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true},     // a row narrower than a vector
  };
  for (const ConvCase& cc : cases) check_conv(cc);
  ThreadPool pool(3);
  for (const ConvCase& cc : cases) check_conv(cc, &pool);
}

TEST_CASE("vm linear: conv 1-D and auto_pad") {
  ConvCase one_d{2, 3, 1, 17, 4, 1, 3};
  one_d.one_d = true;
  one_d.sw = 2;
  one_d.pl = 1;
  one_d.pr = 2;
  one_d.bias = true;
  check_conv(one_d);
  ConvCase depthwise_1d{1, 3, 1, 9, 3, 1, 3};
  depthwise_1d.one_d = true;
  depthwise_1d.groups = 3;
  depthwise_1d.pl = depthwise_1d.pr = 1;
  check_conv(depthwise_1d);
  for (AutoPad pad : {AutoPad::same_upper, AutoPad::same_lower, AutoPad::valid}) {
    ConvCase cc{1, 2, 8, 7, 3, 4, 3};
    cc.sh = 2;
    cc.sw = 3;
    cc.auto_pad = pad;
    check_conv(cc);
    cc.groups = 2;
    cc.m = 2;
    check_conv(cc);  // depthwise under auto_pad
  }
}

TEST_CASE("vm linear: conv_transpose 2-D against the scatter definition") {
  struct Case {
    std::int64_t n, c, h, w, m, kh, kw, stride, dilation, pad, output_padding, groups;
    bool bias;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, false}, {1, 3, 5, 4, 2, 3, 3, 2, 1, 1, 1, 1, true},
      {2, 4, 3, 7, 6, 2, 3, 3, 1, 0, 0, 2, true},  {1, 2, 4, 4, 3, 3, 3, 1, 2, 2, 0, 1, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.c);
    CAPTURE(c.stride);
    Host x = floats({c.n, c.c, c.h, c.w}, 0.8f);
    Host w = floats({c.c, c.m / c.groups, c.kh, c.kw}, 0.15f);
    Host bias = floats({c.m}, 2.2f);
    ConvTransposeAttrs attrs;
    attrs.strides = {c.stride, c.stride};
    attrs.dilations = {c.dilation, c.dilation};
    attrs.pads = {c.pad, c.pad, c.pad, c.pad};
    attrs.output_padding = {c.output_padding, c.output_padding};
    attrs.groups = c.groups;
    Builder b;
    Var xv = b.input("x", host_type(x));
    Var wv = b.input("w", host_type(w));
    Var bv = c.bias ? b.input("bias", host_type(bias)) : Var{};
    Module m = finished(b, b.conv_transpose(xv, wv, bv, attrs));
    Outcome o = expect_ok(m, {&x, &w, &bias});
    const std::int64_t oh = c.stride * (c.h - 1) + c.output_padding + c.dilation * (c.kh - 1) + 1 - 2 * c.pad;
    const std::int64_t ow = c.stride * (c.w - 1) + c.output_padding + c.dilation * (c.kw - 1) + 1 - 2 * c.pad;
    const std::vector<float> xs = x.values<float>(), ws = w.values<float>(), bs = bias.values<float>();
    const std::int64_t cg = c.c / c.groups, mg = c.m / c.groups;
    std::vector<double> want(at(c.n * c.m * oh * ow));
    for (std::int64_t n = 0; n < c.n; ++n)
      for (std::int64_t m_ = 0; m_ < c.m; ++m_)
        for (std::int64_t i = 0; i < oh * ow; ++i) want[at((n * c.m + m_) * oh * ow + i)] = c.bias ? bs[at(m_)] : 0.0;
    for (std::int64_t n = 0; n < c.n; ++n)
      for (std::int64_t ci = 0; ci < c.c; ++ci)
        for (std::int64_t ih = 0; ih < c.h; ++ih)
          for (std::int64_t iw = 0; iw < c.w; ++iw)
            for (std::int64_t ml = 0; ml < mg; ++ml)
              for (std::int64_t i = 0; i < c.kh; ++i)
                for (std::int64_t j = 0; j < c.kw; ++j) {
                  const std::int64_t y = ih * c.stride - c.pad + i * c.dilation;
                  const std::int64_t z = iw * c.stride - c.pad + j * c.dilation;
                  if (y < 0 || y >= oh || z < 0 || z >= ow) continue;
                  const std::int64_t mo = (ci / cg) * mg + ml;
                  want[at(((n * c.m + mo) * oh + y) * ow + z)] +=
                      double{xs[at(((n * c.c + ci) * c.h + ih) * c.w + iw)]} *
                      double{ws[at(((ci * mg + ml) * c.kh + i) * c.kw + j)]};
                }
    check_close(o.out(), want);
  }
}

namespace {

// softmax(q k^T * scale + mask) v in double; mask_dims broadcast to [b, h, s, t]; a bool
// mask keeps the keys where it is true.
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, std::int64_t bh, std::int64_t s, std::int64_t t,
                                    std::int64_t d, std::int64_t dv, double scale, bool causal,
                                    const std::vector<double>* additive, const std::vector<std::uint8_t>* keep,
                                    const std::vector<std::int64_t>& mask_dims, std::int64_t heads) {
  std::vector<double> out(at(bh * s * dv));
  std::vector<double> p(at(t));
  for (std::int64_t x = 0; x < bh; ++x)
    for (std::int64_t i = 0; i < s; ++i) {
      double top = -INFINITY;
      for (std::int64_t j = 0; j < t; ++j) {
        double sum = 0;
        for (std::int64_t e = 0; e < d; ++e)
          sum += double{q[at((x * s + i) * d + e)]} * double{k[at((x * t + j) * d + e)]};
        sum *= scale;
        const std::int64_t mo =
            mask_dims.empty() ? 0 : broadcast_offset(mask_dims, {x / heads, x % heads, i, j});
        if (additive != nullptr) sum += (*additive)[at(mo)];
        if (keep != nullptr && !(*keep)[at(mo)]) sum = -INFINITY;
        if (causal && j > i) sum = -INFINITY;
        p[at(j)] = sum;
        top = std::max(top, sum);
      }
      double total = 0;
      for (std::int64_t j = 0; j < t; ++j) {
        p[at(j)] = top == -INFINITY ? 0.0 : std::exp(p[at(j)] - top);
        total += p[at(j)];
      }
      for (std::int64_t e = 0; e < dv; ++e) {
        double sum = 0;
        for (std::int64_t j = 0; j < t; ++j) sum += p[at(j)] * double{v[at((x * t + j) * dv + e)]};
        out[at((x * s + i) * dv + e)] = total == 0 ? 0.0 : sum / total;
      }
    }
  return out;
}

} // namespace

TEST_CASE("vm linear: attention, plain, scaled, causal and masked") {
  struct Case {
    std::int64_t b, h, s, t, d, dv;
    double scale;
    bool causal;
    int mask;  // 0 none, 1 additive [s, t], 2 additive [b, 1, 1, t], 3 bool [b, h, s, t]
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 0.0, false, 0}, {2, 3, 5, 7, 4, 3, 0.0, false, 0}, {1, 2, 17, 17, 8, 8, 0.0, true, 0},
      {2, 1, 3, 5, 17, 2, 0.3, false, 1}, {2, 2, 4, 6, 3, 5, 0.0, true, 2}, {1, 3, 6, 4, 2, 3, 0.0, false, 3},
      {1, 1, 5, 3, 4, 4, 0.0, true, 1},
  };
  ThreadPool pool(4);
  for (const Case& c : cases) {
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      CAPTURE(c.s);
      CAPTURE(c.t);
      CAPTURE(c.mask);
      Host q = floats({c.b, c.h, c.s, c.d}, 0.1f);
      Host k = floats({c.b, c.h, c.t, c.d}, 0.6f);
      Host v = floats({c.b, c.h, c.t, c.dv}, 1.4f);
      std::vector<std::int64_t> mask_dims;
      Host mask;
      std::vector<double> additive;
      std::vector<std::uint8_t> keep;
      if (c.mask == 1 || c.mask == 2) {
        mask_dims = c.mask == 1 ? std::vector<std::int64_t>{c.s, c.t} : std::vector<std::int64_t>{c.b, 1, 1, c.t};
        mask = floats(mask_dims, 0.35f);
        // A few keys masked out entirely, as padding masks do.
        std::vector<float> values = mask.values<float>();
        for (std::size_t i = 0; i < values.size(); i += 3) values[i] = -1e30f;
        mask = host(values, mask_dims);
        for (float f : values) additive.push_back(f);
      } else if (c.mask == 3) {
        mask_dims = {c.b, c.h, c.s, c.t};
        for (std::int64_t i = 0; i < c.b * c.h * c.s * c.t; ++i) keep.push_back((i * 7) % 5 != 0 ? 1 : 0);
        keep[0] = 0;
        for (std::int64_t j = 0; j < c.t; ++j) keep[at(j)] = 0;  // a row that sees nothing: zeros
        mask = host(keep, mask_dims, DType::boolean);
      }
      Builder b;
      Var qv = b.input("q", host_type(q));
      Var kv = b.input("k", host_type(k));
      Var vv = b.input("v", host_type(v));
      Var mv = c.mask != 0 ? b.input("mask", host_type(mask)) : Var{};
      Module m = finished(b, b.attention(qv, kv, vv, mv, AttentionAttrs{c.scale, c.causal}));
      Outcome o = expect_ok(m, {&q, &k, &v, &mask}, p);
      const double scale = c.scale != 0.0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.d));
      check_close(o.out(), naive_attention(q.values<float>(), k.values<float>(), v.values<float>(), c.b * c.h, c.s,
                                           c.t, c.d, c.dv, scale, c.causal, additive.empty() ? nullptr : &additive,
                                           keep.empty() ? nullptr : &keep, mask_dims, c.h));
    }
  }
}

TEST_CASE("vm linear: unsupported bindings fail at load with the op and the reason") {
  {
    Builder b;
    Var a = b.input("a", TensorType(DType::i32, {3, 4}));
    Var c = b.input("c", TensorType(DType::i32, {4, 5}));
    Module m = finished(b, b.matmul(a, c));
    Outcome o = run(m, {});
    REQUIRE_FALSE(o.supported.ok());
    CHECK(contains(o.supported.message(), "matmul"));
    CHECK(contains(o.supported.message(), "f32"));
  }
  {  // 3-D windows run (test_vm_window_ops.cpp), but in f32 only
    Builder b;
    Var x = b.input("x", TensorType(DType::f64, {1, 2, 4, 4, 4}));
    Var w = b.input("w", TensorType(DType::f64, {3, 2, 3, 3, 3}));
    Module m = finished(b, b.conv(x, w));
    Outcome o = run(m, {});
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::unsupported);
    CHECK(contains(o.supported.message(), "conv"));
    CHECK(contains(o.supported.message(), "f64"));
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f64, {1, 2, 4, 4}));
    Var w = b.input("w", TensorType(DType::f64, {2, 2, 3, 3}));
    Module m = finished(b, b.conv_transpose(x, w));
    Outcome o = run(m, {});
    REQUIRE_FALSE(o.supported.ok());
    CHECK(contains(o.supported.message(), "conv_transpose"));
    CHECK(contains(o.supported.message(), "f64"));
  }
  CHECK(vm::cpu_linear_kernel(OpKind::add) == nullptr);
  CHECK(vm::cpu_linear_kernel(OpKind::transpose) == nullptr);
}
