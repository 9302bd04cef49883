// kiln/vm/ops/movement.hpp: the CPU kernels of the ops that move elements without computing
// on them, for every dtype: identity (and the reshape family), transpose, concat, split,
// slice, gather, pad, tile, expand and shape_of.
//
// Almost all of them are one strided copy: a loop nest whose every axis has an extent, a
// source stride and a destination stride. A transpose permutes the source strides, a slice
// offsets them and multiplies them by its steps (negative steps give negative strides),
// expand gives broadcast axes a source stride of 0, tile splits each axis in two (repeat,
// extent) with the repeat's source stride 0, and concat, split and pad copy into or out of
// an offset window of the larger tensor. The copy works on raw bytes by element size, so
// the dtype never matters, and it merges axes that nest evenly, so a contiguous copy is
// one memcpy.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "encode_scalar.hpp"

namespace kiln::vm {
namespace movement_detail {

using relax::OpKind;

// tile splits every axis in two.
inline constexpr int kMaxCopyRank = 2 * kMaxRank;

// A strided copy: dst[sum i_a * dst_stride_a] = src[sum i_a * src_stride_a] over the extents.
struct CopyNest {
  int rank = 0;
  std::int64_t dims[kMaxCopyRank] = {};
  std::int64_t src[kMaxCopyRank] = {};  // in elements; may be negative or 0
  std::int64_t dst[kMaxCopyRank] = {};

