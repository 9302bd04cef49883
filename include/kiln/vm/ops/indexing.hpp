// kiln/vm/ops/indexing.hpp: the CPU kernels of the dynamic module's ops that read or write
// single elements through an index tensor, with ONNX's semantics: gather_elements,
// scatter_elements and scatter_nd.
//
// Indices are i32 or i64, and a negative one counts from the end of its axis. Every index is
// checked before it is used: one out of range stops the run with an out_of_range error that
// names the op, the first bad index (in the indices' row-major order), its axis and that
// axis's extent, and nothing outside the operands is read or written.
//
// gather_elements and scatter_elements walk the indices row by row (a row runs along their
// last axis); each position reads or writes the data at its own coordinates, except along
// `axis`, where the index read there is the coordinate. The indices may be smaller than the
// data on the other axes. gather_elements copies raw elements, so every dtype works.
//
// The scatters start from a copy of the data and apply the updates in the indices' row-major
// order, so with a repeated index and no reduction the last update wins (ONNX leaves that
// case undefined; its reference does the same). The reductions add, mul, max and min take
// every numeric dtype: integers wrap, f16 and bf16 compute in f32, and max and min propagate
// NaN (as NumPy's maximum and minimum do). Threads split the work only where two updates can
// never meet: scatter_elements by the coordinates before the axis and by columns of the last
// axis (when that is not the axis), scatter_nd by columns of the updated slices.
//
// Operands are contiguous (row-major), as the VM's planner lays them out.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
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
namespace indexing_impl {

using relax::OpKind;
using relax::ScatterReduction;
using cpu_support::op_error;

// ---- indices ----------------------------------------------------------------------------------

// An index tensor's elements, i32 or i64, read as i64 (the branch is the same for every
// element, so it costs next to nothing).
struct IndexReader {
  const void* data = nullptr;
  bool wide = false;

