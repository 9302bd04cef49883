// kiln/relax/infer_layout.hpp: types of ops that rearrange dims without computing: reshape,
// flatten, squeeze, unsqueeze, expand, transpose and shape-of.
#pragma once

#include <cstdint>
#include <string_view>

#include "broadcast.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax::infer {

// The dims of `target` with ONNX's conventions: a constant 0 copies the input's dim at that
// position (unless allowzero, where it is a real 0), a constant -1 takes whatever the
// element count leaves. Element counts are compared symbolically: b*seq*768 elements can
// become [b, seq, 12, 64], and a mismatch that cannot be proved is left to the run time.
constexpr Inferred<TensorType> reshape(const TensorType& x, const Dims& target, bool allowzero = false) noexcept {
  constexpr std::string_view op = "reshape";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "the target shape", target));
  TensorType out = x.with_no_dims();
  int inferred_axis = -1;
  bool has_zero = false;
  SymDim known = 1;
  for (int i = 0; i < target.size(); ++i) {
    SymDim d = target[i];
    if (!d.valid())
      return type_error(StatusCode::unsupported, op, ": dimension ", i, " of the target shape is ",
                        to_string(d.fault()));
    if (d.is_constant(-1)) {
      if (inferred_axis >= 0)
        return type_error(StatusCode::invalid_argument, op, ": more than one target dimension is -1");
      inferred_axis = i;
      out.push_back(1);
      continue;
    }
    if (d.is_constant(0)) {
      has_zero = true;
      if (!allowzero) {
        if (i >= x.rank)
          return type_error(StatusCode::invalid_argument, op, ": target dimension ", i,
                            " is 0 (copy the input's) but the input ", x, " has no dimension ", i);
        d = x.dims[i];
      }
    } else if (d.bounds().hi < 0) {
      return type_error(StatusCode::invalid_argument, op, ": target dimension ", i, " is ", d,
                        "; only -1 may be negative");
    }
    out.push_back(d);
    known = known * d;
  }
  if (allowzero && has_zero && inferred_axis >= 0)
    return type_error(StatusCode::invalid_argument, op, ": with allowzero, a target cannot hold both 0 and -1");
  const SymDim total = x.element_count();
  if (!total.valid() || !known.valid())
    return type_error(StatusCode::unsupported, op, ": element counts of ", x, " are too complex to compare");
  if (inferred_axis < 0) {
    if (prove_equal(total, known) == Truth::no)
      return type_error(StatusCode::shape_mismatch, op, ": ", total, " elements cannot become ", known);
    return out;
  }
  if (known.is_constant(0))
    return type_error(StatusCode::invalid_argument, op, ": cannot infer the -1 dimension next to a 0 dimension");
  const SymDim rest = floordiv(total, known);
  if (!rest.valid())
    return type_error(StatusCode::unsupported, op, ": the -1 dimension of ", total, " / ", known, " is too complex");
  if (prove_equal(rest * known, total) == Truth::no)
    return type_error(StatusCode::shape_mismatch, op, ": ", total, " elements cannot become a multiple of ", known);
  out.dims[inferred_axis] = rest;
  return out;
}

// [d0, ..., dn) -> [d0 * ... * d(axis-1), d(axis) * ... * d(n-1)]; axis in [-rank, rank].
constexpr Inferred<TensorType> flatten(const TensorType& x, std::int64_t axis = 1) noexcept {
  constexpr std::string_view op = "flatten";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  if (axis < -x.rank || axis > x.rank)
    return type_error(StatusCode::out_of_range, op, ": axis ", axis, " is out of range for rank ", x.rank);
  const int split = static_cast<int>(axis < 0 ? axis + x.rank : axis);
  SymDim outer = 1;
  SymDim inner = 1;
  for (int i = 0; i < x.rank; ++i) (i < split ? outer : inner) *= x.dims[i];
  if (!outer.valid() || !inner.valid())
    return type_error(StatusCode::unsupported, op, ": the flattened extents of ", x, " are too complex");
  return TensorType(x.dtype, {outer, inner});
}

