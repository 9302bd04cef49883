// model_references.hpp: naive reference implementations of the example models (the small
// CNN and the transformer layer of examples/models), in double precision, one plain loop per
// op, and the helpers the model tests share. Both ways to run a graph are checked against
// these.
#pragma once

#include <doctest/doctest.h>

#include <kiln/runtime/tensor.hpp>
#include <kiln/vm/slot.hpp>

#include "../../examples/models/small_cnn.hpp"
#include "../../examples/models/small_transformer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace kiln::test::models {

using kiln::examples::CnnWeights;
using kiln::examples::TransformerWeights;
using kiln::examples::Weight;

using Vec = std::vector<double>;
inline std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

inline Tensor input_tensor(std::initializer_list<std::int64_t> dims, float phase) {
  Result<Tensor> t = Tensor::empty(DType::f32, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i)
    t->data_as<float>()[i] = std::sin(0.61f * static_cast<float>(i) + phase) * 1.3f;
  return *t;
}
inline Vec values_of(const Tensor& t) {
  Vec v(at(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) v[at(i)] = t.data_as<float>()[i];
  return v;
}
inline double w(const Weight& weight, std::int64_t i) { return weight.values[at(i)]; }

// ---- reference: CNN ---------------------------------------------------------------------
// NCHW conv with square kernel, stride 1, zero padding `pad`, `groups` groups.
inline Vec ref_conv(const Vec& x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t wd, const Weight& weight,
             const Weight& bias, std::int64_t pad, std::int64_t groups) {
  const std::int64_t k = weight.dims[0], cg = weight.dims[1], r = weight.dims[2];
  const std::int64_t oh = h + 2 * pad - r + 1, ow = wd + 2 * pad - r + 1;
  Vec y(at(n * k * oh * ow));
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t f = 0; f < k; ++f)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double sum = w(bias, f);
          const std::int64_t g = f / (k / groups);
          for (std::int64_t ch = 0; ch < cg; ++ch)
            for (std::int64_t u = 0; u < r; ++u)
              for (std::int64_t v = 0; v < r; ++v) {
                const std::int64_t yy = i + u - pad, xx = j + v - pad;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                sum += x[at(((b * c + g * cg + ch) * h + yy) * wd + xx)] * w(weight, ((f * cg + ch) * r + u) * r + v);
              }
          y[at(((b * k + f) * oh + i) * ow + j)] = sum;
        }
  return y;
}
inline void relu(Vec& v) {
  for (double& e : v) e = std::max(e, 0.0);
}

inline Vec ref_cnn(const Vec& image, std::int64_t n, const CnnWeights& cw) {
  constexpr std::int64_t c = CnnWeights::width;
  Vec y = ref_conv(image, n, 3, 32, 32, cw.stem, cw.stem_bias, 1, 1);
  relu(y);
  Vec pooled(at(n * c * 16 * 16));
  for (std::int64_t b = 0; b < n * c; ++b)
    for (std::int64_t i = 0; i < 16; ++i)
      for (std::int64_t j = 0; j < 16; ++j) {
        double m = -1e300;
        for (std::int64_t u = 0; u < 2; ++u)
          for (std::int64_t v = 0; v < 2; ++v) m = std::max(m, y[at((b * 32 + 2 * i + u) * 32 + 2 * j + v)]);
        pooled[at((b * 16 + i) * 16 + j)] = m;
      }
  Vec d = ref_conv(pooled, n, c, 16, 16, cw.depthwise, cw.depthwise_bias, 1, c);
  relu(d);
  Vec p = ref_conv(d, n, c, 16, 16, cw.pointwise, cw.pointwise_bias, 0, 1);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = std::max(p[i] + pooled[i], 0.0);
  Vec probs(at(n * CnnWeights::classes));
  for (std::int64_t b = 0; b < n; ++b) {
    Vec mean(at(c));
    for (std::int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (std::int64_t i = 0; i < 256; ++i) s += p[at((b * c + ch) * 256 + i)];
      mean[at(ch)] = s / 256;
    }
    double top = -1e300;
    Vec logits(at(CnnWeights::classes));
    for (std::int64_t o = 0; o < CnnWeights::classes; ++o) {
      double s = w(cw.fc_bias, o);
      for (std::int64_t ch = 0; ch < c; ++ch) s += mean[at(ch)] * w(cw.fc, o * c + ch);
      logits[at(o)] = s;
      top = std::max(top, s);
    }
    double total = 0;
    for (double& l : logits) total += (l = std::exp(l - top));
    for (std::int64_t o = 0; o < CnnWeights::classes; ++o) probs[at(b * CnnWeights::classes + o)] = logits[at(o)] / total;
  }
  return probs;
}

