// The dynamic module's CPU kernels for windows of any dimension (kiln/vm/ops/linear.hpp,
// pool.hpp) and hardmax (normalize.hpp), against naive loops in double written here: conv and
// conv_transpose over 3-D windows with groups, strides, pads, dilations and auto_pad, max,
// average and lp pooling over 1-D to 3-D windows, global lp pooling, hardmax along every axis
// with ties, and the errors for what the kernels still refuse.
#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/ops/linear.hpp>
#include <kiln/vm/ops/normalize.hpp>
#include <kiln/vm/ops/pool.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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

namespace {

using vm_ops::finished;
using vm_ops::host;
using vm_ops::host_type;
using vm_ops::Host;
using vm_ops::Outcome;
using Index = std::vector<std::int64_t>;

std::int64_t product(const Index& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

Host floats(const Index& dims, float phase, float scale = 1.0f) {
  return host(pattern(at(product(dims)), phase, scale), dims);
}

// "[1, 2, 3]", for the messages of failed checks.
std::string text(const Index& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tolerance = 1e-4) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i];
    const bool same_infinity = std::isinf(want[i]) && g == want[i];
    const bool ok = same_infinity || std::fabs(g - want[i]) <= tolerance * (1.0 + std::fabs(want[i]));
    if (!ok && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " differ; first at ", first, ": got ", bad ? got[first] : 0.0f,
                ", want ", bad ? want[first] : 0.0);
}

Outcome expect_ok(const Module& m, const std::vector<Host*>& params, const vm::OpKernel* (*kernel_of)(OpKind),
                  ThreadPool* pool = nullptr) {
  Outcome o = vm_ops::run_op(m, params, kernel_of, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  return o;
}

Ints ints(const Index& values) {
  Ints list;
  for (std::int64_t v : values) list.push_back(v);
  return list;
}

// ---- naive references ---------------------------------------------------------------------

// Calls fn(index) for every index of `dims`, the last axis fastest.
template <class Fn>
void for_each_index(const Index& dims, Fn&& fn) {
  const std::int64_t total = product(dims);
  Index index(dims.size(), 0);
  for (std::int64_t t = 0; t < total; ++t) {
    fn(index);
    for (std::size_t a = dims.size(); a-- > 0;) {
      if (++index[a] < dims[a]) break;
      index[a] = 0;
    }
  }
}

// Row-major offset of (lead..., index...) in dims.
std::int64_t offset_of(const Index& dims, const Index& lead, const Index& index) {
  std::int64_t offset = 0;
  std::size_t a = 0;
  for (std::int64_t i : lead) offset = offset * dims[a++] + i;
  for (std::int64_t i : index) offset = offset * dims[a++] + i;
  return offset;
}

Index spatial_of(const Index& dims) { return Index(dims.begin() + 2, dims.end()); }

// The window of one spatial axis as ONNX resolves it: pads begin and end, output extent.
struct Resolved {
  Index pad_begin;
  Index pad_end;
  Index out;
};

// ONNX's output extents and begin pads of a conv or pool, written out from the spec.
Resolved resolve(const Index& in, const Index& kernel, const Index& strides, const Index& dilations,
                 const Index& pads, AutoPad auto_pad, bool ceil_mode = false) {
  Resolved r;
  const std::size_t n = in.size();
  for (std::size_t a = 0; a < n; ++a) {
    const std::int64_t span = dilations[a] * (kernel[a] - 1) + 1;
    if (auto_pad == AutoPad::same_upper || auto_pad == AutoPad::same_lower) {
      const std::int64_t out = (in[a] + strides[a] - 1) / strides[a];
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * strides[a] + span - in[a]);
      r.out.push_back(out);
      r.pad_begin.push_back(auto_pad == AutoPad::same_upper ? total / 2 : total - total / 2);
      r.pad_end.push_back(total - r.pad_begin.back());
      continue;
    }
    const std::int64_t begin = auto_pad == AutoPad::valid ? 0 : pads[a];
    const std::int64_t end = auto_pad == AutoPad::valid ? 0 : pads[n + a];
    const std::int64_t room = in[a] + begin + end - span;
    std::int64_t out = room / strides[a] + 1;
    if (ceil_mode) {
      out = (room + strides[a] - 1) / strides[a] + 1;
      if ((out - 1) * strides[a] >= in[a] + begin) --out;  // no window may start in the end padding
    }
    r.out.push_back(out);
    r.pad_begin.push_back(begin);
    r.pad_end.push_back(end);
  }
  return r;
}

struct ConvSpec {
  Index x = {};       // [n, c, spatial...]
  std::int64_t m = 1;
  Index kernel = {};  // spatial
  Index strides = {};  // empty: ONNX's defaults
  Index dilations = {};
  Index pads = {};
  std::int64_t groups = 1;
  bool bias = false;
  AutoPad auto_pad = AutoPad::explicit_pads;
};

Index ones(std::size_t n) { return Index(n, 1); }

// Fills the lists a spec left empty with ONNX's defaults.
ConvSpec with_defaults(ConvSpec s) {
  const std::size_t n = s.kernel.size();
  if (s.strides.empty()) s.strides = ones(n);
  if (s.dilations.empty()) s.dilations = ones(n);
  if (s.pads.empty()) s.pads = Index(2 * n, 0);
  return s;
}