  void push(std::int64_t extent, std::int64_t src_stride, std::int64_t dst_stride) noexcept {
    dims[rank] = extent;
    src[rank] = src_stride;
    dst[rank] = dst_stride;
    ++rank;
  }
  std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (int a = 0; a < rank; ++a) n *= dims[a];
    return n;
  }
};

// Drops axes of extent 1 and merges an axis into the next where both tensors step over it
// evenly, so that the innermost loop is as long as it can be.
inline void coalesce(CopyNest& nest) noexcept {
  CopyNest out;
  for (int a = 0; a < nest.rank; ++a) {
    if (nest.dims[a] == 1) continue;
    out.push(nest.dims[a], nest.src[a], nest.dst[a]);
  }
  int kept = 0;
  for (int a = 0; a < out.rank; ++a) {
    if (kept > 0) {
      const int prev = kept - 1;
      if (out.src[prev] == out.src[a] * out.dims[a] && out.dst[prev] == out.dst[a] * out.dims[a]) {
        out.dims[prev] *= out.dims[a];
        out.src[prev] = out.src[a];
        out.dst[prev] = out.dst[a];
        continue;
      }
    }
    out.dims[kept] = out.dims[a];
    out.src[kept] = out.src[a];
    out.dst[kept] = out.dst[a];
    ++kept;
  }
  out.rank = kept;
  nest = out;
}

// Element copies of a fixed size compile to one load and one store.
template <std::size_t Size>
struct Bytes {
  unsigned char b[Size];
};

template <std::size_t Size>
void copy_block_typed(std::byte* dst, const std::byte* src, std::int64_t rows, std::int64_t cols,
                      std::int64_t src_row, std::int64_t src_col, std::int64_t dst_row, std::int64_t dst_col) noexcept {
  using E = Bytes<Size>;
  auto* d = reinterpret_cast<E*>(dst);
  const auto* s = reinterpret_cast<const E*>(src);
  if (dst_col == 1 && src_row == 1 && src_col != 1 && rows > 1) {
    // A transpose: visit in square tiles so that both the strided reads and the unit-stride
    // writes stay within a few cache lines.
    constexpr std::int64_t kTile = 32;
    for (std::int64_t i0 = 0; i0 < rows; i0 += kTile) {
      const std::int64_t i1 = std::min(rows, i0 + kTile);
      for (std::int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const std::int64_t j1 = std::min(cols, j0 + kTile);
        for (std::int64_t i = i0; i < i1; ++i)
          for (std::int64_t j = j0; j < j1; ++j) d[i * dst_row + j] = s[i + j * src_col];
      }
    }
    return;
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    E* drow = d + i * dst_row;
    const E* srow = s + i * src_row;
    if (src_col == 1 && dst_col == 1) {
      std::memcpy(static_cast<void*>(drow), srow, static_cast<std::size_t>(cols) * Size);
    } else {
      for (std::int64_t j = 0; j < cols; ++j) drow[j * dst_col] = srow[j * src_col];
    }
  }
}

// A rows x cols block with strides in elements of `size` bytes.
inline void copy_block(std::size_t size, std::byte* dst, const std::byte* src, std::int64_t rows, std::int64_t cols,
                       std::int64_t src_row, std::int64_t src_col, std::int64_t dst_row,
                       std::int64_t dst_col) noexcept {
  switch (size) {
    case 1: copy_block_typed<1>(dst, src, rows, cols, src_row, src_col, dst_row, dst_col); return;
    case 2: copy_block_typed<2>(dst, src, rows, cols, src_row, src_col, dst_row, dst_col); return;
    case 4: copy_block_typed<4>(dst, src, rows, cols, src_row, src_col, dst_row, dst_col); return;
    case 8: copy_block_typed<8>(dst, src, rows, cols, src_row, src_col, dst_row, dst_col); return;
    default: {
      const auto s = static_cast<std::int64_t>(size);
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          std::memcpy(dst + (i * dst_row + j * dst_col) * s, src + (i * src_row + j * src_col) * s, size);
    }
  }
}

// Below this many bytes a copy stays on the caller's thread.
inline constexpr std::int64_t kParallelCopyBytes = std::int64_t{1} << 18;
inline constexpr std::int64_t kRowsPerUnit = 32;

// Copies the nest from `src` to `dst` (byte pointers at index 0 of both), elements of `size`
// bytes; on the pool when it is large.
inline void copy_nest(std::byte* dst, const std::byte* src, std::size_t size, CopyNest nest, ThreadPool* pool) {
  for (int a = 0; a < nest.rank; ++a)
    if (nest.dims[a] == 0) return;
  coalesce(nest);
  if (nest.rank == 0) {
    std::memcpy(dst, src, size);
    return;
  }
  // A transpose keeps its unit-stride source axis next to the innermost one, for tiling.
  const int inner = nest.rank - 1;
  if (nest.rank >= 3 && nest.dst[inner] == 1 && nest.src[inner] != 1) {
    for (int a = 0; a < inner - 1; ++a) {
      if (nest.src[a] == 1) {
        std::swap(nest.dims[a], nest.dims[inner - 1]);
        std::swap(nest.src[a], nest.src[inner - 1]);
        std::swap(nest.dst[a], nest.dst[inner - 1]);
        break;
      }
    }
  }
  // The innermost two axes form a block; the outer axes and blocks of kRowsPerUnit rows
  // are the units of work.
  const bool two_d = nest.rank >= 2;
  const std::int64_t rows = two_d ? nest.dims[nest.rank - 2] : 1;
  const std::int64_t cols = nest.dims[nest.rank - 1];
  const std::int64_t src_row = two_d ? nest.src[nest.rank - 2] : 0;
  const std::int64_t dst_row = two_d ? nest.dst[nest.rank - 2] : 0;
  const std::int64_t src_col = nest.src[nest.rank - 1];
  const std::int64_t dst_col = nest.dst[nest.rank - 1];
  const int outer_rank = two_d ? nest.rank - 2 : 0;
  std::int64_t outer = 1;
  for (int a = 0; a < outer_rank; ++a) outer *= nest.dims[a];
  const std::int64_t row_units = (rows + kRowsPerUnit - 1) / kRowsPerUnit;
  const auto element = static_cast<std::int64_t>(size);

  const auto run_units = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t unit = begin; unit < end; ++unit) {
      std::int64_t rest = unit / row_units;
      const std::int64_t row0 = (unit % row_units) * kRowsPerUnit;
      std::int64_t src_off = row0 * src_row;
      std::int64_t dst_off = row0 * dst_row;
      for (int a = outer_rank; a-- > 0;) {
        const std::int64_t index = rest % nest.dims[a];
        rest /= nest.dims[a];
        src_off += index * nest.src[a];
        dst_off += index * nest.dst[a];
      }
      copy_block(size, dst + dst_off * element, src + src_off * element, std::min(kRowsPerUnit, rows - row0), cols,
                 src_row, src_col, dst_row, dst_col);
    }
  };
  const std::int64_t units = outer * row_units;
  const std::int64_t bytes = nest.elements() * element;
  if (pool != nullptr && pool->size() > 1 && bytes >= kParallelCopyBytes) {
    const std::int64_t bytes_per_unit = std::max<std::int64_t>(1, bytes / units);
    pool->parallel_for(0, units, run_units, std::max<std::int64_t>(1, (kParallelCopyBytes / 4) / bytes_per_unit));
  } else {
    run_units(0, units);
  }
}

inline std::byte* bytes_of(const Slot& s) noexcept { return static_cast<std::byte*>(s.data); }

