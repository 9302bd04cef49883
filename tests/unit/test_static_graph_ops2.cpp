// The static graph API (kiln/static_graph/), part 2: every op that runs a VM CPU kernel with
// static shapes, against naive loops in double written here. The elementwise ops the fused
// loops leave to the kernel (i32/i64 arithmetic, f32 mod, comparisons, logic, where, cast,
// clip) and kernels feeding fused loops (epilogues); matmul (2-D, 1-D operands, batched with
// broadcast), gemm (transposes, alpha, beta, C of every rank), conv (1-D, 2-D, strides, pads,
// dilations, groups, depthwise, pointwise, auto_pad, no bias), conv_transpose, max/average/lp
// pooling and their global forms, batch/layer/instance/group norm, softmax, log_softmax and
// hardmax on any axis, reductions with and without kept dims, argmax/argmin, the views
// (reshape, flatten, squeeze, unsqueeze, identity), expand, transpose, concat, slice, gather,
// pad, tile, gather_elements, scatter_elements and scatter_nd (every reduction, repeated
// indices), cumsum (exclusive, reversed) and attention (causal, masks). A dtype a kernel
// refuses fails at Model::create with a clear error. Part 1 (test_static_graph_ops.cpp)
// covers the fused loops, the printed plan, allocation and a model's errors.
#include <doctest/doctest.h>

#include "static_graph_harness.hpp"
#include "test_data.hpp"

#include <kiln/runtime/thread_pool.hpp>
#include <kiln/static_graph/model.hpp>
#include <kiln/static_graph/ops.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace kiln;
using relax::OpKind;

using namespace kiln::test::static_graph_harness;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Sizes unravel(std::int64_t i, const Sizes& dims) {
  Sizes index(dims.size());
  for (std::size_t a = dims.size(); a-- > 0;) {
    index[a] = i % dims[a];
    i /= dims[a];
  }
  return index;
}

std::int64_t ravel(const Sizes& index, const Sizes& dims) {
  std::int64_t offset = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) offset = offset * dims[a] + index[a];
  return offset;
}

Tensor make_bools(const Sizes& dims, const std::vector<int>& values) {
  Result<Tensor> t = Tensor::empty(DType::boolean, std::span<const std::int64_t>(dims));
  REQUIRE(t.ok());
  REQUIRE(t->numel() == static_cast<std::int64_t>(values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) t->data_as<bool>()[i] = values[i] != 0;
  return std::move(t).value();
}

// Values in [0.5, 1.5]: products of a few stay near 1.
std::vector<float> near_one(std::int64_t n, float phase) {
  std::vector<float> v = test::pattern(at(n), phase, 0.5f);
  for (float& x : v) x += 1.0f;
  return v;
}


// A reference result: values and dims.
struct Ref {
  std::vector<double> v;
  Sizes dims;
};

void check_slot(const vm::Slot& out, const Ref& want, double tolerance = 1e-5, DType dtype = f32) {
  kiln::test::static_graph_harness::check_slot(out, dtype, want.dims, want.v, tolerance);
}

// out = f(a, b) with NumPy broadcasting, f on doubles.
template <class F>
std::vector<double> broadcast_ref(const std::vector<double>& a, const Sizes& da, const std::vector<double>& b,
                                  const Sizes& db, F f) {
  const Sizes out = broadcast(da, db);
  std::vector<double> y(at(count_of(out)));
  for (std::int64_t i = 0; i < count_of(out); ++i)
    y[at(i)] = f(a[at(source_of(i, out, da))], b[at(source_of(i, out, db))]);
  return y;
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// ---- linear algebra ------------------------------------------------------------------------

// NumPy matmul: 1-D operands are promoted (and their axis dropped), batch dims broadcast.
Ref matmul_ref(const std::vector<float>& a, Sizes da, const std::vector<float>& b, Sizes db) {
  const bool a_vector = da.size() == 1, b_vector = db.size() == 1;
  if (a_vector) da.insert(da.begin(), 1);
  if (b_vector) db.push_back(1);
  const std::int64_t m = da[da.size() - 2], k = da.back(), n = db.back();
  const Sizes ba(da.begin(), da.end() - 2), bb(db.begin(), db.end() - 2);
  Ref r;
  r.dims = broadcast(ba, bb);
  const std::int64_t batches = count_of(r.dims);
  r.v.assign(at(batches * m * n), 0.0);
  for (std::int64_t p = 0; p < batches; ++p) {
    const std::int64_t pa = source_of(p, r.dims, ba), pb = source_of(p, r.dims, bb);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (std::int64_t t = 0; t < k; ++t)
          sum += static_cast<double>(a[at((pa * m + i) * k + t)]) * b[at((pb * k + t) * n + j)];
        r.v[at((p * m + i) * n + j)] = sum;
      }
  }
  if (!a_vector) r.dims.push_back(m);
  if (!b_vector) r.dims.push_back(n);
  return r;
}

// alpha * op(A) op(B) + beta * C, A stored [m, k] ([k, m] when transposed), B [k, n] ([n, k]).
Ref gemm_ref(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>* c, const Sizes& dc,
             std::int64_t m, std::int64_t n, std::int64_t k, bool trans_a, bool trans_b, double alpha, double beta) {
  Ref r{std::vector<double>(at(m * n)), {m, n}};
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::int64_t t = 0; t < k; ++t)
        sum += static_cast<double>(a[at(trans_a ? t * m + i : i * k + t)]) * b[at(trans_b ? j * k + t : t * n + j)];
      double y = alpha * sum;
      if (c != nullptr) y += beta * (*c)[at(source_of(i * n + j, r.dims, dc))];
      r.v[at(i * n + j)] = y;
    }
  return r;
}

// A window along up to two spatial axes; a 1-D op is the 2-D one with a first axis of 1.
struct Window {
  std::int64_t stride[2] = {1, 1};
  std::int64_t pad_begin[2] = {0, 0};
  std::int64_t pad_end[2] = {0, 0};
  std::int64_t dilation[2] = {1, 1};
  std::int64_t output_padding[2] = {0, 0};
};

// 1-D dims [n, c, w] as 2-D [n, c, 1, w].
Sizes as_2d(const Sizes& d) { return d.size() == 3 ? Sizes{d[0], d[1], 1, d[2]} : d; }
Ref as_1d(Ref r) {
  r.dims.erase(r.dims.begin() + 2);
  return r;
}

// conv: x [n, c, h, w], weight [m, c / groups, kh, kw], bias [m] or none.
Ref conv_ref(const std::vector<float>& x, const Sizes& dx, const std::vector<float>& w, const Sizes& dw,
             const std::vector<float>* bias, const Window& win, std::int64_t groups) {
  const std::int64_t n = dx[0], c = dx[1], m = dw[0], cg = dw[1], mg = m / groups;
  REQUIRE(cg * groups == c);
  std::int64_t in[2] = {dx[2], dx[3]}, kernel[2] = {dw[2], dw[3]}, out[2] = {};
  for (int a = 0; a < 2; ++a)
    out[a] = (in[a] + win.pad_begin[a] + win.pad_end[a] - (win.dilation[a] * (kernel[a] - 1) + 1)) / win.stride[a] + 1;
  Ref r{std::vector<double>(at(n * m * out[0] * out[1])), {n, m, out[0], out[1]}};
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < m; ++o) {
      const std::int64_t g = o / mg;
      for (std::int64_t oh = 0; oh < out[0]; ++oh)
        for (std::int64_t ow = 0; ow < out[1]; ++ow) {
          double sum = bias != nullptr ? (*bias)[at(o)] : 0.0;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t kh = 0; kh < kernel[0]; ++kh)
              for (std::int64_t kw = 0; kw < kernel[1]; ++kw) {
                const std::int64_t ih = oh * win.stride[0] - win.pad_begin[0] + kh * win.dilation[0];
                const std::int64_t iw = ow * win.stride[1] - win.pad_begin[1] + kw * win.dilation[1];
                if (ih < 0 || ih >= in[0] || iw < 0 || iw >= in[1]) continue;
                sum += static_cast<double>(x[at(((b * c + g * cg + ci) * in[0] + ih) * in[1] + iw)]) *
                       w[at(((o * cg + ci) * kernel[0] + kh) * kernel[1] + kw)];
              }
          r.v[at(((b * m + o) * out[0] + oh) * out[1] + ow)] = sum;
        }
    }
  return r;
}

// conv_transpose: x [n, c, h, w], weight [c, m / groups, kh, kw], bias [m] or none.
Ref conv_transpose_ref(const std::vector<float>& x, const Sizes& dx, const std::vector<float>& w, const Sizes& dw,
                       const std::vector<float>* bias, const Window& win, std::int64_t groups) {
  const std::int64_t n = dx[0], c = dx[1], mg = dw[1], m = mg * groups, cg = c / groups;
  std::int64_t in[2] = {dx[2], dx[3]}, kernel[2] = {dw[2], dw[3]}, out[2] = {};
  for (int a = 0; a < 2; ++a)
    out[a] = win.stride[a] * (in[a] - 1) + win.output_padding[a] + win.dilation[a] * (kernel[a] - 1) + 1 -
             win.pad_begin[a] - win.pad_end[a];
  Ref r{std::vector<double>(at(n * m * out[0] * out[1])), {n, m, out[0], out[1]}};
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < m; ++o)
      for (std::int64_t p = 0; p < out[0] * out[1]; ++p)
        r.v[at((b * m + o) * out[0] * out[1] + p)] = bias != nullptr ? (*bias)[at(o)] : 0.0;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ci = 0; ci < c; ++ci) {
      const std::int64_t g = ci / cg;
      for (std::int64_t ih = 0; ih < in[0]; ++ih)
        for (std::int64_t iw = 0; iw < in[1]; ++iw) {
          const double xv = x[at(((b * c + ci) * in[0] + ih) * in[1] + iw)];
          for (std::int64_t mo = 0; mo < mg; ++mo)
            for (std::int64_t kh = 0; kh < kernel[0]; ++kh)
              for (std::int64_t kw = 0; kw < kernel[1]; ++kw) {
                const std::int64_t oh = ih * win.stride[0] - win.pad_begin[0] + kh * win.dilation[0];
                const std::int64_t ow = iw * win.stride[1] - win.pad_begin[1] + kw * win.dilation[1];
                if (oh < 0 || oh >= out[0] || ow < 0 || ow >= out[1]) continue;
                r.v[at(((b * m + g * mg + mo) * out[0] + oh) * out[1] + ow)] +=
                    xv * w[at(((ci * mg + mo) * kernel[0] + kh) * kernel[1] + kw)];
              }
        }
    }
  return r;
}

enum class Pool { max, average, lp };

// Pooling over the taps inside the input (padding adds nothing; averages divide by the
// number of valid taps). ceil_mode adds a last partial window unless it starts in the end
// padding.
Ref pool_ref(Pool kind, const std::vector<float>& x, const Sizes& dx, const std::int64_t (&kernel)[2],
             const Window& win, bool ceil_mode = false) {
  const std::int64_t n = dx[0], c = dx[1];
  std::int64_t in[2] = {dx[2], dx[3]}, out[2] = {};
  for (int a = 0; a < 2; ++a) {
    const std::int64_t room = in[a] + win.pad_begin[a] + win.pad_end[a] - (win.dilation[a] * (kernel[a] - 1) + 1);
    out[a] = (ceil_mode ? (room + win.stride[a] - 1) / win.stride[a] : room / win.stride[a]) + 1;
    if (ceil_mode && (out[a] - 1) * win.stride[a] >= in[a] + win.pad_begin[a]) --out[a];
  }
  Ref r{std::vector<double>(at(n * c * out[0] * out[1])), {n, c, out[0], out[1]}};
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t oh = 0; oh < out[0]; ++oh)
      for (std::int64_t ow = 0; ow < out[1]; ++ow) {
        double acc = kind == Pool::max ? -kInf : 0.0;
        std::int64_t taps = 0;
        for (std::int64_t kh = 0; kh < kernel[0]; ++kh)
          for (std::int64_t kw = 0; kw < kernel[1]; ++kw) {
            const std::int64_t ih = oh * win.stride[0] - win.pad_begin[0] + kh * win.dilation[0];
            const std::int64_t iw = ow * win.stride[1] - win.pad_begin[1] + kw * win.dilation[1];
            if (ih < 0 || ih >= in[0] || iw < 0 || iw >= in[1]) continue;
            const double v = x[at((p * in[0] + ih) * in[1] + iw)];
            acc = kind == Pool::max ? std::max(acc, v) : (kind == Pool::lp ? acc + v * v : acc + v);
            ++taps;
          }
        if (kind == Pool::average) acc /= static_cast<double>(taps);
        if (kind == Pool::lp) acc = std::sqrt(acc);
        r.v[at((p * out[0] + oh) * out[1] + ow)] = acc;
      }
  return r;
}

