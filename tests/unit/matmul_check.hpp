// check_matmuls: runs f32 matmul kernels over every combination of sizes and compares each
// C with a naive loop in double. A run gets row-major views of A (m x k), B (k x n) and
// C (m x n), C filled with a value no product leaves, and returns the kernel's Status.
#pragma once

#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/runtime/tensor_view.hpp>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace kiln::test {

template <class... Runs>
void check_matmuls(std::initializer_list<std::int64_t> ms, std::initializer_list<std::int64_t> ns,
                   std::initializer_list<std::int64_t> ks, Runs... runs) {
  for (std::int64_t m : ms)
    for (std::int64_t n : ns)
      for (std::int64_t k : ks) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        auto a = pattern(at(m * k), 0.3f), b = pattern(at(k * n), 1.1f);
        const auto ref = naive_matmul<float, double>(a, b, m, n, k);
        const auto av = make_view(static_cast<const float*>(a.data()), shape(m, k));
        const auto bv = make_view(static_cast<const float*>(b.data()), shape(k, n));
        int which = 0;
        auto check = [&](auto run) {
          CAPTURE(which);
          std::vector<float> c(at(m * n), -7.0f);
          const auto status = run(av, bv, make_view(c.data(), shape(m, n)));
          INFO(status.to_string());
          REQUIRE(status.ok());
          for (std::size_t q = 0; q < c.size(); ++q) CHECK(c[q] == doctest::Approx(ref[q]).epsilon(1e-4));
          ++which;
        };
        (check(runs), ...);
      }
}

} // namespace kiln::test
