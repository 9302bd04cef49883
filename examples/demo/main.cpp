// kiln-demo: a built-in kernel example on the runtime: a dense layer (matmul + bias + ReLU)
// over a batch, run on the thread pool with its scratch memory in an arena, checked
// against a serial reference.
#include <kiln/kiln.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace kiln;

namespace {
constexpr auto kBatch = 64_c;
constexpr auto kIn = 512_c;
constexpr auto kOut = 256_c;

// y = relu(x @ w + b) for rows [row_begin, row_end)
template <class X, class W, class B, class Y>
void dense_relu(X x, W w, B b, Y y, std::int64_t row_begin, std::int64_t row_end) {
  for (std::int64_t i = row_begin; i < row_end; ++i) {
    for (std::int64_t j = 0; j < kOut; ++j) y(i, j) = b(j);
    for (std::int64_t k = 0; k < kIn; ++k) {
      const float xik = x(i, k);
      for (std::int64_t j = 0; j < kOut; ++j) y(i, j) += xik * w(k, j);
    }
    for (std::int64_t j = 0; j < kOut; ++j) y(i, j) = std::max(y(i, j), 0.0f);
  }
}
} // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  auto arena = Arena::create(4 << 20);
  if (!arena.ok()) {
    std::fprintf(stderr, "kiln-demo: %s\n", arena.status().to_string().c_str());
    return 1;
  }
  auto x = make_view(arena->allocate_array<float>(kBatch * kIn), shape(kBatch, kIn));
  auto w = make_view(arena->allocate_array<float>(kIn * kOut), shape(kIn, kOut));
  auto b = make_view(arena->allocate_array<float>(kOut), shape(kOut));
  auto y = make_view(arena->allocate_array<float>(kBatch * kOut), shape(kBatch, kOut));
  auto ref = make_view(arena->allocate_array<float>(kBatch * kOut), shape(kBatch, kOut));

  // Deterministic inputs; a small linear congruential generator keeps the run repeatable.
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f;
  };
  for (std::int64_t i = 0; i < kBatch; ++i)
    for (std::int64_t k = 0; k < kIn; ++k) x(i, k) = next();
  for (std::int64_t k = 0; k < kIn; ++k)
    for (std::int64_t j = 0; j < kOut; ++j) w(k, j) = next() * 0.1f;
  for (std::int64_t j = 0; j < kOut; ++j) b(j) = next();

  ThreadPool pool(threads);
  const auto start = std::chrono::steady_clock::now();
  pool.parallel_for(0, kBatch, [&](std::int64_t begin, std::int64_t end) { dense_relu(x, w, b, y, begin, end); });
  const auto stop = std::chrono::steady_clock::now();
  dense_relu(x, w, b, ref, 0, kBatch);

  float max_error = 0.0f;
  std::int64_t active = 0;
  for (std::int64_t i = 0; i < kBatch; ++i)
    for (std::int64_t j = 0; j < kOut; ++j) {
      max_error = std::max(max_error, std::fabs(y(i, j) - ref(i, j)));
      active += y(i, j) > 0.0f;
    }
  const double ms = std::chrono::duration<double, std::milli>(stop - start).count();
  std::printf("kiln %s demo: dense layer relu(x[%lld,%lld] @ w[%lld,%lld] + b) on %d threads\n", KILN_VERSION_STRING,
              static_cast<long long>(kBatch), static_cast<long long>(kIn), static_cast<long long>(kIn),
              static_cast<long long>(kOut), pool.size());
  std::printf("time %.3f ms, %lld of %lld outputs active, max |error| vs serial reference %g, arena %zu bytes\n", ms,
              static_cast<long long>(active), static_cast<long long>(kBatch * kOut), static_cast<double>(max_error),
              arena->used());
  return max_error == 0.0f ? 0 : 1;
}
