// kiln/vm/ops/topk.hpp: the CPU kernel of the dynamic module's topk, with ONNX's semantics:
// the k largest (or smallest) elements along one axis, as values of the input's dtype and
// their i64 indices along the axis.
//
// k is the outputs' extent along the axis: the VM has resolved the attribute (a symbolic
// dim, bound at run) into the output shapes, so the kernel reads it there.
//
// Each row along the axis is copied into scratch as (value, index) pairs, the k first in
// order are selected (std::nth_element, linear time) and, when `sorted`, sorted; with
// `sorted` false they come in the selection's order. The order is strict and total: a better
// value first, and of equal values the lower index first, as ONNX requires. NaN counts as
// larger than every number (NumPy's sort order; ONNX leaves it open): the largest k start
// with the NaNs and the smallest k end with them, and NaNs among themselves go by index.
//
// Rows are shared among the pool's threads, one participant per thread with its own scratch.
// Every numeric dtype; f16 and bf16 compare as f32 (exactly).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace topk_impl {

using relax::OpKind;
using cpu_support::op_error;

inline constexpr std::string_view kAccepted = "numeric dtypes only";

// At most this many threads select side by side (each needs a row of scratch).
inline constexpr std::int64_t kMaxParticipants = 64;

// What values compare as: f32 for the 16-bit floats.
template <class T>
using Key = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float, T>;

template <class K>
struct Entry {
  K value;
  std::int64_t index;
};

// a > b, with NaN above every number and equal to itself.
template <class K>
inline bool larger(K a, K b) noexcept {
  if constexpr (std::is_floating_point_v<K>) return a > b || (a != a && b == b);
  else return a > b;
}

// Whether `a` comes before `b` in the output: the better value, or on a tie the lower index.
template <class K, bool Largest>
struct Precedes {
  bool operator()(const Entry<K>& a, const Entry<K>& b) const noexcept {
    const bool a_better = Largest ? larger(a.value, b.value) : larger(b.value, a.value);
    const bool b_better = Largest ? larger(b.value, a.value) : larger(a.value, b.value);
    return a_better || (!b_better && a.index < b.index);
  }
};

// The input as [outer, n, inner] around the axis, and k.
struct Extents {
  std::int64_t outer = 0;
  std::int64_t n = 0;
  std::int64_t inner = 0;
  std::int64_t k = 0;
  std::int64_t rows() const noexcept { return outer * inner; }
};

inline std::size_t entry_bytes(DType dtype) noexcept {
  return visit_dtype(dtype, [](auto zero) { return sizeof(Entry<Key<decltype(zero)>>); });
}

inline std::int64_t participants_for(const Extents& e, int threads) noexcept {
  if (threads <= 1 || e.rows() <= 1 || e.rows() * e.n < cpu_support::kParallelMinElements) return 1;
  return std::min({static_cast<std::int64_t>(threads), e.rows(), kMaxParticipants});
}

// Rows [first, last): values and indices of the k first of each, through `entries` (n of them).
template <class T, bool Largest>
void select_rows(const T* x, T* values, std::int64_t* indices, const Extents& e, bool sorted, Entry<Key<T>>* entries,
                 std::int64_t first, std::int64_t last) noexcept {
  const Precedes<Key<T>, Largest> precedes;
  for (std::int64_t row = first; row < last; ++row) {
    const std::int64_t o = row / e.inner;
    const std::int64_t j = row % e.inner;
    const T* line = x + o * e.n * e.inner + j;
    for (std::int64_t i = 0; i < e.n; ++i) entries[i] = {static_cast<Key<T>>(line[i * e.inner]), i};
    if (e.k < e.n) std::nth_element(entries, entries + e.k, entries + e.n, precedes);
    if (sorted) std::sort(entries, entries + e.k, precedes);
    T* value_line = values + o * e.k * e.inner + j;
    std::int64_t* index_line = indices + o * e.k * e.inner + j;
    for (std::int64_t i = 0; i < e.k; ++i) {
      value_line[i * e.inner] = static_cast<T>(entries[i].value);
      index_line[i * e.inner] = entries[i].index;
    }
  }
}

// The extents of a call, or an error when its slots do not fit one another.
inline Status extents_of(const OpCall& call, Extents& e) {
  constexpr OpKind op = OpKind::topk;
  if (call.input(0) == nullptr || call.outputs.size() != 2 || call.outputs[0] == nullptr || call.outputs[1] == nullptr)
    return op_error(StatusCode::internal, op, "expects an input slot and two output slots");
  const auto* attrs = std::get_if<relax::TopKAttrs>(call.attrs);
  if (attrs == nullptr) return op_error(StatusCode::internal, op, "expects topk attributes");
  const Slot& x = *call.input(0);
  const Slot& values = call.output(0);
  const Slot& indices = call.output(1);
  const int axis = cpu_support::resolve_axis(attrs->axis, x.rank);
  if (axis < 0) return op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", x.rank);
  if (values.dtype != x.dtype)
    return cpu_support::dtype_unsupported(op, "values output", values.dtype, "the input's dtype");
  if (indices.dtype != DType::i64)
    return cpu_support::dtype_unsupported(op, "indices output", indices.dtype, "i64 only");
  bool fits = values.rank == x.rank && cpu_support::same_dims(values, indices);
  for (int a = 0; fits && a < x.rank; ++a) fits = a == axis || values.dims[a] == x.dims[a];
  if (!fits)
    return op_error(StatusCode::shape_mismatch, op, "the outputs must have the input's shape but along axis ", axis);
  e.outer = cpu_support::extent_product(x, 0, axis);
  e.n = x.dims[axis];
  e.inner = cpu_support::extent_product(x, axis + 1, x.rank);
  e.k = values.dims[axis];
  if (attrs->k.is_constant() && attrs->k.constant_value() != e.k)
    return op_error(StatusCode::shape_mismatch, op, "k is ", attrs->k.constant_value(), ", the outputs have ", e.k,
                    " along axis ", axis);
  if (e.k > e.n)
    return op_error(StatusCode::out_of_range, op, "k = ", e.k, " exceeds the extent ", e.n, " of axis ", axis);
  return {};
}

