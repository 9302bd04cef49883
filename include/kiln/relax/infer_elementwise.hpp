// kiln/relax/infer_elementwise.hpp: types of elementwise ops: unary, binary with broadcasting,
// comparisons and logic, where, clip and cast.
#pragma once

#include <string_view>

#include "broadcast.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax::infer {

// relu, exp, neg, not, ...: the input's type. `kind` is what the op computes on
// (unary("exp", x, ElementKind::floating)).
constexpr Inferred<TensorType> unary(std::string_view op, const TensorType& x,
                                     ElementKind kind = ElementKind::any) noexcept {
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, kind));
  return x;
}

// add, mul, pow, ...: both inputs of one dtype, shapes broadcast.
constexpr Inferred<TensorType> binary(std::string_view op, const TensorType& a, const TensorType& b,
                                      ElementKind kind = ElementKind::any) noexcept {
  KILN_RELAX_CHECK(detail::check_same_dtype(op, a, b));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", a, kind));
  return broadcast_shapes(op, a, b);
}

// equal, less, greater_or_equal, ...: a bool tensor of the broadcast shape.
constexpr Inferred<TensorType> compare(std::string_view op, const TensorType& a, const TensorType& b) noexcept {
  KILN_RELAX_CHECK(detail::check_same_dtype(op, a, b));
  KILN_RELAX_ASSIGN(TensorType out, broadcast_shapes(op, a, b));
  out.dtype = DType::boolean;
  return out;
}

// and, or, xor: bool inputs, a bool result.
constexpr Inferred<TensorType> logical(std::string_view op, const TensorType& a, const TensorType& b) noexcept {
  KILN_RELAX_CHECK(detail::check_element(op, "the first input", a, ElementKind::boolean));
  KILN_RELAX_CHECK(detail::check_element(op, "the second input", b, ElementKind::boolean));
  return broadcast_shapes(op, a, b);
}

// where(condition, x, y): elements of x where condition holds, else of y; all three broadcast.
constexpr Inferred<TensorType> where(const TensorType& condition, const TensorType& x, const TensorType& y) noexcept {
  KILN_RELAX_CHECK(detail::check_element("where", "the condition", condition, ElementKind::boolean));
  KILN_RELAX_CHECK(detail::check_same_dtype("where", x, y));
  KILN_RELAX_ASSIGN(const TensorType xy, broadcast_shapes("where", x, y));
  KILN_RELAX_ASSIGN(TensorType out, broadcast_shapes("where", condition, xy));
  out.dtype = x.dtype;
  return out;
}

// clip(x, min, max): x's type; min and max, when given, are scalars of x's dtype.
constexpr Inferred<TensorType> clip(const TensorType& x, const TensorType* min_value = nullptr,
                                    const TensorType* max_value = nullptr) noexcept {
  KILN_RELAX_CHECK(detail::check_input("clip", "the input", x));
  KILN_RELAX_CHECK(detail::check_element("clip", "the input", x, ElementKind::numeric));
  for (const TensorType* bound : {min_value, max_value}) {
    if (!bound) continue;
    KILN_RELAX_CHECK(detail::check_input("clip", "a bound", *bound));
    KILN_RELAX_CHECK(detail::check_same_dtype("clip", x, *bound));
    if (prove_equal(bound->element_count(), 1) != Truth::yes)
      return type_error(StatusCode::shape_mismatch, "clip: ", bound == min_value ? "min" : "max",
                        " must be a scalar, got ", *bound);
  }
  return x;
}

// cast(x, to): x's shape with dtype `to`.
constexpr Inferred<TensorType> cast(const TensorType& x, DType to) noexcept {
  KILN_RELAX_CHECK(detail::check_input("cast", "the input", x));
  TensorType out = x;
  out.dtype = to;
  return out;
}

} // namespace kiln::relax::infer
