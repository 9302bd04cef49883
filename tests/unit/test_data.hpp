// Deterministic test inputs shared by the kernel tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::test {

// n values of scale * sin(i * step + phase): smooth, signed, and different for every phase.
inline std::vector<float> pattern(std::size_t n, float phase, float scale = 1.0f, float step = 0.73f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(static_cast<float>(i) * step + phase);
  return v;
}

inline std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

} // namespace kiln::test
