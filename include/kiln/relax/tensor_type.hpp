// kiln/relax/tensor_type.hpp: TensorType, the type of a graph value: dtype, rank and symbolic dims.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "../config.hpp"
#include "../core/dtype.hpp"
#include "fixed_string.hpp"
#include "fixed_vector.hpp"
#include "inferred.hpp"
#include "sym_dim.hpp"

namespace kiln::relax {

struct TensorType {
  DType dtype = DType::f32;
  int rank = 0;  // -1 when more than kMaxRank dims were given
  SymDim dims[kMaxRank] = {};

  constexpr TensorType() = default;
  // TensorType(DType::f32, {sym("batch"), 3, 224, 224})
  constexpr TensorType(DType type, std::initializer_list<SymDim> shape) noexcept : dtype(type) {
    if (shape.size() > static_cast<std::size_t>(kMaxRank)) {
      rank = -1;
      return;
    }
    for (const SymDim& d : shape) dims[rank++] = d;
  }

  constexpr const SymDim& operator[](int axis) const noexcept { return dims[axis]; }
  constexpr SymDim& operator[](int axis) noexcept { return dims[axis]; }

  // Whether every dim is a constant: the shapes of a static graph.
  constexpr bool is_static() const noexcept {
    for (int i = 0; i < rank; ++i)
      if (!dims[i].is_constant()) return false;
    return rank >= 0;
  }

  // The product of the dims.
  constexpr SymDim element_count() const noexcept {
    SymDim n = 1;
    for (int i = 0; i < rank; ++i) n = n * dims[i];
    return n;
  }

  // A copy with rank 0, keeping the dtype: the start of a type built dim by dim.
  constexpr TensorType with_no_dims() const noexcept {
    TensorType t;
    t.dtype = dtype;
    return t;
  }
  // Appends a dim; the caller keeps the rank within kMaxRank.
  constexpr void push_back(const SymDim& d) noexcept { dims[rank++] = d; }

  // "f32[batch, 3, 224, 224]"
  template <class Sink>
  constexpr void print(Sink& out) const {
    out.append(to_string(dtype));
    out.append('[');
    for (int i = 0; i < rank; ++i) {
      if (i > 0) out.append(", ");
      dims[i].print(out);
    }
    out.append(']');
  }

  friend constexpr bool operator==(const TensorType& a, const TensorType& b) noexcept {
    if (a.dtype != b.dtype || a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (!(a.dims[i] == b.dims[i])) return false;
    return true;
  }
};

template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, const TensorType& t) noexcept {
  t.print(out);
}

// The dims of a type without its dtype, for messages: "[batch, 3]".
struct DimsOf {
  const TensorType& type;
};
template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, DimsOf dims) noexcept {
  out.append('[');
  for (int i = 0; i < dims.type.rank; ++i) {
    if (i > 0) out.append(", ");
    dims.type.dims[i].print(out);
  }
  out.append(']');
}

inline std::string to_string(const TensorType& t) {
  std::string text;
  detail::StringSink sink{text};
  t.print(sink);
  return text;
}

// Lists an op's attributes and inputs take: axes, pads and strides (Ints), target
// shapes (Dims), and the outputs of multi-output ops (TensorTypeList).
using Ints = FixedVector<std::int64_t, 2 * kMaxRank>;
using Dims = FixedVector<SymDim, kMaxRank>;
inline constexpr int kMaxOutputs = 16;
using TensorTypeList = FixedVector<TensorType, kMaxOutputs>;

// "(f32[batch, 5], i64[batch, 5])"
inline std::string to_string(const TensorTypeList& types) {
  std::string text = "(";
  for (int i = 0; i < types.size(); ++i) {
    if (i > 0) text += ", ";
    text += to_string(types[i]);
  }
  return text + ")";
}

// What kind of element an op accepts.
enum class ElementKind : std::uint8_t {
  any,
  numeric,   // not bool
  floating,  // f32, f64, f16, bf16
  integer,   // signed or unsigned, not bool
  boolean,
};