// A nest over all of `src` into `dst`, axis by axis (same dims).
inline CopyNest whole(const Slot& src, const Slot& dst) noexcept {
  CopyNest nest;
  for (int a = 0; a < src.rank; ++a) nest.push(src.dims[a], src.strides[a], dst.strides[a]);
  return nest;
}

inline std::string_view op_name(OpKind op) noexcept { return relax::to_string(op); }

inline bool same_dims(const Slot& a, const Slot& b) noexcept {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.dims[i] != b.dims[i]) return false;
  return true;
}

inline Status mismatch(OpKind op, std::string_view what) {
  return make_error(StatusCode::shape_mismatch, op_name(op), ": ", what);
}

inline int normalize_axis(std::int64_t axis, int rank) noexcept {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}
inline bool axis_in_range(std::int64_t axis, int rank) noexcept { return axis >= -rank && axis < rank; }

// ---- checks at load ----------------------------------------------------------------------

inline const relax::TensorType* input_type(const relax::Binding& b, const relax::Function& fn, std::size_t i) {
  if (i >= b.inputs.size() || b.inputs[i] == relax::kNoValue) return nullptr;
  return &fn.type(b.inputs[i]);
}
inline const relax::TensorType& output_type(const relax::Binding& b, const relax::Function& fn, std::size_t i) {
  return fn.type(b.outputs[i]);
}

// The inputs a movement op needs present, its outputs, and that they all share one dtype.
inline Status check_binding(OpKind op, const relax::Binding& b, const relax::Function& fn, std::size_t required,
                            bool same_dtype_out) {
  if (b.inputs.size() < required || b.outputs.empty())
    return make_error(StatusCode::invalid_argument, op_name(op), ": expects ", required, " inputs and an output");
  for (std::size_t i = 0; i < required; ++i)
    if (b.inputs[i] == relax::kNoValue)
      return make_error(StatusCode::invalid_argument, op_name(op), ": input ", i, " is required");
  if (!relax::attrs_fit(op, b.attrs))
    return make_error(StatusCode::invalid_argument, op_name(op), ": the binding holds another op's attributes");
  const relax::TensorType& x = *input_type(b, fn, 0);
  if (x.rank < 0 || x.rank > kMaxRank)
    return make_error(StatusCode::unsupported, op_name(op), ": input rank ", x.rank, " is not supported");
  for (std::size_t i = 0; i < b.outputs.size(); ++i) {
    const relax::TensorType& out = output_type(b, fn, i);
    if (out.rank < 0 || out.rank > kMaxRank)
      return make_error(StatusCode::unsupported, op_name(op), ": output rank ", out.rank, " is not supported");
    if (same_dtype_out && out.dtype != x.dtype)
      return make_error(StatusCode::dtype_mismatch, op_name(op), ": the output is ", to_string(out.dtype),
                        ", the input ", to_string(x.dtype));
  }
  return Status::success();
}

// ---- identity and the reshape family -----------------------------------------------------

inline Status identity_supports(const relax::Binding& b, const relax::Function& fn) {
  return check_binding(b.op, b, fn, 1, true);
}

// identity copies axis by axis; reshape, flatten, squeeze and unsqueeze keep the row-major
// order of the elements and only regroup them, so they read the input in row-major order
// and write the (contiguous) output in the same order.
inline Status identity_run(const OpCall& call) {
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (x.dtype != out.dtype) return make_error(StatusCode::dtype_mismatch, op_name(call.op), ": dtypes differ");
  if (same_dims(x, out)) {
    copy_nest(bytes_of(out), bytes_of(x), size_of(x.dtype), whole(x, out), call.pool);
    return Status::success();
  }
  if (x.elements() != out.elements())
    return mismatch(call.op, "the output has another number of elements than the input");
  if (!out.contiguous()) return make_error(StatusCode::internal, op_name(call.op), ": the output must be contiguous");
  CopyNest nest;
  std::int64_t stride = 1;
  for (int a = x.rank; a-- > 0;) stride *= x.dims[a];
  for (int a = 0; a < x.rank; ++a) {
    stride /= std::max<std::int64_t>(x.dims[a], 1);
    nest.push(x.dims[a], x.strides[a], stride);
  }
  copy_nest(bytes_of(out), bytes_of(x), size_of(x.dtype), nest, call.pool);
  return Status::success();
}

// ---- transpose ---------------------------------------------------------------------------