// y[n, m, o] = bias[m] + sum over the group's channels and taps of x * w, taps in the padding
// skipped.
std::vector<double> naive_conv(const ConvSpec& s, const Resolved& r, const std::vector<float>& x,
                               const std::vector<float>& w, const std::vector<float>& bias) {
  const std::int64_t n_images = s.x[0], c = s.x[1];
  const std::int64_t cg = c / s.groups, mg = s.m / s.groups;
  const Index in = spatial_of(s.x);
  Index y_dims{n_images, s.m};
  y_dims.insert(y_dims.end(), r.out.begin(), r.out.end());
  Index w_dims{s.m, cg};
  w_dims.insert(w_dims.end(), s.kernel.begin(), s.kernel.end());
  std::vector<double> y(at(product(y_dims)));
  Index tap_at(in.size());
  for (std::int64_t n = 0; n < n_images; ++n)
    for (std::int64_t m = 0; m < s.m; ++m)
      for_each_index(r.out, [&](const Index& o) {
        double sum = s.bias ? double{bias[at(m)]} : 0.0;
        for (std::int64_t ci = 0; ci < cg; ++ci)
          for_each_index(s.kernel, [&](const Index& k) {
            for (std::size_t a = 0; a < in.size(); ++a) {
              tap_at[a] = o[a] * s.strides[a] - r.pad_begin[a] + k[a] * s.dilations[a];
              if (tap_at[a] < 0 || tap_at[a] >= in[a]) return;
            }
            sum += double{x[at(offset_of(s.x, {n, (m / mg) * cg + ci}, tap_at))]} *
                   double{w[at(offset_of(w_dims, {m, ci}, k))]};
          });
        y[at(offset_of(y_dims, {n, m}, o))] = sum;
      });
  return y;
}

void check_conv(const ConvSpec& spec, ThreadPool* pool) {
  const ConvSpec s = with_defaults(spec);
  const std::string window = "x " + text(s.x) + ", kernel " + text(s.kernel) + ", strides " + text(s.strides) +
                             ", dilations " + text(s.dilations) + ", pads " + text(s.pads) + ", groups " +
                             std::to_string(s.groups);
  CAPTURE(window);
  Index w_dims{s.m, s.x[1] / s.groups};
  w_dims.insert(w_dims.end(), s.kernel.begin(), s.kernel.end());
  Host x = floats(s.x, 0.1f);
  Host w = floats(w_dims, 0.7f);
  Host bias = floats({s.m}, 1.3f);
  ConvAttrs attrs;
  attrs.strides = ints(s.strides);
  attrs.dilations = ints(s.dilations);
  attrs.pads = ints(s.pads);
  attrs.groups = s.groups;
  attrs.auto_pad = s.auto_pad;
  Builder b;
  Var xv = b.input("x", host_type(x));
  Var wv = b.input("w", host_type(w));
  Var bv = s.bias ? b.input("bias", host_type(bias)) : Var{};
  Module m = finished(b, b.conv(xv, wv, bv, attrs));
  Outcome o = expect_ok(m, {&x, &w, &bias}, vm::cpu_linear_kernel, pool);
  const Resolved r = resolve(spatial_of(s.x), s.kernel, s.strides, s.dilations, s.pads, s.auto_pad);
  CHECK(spatial_of(o.dims()) == r.out);
  check_close(o.out(), naive_conv(s, r, x.values<float>(), w.values<float>(), bias.values<float>()));
}

} // namespace

TEST_CASE("vm window ops: conv 3-D over groups, strides, pads, dilations and odd sizes") {
  const ConvSpec cases[] = {
      {.x = {1, 1, 1, 1, 1}, .m = 1, .kernel = {1, 1, 1}},                                     // all ones
      {.x = {2, 3, 3, 5, 7}, .m = 4, .kernel = {1, 1, 1}},                                     // pointwise: no im2col
      {.x = {1, 2, 5, 6, 7}, .m = 3, .kernel = {3, 3, 3}, .pads = {1, 1, 1, 1, 1, 1}, .bias = true},
      {.x = {2, 4, 7, 9, 8}, .m = 6, .kernel = {3, 3, 2}, .strides = {2, 1, 3}, .dilations = {1, 2, 1},
       .pads = {1, 0, 2, 0, 1, 1}, .groups = 2, .bias = true},                                // uneven pads, 2 groups
      {.x = {1, 6, 5, 5, 3}, .m = 3, .kernel = {2, 3, 1}, .strides = {1, 2, 1}, .pads = {0, 1, 0, 1, 1, 0},
       .groups = 3},                                                                         // one output per group
      {.x = {1, 3, 3, 3, 3}, .m = 2, .kernel = {3, 3, 3}},                                     // the whole input
      {.x = {1, 2, 9, 4, 5}, .m = 2, .kernel = {3, 1, 2}, .dilations = {3, 1, 2}, .pads = {2, 0, 1, 1, 0, 0}},
      {.x = {3, 2, 4, 6, 5}, .m = 5, .kernel = {2, 2, 2}, .strides = {2, 2, 2}, .pads = {0, 1, 1, 1, 0, 1},
       .bias = true},
      {.x = {1, 2, 8, 8, 8}, .m = 3, .kernel = {1, 1, 1}, .strides = {2, 2, 2}},               // 1x1x1, strided
  };
  ThreadPool pool(3);
  for (const ConvSpec& s : cases) {
    check_conv(s, nullptr);
    check_conv(s, &pool);
  }
}