// Removes the listed axes, which must have extent 1. With no axes, removes every dim that is
// the constant 1 (a symbolic dim stays: it may be 1 only at run time).
constexpr Inferred<TensorType> squeeze(const TensorType& x, const Ints& axes = {}) noexcept {
  constexpr std::string_view op = "squeeze";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_ASSIGN(detail::AxisSet removed, detail::normalize_axes(op, axes, x.rank));
  for (int i = 0; i < x.rank; ++i) {
    if (axes.empty()) removed.marked[i] = x.dims[i].is_constant(1);
    else if (removed.marked[i] && prove_equal(x.dims[i], 1) == Truth::no)
      return type_error(StatusCode::shape_mismatch, op, ": axis ", i, " of ", x, " has extent ", x.dims[i], ", not 1");
  }
  TensorType out = x.with_no_dims();
  for (int i = 0; i < x.rank; ++i)
    if (!removed.marked[i]) out.push_back(x.dims[i]);
  return out;
}

// Inserts dims of extent 1 at the listed axes, which are positions in the output.
constexpr Inferred<TensorType> unsqueeze(const TensorType& x, const Ints& axes) noexcept {
  constexpr std::string_view op = "unsqueeze";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "axes", axes));
  const int rank = x.rank + axes.size();
  if (rank > kMaxRank)
    return type_error(StatusCode::unsupported, op, ": the result would have rank ", rank, ", above ", kMaxRank);
  KILN_RELAX_ASSIGN(const detail::AxisSet inserted, detail::normalize_axes(op, axes, rank));
  TensorType out = x.with_no_dims();
  int next = 0;
  for (int i = 0; i < rank; ++i) out.push_back(inserted.marked[i] ? SymDim(1) : x.dims[next++]);
  return out;
}

// ONNX Expand: x broadcast with `shape` (in both directions, as NumPy would).
constexpr Inferred<TensorType> expand(const TensorType& x, const Dims& shape) noexcept {
  constexpr std::string_view op = "expand";
  KILN_RELAX_CHECK(detail::check_list(op, "the shape", shape));
  TensorType target = x.with_no_dims();
  for (const SymDim& d : shape) target.push_back(d);
  return broadcast_shapes(op, x, target);
}

// out.dims[i] = x.dims[perm[i]]; no perm reverses the dims.
constexpr Inferred<TensorType> transpose(const TensorType& x, const Ints& perm = {}) noexcept {
  constexpr std::string_view op = "transpose";
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_list(op, "perm", perm));
  TensorType out = x;
  if (perm.empty()) {
    for (int i = 0; i < x.rank; ++i) out.dims[i] = x.dims[x.rank - 1 - i];
    return out;
  }
  if (perm.size() != x.rank)
    return type_error(StatusCode::invalid_argument, op, ": perm has ", perm.size(), " values for rank ", x.rank);
  KILN_RELAX_CHECK(detail::normalize_axes(op, perm, x.rank).failure());
  for (int i = 0; i < x.rank; ++i) {
    KILN_RELAX_ASSIGN(const int from, detail::normalize_axis(op, perm[i], x.rank));
    out.dims[i] = x.dims[from];
  }
  return out;
}

// ONNX Shape: the dims of x from `start` to `end` (clamped, negative from the end) as a 1-D
// i64 tensor.
constexpr Inferred<TensorType> shape_of(const TensorType& x, std::int64_t start = 0,
                                        std::int64_t end = detail::kPosInf) noexcept {
  KILN_RELAX_CHECK(detail::check_input("shape_of", "the input", x));
  const auto clamp = [&](std::int64_t v) {
    if (v < 0) v += x.rank;
    return v < 0 ? 0 : (v > x.rank ? x.rank : v);
  };
  const std::int64_t length = clamp(end) - clamp(start);
  return TensorType(DType::i64, {length > 0 ? length : 0});
}

} // namespace kiln::relax::infer
