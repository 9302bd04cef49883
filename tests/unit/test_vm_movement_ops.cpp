#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/ops/movement.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
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
namespace vm_ops = kiln::test::vm_ops;
using kiln::vm::OpCall;
using kiln::vm::OpKernel;
using kiln::vm::Slot;

namespace {

using Extents = std::vector<std::int64_t>;

using vm_ops::finished;
using vm_ops::host;
using vm_ops::host_type;
using vm_ops::Host;
using vm_ops::Outcome;

std::int64_t count_of(const Extents& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

// Element i holds i (as T, wrapping for narrow types): outputs then name their sources.
template <class T>
Host numbered(const Extents& dims, DType dtype = dtype_v<T>) {
  std::vector<T> v(at(count_of(dims)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(i);
  return host(v, dims, dtype);
}

bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

// Movement ops need no scratch.
Outcome run(const Module& m, const std::vector<Host*>& params, ThreadPool* pool = nullptr) {
  Outcome o = vm_ops::run_op(m, params, vm::cpu_movement_kernel, pool);
  REQUIRE(o.scratch_bytes == 0);
  return o;
}

Outcome expect_ok(const Module& m, const std::vector<Host*>& params, ThreadPool* pool = nullptr) {
  Outcome o = run(m, params, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  return o;
}

// Calls fn(index) for every multi-index of dims in row-major order.
void for_each_index(const Extents& dims, const std::function<void(const Extents&)>& fn) {
  if (count_of(dims) == 0) return;
  Extents index(dims.size(), 0);
  while (true) {
    fn(index);
    std::size_t a = dims.size();
    while (a > 0) {
      --a;
      if (++index[a] < dims[a]) break;
      index[a] = 0;
      if (a == 0) return;
    }
    if (dims.empty()) return;
  }
}

std::int64_t offset_of(const Extents& dims, const Extents& index) {
  std::int64_t offset = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) offset = offset * dims[a] + index[a];
  return offset;
}

// The expected output of a numbered input: element by element, the source's linear index.
template <class T>
std::vector<T> expected(const Extents& out_dims, const std::function<std::int64_t(const Extents&)>& source) {
  std::vector<T> v;
  for_each_index(out_dims, [&](const Extents& index) { v.push_back(static_cast<T>(source(index))); });
  return v;
}

} // namespace

TEST_CASE("vm movement: identity and the reshape family copy in row-major order") {
  Host x = numbered<float>({3, 1, 17});
  Builder b;
  Var xv = b.input("x", host_type(x));
  Module m = finished(b, {b.unary(OpKind::identity, xv)});
  CHECK(expect_ok(m, {&x}).out<float>() == x.values<float>());

  Host y = numbered<std::int64_t>({2, 3, 4});
  Builder b2;
  Var yv = b2.input("y", host_type(y));
  Module m2 = finished(b2, {b2.reshape(yv, relax::Dims{4, 6})});
  Outcome o = expect_ok(m2, {&y});
  CHECK(o.dims() == Extents{4, 6});
  CHECK(o.out<std::int64_t>() == y.values<std::int64_t>());

  // A transposed view as the input: the copy follows the strides.
  Host view = numbered<float>({4, 3});
  view.slot.dims[0] = 3;
  view.slot.dims[1] = 4;
  view.slot.strides[0] = 1;
  view.slot.strides[1] = 3;
  Builder b3;
  Var vv = b3.input("v", TensorType(DType::f32, {3, 4}));
  Module m3 = finished(b3, {b3.unary(OpKind::identity, vv)});
  CHECK(expect_ok(m3, {&view}).out<float>() ==
        expected<float>({3, 4}, [](const Extents& i) { return i[1] * 3 + i[0]; }));
}

TEST_CASE("vm movement: transpose over dtypes, perms and sizes") {
  ThreadPool pool(4);
  const auto check = [&](const Extents& dims, const Ints& perm, auto tag, ThreadPool* p) {
    using T = decltype(tag);
    CAPTURE(dims.size());
    Host x = numbered<T>(dims);
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, {b.transpose(xv, perm)});
    Outcome o = expect_ok(m, {&x}, p);
    const int r = static_cast<int>(dims.size());
    std::vector<int> from(at(r));
    for (int i = 0; i < r; ++i)
      from[at(i)] = perm.empty() ? r - 1 - i : static_cast<int>(perm[i] < 0 ? perm[i] + r : perm[i]);
    Extents out_dims;
    for (int i = 0; i < r; ++i) out_dims.push_back(dims[at(from[at(i)])]);
    CHECK(o.dims() == out_dims);
    CHECK(o.out<T>() == expected<T>(out_dims, [&](const Extents& index) {
            Extents src(at(r));
            for (int i = 0; i < r; ++i) src[at(from[at(i)])] = index[at(i)];
            return offset_of(dims, src);
          }));
  };
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    check({3, 17}, {}, float{}, p);
    check({1, 3, 17}, {2, 0, 1}, std::uint8_t{}, p);
    check({2, 3, 4, 5}, {}, std::int64_t{}, p);
    check({17, 1, 3}, {1, -1, 0}, std::int16_t{}, p);
    check({5, 0, 3}, {2, 1, 0}, float{}, p);
    check({1}, {0}, double{}, p);
    check({131, 67}, {1, 0}, float{}, p);           // large enough for tiles and the pool
    check({3, 257, 129}, {0, 2, 1}, std::int32_t{}, p);
    check({2, 3, 4, 5, 2}, {4, 2, 0, 3, 1}, std::uint8_t{}, p);
  }
  // Half floats move as their bits.
  Host h = numbered<std::uint16_t>({3, 5}, DType::f16);
  Builder b;
  Var hv = b.input("h", host_type(h));
  Module m = finished(b, {b.transpose(hv)});
  CHECK(expect_ok(m, {&h}).out<std::uint16_t>() ==
        expected<std::uint16_t>({5, 3}, [](const Extents& i) { return i[1] * 5 + i[0]; }));
}

TEST_CASE("vm movement: concat and split along any axis") {
  Host a = numbered<std::int32_t>({2, 3, 4});
  Host b0 = numbered<std::int32_t>({2, 0, 4});
  Host c = numbered<std::int32_t>({2, 17, 4});
  Builder b;
  Var av = b.input("a", host_type(a));
  Var bv = b.input("b", host_type(b0));
  Var cv = b.input("c", host_type(c));
  Module m = finished(b, {b.concat({av, bv, cv}, -2)});
  Outcome o = expect_ok(m, {&a, &b0, &c});
  CHECK(o.dims() == Extents{2, 20, 4});
  CHECK(o.out<std::int32_t>() == expected<std::int32_t>({2, 20, 4}, [](const Extents& i) {
          return i[1] < 3 ? (i[0] * 3 + i[1]) * 4 + i[2] : (i[0] * 17 + (i[1] - 3)) * 4 + i[2];
        }));

  Host x = numbered<float>({3, 17});
  Builder b2;
  Var xv = b2.input("x", host_type(x));
  Module split_sizes = finished(b2, b2.split(xv, SplitAttrs{1, {1, 3, 13}, 0}));
  Outcome parts = expect_ok(split_sizes, {&x});
  REQUIRE(parts.outputs.size() == 3);
  std::int64_t start = 0;
  for (std::size_t p = 0; p < 3; ++p) {
    const std::int64_t width = parts.dims(p)[1];
    CHECK(parts.out<float>(p) ==
          expected<float>({3, width}, [&](const Extents& i) { return i[0] * 17 + start + i[1]; }));
    start += width;
  }
  CHECK(start == 17);

  Builder b3;
  Var x3 = b3.input("x", host_type(x));
  Module split_even = finished(b3, b3.split(x3, SplitAttrs{-1, {}, 3}));
  Outcome chunks = expect_ok(split_even, {&x});
  REQUIRE(chunks.outputs.size() == 3);
  CHECK(chunks.dims(0) == Extents{3, 6});
  CHECK(chunks.dims(2) == Extents{3, 5});
  CHECK(chunks.out<float>(2) == expected<float>({3, 5}, [](const Extents& i) { return i[0] * 17 + 12 + i[1]; }));
}

TEST_CASE("vm movement: slice with clamping and negative steps") {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  struct Case {
    Extents dims;
    SliceAttrs attrs;
  };
  const Case cases[] = {
      {{17}, {{2}, {9}, {}, {}}},
      {{17}, {{-1}, {kMin}, {}, {-1}}},                   // reversed
      {{17}, {{15}, {1}, {}, {-3}}},                      // backwards by 3
      {{17}, {{100}, {-100}, {}, {-2}}},                  // clamped from past the end
      {{3, 17}, {{1, -20}, {kMax, 17}, {}, {1, 4}}},      // clamped start, step 4
      {{3, 4, 5}, {{-1, 4}, {-4, 0}, {0, -1}, {-1, -2}}}, // two axes backwards
      {{3, 5}, {{2}, {2}, {1}, {}}},                      // empty
      {{3, 5}, {{-1}, {-1}, {0}, {-1}}},                  // empty backwards
      {{1, 3}, {{0}, {1}, {0}, {1}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.dims.size());
    CAPTURE(c.attrs.starts[0]);
    Host x = numbered<std::int16_t>(c.dims);
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, {b.slice(xv, c.attrs)});
    Outcome o = expect_ok(m, {&x});
    // NumPy's rule, one axis at a time: the elements start, start + step, ... before end.
    const int r = static_cast<int>(c.dims.size());
    std::vector<std::vector<std::int64_t>> picks(at(r));
    for (int a = 0; a < r; ++a)
      for (std::int64_t i = 0; i < c.dims[at(a)]; ++i) picks[at(a)].push_back(i);
    for (int i = 0; i < c.attrs.starts.size(); ++i) {
      const int a = static_cast<int>(c.attrs.axes.empty() ? i : (c.attrs.axes[i] + r) % r);
      const std::int64_t d = c.dims[at(a)];
      const std::int64_t step = c.attrs.steps.empty() ? 1 : c.attrs.steps[i];
      const auto resolve = [&](std::int64_t v) { return v < 0 ? (v < -d ? -1 : v + d) : v; };
      std::int64_t s = resolve(c.attrs.starts[i]);
      const std::int64_t e = resolve(c.attrs.ends[i]);
      picks[at(a)].clear();
      if (step > 0) {
        for (s = std::max<std::int64_t>(s, 0); s < e && s < d; s += step) picks[at(a)].push_back(s);
      } else {
        for (s = std::min(s, d - 1); s > e && s >= 0; s += step) picks[at(a)].push_back(s);
      }
    }
    Extents out_dims;
    for (const auto& p : picks) out_dims.push_back(static_cast<std::int64_t>(p.size()));
    CHECK(o.dims() == out_dims);
    CHECK(o.out<std::int16_t>() == expected<std::int16_t>(out_dims, [&](const Extents& index) {
            Extents src;
            for (std::size_t a = 0; a < index.size(); ++a) src.push_back(picks[a][at(index[a])]);
            return offset_of(c.dims, src);
          }));
  }
}

TEST_CASE("vm movement: gather with i64 and i32 indices, negative indices wrap") {
  ThreadPool pool(3);
  // Rows of a table: [17, 3] gathered by [2, 3] indices along axis 0.
  Host table = numbered<float>({17, 3});
  Host rows = host(std::vector<std::int64_t>{0, -1, 5, 16, -17, 2}, {2, 3});
  Builder b;
  Var tv = b.input("table", host_type(table));
  Var iv = b.input("indices", host_type(rows));
  Module m = finished(b, {b.gather(tv, iv, 0)});
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    Outcome o = expect_ok(m, {&table, &rows}, p);
    CHECK(o.dims() == Extents{2, 3, 3});
    const std::int64_t wrapped[] = {0, 16, 5, 16, 0, 2};
    CHECK(o.out<float>() ==
          expected<float>({2, 3, 3}, [&](const Extents& i) { return wrapped[i[0] * 3 + i[1]] * 3 + i[2]; }));
  }

