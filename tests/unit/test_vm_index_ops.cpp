// The dynamic module's CPU kernels for gather_elements, scatter_elements, scatter_nd
// (kiln/vm/ops/indexing.hpp), cumsum (cumsum.hpp) and topk (topk.hpp), against naive loops
// written here from the ONNX operator spec: ranks 1 to 4, every axis (negative ones too),
// extents of 1, 3 and 17, every dtype each kernel takes, i32 and i64 indices (negative ones
// counting from the end), repeated indices under every scatter reduction, inclusive,
// exclusive and reversed sums, the largest and smallest k (sorted or not, with ties and NaNs,
// k from 0 to the whole axis), work large enough to be shared by a thread pool, and the
// errors: indices out of range, operands that do not fit, and what supports() refuses.
//
// Every run goes through the harness (vm_op_harness.hpp): supports, scratch_bytes, then run,
// which must not allocate. One module also runs them all through the VM itself (load,
// prepare at several batch sizes, run), with topk's k bound to a symbol at prepare.
#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/executable.hpp>
#include <kiln/vm/execution_context.hpp>
#include <kiln/vm/ops/cumsum.hpp>
#include <kiln/vm/ops/indexing.hpp>
#include <kiln/vm/ops/topk.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "allocation_counter.hpp"
#include "test_data.hpp"
#include "vm_op_harness.hpp"

using namespace kiln;
using namespace kiln::relax;
using kiln::test::at;
namespace vm_ops = kiln::test::vm_ops;

namespace {

using vm_ops::finished;
using vm_ops::host;
using vm_ops::host_type;
using vm_ops::Host;
using vm_ops::Outcome;
using Index = std::vector<std::int64_t>;
using KernelOf = const vm::OpKernel* (*)(OpKind);

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- shapes -------------------------------------------------------------------------------

std::int64_t product(const Index& dims, std::size_t first = 0) {
  std::int64_t n = 1;
  for (std::size_t a = first; a < dims.size(); ++a) n *= dims[a];
  return n;
}

std::int64_t ravel(const Index& dims, const Index& coordinates) {
  std::int64_t offset = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) offset = offset * dims[a] + coordinates[a];
  return offset;
}

// Calls fn(coordinates) for every position of `dims`, the last axis fastest.
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

std::string text(const Index& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

bool contains(std::string_view haystack, std::string_view piece) {
  return haystack.find(piece) != std::string_view::npos;
}

// The shapes the element-wise ops are tried on: ranks 1 to 4, extents 1, 3 and 17 among them.
const std::vector<Index>& shapes() {
  static const std::vector<Index> all = {{1},       {17},         {3, 5},          {1, 4},
                                         {4, 3, 2}, {2, 17, 3},   {2, 3, 1, 5},    {3, 2, 4, 3}};
  return all;
}

// ---- values of every dtype ------------------------------------------------------------------

// splitmix64: deterministic on every platform.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + static_cast<std::int64_t>(z % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t state_;
};

template <class S>
constexpr bool is_narrow = std::is_same_v<S, f16> || std::is_same_v<S, bf16>;
template <class S>
constexpr bool is_float = std::is_floating_point_v<S> || is_narrow<S>;

// Elements are stored as S; bool is stored as u8 (std::vector<bool> has no data()).
template <class S>
double as_double(S v) {
  if constexpr (is_narrow<S>) return static_cast<double>(static_cast<float>(v));
  else return static_cast<double>(v);
}

// An element from a small integer m in [-16, 16]: halves in [-8, 8] for floats (sums of a
// few stay exact), [-8, 8] for signed integers, [0, 32] for u8, m's parity for bool.
template <class S>
S element_from(std::int64_t m, DType dtype) {
  if (dtype == DType::boolean) return static_cast<S>(m & 1);
  if constexpr (is_narrow<S>) return S(static_cast<float>(m) * 0.5f);
  else if constexpr (std::is_floating_point_v<S>) return static_cast<S>(static_cast<double>(m) * 0.5);
  else if constexpr (std::is_unsigned_v<S>) return static_cast<S>(m + 16);
  else return static_cast<S>(m / 2);
}

template <class S>
std::vector<S> sample(std::int64_t n, Random& random, DType dtype, std::int64_t spread = 16) {
  std::vector<S> v(at(n));
  for (S& x : v) x = element_from<S>(random.between(-spread, spread), dtype);
  return v;
}

template <class S>
std::vector<double> doubles(const std::vector<S>& v) {
  std::vector<double> out;
  for (const S& x : v) out.push_back(as_double(x));
  return out;
}

// A reference computed in double, as the dtype holds it: integers wrap (the kernels compute
// modulo 2^bits, and modular arithmetic commutes with the final wrap), floats stay.
template <class S>
double as_stored(double v) {
  if constexpr (is_float<S>) return v;
  else return static_cast<double>(static_cast<S>(static_cast<std::int64_t>(v)));
}

// f16 and bf16 round at every step of a scatter's reduction.
double tolerance(DType dtype) {
  switch (dtype) {
    case DType::f32: return 1e-6;
    case DType::f64: return 1e-12;
    case DType::f16: return 4e-3;
    case DType::bf16: return 3e-2;
    default: return 0.0;
  }
}

template <class S>
void check_values(const std::vector<S>& got, const std::vector<double>& want, DType dtype, bool exact = false) {
  REQUIRE(got.size() == want.size());
  const double tol = exact ? 0.0 : tolerance(dtype);
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = as_double(got[i]);
    const double w = as_stored<S>(want[i]);
    const bool ok = std::isnan(w) ? std::isnan(g) : std::fabs(g - w) <= tol * (1.0 + std::fabs(w));
    if (!ok && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " differ; first at ", first, ": got ",
                bad ? as_double(got[first]) : 0.0, ", want ", bad ? as_stored<S>(want[first]) : 0.0);
}

// Calls fn(S{}, dtype) for every numeric dtype.
template <class Fn>
void for_each_numeric(Fn&& fn) {
  fn(float{}, DType::f32);
  fn(double{}, DType::f64);
  fn(f16{}, DType::f16);
  fn(bf16{}, DType::bf16);
  fn(std::int8_t{}, DType::i8);
  fn(std::uint8_t{}, DType::u8);
  fn(std::int16_t{}, DType::i16);
  fn(std::int32_t{}, DType::i32);
  fn(std::int64_t{}, DType::i64);
}
// ... and bool, stored as u8.
template <class Fn>
void for_each_dtype(Fn&& fn) {
  for_each_numeric(fn);
  fn(std::uint8_t{}, DType::boolean);
}