TEST_CASE("vm window ops: depthwise conv 3-D runs the direct loop") {
  const ConvSpec cases[] = {
      {.x = {1, 4, 5, 7, 17}, .m = 4, .kernel = {3, 3, 3}, .pads = {1, 1, 1, 1, 1, 1}, .groups = 4, .bias = true},
      {.x = {2, 2, 6, 5, 9}, .m = 4, .kernel = {3, 2, 3}, .strides = {2, 1, 1}, .dilations = {1, 1, 2},
       .pads = {1, 0, 2, 0, 1, 1}, .groups = 2},                                             // multiplier 2
      {.x = {1, 3, 4, 6, 11}, .m = 3, .kernel = {2, 3, 3}, .strides = {1, 2, 2}, .pads = {1, 1, 1, 0, 1, 1},
       .groups = 3, .bias = true},                                                           // strided columns
      {.x = {1, 2, 1, 1, 1}, .m = 2, .kernel = {3, 3, 3}, .pads = {1, 1, 1, 1, 1, 1}, .groups = 2},  // 1x1x1 image
      {.x = {1, 2, 9, 3, 41}, .m = 2, .kernel = {3, 1, 3}, .dilations = {2, 1, 2}, .pads = {2, 0, 3, 1, 0, 2},
       .groups = 2},                                                                         // wide rows, dilated
  };
  ThreadPool pool(3);
  for (const ConvSpec& s : cases) {
    check_conv(s, nullptr);
    check_conv(s, &pool);
  }
}

TEST_CASE("vm window ops: conv 3-D under auto_pad") {
  for (AutoPad pad : {AutoPad::same_upper, AutoPad::same_lower, AutoPad::valid}) {
    CAPTURE(static_cast<int>(pad));
    ConvSpec s{.x = {1, 2, 7, 8, 5}, .m = 4, .kernel = {4, 3, 2}, .strides = {2, 3, 1}, .auto_pad = pad};
    check_conv(s, nullptr);
    s.groups = 2;
    s.m = 2;
    check_conv(s, nullptr);  // depthwise under auto_pad
  }
}

namespace {

struct TransposeSpec {
  Index x = {};  // [n, c, spatial...]
  std::int64_t m = 1;
  Index kernel = {};
  Index strides = {};
  Index dilations = {};
  Index pads = {};
  Index output_padding = {};
  std::int64_t groups = 1;
  bool bias = false;
  AutoPad auto_pad = AutoPad::explicit_pads;
};

// The scatter definition: input position i of channel c adds x * w[c, m, k] to output
// position i * stride - pad_begin + k * dilation of each output channel m of c's group.
void check_conv_transpose(const TransposeSpec& s, ThreadPool* pool) {
  const std::string window = "x " + text(s.x) + ", kernel " + text(s.kernel) + ", strides " + text(s.strides) +
                             ", dilations " + text(s.dilations) + ", groups " + std::to_string(s.groups);
  CAPTURE(window);
  const Index in = spatial_of(s.x);
  const std::size_t spatial = in.size();
  const std::int64_t c = s.x[1], cg = c / s.groups, mg = s.m / s.groups;
  Index w_dims{c, mg};
  w_dims.insert(w_dims.end(), s.kernel.begin(), s.kernel.end());
  Host x = floats(s.x, 0.8f);
  Host w = floats(w_dims, 0.15f);
  Host bias = floats({s.m}, 2.2f);
  ConvTransposeAttrs attrs;
  attrs.strides = ints(s.strides);
  attrs.dilations = ints(s.dilations);
  attrs.pads = ints(s.pads);
  attrs.output_padding = ints(s.output_padding);
  attrs.groups = s.groups;
  attrs.auto_pad = s.auto_pad;
  Builder b;
  Var xv = b.input("x", host_type(x));
  Var wv = b.input("w", host_type(w));
  Var bv = s.bias ? b.input("bias", host_type(bias)) : Var{};
  Module mod = finished(b, b.conv_transpose(xv, wv, bv, attrs));
  Outcome o = expect_ok(mod, {&x, &w, &bias}, vm::cpu_linear_kernel, pool);

  Index out, pad_begin;
  for (std::size_t a = 0; a < spatial; ++a) {
    const std::int64_t full = s.strides[a] * (in[a] - 1) + s.output_padding[a] + s.dilations[a] * (s.kernel[a] - 1) + 1;
    if (s.auto_pad == AutoPad::same_upper || s.auto_pad == AutoPad::same_lower) {
      // ONNX: the output is in * stride; the odd pad goes to the end for same_upper.
      const std::int64_t total = full - in[a] * s.strides[a];
      out.push_back(in[a] * s.strides[a]);
      pad_begin.push_back(s.auto_pad == AutoPad::same_upper ? total / 2 : total - total / 2);
    } else {
      out.push_back(full - s.pads[a] - s.pads[spatial + a]);
      pad_begin.push_back(s.pads[a]);
    }
  }
  REQUIRE(spatial_of(o.dims()) == out);
  Index y_dims{s.x[0], s.m};
  y_dims.insert(y_dims.end(), out.begin(), out.end());
  const std::vector<float> xs = x.values<float>(), ws = w.values<float>(), bs = bias.values<float>();
  std::vector<double> want(at(product(y_dims)));
  for (std::int64_t n = 0; n < s.x[0]; ++n)
    for (std::int64_t m = 0; m < s.m; ++m)
      for_each_index(out, [&](const Index& p) { want[at(offset_of(y_dims, {n, m}, p))] = s.bias ? bs[at(m)] : 0.0; });
  Index target(spatial);
  for (std::int64_t n = 0; n < s.x[0]; ++n)
    for (std::int64_t ci = 0; ci < c; ++ci)
      for_each_index(in, [&](const Index& i) {
        const double xv_ = xs[at(offset_of(s.x, {n, ci}, i))];
        for (std::int64_t ml = 0; ml < mg; ++ml)
          for_each_index(s.kernel, [&](const Index& k) {
            for (std::size_t a = 0; a < spatial; ++a) {
              target[a] = i[a] * s.strides[a] - pad_begin[a] + k[a] * s.dilations[a];
              if (target[a] < 0 || target[a] >= out[a]) return;
            }
            want[at(offset_of(y_dims, {n, (ci / cg) * mg + ml}, target))] +=
                xv_ * double{ws[at(offset_of(w_dims, {ci, ml}, k))]};
          });
      });
  check_close(o.out(), want);
}

} // namespace

