// kiln/relax/infer_linear.hpp: types of matmul, gemm and fused attention.
//
// An inner (contracted) dimension is an error only when it provably differs from its
// partner: a symbol against a constant may agree at run time, and the module checks it
// when it binds the symbols.
#pragma once

#include <string_view>

#include "broadcast.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax::infer {

// numpy.matmul: [..., m, k] @ [..., k, n] -> [broadcast(...), m, n]. A 1-D first operand
// [k] acts as [1, k], a 1-D second operand [k] as [k, 1]; the added dims are dropped.
constexpr Inferred<TensorType> matmul(const TensorType& a, const TensorType& b) noexcept {
  KILN_RELAX_CHECK(detail::check_input("matmul", "input A", a));
  KILN_RELAX_CHECK(detail::check_input("matmul", "input B", b));
  KILN_RELAX_CHECK(detail::check_same_dtype("matmul", a, b));
  KILN_RELAX_CHECK(detail::check_element("matmul", "input A", a, ElementKind::numeric));
  if (a.rank == 0 || b.rank == 0)
    return type_error(StatusCode::shape_mismatch, "matmul: operands must have rank 1 or more, got ", a, " and ", b);
  const SymDim& k_a = a.dims[a.rank - 1];
  const SymDim& k_b = b.dims[b.rank == 1 ? 0 : b.rank - 2];
  if (prove_equal(k_a, k_b) == Truth::no)
    return type_error(StatusCode::shape_mismatch, "matmul: inner dimensions ", k_a, " and ", k_b, " differ (", a,
                      " @ ", b, ")");
  const int a_batch = a.rank > 2 ? a.rank - 2 : 0;
  const int b_batch = b.rank > 2 ? b.rank - 2 : 0;
  TensorType out = a.with_no_dims();
  if (!detail::broadcast_leading(a, a_batch, b, b_batch, out))
    return type_error(StatusCode::shape_mismatch, "matmul: batch dimensions of ", a, " and ", b,
                      " cannot be broadcast");
  if (a.rank >= 2) out.push_back(a.dims[a.rank - 2]);
  if (b.rank >= 2) out.push_back(b.dims[b.rank - 1]);
  return out;
}

struct GemmAttrs {
  bool trans_a = false;
  bool trans_b = false;
};

// ONNX Gemm: op(A) [m, k] @ op(B) [k, n] (+ C, broadcast to [m, n]) -> [m, n].
constexpr Inferred<TensorType> gemm(const TensorType& a, const TensorType& b, const TensorType* c = nullptr,
                                    GemmAttrs attrs = {}) noexcept {
  KILN_RELAX_CHECK(detail::check_input("gemm", "input A", a));
  KILN_RELAX_CHECK(detail::check_input("gemm", "input B", b));
  KILN_RELAX_CHECK(detail::check_rank("gemm", "input A", a, 2));
  KILN_RELAX_CHECK(detail::check_rank("gemm", "input B", b, 2));
  KILN_RELAX_CHECK(detail::check_same_dtype("gemm", a, b));
  KILN_RELAX_CHECK(detail::check_element("gemm", "input A", a, ElementKind::numeric));
  const SymDim& m = a.dims[attrs.trans_a ? 1 : 0];
  const SymDim& k_a = a.dims[attrs.trans_a ? 0 : 1];
  const SymDim& k_b = b.dims[attrs.trans_b ? 1 : 0];
  const SymDim& n = b.dims[attrs.trans_b ? 0 : 1];
  if (prove_equal(k_a, k_b) == Truth::no)
    return type_error(StatusCode::shape_mismatch, "gemm: inner dimensions ", k_a, " and ", k_b, " differ");
  const TensorType out(a.dtype, {m, n});
  if (c) {
    KILN_RELAX_CHECK(detail::check_input("gemm", "input C", *c));
    KILN_RELAX_CHECK(detail::check_same_dtype("gemm", a, *c));
    KILN_RELAX_CHECK(detail::check_broadcastable_to("gemm", "input C", *c, out));
  }
  return out;
}

// Fused scaled dot-product attention, softmax(q @ k^T * scale + mask) @ v:
// q [..., s, d], k [..., t, d], v [..., t, dv] -> [..., s, dv], the leading dims (batch,
// heads) broadcast. The mask, bool or of q's dtype, broadcasts to the scores [..., s, t].
constexpr Inferred<TensorType> attention(const TensorType& q, const TensorType& k, const TensorType& v,
                                         const TensorType* mask = nullptr) noexcept {
  KILN_RELAX_CHECK(detail::check_input("attention", "the query", q));
  KILN_RELAX_CHECK(detail::check_input("attention", "the key", k));
  KILN_RELAX_CHECK(detail::check_input("attention", "the value", v));
  KILN_RELAX_CHECK(detail::check_element("attention", "the query", q, ElementKind::floating));
  KILN_RELAX_CHECK(detail::check_same_dtype("attention", q, k));
  KILN_RELAX_CHECK(detail::check_same_dtype("attention", q, v));
  if (q.rank < 2 || k.rank != q.rank || v.rank != q.rank)
    return type_error(StatusCode::shape_mismatch,
                      "attention: query, key and value must have one rank of 2 or more, got ", q, ", ", k, ", ", v);
  const int r = q.rank;
  if (prove_equal(q.dims[r - 1], k.dims[r - 1]) == Truth::no)
    return type_error(StatusCode::shape_mismatch, "attention: query head size ", q.dims[r - 1],
                      " and key head size ", k.dims[r - 1], " differ");
  if (prove_equal(k.dims[r - 2], v.dims[r - 2]) == Truth::no)
    return type_error(StatusCode::shape_mismatch, "attention: key length ", k.dims[r - 2], " and value length ",
                      v.dims[r - 2], " differ");
  TensorType qk = q.with_no_dims();
  TensorType out = q.with_no_dims();
  if (!detail::broadcast_leading(q, r - 2, k, r - 2, qk) || !detail::broadcast_leading(qk, r - 2, v, r - 2, out))
    return type_error(StatusCode::shape_mismatch, "attention: leading dimensions of ", q, ", ", k, " and ", v,
                      " cannot be broadcast");
  if (mask) {
    KILN_RELAX_CHECK(detail::check_input("attention", "the mask", *mask));
    if (mask->dtype != DType::boolean && mask->dtype != q.dtype)
      return type_error(StatusCode::dtype_mismatch, "attention: the mask must be bool or ", q.dtype, ", got ",
                        mask->dtype);
    TensorType scores = out;
    scores.push_back(q.dims[r - 2]);
    scores.push_back(k.dims[r - 2]);
    KILN_RELAX_CHECK(detail::check_broadcastable_to("attention", "the mask", *mask, scores));
  }
  out.push_back(q.dims[r - 2]);
  out.push_back(v.dims[r - 1]);
  return out;
}

} // namespace kiln::relax::infer
