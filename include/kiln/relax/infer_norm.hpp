// kiln/relax/infer_norm.hpp: types of normalizations (batch, layer, instance, group) and of
// the softmax family. Each returns its input's type and checks the parameters against it.
#pragma once

#include <cstdint>
#include <string_view>

#include "broadcast.hpp"
#include "inferred.hpp"
#include "tensor_type.hpp"

namespace kiln::relax {
namespace detail {

// A per-channel parameter: a 1-D floating-point tensor of `channels` elements.
constexpr Check check_channel_param(std::string_view op, std::string_view role, const TensorType& p,
                                    const SymDim& channels) noexcept {
  KILN_RELAX_CHECK(check_input(op, role, p));
  KILN_RELAX_CHECK(check_element(op, role, p, ElementKind::floating));
  if (p.rank == 1 && prove_equal(p.dims[0], channels) != Truth::no) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": ", role, " must be [", channels, "], got ", p);
}

constexpr Check check_normalized_input(std::string_view op, const TensorType& x, int min_rank) noexcept {
  KILN_RELAX_CHECK(check_input(op, "the input", x));
  KILN_RELAX_CHECK(check_element(op, "the input", x, ElementKind::floating));
  if (x.rank >= min_rank) return std::nullopt;
  return type_error(StatusCode::shape_mismatch, op, ": input must have rank ", min_rank, " or more, got ", x);
}

} // namespace detail

namespace infer {

// Inference-mode batch normalization: x [n, c, ...] with scale, bias, mean and variance [c].
constexpr Inferred<TensorType> batch_norm(const TensorType& x, const TensorType& scale, const TensorType& bias,
                                          const TensorType& mean, const TensorType& variance) noexcept {
  constexpr std::string_view op = "batch_norm";
  KILN_RELAX_CHECK(detail::check_normalized_input(op, x, 2));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the scale", scale, x.dims[1]));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the bias", bias, x.dims[1]));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the mean", mean, x.dims[1]));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the variance", variance, x.dims[1]));
  return x;
}

// Normalizes over the axes from `axis` on; scale and bias broadcast to x's dims from `axis` on.
constexpr Inferred<TensorType> layer_norm(const TensorType& x, const TensorType& scale,
                                          const TensorType* bias = nullptr, std::int64_t axis = -1) noexcept {
  constexpr std::string_view op = "layer_norm";
  KILN_RELAX_CHECK(detail::check_normalized_input(op, x, 1));
  KILN_RELAX_ASSIGN(const int first, detail::normalize_axis(op, axis, x.rank));
  TensorType normalized = x.with_no_dims();
  for (int i = first; i < x.rank; ++i) normalized.push_back(x.dims[i]);
  for (const TensorType* p : {&scale, bias}) {
    if (!p) continue;
    const std::string_view role = p == &scale ? "the scale" : "the bias";
    KILN_RELAX_CHECK(detail::check_input(op, role, *p));
    KILN_RELAX_CHECK(detail::check_same_dtype(op, x, *p));
    KILN_RELAX_CHECK(detail::check_broadcastable_to(op, role, *p, normalized));
  }
  return x;
}

// x [n, c, spatial...] normalized per sample and channel; scale and bias [c].
constexpr Inferred<TensorType> instance_norm(const TensorType& x, const TensorType& scale,
                                             const TensorType& bias) noexcept {
  constexpr std::string_view op = "instance_norm";
  KILN_RELAX_CHECK(detail::check_normalized_input(op, x, 3));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the scale", scale, x.dims[1]));
  KILN_RELAX_CHECK(detail::check_channel_param(op, "the bias", bias, x.dims[1]));
  return x;
}

// x [n, c, ...] normalized per sample over groups of c / num_groups channels. Scale and
// bias are [c] (ONNX opset 21); the [num_groups] form of opset 18 is accepted as well.
constexpr Inferred<TensorType> group_norm(const TensorType& x, const TensorType& scale, const TensorType& bias,
                                          std::int64_t num_groups) noexcept {
  constexpr std::string_view op = "group_norm";
  KILN_RELAX_CHECK(detail::check_normalized_input(op, x, 2));
  if (num_groups < 1)
    return type_error(StatusCode::invalid_argument, op, ": num_groups must be positive, got ", num_groups);
  const SymDim& channels = x.dims[1];
  if (channels.is_constant() && channels.constant_value() % num_groups != 0)
    return type_error(StatusCode::shape_mismatch, op, ": ", channels, " channels do not divide into ", num_groups,
                      " groups");
  for (const TensorType* p : {&scale, &bias}) {
    const std::string_view role = p == &scale ? "the scale" : "the bias";
    const bool per_group = p->rank == 1 && prove_equal(p->dims[0], num_groups) == Truth::yes;
    if (!per_group) KILN_RELAX_CHECK(detail::check_channel_param(op, role, *p, channels));
  }
  return x;
}

// softmax, log_softmax, hardmax along `axis`.
constexpr Inferred<TensorType> softmax(std::string_view op, const TensorType& x, std::int64_t axis = -1) noexcept {
  KILN_RELAX_CHECK(detail::check_input(op, "the input", x));
  KILN_RELAX_CHECK(detail::check_element(op, "the input", x, ElementKind::floating));
  if (x.rank == 0) return type_error(StatusCode::shape_mismatch, op, ": input must have rank 1 or more, got ", x);
  KILN_RELAX_CHECK(detail::normalize_axis(op, axis, x.rank).failure());
  return x;
}

} // namespace infer
} // namespace kiln::relax