  // Along a middle axis with i32 indices, and a scalar index that drops the axis.
  Host cube = numbered<std::uint8_t>({2, 5, 3});
  Host picks = host(std::vector<std::int32_t>{4, -2, 0, 4}, {4});
  Builder b2;
  Var cv = b2.input("cube", host_type(cube));
  Var pv = b2.input("picks", host_type(picks));
  Module m2 = finished(b2, {b2.gather(cv, pv, -2)});
  const std::int64_t wrapped2[] = {4, 3, 0, 4};
  CHECK(expect_ok(m2, {&cube, &picks}).out<std::uint8_t>() ==
        expected<std::uint8_t>({2, 4, 3}, [&](const Extents& i) { return (i[0] * 5 + wrapped2[i[1]]) * 3 + i[2]; }));

  Host one = host(std::vector<std::int64_t>{-1}, {});
  Builder b3;
  Var c3 = b3.input("cube", host_type(cube));
  Var o3 = b3.input("one", host_type(one));
  Module m3 = finished(b3, {b3.gather(c3, o3, 2)});
  Outcome last = expect_ok(m3, {&cube, &one});
  CHECK(last.dims() == Extents{2, 5});
  CHECK(last.out<std::uint8_t>() ==
        expected<std::uint8_t>({2, 5}, [](const Extents& i) { return (i[0] * 5 + i[1]) * 3 + 2; }));
}

