// static_graph_harness.hpp: what the static graph op tests share: shapes and broadcasting in
// plain vectors, tensors from values, and models created, bound and run with their errors
// reported through doctest.
#pragma once

#include <doctest/doctest.h>

#include <kiln/runtime/thread_pool.hpp>
#include <kiln/static_graph/model.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_data.hpp"

namespace kiln::test::static_graph_harness {

namespace sg = kiln::static_graph;
using test::at;
using Sizes = std::vector<std::int64_t>;
inline constexpr DType f32 = DType::f32;

inline bool contains(std::string_view text, std::string_view piece) { return text.find(piece) != std::string_view::npos; }

inline std::int64_t count_of(const Sizes& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

// The dims of a graph tensor, from its type.
template <class T>
Sizes sizes_of(T) {
  return Sizes(T::shape.dims, T::shape.dims + T::shape.rank);
}

// Node t's index in graph Net (by value: a constexpr node's declared type is const).
template <class Net, class T>
constexpr int index_in(T) {
  return Net::template index_of<T>;
}

// NumPy broadcasting of two shapes (aligned at the right).
inline Sizes broadcast(const Sizes& a, const Sizes& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Sizes out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const std::int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// The element of a row-major tensor of dims `in` that element `i` of a row-major `out`
// reads when `in` is broadcast to `out`.
inline std::int64_t source_of(std::int64_t i, const Sizes& out, const Sizes& in) {
  std::int64_t offset = 0, stride = 1;
  const auto shift = static_cast<std::int64_t>(out.size()) - static_cast<std::int64_t>(in.size());
  for (auto a = static_cast<std::int64_t>(out.size()); a-- > 0;) {
    const std::int64_t index = i % out[at(a)];
    i /= out[at(a)];
    const std::int64_t ia = a - shift;
    if (ia < 0) continue;
    if (in[at(ia)] != 1) offset += index * stride;
    stride *= in[at(ia)];
  }
  return offset;
}

template <class T>
Tensor make_tensor(const Sizes& dims, const std::vector<T>& values) {
  Result<Tensor> t = Tensor::empty(dtype_v<T>, std::span<const std::int64_t>(dims));
  REQUIRE(t.ok());
  REQUIRE(t->numel() == static_cast<std::int64_t>(values.size()));
  if (!values.empty()) std::memcpy(t->data_as<T>(), values.data(), values.size() * sizeof(T));
  return std::move(t).value();
}

// Signed values in [-scale, scale] (the first is exactly 0).
inline std::vector<float> signed_values(std::int64_t n, float phase, float scale = 1.0f) {
  return test::pattern(at(n), phase, scale);
}
template <class Net>
sg::Model<Net> make_model(ThreadPool* pool = nullptr) {
  Result<sg::Model<Net>> model = sg::Model<Net>::create(pool);
  INFO((model.ok() ? std::string() : model.status().to_string()));
  REQUIRE(model.ok());
  return std::move(model).value();
}

template <class M>
void bind_ok(M& model, std::string_view name, const Tensor& t) {
  const Status s = model.bind(name, t);
  INFO(s.to_string());
  REQUIRE(s.ok());
}

template <class M>
void run_ok(M& model, std::initializer_list<Tensor> inputs) {
  const Status s = model.run(inputs);
  INFO(s.to_string());
  REQUIRE(s.ok());
}

inline std::vector<double> values_of(const vm::Slot& s) {
  std::vector<double> v(at(s.elements()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    switch (s.dtype) {
      case DType::f32: v[i] = static_cast<double>(s.data_as<float>()[i]); break;
      case DType::i32: v[i] = static_cast<double>(s.data_as<std::int32_t>()[i]); break;
      case DType::i64: v[i] = static_cast<double>(s.data_as<std::int64_t>()[i]); break;
      case DType::boolean: v[i] = s.data_as<bool>()[i] ? 1.0 : 0.0; break;
      default: FAIL("values_of: unexpected dtype"); break;
    }
  }
  return v;
}


// An output against its expected dtype, dims and values: |got - want| <= tolerance * (1 + |want|).
inline void check_slot(const vm::Slot& out, DType dtype, const Sizes& dims, const std::vector<double>& want,
                double tolerance = 1e-5) {
  CHECK(out.dtype == dtype);
  CHECK(Sizes(out.dims, out.dims + out.rank) == dims);
  REQUIRE(out.elements() == static_cast<std::int64_t>(want.size()));
  const std::vector<double> got = values_of(out);
  std::size_t mismatches = 0, first = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const bool ok = std::isnan(want[i]) ? std::isnan(got[i])
                                        : std::fabs(got[i] - want[i]) <= tolerance * (1.0 + std::fabs(want[i]));
    if (!ok && mismatches++ == 0) first = i;
  }
  INFO(mismatches, " mismatches, the first at element ", first, ": got ", (want.empty() ? 0.0 : got[first]),
       ", expected ", (want.empty() ? 0.0 : want[first]));
  CHECK(mismatches == 0);
}

} // namespace kiln::test::static_graph_harness
