// The dynamic module's CPU kernels for normalizations (kiln/vm/ops/normalize.hpp), and for
// the reductions and pools built on the same row loops (reduce.hpp, pool.hpp), against naive
// loops in double written here: softmax and log-softmax along every axis, layer norm with
// broadcast parameters, batch, instance and group norm, reductions over any axes with and
// without kept dims, argmax/argmin, max/average pooling with padding, strides, dilations
// and ceil_mode, and global pooling; odd extents (1, 3, 17), large inputs on a pool, and the
// errors for what the kernels do not support.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/aligned_alloc.hpp>
#include <kiln/vm/ops/normalize.hpp>
#include <kiln/vm/ops/pool.hpp>
#include <kiln/vm/ops/reduce.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace kiln;
using relax::OpKind;

namespace {

using kiln::test::at;

struct Tensor32 {
  DType dtype = DType::f32;
  std::vector<std::int64_t> dims;
  std::vector<float> f;          // f32 elements
  std::vector<std::int64_t> i;   // i64 (and i32 stored widened) elements, when dtype is integer

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (std::int64_t d : dims) n *= d;
    return n;
  }
};

Tensor32 f32(std::vector<std::int64_t> dims, float phase, float scale = 2.0f) {
  Tensor32 t;
  t.dims = std::move(dims);
  t.f = kiln::test::pattern(at(t.elements()), phase, scale);
  return t;
}

relax::TensorType type_of(const Tensor32& t) {
  relax::TensorType type;
  type.dtype = t.dtype;
  for (std::int64_t d : t.dims) type.push_back(d);
  return type;
}

// The kernel of any of the three families under test.
const vm::OpKernel* kernel_of(OpKind op) {
  if (const vm::OpKernel* k = vm::cpu_normalize_kernel(op)) return k;
  if (const vm::OpKernel* k = vm::cpu_reduce_kernel(op)) return k;
  return vm::cpu_pool_kernel(op);
}

relax::Module single_op(OpKind op, const std::vector<const Tensor32*>& inputs, relax::Attrs attrs) {
  relax::Builder b;
  std::vector<relax::Var> vars;
  for (std::size_t k = 0; k < inputs.size(); ++k)
    vars.push_back(inputs[k] ? b.input("x" + std::to_string(k), type_of(*inputs[k])) : relax::Var{});
  const relax::Var y = b.emit(op, std::span<const relax::Var>(vars), std::move(attrs));
  Result<relax::Module> m = b.finish({y});
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  return std::move(*m);
}

// Storage a slot can point at: the tensor's elements in its own dtype.
struct Bytes {
  std::vector<std::byte> data;
};
Bytes bytes_of(const Tensor32& t) {
  Bytes b;
  if (t.dtype == DType::f32) {
    b.data.resize(t.f.size() * 4);
    if (!t.f.empty()) std::memcpy(b.data.data(), t.f.data(), b.data.size());
  } else if (t.dtype == DType::i64) {
    b.data.resize(t.i.size() * 8);
    if (!t.i.empty()) std::memcpy(b.data.data(), t.i.data(), b.data.size());
  } else {
    for (std::int64_t v : t.i) {
      const auto w = static_cast<std::int32_t>(v);
      const auto* p = reinterpret_cast<const std::byte*>(&w);
      b.data.insert(b.data.end(), p, p + 4);
    }
  }
  return b;
}

vm::Slot slot_over(Bytes& b, DType dtype, const std::vector<std::int64_t>& dims) {
  vm::Slot s;
  s.data = b.data.data();
  s.dtype = dtype;
  s.set_shape(dims);
  return s;
}

struct Outcome {
  Status status;
  Tensor32 out;
};

