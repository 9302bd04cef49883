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

// C = A * B for row-major A (m x k) and B (k x n), each product and sum taken in Acc.
template <class T, class Acc>
std::vector<double> naive_matmul(const std::vector<T>& a, const std::vector<T>& b, std::int64_t m, std::int64_t n,
                                 std::int64_t k) {
  std::vector<double> c(at(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      Acc sum = 0;
      for (std::int64_t p = 0; p < k; ++p) sum += static_cast<Acc>(a[at(i * k + p)]) * static_cast<Acc>(b[at(p * n + j)]);
      c[at(i * n + j)] = static_cast<double>(sum);
    }
  return c;
}

} // namespace kiln::test