Host index_host(const Index& values, const Index& dims, DType dtype) {
  if (dtype == DType::i64) return host(values, dims);
  std::vector<std::int32_t> narrow;
  for (std::int64_t v : values) narrow.push_back(static_cast<std::int32_t>(v));
  return host(narrow, dims);
}

// ---- running one op -------------------------------------------------------------------------

// A module of one op whose inputs are the hosts (parameters in order).
Module module_of(OpKind op, const std::vector<Host*>& inputs, Attrs attrs) {
  Builder b;
  std::vector<Var> vars;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    vars.push_back(b.input("in" + std::to_string(i), host_type(*inputs[i])));
  std::vector<Var> outputs = b.emit_multi(op, std::span<const Var>(vars), std::move(attrs));
  return finished(b, outputs);
}

Outcome expect_ok(const Module& m, const std::vector<Host*>& params, KernelOf kernel_of, ThreadPool* pool) {
  Outcome o = vm_ops::run_op(m, params, kernel_of, pool);
  REQUIRE_MESSAGE(o.supported.ok(), o.supported.to_string());
  REQUIRE_MESSAGE(o.status.ok(), o.status.to_string());
  return o;
}

// What supports() says of a module's last binding.
Status supported(const Module& m, KernelOf kernel_of) {
  const Function& fn = m.main();
  const Binding& binding = fn.blocks.back().bindings.back();
  return kernel_of(binding.op)->supports(binding, fn);
}

// Products of many updates stay in range when float factors are at most 1 in magnitude;
// integers take their full range and wrap.
template <class S>
std::int64_t spread_for(ScatterReduction r) {
  return r == ScatterReduction::mul && is_float<S> ? 2 : 16;
}

int rank_in(const Index& dims) { return static_cast<int>(dims.size()); }
std::size_t axis_of(std::int64_t axis, const Index& dims) { return at(axis < 0 ? axis + rank_in(dims) : axis); }

// Indices for `index_dims` into an axis of `extent`: every value in [-extent, extent).
Index random_indices(const Index& index_dims, std::int64_t extent, Random& random) {
  Index idx(at(product(index_dims)));
  for (std::int64_t& v : idx) v = random.between(-extent, extent - 1);
  return idx;
}

// The indices' dims for data `dims` and `axis`: other axes as long as the data's or one
// shorter, the axis longer or shorter than the data's (`variant` picks).
Index element_index_dims(const Index& dims, std::size_t axis, int variant) {
  Index out = dims;
  for (std::size_t a = 0; a < dims.size(); ++a) {
    if (a == axis) out[a] = variant % 2 == 0 ? dims[a] + 2 : std::max<std::int64_t>(1, dims[a] - 1);
    else if (dims[a] > 1 && (a + static_cast<std::size_t>(variant)) % 2 == 1) out[a] = dims[a] - 1;
  }
  return out;
}

// ---- gather_elements ------------------------------------------------------------------------

template <class S>
void check_gather_elements(const Index& data_dims, const Index& index_dims, std::int64_t axis, DType dtype,
                           DType index_dtype, std::uint64_t seed, ThreadPool* pool) {
  const std::string where = "data " + text(data_dims) + ", indices " + text(index_dims) + " (" +
                            std::string(to_string(index_dtype)) + "), axis " + std::to_string(axis) + ", " +
                            std::string(to_string(dtype));
  CAPTURE(where);
  Random random(seed);
  const std::size_t a = axis_of(axis, data_dims);
  const std::vector<S> data = sample<S>(product(data_dims), random, dtype);
  const Index idx = random_indices(index_dims, data_dims[a], random);
  Host d = host(data, data_dims, dtype);
  Host i = index_host(idx, index_dims, index_dtype);
  Module m = module_of(OpKind::gather_elements, {&d, &i}, AxisAttrs{axis});
  Outcome o = expect_ok(m, {&d, &i}, vm::cpu_index_kernel, pool);
  // out[c] = data[c with c[axis] = indices[c]]
  std::vector<double> want;
  std::size_t p = 0;
  for_each_index(index_dims, [&](const Index& c) {
    Index source = c;
    source[a] = idx[p] < 0 ? idx[p] + data_dims[a] : idx[p];
    want.push_back(as_double(data[at(ravel(data_dims, source))]));
    ++p;
  });
  CHECK(o.dims() == index_dims);
  check_values(o.out<S>(), want, dtype, true);
}

} // namespace

TEST_CASE("vm index ops: gather_elements along every axis, for every dtype and both index dtypes") {
  std::uint64_t seed = 1;
  for (const Index& dims : shapes())
    for (std::int64_t axis = -rank_in(dims); axis < rank_in(dims); ++axis)
      for_each_dtype([&](auto zero, DType dtype) {
        using S = decltype(zero);
        const Index index_dims = element_index_dims(dims, axis_of(axis, dims), static_cast<int>(seed % 3));
        for (DType index_dtype : {DType::i32, DType::i64})
          check_gather_elements<S>(dims, index_dims, axis, dtype, index_dtype, ++seed, nullptr);
      });
}

TEST_CASE("vm index ops: gather_elements with empty indices, and large enough for the pool") {
  check_gather_elements<float>({3, 4}, {0, 4}, 0, DType::f32, DType::i64, 7, nullptr);
  check_gather_elements<float>({3, 4}, {3, 0}, 1, DType::f32, DType::i32, 8, nullptr);
  ThreadPool pool(3);
  check_gather_elements<float>({64, 600}, {64, 700}, 1, DType::f32, DType::i64, 9, &pool);
  check_gather_elements<float>({64, 600}, {70, 599}, 0, DType::f32, DType::i32, 10, &pool);
  check_gather_elements<std::int64_t>({4, 50, 300}, {4, 60, 300}, -2, DType::i64, DType::i64, 11, &pool);
  check_gather_elements<f16>({4, 50, 300}, {3, 49, 300}, 2, DType::f16, DType::i32, 12, &pool);
}