TEST_CASE("vm window ops: conv_transpose 3-D against the scatter definition") {
  const TransposeSpec cases[] = {
      {.x = {1, 1, 1, 1, 1}, .m = 1, .kernel = {1, 1, 1}, .strides = {1, 1, 1}, .dilations = {1, 1, 1},
       .pads = {0, 0, 0, 0, 0, 0}, .output_padding = {0, 0, 0}},
      {.x = {1, 3, 3, 5, 4}, .m = 2, .kernel = {3, 3, 3}, .strides = {2, 2, 2}, .dilations = {1, 1, 1},
       .pads = {1, 1, 1, 1, 1, 1}, .output_padding = {1, 0, 1}, .bias = true},
      {.x = {2, 4, 3, 2, 5}, .m = 6, .kernel = {2, 3, 1}, .strides = {3, 1, 2}, .dilations = {1, 2, 1},
       .pads = {0, 1, 0, 1, 0, 0}, .output_padding = {2, 0, 1}, .groups = 2, .bias = true},
      {.x = {1, 2, 4, 3, 3}, .m = 3, .kernel = {3, 2, 3}, .strides = {1, 1, 1}, .dilations = {2, 1, 2},
       .pads = {2, 0, 1, 1, 1, 0}, .output_padding = {0, 0, 0}},
      {.x = {1, 3, 2, 3, 4}, .m = 3, .kernel = {2, 2, 2}, .strides = {2, 2, 2}, .dilations = {1, 1, 1},
       .pads = {0, 0, 0, 0, 0, 0}, .output_padding = {0, 0, 0}, .groups = 3},  // depthwise-like
      {.x = {1, 2, 3, 4, 3}, .m = 2, .kernel = {3, 3, 4}, .strides = {2, 1, 3}, .dilations = {1, 1, 1},
       .pads = {}, .output_padding = {0, 0, 0}, .auto_pad = AutoPad::same_upper},
      {.x = {1, 2, 3, 4, 3}, .m = 2, .kernel = {3, 3, 4}, .strides = {2, 1, 3}, .dilations = {1, 1, 1},
       .pads = {}, .output_padding = {0, 0, 0}, .auto_pad = AutoPad::same_lower},
  };
  ThreadPool pool(3);
  for (const TransposeSpec& s : cases) {
    TransposeSpec filled = s;
    if (filled.pads.empty()) filled.pads = Index(6, 0);
    check_conv_transpose(filled, nullptr);
    check_conv_transpose(filled, &pool);
  }
}

