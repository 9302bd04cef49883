// kiln/frontend/onnx/import_ops_einsum.hpp: ONNX's Einsum as transposes, reshapes, matmuls
// and sums.
//
// Each operand first loses its repeated letters (a diagonal, read by a gather of the merged
// axes) and the letters no other operand and not the output use (summed away). Operands
// are then contracted left to right: the letters both share and something later needs are
// batch dims, the shared ones nothing later needs are contracted by a batched matmul of
// [batch, rows, k] and [batch, k, cols]. The last operand is summed over what the output
// lacks and transposed into the output's order. Ellipsis dims must agree between operands
// (they are not broadcast).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

// An operand while the equation is evaluated: its value and the letter of each axis.
struct EinsumTerm {
  Var value;
  std::string letters;
};

// The letters of `term` (rank(term.value) of them) with every letter used once: a repeated
// letter's axes are merged into their diagonal.
inline Result<EinsumTerm> take_diagonals(NodeContext& ctx, EinsumTerm term) {
  relax::Builder& b = ctx.b();
  for (;;) {
    std::size_t first = std::string::npos, second = std::string::npos;
    for (std::size_t i = 0; i < term.letters.size() && second == std::string::npos; ++i)
      for (std::size_t j = i + 1; j < term.letters.size(); ++j)
        if (term.letters[i] == term.letters[j]) {
          first = i;
          second = j;
          break;
        }
    if (second == std::string::npos) return term;
    KILN_RETURN_IF_ERROR(ctx.status());
    const relax::TensorType t = ctx.type(term.value);
    const relax::SymDim n = t.dims[first];
    if (!n.is_constant()) return ctx.unsupported("a diagonal needs its extent known at load time");
    const std::int64_t extent = n.constant_value();
    // Move the two axes last, merge them, and gather positions i * (n + 1).
    relax::Ints perm;
    std::string letters;
    relax::Dims merged;
    for (int a = 0; a < t.rank; ++a) {
      if (a == static_cast<int>(first) || a == static_cast<int>(second)) continue;
      perm.push_back(a);
      letters += term.letters[static_cast<std::size_t>(a)];
      merged.push_back(t.dims[a]);
    }
    perm.push_back(static_cast<std::int64_t>(first));
    perm.push_back(static_cast<std::int64_t>(second));
    merged.push_back(extent * extent);
    std::vector<std::int64_t> positions;
    for (std::int64_t i = 0; i < extent; ++i) positions.push_back(i * (extent + 1));
    const Var flat = b.reshape(b.transpose(term.value, perm), merged);
    term.value = b.gather(flat, ctx.i64_vector(positions), -1);
    term.letters = letters + term.letters[first];
  }
}

// Sums `term` over the axes of the letters in `drop`.
inline void sum_letters(NodeContext& ctx, EinsumTerm& term, const std::string& drop) {
  relax::ReduceAttrs attrs{.keepdims = false};
  std::string kept;
  for (std::size_t a = 0; a < term.letters.size(); ++a) {
    if (drop.find(term.letters[a]) != std::string::npos) attrs.axes.push_back(static_cast<std::int64_t>(a));
    else kept += term.letters[a];
  }
  if (attrs.axes.empty()) return;
  term.letters = kept;
  term.value = ctx.b().reduce(OpKind::reduce_sum, term.value, attrs);
}

// The axes of `term` in the order of `order` (a permutation of its letters).
inline Var in_order(relax::Builder& b, const EinsumTerm& term, const std::string& order) {
  relax::Ints perm;
  bool identity = true;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto a = static_cast<std::int64_t>(term.letters.find(order[i]));
    identity = identity && a == static_cast<std::int64_t>(i);
    perm.push_back(a);
  }
  return identity ? term.value : b.transpose(term.value, perm);
}

// The product of the extents of `letters` in `term`.
inline relax::SymDim extent_of(NodeContext& ctx, const EinsumTerm& term, const std::string& letters) {
  const relax::TensorType t = ctx.type(term.value);
  relax::SymDim n = 1;
  for (char c : letters) n = n * t.dims[term.letters.find(c)];
  return n;
}