// Runs the binding's kernel as the VM would: supports at load, scratch_bytes on slots
// without data, then run with that much 64-byte aligned scratch.
Outcome run_module(const relax::Module& m, const std::vector<const Tensor32*>& inputs, ThreadPool* pool = nullptr) {
  Outcome result;
  const relax::Function& fn = m.main();
  const relax::Binding& binding = fn.blocks.front().bindings.front();
  const vm::OpKernel* kernel = kernel_of(binding.op);
  REQUIRE(kernel != nullptr);
  result.status = kernel->supports(binding, fn);
  if (!result.status.ok()) return result;
  const relax::TensorType& type = fn.type(binding.outputs.front());
  result.out.dtype = type.dtype;
  for (int k = 0; k < type.rank; ++k) result.out.dims.push_back(type.dims[k].constant_value());
  std::vector<Bytes> storage;
  for (const Tensor32* t : inputs) storage.push_back(t ? bytes_of(*t) : Bytes{});
  Bytes out_bytes;
  out_bytes.data.assign(static_cast<std::size_t>(result.out.elements()) * size_of(type.dtype), std::byte{0x7f});
  std::vector<vm::Slot> slots;
  for (std::size_t k = 0; k < inputs.size(); ++k)
    slots.push_back(inputs[k] ? slot_over(storage[k], inputs[k]->dtype, inputs[k]->dims) : vm::Slot{});
  std::vector<const vm::Slot*> in_ptrs;
  for (std::size_t k = 0; k < inputs.size(); ++k) in_ptrs.push_back(inputs[k] ? &slots[k] : nullptr);
  vm::Slot out_slot = slot_over(out_bytes, type.dtype, result.out.dims);
  const vm::Slot* out_ptrs[] = {&out_slot};
  vm::OpCall call;
  call.op = binding.op;
  call.attrs = &binding.attrs;
  call.outputs = out_ptrs;
  call.pool = pool;
  // scratch_bytes sees shapes only.
  std::vector<vm::Slot> shapes_only = slots;
  for (vm::Slot& s : shapes_only) s.data = nullptr;
  vm::Slot out_shape_only = out_slot;
  out_shape_only.data = nullptr;
  std::vector<const vm::Slot*> shape_ptrs;
  for (std::size_t k = 0; k < inputs.size(); ++k) shape_ptrs.push_back(inputs[k] ? &shapes_only[k] : nullptr);
  const vm::Slot* out_shape_ptrs[] = {&out_shape_only};
  call.inputs = shape_ptrs;
  call.outputs = out_shape_ptrs;
  const std::size_t scratch = kernel->scratch_bytes ? kernel->scratch_bytes(call) : 0;
  std::unique_ptr<std::byte, void (*)(void*)> scratch_memory(
      static_cast<std::byte*>(aligned_alloc_bytes(scratch + 64, 64)), &aligned_free);
  call.inputs = in_ptrs;
  call.outputs = out_ptrs;
  call.scratch = std::span<std::byte>(scratch_memory.get(), scratch);
  result.status = kernel->run(call);
  if (type.dtype == DType::f32) {
    result.out.f.resize(at(result.out.elements()));
    if (!result.out.f.empty()) std::memcpy(result.out.f.data(), out_bytes.data.data(), out_bytes.data.size());
  } else {
    result.out.i.resize(at(result.out.elements()));
    if (!result.out.i.empty()) std::memcpy(result.out.i.data(), out_bytes.data.data(), out_bytes.data.size());
  }
  return result;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO("element ", k, ": got ", got[k], ", want ", want[k]);
    if (std::isinf(want[k])) CHECK(double(got[k]) == want[k]);
    else if (std::isnan(want[k])) CHECK(std::isnan(got[k]));
    else CHECK(std::fabs(double(got[k]) - want[k]) <= tolerance * (1.0 + std::fabs(want[k])));
  }
}

std::int64_t product(const std::vector<std::int64_t>& dims, std::size_t first, std::size_t last) {
  std::int64_t n = 1;
  for (std::size_t a = first; a < last; ++a) n *= dims[a];
  return n;
}