TEST_CASE("vm movement: gather refuses an out-of-range index without reading it") {
  Host table = numbered<float>({4, 2});
  for (std::int64_t bad : {std::int64_t{4}, std::int64_t{-5}, std::numeric_limits<std::int64_t>::max()}) {
    Host indices = host(std::vector<std::int64_t>{1, bad, 0}, {3});
    Builder b;
    Var tv = b.input("table", host_type(table));
    Var iv = b.input("indices", host_type(indices));
    Module m = finished(b, {b.gather(tv, iv, 0)});
    Outcome o = run(m, {&table, &indices});
    REQUIRE(o.supported.ok());
    REQUIRE_FALSE(o.status.ok());
    CHECK(o.status.code() == StatusCode::out_of_range);
    CHECK(contains(o.status.message(), "gather: index"));
    CHECK(contains(o.status.message(), "extent 4"));
  }
  Host indices32 = host(std::vector<std::int32_t>{2, 9}, {2});
  Builder b;
  Var tv = b.input("table", host_type(table));
  Var iv = b.input("indices", host_type(indices32));
  Module m = finished(b, {b.gather(tv, iv, 1)});
  Outcome o = run(m, {&table, &indices32});
  CHECK(o.status.code() == StatusCode::out_of_range);
}

TEST_CASE("vm movement: pad with a constant, on listed axes, and negative pads crop") {
  struct Case {
    Extents dims;
    PadAttrs attrs;
  };
  const Case cases[] = {
      {{3, 4}, {{1, 2, 0, 3}, {}, 1.5}},
      {{2, 3, 5}, {{2, -1}, {-1}, -2.0}},        // last axis: 2 before, 1 cropped after
      {{3, 17}, {{-1, -3, 0, 2}, {}, 0.0}},      // crops at the begin of both axes
      {{1, 1}, {{0, 0, 0, 0}, {}, 7.0}},
      {{2, 3}, {{0, -3, 0, 1}, {}, 4.0}},        // everything cropped: all value
  };
  for (const Case& c : cases) {
    CAPTURE(c.dims.size());
    Host x = numbered<float>(c.dims);
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, {b.pad(xv, c.attrs)});
    Outcome o = expect_ok(m, {&x});
    const int r = static_cast<int>(c.dims.size());
    Extents before(at(r), 0), out_dims = c.dims;
    const int n = c.attrs.axes.empty() ? r : c.attrs.axes.size();
    for (int i = 0; i < n; ++i) {
      const int a = static_cast<int>(c.attrs.axes.empty() ? i : (c.attrs.axes[i] + r) % r);
      before[at(a)] = c.attrs.pads[i];
      out_dims[at(a)] += c.attrs.pads[i] + c.attrs.pads[n + i];
    }
    CHECK(o.dims() == out_dims);
    std::vector<float> want;
    for_each_index(out_dims, [&](const Extents& index) {
      Extents src;
      bool inside = true;
      for (int a = 0; a < r; ++a) {
        const std::int64_t s = index[at(a)] - before[at(a)];
        inside = inside && s >= 0 && s < c.dims[at(a)];
        src.push_back(s);
      }
      want.push_back(inside ? static_cast<float>(offset_of(c.dims, src)) : static_cast<float>(c.attrs.value));
    });
    CHECK(o.out<float>() == want);
  }
  // The value takes the dtype: integers saturate.
  Host bytes = numbered<std::uint8_t>({2});
  Builder b;
  Var bv = b.input("x", host_type(bytes));
  Module m = finished(b, {b.pad(bv, PadAttrs{{1, 1}, {}, 300.0})});
  CHECK(expect_ok(m, {&bytes}).out<std::uint8_t>() == std::vector<std::uint8_t>{255, 0, 1, 255});
}