// Global pooling of x [n, c, spatial...] to [n, c, 1, ...].
Ref global_pool_ref(Pool kind, const std::vector<float>& x, const Sizes& dx) {
  const std::int64_t planes = dx[0] * dx[1], plane = count_of(dx) / planes;
  Ref r{std::vector<double>(at(planes)), dx};
  for (std::size_t a = 2; a < dx.size(); ++a) r.dims[a] = 1;
  for (std::int64_t p = 0; p < planes; ++p) {
    double acc = kind == Pool::max ? -kInf : 0.0;
    for (std::int64_t i = 0; i < plane; ++i) {
      const double v = x[at(p * plane + i)];
      acc = kind == Pool::max ? std::max(acc, v) : (kind == Pool::lp ? acc + v * v : acc + v);
    }
    if (kind == Pool::average) acc /= static_cast<double>(plane);
    if (kind == Pool::lp) acc = std::sqrt(acc);
    r.v[at(p)] = acc;
  }
  return r;
}

// ---- normalization -------------------------------------------------------------------------

// Mean and 1 / sqrt(variance + epsilon) of n values `stride` apart.
std::pair<double, double> moments(const std::vector<float>& x, std::int64_t first, std::int64_t n, double epsilon) {
  double mean = 0.0;
  for (std::int64_t i = 0; i < n; ++i) mean += x[at(first + i)];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (std::int64_t i = 0; i < n; ++i) var += (x[at(first + i)] - mean) * (x[at(first + i)] - mean);
  var /= static_cast<double>(n);
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

// layer norm over the dims from `axis` on; scale and bias broadcast to those dims (bias may be absent).
Ref layer_norm_ref(const std::vector<float>& x, const Sizes& dx, std::int64_t axis, const std::vector<float>& scale,
                   const Sizes& ds, const std::vector<float>* bias, const Sizes& db, double epsilon) {
  const Sizes normalized(dx.begin() + axis, dx.end());
  const std::int64_t cols = count_of(normalized), rows = count_of(dx) / cols;
  Ref r{std::vector<double>(x.size()), dx};
  for (std::int64_t row = 0; row < rows; ++row) {
    const auto [mean, inv_std] = moments(x, row * cols, cols, epsilon);
    for (std::int64_t j = 0; j < cols; ++j) {
      double y = (x[at(row * cols + j)] - mean) * inv_std * scale[at(source_of(j, normalized, ds))];
      if (bias != nullptr) y += (*bias)[at(source_of(j, normalized, db))];
      r.v[at(row * cols + j)] = y;
    }
  }
  return r;
}

// group norm of x [n, c, ...] over groups of c / groups channels; scale and bias per channel
// or per group. instance norm is one group per channel.
Ref group_norm_ref(const std::vector<float>& x, const Sizes& dx, std::int64_t groups, const std::vector<float>& scale,
                   const std::vector<float>& bias, double epsilon) {
  const std::int64_t n = dx[0], c = dx[1], plane = count_of(dx) / (n * c), per = c / groups;
  const bool per_group = static_cast<std::int64_t>(scale.size()) == groups && groups != c;
  Ref r{std::vector<double>(x.size()), dx};
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t g = 0; g < groups; ++g) {
      const std::int64_t first = (b * c + g * per) * plane;
      const auto [mean, inv_std] = moments(x, first, per * plane, epsilon);
      for (std::int64_t k = 0; k < per; ++k) {
        const std::size_t p = at(per_group ? g : g * per + k);
        for (std::int64_t i = 0; i < plane; ++i) {
          const std::int64_t e = first + k * plane + i;
          r.v[at(e)] = (x[at(e)] - mean) * inv_std * scale[p] + bias[p];
        }
      }
    }
  return r;
}

enum class Softmax { softmax, log_softmax, hardmax };

Ref softmax_ref(Softmax kind, const std::vector<float>& x, const Sizes& dx, std::int64_t axis) {
  if (axis < 0) axis += static_cast<std::int64_t>(dx.size());
  const std::int64_t n = dx[at(axis)];
  const std::int64_t inner = count_of(Sizes(dx.begin() + axis + 1, dx.end())), outer = count_of(dx) / (n * inner);
  Ref r{std::vector<double>(x.size()), dx};
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      const auto element = [&](std::int64_t j) { return at((o * n + j) * inner + i); };
      double top = -kInf, sum = 0.0;
      std::int64_t winner = 0;
      for (std::int64_t j = 0; j < n; ++j)
        if (x[element(j)] > top) {
          top = x[element(j)];
          winner = j;
        }
      for (std::int64_t j = 0; j < n; ++j) sum += std::exp(x[element(j)] - top);
      for (std::int64_t j = 0; j < n; ++j) {
        const double v = x[element(j)];
        r.v[element(j)] = kind == Softmax::softmax       ? std::exp(v - top) / sum
                          : kind == Softmax::log_softmax ? v - top - std::log(sum)
                                                         : (j == winner ? 1.0 : 0.0);
      }
    }
  return r;
}

// ---- reductions ----------------------------------------------------------------------------

enum class Reduce { sum, mean, max, min, prod };

// Reduces the listed axes (all when none are listed).
template <class T>
Ref reduce_ref(Reduce kind, const std::vector<T>& x, const Sizes& dx, Sizes axes, bool keepdims) {
  const auto rank = static_cast<std::int64_t>(dx.size());
  std::vector<bool> reduced(dx.size(), axes.empty());
  for (std::int64_t a : axes) reduced[at(a < 0 ? a + rank : a)] = true;
  Sizes kept_dims = dx;
  Ref r;
  for (std::size_t a = 0; a < dx.size(); ++a) {
    if (reduced[a]) kept_dims[a] = 1;
    if (!reduced[a] || keepdims) r.dims.push_back(kept_dims[a]);
  }
  const double identity = kind == Reduce::max ? -kInf : kind == Reduce::min ? kInf : kind == Reduce::prod ? 1.0 : 0.0;
  r.v.assign(at(count_of(kept_dims)), identity);
  for (std::int64_t i = 0; i < count_of(dx); ++i) {
    Sizes index = unravel(i, dx);
    for (std::size_t a = 0; a < dx.size(); ++a)
      if (reduced[a]) index[a] = 0;
    double& acc = r.v[at(ravel(index, kept_dims))];
    const auto v = static_cast<double>(x[at(i)]);
    switch (kind) {
      case Reduce::sum:
      case Reduce::mean: acc += v; break;
      case Reduce::max: acc = std::max(acc, v); break;
      case Reduce::min: acc = std::min(acc, v); break;
      case Reduce::prod: acc *= v; break;
    }
  }
  if (kind == Reduce::mean)
    for (double& v : r.v) v /= static_cast<double>(count_of(dx) / count_of(kept_dims));
  return r;
}

// The index of the first maximum (or minimum) along `axis`.
template <class T>
Ref arg_reduce_ref(bool largest, const std::vector<T>& x, const Sizes& dx, std::int64_t axis, bool keepdims) {
  if (axis < 0) axis += static_cast<std::int64_t>(dx.size());
  Sizes kept = dx;
  kept[at(axis)] = 1;
  Ref r{std::vector<double>(at(count_of(kept))), {}};
  for (std::size_t a = 0; a < dx.size(); ++a)
    if (static_cast<std::int64_t>(a) != axis || keepdims) r.dims.push_back(kept[a]);
  for (std::int64_t o = 0; o < count_of(kept); ++o) {
    Sizes index = unravel(o, kept);
    std::int64_t best = 0;
    for (std::int64_t j = 0; j < dx[at(axis)]; ++j) {
      index[at(axis)] = j;
      const T v = x[at(ravel(index, dx))];
      index[at(axis)] = best;
      const T b = x[at(ravel(index, dx))];
      if (largest ? v > b : v < b) best = j;
    }
    r.v[at(o)] = static_cast<double>(best);
  }
  return r;
}

// ---- layout --------------------------------------------------------------------------------

template <class T>
Ref transpose_ref(const std::vector<T>& x, const Sizes& dx, const Sizes& perm) {
  Ref r{std::vector<double>(x.size()), Sizes(dx.size())};
  for (std::size_t a = 0; a < dx.size(); ++a) r.dims[a] = dx[at(perm[a])];
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) {
    const Sizes out_index = unravel(o, r.dims);
    Sizes in_index(dx.size());
    for (std::size_t a = 0; a < dx.size(); ++a) in_index[at(perm[a])] = out_index[a];
    r.v[at(o)] = static_cast<double>(x[at(ravel(in_index, dx))]);
  }
  return r;
}

Ref concat_ref(const std::vector<std::pair<std::vector<float>, Sizes>>& parts, std::int64_t axis) {
  Ref r{{}, parts[0].second};
  if (axis < 0) axis += static_cast<std::int64_t>(r.dims.size());
  r.dims[at(axis)] = 0;
  for (const auto& part : parts) r.dims[at(axis)] += part.second[at(axis)];
  r.v.resize(at(count_of(r.dims)));
  std::int64_t base = 0;
  for (const auto& [values, dims] : parts) {
    for (std::int64_t i = 0; i < count_of(dims); ++i) {
      Sizes index = unravel(i, dims);
      index[at(axis)] += base;
      r.v[at(ravel(index, r.dims))] = values[at(i)];
    }
    base += dims[at(axis)];
  }
  return r;
}

// The elements of x at the listed positions along each axis (an outer product of lists).
template <class T>
Ref pick_ref(const std::vector<T>& x, const Sizes& dx, const std::vector<Sizes>& picks) {
  Ref r;
  for (const Sizes& p : picks) r.dims.push_back(static_cast<std::int64_t>(p.size()));
  r.v.resize(at(count_of(r.dims)));
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) {
    Sizes index = unravel(o, r.dims);
    for (std::size_t a = 0; a < index.size(); ++a) index[a] = picks[a][at(index[a])];
    r.v[at(o)] = static_cast<double>(x[at(ravel(index, dx))]);
  }
  return r;
}

// gather: out[pre, idx..., post] = x[pre, indices[idx...], post]; negative indices count from the end.
template <class T>
Ref gather_ref(const std::vector<T>& x, const Sizes& dx, const std::vector<std::int64_t>& indices, const Sizes& di,
               std::int64_t axis) {
  Ref r;
  for (std::int64_t a = 0; a < axis; ++a) r.dims.push_back(dx[at(a)]);
  for (std::int64_t d : di) r.dims.push_back(d);
  for (auto a = at(axis) + 1; a < dx.size(); ++a) r.dims.push_back(dx[a]);
  r.v.resize(at(count_of(r.dims)));
  const auto ri = static_cast<std::int64_t>(di.size());
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) {
    const Sizes out_index = unravel(o, r.dims);
    Sizes in_index;
    for (std::int64_t a = 0; a < axis; ++a) in_index.push_back(out_index[at(a)]);
    std::int64_t which = indices[at(ravel(Sizes(out_index.begin() + axis, out_index.begin() + axis + ri), di))];
    if (which < 0) which += dx[at(axis)];
    in_index.push_back(which);
    for (auto a = at(axis + ri); a < out_index.size(); ++a) in_index.push_back(out_index[a]);
    r.v[at(o)] = static_cast<double>(x[at(ravel(in_index, dx))]);
  }
  return r;
}

// pad with `value`; negative pads crop.
template <class T>
Ref pad_ref(const std::vector<T>& x, const Sizes& dx, const Sizes& begin, const Sizes& end, double value) {
  Ref r{{}, dx};
  for (std::size_t a = 0; a < dx.size(); ++a) r.dims[a] = dx[a] + begin[a] + end[a];
  r.v.assign(at(count_of(r.dims)), value);
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) {
    Sizes index = unravel(o, r.dims);
    bool inside = true;
    for (std::size_t a = 0; a < dx.size(); ++a) {
      index[a] -= begin[a];
      inside = inside && index[a] >= 0 && index[a] < dx[a];
    }
    if (inside) r.v[at(o)] = static_cast<double>(x[at(ravel(index, dx))]);
  }
  return r;
}