inline Status transpose_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::transpose, b, fn, 1, true));
  const auto& perm = std::get<relax::PermAttrs>(b.attrs).perm;
  const int rank = input_type(b, fn, 0)->rank;
  if (!perm.empty() && perm.size() != rank)
    return make_error(StatusCode::invalid_argument, "transpose: perm has ", perm.size(), " values for rank ", rank);
  bool seen[kMaxRank] = {};
  for (std::int64_t p : perm) {
    if (!axis_in_range(p, rank) || seen[normalize_axis(p, rank)])
      return make_error(StatusCode::invalid_argument, "transpose: perm is not a permutation of the axes");
    seen[normalize_axis(p, rank)] = true;
  }
  return Status::success();
}

inline Status transpose_run(const OpCall& call) {
  const auto& perm = call.attr<relax::PermAttrs>().perm;
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (out.rank != x.rank || (!perm.empty() && perm.size() != x.rank))
    return mismatch(OpKind::transpose, "the ranks of the input, output and perm differ");
  CopyNest nest;
  for (int i = 0; i < out.rank; ++i) {
    const int from = perm.empty() ? x.rank - 1 - i : normalize_axis(perm[i], x.rank);
    if (from < 0 || from >= x.rank || x.dims[from] != out.dims[i])
      return mismatch(OpKind::transpose, "the output dims are not the permuted input dims");
    nest.push(out.dims[i], x.strides[from], out.strides[i]);
  }
  copy_nest(bytes_of(out), bytes_of(x), size_of(x.dtype), nest, call.pool);
  return Status::success();
}

// ---- concat and split --------------------------------------------------------------------

inline Status concat_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::concat, b, fn, b.inputs.size(), true));
  const relax::TensorType& first = *input_type(b, fn, 0);
  if (!axis_in_range(std::get<relax::AxisAttrs>(b.attrs).axis, first.rank))
    return make_error(StatusCode::invalid_argument, "concat: the axis is out of range for rank ", first.rank);
  for (std::size_t i = 1; i < b.inputs.size(); ++i)
    if (input_type(b, fn, i)->dtype != first.dtype)
      return make_error(StatusCode::dtype_mismatch, "concat: input ", i, " has another dtype than input 0");
  return Status::success();
}

inline Status concat_run(const OpCall& call) {
  const Slot& out = call.output();
  const std::int64_t attr_axis = call.attr<relax::AxisAttrs>().axis;
  if (!axis_in_range(attr_axis, out.rank)) return mismatch(OpKind::concat, "the axis is out of range");
  const int axis = normalize_axis(attr_axis, out.rank);
  // Check every input before writing anything.
  std::int64_t total = 0;
  for (const Slot* in : call.inputs) {
    if (in == nullptr || in->rank != out.rank || in->dtype != out.dtype)
      return mismatch(OpKind::concat, "an input differs from the output in rank or dtype");
    for (int a = 0; a < out.rank; ++a)
      if (a != axis && in->dims[a] != out.dims[a])
        return mismatch(OpKind::concat, "an input differs from the output off the joined axis");
    total += in->dims[axis];
  }
  if (total != out.dims[axis]) return mismatch(OpKind::concat, "the inputs do not add up to the output's extent");
  std::int64_t offset = 0;
  const std::size_t size = size_of(out.dtype);
  for (const Slot* in : call.inputs) {
    std::byte* dst = bytes_of(out) + offset * out.strides[axis] * static_cast<std::int64_t>(size);
    if (in->dims[axis] > 0) copy_nest(dst, bytes_of(*in), size, whole(*in, out), call.pool);
    offset += in->dims[axis];
  }
  return Status::success();
}

inline Status split_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::split, b, fn, 1, true));
  const int rank = input_type(b, fn, 0)->rank;
  if (!axis_in_range(std::get<relax::SplitAttrs>(b.attrs).axis, rank))
    return make_error(StatusCode::invalid_argument, "split: the axis is out of range for rank ", rank);
  return Status::success();
}

// The parts' extents are the outputs' dims (sizes, or num_outputs chunks, as inference set them).
inline Status split_run(const OpCall& call) {
  const Slot& x = *call.input(0);
  const std::int64_t attr_axis = call.attr<relax::SplitAttrs>().axis;
  if (!axis_in_range(attr_axis, x.rank)) return mismatch(OpKind::split, "the axis is out of range");
  const int axis = normalize_axis(attr_axis, x.rank);
  std::int64_t total = 0;
  for (const Slot* out : call.outputs) {
    if (out->rank != x.rank || out->dtype != x.dtype)
      return mismatch(OpKind::split, "an output differs from the input in rank or dtype");
    for (int a = 0; a < x.rank; ++a)
      if (a != axis && out->dims[a] != x.dims[a])
        return mismatch(OpKind::split, "an output differs from the input off the split axis");
    total += out->dims[axis];
  }
  if (total != x.dims[axis]) return mismatch(OpKind::split, "the outputs do not add up to the input's extent");
  std::int64_t offset = 0;
  const std::size_t size = size_of(x.dtype);
  for (const Slot* out : call.outputs) {
    const std::byte* src = bytes_of(x) + offset * x.strides[axis] * static_cast<std::int64_t>(size);
    CopyNest part;
    for (int a = 0; a < x.rank; ++a) part.push(out->dims[a], x.strides[a], out->strides[a]);
    copy_nest(bytes_of(*out), src, size, part, call.pool);
    offset += out->dims[axis];
  }
  return Status::success();
}