TEST_CASE("vm movement: tile and expand repeat and broadcast") {
  ThreadPool pool(2);
  Host x = numbered<std::int64_t>({2, 1, 3});
  Builder b;
  Var xv = b.input("x", host_type(x));
  Module m = finished(b, {b.tile(xv, {3, 17, 2})});
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    Outcome o = expect_ok(m, {&x}, p);
    CHECK(o.dims() == Extents{6, 17, 6});
    CHECK(o.out<std::int64_t>() ==
          expected<std::int64_t>({6, 17, 6}, [](const Extents& i) { return (i[0] % 2) * 3 + i[2] % 3; }));
  }
  Builder b0;
  Var x0 = b0.input("x", host_type(x));
  Module none = finished(b0, {b0.tile(x0, {1, 0, 1})});
  CHECK(expect_ok(none, {&x}).dims() == Extents{2, 0, 3});

  Host col = numbered<float>({3, 1});
  Builder b2;
  Var cv = b2.input("col", host_type(col));
  Module m2 = finished(b2, {b2.expand(cv, relax::Dims{2, 3, 17})});
  Outcome o = expect_ok(m2, {&col});
  CHECK(o.dims() == Extents{2, 3, 17});
  CHECK(o.out<float>() == expected<float>({2, 3, 17}, [](const Extents& i) { return i[1]; }));

  Host row = numbered<std::int8_t>({1, 5}, DType::i8);
  Builder b3;
  Var rv = b3.input("row", host_type(row));
  Module m3 = finished(b3, {b3.expand(rv, relax::Dims{1})});
  CHECK(expect_ok(m3, {&row}).out<std::int8_t>() == row.values<std::int8_t>());
}