namespace {

struct PoolSpec {
  Index x = {};  // [n, c, spatial...]
  Index kernel = {};
  Index strides = {};  // empty: ONNX's defaults
  Index dilations = {};
  Index pads = {};
  bool ceil_mode = false;
  AutoPad auto_pad = AutoPad::explicit_pads;
  std::int64_t p = 2;              // lp_pool
  bool count_include_pad = false;  // average_pool
};

PoolAttrs pool_attrs(const PoolSpec& s) {
  PoolAttrs attrs;
  attrs.kernel_shape = ints(s.kernel);
  attrs.strides = ints(s.strides);
  attrs.dilations = ints(s.dilations);
  attrs.pads = ints(s.pads);
  attrs.ceil_mode = s.ceil_mode;
  attrs.auto_pad = s.auto_pad;
  attrs.p = s.p;
  attrs.count_include_pad = s.count_include_pad;
  return attrs;
}

// Pooling over the taps inside the input: max, mean or the lp norm (sum |x|^p)^(1/p); a window
// with no tap inside gives -inf or 0. The mean divides by the taps inside the input, or under
// count_include_pad by the taps inside the padded input [-pad_begin, in + pad_end) (pads are
// zeros; what ceil_mode's last windows reach past the end pad is not counted).
std::vector<double> naive_pool(OpKind op, const Index& x_dims, const std::vector<float>& x, const PoolSpec& spec,
                               const Resolved& r) {
  const std::size_t spatial = r.out.size();
  const Index in = spatial_of(x_dims);
  const Index strides = spec.strides.empty() ? ones(spatial) : spec.strides;
  const Index dilations = spec.dilations.empty() ? ones(spatial) : spec.dilations;
  const double p = static_cast<double>(spec.p);
  Index y_dims{x_dims[0], x_dims[1]};
  y_dims.insert(y_dims.end(), r.out.begin(), r.out.end());
  std::vector<double> y(at(product(y_dims)));
  Index tap_at(spatial);
  for (std::int64_t n = 0; n < x_dims[0]; ++n)
    for (std::int64_t c = 0; c < x_dims[1]; ++c)
      for_each_index(r.out, [&](const Index& o) {
        double acc = op == OpKind::max_pool ? -INFINITY : 0.0;
        std::int64_t inside = 0, padded = 0;
        for_each_index(spec.kernel, [&](const Index& k) {
          bool in_input = true;
          for (std::size_t a = 0; a < spatial; ++a) {
            tap_at[a] = o[a] * strides[a] - r.pad_begin[a] + k[a] * dilations[a];
            if (tap_at[a] < -r.pad_begin[a] || tap_at[a] >= in[a] + r.pad_end[a]) return;
            in_input = in_input && tap_at[a] >= 0 && tap_at[a] < in[a];
          }
          ++padded;
          if (!in_input) return;
          const double v = x[at(offset_of(x_dims, {n, c}, tap_at))];
          ++inside;
          if (op == OpKind::max_pool) acc = std::max(acc, v);
          else if (op == OpKind::average_pool) acc += v;
          else acc += std::pow(std::fabs(v), p);
        });
        const std::int64_t count = spec.count_include_pad ? padded : inside;
        if (op == OpKind::average_pool) acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
        if (op == OpKind::lp_pool) acc = std::pow(acc, 1.0 / p);
        y[at(offset_of(y_dims, {n, c}, o))] = acc;
      });
  return y;
}

void check_pool(OpKind op, const PoolSpec& s, ThreadPool* pool) {
  CAPTURE(relax::to_string(op));
  const std::string window = "x " + text(s.x) + ", kernel " + text(s.kernel) + ", strides " + text(s.strides) +
                             ", dilations " + text(s.dilations) + ", pads " + text(s.pads) +
                             (s.ceil_mode ? ", ceil_mode" : "") + (s.count_include_pad ? ", count_include_pad" : "") +
                             (op == OpKind::lp_pool ? ", p " + std::to_string(s.p) : "");
  CAPTURE(window);
  Host x = floats(s.x, 0.3f, 2.0f);
  Builder b;
  Var xv = b.input("x", host_type(x));
  Module m = finished(b, b.emit(op, {xv}, pool_attrs(s)));
  Outcome o = expect_ok(m, {&x}, vm::cpu_pool_kernel, pool);
  const std::size_t spatial = s.kernel.size();
  const Resolved r = resolve(spatial_of(s.x), s.kernel, s.strides.empty() ? ones(spatial) : s.strides,
                             s.dilations.empty() ? ones(spatial) : s.dilations,
                             s.pads.empty() ? Index(2 * spatial, 0) : s.pads, s.auto_pad, s.ceil_mode);
  REQUIRE(spatial_of(o.dims()) == r.out);
  check_close(o.out(), naive_pool(op, s.x, x.values<float>(), s, r), 1e-5);
}

} // namespace

TEST_CASE("vm window ops: max and average pooling 3-D with pads, strides, dilations, ceil_mode and auto_pad") {
  const PoolSpec cases[] = {
      {.x = {1, 1, 1, 1, 1}, .kernel = {1, 1, 1}},
      {.x = {2, 3, 5, 6, 7}, .kernel = {2, 2, 2}},
      {.x = {1, 2, 5, 7, 9}, .kernel = {3, 3, 3}, .strides = {2, 2, 2}, .pads = {1, 1, 1, 1, 1, 1}},
      {.x = {1, 3, 7, 5, 6}, .kernel = {3, 2, 3}, .strides = {2, 1, 3}, .dilations = {2, 1, 1},
       .pads = {2, 0, 1, 1, 1, 2}},
      {.x = {2, 2, 6, 7, 5}, .kernel = {3, 3, 2}, .strides = {2, 3, 2}, .pads = {1, 0, 1, 1, 1, 1},
       .ceil_mode = true},
      {.x = {1, 2, 5, 5, 5}, .kernel = {2, 3, 2}, .strides = {2, 2, 3}, .ceil_mode = true},
      {.x = {1, 2, 6, 5, 7}, .kernel = {3, 2, 3}, .strides = {2, 2, 2}, .auto_pad = AutoPad::same_upper},
      {.x = {1, 2, 6, 5, 7}, .kernel = {3, 2, 3}, .strides = {2, 2, 2}, .auto_pad = AutoPad::same_lower},
      {.x = {1, 2, 6, 5, 7}, .kernel = {3, 2, 3}, .strides = {1, 2, 2}, .auto_pad = AutoPad::valid},
      {.x = {2, 16, 16, 24, 24}, .kernel = {3, 3, 3}, .pads = {1, 1, 1, 1, 1, 1}},  // large: on the pool
  };
  ThreadPool pool(3);
  for (const PoolSpec& s : cases)
    for (OpKind op : {OpKind::max_pool, OpKind::average_pool}) {
      check_pool(op, s, nullptr);
      check_pool(op, s, &pool);
    }
}

