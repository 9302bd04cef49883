// kiln/vm/ops/data_dependent.hpp: the CPU kernels of the ops whose output extent depends on
// the input values, with ONNX's semantics:
//  - non_zero: the coordinates of the nonzero elements, i64[rank, count], in row-major order;
//  - unique: the distinct values (or slices along an axis), sorted ascending or in order of
//    first occurrence, with each one's first index, the inverse indices and the counts;
//  - non_max_suppression: per batch and class, the boxes above the score threshold taken
//    greedily by descending score, dropping those overlapping a taken one by more than the
//    IoU threshold, at most max_output_boxes_per_class of them: i64[count, 3] rows of
//    (batch, class, box).
//
// The output buffers hold the count's bound (OpCall::data_dependent_count on entry); a kernel
// writes its outputs densely for the count it finds, whatever extent the output slots show,
// and reports the count there. Scratch holds the orderings (unique, non_max_suppression).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../../core/dtype.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace data_dependent_impl {

using relax::OpKind;
using cpu_support::op_error;

// What elements compare as: f32 for the 16-bit floats.
template <class T>
using Key = std::conditional_t<std::is_same_v<T, f16> || std::is_same_v<T, bf16>, float, T>;

template <class T>
Key<T> key(const T& v) noexcept {
  return static_cast<Key<T>>(v);
}

// A strict total order for sorting: numbers ascending, NaN after every number (and equal to
// NaN), so that unique groups NaNs together.
template <class K>
bool before(K a, K b) noexcept {
  if constexpr (std::is_floating_point_v<K>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

inline Status report(const OpCall& call, std::int64_t count) {
  if (call.data_dependent_count == nullptr)
    return op_error(StatusCode::internal, call.op, "the caller gave no place for the output count");
  if (count > *call.data_dependent_count)
    return op_error(StatusCode::internal, call.op, "the output count ", count, " exceeds its planned bound ",
                    *call.data_dependent_count);
  *call.data_dependent_count = count;
  return {};
}

// ---- non_zero ---------------------------------------------------------------------------------

inline Status non_zero_run(const OpCall& call) {
  const Slot& x = *call.input(0);
  const Slot& out = call.output();
  if (!x.contiguous()) return op_error(StatusCode::unsupported, call.op, "a non-contiguous input is not supported");
  const std::int64_t n = x.elements();
  std::int64_t count = 0;
  visit_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = x.data_as<const T>();
    for (std::int64_t i = 0; i < n; ++i) count += key(p[i]) != Key<T>(0) ? 1 : 0;
  });
  KILN_RETURN_IF_ERROR(report(call, count));
  auto* coords = out.data_as<std::int64_t>();
  std::int64_t column = 0;
  visit_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = x.data_as<const T>();
    for (std::int64_t i = 0; i < n; ++i) {
      if (key(p[i]) == Key<T>(0)) continue;
      for (std::int64_t rest = i, a = x.rank; a-- > 0;) {
        coords[a * count + column] = rest % x.dims[a];
        rest /= x.dims[a];
      }
      ++column;
    }
  });
  return {};
}

// ---- unique -------------------------------------------------------------------------------------

// The input as `entries` slices of [outer, inner] around the axis (without an axis: every
// element is an entry of one).
struct UniqueExtents {
  std::int64_t outer = 1;
  std::int64_t entries = 0;
  std::int64_t inner = 1;
};

inline UniqueExtents unique_extents(const Slot& x, const relax::UniqueAttrs& a) {
  UniqueExtents e;
  if (!a.has_axis) {
    e.entries = x.elements();
    return e;
  }
  const int axis = cpu_support::resolve_axis(a.axis, x.rank);
  for (int d = 0; d < x.rank; ++d) {
    if (d < axis) e.outer *= x.dims[d];
    else if (d > axis) e.inner *= x.dims[d];
  }
  e.entries = x.dims[axis];
  return e;
}

inline std::size_t unique_scratch_bytes(const OpCall& call) {
  const UniqueExtents e = unique_extents(*call.input(0), call.attr<relax::UniqueAttrs>());
  return static_cast<std::size_t>(e.entries) * 3 * sizeof(std::int64_t);
}