inline Status convert_einsum(NodeContext& ctx) {
  std::string equation = ctx.attr_string("equation", "");
  equation.erase(std::remove(equation.begin(), equation.end(), ' '), equation.end());
  const std::size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<std::string> inputs;
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    inputs.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(inputs.size()) != ctx.input_count())
    return ctx.invalid("the equation has ", inputs.size(), " operands, the node ", ctx.input_count(), " inputs");
  // An ellipsis stands for the dims the letters leave, aligned at the right across operands;
  // they get the placeholder letters '0', '1', ... of the widest one.
  constexpr std::string_view kEllipsis = "...";
  int ellipsis_rank = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].find(kEllipsis) == std::string::npos) continue;
    KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(static_cast<int>(i)));
    KILN_RETURN_IF_ERROR(ctx.status());
    ellipsis_rank = std::max(ellipsis_rank, ctx.rank(v) - static_cast<int>(inputs[i].size() - kEllipsis.size()));
  }
  const auto placeholders = [](int first, int last) {
    std::string out;
    for (int k = first; k < last; ++k) out += static_cast<char>('0' + k);
    return out;
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::size_t at = inputs[i].find(kEllipsis);
    if (at == std::string::npos) continue;
    KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(static_cast<int>(i)));
    const int own = ctx.rank(v) - static_cast<int>(inputs[i].size() - kEllipsis.size());
    if (own < 0) return ctx.invalid("operand ", i, " has fewer dims than '", inputs[i], "' names");
    inputs[i].replace(at, kEllipsis.size(), placeholders(ellipsis_rank - own, ellipsis_rank));
  }
  std::string output;
  if (arrow != std::string::npos) {
    output = equation.substr(arrow + 2);
    if (const std::size_t at = output.find(kEllipsis); at != std::string::npos)
      output.replace(at, kEllipsis.size(), placeholders(0, ellipsis_rank));
  } else {
    // Implicit: the ellipsis dims, then the letters used exactly once in alphabetical order.
    output = placeholders(0, ellipsis_rank);
    for (char c = 'A'; c <= 'z'; ++c) {
      int uses = 0;
      for (const std::string& in : inputs) uses += static_cast<int>(std::count(in.begin(), in.end(), c));
      if (uses == 1) output += c;
    }
  }
  std::vector<EinsumTerm> terms;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(const Var v, ctx.input(static_cast<int>(i)));
    KILN_RETURN_IF_ERROR(ctx.status());
    if (ctx.rank(v) != static_cast<int>(inputs[i].size()))
      return ctx.invalid("operand ", i, " has rank ", ctx.rank(v), " but '", inputs[i], "' names ", inputs[i].size(), " axes");
    KILN_ASSIGN_OR_RETURN(EinsumTerm term, take_diagonals(ctx, EinsumTerm{v, inputs[i]}));
    terms.push_back(std::move(term));
  }
  relax::Builder& b = ctx.b();
  // Letters needed by the output or by any operand from `from` on.
  const auto needed_after = [&](std::size_t from) {
    std::string needed = output;
    for (std::size_t i = from; i < terms.size(); ++i) needed += terms[i].letters;
    return needed;
  };
  EinsumTerm acc = terms[0];
  const auto unused = [](const std::string& letters, const std::string& needed) {
    std::string out;
    for (char c : letters)
      if (needed.find(c) == std::string::npos) out += c;
    return out;
  };
  sum_letters(ctx, acc, unused(acc.letters, needed_after(1)));
  for (std::size_t i = 1; i < terms.size(); ++i) {
    EinsumTerm next = terms[i];
    const std::string needed_by_rest = needed_after(i + 1);
    sum_letters(ctx, next, unused(next.letters, needed_by_rest + acc.letters));
    std::string batch, contracted, rows, cols;
    for (char c : acc.letters) {
      if (next.letters.find(c) == std::string::npos) rows += c;
      else if (needed_by_rest.find(c) != std::string::npos) batch += c;
      else contracted += c;
    }
    for (char c : next.letters)
      if (acc.letters.find(c) == std::string::npos) cols += c;
    KILN_RETURN_IF_ERROR(ctx.status());
    const relax::SymDim nb = extent_of(ctx, acc, batch), nr = extent_of(ctx, acc, rows);
    const relax::SymDim nk = extent_of(ctx, acc, contracted), nc = extent_of(ctx, next, cols);
    relax::Dims result_dims;
    for (char c : batch) result_dims.push_back(ctx.type(acc.value).dims[acc.letters.find(c)]);
    for (char c : rows) result_dims.push_back(ctx.type(acc.value).dims[acc.letters.find(c)]);
    for (char c : cols) result_dims.push_back(ctx.type(next.value).dims[next.letters.find(c)]);
    const Var left = b.reshape(in_order(b, acc, batch + rows + contracted), relax::Dims{nb, nr, nk});
    const Var right = b.reshape(in_order(b, next, batch + contracted + cols), relax::Dims{nb, nk, nc});
    acc.value = b.reshape(matmul_any(ctx, left, right), result_dims);
    acc.letters = batch + rows + cols;
  }
  KILN_RETURN_IF_ERROR(ctx.status());
  for (char c : output)
    if (acc.letters.find(c) == std::string::npos)
      return ctx.invalid("the output letter '", std::string(1, c), "' is in no operand");
  return ctx.set_output(0, in_order(b, acc, output));
}

inline constexpr ConverterEntry kEinsumConverters[] = {
    {"Einsum", convert_einsum},
};

} // namespace kiln::onnx::detail
