// The ops whose output extent depends on the input values (kiln/vm/ops/data_dependent.hpp and
// the VM's handling of relax::DataDependentExtent), against naive references written here
// from the ONNX operator spec: non_zero feeding further ops, with counts that change from
// run to run inside one plan; unique sorted and in order of first occurrence, flattened and
// along an axis, with NaNs; non_max_suppression on ONNX's documented examples and a limit
// past the planned bound. Also the unsigned dtypes u16, u32 and u64 through the elementwise
// kernels (values past 2^63 included) and the ONNX tensor decoder.
#include <doctest/doctest.h>

#include <kiln/frontend/onnx/tensor_data.hpp>
#include <kiln/relax/builder.hpp>
#include <kiln/vm/cpu_kernels.hpp>
#include <kiln/vm/execution_context.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "allocation_counter.hpp"

using namespace kiln;
using namespace kiln::relax;

namespace {

using Exe = std::shared_ptr<const vm::Executable>;

Exe load_module(Builder& b, std::initializer_list<Var> outputs) {
  Result<Module> m = b.finish(outputs);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  Result<Exe> exe = vm::load(std::move(*m));
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  return *exe;
}

template <class T>
Tensor tensor(const std::vector<T>& values, std::vector<std::int64_t> dims) {
  Result<Tensor> t = Tensor::empty(dtype_v<T>, std::span<const std::int64_t>(dims));
  REQUIRE(t.ok());
  std::copy(values.begin(), values.end(), t->data_as<T>());
  return std::move(t).value();
}

template <class T>
std::vector<T> values_of(const vm::Slot& s) {
  return std::vector<T>(s.data_as<const T>(), s.data_as<const T>() + s.elements());
}

std::vector<std::int64_t> dims_of(const vm::Slot& s) { return {s.dims, s.dims + s.rank}; }

} // namespace

TEST_CASE("data-dependent: non_zero feeds further ops, its count changing between runs within one plan") {
  const SymDim rows = sym("rows");
  Builder b;
  const Var x = b.input("x", TensorType(DType::f32, {rows, 4}));
  const Var nz = b.emit(OpKind::non_zero, {x}, NonZeroAttrs{{sym("nz"), rows * 4}});
  const Var twice = b.add(nz, nz);  // an ordinary op on the data-dependent shape
  const Exe exe = load_module(b, {nz, twice});
  vm::ExecutionContext ctx(exe);
  REQUIRE(ctx.prepare({{"x", {3, 4}}}).ok());
  const std::size_t arena = ctx.arena_bytes();
  // Reference: coordinates of nonzeros in row-major order, one column each.
  for (const std::vector<float>& xv : {std::vector<float>{0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 0, 4},
                                       std::vector<float>(12, 0.0f),
                                       std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                                       std::vector<float>{0, 0, NAN, 0, -0.0f, 0, 0, 0, 0, 0, 0, 5}}) {
    std::vector<std::int64_t> r, c;
    for (std::int64_t i = 0; i < 12; ++i)
      if (xv[static_cast<std::size_t>(i)] != 0.0f) r.push_back(i / 4), c.push_back(i % 4);
    const auto n = static_cast<std::int64_t>(r.size());
    const Status s = ctx.run({tensor(xv, {3, 4})});
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    CHECK(dims_of(ctx.output(0)) == std::vector<std::int64_t>{2, n});
    CHECK(dims_of(ctx.output(1)) == std::vector<std::int64_t>{2, n});
    std::vector<std::int64_t> expected = r;
    expected.insert(expected.end(), c.begin(), c.end());
    CHECK(values_of<std::int64_t>(ctx.output(0)) == expected);
    for (std::int64_t& v : expected) v *= 2;
    CHECK(values_of<std::int64_t>(ctx.output(1)) == expected);
    CHECK(ctx.arena_bytes() == arena);  // the plan holds the bound: no new plan per count
  }
  // The same count again: nothing to recompute, nothing allocated.
  const Tensor same = tensor(std::vector<float>(12, 1.0f), {3, 4});
  REQUIRE(ctx.run({same}).ok());
  {
    test::CountAllocations allocations;
    REQUIRE(ctx.run({same}).ok());
    CHECK(allocations.count() == 0);
  }
  // Another batch size prepares again, with the new bound.
  REQUIRE(ctx.run({tensor(std::vector<float>(20, 2.0f), {5, 4})}).ok());
  CHECK(dims_of(ctx.output(0)) == std::vector<std::int64_t>{2, 20});
}