template <class T>
void unique_typed(const OpCall& call, const UniqueExtents& e, std::int64_t& count) {
  const relax::UniqueAttrs& a = call.attr<relax::UniqueAttrs>();
  const T* x = call.input(0)->data_as<const T>();
  // Element j of entry k, in row-major order of the other axes.
  const auto at = [&](std::int64_t k, std::int64_t j) { return key(x[(j / e.inner * e.entries + k) * e.inner + j % e.inner]); };
  const std::int64_t width = e.outer * e.inner;
  const auto less = [&](std::int64_t p, std::int64_t q) {
    for (std::int64_t j = 0; j < width; ++j) {
      const auto u = at(p, j), v = at(q, j);
      if (before(u, v)) return true;
      if (before(v, u)) return false;
    }
    return p < q;  // equal entries: the first occurrence first
  };
  const auto same = [&](std::int64_t p, std::int64_t q) {
    for (std::int64_t j = 0; j < width; ++j) {
      const auto u = at(p, j), v = at(q, j);
      if (before(u, v) || before(v, u)) return false;
    }
    return true;
  };
  auto* order = reinterpret_cast<std::int64_t*>(call.scratch.data());
  std::int64_t* group = order + e.entries;  // by entry: its group, numbered in sorted order
  std::int64_t* rank_of = group + e.entries;
  for (std::int64_t k = 0; k < e.entries; ++k) order[k] = k;
  std::sort(order, order + e.entries, less);
  // Groups in sorted order; each group's first member (its first occurrence) leads it.
  count = 0;
  for (std::int64_t s = 0; s < e.entries; ++s) {
    if (s == 0 || !same(order[s - 1], order[s])) order[count++] = order[s];
    group[order[s]] = count - 1;
  }
  // order[0, count) are the leaders in sorted order. Unsorted output lists them by first
  // occurrence: renumber the groups so.
  if (!a.sorted) {
    std::sort(order, order + count);
    // group ids in sorted order -> position in occurrence order, via the leaders' groups.
    for (std::int64_t r = 0; r < count; ++r) rank_of[group[order[r]]] = r;
    for (std::int64_t k = 0; k < e.entries; ++k) group[k] = rank_of[group[k]];
  }
  const Slot* outputs[4] = {};
  for (std::size_t i = 0; i < 4 && i < call.outputs.size(); ++i) outputs[i] = call.outputs[i];
  if (outputs[0] != nullptr) {
    T* y = outputs[0]->data_as<T>();
    for (std::int64_t o = 0; o < e.outer; ++o)
      for (std::int64_t r = 0; r < count; ++r)
        for (std::int64_t i = 0; i < e.inner; ++i) y[(o * count + r) * e.inner + i] = x[(o * e.entries + order[r]) * e.inner + i];
  }
  if (outputs[1] != nullptr) {
    auto* first = outputs[1]->data_as<std::int64_t>();
    for (std::int64_t r = 0; r < count; ++r) first[r] = order[r];
  }
  if (outputs[2] != nullptr) {
    auto* inverse = outputs[2]->data_as<std::int64_t>();
    for (std::int64_t k = 0; k < e.entries; ++k) inverse[k] = group[k];
  }
  if (outputs[3] != nullptr) {
    auto* counts = outputs[3]->data_as<std::int64_t>();
    std::fill(counts, counts + count, std::int64_t{0});
    for (std::int64_t k = 0; k < e.entries; ++k) ++counts[group[k]];
  }
}

inline Status unique_run(const OpCall& call) {
  const Slot& x = *call.input(0);
  if (!x.contiguous()) return op_error(StatusCode::unsupported, call.op, "a non-contiguous input is not supported");
  const UniqueExtents e = unique_extents(x, call.attr<relax::UniqueAttrs>());
  if (call.scratch.size() < unique_scratch_bytes(call))
    return op_error(StatusCode::internal, call.op, "scratch is smaller than scratch_bytes asked for");
  // Checked before any output is written: the count is at most the entries.
  if (call.data_dependent_count == nullptr || e.entries > *call.data_dependent_count)
    return op_error(StatusCode::internal, call.op, "the planned bound is below the entry count ", e.entries);
  std::int64_t count = 0;
  visit_dtype(x.dtype, [&](auto zero) { unique_typed<decltype(zero)>(call, e, count); });
  return report(call, count);
}

// ---- non_max_suppression ------------------------------------------------------------------------

struct Corners {
  double y1, x1, y2, x2;
  double area() const noexcept { return (y2 - y1) * (x2 - x1); }
};

