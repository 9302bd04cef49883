// kiln/frontend/onnx/import_ops_linalg.hpp: ONNX's Det for small matrices: the Leibniz sum
// over permutations of products of elements, for n x n matrices with n known at load time and
// at most kMaxDetOrder (n! products of n elements each).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_shape.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline constexpr std::int64_t kMaxDetOrder = 5;

inline Status convert_det(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const relax::TensorType t = ctx.type(x);
  if (t.rank < 2) return ctx.invalid("the input must have rank 2 or more, got ", to_string(t));
  const relax::SymDim& rows = t.dims[t.rank - 2];
  if (!rows.is_constant() || !(rows == t.dims[t.rank - 1]))
    return ctx.unsupported("the matrices must be square with an order known at load time, got ", to_string(t));
  const std::int64_t n = rows.constant_value();
  if (n < 1 || n > kMaxDetOrder) return ctx.unsupported("matrices of order ", n, " are not supported (1 to ", kMaxDetOrder, ")");
  relax::Builder& b = ctx.b();
  // Element (i, j) of every matrix, [...].
  std::vector<Var> element(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i) {
    const Var row = slice_axis(b, x, -2, i, i + 1);
    for (std::int64_t j = 0; j < n; ++j)
      element[static_cast<std::size_t>(i * n + j)] = b.squeeze(slice_axis(b, row, -1, j, j + 1), {-2, -1});
  }
  std::vector<std::int64_t> permutation(static_cast<std::size_t>(n));
  std::iota(permutation.begin(), permutation.end(), 0);
  Var total;
  do {
    // The sign is the parity of the inversions.
    int inversions = 0;
    for (std::size_t i = 0; i < permutation.size(); ++i)
      for (std::size_t j = i + 1; j < permutation.size(); ++j) inversions += permutation[i] > permutation[j] ? 1 : 0;
    Var product = element[static_cast<std::size_t>(permutation[0])];
    for (std::int64_t i = 1; i < n; ++i)
      product = b.multiply(product, element[static_cast<std::size_t>(i * n + permutation[static_cast<std::size_t>(i)])]);
    if (!total.valid()) total = inversions % 2 == 0 ? product : b.neg(product);
    else total = inversions % 2 == 0 ? b.add(total, product) : b.subtract(total, product);
  } while (std::next_permutation(permutation.begin(), permutation.end()));
  return ctx.set_output(0, total);
}

inline constexpr ConverterEntry kLinalgConverters[] = {
    {"Det", convert_det},
};

} // namespace kiln::onnx::detail