namespace {

struct UniqueReference {
  std::vector<std::vector<float>> entries;  // the unique slices, in output order
  std::vector<std::int64_t> first, inverse, counts;
};

// Entries are slices along `axis` of x [outer, n, inner] (flattened: outer = inner = 1).
UniqueReference unique_reference(const std::vector<float>& x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                 bool sorted) {
  const auto slice = [&](std::int64_t k) {
    std::vector<float> s;
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) s.push_back(x[static_cast<std::size_t>((o * n + k) * inner + i)]);
    return s;
  };
  // NaN compares equal to NaN and above every number, as the kernel orders them.
  const auto less = [](const std::vector<float>& a, const std::vector<float>& b) {
    for (std::size_t j = 0; j < a.size(); ++j) {
      const bool an = std::isnan(a[j]), bn = std::isnan(b[j]);
      if (an != bn) return bn;
      if (!an && a[j] != b[j]) return a[j] < b[j];
    }
    return false;
  };
  const auto same = [&](const std::vector<float>& a, const std::vector<float>& b) { return !less(a, b) && !less(b, a); };
  UniqueReference r;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::vector<float> s = slice(k);
    bool found = false;
    for (std::size_t e = 0; e < r.entries.size() && !found; ++e) found = same(r.entries[e], s);
    if (!found) r.entries.push_back(s), r.first.push_back(k);
  }
  if (sorted) {
    std::vector<std::size_t> order(r.entries.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return less(r.entries[a], r.entries[b]); });
    UniqueReference s;
    for (std::size_t i : order) s.entries.push_back(r.entries[i]), s.first.push_back(r.first[i]);
    r = s;
  }
  r.counts.assign(r.entries.size(), 0);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::size_t e = 0; e < r.entries.size(); ++e)
      if (same(r.entries[e], slice(k))) {
        r.inverse.push_back(static_cast<std::int64_t>(e));
        ++r.counts[e];
        break;
      }
  return r;
}

} // namespace

TEST_CASE("data-dependent: unique, sorted or by first occurrence, flattened or along an axis, with NaNs") {
  const std::vector<float> x = {2, 1, 1, 3, 4, 3, NAN, 1, 2, 1, 1, 3, NAN, 0, 2, 1, 1, 3};  // [3, 6] or [6, 3]
  for (bool sorted : {true, false}) {
    for (int axis : {-1, 0, 1}) {  // -1: flattened
      CAPTURE(sorted);
      CAPTURE(axis);
      const std::int64_t outer = axis == 1 ? 6 : 1, n = axis < 0 ? 18 : (axis == 0 ? 6 : 3), inner = axis == 0 ? 3 : 1;
      Builder b;
      const Var in = b.input("x", TensorType(DType::f32, {6, 3}));
      UniqueAttrs attrs{{sym("u"), SymDim(n)}, sorted, axis >= 0, axis};
      const std::vector<Var> out = b.emit_multi(OpKind::unique, {in}, attrs);
      const Exe exe = load_module(b, {out[0], out[1], out[2], out[3]});
      vm::ExecutionContext ctx(exe);
      const Status s = ctx.run({tensor(x, {6, 3})});
      REQUIRE_MESSAGE(s.ok(), s.to_string());
      const UniqueReference r = unique_reference(x, outer, n, inner, sorted);
      const auto count = static_cast<std::int64_t>(r.entries.size());
      // y: the entries laid out along the axis again.
      std::vector<float> y;
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t e = 0; e < count; ++e)
          for (std::int64_t i = 0; i < inner; ++i) y.push_back(r.entries[static_cast<std::size_t>(e)][static_cast<std::size_t>(o * inner + i)]);
      const std::vector<float> got = values_of<float>(ctx.output(0));
      REQUIRE(got.size() == y.size());
      for (std::size_t i = 0; i < y.size(); ++i) CHECK((got[i] == y[i] || (std::isnan(got[i]) && std::isnan(y[i]))));
      CHECK(values_of<std::int64_t>(ctx.output(1)) == r.first);
      CHECK(values_of<std::int64_t>(ctx.output(2)) == r.inverse);
      CHECK(values_of<std::int64_t>(ctx.output(3)) == r.counts);
    }
  }
}

