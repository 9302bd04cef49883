// Tests for kiln::ThreadPool: partitioning, coverage, concurrency, nesting, exceptions, idle sleep, shutdown.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <kiln/runtime/thread_pool.hpp>

namespace {

// The range sizes the brief asks for around a pool of `size` threads.
std::vector<std::int64_t> range_sizes_for(int size) {
  return {0, 1, 2, 3, size - 1, size, size + 1, 1000003};
}

std::int64_t serial_sum(std::int64_t begin, std::int64_t end) {
  std::int64_t total = 0;
  for (std::int64_t i = begin; i < end; ++i) total += i * 3 + 1;
  return total;
}

// The expected static partition, written independently of ThreadPool::chunk_range.
std::vector<std::pair<std::int64_t, std::int64_t>> expected_chunks(std::int64_t begin, std::int64_t end, int size) {
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
  const std::int64_t n = end - begin;
  if (n <= 0) return chunks;
  const std::int64_t count = std::min<std::int64_t>(size, n);
  std::int64_t start = begin;
  for (std::int64_t c = 0; c < count; ++c) {
    const std::int64_t length = n / count + (c < n % count ? 1 : 0);
    chunks.emplace_back(start, start + length);
    start += length;
  }
  return chunks;
}

double process_cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

}  // namespace

TEST_CASE("ThreadPool::size is the requested parallelism, at least 1") {
  CHECK(kiln::ThreadPool(4).size() == 4);
  CHECK(kiln::ThreadPool(1).size() == 1);
  CHECK(kiln::ThreadPool(0).size() == 1);
  CHECK(kiln::ThreadPool(-3).size() == 1);
}

TEST_CASE("ThreadPool parallel_for sums match a serial sum for sizes 1..8") {
  for (int size = 1; size <= 8; ++size) {
    kiln::ThreadPool pool(size);
    for (std::int64_t n : range_sizes_for(size)) {
      for (std::int64_t begin : {std::int64_t{0}, std::int64_t{-17}}) {
        std::atomic<std::int64_t> total{0};
        pool.parallel_for(begin, begin + n, [&](std::int64_t b, std::int64_t e) {
          std::int64_t local = 0;
          for (std::int64_t i = b; i < e; ++i) local += i * 3 + 1;
          total.fetch_add(local, std::memory_order_relaxed);
        });
        CAPTURE(size);
        CAPTURE(n);
        CHECK(total.load() == serial_sum(begin, begin + n));
      }
    }
  }
}

TEST_CASE("ThreadPool visits every index exactly once") {
  std::vector<std::atomic<int>> visits(1000003);
  for (int size = 1; size <= 8; ++size) {
    kiln::ThreadPool pool(size);
    for (std::int64_t n : range_sizes_for(size)) {
      pool.parallel_for_each(0, n, [&](std::int64_t i) { visits[i].fetch_add(1, std::memory_order_relaxed); });
      std::int64_t wrong = 0;
      // Checks and clears in one pass; the slots past n must stay untouched.
      for (std::int64_t i = 0; i < n; ++i) wrong += visits[i].exchange(0, std::memory_order_relaxed) != 1 ? 1 : 0;
      if (n < static_cast<std::int64_t>(visits.size())) wrong += visits[n].load() != 0 ? 1 : 0;
      CAPTURE(size);
      CAPTURE(n);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("ThreadPool chunks follow the static partition exactly") {
  for (int size = 1; size <= 8; ++size) {
    kiln::ThreadPool pool(size);
    for (std::int64_t n : {0, 1, 2, 3, 5, 7, 8, 9, 10, 17, 100, 1001}) {
      std::mutex mutex;
      std::vector<std::pair<std::int64_t, std::int64_t>> seen;
      std::thread::id first_chunk_thread;
      pool.parallel_for(5, 5 + n, [&](std::int64_t b, std::int64_t e) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.emplace_back(b, e);
        if (b == 5) first_chunk_thread = std::this_thread::get_id();
      });
      std::sort(seen.begin(), seen.end());
      CAPTURE(size);
      CAPTURE(n);
      CHECK(seen == expected_chunks(5, 5 + n, size));
      if (n > 0) CHECK(first_chunk_thread == std::this_thread::get_id());  // chunk 0 runs on the caller

      const std::int64_t count = pool.chunk_count(5, 5 + n);
      CHECK(count == std::min<std::int64_t>(size, n));
      for (std::int64_t c = 0; c < count; ++c) {
        const auto range = kiln::ThreadPool::chunk_range(5, 5 + n, count, c);
        CHECK(std::make_pair(range.begin, range.end) == expected_chunks(5, 5 + n, size)[c]);
      }
    }
  }
}

TEST_CASE("ThreadPool runs all chunks at the same time on distinct threads") {
  // Every chunk waits until all of them have started: that only finishes when size()
  // threads (the caller and every worker) run chunks concurrently.
  for (int size : {2, 4, 8}) {
    kiln::ThreadPool pool(size);
    std::atomic<int> arrived{0};
    std::atomic<bool> timed_out{false};
    std::mutex mutex;
    std::set<std::thread::id> threads;
    pool.parallel_for(0, size, [&](std::int64_t, std::int64_t) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        threads.insert(std::this_thread::get_id());
      }
      arrived.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (arrived.load() < size) {
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          break;
        }
        std::this_thread::yield();
      }
    });
    CAPTURE(size);
    CHECK_FALSE(timed_out.load());
    CHECK(threads.size() == static_cast<std::size_t>(size));
  }
}