namespace {

// ---- scatter_elements and scatter_nd: the reference reductions ------------------------------

constexpr ScatterReduction kReductions[] = {ScatterReduction::none, ScatterReduction::add, ScatterReduction::mul,
                                            ScatterReduction::max, ScatterReduction::min};

// ONNX's reductions as its reference applies them (NumPy: maximum and minimum propagate NaN).
double reduce_ref(ScatterReduction r, double acc, double update) {
  switch (r) {
    case ScatterReduction::none: return update;
    case ScatterReduction::add: return acc + update;
    case ScatterReduction::mul: return acc * update;
    case ScatterReduction::max: return std::isnan(acc) || std::isnan(update) ? kNaN : std::max(acc, update);
    case ScatterReduction::min: return std::isnan(acc) || std::isnan(update) ? kNaN : std::min(acc, update);
  }
  return acc;
}

std::string reduction_name(ScatterReduction r) { return std::string(relax::detail::to_string(r)); }

// ---- scatter_elements -----------------------------------------------------------------------

template <class S>
void check_scatter_elements(const Index& data_dims, const Index& index_dims, std::int64_t axis,
                            ScatterReduction reduction, DType dtype, DType index_dtype, std::uint64_t seed,
                            ThreadPool* pool) {
  const std::string where = "data " + text(data_dims) + ", indices " + text(index_dims) + " (" +
                            std::string(to_string(index_dtype)) + "), axis " + std::to_string(axis) + ", " +
                            std::string(to_string(dtype)) + ", reduction " + reduction_name(reduction);
  CAPTURE(where);
  Random random(seed);
  const std::size_t a = axis_of(axis, data_dims);
  const std::vector<S> data = sample<S>(product(data_dims), random, dtype, spread_for<S>(reduction));
  const std::vector<S> updates = sample<S>(product(index_dims), random, dtype, spread_for<S>(reduction));
  const Index idx = random_indices(index_dims, data_dims[a], random);
  Host d = host(data, data_dims, dtype);
  Host i = index_host(idx, index_dims, index_dtype);
  Host u = host(updates, index_dims, dtype);
  Module m = module_of(OpKind::scatter_elements, {&d, &i, &u}, ScatterAttrs{.axis = axis, .reduction = reduction});
  Outcome o = expect_ok(m, {&d, &i, &u}, vm::cpu_index_kernel, pool);
  // A copy of the data; then, in the indices' order, out[c with c[axis] = indices[c]] op= updates[c].
  std::vector<double> want = doubles(data);
  std::size_t p = 0;
  for_each_index(index_dims, [&](const Index& c) {
    Index target = c;
    target[a] = idx[p] < 0 ? idx[p] + data_dims[a] : idx[p];
    double& slot = want[at(ravel(data_dims, target))];
    slot = reduce_ref(reduction, slot, as_double(updates[p]));
    ++p;
  });
  CHECK(o.dims() == data_dims);
  check_values(o.out<S>(), want, dtype, reduction == ScatterReduction::none);
}

} // namespace

TEST_CASE("vm index ops: scatter_elements along every axis, under every reduction, for every dtype") {
  std::uint64_t seed = 100;
  for (const Index& dims : shapes())
    for (std::int64_t axis = -rank_in(dims); axis < rank_in(dims); ++axis)
      for (ScatterReduction reduction : kReductions)
        for_each_dtype([&](auto zero, DType dtype) {
          using S = decltype(zero);
          if (dtype == DType::boolean && reduction != ScatterReduction::none) return;
          ++seed;
          // Indices longer than the data along the axis repeat some targets.
          const Index index_dims = element_index_dims(dims, axis_of(axis, dims), static_cast<int>(seed % 2));
          check_scatter_elements<S>(dims, index_dims, axis, reduction, dtype, seed % 2 ? DType::i32 : DType::i64,
                                    seed, nullptr);
        });
}

TEST_CASE("vm index ops: scatter_elements large enough for the pool, split by rows and by columns") {
  ThreadPool pool(3);
  for (ScatterReduction reduction : {ScatterReduction::none, ScatterReduction::add, ScatterReduction::max}) {
    check_scatter_elements<float>({6, 5000}, {12, 5000}, 0, reduction, DType::f32, DType::i64, 1, &pool);
    check_scatter_elements<float>({300, 200}, {300, 150}, -1, reduction, DType::f32, DType::i32, 2, &pool);
    check_scatter_elements<std::int64_t>({20, 9, 400}, {20, 12, 399}, 1, reduction, DType::i64, DType::i64, 3, &pool);
    check_scatter_elements<std::int32_t>({2, 3, 9000}, {2, 5, 9000}, 1, reduction, DType::i32, DType::i32, 4, &pool);
    // Few long rows along the axis: every update of a row may meet every other, so a row
    // stays with one thread.
    check_scatter_elements<float>({2, 50}, {2, 30000}, 1, reduction, DType::f32, DType::i64, 5, &pool);
  }
}

TEST_CASE("vm index ops: scatter max and min propagate NaN, whether in the data or in an update") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (ScatterReduction reduction : {ScatterReduction::max, ScatterReduction::min}) {
    CAPTURE(reduction_name(reduction));
    Host d = host(std::vector<float>{nan, 1, 2, 3}, {4});
    Host i = host(std::vector<std::int64_t>{0, 1, 1, 2}, {4});
    Host u = host(std::vector<float>{5, nan, 7, 1}, {4});
    Module m = module_of(OpKind::scatter_elements, {&d, &i, &u}, ScatterAttrs{.reduction = reduction});
    Outcome o = expect_ok(m, {&d, &i, &u}, vm::cpu_index_kernel, nullptr);
    const std::vector<float> got = o.out<float>();
    CHECK(std::isnan(got[0]));
    CHECK(std::isnan(got[1]));  // a NaN update, then 7: still NaN
    CHECK(got[2] == (reduction == ScatterReduction::max ? 2.0f : 1.0f));
    CHECK(got[3] == 3.0f);
  }
}