TEST_CASE("data-dependent: non_max_suppression on ONNX's examples, and a limit past the planned bound") {
  // Six boxes in one column ([y1, x1, y2, x2]), one batch, one class.
  const std::vector<float> boxes = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f, 0, 10, 1, 11, 0, 10.1f, 1, 11.1f,
                                    0, 100, 1, 101};
  const std::vector<float> scores = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};
  const auto run = [&](std::int64_t limit_at_load, std::int64_t limit, float iou, float score_threshold,
                       std::vector<std::int64_t>& selected) -> Status {
    Builder b;
    const Var bx = b.input("boxes", TensorType(DType::f32, {1, 6, 4}));
    const Var sc = b.input("scores", TensorType(DType::f32, {1, 1, 6}));
    const Var lim = b.input("limit", TensorType(DType::i64, {}));
    const Var iv = b.input("iou", TensorType(DType::f32, {}));
    const Var st = b.input("score", TensorType(DType::f32, {}));
    NonMaxSuppressionAttrs attrs{{sym("sel"), SymDim(limit_at_load)}, false};
    const Var out = b.emit_multi(OpKind::non_max_suppression, {bx, sc, lim, iv, st}, attrs)[0];
    const Exe exe = load_module(b, {out});
    vm::ExecutionContext ctx(exe);
    const Status s = ctx.run({tensor(boxes, {1, 6, 4}), tensor(scores, {1, 1, 6}), tensor(std::vector<std::int64_t>{limit}, {}),
                              tensor(std::vector<float>{iou}, {}), tensor(std::vector<float>{score_threshold}, {})});
    if (s.ok()) selected = values_of<std::int64_t>(ctx.output(0));
    return s;
  };
  std::vector<std::int64_t> selected;
  // suppress_by_IOU: boxes 3, 0 and 5 survive (1 and 2 overlap 0, 4 overlaps 3).
  REQUIRE(run(6, 3, 0.5f, 0.0f, selected).ok());
  CHECK(selected == std::vector<std::int64_t>{0, 0, 3, 0, 0, 0, 0, 0, 5});
  // suppress_by_IOU_and_scores: the score threshold 0.4 drops box 5.
  REQUIRE(run(6, 3, 0.5f, 0.4f, selected).ok());
  CHECK(selected == std::vector<std::int64_t>{0, 0, 3, 0, 0, 0});
  // limit_output_size: two per class.
  REQUIRE(run(6, 2, 0.5f, 0.0f, selected).ok());
  CHECK(selected == std::vector<std::int64_t>{0, 0, 3, 0, 0, 0});
  // A run-time limit above what the plan holds is an error before anything is written.
  const Status over = run(2, 3, 0.5f, 0.0f, selected);
  CHECK_FALSE(over.ok());
  CHECK(over.to_string().find("max_output_boxes_per_class") != std::string::npos);
}