TEST_CASE("ThreadPool partition handles ranges spanning most of int64 without overflow") {
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min() + 1;
  const std::int64_t hi = std::numeric_limits<std::int64_t>::max() - 1;
  kiln::ThreadPool pool(4);
  REQUIRE(pool.chunk_count(lo, hi) == 4);
  std::int64_t previous_end = lo;
  for (std::int64_t c = 0; c < 4; ++c) {
    const auto range = kiln::ThreadPool::chunk_range(lo, hi, 4, c);
    CHECK(range.begin == previous_end);
    CHECK(range.end > range.begin);
    previous_end = range.end;
  }
  CHECK(previous_end == hi);
}

TEST_CASE("ThreadPool min_chunk_size keeps small ranges on the caller") {
  kiln::ThreadPool pool(4);
  CHECK(pool.chunk_count(0, 100, 64) == 1);
  CHECK(pool.chunk_count(0, 128, 64) == 2);
  CHECK(pool.chunk_count(0, 1000, 64) == 4);
  CHECK(pool.chunk_count(0, 10, 0) == 4);  // a grain below 1 means 1

  std::atomic<int> calls{0};
  std::atomic<bool> all_on_caller{true};
  const auto caller = std::this_thread::get_id();
  pool.parallel_for(
      0, 100,
      [&](std::int64_t b, std::int64_t e) {
        calls.fetch_add(1);
        if (std::this_thread::get_id() != caller) all_on_caller = false;
        CHECK(b == 0);
        CHECK(e == 100);
      },
      64);
  CHECK(calls.load() == 1);
  CHECK(all_on_caller.load());

  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;
  pool.parallel_for(
      0, 130,
      [&](std::int64_t b, std::int64_t e) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.emplace_back(b, e);
      },
      64);
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 65}, {65, 130}});
}

TEST_CASE("ThreadPool gives correct results over many calls in a loop") {
  kiln::ThreadPool pool(4);
  std::vector<std::int64_t> data(64);
  std::iota(data.begin(), data.end(), 1);
  const std::int64_t expected = 64 * 65 / 2;
  int wrong = 0;
  for (int iteration = 0; iteration < 10000; ++iteration) {
    std::atomic<std::int64_t> total{0};
    pool.parallel_for(0, 64, [&](std::int64_t b, std::int64_t e) {
      std::int64_t local = 0;
      for (std::int64_t i = b; i < e; ++i) local += data[i];
      total.fetch_add(local, std::memory_order_relaxed);
    });
    wrong += total.load() != expected ? 1 : 0;
  }
  CHECK(wrong == 0);
}

