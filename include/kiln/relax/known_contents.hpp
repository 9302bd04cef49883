// kiln/relax/known_contents.hpp: the elements of small integer tensors that are known at load
// time, perhaps only symbolically: the shape computations of exported graphs.
//
// Exporters write `x.reshape(x.shape[0], -1)` as shape_of -> gather -> concat -> reshape.
// Tracking the elements of those little i64 tensors as SymDims ([batch, -1]) lets reshape
// infer a symbolic output type, and lets the passes turn the chain into a reshape with a
// static or symbolic target.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../runtime/tensor.hpp"
#include "attributes.hpp"
#include "infer_binding.hpp"
#include "op_kind.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {

// Tensors with more elements than this are not tracked: shapes are short.
inline constexpr std::int64_t kMaxTrackedElements = 64;

// Whether a value of type `t` may have tracked contents: an integer scalar or short vector.
inline bool trackable(const TensorType& t) {
  if (!is_integer(t.dtype) || t.rank > 1) return false;
  return t.rank == 0 || (t.dims[0].is_constant() && t.dims[0].constant_value() <= kMaxTrackedElements);
}

// The elements of a constant, when it is a small integer tensor.
inline std::optional<Contents> contents_of(const Tensor& t) {
  if (!t.defined() || !is_integer(t.dtype()) || t.rank() > 1 || t.numel() > kMaxTrackedElements ||
      !t.is_contiguous())
    return std::nullopt;
  Contents out;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const std::int64_t v = visit_dtype(t.dtype(), [&](auto zero) -> std::int64_t {
      using T = decltype(zero);
      if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(static_cast<const T*>(t.data())[i]);
      else return 0;
    });
    out.push_back(v);
  }
  return out;
}

namespace detail {

// ONNX integer division truncates; SymDim's floordiv agrees when the dividend cannot be
// negative and the divisor is a positive constant.
inline std::optional<SymDim> divide_truncating(const SymDim& a, const SymDim& b) {
  if (a.is_constant() && b.is_constant()) {
    if (b.constant_value() == 0) return std::nullopt;
    if (b.constant_value() == -1 && a.constant_value() == detail::kNegInf) return std::nullopt;
    return SymDim(a.constant_value() / b.constant_value());
  }
  if (!b.is_constant() || b.constant_value() <= 0 || a.bounds().lo < 0) return std::nullopt;
  return floordiv(a, b);
}

inline std::optional<SymDim> combine(OpKind op, const SymDim& a, const SymDim& b) {
  switch (op) {
    case OpKind::add: return a + b;
    case OpKind::subtract: return a - b;
    case OpKind::multiply: return a * b;
    case OpKind::divide: return divide_truncating(a, b);
    case OpKind::maximum: return max(a, b);
    case OpKind::minimum: return min(a, b);
    default: return std::nullopt;
  }
}

// An index in [-n, n) as a position, or nullopt.
inline std::optional<std::size_t> position(const SymDim& index, std::size_t n) {
  if (!index.is_constant()) return std::nullopt;
  std::int64_t i = index.constant_value();
  const auto size = static_cast<std::int64_t>(n);
  if (i < 0) i += size;
  if (i < 0 || i >= size) return std::nullopt;
  return static_cast<std::size_t>(i);
}

} // namespace detail

// The elements of the output of `op` when they follow from what is known of its inputs;
// nullopt when they do not (or the output is not a small integer tensor).
inline std::optional<Contents> infer_contents(OpKind op, const Attrs& attrs, std::span<const InferInput> in,
                                              const TensorType& out) {
  if (!trackable(out)) return std::nullopt;
  const auto known = [&](std::size_t i) -> const Contents* {
    return i < in.size() && in[i].contents ? in[i].contents : nullptr;
  };
  std::optional<Contents> result;
  switch (op) {
    case OpKind::shape_of: {
      const TensorType& x = *in[0].type;
      const auto& a = std::get<ShapeOfAttrs>(attrs);
      const auto clamp = [&](std::int64_t v) -> std::int64_t {
        if (v < 0) v += x.rank;
        return v < 0 ? 0 : (v > x.rank ? x.rank : v);
      };
      result.emplace();
      for (std::int64_t i = clamp(a.start); i < clamp(a.end); ++i) result->push_back(x.dims[i]);
      break;
    }
    case OpKind::identity:
    case OpKind::reshape:
    case OpKind::flatten:
    case OpKind::squeeze:
    case OpKind::unsqueeze:
    case OpKind::cast:  // between integer types; trackable(out) rules out the others
      if (const Contents* c = known(0); c && is_integer(in[0].type->dtype)) result = *c;
      break;
    case OpKind::neg:
      if (const Contents* c = known(0)) {
        result.emplace();
        for (const SymDim& d : *c) result->push_back(-d);
      }
      break;
    case OpKind::add:
    case OpKind::subtract:
    case OpKind::multiply:
    case OpKind::divide:
    case OpKind::maximum:
    case OpKind::minimum: {
      const Contents* a = known(0);
      const Contents* b = known(1);
      if (!a || !b) break;
      const std::size_t n = a->size() > b->size() ? a->size() : b->size();
      if ((a->size() != n && a->size() != 1) || (b->size() != n && b->size() != 1)) break;
      result.emplace();
      for (std::size_t i = 0; i < n; ++i) {
        const std::optional<SymDim> d = detail::combine(op, (*a)[a->size() == 1 ? 0 : i], (*b)[b->size() == 1 ? 0 : i]);
        if (!d || !d->valid()) return std::nullopt;
        result->push_back(*d);
      }
      break;
    }
    case OpKind::gather: {
      const Contents* data = known(0);
      const Contents* indices = known(1);
      if (!data || !indices || in[0].type->rank != 1) break;
      result.emplace();
      for (const SymDim& index : *indices) {
        const std::optional<std::size_t> p = detail::position(index, data->size());
        if (!p) return std::nullopt;
        result->push_back((*data)[*p]);
      }
      break;
    }
    case OpKind::concat: {
      result.emplace();
      for (std::size_t i = 0; i < in.size(); ++i) {
        const Contents* c = known(i);
        if (!c) return std::nullopt;
        result->insert(result->end(), c->begin(), c->end());
      }
      break;
    }
    case OpKind::slice: {
      const Contents* c = known(0);
      const auto& a = std::get<SliceAttrs>(attrs);
      if (!c || in[0].type->rank != 1 || a.starts.size() != 1) break;
      const auto n = static_cast<std::int64_t>(c->size());
      const std::int64_t step = a.steps.empty() ? 1 : a.steps[0];
      if (step <= 0) break;  // backwards slices of shapes do not occur in practice
      const auto clamp = [&](std::int64_t v) { return v < 0 ? (v + n < 0 ? 0 : v + n) : (v > n ? n : v); };
      result.emplace();
      for (std::int64_t i = clamp(a.starts[0]); i < clamp(a.ends[0]); i += step)
        result->push_back((*c)[static_cast<std::size_t>(i)]);
      break;
    }
    default: break;
  }
  if (!result) return std::nullopt;
  // The elements must fill the output exactly.
  const std::int64_t expected = out.rank == 0 ? 1 : out.dims[0].constant_value();
  if (static_cast<std::int64_t>(result->size()) != expected) return std::nullopt;
  return result;
}

} // namespace kiln::relax