constexpr bool accepts(ElementKind kind, DType t) noexcept {
  switch (kind) {
    case ElementKind::any: return true;
    case ElementKind::numeric: return t != DType::boolean;
    case ElementKind::floating: return is_floating_point(t);
    case ElementKind::integer: return is_integer(t);
    case ElementKind::boolean: return t == DType::boolean;
  }
  return false;
}

constexpr std::string_view describe(ElementKind kind) noexcept {
  switch (kind) {
    case ElementKind::any: return "any";
    case ElementKind::numeric: return "a numeric";
    case ElementKind::floating: return "a floating-point";
    case ElementKind::integer: return "an integer";
    case ElementKind::boolean: return "a bool";
  }
  return "?";
}

namespace detail {

using Check = std::optional<TypeError>;

// Every input is checked before use: a rank past kMaxRank or a faulted dim is reported
// here, naming the op and the input, instead of surfacing later as a puzzling mismatch.
constexpr Check check_input(std::string_view op, std::string_view role, const TensorType& t) noexcept {
  if (t.rank < 0 || t.rank > kMaxRank)
    return type_error(StatusCode::unsupported, op, ": ", role, " has more than ", kMaxRank, " dimensions");
  for (int i = 0; i < t.rank; ++i) {
    if (!t.dims[i].valid())
      return type_error(StatusCode::unsupported, op, ": dimension ", i, " of ", role, " is invalid (",
                        to_string(t.dims[i].fault()), ")");
  }
  return std::nullopt;
}

constexpr Check check_element(std::string_view op, std::string_view role, const TensorType& t,
                              ElementKind kind) noexcept {
  if (accepts(kind, t.dtype)) return std::nullopt;
  return type_error(StatusCode::dtype_mismatch, op, ": ", role, " must be ", describe(kind), " tensor, got ",
                    t.dtype);
}

constexpr Check check_same_dtype(std::string_view op, const TensorType& a, const TensorType& b) noexcept {
  if (a.dtype == b.dtype) return std::nullopt;
  return type_error(StatusCode::dtype_mismatch, op, ": dtypes ", a.dtype, " and ", b.dtype, " differ");
}

constexpr Check check_rank(std::string_view op, std::string_view role, const TensorType& t, int expected) noexcept {
  if (t.rank == expected) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": ", role, " must have rank ", expected, ", got ", t);
}

// A list attribute that overflowed its capacity.
template <class T, int N>
constexpr Check check_list(std::string_view op, std::string_view what, const FixedVector<T, N>& list) noexcept {
  if (!list.overflow) return std::nullopt;
  return type_error(StatusCode::unsupported, op, ": ", what, " has more than ", N, " values");
}

// A list attribute that must be empty (defaults) or have `expected` values.
template <class T, int N>
constexpr Check check_length(std::string_view op, std::string_view what, const FixedVector<T, N>& list,
                             int expected) noexcept {
  KILN_RELAX_CHECK(check_list(op, what, list));
  if (list.empty() || list.size() == expected) return std::nullopt;
  return type_error(StatusCode::invalid_argument, op, ": ", what, " has ", list.size(), " values, expected ",
                    expected);
}

// An axis in [-rank, rank) as a position in [0, rank).
constexpr Inferred<int> normalize_axis(std::string_view op, std::int64_t axis, int rank) noexcept {
  if (axis < -rank || axis >= rank)
    return type_error(StatusCode::out_of_range, op, ": axis ", axis, " is out of range for rank ", rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// A list of distinct axes, normalized; `marked[i]` tells whether axis i is in it.
struct AxisSet {
  bool marked[kMaxRank] = {};
  int count = 0;
};
constexpr Inferred<AxisSet> normalize_axes(std::string_view op, const Ints& axes, int rank) noexcept {
  KILN_RELAX_CHECK(check_list(op, "axes", axes));
  AxisSet set;
  for (std::int64_t axis : axes) {
    KILN_RELAX_ASSIGN(const int a, normalize_axis(op, axis, rank));
    if (set.marked[a]) return type_error(StatusCode::invalid_argument, op, ": axis ", axis, " is repeated");
    set.marked[a] = true;
    ++set.count;
  }
  return set;
}

} // namespace detail
} // namespace kiln::relax