// ---- slice -------------------------------------------------------------------------------

inline Status slice_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::slice, b, fn, 1, true));
  const auto& a = std::get<relax::SliceAttrs>(b.attrs);
  const int rank = input_type(b, fn, 0)->rank;
  const int n = a.starts.size();
  if (a.ends.size() != n || (!a.axes.empty() && a.axes.size() != n) || (!a.steps.empty() && a.steps.size() != n))
    return make_error(StatusCode::invalid_argument, "slice: starts, ends, axes and steps differ in length");
  if (a.axes.empty() && n > rank)
    return make_error(StatusCode::invalid_argument, "slice: ", n, " starts for rank ", rank);
  bool seen[kMaxRank] = {};
  for (int i = 0; i < n; ++i) {
    const std::int64_t axis = a.axes.empty() ? i : a.axes[i];
    if (!axis_in_range(axis, rank) || seen[normalize_axis(axis, rank)])
      return make_error(StatusCode::invalid_argument, "slice: axis ", axis, " is out of range or repeated");
    seen[normalize_axis(axis, rank)] = true;
    const std::int64_t step = a.steps.empty() ? 1 : a.steps[i];
    if (step == 0 || step == std::numeric_limits<std::int64_t>::min())
      return make_error(StatusCode::invalid_argument, "slice: steps must not be 0");
  }
  return Status::success();
}

// Where a slice of one axis of extent d starts and how many elements it takes, with NumPy's
// clamping: into [0, d] stepping forwards, into [-1, d - 1] stepping backwards.
struct SliceAxis {
  std::int64_t start = 0;
  std::int64_t count = 0;
};
constexpr SliceAxis slice_axis(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) noexcept {
  const auto resolve = [d](std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v < 0) v = v < -d ? lo : v + d;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    const std::int64_t from = resolve(start, 0, d);
    const std::int64_t to = resolve(end, 0, d);
    return SliceAxis{from, to > from ? (to - from + step - 1) / step : 0};
  }
  const std::int64_t from = resolve(start, -1, d - 1);
  const std::int64_t to = resolve(end, -1, d - 1);
  const std::int64_t back = -step;
  return SliceAxis{from, from > to ? (from - to + back - 1) / back : 0};
}

inline Status slice_run(const OpCall& call) {
  const auto& a = call.attr<relax::SliceAttrs>();
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (out.rank != x.rank) return mismatch(OpKind::slice, "the output's rank differs from the input's");
  std::int64_t step_of[kMaxRank];
  std::int64_t start_of[kMaxRank];
  for (int i = 0; i < x.rank; ++i) {
    step_of[i] = 1;
    start_of[i] = 0;
  }
  std::int64_t count_of[kMaxRank];
  for (int i = 0; i < x.rank; ++i) count_of[i] = x.dims[i];
  for (int i = 0; i < a.starts.size(); ++i) {
    const std::int64_t attr_axis = a.axes.empty() ? i : a.axes[i];
    if (!axis_in_range(attr_axis, x.rank)) return mismatch(OpKind::slice, "an axis is out of range");
    const int axis = normalize_axis(attr_axis, x.rank);
    const std::int64_t step = a.steps.empty() ? 1 : a.steps[i];
    if (step == 0) return make_error(StatusCode::invalid_argument, "slice: steps must not be 0");
    const SliceAxis s = slice_axis(x.dims[axis], a.starts[i], a.ends[i], step);
    step_of[axis] = step;
    start_of[axis] = s.start;
    count_of[axis] = s.count;
  }
  CopyNest nest;
  std::int64_t src_offset = 0;
  for (int i = 0; i < x.rank; ++i) {
    if (out.dims[i] != count_of[i])
      return make_error(StatusCode::shape_mismatch, "slice: output axis ", i, " has extent ", out.dims[i],
                        ", the slice takes ", count_of[i]);
    if (count_of[i] == 0) return Status::success();
    src_offset += start_of[i] * x.strides[i];
    nest.push(count_of[i], step_of[i] * x.strides[i], out.strides[i]);
  }
  const std::size_t size = size_of(x.dtype);
  copy_nest(bytes_of(out), bytes_of(x) + src_offset * static_cast<std::int64_t>(size), size, nest, call.pool);
  return Status::success();
}