TEST_CASE("vm window ops: average pooling with count_include_pad counts the pads, not what ceil_mode adds past them") {
  const PoolSpec cases[] = {
      {.x = {1, 2, 17}, .kernel = {4}, .strides = {3}, .pads = {2, 1}},
      {.x = {1, 2, 10}, .kernel = {3}, .strides = {2}, .pads = {1, 1}, .ceil_mode = true},  // last: input, pad, beyond
      {.x = {1, 2, 9}, .kernel = {3}, .strides = {2}, .pads = {1, 0}, .ceil_mode = true},   // last: past the input only
      {.x = {2, 3, 7, 9}, .kernel = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}, .ceil_mode = true},
      {.x = {1, 2, 8, 5}, .kernel = {2, 3}, .strides = {2, 2}, .dilations = {2, 1}, .pads = {1, 2, 0, 1},
       .ceil_mode = true},
      {.x = {1, 2, 6, 6}, .kernel = {3, 3}, .strides = {2, 2}, .auto_pad = AutoPad::same_upper},
      {.x = {1, 2, 6, 7}, .kernel = {4, 3}, .strides = {3, 2}, .auto_pad = AutoPad::same_lower},
      {.x = {1, 2, 5, 6, 7}, .kernel = {3, 2, 3}, .strides = {2, 2, 2}, .dilations = {1, 2, 1},
       .pads = {1, 0, 2, 1, 1, 1}, .ceil_mode = true},
      {.x = {1, 1, 32, 32, 32}, .kernel = {5, 5, 5}, .strides = {3, 3, 3}, .dilations = {2, 2, 2},
       .ceil_mode = true},  // ONNX's averagepool_3d_dilations_large: no pads, so nothing more is counted
      {.x = {2, 8, 16, 16, 16}, .kernel = {3, 3, 3}, .strides = {2, 2, 2}, .pads = {1, 1, 1, 1, 1, 1},
       .ceil_mode = true},  // large: on the pool
  };
  ThreadPool pool(3);
  for (PoolSpec s : cases)
    for (bool include : {true, false}) {
      s.count_include_pad = include;
      check_pool(OpKind::average_pool, s, nullptr);
      check_pool(OpKind::average_pool, s, &pool);
      check_pool(OpKind::max_pool, s, nullptr);  // not an attribute of max pooling: no change
    }
  // ONNX's averagepool_2d_precomputed_pads_count_include_pad and
  // averagepool_2d_ceil_last_window_starts_on_pad.
  {
    std::vector<float> values;
    for (int i = 1; i <= 25; ++i) values.push_back(static_cast<float>(i));
    Host x = host(values, {1, 1, 5, 5});
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, b.average_pool(xv, PoolAttrs{.kernel_shape = {5, 5}, .pads = {2, 2, 2, 2},
                                                        .count_include_pad = true}));
    Outcome o = expect_ok(m, {&x}, vm::cpu_pool_kernel);
    check_close(o.out(), {2.52, 3.6, 4.8, 4.08, 3.24, 4.56, 6.4, 8.4, 7.04, 5.52, 7.2, 10, 13, 10.8, 8.4,
                          6.96, 9.6, 12.4, 10.24, 7.92, 6.12, 8.4, 10.8, 8.88, 6.84}, 1e-6);
  }
  {
    Host x = host(std::vector<float>{0.8580f, 0.0786f, 0.2692f, 0.1537f, 0.8816f, 0.4353f, 0.5772f, 0.6623f, 0.9067f,
                                     0.9483f, 0.5970f, 0.7630f},
                  {1, 3, 2, 2});
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, b.average_pool(xv, PoolAttrs{.kernel_shape = {3, 3}, .strides = {3, 3},
                                                        .pads = {1, 1, 1, 1}, .ceil_mode = true,
                                                        .count_include_pad = true}));
    Outcome o = expect_ok(m, {&x}, vm::cpu_pool_kernel);
    CHECK(o.dims() == Index{1, 3, 1, 1});
    check_close(o.out(), {0.1511, 0.2841, 0.3572}, 2e-4);
  }
}