namespace {

// ---- scatter_nd -----------------------------------------------------------------------------

template <class S>
void check_scatter_nd(const Index& data_dims, const Index& batch, std::int64_t depth, ScatterReduction reduction,
                      DType dtype, DType index_dtype, std::uint64_t seed, ThreadPool* pool) {
  Index index_dims = batch;
  index_dims.push_back(depth);
  Index update_dims = batch;
  update_dims.insert(update_dims.end(), data_dims.begin() + depth, data_dims.end());
  const std::string where = "data " + text(data_dims) + ", indices " + text(index_dims) + " (" +
                            std::string(to_string(index_dtype)) + "), " + std::string(to_string(dtype)) +
                            ", reduction " + reduction_name(reduction);
  CAPTURE(where);
  Random random(seed);
  const std::vector<S> data = sample<S>(product(data_dims), random, dtype, spread_for<S>(reduction));
  const std::vector<S> updates = sample<S>(product(update_dims), random, dtype, spread_for<S>(reduction));
  Index idx;
  for (std::int64_t u = 0; u < product(batch); ++u)
    for (std::int64_t c = 0; c < depth; ++c) idx.push_back(random.between(-data_dims[at(c)], data_dims[at(c)] - 1));
  Host d = host(data, data_dims, dtype);
  Host i = index_host(idx, index_dims, index_dtype);
  Host up = host(updates, update_dims, dtype);
  Module m = module_of(OpKind::scatter_nd, {&d, &i, &up}, ScatterAttrs{.reduction = reduction});
  Outcome o = expect_ok(m, {&d, &i, &up}, vm::cpu_index_kernel, pool);
  // A copy of the data; then, update by update, the slice data[indices[u]] op= updates[u].
  std::vector<double> want = doubles(data);
  const Index slice_dims(data_dims.begin() + depth, data_dims.end());
  const std::int64_t slice = product(slice_dims);
  for (std::int64_t u = 0; u < product(batch); ++u) {
    Index target;
    for (std::int64_t c = 0; c < depth; ++c) {
      const std::int64_t v = idx[at(u * depth + c)];
      target.push_back(v < 0 ? v + data_dims[at(c)] : v);
    }
    std::int64_t s = 0;
    for_each_index(slice_dims, [&](const Index& within) {
      Index full = target;
      full.insert(full.end(), within.begin(), within.end());
      double& slot = want[at(ravel(data_dims, full))];
      slot = reduce_ref(reduction, slot, as_double(updates[at(u * slice + s)]));
      ++s;
    });
  }
  CHECK(o.dims() == data_dims);
  check_values(o.out<S>(), want, dtype, reduction == ScatterReduction::none);
}

} // namespace

TEST_CASE("vm index ops: scatter_nd over every depth and batch rank, under every reduction, for every dtype") {
  const Index data_shapes[] = {{17}, {3, 5}, {4, 1, 3}, {2, 3, 2, 5}};
  const Index batches[] = {{}, {3}, {2, 3}, {17}};
  std::uint64_t seed = 1000;
  for (const Index& dims : data_shapes)
    for (std::int64_t depth = 1; depth <= rank_in(dims); ++depth)
      for (const Index& batch : batches)
        for (ScatterReduction reduction : kReductions)
          for_each_dtype([&](auto zero, DType dtype) {
            using S = decltype(zero);
            if (dtype == DType::boolean && reduction != ScatterReduction::none) return;
            ++seed;
            check_scatter_nd<S>(dims, batch, depth, reduction, dtype, seed % 2 ? DType::i32 : DType::i64, seed,
                                nullptr);
          });
}

TEST_CASE("vm index ops: scatter_nd large enough for the pool, slices split by columns") {
  ThreadPool pool(3);
  for (ScatterReduction reduction : {ScatterReduction::none, ScatterReduction::add, ScatterReduction::min}) {
    check_scatter_nd<float>({50, 4096}, {80}, 1, reduction, DType::f32, DType::i64, 1, &pool);
    check_scatter_nd<std::int64_t>({6, 7, 2000}, {3, 40}, 2, reduction, DType::i64, DType::i32, 2, &pool);
    check_scatter_nd<float>({64, 64, 3}, {5000}, 3, reduction, DType::f32, DType::i64, 3, &pool);  // single elements
  }
}

namespace {

// ---- cumsum ---------------------------------------------------------------------------------

template <class S>
void check_cumsum(const Index& dims, std::int64_t axis, bool exclusive, bool reverse, DType dtype, std::uint64_t seed,
                  ThreadPool* pool) {
  const std::string where = "x " + text(dims) + ", axis " + std::to_string(axis) + ", " +
                            std::string(to_string(dtype)) + (exclusive ? ", exclusive" : "") +
                            (reverse ? ", reverse" : "");
  CAPTURE(where);
  Random random(seed);
  const std::vector<S> x = sample<S>(product(dims), random, dtype);
  Host xh = host(x, dims, dtype);
  Module m = module_of(OpKind::cumsum, {&xh}, CumSumAttrs{.axis = axis, .exclusive = exclusive, .reverse = reverse});
  Outcome o = expect_ok(m, {&xh}, vm::cpu_cumsum_kernel, pool);
  // y[c] = the sum of x over the positions along the axis before c (after c when reversed),
  // and c itself unless exclusive.
  const std::size_t a = axis_of(axis, dims);
  std::vector<double> want;
  for_each_index(dims, [&](const Index& c) {
    double sum = 0.0;
    Index source = c;
    for (std::int64_t i = 0; i < dims[a]; ++i) {
      const bool before = reverse ? i > c[a] : i < c[a];
      if (!before && !(i == c[a] && !exclusive)) continue;
      source[a] = i;
      sum += as_double(x[at(ravel(dims, source))]);
    }
    want.push_back(sum);
  });
  CHECK(o.dims() == dims);
  check_values(o.out<S>(), want, dtype);
}

} // namespace

TEST_CASE("vm index ops: cumsum along every axis, inclusive and exclusive, forward and reversed, every dtype") {
  std::uint64_t seed = 5000;
  for (const Index& dims : shapes())
    for (std::int64_t axis = -rank_in(dims); axis < rank_in(dims); ++axis)
      for (bool exclusive : {false, true})
        for (bool reverse : {false, true})
          for_each_numeric([&](auto zero, DType dtype) {
            using S = decltype(zero);
            check_cumsum<S>(dims, axis, exclusive, reverse, dtype, ++seed, nullptr);
          });
}