template <class T>
Ref tile_ref(const std::vector<T>& x, const Sizes& dx, const Sizes& repeats) {
  Ref r{{}, dx};
  for (std::size_t a = 0; a < dx.size(); ++a) r.dims[a] = dx[a] * repeats[a];
  r.v.resize(at(count_of(r.dims)));
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) {
    Sizes index = unravel(o, r.dims);
    for (std::size_t a = 0; a < dx.size(); ++a) index[a] %= dx[a];
    r.v[at(o)] = static_cast<double>(x[at(ravel(index, dx))]);
  }
  return r;
}

Ref expand_ref(const std::vector<float>& x, const Sizes& dx, const Sizes& target) {
  Ref r{{}, broadcast(dx, target)};
  r.v.resize(at(count_of(r.dims)));
  for (std::int64_t o = 0; o < count_of(r.dims); ++o) r.v[at(o)] = x[at(source_of(o, r.dims, dx))];
  return r;
}

// ---- indexing and running sums ---------------------------------------------------------------

std::int64_t from_end(std::int64_t index, std::int64_t extent) { return index < 0 ? index + extent : index; }

// gather_elements: out[c] = x[c with c[axis] = indices[c]]; the result has the indices' dims.
template <class T>
Ref gather_elements_ref(const std::vector<T>& x, const Sizes& dx, const std::vector<std::int64_t>& indices,
                        const Sizes& di, std::int64_t axis) {
  const std::size_t a = at(axis < 0 ? axis + static_cast<std::int64_t>(dx.size()) : axis);
  Ref r{{}, di};
  for (std::int64_t o = 0; o < count_of(di); ++o) {
    Sizes index = unravel(o, di);
    index[a] = from_end(indices[at(o)], dx[a]);
    r.v.push_back(static_cast<double>(x[at(ravel(index, dx))]));
  }
  return r;
}

// ONNX's scatter reductions (NumPy's maximum and minimum propagate NaN).
double scatter_combine(relax::ScatterReduction reduction, double acc, double update) {
  switch (reduction) {
    case relax::ScatterReduction::none: return update;
    case relax::ScatterReduction::add: return acc + update;
    case relax::ScatterReduction::mul: return acc * update;
    case relax::ScatterReduction::max:
      return std::isnan(acc) || std::isnan(update) ? std::numeric_limits<double>::quiet_NaN() : std::max(acc, update);
    case relax::ScatterReduction::min:
      return std::isnan(acc) || std::isnan(update) ? std::numeric_limits<double>::quiet_NaN() : std::min(acc, update);
  }
  return acc;
}

// scatter_elements: a copy of x; then, in the indices' order, out[c with c[axis] = indices[c]]
// combines with updates[c].
template <class T>
Ref scatter_elements_ref(const std::vector<T>& x, const Sizes& dx, const std::vector<std::int64_t>& indices,
                         const Sizes& di, const std::vector<T>& updates, std::int64_t axis,
                         relax::ScatterReduction reduction) {
  const std::size_t a = at(axis < 0 ? axis + static_cast<std::int64_t>(dx.size()) : axis);
  Ref r{std::vector<double>(x.begin(), x.end()), dx};
  for (std::int64_t o = 0; o < count_of(di); ++o) {
    Sizes index = unravel(o, di);
    index[a] = from_end(indices[at(o)], dx[a]);
    double& slot = r.v[at(ravel(index, dx))];
    slot = scatter_combine(reduction, slot, static_cast<double>(updates[at(o)]));
  }
  return r;
}

// scatter_nd: a copy of x; then, update by update, the slice x[indices[u]] (indices [..., depth])
// combines with updates[u].
template <class T, class I>
Ref scatter_nd_ref(const std::vector<T>& x, const Sizes& dx, const std::vector<I>& indices, const Sizes& di,
                   const std::vector<T>& updates, relax::ScatterReduction reduction) {
  const auto depth = at(di.back());
  const std::int64_t slice = count_of(Sizes(dx.begin() + static_cast<std::ptrdiff_t>(depth), dx.end()));
  Ref r{std::vector<double>(x.begin(), x.end()), dx};
  for (std::int64_t u = 0; u < count_of(di) / static_cast<std::int64_t>(depth); ++u) {
    std::int64_t offset = 0;
    for (std::size_t c = 0; c < depth; ++c)
      offset = offset * dx[c] + from_end(static_cast<std::int64_t>(indices[at(u) * depth + c]), dx[c]);
    for (std::int64_t s = 0; s < slice; ++s) {
      double& slot = r.v[at(offset * slice + s)];
      slot = scatter_combine(reduction, slot, static_cast<double>(updates[at(u * slice + s)]));
    }
  }
  return r;
}

// cumsum: the sum along `axis` of the elements before each one (after it when reversed), and
// of itself unless exclusive.
template <class T>
Ref cumsum_ref(const std::vector<T>& x, const Sizes& dx, std::int64_t axis, bool exclusive, bool reverse) {
  const std::size_t a = at(axis < 0 ? axis + static_cast<std::int64_t>(dx.size()) : axis);
  Ref r{{}, dx};
  for (std::int64_t o = 0; o < count_of(dx); ++o) {
    const Sizes here = unravel(o, dx);
    Sizes other = here;
    double sum = 0.0;
    for (std::int64_t i = 0; i < dx[a]; ++i) {
      const bool counted = reverse ? i > here[a] : i < here[a];
      if (!counted && (i != here[a] || exclusive)) continue;
      other[a] = i;
      sum += static_cast<double>(x[at(ravel(other, dx))]);
    }
    r.v.push_back(sum);
  }
  return r;
}

// ---- attention -----------------------------------------------------------------------------

// softmax(scale * q k^T + mask) v over [lead..., s, d] operands whose leading dims broadcast;
// a bool mask hides keys where false, causal hides keys after the query (upper-left
// alignment); a query that sees no key gives 0.
struct Mask {
  const std::vector<float>* additive = nullptr;
  const std::vector<int>* keep = nullptr;
  Sizes dims;
};

Ref attention_ref(const std::vector<float>& q, const Sizes& dq, const std::vector<float>& k, const Sizes& dk,
                  const std::vector<float>& v, const Sizes& dv, const Mask& mask, bool causal, double scale) {
  const std::size_t r = dq.size();
  const std::int64_t s = dq[r - 2], d = dq[r - 1], t = dk[r - 2], e = dv[r - 1];
  const Sizes lq(dq.begin(), dq.end() - 2), lk(dk.begin(), dk.end() - 2), lv(dv.begin(), dv.end() - 2);
  const Sizes lead = broadcast(broadcast(lq, lk), lv);
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
  Ref out{{}, lead};
  out.dims.push_back(s);
  out.dims.push_back(e);
  out.v.assign(at(count_of(out.dims)), 0.0);
  Sizes score_dims = lead;
  score_dims.push_back(s);
  score_dims.push_back(t);
  for (std::int64_t p = 0; p < count_of(lead); ++p) {
    const std::int64_t pq = source_of(p, lead, lq), pk = source_of(p, lead, lk), pv = source_of(p, lead, lv);
    for (std::int64_t i = 0; i < s; ++i) {
      std::vector<double> score(at(t), -kInf);
      double top = -kInf;
      for (std::int64_t j = 0; j < t; ++j) {
        if (causal && j > i) continue;
        const std::int64_t m = mask.dims.empty() ? 0 : source_of((p * s + i) * t + j, score_dims, mask.dims);
        if (mask.keep != nullptr && (*mask.keep)[at(m)] == 0) continue;
        double dot = 0.0;
        for (std::int64_t c = 0; c < d; ++c)
          dot += static_cast<double>(q[at((pq * s + i) * d + c)]) * k[at((pk * t + j) * d + c)];
        score[at(j)] = scale * dot + (mask.additive != nullptr ? (*mask.additive)[at(m)] : 0.0);
        top = std::max(top, score[at(j)]);
      }
      if (top == -kInf) continue;  // no visible key: a row of 0
      double sum = 0.0;
      for (double& x : score) {
        x = x == -kInf ? 0.0 : std::exp(x - top);
        sum += x;
      }
      for (std::int64_t c = 0; c < e; ++c) {
        double y = 0.0;
        for (std::int64_t j = 0; j < t; ++j) y += score[at(j)] / sum * v[at((pv * t + j) * e + c)];
        out.v[at((p * s + i) * e + c)] = y;
      }
    }
  }
  return out;
}

// Runs `check` with a model made without a pool and with a pool of three threads.
template <class Net, class Check>
void with_and_without_pool(Check check) {
  ThreadPool pool(3);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    INFO((p == nullptr ? "without a pool" : "on a pool of 3 threads"));
    auto model = make_model<Net>(p);
    check(model);
  }
}

} // namespace

// ---- elementwise ops on the CPU kernel ----------------------------------------------------

TEST_CASE("static graph: integer arithmetic runs the CPU kernel, with broadcasting") {
  constexpr auto a = sg::input<"a", DType::i32, 4, 5>();
  constexpr auto b = sg::input<"b", DType::i32, 5>();
  using Net = decltype(sg::build(sg::inputs(a, b), sg::add(a, b), sg::subtract(a, b), sg::multiply(a, b),
                                 sg::divide(a, b), sg::apply<OpKind::mod>(a, b), sg::maximum(a, b), sg::minimum(a, b),
                                 sg::neg(a), sg::abs(a), sg::relu(a), sg::apply<OpKind::sign>(a)));
  for (int o : Net::outputs) CHECK(Net::node(o).role == sg::Role::kernel);
  std::vector<std::int32_t> av(20), bv = {3, -4, 7, -2, 5};
  for (std::size_t i = 0; i < av.size(); ++i) av[i] = static_cast<std::int32_t>(i * 7 % 23) - 11;
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({4, 5}, av), make_tensor({5}, bv)});
  // Integer division truncates; mod takes the divisor's sign (ONNX Mod with fmod = 0).
  const auto floor_mod = [](std::int64_t u, std::int64_t v) {
    std::int64_t r = u % v;
    if (r != 0 && ((r < 0) != (v < 0))) r += v;
    return r;
  };
  std::vector<std::vector<double>> want(11, std::vector<double>(20));
  for (std::size_t i = 0; i < 20; ++i) {
    const std::int64_t u = av[i], v = bv[i % 5];
    const std::int64_t results[] = {u + v,           u - v,           u * v, u / v,           floor_mod(u, v),
                                    std::max(u, v),  std::min(u, v),  -u,    u < 0 ? -u : u,  u > 0 ? u : 0,
                                    u > 0 ? 1 : (u < 0 ? -1 : 0)};
    for (std::size_t k = 0; k < 11; ++k) want[k][i] = static_cast<double>(results[k]);
  }
  for (std::size_t k = 0; k < 11; ++k) {
    INFO("output ", k);
    check_slot(model.output(static_cast<int>(k)), DType::i32, {4, 5}, want[k], 0.0);
  }
}

TEST_CASE("static graph: i64 arithmetic and f32 mod run the CPU kernel") {
  constexpr auto a = sg::input<"a", DType::i64, 2, 3>();
  constexpr auto b = sg::input<"b", DType::i64, 2, 1>();
  constexpr auto x = sg::input<"x", f32, 7>();
  constexpr auto y = sg::input<"y", f32, 1>();
  using Net = decltype(sg::build(sg::inputs(a, b, x, y), sg::add(a, b), sg::apply<OpKind::mod>(a, b),
                                 sg::multiply(a, b), sg::apply<OpKind::mod>(x, y)));
  CHECK(Net::node(Net::outputs[3]).role == sg::Role::kernel);  // mod is not fusable
  const std::vector<std::int64_t> av = {7, -7, 4000000000LL, -9, 10, 0}, bv = {3, -4};
  const std::vector<float> xv = {5.5f, -5.5f, 2.0f, -0.5f, 7.25f, -7.25f, 0.0f};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({2, 3}, av), make_tensor({2, 1}, bv), make_tensor({7}, xv),
                 make_tensor<float>({1}, {2.0f})});
  check_slot(model.output(0), DType::i64, {2, 3}, {10, -4, 4000000003.0, -13, 6, -4}, 0.0);
  // mod of integers takes the divisor's sign: 7 mod 3 = 1, -7 mod 3 = 2, -9 mod -4 = -1, 10 mod -4 = -2.
  check_slot(model.output(1), DType::i64, {2, 3}, {1, 2, 1, -1, -2, 0}, 0.0);
  check_slot(model.output(2), DType::i64, {2, 3}, {21, -21, 12000000000.0, 36, -40, 0}, 0.0);
  // mod of floats is fmod: the dividend's sign.
  check_slot(model.output(3), f32, {7}, {1.5, -1.5, 0.0, -0.5, 1.25, -1.25, 0.0}, 0.0);
}