std::vector<double> reference_softmax(const Tensor32& x, int axis, bool log) {
  const std::int64_t outer = product(x.dims, 0, at(axis)), n = x.dims[at(axis)];
  const std::int64_t inner = product(x.dims, at(axis) + 1, x.dims.size());
  std::vector<double> y(x.f.size());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < inner; ++j) {
      auto element = [&](std::int64_t i) { return at((o * n + i) * inner + j); };
      double top = -INFINITY, sum = 0;
      for (std::int64_t i = 0; i < n; ++i) top = std::max(top, double(x.f[element(i)]));
      for (std::int64_t i = 0; i < n; ++i) sum += std::exp(double(x.f[element(i)]) - top);
      for (std::int64_t i = 0; i < n; ++i) {
        const double shifted = double(x.f[element(i)]) - top;
        y[element(i)] = log ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  return y;
}

// Mean and 1/sqrt(var + eps) of `count` elements of x from `first`, `stride` apart.
std::pair<double, double> reference_moments(const std::vector<float>& x, std::int64_t first, std::int64_t count,
                                            double epsilon) {
  double mean = 0, var = 0;
  for (std::int64_t k = 0; k < count; ++k) mean += x[at(first + k)];
  mean /= double(count);
  for (std::int64_t k = 0; k < count; ++k) var += (x[at(first + k)] - mean) * (x[at(first + k)] - mean);
  var /= double(count);
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

} // namespace

TEST_CASE("vm norm ops: softmax and log_softmax along every axis") {
  ThreadPool pool(3);
  for (const std::vector<std::int64_t>& dims :
       std::vector<std::vector<std::int64_t>>{{3, 17}, {1, 3, 17}, {17, 1, 3}, {2, 5, 300}, {1}, {4, 0, 3}, {200, 257}}) {
    const Tensor32 x = f32(dims, 0.3f, 4.0f);
    for (int axis = -1; axis < static_cast<int>(dims.size()); ++axis) {
      for (OpKind op : {OpKind::softmax, OpKind::log_softmax}) {
        const Outcome r = run_module(single_op(op, {&x}, relax::AxisAttrs{axis}), {&x}, &pool);
        INFO(relax::to_string(op), " axis ", axis, " of ", dims.size(), "-D: ", r.status.to_string());
        REQUIRE(r.status.ok());
        const int a = axis < 0 ? axis + static_cast<int>(dims.size()) : axis;
        check_close(r.out.f, reference_softmax(x, a, op == OpKind::log_softmax), 2e-6);
      }
    }
  }
}

TEST_CASE("vm norm ops: layer_norm over trailing axes, with broadcast scale and optional bias") {
  ThreadPool pool(2);
  const Tensor32 x = f32({3, 5, 17}, 0.2f, 3.0f);
  struct Case {
    std::int64_t axis;
    std::vector<std::int64_t> scale_dims;
    bool bias;
  };
  for (const Case& c : {Case{-1, {17}, true}, Case{-1, {17}, false}, Case{1, {5, 17}, true}, Case{1, {1, 17}, true},
                        Case{1, {5, 1}, false}, Case{0, {3, 5, 17}, true}, Case{-2, {17}, true}}) {
    const Tensor32 scale = f32(c.scale_dims, 1.3f, 1.5f);
    const Tensor32 bias = f32(c.scale_dims, 2.1f, 0.5f);
    const std::vector<const Tensor32*> inputs = {&x, &scale, c.bias ? &bias : nullptr};
    const double epsilon = 1e-3;
    const Outcome r = run_module(single_op(OpKind::layer_norm, inputs, relax::NormAttrs{.epsilon = epsilon, .axis = c.axis}),
                                 inputs, &pool);
    INFO("axis ", c.axis, ": ", r.status.to_string());
    REQUIRE(r.status.ok());
    const std::size_t first = at(c.axis < 0 ? c.axis + 3 : c.axis);
    const std::int64_t cols = product(x.dims, first, 3), rows = product(x.dims, 0, first);
    std::vector<double> want(x.f.size());
    for (std::int64_t row = 0; row < rows; ++row) {
      const auto [mean, inv_std] = reference_moments(x.f, row * cols, cols, epsilon);
      for (std::int64_t j = 0; j < cols; ++j) {
        // The parameter element j maps to: its dims align with the last ones of x.
        std::int64_t rest = j, p = 0, p_stride = 1;
        for (std::size_t a = 3; a-- > first;) {
          const std::int64_t idx = rest % x.dims[a];
          rest /= x.dims[a];
          const std::size_t pa = a - (3 - c.scale_dims.size());
          if (a + c.scale_dims.size() < 3) continue;
          if (c.scale_dims[pa] != 1) p += idx * p_stride;
          p_stride *= c.scale_dims[pa];
        }
        const double v = (x.f[at(row * cols + j)] - mean) * inv_std * scale.f[at(p)] + (c.bias ? bias.f[at(p)] : 0.0);
        want[at(row * cols + j)] = v;
      }
    }
    check_close(r.out.f, want, 1e-5);
  }
}

TEST_CASE("vm norm ops: batch_norm, instance_norm and group_norm per channel") {
  ThreadPool pool(4);
  for (const std::vector<std::int64_t>& dims :
       std::vector<std::vector<std::int64_t>>{{2, 6, 17}, {1, 6, 3, 5}, {3, 6, 1, 1}, {2, 6, 130, 131}}) {
    const Tensor32 x = f32(dims, 0.5f, 3.0f);
    const std::int64_t n = dims[0], c = dims[1], plane = product(dims, 2, dims.size());
    const Tensor32 scale = f32({c}, 0.9f, 1.5f), bias = f32({c}, 1.7f), mean = f32({c}, 0.1f);
    Tensor32 variance = f32({c}, 2.3f);
    for (float& v : variance.f) v = std::fabs(v) + 0.1f;
    const double epsilon = 1e-4;
    {
      const std::vector<const Tensor32*> inputs = {&x, &scale, &bias, &mean, &variance};
      const Outcome r = run_module(single_op(OpKind::batch_norm, inputs, relax::NormAttrs{.epsilon = epsilon}), inputs, &pool);
      REQUIRE(r.status.ok());
      std::vector<double> want(x.f.size());
      for (std::int64_t k = 0; k < x.elements(); ++k) {
        const std::size_t ch = at((k / plane) % c);
        want[at(k)] = (x.f[at(k)] - mean.f[ch]) / std::sqrt(variance.f[ch] + epsilon) * scale.f[ch] + bias.f[ch];
      }
      check_close(r.out.f, want, 1e-5);
    }
    if (dims.size() >= 3) {
      const std::vector<const Tensor32*> inputs = {&x, &scale, &bias};
      const Outcome r = run_module(single_op(OpKind::instance_norm, inputs, relax::NormAttrs{.epsilon = epsilon}), inputs, &pool);
      REQUIRE(r.status.ok());
      std::vector<double> want(x.f.size());
      for (std::int64_t p = 0; p < n * c; ++p) {
        const auto [m, inv_std] = reference_moments(x.f, p * plane, plane, epsilon);
        for (std::int64_t k = 0; k < plane; ++k)
          want[at(p * plane + k)] = (x.f[at(p * plane + k)] - m) * inv_std * scale.f[at(p % c)] + bias.f[at(p % c)];
      }
      check_close(r.out.f, want, 1e-4);
    }
    for (std::int64_t groups : {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, std::int64_t{6}}) {
      for (bool per_group : {false, true}) {
        const Tensor32 gs = per_group ? f32({groups}, 0.4f, 1.5f) : scale;
        const Tensor32 gb = per_group ? f32({groups}, 1.1f) : bias;
        const std::vector<const Tensor32*> inputs = {&x, &gs, &gb};
        const Outcome r = run_module(
            single_op(OpKind::group_norm, inputs, relax::NormAttrs{.epsilon = epsilon, .num_groups = groups}), inputs, &pool);
        INFO(groups, " groups, per group ", per_group, ": ", r.status.to_string());
        REQUIRE(r.status.ok());
        const std::int64_t per = c / groups;
        std::vector<double> want(x.f.size());
        for (std::int64_t item = 0; item < n * groups; ++item) {
          const auto [m, inv_std] = reference_moments(x.f, item * per * plane, per * plane, epsilon);
          for (std::int64_t k = 0; k < per * plane; ++k) {
            const std::int64_t channel = (item % groups) * per + k / plane;
            const std::size_t p = at(per_group && groups != c ? item % groups : channel);
            want[at(item * per * plane + k)] = (x.f[at(item * per * plane + k)] - m) * inv_std * gs.f[p] + gb.f[p];
          }
        }
        check_close(r.out.f, want, 1e-4);
      }
    }
  }
}

namespace {

// The reduction of x over the marked axes, in double (i64 inputs: exact in int64 for sums).
std::vector<double> reference_reduce(OpKind op, const Tensor32& x, const std::vector<bool>& marked) {
  std::vector<std::int64_t> out_dims;
  for (std::size_t a = 0; a < x.dims.size(); ++a) out_dims.push_back(marked[a] ? 1 : x.dims[a]);
  const std::int64_t out_count = product(out_dims, 0, out_dims.size());
  double init = 0;
  if (op == OpKind::reduce_prod) init = 1;
  if (op == OpKind::reduce_max) init = -INFINITY;
  if (op == OpKind::reduce_min) init = INFINITY;
  std::vector<double> acc(at(out_count), init);
  std::vector<std::int64_t> count(at(out_count), 0);
  for (std::int64_t k = 0; k < x.elements(); ++k) {
    std::int64_t rest = k, o = 0, stride = 1;
    for (std::size_t a = x.dims.size(); a-- > 0;) {
      const std::int64_t idx = rest % x.dims[a];
      rest /= x.dims[a];
      if (!marked[a]) o += idx * stride;
      stride *= out_dims[a];
    }
    const double v = x.dtype == DType::f32 ? double(x.f[at(k)]) : double(x.i[at(k)]);
    double& a = acc[at(o)];
    if (op == OpKind::reduce_sum || op == OpKind::reduce_mean) a += v;
    else if (op == OpKind::reduce_prod) a *= v;
    else if (op == OpKind::reduce_max) a = std::max(a, v);
    else a = std::min(a, v);
    ++count[at(o)];
  }
  if (op == OpKind::reduce_mean)
    for (std::size_t o = 0; o < acc.size(); ++o) acc[o] = count[o] ? acc[o] / double(count[o]) : NAN;
  return acc;
}

} // namespace

TEST_CASE("vm norm ops: reductions over any axes, kept or dropped, f32 and i64") {
  ThreadPool pool(3);
  const std::vector<std::vector<std::int64_t>> shapes = {{3, 17}, {2, 3, 5, 7}, {1, 17, 1}, {0, 3}, {3, 0}, {400, 300}};
  const std::vector<relax::Ints> axis_sets = {{}, {0}, {-1}, {1}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {2}};
  for (const auto& dims : shapes) {
    Tensor32 x = f32(dims, 0.6f, 1.5f);
    for (float& v : x.f) v = 1.0f + 0.05f * v;  // near 1, so that products stay finite
    for (const relax::Ints& axes : axis_sets) {
      bool valid = true;
      for (std::int64_t a : axes) valid = valid && a < static_cast<std::int64_t>(dims.size());
      if (!valid) continue;
      std::vector<bool> marked(dims.size(), axes.empty());
      for (std::int64_t a : axes) marked[at(a < 0 ? a + static_cast<std::int64_t>(dims.size()) : a)] = true;
      for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_mean, OpKind::reduce_max, OpKind::reduce_min, OpKind::reduce_prod}) {
        for (bool keepdims : {true, false}) {
          const Outcome r = run_module(single_op(op, {&x}, relax::ReduceAttrs{axes, keepdims, false}), {&x}, &pool);
          INFO(relax::to_string(op), " over ", axes.size(), " axes of ", x.elements(), " elements: ", r.status.to_string());
          REQUIRE(r.status.ok());
          const double tolerance = op == OpKind::reduce_prod ? 1e-4 : 2e-5;
          check_close(r.out.f, reference_reduce(op, x, marked), tolerance);
        }
      }
    }
  }
  // noop_with_empty_axes makes the reduction an identity.
  const Tensor32 x = f32({3, 17}, 0.1f);
  const Outcome same = run_module(single_op(OpKind::reduce_sum, {&x}, relax::ReduceAttrs{{}, true, true}), {&x});
  REQUIRE(same.status.ok());
  CHECK(same.out.f == x.f);
  // i64 sums, maxima and minima.
  Tensor32 xi;
  xi.dtype = DType::i64;
  xi.dims = {3, 5, 17};
  for (std::int64_t k = 0; k < xi.elements(); ++k) xi.i.push_back((k * 37) % 101 - 50);
  for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_max, OpKind::reduce_min}) {
    for (const relax::Ints& axes : {relax::Ints{1}, relax::Ints{0, 2}, relax::Ints{-1}}) {
      const Outcome r = run_module(single_op(op, {&xi}, relax::ReduceAttrs{axes, false, false}), {&xi});
      REQUIRE(r.status.ok());
      std::vector<bool> marked(3, false);
      for (std::int64_t a : axes) marked[at(a < 0 ? a + 3 : a)] = true;
      const std::vector<double> want = reference_reduce(op, xi, marked);
      REQUIRE(r.out.i.size() == want.size());
      for (std::size_t k = 0; k < want.size(); ++k) CHECK(double(r.out.i[k]) == want[k]);
    }
  }
}