  std::int64_t operator[](std::int64_t i) const noexcept {
    return wide ? static_cast<const std::int64_t*>(data)[i] : std::int64_t{static_cast<const std::int32_t*>(data)[i]};
  }
};

inline IndexReader reader_of(const Slot& indices) noexcept { return {indices.data, indices.dtype == DType::i64}; }

inline Status check_index_dtype(OpKind op, DType dtype) {
  if (dtype == DType::i32 || dtype == DType::i64) return {};
  return op_error(StatusCode::unsupported, op, "indices must be i32 or i64, got ", to_string(dtype));
}

// `index` as a coordinate in [0, extent), a negative one counted from the end; -1 when it is
// out of range.
inline std::int64_t resolve_index(std::int64_t index, std::int64_t extent) noexcept {
  if (index < 0) index += extent;
  return index >= 0 && index < extent ? index : -1;
}

inline Status index_error(OpKind op, std::int64_t index, std::int64_t position, int axis, std::int64_t extent) {
  return op_error(StatusCode::out_of_range, op, "index ", index, " (element ", position,
                  " of the indices) is out of range for axis ", axis, " of extent ", extent);
}

// The first index out of range when every index addresses `axis` (gather_elements and
// scatter_elements); called once a run has seen one, to name it.
inline Status first_bad_index(OpKind op, const Slot& indices, int axis, std::int64_t extent) {
  const IndexReader idx = reader_of(indices);
  const std::int64_t count = indices.elements();
  for (std::int64_t p = 0; p < count; ++p)
    if (resolve_index(idx[p], extent) < 0) return index_error(op, idx[p], p, axis, extent);
  return op_error(StatusCode::internal, op, "an index was out of range, but none is now");
}

// ---- checks shared by the three ops -----------------------------------------------------------

inline Status require_contiguous(OpKind op, std::initializer_list<const Slot*> slots) {
  for (const Slot* s : slots)
    if (!s->contiguous()) return op_error(StatusCode::unsupported, op, "non-contiguous operands are not supported");
  return {};
}

inline Status check_data_rank(OpKind op, const relax::TensorType& data) {
  if (data.rank < 1 || data.rank > kMaxRank)
    return op_error(StatusCode::unsupported, op, "data of rank ", data.rank, " is not supported (1 to ", kMaxRank,
                    ")");
  return {};
}

inline Status check_index_type(OpKind op, const relax::TensorType& indices) {
  KILN_RETURN_IF_ERROR(check_index_dtype(op, indices.dtype));
  if (indices.rank < 1 || indices.rank > kMaxRank)
    return op_error(StatusCode::unsupported, op, "indices of rank ", indices.rank, " are not supported");
  return {};
}

// A reduction computes on the elements: bool has no arithmetic.
inline Status check_reduction_dtype(OpKind op, ScatterReduction reduction, DType dtype) {
  if (reduction == ScatterReduction::none || dtype != DType::boolean) return {};
  return op_error(StatusCode::unsupported, op, to_string(dtype), " data is not supported with reduction ",
                  relax::detail::to_string(reduction), " (numeric dtypes only)");
}

// ---- element types ----------------------------------------------------------------------------

// Calls fn(I{}) with the integer element type of an element's size: what a plain copy moves
// (its bits, whatever the dtype).
template <class Fn>
void visit_element_bits(std::size_t size, Fn&& fn) {
  switch (size) {
    case 1: fn(std::int8_t{}); return;
    case 2: fn(std::int16_t{}); return;
    case 4: fn(std::int32_t{}); return;
    default: fn(std::int64_t{}); return;
  }
}

template <class T>
inline constexpr bool is_narrow_float_v = std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

template <class T>
inline bool is_nan(T v) noexcept {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// dst = combine(dst, update) under a reduction; none overwrites.
template <ScatterReduction R, class T>
inline void combine(T& dst, T update) noexcept {
  if constexpr (R == ScatterReduction::none) {
    dst = update;
  } else if constexpr (is_narrow_float_v<T>) {
    float wide = dst;
    combine<R>(wide, static_cast<float>(update));
    dst = T(wide);
  } else if constexpr (R == ScatterReduction::add) {
    if constexpr (std::is_integral_v<T>)  // wraps, without signed overflow
      dst = static_cast<T>(static_cast<std::uint64_t>(dst) + static_cast<std::uint64_t>(update));
    else dst = dst + update;
  } else if constexpr (R == ScatterReduction::mul) {
    if constexpr (std::is_integral_v<T>)
      dst = static_cast<T>(static_cast<std::uint64_t>(dst) * static_cast<std::uint64_t>(update));
    else dst = dst * update;
  } else if constexpr (R == ScatterReduction::max) {
    // A NaN update wins; a NaN already there stays (no comparison with it is true).
    if (dst < update || is_nan(update)) dst = update;
  } else {
    if (update < dst || is_nan(update)) dst = update;
  }
}

// Calls apply(std::integral_constant<ScatterReduction, R>{}, T{}) for the reduction and the
// type it computes in: the element's bits for none (a copy), the dtype's C++ type otherwise.
// A reduction over bool does nothing (check_reduction_dtype refuses it first).
template <class Apply>
void visit_reduction(ScatterReduction reduction, DType dtype, Apply&& apply) {
  using R = ScatterReduction;
  if (reduction == R::none) {
    visit_element_bits(size_of(dtype), [&](auto bits) { apply(std::integral_constant<R, R::none>{}, bits); });
    return;
  }
  visit_dtype(dtype, [&](auto zero) {
    if constexpr (!std::is_same_v<decltype(zero), bool>) {
      switch (reduction) {
        case R::add: apply(std::integral_constant<R, R::add>{}, zero); return;
        case R::mul: apply(std::integral_constant<R, R::mul>{}, zero); return;
        case R::max: apply(std::integral_constant<R, R::max>{}, zero); return;
        case R::min: apply(std::integral_constant<R, R::min>{}, zero); return;
        case R::none: return;
      }
    }
  });
}

// out = data, element blocks shared among the pool's threads when large; nothing to do when
// the output already is the data.
inline void copy_data(const Slot& data, const Slot& out, ThreadPool* pool) {
  if (out.data == data.data) return;
  constexpr std::int64_t kBlock = std::int64_t{1} << 14;
  const std::int64_t count = data.elements();
  const std::size_t size = size_of(data.dtype);
  const auto* src = static_cast<const std::byte*>(data.data);
  auto* dst = static_cast<std::byte*>(out.data);
  cpu_support::parallel_items(pool, (count + kBlock - 1) / kBlock, kBlock, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t first = begin * kBlock;
    const std::int64_t last = std::min(count, end * kBlock);
    std::memcpy(dst + first * static_cast<std::int64_t>(size), src + first * static_cast<std::int64_t>(size),
                static_cast<std::size_t>(last - first) * size);
  });
}

// ---- gather_elements and scatter_elements: the walk over the indices ---------------------------

// The positions of an index tensor of the data's rank, row by row along its last axis, and
// where each lands in the (row-major) data: at its own coordinates, except along `axis`.
struct ElementWalk {
  int rank = 0;
  int axis = 0;
  std::int64_t dims[kMaxRank] = {};          // the indices'
  std::int64_t data_strides[kMaxRank] = {};  // the data's, row-major
  std::int64_t extent = 0;                   // the data's along `axis`
  std::int64_t row_length = 1;
  std::int64_t rows = 1;

