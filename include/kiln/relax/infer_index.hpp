// kiln/relax/infer_index.hpp: types of ops that read or write through index tensors: gather,
// gather_elements, scatter_elements and scatter_nd.
#pragma once

#include <cstdint>
#include <string_view>

#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {
namespace detail {

constexpr Check check_indices(std::string_view op, const TensorType& indices) noexcept {
  KILN_RELAX_CHECK(check_input(op, "the indices", indices));
  if (indices.dtype == DType::i32 || indices.dtype == DType::i64) return std::nullopt;
  return type_error(StatusCode::dtype_mismatch, op, ": indices must be i32 or i64, got ", indices.dtype);
}

// Two shapes that must be the same (indices and updates of a scatter).
constexpr Check check_same_shape(std::string_view op, const TensorType& a, std::string_view a_role,
                                 const TensorType& b, std::string_view b_role) noexcept {
  bool same = a.rank == b.rank;
  for (int i = 0; same && i < a.rank; ++i) same = prove_equal(a.dims[i], b.dims[i]) != Truth::no;
  if (same) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": ", a_role, " ", a, " and ", b_role, " ", b,
                    " must have one shape");
}

} // namespace detail

namespace infer {

// ONNX Gather: data [d0, ..., d(axis), ..., dn) indexed along `axis` by indices [i...] ->
// [d0, ..., d(axis-1), i..., d(axis+1), ...].
constexpr Inferred<TensorType> gather(const TensorType& data, const TensorType& indices, std::int64_t axis = 0) noexcept {
  constexpr std::string_view op = "gather";
  KILN_RELAX_CHECK(detail::check_input(op, "the data", data));
  KILN_RELAX_CHECK(detail::check_indices(op, indices));
  KILN_RELAX_ASSIGN(const int a, detail::normalize_axis(op, axis, data.rank));
  const int rank = data.rank - 1 + indices.rank;
  if (rank > kMaxRank)
    return type_error(StatusCode::unsupported, op, ": the result would have rank ", rank, ", above ", kMaxRank);
  TensorType out = data.with_no_dims();
  for (int i = 0; i < a; ++i) out.push_back(data.dims[i]);
  for (int i = 0; i < indices.rank; ++i) out.push_back(indices.dims[i]);
  for (int i = a + 1; i < data.rank; ++i) out.push_back(data.dims[i]);
  return out;
}

// ONNX GatherElements: indices of data's rank pick one element each; the result has the
// indices' shape and data's dtype.
constexpr Inferred<TensorType> gather_elements(const TensorType& data, const TensorType& indices,
                                               std::int64_t axis = 0) noexcept {
  constexpr std::string_view op = "gather_elements";
  KILN_RELAX_CHECK(detail::check_input(op, "the data", data));
  KILN_RELAX_CHECK(detail::check_indices(op, indices));
  KILN_RELAX_CHECK(detail::normalize_axis(op, axis, data.rank).failure());
  if (indices.rank != data.rank)
    return type_error(StatusCode::shape_mismatch, op, ": indices ", indices, " must have the rank of the data ", data);
  TensorType out = indices;
  out.dtype = data.dtype;
  return out;
}

// ONNX ScatterElements: updates, shaped like indices, are written into a copy of data.
constexpr Inferred<TensorType> scatter_elements(const TensorType& data, const TensorType& indices,
                                                const TensorType& updates, std::int64_t axis = 0) noexcept {
  constexpr std::string_view op = "scatter_elements";
  KILN_RELAX_CHECK(detail::check_input(op, "the data", data));
  KILN_RELAX_CHECK(detail::check_indices(op, indices));
  KILN_RELAX_CHECK(detail::check_input(op, "the updates", updates));
  KILN_RELAX_CHECK(detail::check_same_dtype(op, data, updates));
  KILN_RELAX_CHECK(detail::normalize_axis(op, axis, data.rank).failure());
  if (indices.rank != data.rank)
    return type_error(StatusCode::shape_mismatch, op, ": indices ", indices, " must have the rank of the data ", data);
  KILN_RELAX_CHECK(detail::check_same_shape(op, indices, "indices", updates, "updates"));
  return data;
}

// ONNX ScatterND: indices [..., k] address slices data[i0, ..., i(k-1)], and updates are
// [..., data dims from k on].
constexpr Inferred<TensorType> scatter_nd(const TensorType& data, const TensorType& indices,
                                          const TensorType& updates) noexcept {
  constexpr std::string_view op = "scatter_nd";
  KILN_RELAX_CHECK(detail::check_input(op, "the data", data));
  KILN_RELAX_CHECK(detail::check_indices(op, indices));
  KILN_RELAX_CHECK(detail::check_input(op, "the updates", updates));
  KILN_RELAX_CHECK(detail::check_same_dtype(op, data, updates));
  if (indices.rank < 1)
    return type_error(StatusCode::shape_mismatch, op, ": indices must have rank 1 or more, got ", indices);
  const SymDim& depth = indices.dims[indices.rank - 1];
  if (!depth.is_constant()) return data;  // the updates' shape depends on a run-time value
  const std::int64_t k = depth.constant_value();
  if (k < 1 || k > data.rank)
    return type_error(StatusCode::shape_mismatch, op, ": indices address ", k, " axes of the data ", data);
  TensorType expected = updates.with_no_dims();
  for (int i = 0; i + 1 < indices.rank; ++i) expected.push_back(indices.dims[i]);
  for (int i = static_cast<int>(k); i < data.rank; ++i) {
    if (expected.rank == kMaxRank)
      return type_error(StatusCode::unsupported, op, ": updates would have rank above ", kMaxRank);
    expected.push_back(data.dims[i]);
  }
  bool same = updates.rank == expected.rank;
  for (int i = 0; same && i < updates.rank; ++i) same = prove_equal(updates.dims[i], expected.dims[i]) != Truth::no;
  if (!same)
    return type_error(StatusCode::shape_mismatch, op, ": updates ", updates, " must be ", DimsOf{expected},
                      " for indices ", indices, " into ", data);
  return data;
}

} // namespace infer
} // namespace kiln::relax