TEST_CASE("vm norm ops: argmax and argmin take the first extreme index") {
  Tensor32 x = f32({3, 5, 17}, 0.8f);
  x.f[at(2 * 17 + 4)] = x.f[at(0 * 17 + 4)] = 9.0f;  // a tie along axis 1: the first wins
  for (OpKind op : {OpKind::argmax, OpKind::argmin}) {
    for (std::int64_t axis : {0, 1, 2, -1}) {
      for (bool keepdims : {true, false}) {
        const Outcome r = run_module(single_op(op, {&x}, relax::ArgReduceAttrs{axis, keepdims}), {&x});
        REQUIRE(r.status.ok());
        const std::size_t a = at(axis < 0 ? axis + 3 : axis);
        const std::int64_t outer = product(x.dims, 0, a), n = x.dims[a], inner = product(x.dims, a + 1, 3);
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t j = 0; j < inner; ++j) {
            std::int64_t best = 0;
            for (std::int64_t k = 1; k < n; ++k) {
              const float v = x.f[at((o * n + k) * inner + j)], b = x.f[at((o * n + best) * inner + j)];
              if (op == OpKind::argmax ? v > b : v < b) best = k;
            }
            CHECK(r.out.i[at(o * inner + j)] == best);
          }
      }
    }
  }
  Tensor32 xi;
  xi.dtype = DType::i32;
  xi.dims = {2, 3};
  xi.i = {4, 9, 9, -1, -5, 2};
  const Outcome r = run_module(single_op(OpKind::argmax, {&xi}, relax::ArgReduceAttrs{1, false}), {&xi});
  REQUIRE(r.status.ok());
  CHECK(r.out.i == std::vector<std::int64_t>{1, 2});
}

