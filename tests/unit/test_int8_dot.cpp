// The int8 dot-product intrinsic (AVX-512 VNNI, AVX-VNNI or portable, per the build's flags)
// and the int8 GEMM on top of it, against a naive loop in 64-bit integers.
#include <doctest/doctest.h>

#include <kiln/backend/cpu/intrin/int8_dot.hpp>

#include <cstdint>
#include <vector>

using namespace kiln::cpu::intrin;

TEST_CASE("int8 GEMM matches a naive loop, extreme values included") {
  for (std::int64_t m : {1, 3, 4, 17})
    for (std::int64_t n : {1, 15, 16, 17, 40})
      for (std::int64_t k : {1, 3, 4, 5, 64, 1023}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        std::vector<std::int8_t> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::int8_t>(static_cast<int>((i * 37 + 11) % 256) - 128);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::int8_t>(static_cast<int>((i * 53 + 7) % 256) - 128);
        a[0] = -128;
        b[0] = -128;
        std::vector<std::int32_t> c(static_cast<std::size_t>(m * n), 12345);
        std::vector<std::byte> workspace(int8_gemm_workspace_bytes(m, n, k));
        REQUIRE(int8_gemm(m, n, k, a.data(), k, b.data(), n, c.data(), n, workspace.data(), workspace.size()).ok());
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) {
            std::int64_t ref = 0;
            for (std::int64_t p = 0; p < k; ++p) ref += std::int64_t{a[std::size_t(i * k + p)]} * b[std::size_t(p * n + j)];
            CHECK(c[std::size_t(i * n + j)] == ref);
          }
      }
}

TEST_CASE("int8 GEMM refuses bad shapes and a short workspace") {
  std::int8_t a[4] = {}, b[4] = {};
  std::int32_t c[4] = {};
  std::byte small[8];
  CHECK(int8_gemm(2, 2, 2, a, 1, b, 2, c, 2, small, sizeof(small)).code() == kiln::StatusCode::invalid_argument);
  CHECK(int8_gemm(2, 2, 2, a, 2, b, 2, c, 2, small, sizeof(small)).message().find("the workspace has 8 bytes") !=
        std::string::npos);
}

TEST_CASE("the packed layout puts 4 consecutive k of a column together") {
  const std::int64_t k = 5, n = 3;
  std::int8_t b[k * n];
  for (int i = 0; i < k * n; ++i) b[i] = static_cast<std::int8_t>(i);
  std::vector<std::int8_t> packed(packed_b_bytes(k, n));
  pack_b_int8(k, n, b, n, packed.data());
  const std::int64_t n_pad = round_up_to(n, kInt8BlockColumns);
  for (std::int64_t p = 0; p < k; ++p)
    for (std::int64_t j = 0; j < n; ++j) CHECK(packed[std::size_t((p / 4) * n_pad * 4 + j * 4 + p % 4)] == b[p * n + j]);
  CHECK(packed[std::size_t(1 * n_pad * 4 + 0 * 4 + 1)] == 0);  // k padding is zero
}
