// kiln/relax/broadcast.hpp: NumPy broadcasting of symbolic shapes.
//
// Shapes align at their last axis; along each axis the dims must be equal or one of them 1.
// With symbolic dims:
//   - a constant 1 broadcasts against anything;
//   - dims that prove equal (batch and batch, 2*n and n + n) match;
//   - a non-1 constant against a different constant, or against a symbolic dim it is not
//     provably equal to (seq against 4), is an error: the graph says nothing that makes them
//     agree;
//   - two symbolic dims not provably equal (n and m) broadcast to max(n, m), which is the
//     right value whenever the program is valid (n == m, or one of them 1 with the other
//     not 0). The module checks the bound values when it prepares the run.
#pragma once

#include <string_view>

#include "inferred.hpp"
#include "sym_dim.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {
namespace detail {

// The dim `a` and `b` broadcast to, or nullopt when they cannot.
constexpr std::optional<SymDim> broadcast_dim(const SymDim& a, const SymDim& b) noexcept {
  if (a.is_constant(1)) return b;
  if (b.is_constant(1)) return a;
  if (prove_equal(a, b) == Truth::yes) return a;
  if (a.is_constant() || b.is_constant()) return std::nullopt;
  const SymDim m = max(a, b);
  if (!m.valid()) return std::nullopt;
  return m;
}

// Appends to `out` the broadcast of the first `a_count` dims of `a` with the first
// `b_count` dims of `b` (the batch dims of matmul and attention); false when they cannot.
constexpr bool broadcast_leading(const TensorType& a, int a_count, const TensorType& b, int b_count,
                                 TensorType& out) noexcept {
  const int count = a_count > b_count ? a_count : b_count;
  for (int i = 0; i < count; ++i) {
    const int ia = i - (count - a_count);
    const int ib = i - (count - b_count);
    const std::optional<SymDim> d = broadcast_dim(ia >= 0 ? a.dims[ia] : SymDim(1), ib >= 0 ? b.dims[ib] : SymDim(1));
    if (!d) return false;
    out.push_back(*d);
  }
  return true;
}

// Whether `t` can be broadcast to `target` without changing `target` (unidirectional
// broadcasting: a bias to the output of a gemm, a mask to attention scores).
constexpr Check check_broadcastable_to(std::string_view op, std::string_view role, const TensorType& t,
                                       const TensorType& target) noexcept {
  bool ok = t.rank <= target.rank;
  for (int i = 0; ok && i < t.rank; ++i) {
    const SymDim& d = t.dims[i];
    const SymDim& to = target.dims[target.rank - t.rank + i];
    if (d.is_constant(1) || prove_equal(d, to) == Truth::yes) continue;
    // Two symbolic dims that may agree are left to the run-time check.
    ok = !d.is_constant() && !to.is_constant();
  }
  if (ok) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": ", role, " ", t, " cannot be broadcast to ", target);
}

} // namespace detail

namespace infer {

// The shape `a` and `b` broadcast to, with a's dtype.
constexpr Inferred<TensorType> broadcast_shapes(std::string_view op, const TensorType& a,
                                                const TensorType& b) noexcept {
  KILN_RELAX_CHECK(detail::check_input(op, "the first input", a));
  KILN_RELAX_CHECK(detail::check_input(op, "the second input", b));
  TensorType out = a.with_no_dims();
  out.rank = a.rank > b.rank ? a.rank : b.rank;
  for (int i = 0; i < out.rank; ++i) {
    const int ia = i - (out.rank - a.rank);
    const int ib = i - (out.rank - b.rank);
    const SymDim da = ia >= 0 ? a.dims[ia] : SymDim(1);
    const SymDim db = ib >= 0 ? b.dims[ib] : SymDim(1);
    const std::optional<SymDim> d = detail::broadcast_dim(da, db);
    if (!d)
      return type_error(StatusCode::shape_mismatch, op, ": cannot broadcast ", a, " with ", b, ": dimensions ", da,
                        " and ", db, " differ");
    out.dims[i] = *d;
  }
  return out;
}

} // namespace infer
} // namespace kiln::relax