namespace {

// Max or average pooling (average over the taps inside the input) with explicit pads.
std::vector<double> reference_pool(bool take_max, const Tensor32& x, const std::vector<std::int64_t>& out_dims,
                                   const std::vector<std::int64_t>& kernel, const std::vector<std::int64_t>& strides,
                                   const std::vector<std::int64_t>& pads, const std::vector<std::int64_t>& dilations) {
  const bool one_d = x.dims.size() == 3;
  const std::int64_t h = one_d ? 1 : x.dims[2], w = x.dims.back();
  const std::int64_t oh_n = one_d ? 1 : out_dims[2], ow_n = out_dims.back();
  const std::int64_t kh = one_d ? 1 : kernel[0], kw = kernel.back();
  const std::int64_t sh = one_d ? 1 : strides[0], sw = strides.back();
  const std::int64_t dh = one_d ? 1 : dilations[0], dw = dilations.back();
  const std::int64_t ph = one_d ? 0 : pads[0], pw = one_d ? pads[0] : pads[1];
  std::vector<double> y;
  for (std::int64_t p = 0; p < x.dims[0] * x.dims[1]; ++p)
    for (std::int64_t oh = 0; oh < oh_n; ++oh)
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        double acc = take_max ? -INFINITY : 0.0;
        int count = 0;
        for (std::int64_t i = 0; i < kh; ++i)
          for (std::int64_t j = 0; j < kw; ++j) {
            const std::int64_t r = oh * sh - ph + i * dh, c = ow * sw - pw + j * dw;
            if (r < 0 || r >= h || c < 0 || c >= w) continue;
            const double v = x.f[at((p * h + r) * w + c)];
            acc = take_max ? std::max(acc, v) : acc + v;
            ++count;
          }
        y.push_back(take_max ? acc : (count ? acc / count : 0.0));
      }
  return y;
}

} // namespace