TEST_CASE("vm window ops: lp pooling with p = 1, 2, 3 and 4 over 1-D, 2-D and 3-D windows") {
  const PoolSpec cases[] = {
      {.x = {2, 3, 17}, .kernel = {3}},
      {.x = {1, 2, 13}, .kernel = {4}, .strides = {3}, .dilations = {2}, .pads = {2, 1}},
      {.x = {1, 2, 9}, .kernel = {2}, .strides = {2}, .ceil_mode = true},
      {.x = {2, 3, 7, 9}, .kernel = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
      {.x = {1, 2, 8, 5}, .kernel = {2, 3}, .strides = {1, 2}, .dilations = {2, 1}, .pads = {0, 1, 1, 0}},
      {.x = {1, 2, 6, 6}, .kernel = {3, 3}, .strides = {2, 2}, .auto_pad = AutoPad::same_upper},
      {.x = {1, 2, 5, 6, 7}, .kernel = {2, 3, 2}, .strides = {2, 1, 2}, .pads = {1, 1, 0, 0, 1, 1}},
      {.x = {2, 2, 6, 5, 6}, .kernel = {3, 2, 3}, .strides = {1, 2, 2}, .dilations = {2, 2, 1}, .ceil_mode = true},
      {.x = {2, 8, 16, 16, 16}, .kernel = {2, 2, 2}, .strides = {2, 2, 2}},  // large: on the pool
  };
  ThreadPool pool(3);
  for (std::int64_t p : {1, 2, 3, 4})
    for (PoolSpec s : cases) {
      s.p = p;
      check_pool(OpKind::lp_pool, s, nullptr);
      check_pool(OpKind::lp_pool, s, &pool);
      s.count_include_pad = true;  // an average_pool attribute: no change to lp pooling
      check_pool(OpKind::lp_pool, s, nullptr);
    }
}

TEST_CASE("vm window ops: global lp, max and average pooling over 1 to 3 spatial axes") {
  const Index shapes[] = {{2, 3, 17}, {1, 4, 5, 7}, {2, 3, 4, 5, 6}, {1, 2, 1, 1, 1}, {2, 64, 8, 16, 16}};
  ThreadPool pool(3);
  for (const Index& dims : shapes)
    for (OpKind op : {OpKind::global_lp_pool, OpKind::global_max_pool, OpKind::global_average_pool})
      for (int p : {1, 2, 3}) {
        if (op != OpKind::global_lp_pool && p != 2) continue;
        const std::string shape = text(dims);
        CAPTURE(shape);
        CAPTURE(relax::to_string(op));
        CAPTURE(p);
        Host x = floats(dims, 0.9f, 1.5f);
        Builder b;
        Var xv = b.input("x", host_type(x));
        Module m = finished(b, op == OpKind::global_lp_pool ? b.emit(op, {xv}, LpNormAttrs{p}) : b.emit(op, {xv}));
        Outcome o = expect_ok(m, {&x}, vm::cpu_pool_kernel, &pool);
        const std::int64_t plane = product(spatial_of(dims));
        const std::vector<float> xs = x.values<float>();
        std::vector<double> want;
        for (std::int64_t i = 0; i < dims[0] * dims[1]; ++i) {
          double acc = op == OpKind::global_max_pool ? -INFINITY : 0.0;
          for (std::int64_t j = 0; j < plane; ++j) {
            const double v = xs[at(i * plane + j)];
            if (op == OpKind::global_max_pool) acc = std::max(acc, v);
            else if (op == OpKind::global_average_pool) acc += v / static_cast<double>(plane);
            else acc += std::pow(std::fabs(v), p);
          }
          want.push_back(op == OpKind::global_lp_pool ? std::pow(acc, 1.0 / p) : acc);
        }
        check_close(o.out(), want, 1e-5);
      }
}

namespace {

// One-hot of the first maximum along `axis` (strictly greater replaces the best).
std::vector<double> naive_hardmax(const std::vector<float>& x, const Index& dims, int axis) {
  std::int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= dims[at(a)];
  for (std::size_t a = at(axis) + 1; a < dims.size(); ++a) inner *= dims[a];
  const std::int64_t n = dims[at(axis)];
  std::vector<double> y(x.size(), 0.0);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < inner; ++j) {
      std::int64_t best = 0;
      for (std::int64_t i = 1; i < n; ++i)
        if (x[at((o * n + i) * inner + j)] > x[at((o * n + best) * inner + j)]) best = i;
      y[at((o * n + best) * inner + j)] = 1.0;
    }
  return y;
}

} // namespace

TEST_CASE("vm window ops: hardmax along the first, a middle and the last axis, ties to the first") {
  const Index shapes[] = {{7}, {3, 5}, {2, 7, 4}, {4, 3, 2, 5}, {2, 5, 300}, {64, 1024}, {1, 1, 1}};
  ThreadPool pool(3);
  for (const Index& dims : shapes)
    for (int axis = 0; axis < static_cast<int>(dims.size()); ++axis)
      for (bool negative : {false, true}) {
        const std::string shape = text(dims);
        CAPTURE(shape);
        CAPTURE(axis);
        // Values rounded to halves: many rows hold their maximum more than once.
        std::vector<float> values = pattern(at(product(dims)), 0.4f, 2.0f);
        for (float& v : values) v = std::round(v * 2.0f) / 2.0f;
        Host x = host(values, dims);
        Builder b;
        Var xv = b.input("x", host_type(x));
        const std::int64_t axis_attr = negative ? axis - static_cast<std::int64_t>(dims.size()) : axis;
        Module m = finished(b, b.emit(OpKind::hardmax, {xv}, AxisAttrs{axis_attr}));
        Outcome o = expect_ok(m, {&x}, vm::cpu_normalize_kernel, &pool);
        check_close(o.out(), naive_hardmax(values, dims, axis), 0.0);
      }
  // Explicit ties and a NaN, which (as in argmax) never compares greater.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {3, 1, 3, 2,  -1, -1, -1, -1,  0, nan, 5, 5,  nan, 7, 7, 1};
  Host x = host(values, {4, 4});
  for (std::int64_t axis : {0, 1}) {
    CAPTURE(axis);
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, b.emit(OpKind::hardmax, {xv}, AxisAttrs{axis}));
    Outcome o = expect_ok(m, {&x}, vm::cpu_normalize_kernel);
    // Rows: a tie keeps the first; a NaN is passed over, but one in front stays the winner.
    // Columns: the same, read downwards.
    const std::vector<double> want = axis == 1
                                         ? std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0}
                                         : std::vector<double>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0};
    check_close(o.out(), want, 0.0);
  }
}

