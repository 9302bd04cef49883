// kiln/frontend/onnx/import_ops_text.hpp: ONNX's TfIdfVectorizer on integer tokens, written
// with comparisons and sums (the sequence length must be known at load time).
//
// For every n-gram length in [min_gram_length, max_gram_length] and every skip in
// [0, max_skip_count] (unigrams once), the tokens at p, p + (skip + 1), ... are compared with
// every n-gram of that length in the pool at once ([rows, positions, grams]); the matches
// are summed over positions and skips, weighted by the mode (TF counts, IDF weights what
// occurs, TFIDF both), and moved to their output columns by a matmul with a constant
// one-hot matrix (ngram_indexes).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../../relax/op_kind.hpp"
#include "import_graph.hpp"
#include "import_ops_nn.hpp"
#include "import_ops_shape.hpp"

namespace kiln::onnx::detail {

using relax::OpKind;
using relax::Var;

inline Status convert_tfidf_vectorizer(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(Var x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.status());
  const std::string mode = ctx.attr_string("mode", "");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") return ctx.invalid("mode must be TF, IDF or TFIDF, got '", mode, "'");
  const std::int64_t min_n = ctx.attr_int("min_gram_length", 0);
  const std::int64_t max_n = ctx.attr_int("max_gram_length", 0);
  const std::int64_t max_skip = ctx.attr_int("max_skip_count", 0);
  const std::vector<std::int64_t> starts = ctx.attr_ints("ngram_counts");
  const std::vector<std::int64_t> columns = ctx.attr_ints("ngram_indexes");
  const std::vector<std::int64_t> pool = ctx.attr_ints("pool_int64s");
  const std::vector<float> weights = ctx.attr_floats("weights");
  if (ctx.has_attr("pool_strings")) return ctx.unsupported("string pools: kiln has no string dtype");
  if (min_n < 1 || max_n < min_n || max_skip < 0) return ctx.invalid("the gram lengths and skip count are out of range");
  const relax::TensorType xt = ctx.type(x);
  if (xt.rank < 1 || xt.rank > 2 || !xt.dims[xt.rank - 1].is_constant() || !is_integer(xt.dtype))
    return ctx.unsupported("the input must be [C] or [N, C] integers with C known at load time, got ", to_string(xt));
  const std::int64_t length = xt.dims[xt.rank - 1].constant_value();
  const std::int64_t outputs = columns.empty() ? 0 : *std::max_element(columns.begin(), columns.end()) + 1;
  relax::Builder& b = ctx.b();
  const bool batched = xt.rank == 2;
  if (!batched) x = b.unsqueeze(x, {0});
  x = b.cast(x, DType::i64);

  // The grams of each length: their first pool position and their ordinal among all grams.
  Var totals;                                         // [rows, grams], every gram of the pool
  const std::int64_t gram_count = static_cast<std::int64_t>(columns.size());
  std::int64_t ordinal = 0;
  for (std::size_t level = 0; level < starts.size(); ++level) {
    const std::int64_t n = static_cast<std::int64_t>(level) + 1;
    const std::int64_t begin = starts[level];
    const std::int64_t end = level + 1 < starts.size() ? starts[level + 1] : static_cast<std::int64_t>(pool.size());
    if (begin < 0 || end < begin || end > static_cast<std::int64_t>(pool.size()) || (end - begin) % n != 0)
      return ctx.invalid("ngram_counts does not split pool_int64s into grams");
    const std::int64_t grams = (end - begin) / n;
    const std::int64_t first = ordinal;
    ordinal += grams;
    if (grams == 0 || n < min_n || n > max_n) continue;
    Var level_sum;  // [rows, grams]
    for (std::int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip) {
      const std::int64_t positions = length - (n - 1) * (skip + 1);
      if (positions <= 0) continue;
      Var match;
      for (std::int64_t i = 0; i < n; ++i) {
        std::vector<std::int64_t> tokens;
        for (std::int64_t g = 0; g < grams; ++g) tokens.push_back(pool[static_cast<std::size_t>(begin + g * n + i)]);
        const Var window = b.unsqueeze(slice_axis(b, x, 1, i * (skip + 1), i * (skip + 1) + positions), {2});
        const std::int64_t dims[] = {1, 1, grams};
        const Var equal = b.compare(OpKind::equal, window, ctx.i64_constant(tokens, dims));
        match = match.valid() ? b.binary(OpKind::logical_and, match, equal) : equal;
      }
      const Var count = b.reduce(OpKind::reduce_sum, b.cast(match, DType::f32), relax::ReduceAttrs{.axes = {1}, .keepdims = false});
      level_sum = level_sum.valid() ? b.add(level_sum, count) : count;
    }
    if (!level_sum.valid()) continue;
    // Placed among all grams: a constant [grams, gram_count] selection.
    std::vector<double> place(static_cast<std::size_t>(grams * gram_count), 0.0);
    for (std::int64_t g = 0; g < grams && first + g < gram_count; ++g)
      place[static_cast<std::size_t>(g * gram_count + first + g)] = 1.0;
    KILN_ASSIGN_OR_RETURN(Tensor placement, tensor_from(DType::f32, {grams, gram_count}, place));
    const Var placed = b.matmul(level_sum, ctx.constant(std::move(placement)));
    totals = totals.valid() ? b.add(totals, placed) : placed;
  }
  if (ordinal != gram_count) return ctx.invalid("ngram_indexes has ", gram_count, " entries for ", ordinal, " grams");
  if (!totals.valid()) totals = b.expand(ctx.scalar(DType::f32, 0), relax::Dims{ctx.type(x).dims[0], gram_count});
  // Weighted by the mode.
  if (mode != "TF") {
    std::vector<double> w(static_cast<std::size_t>(gram_count), 1.0);
    for (std::size_t g = 0; g < w.size() && g < weights.size(); ++g) w[g] = static_cast<double>(weights[g]);
    KILN_ASSIGN_OR_RETURN(Tensor weight_tensor, tensor_from(DType::f32, {gram_count}, w));
    const Var weight = ctx.constant(std::move(weight_tensor));
    if (mode == "IDF")
      totals = b.where(b.compare(OpKind::greater, totals, ctx.scalar(DType::f32, 0)), b.expand(weight, relax::Dims{gram_count}),
                       ctx.scalar(DType::f32, 0));
    else totals = b.multiply(totals, weight);
  }
  // Each gram to its output column.
  std::vector<double> to_column(static_cast<std::size_t>(gram_count * outputs), 0.0);
  for (std::int64_t g = 0; g < gram_count; ++g) {
    const std::int64_t c = columns[static_cast<std::size_t>(g)];
    if (c < 0) return ctx.invalid("ngram_indexes holds the negative column ", c);
    to_column[static_cast<std::size_t>(g * outputs + c)] = 1.0;
  }
  KILN_ASSIGN_OR_RETURN(Tensor column_tensor, tensor_from(DType::f32, {gram_count, outputs}, to_column));
  Var y = b.matmul(totals, ctx.constant(std::move(column_tensor)));
  if (!batched) y = b.squeeze(y, {0});
  return ctx.set_output(0, y);
}

inline constexpr ConverterEntry kTextConverters[] = {
    {"TfIdfVectorizer", convert_tfidf_vectorizer},
};

} // namespace kiln::onnx::detail