TEST_CASE("static graph: comparisons give bool, logic ops combine bools, where selects") {
  constexpr auto a = sg::input<"a", f32, 3, 4>();
  constexpr auto b = sg::input<"b", f32, 4>();
  constexpr auto i = sg::input<"i", DType::i32, 3, 1>();
  constexpr auto j = sg::input<"j", DType::i32, 1, 4>();
  constexpr auto less = sg::apply<OpKind::less>(a, b);
  constexpr auto ge = sg::apply<OpKind::greater_equal>(i, j);
  using Net = decltype(sg::build(
      sg::inputs(a, b, i, j), sg::apply<OpKind::equal>(a, b), sg::apply<OpKind::not_equal>(a, b), less,
      sg::apply<OpKind::less_equal>(a, b), sg::apply<OpKind::greater>(a, b), sg::apply<OpKind::greater_equal>(a, b),
      ge, sg::apply<OpKind::logical_and>(less, ge), sg::apply<OpKind::logical_or>(less, ge),
      sg::apply<OpKind::logical_xor>(less, ge), sg::apply<OpKind::logical_not>(less), sg::where(less, a, b),
      sg::where(ge, i, j)));
  // Values with ties, so that equal and the non-strict comparisons see equal elements.
  const std::vector<float> av = {1, 2, 3, 4, -1, 0, 2, 2, 5, -3, 3, 0};
  const std::vector<float> bv = {1, 0, 3, 2};
  const std::vector<std::int32_t> iv = {-1, 2, 5}, jv = {2, -1, 5, 0};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({3, 4}, av), make_tensor({4}, bv), make_tensor({3, 1}, iv), make_tensor({1, 4}, jv)});
  const Sizes d{3, 4};
  const auto compare = [&](auto f) {
    return broadcast_ref(widen(av), d, widen(bv), {4}, [f](double u, double v) { return f(u, v) ? 1.0 : 0.0; });
  };
  const std::vector<double> lt = compare([](double u, double v) { return u < v; });
  std::vector<double> gev(12), wherev(12), where_int(12);
  for (std::size_t k = 0; k < 12; ++k) {
    gev[k] = iv[k / 4] >= jv[k % 4] ? 1.0 : 0.0;
    wherev[k] = lt[k] != 0.0 ? av[k] : bv[k % 4];
    where_int[k] = gev[k] != 0.0 ? iv[k / 4] : jv[k % 4];
  }
  check_slot(model.output(0), DType::boolean, d, compare([](double u, double v) { return u == v; }), 0.0);
  check_slot(model.output(1), DType::boolean, d, compare([](double u, double v) { return u != v; }), 0.0);
  check_slot(model.output(2), DType::boolean, d, lt, 0.0);
  check_slot(model.output(3), DType::boolean, d, compare([](double u, double v) { return u <= v; }), 0.0);
  check_slot(model.output(4), DType::boolean, d, compare([](double u, double v) { return u > v; }), 0.0);
  check_slot(model.output(5), DType::boolean, d, compare([](double u, double v) { return u >= v; }), 0.0);
  check_slot(model.output(6), DType::boolean, d, gev, 0.0);
  std::vector<double> land(12), lor(12), lxor(12), lnot(12);
  for (std::size_t k = 0; k < 12; ++k) {
    const bool p = lt[k] != 0.0, q = gev[k] != 0.0;
    land[k] = p && q ? 1.0 : 0.0;
    lor[k] = p || q ? 1.0 : 0.0;
    lxor[k] = p != q ? 1.0 : 0.0;
    lnot[k] = p ? 0.0 : 1.0;
  }
  check_slot(model.output(7), DType::boolean, d, land, 0.0);
  check_slot(model.output(8), DType::boolean, d, lor, 0.0);
  check_slot(model.output(9), DType::boolean, d, lxor, 0.0);
  check_slot(model.output(10), DType::boolean, d, lnot, 0.0);
  check_slot(model.output(11), f32, d, wherev, 0.0);
  check_slot(model.output(12), DType::i32, d, where_int, 0.0);
}

TEST_CASE("static graph: where with a bool input broadcast from a bool tensor, and logic on inputs") {
  constexpr auto c = sg::input<"c", DType::boolean, 2, 1, 3>();
  constexpr auto d = sg::input<"d", DType::boolean, 4, 1>();
  constexpr auto x = sg::input<"x", f32, 4, 3>();
  constexpr auto y = sg::input<"y", f32>();
  using Net = decltype(sg::build(sg::inputs(c, d, x, y), sg::where(c, x, y), sg::apply<OpKind::logical_xor>(c, d)));
  const std::vector<int> cv = {1, 0, 1, 0, 0, 1}, dv = {1, 0, 0, 1};
  const std::vector<float> xv = signed_values(12, 0.3f);
  auto model = make_model<Net>();
  run_ok(model, {make_bools({2, 1, 3}, cv), make_bools({4, 1}, dv), make_tensor({4, 3}, xv),
                 make_tensor<float>({}, {-9.0f})});
  const Sizes out{2, 4, 3};
  std::vector<double> want(24), want_xor(24);
  for (std::int64_t k = 0; k < 24; ++k) {
    const bool take = cv[at(source_of(k, out, {2, 1, 3}))] != 0;
    want[at(k)] = take ? xv[at(source_of(k, out, {4, 3}))] : -9.0;
    want_xor[at(k)] = take != (dv[at(source_of(k, out, {4, 1}))] != 0) ? 1.0 : 0.0;
  }
  check_slot(model.output(0), f32, out, want, 0.0);
  check_slot(model.output(1), DType::boolean, out, want_xor, 0.0);
}

TEST_CASE("static graph: cast between f32, i32, i64 and bool") {
  constexpr auto x = sg::input<"x", f32, 8>();
  constexpr auto n = sg::input<"n", DType::i32, 4>();
  constexpr auto to_bool = sg::cast<DType::boolean>(x);
  using Net = decltype(sg::build(sg::inputs(x, n), sg::cast<DType::i32>(x), sg::cast<f32>(n), to_bool,
                                 sg::cast<DType::i64>(to_bool), sg::cast<DType::i64>(n)));
  const std::vector<float> xv = {2.7f, -2.7f, 0.0f, 0.5f, -0.5f, 1e10f, -1e10f, 100.0f};
  const std::vector<std::int32_t> nv = {-3, 0, 7, 2147483647};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({8}, xv), make_tensor({4}, nv)});
  // f32 to an integer truncates towards 0 and saturates.
  check_slot(model.output(0), DType::i32, {8}, {2, -2, 0, 0, 0, 2147483647.0, -2147483648.0, 100}, 0.0);
  check_slot(model.output(1), f32, {4}, {-3, 0, 7, 2147483648.0}, 0.0);
  check_slot(model.output(2), DType::boolean, {8}, {1, 1, 0, 1, 1, 1, 1, 1}, 0.0);
  check_slot(model.output(3), DType::i64, {8}, {1, 1, 0, 1, 1, 1, 1, 1}, 0.0);
  check_slot(model.output(4), DType::i64, {4}, {-3, 0, 7, 2147483647.0}, 0.0);
}

TEST_CASE("static graph: clip with both bounds, one bound, and integers") {
  constexpr auto x = sg::input<"x", f32, 3, 17>();
  constexpr auto lo = sg::weight<"lo", f32, 1>();
  constexpr auto hi = sg::weight<"hi", f32>();
  constexpr auto k = sg::input<"k", DType::i32, 6>();
  constexpr auto klo = sg::weight<"klo", DType::i32>();
  using Net = decltype(sg::build(sg::inputs(x, k), sg::apply<OpKind::clip>(x, lo, hi), sg::apply<OpKind::clip>(x, lo),
                                 sg::apply<OpKind::clip>(x, sg::NoInput{}, hi), sg::apply<OpKind::clip>(k, klo)));
  const std::vector<float> xv = signed_values(51, 0.2f, 2.0f);
  const std::vector<std::int32_t> kv = {-5, -1, 0, 3, 9, -2};
  auto model = make_model<Net>();
  bind_ok(model, "lo", make_tensor<float>({1}, {-0.5f}));
  bind_ok(model, "hi", make_tensor<float>({}, {1.25f}));
  bind_ok(model, "klo", make_tensor<std::int32_t>({}, {-1}));
  run_ok(model, {make_tensor({3, 17}, xv), make_tensor({6}, kv)});
  std::vector<double> both(51), low(51), high(51);
  for (std::size_t i = 0; i < 51; ++i) {
    const double v = xv[i];
    both[i] = std::min(std::max(v, -0.5), 1.25);
    low[i] = std::max(v, -0.5);
    high[i] = std::min(v, 1.25);
  }
  check_slot(model.output(0), f32, {3, 17}, both, 0.0);
  check_slot(model.output(1), f32, {3, 17}, low, 0.0);
  check_slot(model.output(2), f32, {3, 17}, high, 0.0);
  check_slot(model.output(3), DType::i32, {6}, {-1, -1, 0, 3, 9, -1}, 0.0);
}

TEST_CASE("static graph: kernels feed fused loops: epilogues, casts and selects in a chain") {
  // relu(matmul(exp(x), w) + b): exp is a loop whose buffer dies at the matmul, which writes
  // into the relu loop's buffer (its epilogue); then a cast from i32 and a where.
  constexpr auto x = sg::input<"x", f32, 3, 5>();
  constexpr auto w = sg::weight<"w", f32, 5, 17>();
  constexpr auto b = sg::weight<"b", f32, 17>();
  constexpr auto n = sg::input<"n", DType::i32, 3, 1>();
  constexpr auto h = sg::relu(sg::matmul(sg::exp(x), w) + b);
  constexpr auto picked = sg::where(sg::apply<OpKind::greater>(h, b), h, b);  // where is a kernel
  constexpr auto out = picked * sg::cast<f32>(n) - sg::neg(h);
  using Net = decltype(sg::build(sg::inputs(x, n), out));
  CHECK(Net::node(index_in<Net>(sg::matmul(sg::exp(x), w))).epilogue_into == index_in<Net>(h));
  CHECK(Net::node(index_in<Net>(sg::exp(x))).role == sg::Role::fused);
  const std::vector<float> xv = signed_values(15, 0.1f), wv = signed_values(85, 0.7f, 0.5f),
                           bv = signed_values(17, 1.9f, 0.3f);
  const std::vector<std::int32_t> nv = {2, -1, 3};
  auto model = make_model<Net>();
  bind_ok(model, "w", make_tensor({5, 17}, wv));
  bind_ok(model, "b", make_tensor({17}, bv));
  run_ok(model, {make_tensor({3, 5}, xv), make_tensor({3, 1}, nv)});
  std::vector<float> ex(15);
  for (std::size_t i = 0; i < 15; ++i) ex[i] = std::exp(xv[i]);
  const std::vector<double> mmv = test::naive_matmul<float, double>(ex, wv, 3, 17, 5);
  std::vector<double> want(51);
  for (std::size_t i = 0; i < 51; ++i) {
    const double hv = std::max(mmv[i] + bv[i % 17], 0.0);
    const double pv = hv > bv[i % 17] ? hv : bv[i % 17];
    want[i] = pv * nv[i / 17] + hv;
  }
  check_slot(model.output(), f32, {3, 17}, want, 1e-5);
}

// ---- linear algebra ------------------------------------------------------------------------

TEST_CASE("static graph: matmul, 2-D, with 1-D operands, and batched with broadcast") {
  constexpr auto a = sg::input<"a", f32, 3, 5>();
  constexpr auto vec = sg::input<"vec", f32, 5>();
  constexpr auto p = sg::input<"p", f32, 2, 1, 3, 5>();
  constexpr auto b = sg::weight<"b", f32, 5, 17>();
  constexpr auto q = sg::weight<"q", f32, 4, 5, 6>();
  using Net = decltype(sg::build(sg::inputs(a, vec, p), sg::matmul(a, b), sg::matmul(vec, b), sg::matmul(a, vec),
                                 sg::matmul(p, q), sg::matmul(vec, vec)));
  const std::vector<float> av = signed_values(15, 0.1f), vv = signed_values(5, 0.7f), pv = signed_values(30, 1.3f),
                           bv = signed_values(85, 2.1f), qv = signed_values(120, 0.4f);
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "b", make_tensor({5, 17}, bv));
    bind_ok(model, "q", make_tensor({4, 5, 6}, qv));
    run_ok(model, {make_tensor({3, 5}, av), make_tensor({5}, vv), make_tensor({2, 1, 3, 5}, pv)});
    check_slot(model.output(0), matmul_ref(av, {3, 5}, bv, {5, 17}));
    check_slot(model.output(1), matmul_ref(vv, {5}, bv, {5, 17}));
    check_slot(model.output(2), matmul_ref(av, {3, 5}, vv, {5}));
    const Ref batched = matmul_ref(pv, {2, 1, 3, 5}, qv, {4, 5, 6});
    CHECK(batched.dims == Sizes{2, 4, 3, 6});
    check_slot(model.output(3), batched);
    check_slot(model.output(4), matmul_ref(vv, {5}, vv, {5}));  // a rank-0 dot product
  });
}