TEST_CASE("unsigned dtypes: u64 past 2^63 compares, divides and shifts as unsigned; u16 and u32 too") {
  constexpr std::uint64_t big = (std::uint64_t{1} << 63) + 5;
  Builder b;
  const Var a = b.input("a", TensorType(DType::u64, {3}));
  const Var c = b.input("c", TensorType(DType::u64, {3}));
  const Var mx = b.emit(OpKind::maximum, {a, c});
  const Var less = b.emit(OpKind::less, {a, c});
  const Var quotient = b.emit(OpKind::divide, {a, c});
  const Var as_f64 = b.cast(a, DType::f64);
  const Exe exe = load_module(b, {mx, less, quotient, as_f64});
  vm::ExecutionContext ctx(exe);
  REQUIRE(ctx.run({tensor(std::vector<std::uint64_t>{big, 1, 7}, {3}), tensor(std::vector<std::uint64_t>{2, big, 2}, {3})}).ok());
  CHECK(values_of<std::uint64_t>(ctx.output(0)) == std::vector<std::uint64_t>{big, big, 7});
  CHECK(values_of<bool>(ctx.output(1)) == std::vector<bool>{false, true, false});
  CHECK(values_of<std::uint64_t>(ctx.output(2)) == std::vector<std::uint64_t>{big / 2, 0, 3});
  CHECK(values_of<double>(ctx.output(3))[0] == static_cast<double>(big));

  Builder b16;
  const Var x16 = b16.input("x", TensorType(DType::u16, {2}));
  const Var y16 = b16.emit(OpKind::mod, {x16, b16.emit(OpKind::add, {x16, x16})});
  const Var wrapped = b16.emit(OpKind::subtract, {x16, b16.emit(OpKind::multiply, {x16, x16})});
  const Exe exe16 = load_module(b16, {y16, wrapped});
  vm::ExecutionContext ctx16(exe16);
  REQUIRE(ctx16.run({tensor(std::vector<std::uint16_t>{65535, 3}, {2})}).ok());
  CHECK(values_of<std::uint16_t>(ctx16.output(0)) == std::vector<std::uint16_t>{static_cast<std::uint16_t>(65535 % 65534), 3});
  CHECK(values_of<std::uint16_t>(ctx16.output(1)) ==
        std::vector<std::uint16_t>{static_cast<std::uint16_t>(65535u - 65535u * 65535u), static_cast<std::uint16_t>(3u - 9u)});
}

TEST_CASE("unsigned dtypes: ONNX tensors of UINT16 (int32_data), UINT32 and UINT64 (uint64_data) decode, range-checked") {
  onnx::TensorProto p;
  p.dims = {3};
  p.data_type = onnx::DataType::uint64;
  p.uint64_data = {0, std::numeric_limits<std::uint64_t>::max(), 42};
  Result<Tensor> t = onnx::to_tensor(p);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  CHECK(t->dtype() == DType::u64);
  CHECK(t->data_as<std::uint64_t>()[1] == std::numeric_limits<std::uint64_t>::max());

  p.data_type = onnx::DataType::uint32;
  Result<Tensor> too_wide = onnx::to_tensor(p);
  REQUIRE_FALSE(too_wide.ok());
  CHECK(too_wide.status().to_string().find("does not fit UINT32") != std::string::npos);
  p.uint64_data = {0, 4294967295u, 42};
  t = onnx::to_tensor(p);
  REQUIRE(t.ok());
  CHECK(t->dtype() == DType::u32);
  CHECK(t->data_as<std::uint32_t>()[1] == 4294967295u);

  onnx::TensorProto q;
  q.dims = {2};
  q.data_type = onnx::DataType::uint16;
  q.int32_data = {65535, 7};
  t = onnx::to_tensor(q);
  REQUIRE(t.ok());
  CHECK(t->dtype() == DType::u16);
  CHECK(t->data_as<std::uint16_t>()[0] == 65535);
  q.int32_data = {65536, 7};
  CHECK_FALSE(onnx::to_tensor(q).ok());
}