// ---- reference: transformer ---------------------------------------------------------------
// rows x out = rows x in times in x out, plus bias.
inline Vec ref_linear(const Vec& x, std::int64_t rows, const Weight& weight, const Weight& bias) {
  const std::int64_t in = weight.dims[0], out = weight.dims[1];
  Vec y(at(rows * out));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double s = w(bias, o);
      for (std::int64_t i = 0; i < in; ++i) s += x[at(r * in + i)] * w(weight, i * out + o);
      y[at(r * out + o)] = s;
    }
  return y;
}
inline Vec ref_layer_norm(const Vec& x, std::int64_t rows, const Weight& gamma, const Weight& beta) {
  const std::int64_t d = gamma.dims[0];
  Vec y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < d; ++i) mean += x[at(r * d + i)];
    mean /= static_cast<double>(d);
    for (std::int64_t i = 0; i < d; ++i) var += (x[at(r * d + i)] - mean) * (x[at(r * d + i)] - mean);
    var /= static_cast<double>(d);
    for (std::int64_t i = 0; i < d; ++i)
      y[at(r * d + i)] = (x[at(r * d + i)] - mean) / std::sqrt(var + 1e-5) * w(gamma, i) + w(beta, i);
  }
  return y;
}

inline Vec ref_transformer(const Vec& x, std::int64_t batch, std::int64_t seq, const TransformerWeights& tw) {
  constexpr std::int64_t d = TransformerWeights::width, heads = TransformerWeights::heads;
  constexpr std::int64_t hs = TransformerWeights::head_size;
  const std::int64_t rows = batch * seq;
  const Vec q = ref_linear(x, rows, tw.wq, tw.bq), k = ref_linear(x, rows, tw.wk, tw.bk), v = ref_linear(x, rows, tw.wv, tw.bv);
  Vec attended(at(rows * d));
  const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < seq; ++i) {
        Vec score(at(seq));
        double top = -1e300;
        for (std::int64_t j = 0; j < seq; ++j) {
          double s = 0;
          for (std::int64_t e = 0; e < hs; ++e) s += q[at((b * seq + i) * d + h * hs + e)] * k[at((b * seq + j) * d + h * hs + e)];
          score[at(j)] = s * scale;
          top = std::max(top, score[at(j)]);
        }
        double total = 0;
        for (double& s : score) total += (s = std::exp(s - top));
        for (std::int64_t e = 0; e < hs; ++e) {
          double s = 0;
          for (std::int64_t j = 0; j < seq; ++j) s += score[at(j)] / total * v[at((b * seq + j) * d + h * hs + e)];
          attended[at((b * seq + i) * d + h * hs + e)] = s;
        }
      }
  Vec proj = ref_linear(attended, rows, tw.wo, tw.bo);
  for (std::size_t i = 0; i < proj.size(); ++i) proj[i] += x[i];
  const Vec h = ref_layer_norm(proj, rows, tw.gamma1, tw.beta1);
  Vec hidden = ref_linear(h, rows, tw.w1, tw.b1);
  for (double& e : hidden) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
  Vec out = ref_linear(hidden, rows, tw.w2, tw.b2);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] += h[i];
  return ref_layer_norm(out, rows, tw.gamma2, tw.beta2);
}

inline void check_close(const vm::Slot& got, const Vec& want, double tolerance) {
  REQUIRE(got.elements() == static_cast<std::int64_t>(want.size()));
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(got.data_as<float>()[i]) - want[i]) / (1.0 + std::fabs(want[i])));
  CHECK(worst < tolerance);
}

} // namespace kiln::test::models