  // The data offset of row `row`'s first position, without the axis's coordinate.
  std::int64_t data_base(std::int64_t row) const noexcept {
    std::int64_t offset = 0;
    for (int a = rank - 1; a-- > 0;) {
      const std::int64_t coordinate = row % dims[a];
      row /= dims[a];
      if (a != axis) offset += coordinate * data_strides[a];
    }
    return offset;
  }
  // How far the data moves per step along a row: not at all when the row runs along the axis.
  std::int64_t column_step() const noexcept { return axis == rank - 1 ? 0 : 1; }
  std::int64_t axis_stride() const noexcept { return data_strides[axis]; }
};

// The walk of `indices` into `data`, or an error when the indices do not fit the data.
inline Status make_walk(OpKind op, const Slot& data, const Slot& indices, std::int64_t attr_axis, ElementWalk& w) {
  w.rank = data.rank;
  w.axis = cpu_support::resolve_axis(attr_axis, data.rank);
  if (w.axis < 0) return op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", data.rank);
  if (indices.rank != data.rank)
    return op_error(StatusCode::shape_mismatch, op, "the indices have rank ", indices.rank, ", the data ", data.rank);
  std::int64_t stride = 1;
  for (int a = data.rank; a-- > 0;) {
    if (a != w.axis && indices.dims[a] > data.dims[a])
      return op_error(StatusCode::shape_mismatch, op, "the indices have extent ", indices.dims[a], " on axis ", a,
                      ", beyond the data's ", data.dims[a]);
    w.dims[a] = indices.dims[a];
    w.data_strides[a] = stride;
    stride *= data.dims[a];
  }
  w.extent = data.dims[w.axis];
  w.row_length = indices.dims[data.rank - 1];
  w.rows = cpu_support::extent_product(indices, 0, data.rank - 1);
  return {};
}

// ---- gather_elements ---------------------------------------------------------------------------

// Rows [first, last) of out = data[.., indices[..], ..]; false at the first index out of range.
template <class E>
bool gather_rows(const ElementWalk& w, const E* data, IndexReader idx, E* out, std::int64_t first,
                 std::int64_t last) noexcept {
  const std::int64_t step = w.column_step();
  const std::int64_t axis_stride = w.axis_stride();
  for (std::int64_t row = first; row < last; ++row) {
    const E* base = data + w.data_base(row);
    const std::int64_t at = row * w.row_length;
    for (std::int64_t j = 0; j < w.row_length; ++j) {
      const std::int64_t i = resolve_index(idx[at + j], w.extent);
      if (i < 0) return false;
      out[at + j] = base[j * step + i * axis_stride];
    }
  }
  return true;
}

inline Status gather_elements_run(const OpCall& call) {
  constexpr OpKind op = OpKind::gather_elements;
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 2));
  const Slot& data = *call.input(0);
  const Slot& indices = *call.input(1);
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous(op, {&data, &indices, &out}));
  KILN_RETURN_IF_ERROR(check_index_dtype(op, indices.dtype));
  if (out.dtype != data.dtype) return cpu_support::dtype_unsupported(op, "output", out.dtype, "the data's dtype");
  if (!cpu_support::same_dims(out, indices))
    return op_error(StatusCode::shape_mismatch, op, "the output must have the indices' shape");
  const auto* attrs = std::get_if<relax::AxisAttrs>(call.attrs);
  if (attrs == nullptr) return op_error(StatusCode::internal, op, "expects axis attributes");
  ElementWalk w;
  KILN_RETURN_IF_ERROR(make_walk(op, data, indices, attrs->axis, w));
  if (out.elements() == 0) return {};
  std::atomic<bool> out_of_range{false};
  visit_element_bits(size_of(data.dtype), [&](auto bits) {
    using E = decltype(bits);
    cpu_support::parallel_items(call.pool, w.rows, w.row_length, [&](std::int64_t begin, std::int64_t end) {
      if (!gather_rows(w, data.data_as<const E>(), reader_of(indices), out.data_as<E>(), begin, end))
        out_of_range.store(true, std::memory_order_relaxed);
    });
  });
  if (out_of_range.load()) return first_bad_index(op, indices, w.axis, w.extent);
  return {};
}

