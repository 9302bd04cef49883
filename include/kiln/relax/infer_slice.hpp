// kiln/relax/infer_slice.hpp: types of ops that cut, join or grow tensors along axes: concat,
// split, slice, pad and tile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

// ONNX Split: `sizes` along `axis`, or `num_outputs` chunks of ceildiv(extent, num_outputs)
// with a smaller last chunk.
struct SplitAttrs {
  std::int64_t axis = 0;
  Ints sizes = {};
  std::int64_t num_outputs = 0;
};

// ONNX Slice: for each listed axis (all axes 0, 1, ... when none are listed) the elements
// from `starts` towards `ends` (exclusive) in `steps` (1 when none are listed). Negative
// starts and ends count from the end; out-of-range values clamp as NumPy clamps them, so
// INT64_MAX means "to the end" and INT64_MIN "to the beginning" when stepping backwards.
// (The ONNX text clamps a backward start into [0, d - 1], which would take one element
// from a start before the beginning; its reference implementation, NumPy, takes none.)
struct SliceAttrs {
  Ints starts = {};
  Ints ends = {};
  Ints axes = {};
  Ints steps = {};
};

namespace detail {

// The smallest of the candidates, dropping those another one provably undercuts first, so
// that only the candidates that can win become min() atoms.
template <int N>
constexpr SymDim min_of(const SymDim (&candidates)[N]) noexcept {
  constexpr int n = N;
  bool dropped[N] = {};
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n && !dropped[i]; ++j) {
      if (i == j || dropped[j]) continue;
      // j undercuts i; on a tie keep the earlier one.
      const Truth le = prove_less_equal(candidates[j], candidates[i]);
      if (le == Truth::yes && (j < i || prove_equal(candidates[i], candidates[j]) != Truth::yes)) dropped[i] = true;
    }
  }
  SymDim out;
  bool first = true;
  for (int i = 0; i < n; ++i) {
    if (dropped[i]) continue;
    out = first ? candidates[i] : min(out, candidates[i]);
    first = false;
  }
  return out;
}

// A slice bound on an axis of extent d: d + v for negative v, v otherwise, with values
// beyond any extent the axis can have marked instead (they clamp to an end of the axis).
struct SliceIndex {
  SymDim value;
  bool past_end = false;      // v >= d for any d
  bool before_start = false;  // d + v < 0 for any d
};
constexpr SliceIndex slice_index(std::int64_t v, const SymDim& d) noexcept {
  const std::int64_t largest = d.is_constant() ? d.constant_value() : kMaxSymbolValue;
  SliceIndex index;
  if (v >= largest) index.past_end = true;
  else if (v < -largest) index.before_start = true;
  else index.value = v < 0 ? d + v : SymDim(v);
  return index;
}

// The extent of one sliced axis. Start and end clamp as in NumPy (and ONNX's reference
// implementation): into [0, d] when stepping forwards, into [-1, d - 1] when stepping
// backwards. Stepping backwards is stepping forwards on the mirrored axis i -> d - 1 - i,
// so both become max(0, ceildiv(clamp(to) - clamp(from), |step|)) with clamps into [0, d],
// which equals max(0, ceildiv(min(to, d) - max(from, 0), |step|)): a min() of four
// differences, most of which drop out by proof, instead of nested clamps.
constexpr SymDim slice_extent(const SymDim& d, std::int64_t start, std::int64_t end, std::int64_t step) noexcept {
  const SliceIndex s = slice_index(start, d);
  const SliceIndex e = slice_index(end, d);
  SymDim from;
  SymDim to;
  if (step > 0) {
    if (s.past_end || e.before_start) return 0;
    from = s.before_start ? SymDim(0) : s.value;
    to = e.past_end ? d : e.value;
  } else {
    if (s.before_start || e.past_end) return 0;
    from = s.past_end ? SymDim(0) : d - 1 - s.value;
    to = e.before_start ? d : d - 1 - e.value;
  }
  const SymDim candidates[4] = {to - from, to, d - from, d};
  return max(ceildiv(min_of(candidates), step > 0 ? step : -step), 0);
}

} // namespace detail

namespace infer {

// Joins inputs along `axis`; the other dims must agree. Dims that cannot be proved equal
// or different (two unrelated symbols) take the first input's, and the run time checks.
constexpr Inferred<TensorType> concat(std::span<const TensorType> inputs, std::int64_t axis) noexcept {
  constexpr std::string_view op = "concat";
  if (inputs.empty()) return type_error(StatusCode::invalid_argument, op, ": needs at least one input");
  const TensorType& first = inputs[0];
  KILN_RELAX_CHECK(detail::check_input(op, "input 0", first));
  KILN_RELAX_ASSIGN(const int a, detail::normalize_axis(op, axis, first.rank));
  TensorType out = first;
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    const TensorType& t = inputs[i];
    KILN_RELAX_CHECK(detail::check_input(op, "an input", t));
    KILN_RELAX_CHECK(detail::check_same_dtype(op, first, t));
    if (t.rank != first.rank)
      return type_error(StatusCode::shape_mismatch, op, ": input ", i, " ", t, " has rank ", t.rank, ", input 0 ",
                        first.rank);
    for (int j = 0; j < first.rank; ++j) {
      if (j != a && prove_equal(first.dims[j], t.dims[j]) == Truth::no)
        return type_error(StatusCode::shape_mismatch, op, ": input ", i, " ", t, " differs from input 0 ", first,
                          " at axis ", j);
    }
    out.dims[a] += t.dims[a];
  }
  if (!out.dims[a].valid())
    return type_error(StatusCode::unsupported, op, ": the joined extent is ", to_string(out.dims[a].fault()));
  return out;
}

