// The example models run by the VM on the CPU kernels, against naive reference loops written
// here: a CNN (convolutions, depthwise, pooling, residual, gemm, softmax) and a transformer
// layer (attention, layer norm, GELU feed-forward), each at several batch (and sequence)
// sizes from one load; fused against unfused, planned memory against unplanned; no
// allocation in run(); several threads on one executable.
#include <doctest/doctest.h>

#include "allocation_counter.hpp"

#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include "../../examples/models/small_cnn.hpp"
#include "../../examples/models/small_transformer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

using namespace kiln;
using kiln::examples::CnnWeights;
using kiln::examples::TransformerWeights;
using kiln::examples::Weight;

namespace {

using Vec = std::vector<double>;
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

Tensor input_tensor(std::initializer_list<std::int64_t> dims, float phase) {
  Result<Tensor> t = Tensor::empty(DType::f32, dims);
  REQUIRE(t.ok());
  for (std::int64_t i = 0; i < t->numel(); ++i)
    t->data_as<float>()[i] = std::sin(0.61f * static_cast<float>(i) + phase) * 1.3f;
  return *t;
}
Vec values_of(const Tensor& t) {
  Vec v(at(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) v[at(i)] = t.data_as<float>()[i];
  return v;
}
double w(const Weight& weight, std::int64_t i) { return weight.values[at(i)]; }

// ---- reference: CNN ---------------------------------------------------------------------
// NCHW conv with square kernel, stride 1, zero padding `pad`, `groups` groups.
Vec ref_conv(const Vec& x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t wd, const Weight& weight,
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
void relu(Vec& v) {
  for (double& e : v) e = std::max(e, 0.0);
}

Vec ref_cnn(const Vec& image, std::int64_t n, const CnnWeights& cw) {
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
Vec ref_linear(const Vec& x, std::int64_t rows, const Weight& weight, const Weight& bias) {
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
Vec ref_layer_norm(const Vec& x, std::int64_t rows, const Weight& gamma, const Weight& beta) {
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

Vec ref_transformer(const Vec& x, std::int64_t batch, std::int64_t seq, const TransformerWeights& tw) {
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

void check_close(const vm::Slot& got, const Vec& want, double tolerance) {
  REQUIRE(got.elements() == static_cast<std::int64_t>(want.size()));
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(got.data_as<float>()[i]) - want[i]) / (1.0 + std::fabs(want[i])));
  CHECK(worst < tolerance);
}

std::shared_ptr<const vm::Executable> loaded(Result<relax::Module> module, vm::LoadOptions options = {}) {
  REQUIRE_MESSAGE(module.ok(), module.status().to_string());
  auto exe = vm::load(std::move(*module), options);
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

} // namespace

TEST_CASE("The small CNN runs in the VM at several batch sizes and matches the reference") {
  const CnnWeights weights;
  auto fused = loaded(examples::small_cnn(weights));
  auto plain = loaded(examples::small_cnn(weights), vm::LoadOptions{.fuse = false, .plan_memory = false});
  // conv + relu, conv + add + relu fuse (the depthwise conv's relu too).
  CHECK(fused->instructions().size() < plain->instructions().size());
  ThreadPool pool(2);
  vm::ExecutionContext ctx(fused, &pool), ctx_plain(plain);
  for (std::int64_t n : {1, 3, 2}) {
    CAPTURE(n);
    const Tensor image = input_tensor({n, 3, 32, 32}, static_cast<float>(n));
    Status s = ctx.run({image});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    const Vec want = ref_cnn(values_of(image), n, weights);
    check_close(ctx.output(), want, 1e-4);
    s = ctx_plain.run({image});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    check_close(ctx_plain.output(), want, 1e-4);
    CHECK(ctx.arena_bytes() < ctx_plain.arena_bytes());
  }
}

TEST_CASE("The transformer layer runs in the VM at several batch and sequence sizes from one load") {
  const TransformerWeights weights;
  auto exe = loaded(examples::small_transformer(weights));
  auto plain = loaded(examples::small_transformer(weights), vm::LoadOptions{.fuse = false, .plan_memory = false});
  vm::ExecutionContext ctx(exe), ctx_plain(plain);
  for (auto [batch, seq] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 7}, {3, 17}, {1, 64}}) {
    CAPTURE(batch);
    CAPTURE(seq);
    const Tensor x = input_tensor({batch, seq, 64}, static_cast<float>(batch + seq));
    Status s = ctx.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    const Vec want = ref_transformer(values_of(x), batch, seq, weights);
    check_close(ctx.output(), want, 2e-4);
    s = ctx_plain.run({x});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    check_close(ctx_plain.output(), want, 2e-4);
    CHECK(ctx.arena_bytes() < ctx_plain.arena_bytes());
  }
}

TEST_CASE("Running a prepared model allocates nothing") {
  auto cnn = loaded(examples::small_cnn());
  auto transformer = loaded(examples::small_transformer());
  ThreadPool pool(2);
  vm::ExecutionContext a(cnn, &pool), b(transformer, &pool);
  const Tensor image = input_tensor({2, 3, 32, 32}, 0.3f);
  const Tensor x = input_tensor({2, 9, 64}, 0.7f);
  REQUIRE(a.prepare({{"image", {2, 3, 32, 32}}}).ok());
  REQUIRE(b.prepare({{"x", {2, 9, 64}}}).ok());
  test::CountAllocations count;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.run({image}).ok());
    REQUIRE(b.run({x}).ok());
  }
  CHECK(count.count() == 0);
}

TEST_CASE("One loaded transformer runs on several threads at once") {
  const TransformerWeights weights;
  auto exe = loaded(examples::small_transformer(weights));
  constexpr int kThreads = 3;
  std::vector<double> worst(kThreads, 0.0);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      vm::ExecutionContext ctx(exe);
      for (int i = 0; i < 6; ++i) {
        const std::int64_t seq = 1 + (t * 5 + i * 3) % 11;
        Result<Tensor> x = Tensor::empty(DType::f32, {1, seq, 64});
        if (!x.ok()) { ++failures[at(t)]; continue; }
        for (std::int64_t e = 0; e < x->numel(); ++e) x->data_as<float>()[e] = std::cos(0.3f * static_cast<float>(e + t));
        if (!ctx.run({*x}).ok()) { ++failures[at(t)]; continue; }
        const Vec want = ref_transformer(values_of(*x), 1, seq, weights);
        for (std::size_t e = 0; e < want.size(); ++e)
          worst[at(t)] = std::max(worst[at(t)], std::fabs(ctx.output().data_as<float>()[e] - want[e]) / (1 + std::fabs(want[e])));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[at(t)] == 0);
    CHECK(worst[at(t)] < 2e-4);
  }
}