// The load-time checks gather_elements and scatter_elements share: the data's rank, the
// indices' dtype, and the axis within the data's rank.
inline Status check_axis_operands(OpKind op, const relax::TensorType& data, const relax::TensorType& indices,
                                  std::int64_t axis) {
  KILN_RETURN_IF_ERROR(check_data_rank(op, data));
  KILN_RETURN_IF_ERROR(check_index_type(op, indices));
  if (cpu_support::resolve_axis(axis, data.rank) < 0)
    return op_error(StatusCode::invalid_argument, op, "the axis is out of range for rank ", data.rank);
  return {};
}

inline Status gather_elements_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 2, 2));
  const relax::TensorType& data = *cpu_support::input_type(b, fn, 0);
  const relax::TensorType& indices = *cpu_support::input_type(b, fn, 1);
  const relax::TensorType& out = *cpu_support::output_type(b, fn);
  const auto* attrs = std::get_if<relax::AxisAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, b.op, "expects axis attributes");
  KILN_RETURN_IF_ERROR(check_axis_operands(b.op, data, indices, attrs->axis));
  if (indices.rank != data.rank)
    return op_error(StatusCode::shape_mismatch, b.op, "the indices have rank ", indices.rank, ", the data ", data.rank);
  if (out.dtype != data.dtype) return cpu_support::dtype_unsupported(b.op, "output", out.dtype, "the data's dtype");
  return {};
}

// ---- scatter_elements --------------------------------------------------------------------------

// Applies the updates of `items`, each a block of whole rows (one set of coordinates before
// the axis) cut to columns [piece * p, piece * (p + 1)) of the last axis; false at the first
// index out of range.
template <ScatterReduction R, class T>
bool scatter_items(const ElementWalk& w, IndexReader idx, const T* updates, T* out, std::int64_t rows_per_item,
                   std::int64_t piece, std::int64_t pieces, std::int64_t first, std::int64_t last) noexcept {
  const std::int64_t step = w.column_step();
  const std::int64_t axis_stride = w.axis_stride();
  for (std::int64_t item = first; item < last; ++item) {
    const std::int64_t block = item / pieces;
    const std::int64_t column_begin = (item % pieces) * piece;
    const std::int64_t column_end = std::min(w.row_length, column_begin + piece);
    for (std::int64_t row = block * rows_per_item; row < (block + 1) * rows_per_item; ++row) {
      T* base = out + w.data_base(row);
      const std::int64_t at = row * w.row_length;
      for (std::int64_t j = column_begin; j < column_end; ++j) {
        const std::int64_t i = resolve_index(idx[at + j], w.extent);
        if (i < 0) return false;
        combine<R>(base[j * step + i * axis_stride], updates[at + j]);
      }
    }
  }
  return true;
}