TEST_CASE("vm norm ops: max and average pooling with pads, strides, dilations and ceil_mode") {
  ThreadPool pool(2);
  struct Case {
    std::vector<std::int64_t> dims;
    relax::PoolAttrs attrs;
  };
  const std::vector<Case> cases = {
      {{1, 3, 17, 17}, {.kernel_shape = {3, 3}}},
      {{2, 3, 17, 17}, {.kernel_shape = {3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}},
      {{1, 2, 9, 13}, {.kernel_shape = {2, 3}, .strides = {2, 1}, .pads = {0, 1, 1, 2}, .dilations = {2, 2}}},
      {{1, 2, 8, 8}, {.kernel_shape = {3, 3}, .strides = {2, 2}, .ceil_mode = true}},
      {{1, 1, 1, 1}, {.kernel_shape = {1, 1}}},
      {{1, 2, 7, 7}, {.kernel_shape = {3, 3}, .strides = {2, 2}, .auto_pad = relax::AutoPad::same_upper}},
      {{1, 2, 7, 7}, {.kernel_shape = {2, 2}, .auto_pad = relax::AutoPad::same_lower}},
      {{2, 3, 17}, {.kernel_shape = {3}, .strides = {2}, .pads = {1, 1}}},  // 1-D
      {{4, 16, 64, 64}, {.kernel_shape = {3, 3}, .pads = {1, 1, 1, 1}}},     // large: on the pool
  };
  for (const Case& c : cases) {
    const Tensor32 x = f32(c.dims, 0.35f, 3.0f);
    for (OpKind op : {OpKind::max_pool, OpKind::average_pool}) {
      const Outcome r = run_module(single_op(op, {&x}, c.attrs), {&x}, &pool);
      INFO(relax::to_string(op), " ", relax::to_string(relax::Attrs(c.attrs)), ": ", r.status.to_string());
      REQUIRE(r.status.ok());
      const std::size_t spatial = c.dims.size() - 2;
      std::vector<std::int64_t> strides(spatial, 1), dilations(spatial, 1), pads(2 * spatial, 0);
      for (std::size_t a = 0; a < spatial; ++a) {
        if (!c.attrs.strides.empty()) strides[a] = c.attrs.strides[static_cast<int>(a)];
        if (!c.attrs.dilations.empty()) dilations[a] = c.attrs.dilations[static_cast<int>(a)];
        if (!c.attrs.pads.empty()) pads[a] = c.attrs.pads[static_cast<int>(a)];
      }
      if (c.attrs.auto_pad == relax::AutoPad::same_upper || c.attrs.auto_pad == relax::AutoPad::same_lower) {
        for (std::size_t a = 0; a < spatial; ++a) {
          const std::int64_t in = c.dims[2 + a], out = r.out.dims[2 + a], k = c.attrs.kernel_shape[static_cast<int>(a)];
          const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * strides[a] + (k - 1) * dilations[a] + 1 - in);
          pads[a] = c.attrs.auto_pad == relax::AutoPad::same_upper ? total / 2 : total - total / 2;
        }
      }
      std::vector<std::int64_t> kernel;
      for (std::int64_t k : c.attrs.kernel_shape) kernel.push_back(k);
      check_close(r.out.f, reference_pool(op == OpKind::max_pool, x, r.out.dims, kernel, strides, pads, dilations), 1e-6);
    }
  }
}