TEST_CASE("A fused elementwise chain broadcasts every kind of operand across tile boundaries") {
  // out[i, j, k] = tanh(max(x * y[j, 0] + z[k] - w[i, 0, k], s) * 0.5) over odd extents, so
  // tiles start mid-row and every operand broadcasts differently.
  const relax::SymDim rows = relax::sym("rows");
  relax::Builder b;
  const relax::Var x = b.input("x", relax::TensorType(DType::f32, {rows, 17, 33}));
  const relax::Var y = b.input("y", relax::TensorType(DType::f32, {17, 1}));
  const relax::Var z = b.input("z", relax::TensorType(DType::f32, {33}));
  const relax::Var wv = b.input("w", relax::TensorType(DType::f32, {rows, 1, 33}));
  const relax::Var s = b.input("s", relax::TensorType(DType::f32, {}));
  const relax::Var half = b.constant(Tensor::from_values<float>({}, {0.5f}).value());
  const relax::Var chain = b.tanh(b.multiply(b.maximum(b.subtract(b.add(b.multiply(x, y), z), wv), s), half));
  auto exe = loaded(b.finish({chain}));
  REQUIRE(exe->instructions().size() == 1);
  CHECK(exe->instructions()[0].op == relax::OpKind::fused);
  vm::ExecutionContext ctx(exe);
  for (std::int64_t n : {1, 3, 5}) {
    CAPTURE(n);
    const Tensor tx = input_tensor({n, 17, 33}, 0.1f), ty = input_tensor({17, 1}, 0.2f), tz = input_tensor({33}, 0.3f);
    const Tensor tw = input_tensor({n, 1, 33}, 0.4f), ts = input_tensor({}, 0.5f);
    const Status st = ctx.run({tx, ty, tz, tw, ts});
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    Vec want(at(n * 17 * 33));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < 17; ++j)
        for (std::int64_t k = 0; k < 33; ++k) {
          const double v = static_cast<double>(tx.data_as<float>()[(i * 17 + j) * 33 + k]) * ty.data_as<float>()[j] +
                           tz.data_as<float>()[k] - tw.data_as<float>()[i * 33 + k];
          want[at((i * 17 + j) * 33 + k)] = std::tanh(std::max(v, static_cast<double>(ts.data_as<float>()[0])) * 0.5);
        }
    check_close(ctx.output(), want, 1e-5);
  }
}