// ---- gather ------------------------------------------------------------------------------

inline Status gather_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::gather, b, fn, 2, true));
  const relax::TensorType& data = *input_type(b, fn, 0);
  const relax::TensorType& indices = *input_type(b, fn, 1);
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64)
    return make_error(StatusCode::unsupported, "gather: indices must be i32 or i64, got ", to_string(indices.dtype));
  if (!axis_in_range(std::get<relax::AxisAttrs>(b.attrs).axis, data.rank))
    return make_error(StatusCode::invalid_argument, "gather: the axis is out of range for rank ", data.rank);
  if (data.rank - 1 + indices.rank > kMaxRank)
    return make_error(StatusCode::unsupported, "gather: the result would have rank above ", kMaxRank);
  return Status::success();
}

// Index `position` (row-major over the indices' dims) as an element offset.
inline std::int64_t index_offset(const Slot& indices, std::int64_t position, const std::int64_t* strides) noexcept {
  std::int64_t offset = 0;
  for (int a = indices.rank; a-- > 0;) {
    offset += (position % indices.dims[a]) * strides[a];
    position /= indices.dims[a];
  }
  return offset;
}

inline std::int64_t load_index(const Slot& indices, std::int64_t offset) noexcept {
  return indices.dtype == DType::i64 ? indices.data_as<std::int64_t>()[offset]
                                     : std::int64_t{indices.data_as<std::int32_t>()[offset]};
}

inline Status gather_run(const OpCall& call) {
  const Slot& data = *call.input(0);
  const Slot& indices = *call.input(1);
  const Slot& out = call.output();
  const std::int64_t attr_axis = call.attr<relax::AxisAttrs>().axis;
  if (!axis_in_range(attr_axis, data.rank)) return mismatch(OpKind::gather, "the axis is out of range");
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64)
    return make_error(StatusCode::unsupported, "gather: indices must be i32 or i64");
  const int axis = normalize_axis(attr_axis, data.rank);
  const int ri = indices.rank;
  if (out.rank != data.rank - 1 + ri || out.dtype != data.dtype)
    return mismatch(OpKind::gather, "the output's rank or dtype does not fit the data and indices");
  for (int a = 0; a < out.rank; ++a) {
    const std::int64_t expect =
        a < axis ? data.dims[a] : (a < axis + ri ? indices.dims[a - axis] : data.dims[a - ri + 1]);
    if (out.dims[a] != expect) return mismatch(OpKind::gather, "the output dims do not fit the data and indices");
  }
  const std::int64_t extent = data.dims[axis];
  const std::int64_t count = indices.elements();
  // Every index is checked before any element moves: a bad one reads nothing.
  for (std::int64_t p = 0; p < count; ++p) {
    const std::int64_t v = load_index(indices, index_offset(indices, p, indices.strides));
    if (v < -extent || v >= extent)
      return make_error(StatusCode::out_of_range, "gather: index ", v, " is out of range for axis ", axis,
                        " of extent ", extent);
  }
  if (out.elements() == 0) return Status::success();
  // One strided copy per index: the data's axes around `axis` into the output's around the
  // index axes.
  CopyNest slab;
  for (int a = 0; a < data.rank; ++a)
    if (a != axis) slab.push(data.dims[a], data.strides[a], out.strides[a < axis ? a : a + ri - 1]);
  const std::size_t size = size_of(data.dtype);
  const auto element = static_cast<std::int64_t>(size);
  const std::int64_t* index_out_strides = out.strides + axis;
  const auto run = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p) {
      std::int64_t v = load_index(indices, index_offset(indices, p, indices.strides));
      if (v < 0) v += extent;
      const std::byte* src = bytes_of(data) + v * data.strides[axis] * element;
      std::byte* dst = bytes_of(out) + index_offset(indices, p, index_out_strides) * element;
      copy_nest(dst, src, size, slab, nullptr);
    }
  };
  const std::int64_t bytes = out.elements() * element;
  if (call.pool != nullptr && bytes >= kParallelCopyBytes) {
    const std::int64_t bytes_per_index = std::max<std::int64_t>(1, bytes / count);
    call.pool->parallel_for(0, count, run, std::max<std::int64_t>(1, (kParallelCopyBytes / 4) / bytes_per_index));
  } else {
    run(0, count);
  }
  return Status::success();
}

// ---- pad ---------------------------------------------------------------------------------