TEST_CASE("static graph: gemm with transposes, alpha, beta and C of every rank") {
  constexpr auto a = sg::input<"a", f32, 3, 5>();
  constexpr auto at_ = sg::input<"at", f32, 5, 3>();
  constexpr auto b = sg::weight<"b", f32, 5, 4>();
  constexpr auto bt = sg::weight<"bt", f32, 4, 5>();
  constexpr auto row = sg::weight<"row", f32, 4>();
  constexpr auto full = sg::weight<"full", f32, 3, 4>();
  constexpr auto col = sg::weight<"col", f32, 3, 1>();
  constexpr auto scalar = sg::weight<"scalar", f32>();
  using Net = decltype(sg::build(
      sg::inputs(a, at_), sg::gemm(a, b), sg::gemm<relax::GemmOpAttrs{.trans_a = true}>(at_, b, row),
      sg::gemm<relax::GemmOpAttrs{.trans_b = true, .alpha = 0.5, .beta = 2.0}>(a, bt, full),
      sg::gemm<relax::GemmOpAttrs{.trans_a = true, .trans_b = true, .alpha = -1.5, .beta = 0.25}>(at_, bt, col),
      sg::gemm<relax::GemmOpAttrs{.alpha = 2.0, .beta = -1.0}>(a, b, scalar)));
  const std::vector<float> av = signed_values(15, 0.1f), bv = signed_values(20, 0.9f), rowv = signed_values(4, 1.7f),
                           fullv = signed_values(12, 2.2f), colv = signed_values(3, 0.3f), scalarv = {0.75f};
  // The transposed operands hold the same matrices.
  std::vector<float> atv(15), btv(20);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t t = 0; t < 5; ++t) atv[t * 3 + i] = av[i * 5 + t];
  for (std::size_t t = 0; t < 5; ++t)
    for (std::size_t j = 0; j < 4; ++j) btv[j * 5 + t] = bv[t * 4 + j];
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "b", make_tensor({5, 4}, bv));
    bind_ok(model, "bt", make_tensor({4, 5}, btv));
    bind_ok(model, "row", make_tensor({4}, rowv));
    bind_ok(model, "full", make_tensor({3, 4}, fullv));
    bind_ok(model, "col", make_tensor({3, 1}, colv));
    bind_ok(model, "scalar", make_tensor<float>({}, scalarv));
    run_ok(model, {make_tensor({3, 5}, av), make_tensor({5, 3}, atv)});
    check_slot(model.output(0), gemm_ref(av, bv, nullptr, {}, 3, 4, 5, false, false, 1.0, 1.0));
    check_slot(model.output(1), gemm_ref(atv, bv, &rowv, {4}, 3, 4, 5, true, false, 1.0, 1.0));
    check_slot(model.output(2), gemm_ref(av, btv, &fullv, {3, 4}, 3, 4, 5, false, true, 0.5, 2.0));
    check_slot(model.output(3), gemm_ref(atv, btv, &colv, {3, 1}, 3, 4, 5, true, true, -1.5, 0.25));
    check_slot(model.output(4), gemm_ref(av, bv, &scalarv, {}, 3, 4, 5, false, false, 2.0, -1.0));
  });
}

TEST_CASE("static graph: conv 1-D and 2-D: strides, pads, dilations, groups, depthwise, pointwise, no bias") {
  constexpr auto x1 = sg::input<"x1", f32, 2, 3, 11>();
  constexpr auto x2 = sg::input<"x2", f32, 1, 4, 7, 6>();
  constexpr auto x3 = sg::input<"x3", f32, 2, 5, 6, 6>();
  constexpr auto w1 = sg::weight<"w1", f32, 4, 3, 3>();
  constexpr auto b1 = sg::weight<"b1", f32, 4>();
  constexpr auto w2 = sg::weight<"w2", f32, 6, 2, 3, 3>();
  constexpr auto wd = sg::weight<"wd", f32, 5, 1, 3, 3>();
  constexpr auto bd = sg::weight<"bd", f32, 5>();
  constexpr auto wp = sg::weight<"wp", f32, 3, 5, 1, 1>();
  constexpr auto ws = sg::weight<"ws", f32, 3, 4, 3, 3>();
  constexpr auto depthwise = sg::conv<relax::ConvAttrs{.pads = {1, 1, 1, 1}, .groups = 5}>(x3, wd, bd);
  using Net = decltype(sg::build(
      sg::inputs(x1, x2, x3), sg::conv<relax::ConvAttrs{.strides = {2}, .pads = {1, 2}, .dilations = {2}}>(x1, w1, b1),
      sg::conv<relax::ConvAttrs{.strides = {2, 1}, .pads = {1, 0, 2, 1}, .dilations = {1, 2}, .groups = 2}>(x2, w2),
      sg::relu(depthwise), sg::conv(x3, wp),
      sg::conv<relax::ConvAttrs{.strides = {2, 2}, .auto_pad = relax::AutoPad::same_upper}>(x2, ws)));
  CHECK(Net::node(index_in<Net>(depthwise)).epilogue_into == Net::outputs[2]);
  const std::vector<float> x1v = signed_values(66, 0.1f), x2v = signed_values(168, 0.5f), x3v = signed_values(360, 0.9f),
                           w1v = signed_values(36, 1.1f), b1v = signed_values(4, 1.5f), w2v = signed_values(108, 1.9f),
                           wdv = signed_values(45, 2.3f), bdv = signed_values(5, 2.7f), wpv = signed_values(15, 0.2f),
                           wsv = signed_values(108, 0.6f);
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "w1", make_tensor({4, 3, 3}, w1v));
    bind_ok(model, "b1", make_tensor({4}, b1v));
    bind_ok(model, "w2", make_tensor({6, 2, 3, 3}, w2v));
    bind_ok(model, "wd", make_tensor({5, 1, 3, 3}, wdv));
    bind_ok(model, "bd", make_tensor({5}, bdv));
    bind_ok(model, "wp", make_tensor({3, 5, 1, 1}, wpv));
    bind_ok(model, "ws", make_tensor({3, 4, 3, 3}, wsv));
    run_ok(model, {make_tensor({2, 3, 11}, x1v), make_tensor({1, 4, 7, 6}, x2v), make_tensor({2, 5, 6, 6}, x3v)});
    Window one_d;
    one_d.stride[1] = 2;
    one_d.pad_begin[1] = 1;
    one_d.pad_end[1] = 2;
    one_d.dilation[1] = 2;
    const Ref y1 = as_1d(conv_ref(x1v, as_2d({2, 3, 11}), w1v, as_2d({4, 3, 3}), &b1v, one_d, 1));
    CHECK(y1.dims == Sizes{2, 4, 5});
    check_slot(model.output(0), y1);
    Window grouped;
    grouped.stride[0] = 2;
    grouped.pad_begin[0] = 1;
    grouped.pad_end[0] = 2;
    grouped.pad_end[1] = 1;
    grouped.dilation[1] = 2;
    check_slot(model.output(1), conv_ref(x2v, {1, 4, 7, 6}, w2v, {6, 2, 3, 3}, nullptr, grouped, 2));
    Window same;
    same.pad_begin[0] = same.pad_end[0] = 1;
    same.pad_begin[1] = same.pad_end[1] = 1;
    Ref dw = conv_ref(x3v, {2, 5, 6, 6}, wdv, {5, 1, 3, 3}, &bdv, same, 5);
    for (double& v : dw.v) v = std::max(v, 0.0);
    check_slot(model.output(2), dw);
    check_slot(model.output(3), conv_ref(x3v, {2, 5, 6, 6}, wpv, {3, 5, 1, 1}, nullptr, Window{}, 1));
    // same_upper, stride 2: 7 -> 4 rows (pads 1 and 1), 6 -> 3 columns (pads 0 and 1).
    Window upper;
    upper.stride[0] = upper.stride[1] = 2;
    upper.pad_begin[0] = upper.pad_end[0] = 1;
    upper.pad_end[1] = 1;
    const Ref su = conv_ref(x2v, {1, 4, 7, 6}, wsv, {3, 4, 3, 3}, nullptr, upper, 1);
    CHECK(su.dims == Sizes{1, 3, 4, 3});
    check_slot(model.output(4), su);
  });
}

TEST_CASE("static graph: conv_transpose with strides, pads, output_padding, groups, dilations, output_shape") {
  constexpr auto x = sg::input<"x", f32, 1, 4, 3, 5>();
  constexpr auto x1 = sg::input<"x1", f32, 2, 4, 5>();
  constexpr auto w = sg::weight<"w", f32, 4, 3, 3, 3>();
  constexpr auto b = sg::weight<"b", f32, 3>();
  constexpr auto w1 = sg::weight<"w1", f32, 4, 2, 3>();
  using Net = decltype(sg::build(
      sg::inputs(x, x1),
      sg::conv_transpose<sg::ConvTransposeAttrs{.strides = {2, 2}, .pads = {1, 0, 1, 1}, .output_padding = {1, 0}}>(
          x, w, b),
      sg::conv_transpose<sg::ConvTransposeAttrs{.strides = {3}, .pads = {2, 1}, .dilations = {2}, .groups = 2}>(x1, w1),
      sg::conv_transpose<sg::ConvTransposeAttrs{.strides = {2, 2}, .output_shape = {7, 10}}>(x, w)));
  const std::vector<float> xv = signed_values(60, 0.2f), x1v = signed_values(40, 0.8f), wv = signed_values(108, 1.4f),
                           bv = signed_values(3, 2.0f), w1v = signed_values(24, 2.6f);
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "w", make_tensor({4, 3, 3, 3}, wv));
    bind_ok(model, "b", make_tensor({3}, bv));
    bind_ok(model, "w1", make_tensor({4, 2, 3}, w1v));
    run_ok(model, {make_tensor({1, 4, 3, 5}, xv), make_tensor({2, 4, 5}, x1v)});
    Window padded;
    padded.stride[0] = padded.stride[1] = 2;
    padded.pad_begin[0] = 1;
    padded.pad_end[0] = 1;
    padded.pad_end[1] = 1;
    padded.output_padding[0] = 1;
    const Ref y = conv_transpose_ref(xv, {1, 4, 3, 5}, wv, {4, 3, 3, 3}, &bv, padded, 1);
    CHECK(y.dims == Sizes{1, 3, 6, 10});
    check_slot(model.output(0), y);
    Window one_d;
    one_d.stride[1] = 3;
    one_d.pad_begin[1] = 2;
    one_d.pad_end[1] = 1;
    one_d.dilation[1] = 2;
    const Ref y1 = as_1d(conv_transpose_ref(x1v, as_2d({2, 4, 5}), w1v, as_2d({4, 2, 3}), nullptr, one_d, 2));
    CHECK(y1.dims == Sizes{2, 4, 14});
    check_slot(model.output(1), y1);
    // output_shape {7, 10}: the full extents are 7 and 11, so one column of padding, at the begin.
    Window shaped;
    shaped.stride[0] = shaped.stride[1] = 2;
    shaped.pad_begin[1] = 1;
    const Ref ys = conv_transpose_ref(xv, {1, 4, 3, 5}, wv, {4, 3, 3, 3}, nullptr, shaped, 1);
    CHECK(ys.dims == Sizes{1, 3, 7, 10});
    check_slot(model.output(2), ys);
  });
}