TEST_CASE("vm index ops: cumsum large enough for the pool: long rows, wide columns, many lines") {
  ThreadPool pool(3);
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      check_cumsum<float>({64, 1000}, -1, exclusive, reverse, DType::f32, 1, &pool);
      check_cumsum<float>({8, 300, 70}, 1, exclusive, reverse, DType::f32, 2, &pool);
      check_cumsum<std::int64_t>({4000, 9}, 0, exclusive, reverse, DType::i64, 3, &pool);
      check_cumsum<double>({3, 5, 2100}, 0, exclusive, reverse, DType::f64, 4, &pool);
    }
}

TEST_CASE("vm index ops: integer cumsum wraps modulo 2^bits") {
  Host x = host(std::vector<std::int8_t>{100, 100, -128, -1}, {4});
  Module m = module_of(OpKind::cumsum, {&x}, CumSumAttrs{});
  Outcome o = expect_ok(m, {&x}, vm::cpu_cumsum_kernel, nullptr);
  CHECK(o.out<std::int8_t>() == std::vector<std::int8_t>{100, -56, 72, 71});
  Host big = host(std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::max(), 1}, {2});
  Module mb = module_of(OpKind::cumsum, {&big}, CumSumAttrs{});
  Outcome ob = expect_ok(mb, {&big}, vm::cpu_cumsum_kernel, nullptr);
  CHECK(ob.out<std::int64_t>()[1] == std::numeric_limits<std::int64_t>::min());
}

namespace {

// ---- topk -----------------------------------------------------------------------------------

struct Pick {
  double value;
  std::int64_t index;
};

// Whether value a ranks before value b: NaN above every number, then by size.
bool ranks_before(double a, double b, bool largest) {
  if (std::isnan(a) || std::isnan(b))
    return largest ? std::isnan(a) && !std::isnan(b) : std::isnan(b) && !std::isnan(a);
  return largest ? a > b : a < b;
}

// The k first of a line by k scans, each taking the best remaining (the first on a tie).
std::vector<Pick> naive_topk(const std::vector<double>& line, std::int64_t k, bool largest) {
  std::vector<bool> taken(line.size(), false);
  std::vector<Pick> picks;
  for (std::int64_t round = 0; round < k; ++round) {
    std::size_t best = line.size();
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (taken[i]) continue;
      if (best == line.size() || ranks_before(line[i], line[best], largest)) best = i;
    }
    taken[best] = true;
    picks.push_back({line[best], static_cast<std::int64_t>(best)});
  }
  return picks;
}

bool same_pick(const Pick& a, const Pick& b) {
  return a.index == b.index && (std::isnan(a.value) ? std::isnan(b.value) : a.value == b.value);
}

template <class S>
void check_topk(const Index& dims, std::int64_t axis, std::int64_t k, bool largest, bool sorted, DType dtype,
                std::uint64_t seed, ThreadPool* pool, bool with_nan = false) {
  const std::string where = "x " + text(dims) + ", axis " + std::to_string(axis) + ", k " + std::to_string(k) +
                            ", " + std::string(to_string(dtype)) + (largest ? ", largest" : ", smallest") +
                            (sorted ? ", sorted" : ", unsorted");
  CAPTURE(where);
  Random random(seed);
  // Few distinct values: many ties.
  std::vector<S> x = sample<S>(product(dims), random, dtype, 3);
  if constexpr (is_float<S>) {
    if (with_nan)
      for (std::size_t i = 0; i < x.size(); i += 5) x[i] = S(std::numeric_limits<float>::quiet_NaN());
  }
  Host xh = host(x, dims, dtype);
  Module m = module_of(OpKind::topk, {&xh}, TopKAttrs{.k = k, .axis = axis, .largest = largest, .sorted = sorted});
  Outcome o = expect_ok(m, {&xh}, vm::cpu_topk_kernel, pool);
  const std::size_t a = axis_of(axis, dims);
  Index out_dims = dims;
  out_dims[a] = k;
  REQUIRE(o.dims(0) == out_dims);
  REQUIRE(o.dims(1) == out_dims);
  CHECK(o.outputs[1].slot.dtype == DType::i64);
  const std::vector<S> values = o.out<S>(0);
  const std::vector<std::int64_t> indices = o.out<std::int64_t>(1);
  Index line_dims = dims;
  line_dims[a] = 1;
  std::size_t wrong = 0;
  for_each_index(line_dims, [&](const Index& c) {
    Index position = c;
    std::vector<double> line;
    for (std::int64_t i = 0; i < dims[a]; ++i) {
      position[a] = i;
      line.push_back(as_double(x[at(ravel(dims, position))]));
    }
    std::vector<Pick> want = naive_topk(line, k, largest);
    std::vector<Pick> got;
    for (std::int64_t i = 0; i < k; ++i) {
      position[a] = i;
      const std::size_t p = at(ravel(out_dims, position));
      got.push_back({as_double(values[p]), indices[p]});
    }
    if (!sorted) {  // any order: compare as sets
      const auto by_index = [](const Pick& l, const Pick& r) { return l.index < r.index; };
      std::sort(want.begin(), want.end(), by_index);
      std::sort(got.begin(), got.end(), by_index);
    }
    for (std::size_t i = 0; i < want.size(); ++i) wrong += same_pick(got[i], want[i]) ? 0 : 1;
  });
  CHECK(wrong == 0);
}

} // namespace

TEST_CASE("vm index ops: topk along every axis, largest and smallest, sorted or not, ties, k up to the axis") {
  std::uint64_t seed = 9000;
  for (const Index& dims : shapes())
    for (std::int64_t axis = -rank_in(dims); axis < rank_in(dims); ++axis) {
      const std::int64_t n = dims[axis_of(axis, dims)];
      Index ks = {1, (n + 1) / 2, n};
      ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
      for (std::int64_t k : ks)
        for (bool largest : {true, false})
          for (bool sorted : {true, false})
            for_each_numeric([&](auto zero, DType dtype) {
              using S = decltype(zero);
              ++seed;
              check_topk<S>(dims, axis, k, largest, sorted, dtype, seed, nullptr, seed % 2 == 0);
            });
    }
}

