// weights.hpp: deterministic weights for the example models, so that every run, test and
// benchmark sees the same numbers without shipping weight files.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include <kiln/core/result.hpp>
#include <kiln/runtime/tensor.hpp>

namespace kiln::examples {

struct Weight {
  std::vector<std::int64_t> dims;
  std::vector<float> values;

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (std::int64_t d : dims) n *= d;
    return n;
  }
  // A tensor holding a copy of the values.
  Tensor tensor() const {
    Result<Tensor> t = Tensor::from_values<float>(Dims(dims), std::span<const float>(values));
    return t.ok() ? *t : Tensor();
  }
};

// Values scale * sin(0.37 * i + seed): smooth, signed, different for every seed.
inline Weight make_weight(std::initializer_list<std::int64_t> dims, float seed, float scale) {
  Weight w{std::vector<std::int64_t>(dims), {}};
  w.values.resize(static_cast<std::size_t>(w.elements()));
  for (std::size_t i = 0; i < w.values.size(); ++i)
    w.values[i] = scale * std::sin(0.37f * static_cast<float>(i) + seed);
  return w;
}

} // namespace kiln::examples