inline std::size_t scratch_bytes(const OpCall& call) {
  Extents e;
  if (!extents_of(call, e).ok() || e.k == 0) return 0;
  return static_cast<std::size_t>(participants_for(e, call.threads()) * e.n) * entry_bytes(call.input(0)->dtype);
}

inline Status run(const OpCall& call) {
  constexpr OpKind op = OpKind::topk;
  Extents e;
  KILN_RETURN_IF_ERROR(extents_of(call, e));
  const Slot& x = *call.input(0);
  const Slot& values = call.output(0);
  const Slot& indices = call.output(1);
  if (!x.contiguous() || !values.contiguous() || !indices.contiguous())
    return op_error(StatusCode::unsupported, op, "non-contiguous operands are not supported");
  if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(op, "input", x.dtype, kAccepted);
  if (e.rows() == 0 || e.k == 0) return {};
  const std::size_t row_bytes = static_cast<std::size_t>(e.n) * entry_bytes(x.dtype);
  const std::int64_t participants = std::min(participants_for(e, call.threads()),
                                             static_cast<std::int64_t>(call.scratch.size() / row_bytes));
  if (participants < 1)
    return op_error(StatusCode::internal, op, "scratch of ", call.scratch.size(),
                    " bytes is smaller than scratch_bytes asked for");
  const bool largest = std::get<relax::TopKAttrs>(*call.attrs).largest;
  const bool sorted = std::get<relax::TopKAttrs>(*call.attrs).sorted;
  visit_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same_v<T, bool>) {
      auto* scratch = reinterpret_cast<Entry<Key<T>>*>(call.scratch.data());
      // Participant p selects its share of the rows in its own slice of scratch.
      const auto participate = [&](std::int64_t p) {
        const ThreadPool::ChunkRange r = ThreadPool::chunk_range(0, e.rows(), participants, p);
        Entry<Key<T>>* entries = scratch + p * e.n;
        if (largest)
          select_rows<T, true>(x.data_as<const T>(), values.data_as<T>(), indices.data_as<std::int64_t>(), e, sorted,
                               entries, r.begin, r.end);
        else
          select_rows<T, false>(x.data_as<const T>(), values.data_as<T>(), indices.data_as<std::int64_t>(), e, sorted,
                                entries, r.begin, r.end);
      };
      if (participants == 1 || call.pool == nullptr) {
        for (std::int64_t p = 0; p < participants; ++p) participate(p);
        return;
      }
      call.pool->parallel_for(0, participants, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t p = begin; p < end; ++p) participate(p);
      });
    }
  });
  return {};
}

inline Status supports(const relax::Binding& b, const relax::Function& fn) {
  constexpr OpKind op = OpKind::topk;
  if (b.inputs.size() != 1 || cpu_support::input_type(b, fn, 0) == nullptr)
    return op_error(StatusCode::invalid_argument, op, "takes one input, got ", b.inputs.size());
  if (b.outputs.size() != 2 || cpu_support::output_type(b, fn, 0) == nullptr ||
      cpu_support::output_type(b, fn, 1) == nullptr)
    return op_error(StatusCode::invalid_argument, op, "expects two outputs (values and indices), got ",
                    b.outputs.size());
  const relax::TensorType& x = *cpu_support::input_type(b, fn, 0);
  const relax::TensorType& values = *cpu_support::output_type(b, fn, 0);
  const relax::TensorType& indices = *cpu_support::output_type(b, fn, 1);
  if (x.rank < 1 || x.rank > kMaxRank)
    return op_error(StatusCode::unsupported, op, "inputs of rank ", x.rank, " are not supported (1 to ", kMaxRank, ")");
  if (x.dtype == DType::boolean) return cpu_support::dtype_unsupported(op, "input", x.dtype, kAccepted);
  if (values.dtype != x.dtype)
    return cpu_support::dtype_unsupported(op, "values output", values.dtype, "the input's dtype");
  if (indices.dtype != DType::i64)
    return cpu_support::dtype_unsupported(op, "indices output", indices.dtype, "i64 only");
  const auto* attrs = std::get_if<relax::TopKAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, op, "expects topk attributes");
  if (cpu_support::resolve_axis(attrs->axis, x.rank) < 0)
    return op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", x.rank);
  if (!attrs->k.valid() || (attrs->k.is_constant() && attrs->k.constant_value() < 0))
    return op_error(StatusCode::invalid_argument, op, "k must be a dim of 0 or more");
  return {};
}

inline constexpr OpKernel kKernel{&supports, &scratch_bytes, &run};

} // namespace topk_impl

// The CPU kernel of topk; null for other ops.
inline const OpKernel* cpu_topk_kernel(relax::OpKind op) {
  return op == relax::OpKind::topk ? &topk_impl::kKernel : nullptr;
}

} // namespace kiln::vm