TEST_CASE("vm index ops: topk puts NaN above every number and ties in index order") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Host x = host(std::vector<float>{3, nan, 5, nan, 5, -1}, {6});
  const auto run = [&](std::int64_t k, bool largest) {
    Module m = module_of(OpKind::topk, {&x}, TopKAttrs{.k = k, .largest = largest});
    return expect_ok(m, {&x}, vm::cpu_topk_kernel, nullptr);
  };
  {
    Outcome o = run(4, true);
    const std::vector<float> v = o.out<float>(0);
    CHECK((std::isnan(v[0]) && std::isnan(v[1]) && v[2] == 5.0f && v[3] == 5.0f));
    CHECK(o.out<std::int64_t>(1) == std::vector<std::int64_t>{1, 3, 2, 4});
  }
  {
    Outcome o = run(6, false);
    const std::vector<float> v = o.out<float>(0);
    CHECK((v[0] == -1.0f && v[1] == 3.0f && v[2] == 5.0f && v[3] == 5.0f && std::isnan(v[4]) && std::isnan(v[5])));
    CHECK(o.out<std::int64_t>(1) == std::vector<std::int64_t>{5, 0, 2, 4, 1, 3});
  }
  {
    Outcome o = run(0, true);  // nothing to select
    CHECK(o.dims(0) == Index{0});
    CHECK(o.scratch_bytes == 0);
  }
}

TEST_CASE("vm index ops: topk large enough for the pool, each thread on its own scratch") {
  ThreadPool pool(3);
  check_topk<float>({512, 100}, 1, 10, true, true, DType::f32, 1, &pool, true);
  check_topk<float>({100, 300}, 0, 50, false, true, DType::f32, 2, &pool);
  check_topk<std::int32_t>({6, 70, 90}, -2, 70, true, false, DType::i32, 3, &pool);
  check_topk<double>({40, 2000}, -1, 1, false, true, DType::f64, 4, &pool);
  // The scratch: one row of (value, index) pairs per thread.
  Random random(5);
  Host x = host(sample<float>(512 * 100, random, DType::f32), {512, 100});
  Module m = module_of(OpKind::topk, {&x}, TopKAttrs{.k = 10, .axis = 1});
  CHECK(vm_ops::run_op(m, {&x}, vm::cpu_topk_kernel, &pool).scratch_bytes == 3 * 100 * 16);
  CHECK(vm_ops::run_op(m, {&x}, vm::cpu_topk_kernel, nullptr).scratch_bytes == 100 * 16);
}

namespace {

// The kernels of this file's ops: a VM that runs nothing else.
const vm::OpKernel* index_op_kernels(OpKind op) {
  if (const vm::OpKernel* k = vm::cpu_index_kernel(op)) return k;
  if (const vm::OpKernel* k = vm::cpu_cumsum_kernel(op)) return k;
  return vm::cpu_topk_kernel(op);
}

Tensor tensor_of(const std::vector<float>& values, const Index& dims) {
  Result<Tensor> t = Tensor::empty(DType::f32, std::span<const std::int64_t>(dims));
  REQUIRE(t.ok());
  std::copy(values.begin(), values.end(), t->data_as<float>());
  return std::move(t).value();
}
Tensor tensor_of(const Index& values, const Index& dims) {
  Result<Tensor> t = Tensor::empty(DType::i64, std::span<const std::int64_t>(dims));
  REQUIRE(t.ok());
  std::copy(values.begin(), values.end(), t->data_as<std::int64_t>());
  return std::move(t).value();
}

template <class T>
std::vector<T> values_of(const vm::Slot& s) {
  return std::vector<T>(s.data_as<const T>(), s.data_as<const T>() + s.elements());
}

} // namespace

TEST_CASE("vm index ops: the VM runs them in one module at several batch sizes, k bound at prepare") {
  const SymDim rows = sym("rows");
  constexpr std::int64_t kCols = 17;
  Builder b;
  Var x = b.input("x", TensorType(DType::f32, {rows, kCols}));
  Var idx = b.input("idx", TensorType(DType::i64, {rows, 5}));
  Var upd = b.input("upd", TensorType(DType::f32, {rows, 5}));
  Var sums = b.emit(OpKind::cumsum, {x}, CumSumAttrs{.axis = 0, .reverse = true});
  Var picked = b.emit(OpKind::gather_elements, {sums, idx}, AxisAttrs{1});
  Var added = b.emit(OpKind::scatter_elements, {x, idx, upd}, ScatterAttrs{.axis = 1, .reduction = ScatterReduction::add});
  const std::vector<Var> top = b.emit_multi(OpKind::topk, {added}, TopKAttrs{.k = 3, .axis = 1});
  // k is the whole (symbolic) axis: every column sorted, smallest first.
  const std::vector<Var> columns = b.emit_multi(OpKind::topk, {x}, TopKAttrs{.k = rows, .axis = 0, .largest = false});
  Module m = finished(b, std::vector<Var>{picked, top[0], top[1], columns[0], columns[1]});
  Result<std::shared_ptr<const vm::Executable>> exe =
      vm::Executable::load(std::move(m), index_op_kernels, vm::LoadOptions{.run_passes = false, .fuse = false});
  REQUIRE_MESSAGE(exe.ok(), exe.status().to_string());
  ThreadPool pool(3);
  vm::ExecutionContext ctx(*exe, &pool);
  for (std::int64_t n : {1, 3, 40, 2000}) {
    CAPTURE(n);
    Random random(static_cast<std::uint64_t>(n));
    const std::vector<float> xv = sample<float>(n * kCols, random, DType::f32, 3);  // ties
    const std::vector<float> uv = sample<float>(n * 5, random, DType::f32);
    const Index iv = random_indices({n, 5}, kCols, random);
    REQUIRE(ctx.prepare({{"x", {n, kCols}}, {"idx", {n, 5}}, {"upd", {n, 5}}}).ok());
    const Tensor xt = tensor_of(xv, {n, kCols}), it = tensor_of(iv, {n, 5}), ut = tensor_of(uv, {n, 5});
    {
      test::CountAllocations allocations;
      const Status s = ctx.run({xt, it, ut});
      REQUIRE_MESSAGE(s.ok(), s.to_string());
      CHECK(allocations.count() == 0);
    }
    // References: reversed sums down the columns, gathered along the rows; the updates added
    // into x; per row the 3 largest of that; per column all of x, smallest first.
    std::vector<double> sum(xv.size()), gathered, with_updates(xv.begin(), xv.end());
    for (std::int64_t j = 0; j < kCols; ++j) {
      double running = 0.0;
      for (std::int64_t i = n; i-- > 0;) sum[at(i * kCols + j)] = running += xv[at(i * kCols + j)];
    }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < 5; ++j) {
        const std::int64_t column = iv[at(i * 5 + j)] < 0 ? iv[at(i * 5 + j)] + kCols : iv[at(i * 5 + j)];
        gathered.push_back(sum[at(i * kCols + column)]);
        with_updates[at(i * kCols + column)] += uv[at(i * 5 + j)];
      }
    check_values(values_of<float>(ctx.output(0)), gathered, DType::f32);
    std::size_t wrong = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> line(with_updates.begin() + i * kCols, with_updates.begin() + (i + 1) * kCols);
      const std::vector<Pick> want = naive_topk(line, 3, true);
      for (std::int64_t r = 0; r < 3; ++r)
        wrong += same_pick({ctx.output(1).data_as<float>()[i * 3 + r], ctx.output(2).data_as<std::int64_t>()[i * 3 + r]},
                           want[at(r)])
                     ? 0
                     : 1;
    }
    for (std::int64_t j = 0; j < kCols; ++j) {
      std::vector<double> column;
      for (std::int64_t i = 0; i < n; ++i) column.push_back(xv[at(i * kCols + j)]);
      const std::vector<Pick> want = naive_topk(column, n, false);
      for (std::int64_t r = 0; r < n; ++r)
        wrong += same_pick({ctx.output(3).data_as<float>()[r * kCols + j],
                            ctx.output(4).data_as<std::int64_t>()[r * kCols + j]},
                           want[at(r)])
                     ? 0
                     : 1;
    }
    CHECK(wrong == 0);
  }
}