inline Status scatter_elements_run(const OpCall& call) {
  constexpr OpKind op = OpKind::scatter_elements;
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 3));
  const Slot& data = *call.input(0);
  const Slot& indices = *call.input(1);
  const Slot& updates = *call.input(2);
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous(op, {&data, &indices, &updates, &out}));
  const auto* scatter_attrs = std::get_if<relax::ScatterAttrs>(call.attrs);
  if (scatter_attrs == nullptr) return op_error(StatusCode::internal, op, "expects scatter attributes");
  const relax::ScatterAttrs& attrs = *scatter_attrs;
  KILN_RETURN_IF_ERROR(check_index_dtype(op, indices.dtype));
  if (updates.dtype != data.dtype || out.dtype != data.dtype)
    return op_error(StatusCode::dtype_mismatch, op, "the updates and the output must have the data's dtype");
  if (!cpu_support::same_dims(out, data))
    return op_error(StatusCode::shape_mismatch, op, "the output must have the data's shape");
  if (!cpu_support::same_dims(updates, indices))
    return op_error(StatusCode::shape_mismatch, op, "the updates must have the indices' shape");
  KILN_RETURN_IF_ERROR(check_reduction_dtype(op, attrs.reduction, data.dtype));
  ElementWalk w;
  KILN_RETURN_IF_ERROR(make_walk(op, data, indices, attrs.axis, w));
  copy_data(data, out, call.pool);
  if (indices.elements() == 0) return {};
  // Updates that may land on one element share every coordinate but the axis's: an item is
  // one set of coordinates before the axis (all the rows from the axis on), and, when the
  // rows do not run along the axis, a piece of their columns.
  const std::int64_t items_before_axis = cpu_support::extent_product(indices, 0, w.axis);
  const std::int64_t rows_per_item =
      w.axis == w.rank - 1 ? 1 : cpu_support::extent_product(indices, w.axis, w.rank - 1);
  const bool split_columns = w.axis != w.rank - 1 && items_before_axis < 8;
  const std::int64_t piece = split_columns ? std::max<std::int64_t>(256, (w.row_length + 7) / 8) : w.row_length;
  const std::int64_t pieces = (w.row_length + piece - 1) / piece;
  std::atomic<bool> out_of_range{false};
  visit_reduction(attrs.reduction, data.dtype, [&](auto reduction, auto zero) {
    constexpr ScatterReduction R = decltype(reduction)::value;
    using T = decltype(zero);
    cpu_support::parallel_items(call.pool, items_before_axis * pieces, rows_per_item * piece,
                                [&](std::int64_t begin, std::int64_t end) {
                                  if (!scatter_items<R>(w, reader_of(indices), updates.data_as<const T>(),
                                                        out.data_as<T>(), rows_per_item, piece, pieces, begin, end))
                                    out_of_range.store(true, std::memory_order_relaxed);
                                });
  });
  if (out_of_range.load()) return first_bad_index(op, indices, w.axis, w.extent);
  return {};
}

inline Status scatter_elements_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 3, 3));
  const relax::TensorType& data = *cpu_support::input_type(b, fn, 0);
  const relax::TensorType& indices = *cpu_support::input_type(b, fn, 1);
  const relax::TensorType& updates = *cpu_support::input_type(b, fn, 2);
  const relax::TensorType& out = *cpu_support::output_type(b, fn);
  const auto* attrs = std::get_if<relax::ScatterAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, b.op, "expects scatter attributes");
  KILN_RETURN_IF_ERROR(check_axis_operands(b.op, data, indices, attrs->axis));
  if (indices.rank != data.rank || updates.rank != data.rank)
    return op_error(StatusCode::shape_mismatch, b.op, "the indices and updates must have the data's rank ", data.rank);
  if (updates.dtype != data.dtype || out.dtype != data.dtype)
    return op_error(StatusCode::dtype_mismatch, b.op, "the updates and the output must have the data's dtype, ",
                    to_string(data.dtype));
  return check_reduction_dtype(b.op, attrs->reduction, data.dtype);
}

// ---- scatter_nd --------------------------------------------------------------------------------