inline Status pad_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::pad, b, fn, 1, true));
  const auto& a = std::get<relax::PadAttrs>(b.attrs);
  const int rank = input_type(b, fn, 0)->rank;
  const int n = a.axes.empty() ? rank : a.axes.size();
  if (a.pads.size() != 2 * n)
    return make_error(StatusCode::invalid_argument, "pad: pads has ", a.pads.size(), " values, expected ", 2 * n);
  for (std::int64_t axis : a.axes)
    if (!axis_in_range(axis, rank))
      return make_error(StatusCode::invalid_argument, "pad: axis ", axis, " is out of range");
  return Status::success();
}

inline Status pad_run(const OpCall& call) {
  const auto& a = call.attr<relax::PadAttrs>();
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (out.rank != x.rank || out.dtype != x.dtype) return mismatch(OpKind::pad, "the output's rank or dtype differs");
  const int n = a.axes.empty() ? x.rank : a.axes.size();
  if (a.pads.size() != 2 * n) return make_error(StatusCode::invalid_argument, "pad: pads does not fit the axes");
  std::int64_t begin[kMaxRank] = {};
  std::int64_t end[kMaxRank] = {};
  for (int i = 0; i < n; ++i) {
    const std::int64_t attr_axis = a.axes.empty() ? i : a.axes[i];
    if (!axis_in_range(attr_axis, x.rank)) return mismatch(OpKind::pad, "an axis is out of range");
    const int axis = normalize_axis(attr_axis, x.rank);
    begin[axis] = a.pads[i];
    end[axis] = a.pads[n + i];
  }
  for (int i = 0; i < x.rank; ++i)
    if (out.dims[i] != x.dims[i] + begin[i] + end[i])
      return make_error(StatusCode::shape_mismatch, "pad: output axis ", i, " has extent ", out.dims[i],
                        ", padding gives ", x.dims[i] + begin[i] + end[i]);
  const std::size_t size = size_of(x.dtype);
  const auto element = static_cast<std::int64_t>(size);
  // The whole output takes the value (a source of stride 0), then the kept input overwrites
  // its window. Negative pads crop the input instead.
  unsigned char value[8] = {};
  encode_scalar(x.dtype, a.value, value);
  CopyNest fill;
  for (int i = 0; i < out.rank; ++i) fill.push(out.dims[i], 0, out.strides[i]);
  copy_nest(bytes_of(out), reinterpret_cast<const std::byte*>(value), size, fill, call.pool);
  CopyNest kept;
  std::int64_t src_offset = 0;
  std::int64_t dst_offset = 0;
  for (int i = 0; i < x.rank; ++i) {
    const std::int64_t extent = x.dims[i] + std::min<std::int64_t>(begin[i], 0) + std::min<std::int64_t>(end[i], 0);
    if (extent <= 0) return Status::success();
    src_offset += std::max<std::int64_t>(-begin[i], 0) * x.strides[i];
    dst_offset += std::max<std::int64_t>(begin[i], 0) * out.strides[i];
    kept.push(extent, x.strides[i], out.strides[i]);
  }
  copy_nest(bytes_of(out) + dst_offset * element, bytes_of(x) + src_offset * element, size, kept, call.pool);
  return Status::success();
}

// ---- tile and expand ---------------------------------------------------------------------

inline Status tile_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::tile, b, fn, 1, true));
  const auto& repeats = std::get<relax::TileAttrs>(b.attrs).repeats;
  const int rank = input_type(b, fn, 0)->rank;
  if (repeats.size() != rank)
    return make_error(StatusCode::invalid_argument, "tile: repeats has ", repeats.size(), " values for rank ", rank);
  for (std::int64_t r : repeats)
    if (r < 0) return make_error(StatusCode::invalid_argument, "tile: repeats must not be negative");
  return Status::success();
}

inline Status tile_run(const OpCall& call) {
  const auto& repeats = call.attr<relax::TileAttrs>().repeats;
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (out.rank != x.rank || repeats.size() != x.rank) return mismatch(OpKind::tile, "the ranks differ");
  // Output axis i is (repeat r, element e) with index r * d + e: two nest axes, the repeat
  // reading the same input again (stride 0).
  CopyNest nest;
  for (int i = 0; i < x.rank; ++i) {
    if (repeats[i] < 0 || out.dims[i] != x.dims[i] * repeats[i])
      return mismatch(OpKind::tile, "the output dims are not the input dims times the repeats");
    nest.push(repeats[i], 0, out.strides[i] * x.dims[i]);
    nest.push(x.dims[i], x.strides[i], out.strides[i]);
  }
  copy_nest(bytes_of(out), bytes_of(x), size_of(x.dtype), nest, call.pool);
  return Status::success();
}