// ---- errors -------------------------------------------------------------------------------------

TEST_CASE("vm index ops: an index out of range is an error naming the op, the index and the extent") {
  {
    Host d = host(std::vector<float>(12, 1.0f), {3, 4});
    Host i = host(std::vector<std::int64_t>{0, 1, 2, -4, 3, 4}, {3, 2});
    Module m = module_of(OpKind::gather_elements, {&d, &i}, AxisAttrs{1});
    Outcome o = vm_ops::run_op(m, {&d, &i}, vm::cpu_index_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::out_of_range);
    CHECK(o.status.message() == "gather_elements: index 4 (element 5 of the indices) is out of range for axis 1 of "
                                "extent 4");
  }
  {
    Host d = host(std::vector<float>(12, 1.0f), {3, 4});
    Host i = host(std::vector<std::int32_t>{0, 1, -4, 2}, {2, 2});
    Module m = module_of(OpKind::gather_elements, {&d, &i}, AxisAttrs{0});
    Outcome o = vm_ops::run_op(m, {&d, &i}, vm::cpu_index_kernel);
    CHECK(o.status.code() == StatusCode::out_of_range);
    CHECK(o.status.message() == "gather_elements: index -4 (element 2 of the indices) is out of range for axis 0 of "
                                "extent 3");
  }
  {
    Host d = host(std::vector<std::int32_t>(5, 0), {5});
    Host i = host(std::vector<std::int32_t>{4, -5, 5}, {3});
    Host u = host(std::vector<std::int32_t>{1, 2, 3}, {3});
    Module m = module_of(OpKind::scatter_elements, {&d, &i, &u}, ScatterAttrs{.reduction = ScatterReduction::add});
    Outcome o = vm_ops::run_op(m, {&d, &i, &u}, vm::cpu_index_kernel);
    CHECK(o.status.code() == StatusCode::out_of_range);
    CHECK(o.status.message() == "scatter_elements: index 5 (element 2 of the indices) is out of range for axis 0 of "
                                "extent 5");
  }
  {
    Host d = host(std::vector<float>(24, 0.0f), {2, 3, 4});
    Host i = host(std::vector<std::int64_t>{1, 2, -2, -4}, {2, 2});
    Host u = host(std::vector<float>(8, 1.0f), {2, 4});
    Module m = module_of(OpKind::scatter_nd, {&d, &i, &u}, ScatterAttrs{});
    ThreadPool pool(3);
    Outcome o = vm_ops::run_op(m, {&d, &i, &u}, vm::cpu_index_kernel, &pool);
    CHECK(o.status.code() == StatusCode::out_of_range);
    CHECK(o.status.message() == "scatter_nd: index -4 (element 3 of the indices) is out of range for axis 1 of "
                                "extent 3");
  }
}