TEST_CASE("static graph: max, average and lp pooling with pads, strides, dilations, ceil_mode; global pools") {
  constexpr auto x = sg::input<"x", f32, 2, 3, 7, 8>();
  constexpr auto x1 = sg::input<"x1", f32, 2, 3, 11>();
  constexpr relax::PoolAttrs padded{.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}};
  using Net = decltype(sg::build(
      sg::inputs(x, x1), sg::max_pool<padded>(x), sg::average_pool<padded>(x),
      sg::max_pool<relax::PoolAttrs{.kernel_shape = {2, 3}, .strides = {1, 2}, .pads = {0, 1, 1, 0}, .dilations = {2, 1}}>(x),
      sg::average_pool<relax::PoolAttrs{.kernel_shape = {3, 3}, .strides = {2, 2}, .ceil_mode = true}>(x),
      sg::max_pool<relax::PoolAttrs{.kernel_shape = {4}, .strides = {3}, .pads = {2, 2}}>(x1),
      sg::apply<OpKind::lp_pool, padded>(x), sg::global_max_pool(x), sg::global_average_pool(x),
      sg::apply<OpKind::global_lp_pool>(x), sg::global_average_pool(x1)));
  const std::vector<float> xv = signed_values(336, 0.3f, 2.0f), x1v = signed_values(66, 1.2f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({2, 3, 7, 8}, xv), make_tensor({2, 3, 11}, x1v)});
  const Sizes dx{2, 3, 7, 8};
  Window pw;
  pw.stride[0] = pw.stride[1] = 2;
  pw.pad_begin[0] = pw.pad_begin[1] = pw.pad_end[0] = pw.pad_end[1] = 1;
  const Ref mx = pool_ref(Pool::max, xv, dx, {3, 3}, pw);
  CHECK(mx.dims == Sizes{2, 3, 4, 4});
  check_slot(model.output(0), mx);
  check_slot(model.output(1), pool_ref(Pool::average, xv, dx, {3, 3}, pw));
  Window dilated;
  dilated.stride[1] = 2;
  dilated.pad_begin[1] = 1;
  dilated.pad_end[0] = 1;
  dilated.dilation[0] = 2;
  const Ref md = pool_ref(Pool::max, xv, dx, {2, 3}, dilated);
  CHECK(md.dims == Sizes{2, 3, 6, 4});
  check_slot(model.output(2), md);
  Window strided;
  strided.stride[0] = strided.stride[1] = 2;
  const Ref ceil = pool_ref(Pool::average, xv, dx, {3, 3}, strided, true);
  CHECK(ceil.dims == Sizes{2, 3, 3, 4});
  check_slot(model.output(3), ceil);
  Window one_d;
  one_d.stride[1] = 3;
  one_d.pad_begin[1] = one_d.pad_end[1] = 2;
  const Ref m1 = as_1d(pool_ref(Pool::max, x1v, as_2d({2, 3, 11}), {1, 4}, one_d));
  CHECK(m1.dims == Sizes{2, 3, 4});
  check_slot(model.output(4), m1);
  check_slot(model.output(5), pool_ref(Pool::lp, xv, dx, {3, 3}, pw));
  check_slot(model.output(6), global_pool_ref(Pool::max, xv, dx));
  check_slot(model.output(7), global_pool_ref(Pool::average, xv, dx));
  check_slot(model.output(8), global_pool_ref(Pool::lp, xv, dx));
  check_slot(model.output(9), global_pool_ref(Pool::average, x1v, {2, 3, 11}));
}

// ---- normalization -------------------------------------------------------------------------

TEST_CASE("static graph: batch, layer, instance and group norm") {
  constexpr auto x = sg::input<"x", f32, 2, 3, 4, 5>();
  constexpr auto t = sg::input<"t", f32, 2, 3, 17>();
  constexpr auto g = sg::input<"g", f32, 2, 6, 3, 3>();
  constexpr auto c3 = sg::weight<"c3", f32, 3>();
  constexpr auto c3b = sg::weight<"c3b", f32, 3>();
  constexpr auto mean = sg::weight<"mean", f32, 3>();
  constexpr auto var = sg::weight<"var", f32, 3>();
  constexpr auto s17 = sg::weight<"s17", f32, 17>();
  constexpr auto b17 = sg::weight<"b17", f32, 17>();
  constexpr auto s3x17 = sg::weight<"s3x17", f32, 3, 17>();
  constexpr auto s3x1 = sg::weight<"s3x1", f32, 3, 1>();
  constexpr auto c6 = sg::weight<"c6", f32, 6>();
  constexpr auto c6b = sg::weight<"c6b", f32, 6>();
  using Net = decltype(sg::build(
      sg::inputs(x, t, g), sg::batch_norm<relax::NormAttrs{.epsilon = 1e-3}>(x, c3, c3b, mean, var),
      sg::layer_norm(t, s17, b17), sg::layer_norm<relax::NormAttrs{.axis = 1}>(t, s3x17, b17),
      sg::apply<OpKind::layer_norm, relax::NormAttrs{.epsilon = 0.1, .axis = -2}>(t, s3x1),
      sg::apply<OpKind::instance_norm, relax::NormAttrs{}>(x, c3, c3b),
      sg::apply<OpKind::group_norm, relax::NormAttrs{.num_groups = 3}>(g, c6, c6b),
      sg::apply<OpKind::group_norm, relax::NormAttrs{.epsilon = 1e-2, .num_groups = 3}>(g, c3, c3b)));
  const std::vector<float> xv = signed_values(120, 0.1f, 2.0f), tv = signed_values(102, 0.4f, 3.0f),
                           gv = signed_values(108, 0.8f), c3v = signed_values(3, 1.0f), c3bv = signed_values(3, 1.6f),
                           meanv = signed_values(3, 2.0f, 0.3f), s17v = signed_values(17, 0.5f),
                           b17v = signed_values(17, 0.9f), s3x17v = signed_values(51, 1.3f),
                           s3x1v = signed_values(3, 1.9f), c6v = signed_values(6, 2.4f), c6bv = signed_values(6, 2.8f);
  std::vector<float> varv = signed_values(3, 0.7f);
  for (float& v : varv) v = 0.5f + std::fabs(v);
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "c3", make_tensor({3}, c3v));
    bind_ok(model, "c3b", make_tensor({3}, c3bv));
    bind_ok(model, "mean", make_tensor({3}, meanv));
    bind_ok(model, "var", make_tensor({3}, varv));
    bind_ok(model, "s17", make_tensor({17}, s17v));
    bind_ok(model, "b17", make_tensor({17}, b17v));
    bind_ok(model, "s3x17", make_tensor({3, 17}, s3x17v));
    bind_ok(model, "s3x1", make_tensor({3, 1}, s3x1v));
    bind_ok(model, "c6", make_tensor({6}, c6v));
    bind_ok(model, "c6b", make_tensor({6}, c6bv));
    run_ok(model, {make_tensor({2, 3, 4, 5}, xv), make_tensor({2, 3, 17}, tv), make_tensor({2, 6, 3, 3}, gv)});
    Ref bn{std::vector<double>(120), {2, 3, 4, 5}};
    for (std::size_t i = 0; i < 120; ++i) {
      const std::size_t ch = i / 20 % 3;
      bn.v[i] = (xv[i] - meanv[ch]) / std::sqrt(varv[ch] + 1e-3) * c3v[ch] + c3bv[ch];
    }
    check_slot(model.output(0), bn, 1e-4);
    check_slot(model.output(1), layer_norm_ref(tv, {2, 3, 17}, 2, s17v, {17}, &b17v, {17}, 1e-5), 1e-4);
    check_slot(model.output(2), layer_norm_ref(tv, {2, 3, 17}, 1, s3x17v, {3, 17}, &b17v, {17}, 1e-5), 1e-4);
    check_slot(model.output(3), layer_norm_ref(tv, {2, 3, 17}, 1, s3x1v, {3, 1}, nullptr, {}, 0.1), 1e-4);
    check_slot(model.output(4), group_norm_ref(xv, {2, 3, 4, 5}, 3, c3v, c3bv, 1e-5), 1e-4);
    check_slot(model.output(5), group_norm_ref(gv, {2, 6, 3, 3}, 3, c6v, c6bv, 1e-5), 1e-4);
    check_slot(model.output(6), group_norm_ref(gv, {2, 6, 3, 3}, 3, c3v, c3bv, 1e-2), 1e-4);  // per-group scale
  });
}

TEST_CASE("static graph: softmax, log_softmax and hardmax on the last, a middle and the first axis") {
  constexpr auto x = sg::input<"x", f32, 2, 5, 7>();
  constexpr auto wide = sg::input<"wide", f32, 3, 1023>();
  using Net = decltype(sg::build(sg::inputs(x, wide), sg::softmax(x), sg::softmax<1>(x), sg::softmax<0>(x),
                                 sg::log_softmax(x), sg::log_softmax<-2>(x),
                                 sg::apply<OpKind::hardmax, relax::AxisAttrs{1}>(x), sg::softmax(wide),
                                 sg::log_softmax<0>(wide)));
  std::vector<float> xv = signed_values(70, 0.2f, 4.0f);
  xv[1] = xv[3] = 10.0f;  // a tie along the last axis
  xv[7] = xv[14] = 9.0f;  // a tie along axis 1 (elements [0, 1, 0] and [0, 2, 0]): hardmax takes the first
  const std::vector<float> wv = signed_values(3069, 1.1f, 5.0f);
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({2, 5, 7}, xv), make_tensor({3, 1023}, wv)});
  const Sizes dx{2, 5, 7};
  check_slot(model.output(0), softmax_ref(Softmax::softmax, xv, dx, -1));
  check_slot(model.output(1), softmax_ref(Softmax::softmax, xv, dx, 1));
  check_slot(model.output(2), softmax_ref(Softmax::softmax, xv, dx, 0));
  check_slot(model.output(3), softmax_ref(Softmax::log_softmax, xv, dx, -1));
  check_slot(model.output(4), softmax_ref(Softmax::log_softmax, xv, dx, 1));
  check_slot(model.output(5), softmax_ref(Softmax::hardmax, xv, dx, 1), 0.0);
  check_slot(model.output(6), softmax_ref(Softmax::softmax, wv, {3, 1023}, -1));
  check_slot(model.output(7), softmax_ref(Softmax::log_softmax, wv, {3, 1023}, 0));
}

// ---- reductions ----------------------------------------------------------------------------

TEST_CASE("static graph: reductions over any axes, with and without kept dims; argmax and argmin") {
  constexpr auto x = sg::input<"x", f32, 2, 3, 5>();
  constexpr auto n = sg::input<"n", DType::i64, 3, 4>();
  constexpr auto k = sg::input<"k", DType::i32, 4, 3>();
  using Net = decltype(sg::build(
      sg::inputs(x, n, k), sg::reduce_sum<relax::ReduceAttrs{.axes = {1}}>(x),
      sg::reduce_sum<relax::ReduceAttrs{.axes = {0, 2}, .keepdims = false}>(x), sg::reduce_mean<relax::ReduceAttrs{}>(x),
      sg::reduce_mean<relax::ReduceAttrs{.axes = {-1}, .keepdims = false}>(x),
      sg::reduce_max<relax::ReduceAttrs{.axes = {1}, .keepdims = false}>(x),
      sg::apply<OpKind::reduce_min, relax::ReduceAttrs{.axes = {0}}>(x),
      sg::apply<OpKind::reduce_prod, relax::ReduceAttrs{.axes = {2}, .keepdims = false}>(x),
      sg::reduce_sum<relax::ReduceAttrs{.axes = {1}}>(n), sg::reduce_max<relax::ReduceAttrs{.keepdims = false}>(n),
      sg::apply<OpKind::argmax, relax::ArgReduceAttrs{.axis = 1}>(x),
      sg::apply<OpKind::argmin, relax::ArgReduceAttrs{.axis = -1, .keepdims = false}>(x),
      sg::apply<OpKind::argmax, relax::ArgReduceAttrs{.axis = 0, .keepdims = false}>(k),
      sg::apply<OpKind::argmin, relax::ArgReduceAttrs{.axis = 1}>(n),
      sg::reduce_sum<relax::ReduceAttrs{.axes = {}, .keepdims = true, .noop_with_empty_axes = true}>(x)));
  const std::vector<float> xv = near_one(30, 0.3f);
  const std::vector<std::int64_t> nv = {5, -2, 7, 7, 1000000000000LL, 3, -4, 0, -1, -1, 2, -9};
  const std::vector<std::int32_t> kv = {1, 5, 2, 4, 5, 2, 4, 0, 2, 3, 5, 5};  // ties: the first index wins
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({2, 3, 5}, xv), make_tensor({3, 4}, nv), make_tensor({4, 3}, kv)});
  const Sizes dx{2, 3, 5};
  check_slot(model.output(0), reduce_ref(Reduce::sum, xv, dx, {1}, true));
  check_slot(model.output(1), reduce_ref(Reduce::sum, xv, dx, {0, 2}, false));
  const Ref all = reduce_ref(Reduce::mean, xv, dx, {}, true);
  CHECK(all.dims == Sizes{1, 1, 1});
  check_slot(model.output(2), all);
  check_slot(model.output(3), reduce_ref(Reduce::mean, xv, dx, {-1}, false));
  check_slot(model.output(4), reduce_ref(Reduce::max, xv, dx, {1}, false), 0.0);
  check_slot(model.output(5), reduce_ref(Reduce::min, xv, dx, {0}, true), 0.0);
  check_slot(model.output(6), reduce_ref(Reduce::prod, xv, dx, {2}, false));
  check_slot(model.output(7), reduce_ref(Reduce::sum, nv, {3, 4}, {1}, true), 0.0, DType::i64);
  const Ref top = reduce_ref(Reduce::max, nv, {3, 4}, {}, false);
  CHECK(top.dims.empty());
  check_slot(model.output(8), top, 0.0, DType::i64);
  check_slot(model.output(9), arg_reduce_ref(true, xv, dx, 1, true), 0.0, DType::i64);
  check_slot(model.output(10), arg_reduce_ref(false, xv, dx, -1, false), 0.0, DType::i64);
  const Ref arg_k = arg_reduce_ref(true, kv, {4, 3}, 0, false);
  CHECK(arg_k.v == std::vector<double>{1, 0, 3});
  check_slot(model.output(11), arg_k, 0.0, DType::i64);
  check_slot(model.output(12), arg_reduce_ref(false, nv, {3, 4}, 1, true), 0.0, DType::i64);
  check_slot(model.output(13), Ref{std::vector<double>(xv.begin(), xv.end()), dx}, 0.0);  // no axes: a copy
}