TEST_CASE("vm movement: shape_of writes the dims from start to end") {
  Host x = numbered<float>({2, 3, 0, 17});
  struct Case {
    std::int64_t start, end;
    std::vector<std::int64_t> want;
  };
  const Case cases[] = {
      {0, relax::detail::kPosInf, {2, 3, 0, 17}}, {1, 3, {3, 0}}, {-1, relax::detail::kPosInf, {17}},
      {-10, 1, {2}},                       {3, 1, {}},
  };
  for (const Case& c : cases) {
    Builder b;
    Var xv = b.input("x", host_type(x));
    Module m = finished(b, {b.emit(OpKind::shape_of, {xv}, ShapeOfAttrs{c.start, c.end})});
    CHECK(expect_ok(m, {&x}).out<std::int64_t>() == c.want);
  }
}

TEST_CASE("vm movement: bindings the kernels cannot run are refused at load, naming the op") {
  Host x = numbered<float>({2, 3});
  Builder b;
  Var xv = b.input("x", host_type(x));
  Module m = finished(b, {b.transpose(xv, {1, 0})});
  // Damage the binding the way a broken pass might: a repeated axis.
  Binding& binding = m.main().blocks.back().bindings.back();
  std::get<PermAttrs>(binding.attrs).perm = {0, 0};
  Outcome o = run(m, {&x});
  REQUIRE_FALSE(o.supported.ok());
  CHECK(contains(o.supported.message(), "transpose"));
  CHECK(contains(o.supported.message(), "perm"));

  Builder b2;
  Var x2 = b2.input("x", host_type(x));
  Module m2 = finished(b2, {b2.slice(x2, SliceAttrs{{0}, {2}, {}, {1}})});
  std::get<SliceAttrs>(m2.main().blocks.back().bindings.back().attrs).steps = {0};
  Outcome o2 = run(m2, {&x});
  REQUIRE_FALSE(o2.supported.ok());
  CHECK(contains(o2.supported.message(), "slice: steps"));

  CHECK(vm::cpu_movement_kernel(OpKind::matmul) == nullptr);
  CHECK(vm::cpu_movement_kernel(OpKind::add) == nullptr);
}