// indices [..., depth] address slices data[i0, ..., i(depth-1)] of `slice` elements each;
// update u is row u of updates [updates, slice].
struct SliceWalk {
  int depth = 0;
  std::int64_t updates = 0;
  std::int64_t slice = 1;
  std::int64_t extents[kMaxRank] = {};  // the data's, over the addressed axes
  std::int64_t strides[kMaxRank] = {};  // the data's, row-major

  // The data offset update u addresses; -1 when an index is out of range.
  std::int64_t offset_of(IndexReader idx, std::int64_t u) const noexcept {
    std::int64_t offset = 0;
    for (int c = 0; c < depth; ++c) {
      const std::int64_t i = resolve_index(idx[u * depth + c], extents[c]);
      if (i < 0) return -1;
      offset += i * strides[c];
    }
    return offset;
  }
};

inline Status make_slice_walk(const Slot& data, const Slot& indices, const Slot& updates, SliceWalk& w) {
  constexpr OpKind op = OpKind::scatter_nd;
  const std::int64_t depth = indices.dims[indices.rank - 1];
  if (depth > data.rank)
    return op_error(StatusCode::shape_mismatch, op, "the indices address ", depth, " axes of data of rank ",
                    data.rank);
  w.depth = static_cast<int>(depth);
  w.updates = cpu_support::extent_product(indices, 0, indices.rank - 1);
  w.slice = cpu_support::extent_product(data, w.depth, data.rank);
  std::int64_t stride = w.slice;
  for (int c = w.depth; c-- > 0;) {
    w.extents[c] = data.dims[c];
    w.strides[c] = stride;
    stride *= data.dims[c];
  }
  // updates: the indices' dims but the last, then the data's from `depth` on.
  const int expected_rank = indices.rank - 1 + data.rank - w.depth;
  bool fits = updates.rank == expected_rank;
  for (int a = 0; fits && a < expected_rank; ++a)
    fits = updates.dims[a] == (a < indices.rank - 1 ? indices.dims[a] : data.dims[a - (indices.rank - 1) + w.depth]);
  if (!fits)
    return op_error(StatusCode::shape_mismatch, op, "the updates must have the indices' dims but the last, then the ",
                    "data's dims from axis ", w.depth, " on");
  return {};
}

inline Status first_bad_slice_index(const Slot& indices, const SliceWalk& w) {
  const IndexReader idx = reader_of(indices);
  for (std::int64_t p = 0; p < w.updates * w.depth; ++p) {
    const int axis = static_cast<int>(p % w.depth);
    if (resolve_index(idx[p], w.extents[axis]) < 0)
      return index_error(OpKind::scatter_nd, idx[p], p, axis, w.extents[axis]);
  }
  return op_error(StatusCode::internal, OpKind::scatter_nd, "an index was out of range, but none is now");
}

// Every update, cut to columns [column_begin, column_end) of its slice; false at the first
// index out of range.
template <ScatterReduction R, class T>
bool scatter_slices(const SliceWalk& w, IndexReader idx, const T* updates, T* out, std::int64_t column_begin,
                    std::int64_t column_end) noexcept {
  for (std::int64_t u = 0; u < w.updates; ++u) {
    const std::int64_t offset = w.offset_of(idx, u);
    if (offset < 0) return false;
    T* dst = out + offset;
    const T* src = updates + u * w.slice;
    for (std::int64_t j = column_begin; j < column_end; ++j) combine<R>(dst[j], src[j]);
  }
  return true;
}