TEST_CASE("ThreadPool serves concurrent parallel_for calls from several threads") {
  kiln::ThreadPool pool(3);
  constexpr int kCallers = 4;
  constexpr int kCallsEach = 200;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int call = 0; call < kCallsEach; ++call) {
        const std::int64_t n = 1000 + t * 7 + call;
        std::atomic<std::int64_t> total{0};
        pool.parallel_for(0, n, [&](std::int64_t b, std::int64_t e) {
          std::int64_t local = 0;
          for (std::int64_t i = b; i < e; ++i) local += i * 3 + 1;
          total.fetch_add(local, std::memory_order_relaxed);
        });
        if (total.load() != serial_sum(0, n)) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("ThreadPool nested parallel_for runs inline and stays correct") {
  kiln::ThreadPool pool(4);
  constexpr std::int64_t kRows = 37;
  constexpr std::int64_t kCols = 101;
  std::vector<std::atomic<int>> visits(kRows * kCols);
  std::atomic<bool> nested_seen_region{true};
  CHECK_FALSE(kiln::ThreadPool::in_parallel_region());
  pool.parallel_for(0, kRows, [&](std::int64_t row_begin, std::int64_t row_end) {
    if (!kiln::ThreadPool::in_parallel_region()) nested_seen_region = false;
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      std::atomic<int> inner_calls{0};
      pool.parallel_for(0, kCols, [&](std::int64_t b, std::int64_t e) {
        inner_calls.fetch_add(1);
        for (std::int64_t col = b; col < e; ++col) visits[row * kCols + col].fetch_add(1);
      });
      if (inner_calls.load() != 1) nested_seen_region = false;  // inline: one call with the whole range
    }
  });
  CHECK(nested_seen_region.load());
  CHECK_FALSE(kiln::ThreadPool::in_parallel_region());
  int wrong = 0;
  for (auto& v : visits) wrong += v.load() != 1 ? 1 : 0;
  CHECK(wrong == 0);

  // Nesting across two pools cannot deadlock either.
  kiln::ThreadPool other(3);
  std::atomic<std::int64_t> total{0};
  pool.parallel_for_each(0, 8, [&](std::int64_t i) {
    other.parallel_for_each(0, 100, [&](std::int64_t j) { total.fetch_add(i * 100 + j); });
  });
  CHECK(total.load() == 800 * 799 / 2);  // i * 100 + j enumerates 0..799
}

#if KILN_HAS_EXCEPTIONS
TEST_CASE("ThreadPool rethrows the first exception after every chunk has finished") {
  for (int size : {1, 2, 4, 8}) {
    kiln::ThreadPool pool(size);
    std::atomic<int> finished{0};
    const auto run = [&] {
      pool.parallel_for(0, 8, [&](std::int64_t b, std::int64_t e) {
        if (b <= 5 && 5 < e) throw std::runtime_error("chunk with index 5 failed");
        finished.fetch_add(static_cast<int>(e - b));
      });
    };
    CAPTURE(size);
    CHECK_THROWS_WITH_AS(run(), "chunk with index 5 failed", std::runtime_error);
    const int failed_chunk_size = size == 1 ? 8 : size == 2 ? 4 : size == 4 ? 2 : 1;
    CHECK(finished.load() == 8 - failed_chunk_size);  // the other chunks all ran

    // Every chunk throws: exactly one exception reaches the caller, and the pool still works.
    CHECK_THROWS_AS(pool.parallel_for(0, 100, [](std::int64_t, std::int64_t) { throw 42; }), int);
    std::atomic<std::int64_t> total{0};
    pool.parallel_for(0, 1000, [&](std::int64_t b, std::int64_t e) { total.fetch_add(serial_sum(b, e)); });
    CHECK(total.load() == serial_sum(0, 1000));
  }
}
#endif

TEST_CASE("ThreadPool workers sleep when idle") {
  kiln::ThreadPool pool(3);  // two workers
  std::atomic<std::int64_t> total{0};
  pool.parallel_for(0, 3000, [&](std::int64_t b, std::int64_t e) { total.fetch_add(serial_sum(b, e)); });
  REQUIRE(total.load() == serial_sum(0, 3000));

  const double cpu_before = process_cpu_seconds();
  const auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double cpu_seconds = process_cpu_seconds() - cpu_before;
  const double wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();

  CHECK(wall_seconds >= 0.2);
  // Two spinning workers would burn about 2 * 200 ms of CPU time here.
  CHECK(cpu_seconds < 0.02);

  // And they still wake up for the next call.
  total = 0;
  pool.parallel_for(0, 3000, [&](std::int64_t b, std::int64_t e) { total.fetch_add(serial_sum(b, e)); });
  CHECK(total.load() == serial_sum(0, 3000));
}

TEST_CASE("ThreadPool shuts down cleanly, many times over") {
  int wrong = 0;
  for (int i = 0; i < 120; ++i) {
    const int size = 1 + i % 6;
    kiln::ThreadPool pool(size);
    if (i % 2 == 0) {  // half the pools are destroyed without ever running anything
      std::atomic<std::int64_t> total{0};
      pool.parallel_for(0, 500, [&](std::int64_t b, std::int64_t e) { total.fetch_add(serial_sum(b, e)); });
      wrong += total.load() != serial_sum(0, 500) ? 1 : 0;
    }
  }
  CHECK(wrong == 0);

  // A heap-allocated pool destroyed right after a call (workers may still be settling).
  for (int i = 0; i < 30; ++i) {
    auto pool = std::make_unique<kiln::ThreadPool>(4);
    std::atomic<int> calls{0};
    pool->parallel_for(0, 4, [&](std::int64_t, std::int64_t) { calls.fetch_add(1); });
    pool.reset();
    wrong += calls.load() != 4 ? 1 : 0;
  }
  CHECK(wrong == 0);
}