TEST_CASE("static graph: dtypes a kernel refuses fail at Model::create") {
  const auto refused = [](auto net, std::string_view message) {
    using Net = decltype(net);
    const Result<sg::Model<Net>> model = sg::Model<Net>::create(nullptr);
    REQUIRE_FALSE(model.ok());
    INFO(model.status().to_string());
    CHECK(model.status().code() == StatusCode::unsupported);
    CHECK(contains(model.status().message(), message));
  };
  // The kernel's own check: reduce_mean takes f32 only, softmax f32 only, and a scatter's
  // reduction computes, which bool cannot.
  constexpr auto n = sg::input<"n", DType::i64, 2, 3>();
  refused(sg::build(sg::inputs(n), sg::reduce_mean<relax::ReduceAttrs{}>(n)), "reduce_mean: i64 input is not supported");
  constexpr auto h = sg::input<"h", DType::f64, 2, 3>();
  refused(sg::build(sg::inputs(h), sg::softmax(h)), "softmax");
  constexpr auto flags = sg::input<"flags", DType::boolean, 2, 3>();
  constexpr auto idx = sg::input<"idx", DType::i64, 2, 3>();
  refused(sg::build(sg::inputs(flags, idx),
                    sg::apply<OpKind::scatter_elements, relax::ScatterAttrs{.reduction = relax::ScatterReduction::add}>(
                        flags, idx, flags)),
          "scatter_elements: bool data is not supported with reduction add");
}

// ---- layout --------------------------------------------------------------------------------

TEST_CASE("static graph: reshape, flatten, squeeze, unsqueeze and identity are views") {
  constexpr auto x = sg::input<"x", f32, 2, 3, 4>();
  constexpr auto y = sg::input<"y", f32, 2, 1, 3, 1>();
  constexpr auto moved = sg::transpose<0, 2, 1>(x);  // a kernel: [2, 4, 3]
  constexpr auto viewed = sg::reshape<12, 2>(moved);
  constexpr auto fused = sg::exp(viewed);
  constexpr auto relu_x = sg::relu(x);
  using Net = decltype(sg::build(
      sg::inputs(x, y), sg::reshape<4, 6>(x), sg::flatten<2>(x), sg::flatten(x),
      sg::apply<OpKind::squeeze, relax::AxesAttrs{{1}}>(y), sg::apply<OpKind::squeeze, relax::AxesAttrs{}>(y),
      sg::apply<OpKind::unsqueeze, relax::AxesAttrs{{0, 3}}>(x), sg::apply<OpKind::identity>(x),
      sg::reshape<-1, 4>(x), fused,
      sg::apply<OpKind::squeeze, relax::AxesAttrs{{0}}>(
          sg::apply<OpKind::unsqueeze, relax::AxesAttrs{{0}}>(sg::flatten<0>(relu_x))),
      sg::neg(relu_x)));
  for (int i = 0; i < 8; ++i) CHECK(Net::node(Net::outputs[static_cast<std::size_t>(i)]).role == sg::Role::view);
  CHECK(Net::node(index_in<Net>(viewed)).storage == index_in<Net>(moved));
  CHECK(Net::node(Net::outputs[9]).storage == index_in<Net>(relu_x));
  const std::vector<float> xv = signed_values(24, 0.3f), yv = signed_values(6, 1.4f);
  const Tensor xt = make_tensor({2, 3, 4}, xv), yt = make_tensor({2, 1, 3, 1}, yv);
  auto model = make_model<Net>();
  run_ok(model, {xt, yt});
  const std::vector<double> xd(xv.begin(), xv.end()), yd(yv.begin(), yv.end());
  check_slot(model.output(0), f32, {4, 6}, xd, 0.0);
  check_slot(model.output(1), f32, {6, 4}, xd, 0.0);
  check_slot(model.output(2), f32, {2, 12}, xd, 0.0);
  check_slot(model.output(3), f32, {2, 3, 1}, yd, 0.0);
  check_slot(model.output(4), f32, {2, 3}, yd, 0.0);
  check_slot(model.output(5), f32, {1, 2, 3, 1, 4}, xd, 0.0);
  check_slot(model.output(6), f32, {2, 3, 4}, xd, 0.0);
  check_slot(model.output(7), f32, {6, 4}, xd, 0.0);
  // A view of an input reads the input's memory.
  for (int i = 0; i < 8; ++i) {
    const void* expected = i == 3 || i == 4 ? yt.data() : xt.data();
    CHECK(model.output(i).data == expected);
  }
  Ref moved_ref = transpose_ref(xv, {2, 3, 4}, {0, 2, 1});
  for (double& v : moved_ref.v) v = std::exp(v);
  check_slot(model.output(8), f32, {12, 2}, moved_ref.v);
  std::vector<double> relu_ref(24), neg_ref(24);
  for (std::size_t i = 0; i < 24; ++i) {
    relu_ref[i] = std::max(xd[i], 0.0);
    neg_ref[i] = -relu_ref[i];
  }
  check_slot(model.output(9), f32, {1, 24}, relu_ref, 0.0);  // a view that is an output keeps its buffer alive
  check_slot(model.output(10), f32, {2, 3, 4}, neg_ref, 0.0);
}

TEST_CASE("static graph: expand, transpose, concat and slice") {
  constexpr auto x = sg::input<"x", f32, 2, 3, 4>();
  constexpr auto e = sg::input<"e", f32, 3, 1>();
  constexpr auto l = sg::input<"l", DType::i64, 2, 3>();
  constexpr auto c1 = sg::input<"c1", f32, 2, 1, 4>();
  constexpr auto c2 = sg::input<"c2", f32, 2, 2, 4>();
  constexpr auto s = sg::input<"s", f32, 5, 6, 4>();
  using Net = decltype(sg::build(
      sg::inputs(x, e, l, c1, c2, s), sg::expand<2, 3, 4>(e), sg::expand<2, 1, 5>(e), sg::transpose<2, 0, 1>(x),
      sg::apply<OpKind::transpose, relax::PermAttrs{}>(x), sg::transpose<1, 0>(l), sg::concat<1>(c1, x, c2),
      sg::concat<-1>(x, x),
      sg::apply<OpKind::slice, relax::SliceAttrs{.starts = {1, -1}, .ends = {4, -100}, .axes = {0, 1}, .steps = {2, -2}}>(s),
      sg::apply<OpKind::slice, relax::SliceAttrs{.starts = {2}, .ends = {std::numeric_limits<std::int64_t>::max()},
                                                 .axes = {-1}}>(s)));
  const std::vector<float> xv = signed_values(24, 0.1f), ev = {1.0f, 2.0f, 3.0f}, c1v = signed_values(8, 0.5f),
                           c2v = signed_values(16, 0.9f), sv = signed_values(120, 1.3f);
  const std::vector<std::int64_t> lv = {1, -2, 3, 4000000000LL, 5, -6};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({2, 3, 4}, xv), make_tensor({3, 1}, ev), make_tensor({2, 3}, lv),
                 make_tensor({2, 1, 4}, c1v), make_tensor({2, 2, 4}, c2v), make_tensor({5, 6, 4}, sv)});
  check_slot(model.output(0), expand_ref(ev, {3, 1}, {2, 3, 4}), 0.0);
  const Ref e2 = expand_ref(ev, {3, 1}, {2, 1, 5});
  CHECK(e2.dims == Sizes{2, 3, 5});
  check_slot(model.output(1), e2, 0.0);
  check_slot(model.output(2), transpose_ref(xv, {2, 3, 4}, {2, 0, 1}), 0.0);
  check_slot(model.output(3), transpose_ref(xv, {2, 3, 4}, {2, 1, 0}), 0.0);
  check_slot(model.output(4), transpose_ref(lv, {2, 3}, {1, 0}), 0.0, DType::i64);
  check_slot(model.output(5), concat_ref({{c1v, {2, 1, 4}}, {xv, {2, 3, 4}}, {c2v, {2, 2, 4}}}, 1), 0.0);
  check_slot(model.output(6), concat_ref({{xv, {2, 3, 4}}, {xv, {2, 3, 4}}}, -1), 0.0);
  // Rows 1 and 3; columns 5, 3, 1 (from the last, backwards, past the beginning); every depth.
  check_slot(model.output(7), pick_ref(sv, {5, 6, 4}, {{1, 3}, {5, 3, 1}, {0, 1, 2, 3}}), 0.0);
  check_slot(model.output(8), pick_ref(sv, {5, 6, 4}, {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5}, {2, 3}}), 0.0);
}

TEST_CASE("static graph: gather, pad and tile") {
  constexpr auto data = sg::input<"data", f32, 4, 3>();
  constexpr auto i64s = sg::input<"i64s", DType::i64, 2, 2>();
  constexpr auto i32s = sg::input<"i32s", DType::i32, 2>();
  constexpr auto longs = sg::input<"longs", DType::i64, 5>();
  constexpr auto small = sg::input<"small", f32, 2, 3>();
  constexpr auto ints = sg::input<"ints", DType::i32, 2, 3>();
  constexpr auto cube = sg::input<"cube", f32, 2, 3, 2>();
  constexpr auto flags = sg::input<"flags", DType::boolean, 2>();
  using Net = decltype(sg::build(
      sg::inputs(data, i64s, i32s, longs, small, ints, cube, flags),
      sg::apply<OpKind::gather, relax::AxisAttrs{0}>(data, i64s), sg::apply<OpKind::gather, relax::AxisAttrs{1}>(data, i32s),
      sg::apply<OpKind::gather, relax::AxisAttrs{-1}>(longs, i32s),
      sg::apply<OpKind::pad, relax::PadAttrs{.pads = {1, 2, 0, 1}, .value = 1.5}>(small),
      sg::apply<OpKind::pad, relax::PadAttrs{.pads = {2, -1}, .axes = {-1}, .value = 7.0}>(ints),
      sg::apply<OpKind::pad, relax::PadAttrs{.pads = {-1, 0, 1, 1}}>(small),
      sg::apply<OpKind::tile, relax::TileAttrs{{2, 1, 3}}>(cube), sg::apply<OpKind::tile, relax::TileAttrs{{3}}>(flags)));
  const std::vector<float> dv = signed_values(12, 0.2f), smallv = signed_values(6, 0.6f), cubev = signed_values(12, 1.0f);
  const std::vector<std::int64_t> iv = {3, -1, 0, 2}, longv = {10, 20, 30, 40, 50};
  const std::vector<std::int32_t> jv = {2, -3}, intv = {1, 2, 3, 4, 5, 6};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({4, 3}, dv), make_tensor({2, 2}, iv), make_tensor({2}, jv), make_tensor({5}, longv),
                 make_tensor({2, 3}, smallv), make_tensor({2, 3}, intv), make_tensor({2, 3, 2}, cubev),
                 make_bools({2}, {1, 0})});
  check_slot(model.output(0), gather_ref(dv, {4, 3}, iv, {2, 2}, 0), 0.0);
  check_slot(model.output(1), gather_ref(dv, {4, 3}, {2, -3}, {2}, 1), 0.0);
  check_slot(model.output(2), gather_ref(longv, {5}, {2, -3}, {2}, 0), 0.0, DType::i64);
  check_slot(model.output(3), pad_ref(smallv, {2, 3}, {1, 2}, {0, 1}, 1.5), 0.0);
  const Ref padded_ints = pad_ref(intv, {2, 3}, {0, 2}, {0, -1}, 7.0);
  CHECK(padded_ints.v == std::vector<double>{7, 7, 1, 2, 7, 7, 4, 5});
  check_slot(model.output(4), padded_ints, 0.0, DType::i32);
  check_slot(model.output(5), pad_ref(smallv, {2, 3}, {-1, 0}, {1, 1}, 0.0), 0.0);
  check_slot(model.output(6), tile_ref(cubev, {2, 3, 2}, {2, 1, 3}), 0.0);
  check_slot(model.output(7), Ref{{1, 0, 1, 0, 1, 0}, {6}}, 0.0, DType::boolean);
}