inline Status scatter_nd_run(const OpCall& call) {
  constexpr OpKind op = OpKind::scatter_nd;
  KILN_RETURN_IF_ERROR(cpu_support::require_inputs(call, 3));
  const Slot& data = *call.input(0);
  const Slot& indices = *call.input(1);
  const Slot& updates = *call.input(2);
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous(op, {&data, &indices, &updates, &out}));
  const auto* scatter_attrs = std::get_if<relax::ScatterAttrs>(call.attrs);
  if (scatter_attrs == nullptr) return op_error(StatusCode::internal, op, "expects scatter attributes");
  const relax::ScatterAttrs& attrs = *scatter_attrs;
  KILN_RETURN_IF_ERROR(check_index_dtype(op, indices.dtype));
  if (indices.rank < 1) return op_error(StatusCode::shape_mismatch, op, "the indices must have rank 1 or more");
  if (updates.dtype != data.dtype || out.dtype != data.dtype)
    return op_error(StatusCode::dtype_mismatch, op, "the updates and the output must have the data's dtype");
  if (!cpu_support::same_dims(out, data))
    return op_error(StatusCode::shape_mismatch, op, "the output must have the data's shape");
  KILN_RETURN_IF_ERROR(check_reduction_dtype(op, attrs.reduction, data.dtype));
  SliceWalk w;
  KILN_RETURN_IF_ERROR(make_slice_walk(data, indices, updates, w));
  copy_data(data, out, call.pool);
  if (w.updates == 0 || w.slice == 0) return {};
  // Updates may land anywhere, in any order: threads take pieces of every slice, each
  // applying all the updates to its columns in order.
  const std::int64_t piece = std::max<std::int64_t>(1024, (w.slice + 15) / 16);
  const std::int64_t pieces = (w.slice + piece - 1) / piece;
  std::atomic<bool> out_of_range{false};
  visit_reduction(attrs.reduction, data.dtype, [&](auto reduction, auto zero) {
    constexpr ScatterReduction R = decltype(reduction)::value;
    using T = decltype(zero);
    cpu_support::parallel_items(call.pool, pieces, w.updates * piece, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t p = begin; p < end; ++p) {
        const std::int64_t first = p * piece;
        if (!scatter_slices<R>(w, reader_of(indices), updates.data_as<const T>(), out.data_as<T>(), first,
                               std::min(w.slice, first + piece))) {
          out_of_range.store(true, std::memory_order_relaxed);
          return;
        }
      }
    });
  });
  if (out_of_range.load()) return first_bad_slice_index(indices, w);
  return {};
}

inline Status scatter_nd_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(cpu_support::check_operands(b, fn, 3, 3));
  const relax::TensorType& data = *cpu_support::input_type(b, fn, 0);
  const relax::TensorType& indices = *cpu_support::input_type(b, fn, 1);
  const relax::TensorType& updates = *cpu_support::input_type(b, fn, 2);
  const relax::TensorType& out = *cpu_support::output_type(b, fn);
  KILN_RETURN_IF_ERROR(check_data_rank(b.op, data));
  KILN_RETURN_IF_ERROR(check_index_type(b.op, indices));
  const auto* attrs = std::get_if<relax::ScatterAttrs>(&b.attrs);
  if (attrs == nullptr) return op_error(StatusCode::invalid_argument, b.op, "expects scatter attributes");
  const relax::SymDim& depth = indices.dims[indices.rank - 1];
  if (depth.is_constant() && depth.constant_value() > data.rank)
    return op_error(StatusCode::shape_mismatch, b.op, "the indices address ", depth.constant_value(),
                    " axes of data of rank ", data.rank);
  if (updates.rank < 0 || updates.rank > kMaxRank)
    return op_error(StatusCode::unsupported, b.op, "updates of rank ", updates.rank, " are not supported");
  if (updates.dtype != data.dtype || out.dtype != data.dtype)
    return op_error(StatusCode::dtype_mismatch, b.op, "the updates and the output must have the data's dtype, ",
                    to_string(data.dtype));
  return check_reduction_dtype(b.op, attrs->reduction, data.dtype);
}

inline constexpr OpKernel kGatherElements{&gather_elements_supports, nullptr, &gather_elements_run};
inline constexpr OpKernel kScatterElements{&scatter_elements_supports, nullptr, &scatter_elements_run};
inline constexpr OpKernel kScatterNd{&scatter_nd_supports, nullptr, &scatter_nd_run};

} // namespace indexing_impl

// The CPU kernel of gather_elements, scatter_elements and scatter_nd; null for other ops.
inline const OpKernel* cpu_index_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::gather_elements: return &indexing_impl::kGatherElements;
    case OpKind::scatter_elements: return &indexing_impl::kScatterElements;
    case OpKind::scatter_nd: return &indexing_impl::kScatterNd;
    default: return nullptr;
  }
}

} // namespace kiln::vm