TEST_CASE("vm window ops: what stays unsupported is refused with the op and the reason") {
  // A dtype other than f32.
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f64, {1, 2, 4, 4, 4}));
    Var w = b.input("w", TensorType(DType::f64, {3, 2, 3, 3, 3}));
    Module m = finished(b, b.conv(x, w));
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_linear_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::unsupported);
    CHECK(contains(o.supported.message(), "conv"));
    CHECK(contains(o.supported.message(), "f64"));
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f16, {1, 2, 4, 4, 4}));
    Module m = finished(b, b.emit(OpKind::lp_pool, {x}, PoolAttrs{.kernel_shape = {2, 2, 2}}));
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_pool_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.message() == "lp_pool: f16 input is not supported (f32 only)");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f64, {3, 4}));
    Module m = finished(b, b.emit(OpKind::hardmax, {x}, AxisAttrs{-1}));
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_normalize_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.message() == "hardmax: f64 input is not supported (f32 only)");
  }
  // Four spatial axes: inference stops at three, so the types are edited as a hand-built
  // module could hold them.
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {1, 2, 4, 4, 4}));
    Module m = finished(b, b.max_pool(x, PoolAttrs{.kernel_shape = {2, 2, 2}}));
    Function& fn = m.main();
    fn.value(fn.params[0]).type.push_back(4);
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_pool_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::unsupported);
    CHECK(o.supported.message() == "max_pool: 4-D pooling is not supported (1-D to 3-D: input of rank 3 to 5)");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {1, 2, 4, 4, 4}));
    Var w = b.input("w", TensorType(DType::f32, {3, 2, 3, 3, 3}));
    Module m = finished(b, b.conv(x, w));
    Function& fn = m.main();
    fn.value(fn.params[0]).type.push_back(4);
    fn.value(fn.params[1]).type.push_back(3);
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_linear_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::unsupported);
    CHECK(contains(o.supported.message(), "conv: 4-D windows are not supported"));
  }
  // An axis out of range, a list of the wrong length: attributes a hand-built module may hold.
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {3, 4}));
    Module m = finished(b, b.emit(OpKind::hardmax, {x}, AxisAttrs{-1}));
    m.main().blocks[0].bindings[0].attrs = AxisAttrs{2};
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_normalize_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.message() == "hardmax: the axis is out of range for rank 2");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {1, 2, 6, 6, 6}));
    Var w = b.input("w", TensorType(DType::f32, {3, 2, 3, 3, 3}));
    Module m = finished(b, b.conv(x, w, Var{}, ConvAttrs{.strides = {2, 2, 2}}));
    std::get<ConvAttrs>(m.main().blocks[0].bindings[0].attrs).strides = {2, 2};
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_linear_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::invalid_argument);
    CHECK(contains(o.supported.message(), "conv: strides, dilations and pads must hold 3, 3 and 6 values"));
  }
  // lp pooling needs a positive order, and global lp pooling its lp norm attributes.
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {1, 2, 5}));
    Module m = finished(b, b.emit(OpKind::lp_pool, {x}, PoolAttrs{.kernel_shape = {2}, .p = 0}));
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_pool_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.code() == StatusCode::invalid_argument);
    CHECK(o.supported.message() == "lp_pool: p must be positive, got 0");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {1, 2, 5}));
    Module m = finished(b, b.emit(OpKind::global_lp_pool, {x}, LpNormAttrs{-1}));
    Outcome o = vm_ops::run_op(m, {}, vm::cpu_pool_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.message() == "global_lp_pool: p must be positive, got -1");
    m.main().blocks[0].bindings[0].attrs = NoAttrs{};
    o = vm_ops::run_op(m, {}, vm::cpu_pool_kernel);
    REQUIRE_FALSE(o.supported.ok());
    CHECK(o.supported.message() == "global_lp_pool: expects lp norm attributes");
  }
}

TEST_CASE("vm window ops: operands that disagree with the module are errors, never out-of-bounds reads") {
  // The input slot is smaller than the module's type said: the output extents no longer
  // follow from it.
  {
    Host x = floats({1, 2, 4, 5, 5}, 0.1f);
    Host w = floats({3, 2, 3, 3, 3}, 0.2f);
    Builder b;
    Var xv = b.input("x", TensorType(DType::f32, {1, 2, 5, 5, 5}));
    Var wv = b.input("w", host_type(w));
    Module m = finished(b, b.conv(xv, wv));
    Outcome o = vm_ops::run_op(m, {&x, &w}, vm::cpu_linear_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(contains(o.status.message(), "conv: an output extent is 3, the window gives 2"));
  }
  {
    Host x = floats({1, 2, 4, 5, 5}, 0.1f);
    Host w = floats({2, 3, 3, 3, 3}, 0.2f);
    Builder b;
    Var xv = b.input("x", TensorType(DType::f32, {1, 2, 5, 5, 5}));
    Var wv = b.input("w", host_type(w));
    Module m = finished(b, b.conv_transpose(xv, wv));
    Outcome o = vm_ops::run_op(m, {&x, &w}, vm::cpu_linear_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(contains(o.status.message(), "conv_transpose: an output extent is 7, the window gives 6"));
  }
  {
    Host x = floats({1, 3, 4, 4, 4}, 0.1f);
    Builder b;
    Var xv = b.input("x", TensorType(DType::f32, {1, 2, 4, 4, 4}));
    Module m = finished(b, b.emit(OpKind::lp_pool, {xv}, PoolAttrs{.kernel_shape = {2, 2, 2}}));
    Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_pool_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(contains(o.status.message(), "lp_pool: input and output must be"));
  }
  // conv_transpose reads the input planes as a matrix: a strided input is refused at run.
  {
    Host x = floats({1, 2, 3, 3, 3}, 0.1f);
    Host w = floats({2, 2, 2, 2, 2}, 0.2f);
    Builder b;
    Var xv = b.input("x", host_type(x));
    Var wv = b.input("w", host_type(w));
    Module m = finished(b, b.conv_transpose(xv, wv));
    std::swap(x.slot.strides[3], x.slot.strides[4]);  // h and w transposed
    Outcome o = vm_ops::run_op(m, {&x, &w}, vm::cpu_linear_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::unsupported);
    CHECK(contains(o.status.message(), "conv_transpose: the input's spatial dimensions must be contiguous"));
  }
}