template <class T>
Corners corners_of(const T* box, bool center_point_box) noexcept {
  const double a = box[0], b = box[1], c = box[2], d = box[3];
  if (center_point_box) return {b - d / 2, a - c / 2, b + d / 2, a + c / 2};  // x_center, y_center, w, h
  return {std::min(a, c), std::min(b, d), std::max(a, c), std::max(b, d)};     // any two opposite corners
}

// Whether `a` overlaps `b` by more than `threshold` (intersection over union).
inline bool overlaps(const Corners& a, const Corners& b, double threshold) noexcept {
  const double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (h <= 0 || w <= 0 || a.area() <= 0 || b.area() <= 0) return false;
  const double intersection = h * w;
  return intersection / (a.area() + b.area() - intersection) > threshold;
}

struct Candidate {
  double score;
  std::int64_t box;
};

inline std::size_t nms_scratch_bytes(const OpCall& call) {
  const std::int64_t boxes = call.input(0)->dims[1];
  return static_cast<std::size_t>(boxes) * (sizeof(Candidate) + sizeof(std::int64_t));
}

// A scalar input as a double, or `fallback` when absent.
inline Result<double> scalar_input(const OpCall& call, std::size_t i, double fallback, std::string_view role) {
  const Slot* s = call.input(i);
  if (s == nullptr) return fallback;
  if (s->elements() != 1)
    return op_error(StatusCode::shape_mismatch, call.op, role, " must hold one element, got ", s->elements());
  return visit_dtype(s->dtype, [&](auto zero) { return static_cast<double>(key(*s->data_as<const decltype(zero)>())); });
}

template <class T>
std::int64_t nms_typed(const OpCall& call, std::int64_t per_class_limit, double iou_threshold,
                       std::optional<double> score_threshold) {
  const Slot& boxes = *call.input(0);
  const Slot& scores = *call.input(1);
  const bool center = call.attr<relax::NonMaxSuppressionAttrs>().center_point_box;
  const std::int64_t batches = boxes.dims[0], n = boxes.dims[1], classes = scores.dims[1];
  auto* candidates = reinterpret_cast<Candidate*>(call.scratch.data());
  auto* taken = reinterpret_cast<std::int64_t*>(candidates + n);
  auto* out = call.output().data_as<std::int64_t>();
  std::int64_t count = 0;
  const T* box_data = boxes.data_as<const T>();
  const T* score_data = scores.data_as<const T>();
  for (std::int64_t b = 0; b < batches; ++b) {
    for (std::int64_t c = 0; c < classes; ++c) {
      const T* s = score_data + (b * classes + c) * n;
      std::int64_t m = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(key(s[i]));
        if (!score_threshold || v > *score_threshold) candidates[m++] = {v, i};
      }
      // Descending score; equal scores by box index.
      std::stable_sort(candidates, candidates + m, [](const Candidate& p, const Candidate& q) { return p.score > q.score; });
      std::int64_t kept = 0;
      for (std::int64_t i = 0; i < m && kept < per_class_limit; ++i) {
        const Corners box = corners_of(box_data + (b * n + candidates[i].box) * 4, center);
        bool suppressed = false;
        for (std::int64_t j = 0; j < kept && !suppressed; ++j)
          suppressed = overlaps(box, corners_of(box_data + (b * n + taken[j]) * 4, center), iou_threshold);
        if (suppressed) continue;
        taken[kept++] = candidates[i].box;
        out[count * 3] = b;
        out[count * 3 + 1] = c;
        out[count * 3 + 2] = candidates[i].box;
        ++count;
      }
    }
  }
  return count;
}