TEST_CASE("vm index ops: operands that do not fit one another are errors, never out-of-bounds accesses") {
  // Indices longer than the data on an axis other than `axis`: inference only checks ranks.
  {
    Host d = host(std::vector<float>(12, 1.0f), {3, 4});
    Host i = host(std::vector<std::int64_t>(15, 0), {3, 5});
    Module m = module_of(OpKind::gather_elements, {&d, &i}, AxisAttrs{0});
    Outcome o = vm_ops::run_op(m, {&d, &i}, vm::cpu_index_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(o.status.message() == "gather_elements: the indices have extent 5 on axis 1, beyond the data's 4");
  }
  {
    Host d = host(std::vector<float>(12, 1.0f), {3, 4});
    Host i = host(std::vector<std::int64_t>(8, 0), {4, 2});
    Host u = host(std::vector<float>(8, 1.0f), {4, 2});
    Module m = module_of(OpKind::scatter_elements, {&d, &i, &u}, ScatterAttrs{.axis = 1});
    Outcome o = vm_ops::run_op(m, {&d, &i, &u}, vm::cpu_index_kernel);
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(contains(o.status.message(), "scatter_elements: the indices have extent 4 on axis 0"));
  }
  // scatter_nd with a depth known only at run time: the slot has more axes than the data.
  {
    Host d = host(std::vector<float>(6, 0.0f), {2, 3});
    Host i = host(std::vector<std::int64_t>{0, 0, 0}, {1, 3});
    Host u = host(std::vector<float>{1.0f}, {1});
    Builder b;
    Var dv = b.input("d", host_type(d));
    Var iv = b.input("i", TensorType(DType::i64, {1, relax::sym("depth")}));
    Var uv = b.input("u", host_type(u));
    Module m = finished(b, b.emit(OpKind::scatter_nd, {dv, iv, uv}));
    Outcome o = vm_ops::run_op(m, {&d, &i, &u}, vm::cpu_index_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(o.status.message() == "scatter_nd: the indices address 3 axes of data of rank 2");
  }
  // An operand laid out with gaps.
  {
    Host x = host(std::vector<float>(12, 1.0f), {3, 4});
    Module m = module_of(OpKind::cumsum, {&x}, CumSumAttrs{.axis = 1});
    std::swap(x.slot.strides[0], x.slot.strides[1]);
    Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_cumsum_kernel);
    CHECK(o.status.code() == StatusCode::unsupported);
    CHECK(o.status.message() == "cumsum: non-contiguous operands are not supported");
  }
  // topk's k attribute disagrees with the outputs it was inferred for.
  {
    Host x = host(std::vector<float>(12, 1.0f), {3, 4});
    Module m = module_of(OpKind::topk, {&x}, TopKAttrs{.k = 2, .axis = 1});
    std::get<TopKAttrs>(m.main().blocks[0].bindings[0].attrs).k = 3;
    Outcome o = vm_ops::run_op(m, {&x}, vm::cpu_topk_kernel);
    REQUIRE(o.supported.ok());
    CHECK(o.status.code() == StatusCode::shape_mismatch);
    CHECK(o.status.message() == "topk: k is 3, the outputs have 2 along axis 1");
  }
}

TEST_CASE("vm index ops: supports() refuses at load what the kernels cannot run, naming the op and the dtype") {
  // bool: no sum, no order, no arithmetic for a reduction. Inference refuses bool for cumsum
  // and topk, so the types are edited as a hand-built module could hold them.
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {3, 4}));
    Module m = finished(b, b.emit(OpKind::cumsum, {x}, CumSumAttrs{.axis = 1}));
    Function& fn = m.main();
    fn.value(fn.params[0]).type.dtype = DType::boolean;
    const Status s = supported(m, vm::cpu_cumsum_kernel);
    CHECK(s.code() == StatusCode::unsupported);
    CHECK(s.message() == "cumsum: bool input is not supported (numeric dtypes only)");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {3, 4}));
    Module m = finished(b, b.emit_multi(OpKind::topk, {x}, TopKAttrs{.k = 2}));
    Function& fn = m.main();
    fn.value(fn.params[0]).type.dtype = DType::boolean;
    const Status s = supported(m, vm::cpu_topk_kernel);
    CHECK(s.code() == StatusCode::unsupported);
    CHECK(s.message() == "topk: bool input is not supported (numeric dtypes only)");
  }
  for (OpKind op : {OpKind::scatter_elements, OpKind::scatter_nd}) {
    Builder b;
    Var d = b.input("d", TensorType(DType::boolean, {4, 3}));
    Var i = b.input("i", TensorType(DType::i64, {2, op == OpKind::scatter_nd ? 1 : 3}));
    Var u = b.input("u", TensorType(DType::boolean, {2, 3}));
    Module m = finished(b, b.emit(op, {d, i, u}, ScatterAttrs{.reduction = ScatterReduction::mul}));
    const Status s = supported(m, vm::cpu_index_kernel);
    CHECK(s.code() == StatusCode::unsupported);
    CHECK(s.message() == std::string(relax::to_string(op)) +
                             ": bool data is not supported with reduction mul (numeric dtypes only)");
    // Without a reduction a scatter only moves elements: bool is fine.
    std::get<ScatterAttrs>(m.main().blocks[0].bindings[0].attrs).reduction = ScatterReduction::none;
    CHECK(supported(m, vm::cpu_index_kernel).ok());
  }
  // Indices of another dtype (inference refuses them too).
  for (OpKind op : {OpKind::gather_elements, OpKind::scatter_elements, OpKind::scatter_nd}) {
    Builder b;
    Var d = b.input("d", TensorType(DType::f32, {4, 3}));
    Var i = b.input("i", TensorType(DType::i32, {2, op == OpKind::scatter_nd ? 1 : 3}));
    Var u = b.input("u", TensorType(DType::f32, {2, 3}));
    Module m = op == OpKind::gather_elements ? finished(b, b.emit(op, {d, i}, AxisAttrs{0}))
                                             : finished(b, b.emit(op, {d, i, u}, ScatterAttrs{}));
    Function& fn = m.main();
    fn.value(fn.params[1]).type.dtype = DType::i16;
    const Status s = supported(m, vm::cpu_index_kernel);
    CHECK(s.code() == StatusCode::unsupported);
    CHECK(s.message() == std::string(relax::to_string(op)) + ": indices must be i32 or i64, got i16");
  }
  // Attributes a hand-built module may hold: an axis out of range, another op's attributes.
  {
    Builder b;
    Var d = b.input("d", TensorType(DType::f32, {4, 3}));
    Var i = b.input("i", TensorType(DType::i64, {4, 3}));
    Module m = finished(b, b.emit(OpKind::gather_elements, {d, i}, AxisAttrs{1}));
    m.main().blocks[0].bindings[0].attrs = AxisAttrs{2};
    CHECK(supported(m, vm::cpu_index_kernel).message() == "gather_elements: the axis is out of range for rank 2");
    m.main().blocks[0].bindings[0].attrs = ScatterAttrs{};
    CHECK(supported(m, vm::cpu_index_kernel).message() == "gather_elements: expects axis attributes");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {4, 3}));
    Module m = finished(b, b.emit(OpKind::cumsum, {x}, CumSumAttrs{.axis = -2}));
    m.main().blocks[0].bindings[0].attrs = CumSumAttrs{.axis = -3};
    CHECK(supported(m, vm::cpu_cumsum_kernel).message() == "cumsum: the axis is out of range for rank 2");
  }
  {
    Builder b;
    Var x = b.input("x", TensorType(DType::f32, {4, 3}));
    Module m = finished(b, b.emit_multi(OpKind::topk, {x}, TopKAttrs{.k = 2, .axis = 0}));
    std::get<TopKAttrs>(m.main().blocks[0].bindings[0].attrs).k = -1;
    CHECK(supported(m, vm::cpu_topk_kernel).message() == "topk: k must be a dim of 0 or more");
  }
  // Each family answers for its own ops only.
  CHECK(vm::cpu_index_kernel(OpKind::gather) == nullptr);
  CHECK(vm::cpu_cumsum_kernel(OpKind::reduce_sum) == nullptr);
  CHECK(vm::cpu_topk_kernel(OpKind::argmax) == nullptr);
}