constexpr Inferred<TensorType> concat(std::initializer_list<TensorType> inputs, std::int64_t axis) noexcept {
  return concat(std::span<const TensorType>(inputs.begin(), inputs.size()), axis);
}

constexpr Inferred<TensorTypeList> split(const TensorType& x, const SplitAttrs& attrs) noexcept {
  constexpr std::string_view op = "split";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "sizes", attrs.sizes));
  KILN_RELAX_ASSIGN(const int a, detail::normalize_axis(op, attrs.axis, x.rank));
  const SymDim& extent = x.dims[a];
  if (attrs.sizes.empty() == (attrs.num_outputs == 0))
    return type_error(StatusCode::invalid_argument, op, ": give either sizes or num_outputs");
  TensorTypeList outputs;
  TensorType part = x;
  if (!attrs.sizes.empty()) {
    SymDim total = 0;
    for (std::int64_t size : attrs.sizes) {
      if (size < 0) return type_error(StatusCode::invalid_argument, op, ": sizes must not be negative, got ", size);
      part.dims[a] = size;
      outputs.push_back(part);
      total += size;
    }
    if (prove_equal(total, extent) == Truth::no)
      return type_error(StatusCode::shape_mismatch, op, ": sizes add up to ", total, " but axis ", a, " has extent ",
                        extent);
    return outputs;
  }
  const std::int64_t n = attrs.num_outputs;
  if (n < 1 || n > kMaxOutputs)
    return type_error(StatusCode::invalid_argument, op, ": num_outputs must be in [1, ", kMaxOutputs, "], got ", n);
  const SymDim chunk = ceildiv(extent, n);
  const SymDim last = extent - chunk * (n - 1);
  if (!last.valid() || last.bounds().hi < 0)
    return type_error(StatusCode::shape_mismatch, op, ": extent ", extent, " of axis ", a, " cannot split into ", n,
                      " outputs");
  for (std::int64_t i = 0; i < n; ++i) {
    part.dims[a] = i + 1 < n ? chunk : last;
    outputs.push_back(part);
  }
  return outputs;
}

constexpr Inferred<TensorType> slice(const TensorType& x, const SliceAttrs& attrs) noexcept {
  constexpr std::string_view op = "slice";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  const int n = attrs.starts.size();
  KILN_RELAX_CHECK(detail::check_list(op, "starts", attrs.starts));
  KILN_RELAX_CHECK(detail::check_list(op, "ends", attrs.ends));
  KILN_RELAX_CHECK(detail::check_length(op, "axes", attrs.axes, n));
  KILN_RELAX_CHECK(detail::check_length(op, "steps", attrs.steps, n));
  if (attrs.ends.size() != n)
    return type_error(StatusCode::invalid_argument, op, ": ends has ", attrs.ends.size(), " values, starts ", n);
  if (attrs.axes.empty() && n > x.rank)
    return type_error(StatusCode::invalid_argument, op, ": ", n, " starts for rank ", x.rank);
  KILN_RELAX_CHECK(detail::normalize_axes(op, attrs.axes, x.rank).failure());
  TensorType out = x;
  for (int i = 0; i < n; ++i) {
    const std::int64_t step = attrs.steps.empty() ? 1 : attrs.steps[i];
    if (step == 0 || step == detail::kNegInf)
      return type_error(StatusCode::invalid_argument, op, ": steps must not be 0, got ", step);
    int a = i;
    if (!attrs.axes.empty()) {
      KILN_RELAX_ASSIGN(a, detail::normalize_axis(op, attrs.axes[i], x.rank));
    }
    out.dims[a] = detail::slice_extent(x.dims[a], attrs.starts[i], attrs.ends[i], step);
    if (!out.dims[a].valid())
      return type_error(StatusCode::unsupported, op, ": the extent of axis ", a, " is ",
                        to_string(out.dims[a].fault()));
  }
  return out;
}

// pads: the begin pads of the listed axes (all axes when none are listed), then the end
// pads; negative pads crop.
constexpr Inferred<TensorType> pad(const TensorType& x, const Ints& pads, const Ints& axes = {}) noexcept {
  constexpr std::string_view op = "pad";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "pads", pads));
  KILN_RELAX_CHECK(detail::normalize_axes(op, axes, x.rank).failure());
  const int n = axes.empty() ? x.rank : axes.size();
  if (pads.size() != 2 * n)
    return type_error(StatusCode::invalid_argument, op, ": pads has ", pads.size(), " values, expected ", 2 * n);
  TensorType out = x;
  for (int i = 0; i < n; ++i) {
    int a = i;
    if (!axes.empty()) {
      KILN_RELAX_ASSIGN(a, detail::normalize_axis(op, axes[i], x.rank));
    }
    out.dims[a] = x.dims[a] + pads[i] + pads[n + i];
    if (!out.dims[a].valid() || out.dims[a].bounds().hi < 0)
      return type_error(StatusCode::shape_mismatch, op, ": axis ", a, " of extent ", x.dims[a], " padded by ",
                        pads[i], " and ", pads[n + i], " would have extent ", out.dims[a]);
  }
  return out;
}

// Each dim times its repeat count.
constexpr Inferred<TensorType> tile(const TensorType& x, const Ints& repeats) noexcept {
  constexpr std::string_view op = "tile";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "repeats", repeats));
  if (repeats.size() != x.rank)
    return type_error(StatusCode::invalid_argument, op, ": repeats has ", repeats.size(), " values for rank ", x.rank);
  TensorType out = x;
  for (int i = 0; i < x.rank; ++i) {
    if (repeats[i] < 0)
      return type_error(StatusCode::invalid_argument, op, ": repeats must not be negative, got ", repeats[i]);
    out.dims[i] = x.dims[i] * repeats[i];
  }
  return out;
}

} // namespace infer
} // namespace kiln::relax