inline Status expand_supports(const relax::Binding& b, const relax::Function& fn) {
  return check_binding(OpKind::expand, b, fn, 1, true);
}

// The target is the output's shape; input axes align at the right and those of extent 1
// broadcast (source stride 0).
inline Status expand_run(const OpCall& call) {
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (out.rank < x.rank || out.dtype != x.dtype)
    return mismatch(OpKind::expand, "the output's rank or dtype does not fit");
  CopyNest nest;
  const int lead = out.rank - x.rank;
  for (int i = 0; i < out.rank; ++i) {
    const int from = i - lead;
    const std::int64_t d = from >= 0 ? x.dims[from] : 1;
    if (d != out.dims[i] && d != 1)
      return make_error(StatusCode::shape_mismatch, "expand: input extent ", d, " does not broadcast to ", out.dims[i]);
    nest.push(out.dims[i], d == 1 ? 0 : x.strides[from], out.strides[i]);
  }
  copy_nest(bytes_of(out), bytes_of(x), size_of(x.dtype), nest, call.pool);
  return Status::success();
}

// ---- shape_of ----------------------------------------------------------------------------

inline Status shape_of_supports(const relax::Binding& b, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(check_binding(OpKind::shape_of, b, fn, 1, false));
  const relax::TensorType& out = output_type(b, fn, 0);
  if (out.dtype != DType::i64 || out.rank != 1)
    return make_error(StatusCode::unsupported, "shape_of: the output must be a 1-D i64 tensor, got ", to_string(out));
  return Status::success();
}

inline Status shape_of_run(const OpCall& call) {
  const auto& a = call.attr<relax::ShapeOfAttrs>();
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  const auto clamp = [&](std::int64_t v) -> std::int64_t {
    if (v < 0) v = v < -x.rank ? 0 : v + x.rank;
    return std::min<std::int64_t>(v, x.rank);
  };
  const std::int64_t start = clamp(a.start);
  const std::int64_t length = std::max<std::int64_t>(clamp(a.end) - start, 0);
  if (out.dtype != DType::i64 || out.rank != 1 || out.dims[0] != length)
    return mismatch(OpKind::shape_of, "the output must be i64 with one element per reported dimension");
  auto* dst = out.data_as<std::int64_t>();
  for (std::int64_t i = 0; i < length; ++i) dst[i * out.strides[0]] = x.dims[start + i];
  return Status::success();
}

inline constexpr OpKernel kIdentity{&identity_supports, nullptr, &identity_run};
inline constexpr OpKernel kTranspose{&transpose_supports, nullptr, &transpose_run};
inline constexpr OpKernel kConcat{&concat_supports, nullptr, &concat_run};
inline constexpr OpKernel kSplit{&split_supports, nullptr, &split_run};
inline constexpr OpKernel kSlice{&slice_supports, nullptr, &slice_run};
inline constexpr OpKernel kGather{&gather_supports, nullptr, &gather_run};
inline constexpr OpKernel kPad{&pad_supports, nullptr, &pad_run};
inline constexpr OpKernel kTile{&tile_supports, nullptr, &tile_run};
inline constexpr OpKernel kExpand{&expand_supports, nullptr, &expand_run};
inline constexpr OpKernel kShapeOf{&shape_of_supports, nullptr, &shape_of_run};

} // namespace movement_detail

// The CPU kernel of a data-movement op, or null for an op of another family. reshape,
// flatten, squeeze and unsqueeze share identity's kernel (a copy in row-major order), for a
// VM that does not turn them into views.
inline const OpKernel* cpu_movement_kernel(relax::OpKind op) {
  using relax::OpKind;
  switch (op) {
    case OpKind::identity:
    case OpKind::reshape:
    case OpKind::flatten:
    case OpKind::squeeze:
    case OpKind::unsqueeze: return &movement_detail::kIdentity;
    case OpKind::transpose: return &movement_detail::kTranspose;
    case OpKind::concat: return &movement_detail::kConcat;
    case OpKind::split: return &movement_detail::kSplit;
    case OpKind::slice: return &movement_detail::kSlice;
    case OpKind::gather: return &movement_detail::kGather;
    case OpKind::pad: return &movement_detail::kPad;
    case OpKind::tile: return &movement_detail::kTile;
    case OpKind::expand: return &movement_detail::kExpand;
    case OpKind::shape_of: return &movement_detail::kShapeOf;
    default: return nullptr;
  }
}

} // namespace kiln::vm