inline Status nms_run(const OpCall& call) {
  const Slot& boxes = *call.input(0);
  const Slot& scores = *call.input(1);
  if (!boxes.contiguous() || !scores.contiguous())
    return op_error(StatusCode::unsupported, call.op, "non-contiguous inputs are not supported");
  if (boxes.dims[0] != scores.dims[0] || boxes.dims[1] != scores.dims[2] || boxes.dims[2] != 4)
    return op_error(StatusCode::shape_mismatch, call.op, "boxes [", boxes.dims[0], ", ", boxes.dims[1], ", ",
                    boxes.dims[2], "] do not fit scores [", scores.dims[0], ", ", scores.dims[1], ", ", scores.dims[2],
                    "]");
  KILN_ASSIGN_OR_RETURN(const double limit, scalar_input(call, 2, 0.0, "max_output_boxes_per_class"));
  KILN_ASSIGN_OR_RETURN(const double iou, scalar_input(call, 3, 0.0, "iou_threshold"));
  std::optional<double> score_threshold;
  if (call.input(4) != nullptr) {
    KILN_ASSIGN_OR_RETURN(score_threshold, scalar_input(call, 4, 0.0, "score_threshold"));
  }
  if (iou < 0 || iou > 1) return op_error(StatusCode::invalid_argument, call.op, "iou_threshold ", iou, " is outside [0, 1]");
  const std::int64_t per_class =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(std::max(limit, 0.0)), 0, boxes.dims[1]);
  // Every (batch, class) keeps at most per_class boxes: check that fits before writing.
  const std::int64_t most = boxes.dims[0] * scores.dims[1] * per_class;
  if (call.data_dependent_count == nullptr || most > *call.data_dependent_count)
    return op_error(StatusCode::out_of_range, call.op, "max_output_boxes_per_class ", per_class,
                    " selects more boxes than were planned for (its value at load time bounds it)");
  std::int64_t count = 0;
  if (boxes.dtype == DType::f32) count = nms_typed<float>(call, per_class, iou, score_threshold);
  else count = nms_typed<double>(call, per_class, iou, score_threshold);
  return report(call, count);
}

// ---- load-time checks -----------------------------------------------------------------------------

inline Status supports(const relax::Binding& b, const relax::Function& fn) {
  const OpKind op = b.op;
  const relax::DataDependentExtent* extent = relax::data_dependent_extent(b.attrs);
  if (extent == nullptr || !extent->count.is_symbol())
    return op_error(StatusCode::invalid_argument, op, "needs a data-dependent count symbol in its attributes");
  const relax::TensorType* x = cpu_support::input_type(b, fn, 0);
  if (x == nullptr) return op_error(StatusCode::invalid_argument, op, "needs an input");
  if (x->rank > kMaxRank) return op_error(StatusCode::unsupported, op, "inputs of rank ", x->rank, " are not supported");
  if (op == OpKind::non_max_suppression) {
    const relax::TensorType* scores = cpu_support::input_type(b, fn, 1);
    if (scores == nullptr || x->rank != 3 || scores->rank != 3)
      return op_error(StatusCode::invalid_argument, op, "takes boxes [batch, boxes, 4] and scores [batch, classes, boxes]");
    if ((x->dtype != DType::f32 && x->dtype != DType::f64) || scores->dtype != x->dtype)
      return cpu_support::dtype_unsupported(op, "boxes and scores", x->dtype, "f32 or f64, the same for both");
    for (std::size_t i = 2; i < b.inputs.size(); ++i)
      if (const relax::TensorType* t = cpu_support::input_type(b, fn, i); t != nullptr && t->dtype == DType::boolean)
        return cpu_support::dtype_unsupported(op, "scalar input", t->dtype, "a numeric dtype");
  }
  for (std::size_t i = 0; i < b.outputs.size(); ++i) {
    const relax::TensorType* t = cpu_support::output_type(b, fn, i);
    if (t == nullptr) return op_error(StatusCode::invalid_argument, op, "output ", i, " is missing");
    const DType want = op == OpKind::unique && i == 0 ? x->dtype : DType::i64;
    if (t->dtype != want) return cpu_support::dtype_unsupported(op, "output", t->dtype, to_string(want));
  }
  return {};
}

inline constexpr OpKernel kNonZero{&supports, nullptr, &non_zero_run};
inline constexpr OpKernel kUnique{&supports, &unique_scratch_bytes, &unique_run};
inline constexpr OpKernel kNonMaxSuppression{&supports, &nms_scratch_bytes, &nms_run};

} // namespace data_dependent_impl

// The CPU kernel of non_zero, unique or non_max_suppression; null for other ops.
inline const OpKernel* cpu_data_dependent_kernel(relax::OpKind op) {
  switch (op) {
    case relax::OpKind::non_zero: return &data_dependent_impl::kNonZero;
    case relax::OpKind::unique: return &data_dependent_impl::kUnique;
    case relax::OpKind::non_max_suppression: return &data_dependent_impl::kNonMaxSuppression;
    default: return nullptr;
  }
}

} // namespace kiln::vm