TEST_CASE("static graph: gather_elements, scatter_elements, scatter_nd and cumsum run the VM's CPU kernels") {
  using relax::ScatterReduction;
  constexpr auto x = sg::input<"x", f32, 3, 4>();
  constexpr auto gi = sg::input<"gi", DType::i64, 2, 4>();
  constexpr auto gj = sg::input<"gj", DType::i32, 3, 5>();  // longer than x along the axis
  constexpr auto si = sg::input<"si", DType::i64, 3, 4>();
  constexpr auto su = sg::input<"su", f32, 3, 4>();
  constexpr auto n = sg::input<"n", DType::i64, 2, 5>();
  constexpr auto ni = sg::input<"ni", DType::i32, 3, 5>();
  constexpr auto nu = sg::input<"nu", DType::i64, 3, 5>();
  constexpr auto ndi = sg::input<"ndi", DType::i64, 3, 1>();
  constexpr auto ndu = sg::input<"ndu", f32, 3, 4>();
  constexpr auto ndj = sg::input<"ndj", DType::i32, 2, 2>();
  constexpr auto ndv = sg::input<"ndv", DType::i64, 2>();
  constexpr relax::ScatterAttrs kMaxAlongRows{.axis = 1, .reduction = ScatterReduction::max};
  constexpr relax::ScatterAttrs kAddDownColumns{.axis = 0, .reduction = ScatterReduction::add};
  using Net = decltype(sg::build(
      sg::inputs(x, gi, gj, si, su, n, ni, nu, ndi, ndu, ndj, ndv),
      sg::apply<OpKind::gather_elements, relax::AxisAttrs{0}>(x, gi),
      sg::apply<OpKind::gather_elements, relax::AxisAttrs{-1}>(x, gj),
      sg::apply<OpKind::scatter_elements, relax::ScatterAttrs{.axis = 1}>(x, si, su),
      sg::apply<OpKind::scatter_elements, kMaxAlongRows>(x, si, su),
      sg::apply<OpKind::scatter_elements, kAddDownColumns>(n, ni, nu),
      sg::apply<OpKind::scatter_nd>(x, ndi, ndu),
      sg::apply<OpKind::scatter_nd, relax::ScatterAttrs{.reduction = ScatterReduction::mul}>(x, ndi, ndu),
      sg::apply<OpKind::scatter_nd, relax::ScatterAttrs{.reduction = ScatterReduction::min}>(n, ndj, ndv),
      sg::apply<OpKind::cumsum, relax::CumSumAttrs{.axis = 1}>(x),
      sg::apply<OpKind::cumsum, relax::CumSumAttrs{.axis = 0, .exclusive = true, .reverse = true}>(x),
      sg::apply<OpKind::cumsum, relax::CumSumAttrs{.axis = -1, .exclusive = true}>(n),
      sg::exp(sg::apply<OpKind::cumsum, relax::CumSumAttrs{.axis = 0, .reverse = true}>(x))));  // into a fused loop
  const std::vector<float> xv = signed_values(12, 0.4f), suv = signed_values(12, 1.1f, 2.0f),
                           nduv = near_one(12, 0.8f);
  const std::vector<std::int64_t> giv = {2, -1, 0, 1, -3, 0, 2, -2};
  const std::vector<std::int32_t> gjv = {0, 3, -4, -1, 2, 1, 1, -2, 3, 0, -3, 2, 0, -1, 3};
  const std::vector<std::int64_t> siv = {0, 0, 3, -4, 1, 2, 1, -3, -1, 3, 2, 0};  // repeats in every row
  const std::vector<std::int64_t> nv = {5, -2, 7, 7, 1000000000000LL, 3, -4, 0, -1, 9};
  const std::vector<std::int32_t> niv = {0, 1, -1, 0, 1, -2, 1, 0, 0, -1, 1, 1, 0, -2, 0};
  const std::vector<std::int64_t> nuv = {1, 2, 3, 4, 5, -6, 7, -8, 9, 10, 11, 12, -13, 14, 15};
  const std::vector<std::int64_t> ndiv = {2, -3, 2};  // row 2 twice: the last wins, or both multiply
  const std::vector<std::int32_t> ndjv = {1, 4, -1, -1};  // (1, 4) twice
  const std::vector<std::int64_t> ndvv = {3, -8};
  auto model = make_model<Net>();
  run_ok(model, {make_tensor({3, 4}, xv), make_tensor({2, 4}, giv), make_tensor({3, 5}, gjv), make_tensor({3, 4}, siv),
                 make_tensor({3, 4}, suv), make_tensor({2, 5}, nv), make_tensor({3, 5}, niv), make_tensor({3, 5}, nuv),
                 make_tensor({3, 1}, ndiv), make_tensor({3, 4}, nduv), make_tensor({2, 2}, ndjv),
                 make_tensor({2}, ndvv)});
  check_slot(model.output(0), gather_elements_ref(xv, {3, 4}, giv, {2, 4}, 0), 0.0);
  check_slot(model.output(1), gather_elements_ref(xv, {3, 4}, std::vector<std::int64_t>(gjv.begin(), gjv.end()),
                                                  {3, 5}, -1), 0.0);
  check_slot(model.output(2), scatter_elements_ref(xv, {3, 4}, siv, {3, 4}, suv, 1, ScatterReduction::none), 0.0);
  check_slot(model.output(3), scatter_elements_ref(xv, {3, 4}, siv, {3, 4}, suv, 1, ScatterReduction::max), 0.0);
  const Ref added = scatter_elements_ref(nv, {2, 5}, std::vector<std::int64_t>(niv.begin(), niv.end()), {3, 5}, nuv, 0,
                                         ScatterReduction::add);
  check_slot(model.output(4), added, 0.0, DType::i64);
  check_slot(model.output(5), scatter_nd_ref(xv, {3, 4}, ndiv, {3, 1}, nduv, ScatterReduction::none), 0.0);
  check_slot(model.output(6), scatter_nd_ref(xv, {3, 4}, ndiv, {3, 1}, nduv, ScatterReduction::mul));
  const Ref least = scatter_nd_ref(nv, {2, 5}, ndjv, {2, 2}, ndvv, ScatterReduction::min);
  CHECK(least.v[9] == -8.0);
  check_slot(model.output(7), least, 0.0, DType::i64);
  check_slot(model.output(8), cumsum_ref(xv, {3, 4}, 1, false, false));
  check_slot(model.output(9), cumsum_ref(xv, {3, 4}, 0, true, true));
  check_slot(model.output(10), cumsum_ref(nv, {2, 5}, -1, true, false), 0.0, DType::i64);
  Ref exp_of_sums = cumsum_ref(xv, {3, 4}, 0, false, true);
  for (double& v : exp_of_sums.v) v = std::exp(v);
  check_slot(model.output(11), exp_of_sums);
}

// ---- attention -----------------------------------------------------------------------------

TEST_CASE("static graph: attention, plain, causal, with f32 and bool masks, with broadcast heads") {
  constexpr auto q = sg::input<"q", f32, 2, 2, 5, 8>();
  constexpr auto k = sg::input<"k", f32, 2, 2, 6, 8>();
  constexpr auto v = sg::input<"v", f32, 2, 2, 6, 4>();
  constexpr auto kb = sg::input<"kb", f32, 2, 1, 6, 8>();
  constexpr auto vb = sg::input<"vb", f32, 2, 1, 6, 4>();
  constexpr auto additive = sg::weight<"additive", f32, 5, 6>();
  constexpr auto keep = sg::weight<"keep", DType::boolean, 2, 1, 5, 6>();
  using Net = decltype(sg::build(
      sg::inputs(q, k, v, kb, vb), sg::attention(q, k, v), sg::attention<relax::AttentionAttrs{.causal = true}>(q, k, v),
      sg::attention(q, k, v, additive), sg::attention<relax::AttentionAttrs{.scale = 0.3, .causal = true}>(q, k, v, keep),
      sg::attention(q, kb, vb),
      sg::attention<relax::AttentionAttrs{.scale = 0.5}>(q, k, v) * sg::weight<"half", f32, 1>() +
          sg::weight<"row", f32, 4>()));
  // The last attention writes into the loop that scales it and adds the row (its epilogue).
  CHECK(Net::node(index_in<Net>(sg::attention<relax::AttentionAttrs{.scale = 0.5}>(q, k, v))).epilogue_into ==
        Net::outputs[5]);
  const std::vector<float> qv = signed_values(160, 0.1f), kv = signed_values(192, 0.5f), vv = signed_values(96, 0.9f),
                           kbv = signed_values(96, 1.3f), vbv = signed_values(48, 1.7f);
  std::vector<float> addv = signed_values(30, 2.1f);
  addv[7] = -1e9f;  // query 1 hardly sees key 1
  std::vector<int> keepv(60);
  for (std::size_t i = 0; i < keepv.size(); ++i) keepv[i] = (i * 7 % 5) != 0 ? 1 : 0;
  for (std::size_t j = 0; j < 6; ++j) keepv[2 * 6 + j] = 0;  // batch 0, query 2 sees no key: a row of 0
  const Sizes dq{2, 2, 5, 8}, dk{2, 2, 6, 8}, dv{2, 2, 6, 4};
  with_and_without_pool<Net>([&](auto& model) {
    bind_ok(model, "additive", make_tensor({5, 6}, addv));
    bind_ok(model, "keep", make_bools({2, 1, 5, 6}, keepv));
    bind_ok(model, "half", make_tensor<float>({1}, {0.5f}));
    bind_ok(model, "row", make_tensor<float>({4}, {1.0f, -2.0f, 0.25f, 3.0f}));
    run_ok(model, {make_tensor(dq, qv), make_tensor(dk, kv), make_tensor(dv, vv), make_tensor({2, 1, 6, 8}, kbv),
                   make_tensor({2, 1, 6, 4}, vbv)});
    check_slot(model.output(0), attention_ref(qv, dq, kv, dk, vv, dv, {}, false, 0.0));
    check_slot(model.output(1), attention_ref(qv, dq, kv, dk, vv, dv, {}, true, 0.0));
    check_slot(model.output(2), attention_ref(qv, dq, kv, dk, vv, dv, Mask{&addv, nullptr, {5, 6}}, false, 0.0));
    const Ref masked = attention_ref(qv, dq, kv, dk, vv, dv, Mask{nullptr, &keepv, {2, 1, 5, 6}}, true, 0.3);
    for (std::int64_t head = 0; head < 2; ++head)  // batch 0, query 2, both heads: a row of 0
      for (std::int64_t c = 0; c < 4; ++c) CHECK(masked.v[at((head * 5 + 2) * 4 + c)] == 0.0);
    check_slot(model.output(3), masked);
    const Ref heads = attention_ref(qv, dq, kbv, {2, 1, 6, 8}, vbv, {2, 1, 6, 4}, {}, false, 0.0);
    CHECK(heads.dims == Sizes{2, 2, 5, 4});
    check_slot(model.output(4), heads);
    Ref scaled = attention_ref(qv, dq, kv, dk, vv, dv, {}, false, 0.5);
    const double row[] = {1.0, -2.0, 0.25, 3.0};
    for (std::size_t i = 0; i < scaled.v.size(); ++i) scaled.v[i] = scaled.v[i] * 0.5 + row[i % 4];
    check_slot(model.output(5), scaled);
  });
}