TEST_CASE("vm norm ops: global max and average pooling") {
  for (const std::vector<std::int64_t>& dims :
       std::vector<std::vector<std::int64_t>>{{2, 3, 17, 5}, {1, 1, 1, 1}, {3, 2, 17}, {1, 2, 3, 4, 5}}) {
    const Tensor32 x = f32(dims, 0.45f);
    const std::int64_t plane = product(dims, 2, dims.size());
    for (OpKind op : {OpKind::global_max_pool, OpKind::global_average_pool}) {
      const Outcome r = run_module(single_op(op, {&x}, relax::NoAttrs{}), {&x});
      REQUIRE(r.status.ok());
      std::vector<double> want;
      for (std::int64_t p = 0; p < dims[0] * dims[1]; ++p) {
        double acc = op == OpKind::global_max_pool ? -INFINITY : 0.0;
        for (std::int64_t k = 0; k < plane; ++k) {
          const double v = x.f[at(p * plane + k)];
          acc = op == OpKind::global_max_pool ? std::max(acc, v) : acc + v;
        }
        want.push_back(op == OpKind::global_max_pool ? acc : acc / double(plane));
      }
      check_close(r.out.f, want, 1e-6);
    }
  }
}

TEST_CASE("vm norm ops: unsupported dtypes, ranks and ops are errors that name them") {
  CHECK(vm::cpu_normalize_kernel(OpKind::add) == nullptr);
  CHECK(vm::cpu_reduce_kernel(OpKind::topk) == nullptr);
  auto error_of = [](OpKind op, const Tensor32& x, relax::Attrs attrs, DType as) {
    relax::Module m = single_op(op, {&x}, std::move(attrs));
    relax::Function& fn = m.main();
    fn.value(fn.params[0]).type.dtype = as;  // a dtype the builder would have accepted for another graph
    return kernel_of(op)->supports(fn.blocks[0].bindings[0], fn);
  };
  const Tensor32 x = f32({2, 3, 5, 5}, 0.1f);
  Status s = error_of(OpKind::softmax, x, relax::AxisAttrs{-1}, DType::f16);
  CHECK(s.code() == StatusCode::unsupported);
  CHECK(s.message() == "softmax: f16 input is not supported (f32 only)");
  s = error_of(OpKind::reduce_mean, x, relax::ReduceAttrs{}, DType::i64);
  CHECK(s.message().find("reduce_mean") != std::string::npos);
  CHECK(s.message().find("i64") != std::string::npos);
  s = error_of(OpKind::max_pool, x, relax::PoolAttrs{.kernel_shape = {2, 2}}, DType::bf16);
  CHECK(s.message().find("max_pool") != std::string::npos);
  CHECK(s.message().find("bf16") != std::string::npos);
  // argmax over an empty axis has no answer.
  const Tensor32 empty = f32({3, 0}, 0.1f);
  const Outcome e = run_module(single_op(OpKind::argmax, {&empty}, relax::ArgReduceAttrs{1, true}), {&empty});
  CHECK(e.status.code() == StatusCode::invalid_argument);
  CHECK(e.status.message().find("argmax") == 0);
}
