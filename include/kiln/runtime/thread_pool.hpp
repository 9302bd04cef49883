// kiln/runtime/thread_pool.hpp: kiln::ThreadPool, fixed workers running statically partitioned parallel_for.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"

#if KILN_HAS_EXCEPTIONS
#include <exception>
#endif

namespace kiln {

// A fixed-size pool for data-parallel loops. `threads` is the total parallelism: the thread
// that calls parallel_for always runs chunk 0 itself, so the pool starts threads - 1 workers.
//
// Design choices:
//  - Static partitioning: [begin, end) is cut into min(size(), n) contiguous chunks of
//    near-equal size, so which indices form a chunk is deterministic (kernels rely on it
//    for reproducible reductions). Which thread runs chunks 1.. is not fixed: idle workers
//    and the caller claim them, so a worker that is slow to wake never delays the call.
//  - No allocation per call: the callable stays on the caller's stack and is handed to the
//    workers as a function pointer plus a void* to it.
//  - Idle workers spin for a short while (kSpin) before they sleep on a condition variable,
//    and so does a caller waiting for the last chunk: a model's kernels come tens of
//    microseconds apart, and waking a sleeping thread takes about as long, so a worker that
//    slept between kernels would find the caller had already run its chunk.
//  - Concurrent parallel_for calls on one pool are serialized. A parallel_for issued from
//    inside a chunk (of any pool) runs inline, so nesting can never deadlock.
//  - With exceptions enabled, the first exception thrown by any chunk is rethrown in the
//    caller once every chunk has finished; the other chunks still run.
class ThreadPool {
 public:
  // The half-open index range of one chunk.
  struct ChunkRange {
    std::int64_t begin;
    std::int64_t end;
  };

  // threads <= 1 starts no workers: every parallel_for runs inline on the caller.
  explicit ThreadPool(int threads) : size_(threads > 1 ? threads : 1) {
    const int worker_count = size_ - 1;
    workers_.reserve(static_cast<std::size_t>(worker_count));
#if KILN_HAS_EXCEPTIONS
    try {
#endif
      for (int i = 0; i < worker_count; ++i) workers_.emplace_back([this] { worker_loop(); });
#if KILN_HAS_EXCEPTIONS
    } catch (...) {
      // The destructor will not run for a half-built pool; stop what was started.
      stop_and_join();
      throw;
    }
#endif
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ThreadPool(ThreadPool&&) = delete;
  ThreadPool& operator=(ThreadPool&&) = delete;

  ~ThreadPool() { stop_and_join(); }

  // Total parallelism: workers plus the calling thread.
  int size() const noexcept { return size_; }

  // True while the current thread runs a chunk of some pool's parallel_for (or is a worker).
  static bool in_parallel_region() noexcept { return in_parallel_region_; }

  // How many chunks parallel_for cuts [begin, end) into: min(size(), n / min_chunk_size),
  // at least 1 for a non-empty range, 0 for an empty one.
  std::int64_t chunk_count(std::int64_t begin, std::int64_t end, std::int64_t min_chunk_size = 1) const noexcept {
    if (end <= begin) return 0;
    const std::uint64_t n = range_size(begin, end);
    const std::uint64_t grain = min_chunk_size > 1 ? static_cast<std::uint64_t>(min_chunk_size) : 1;
    const std::uint64_t by_grain = std::max<std::uint64_t>(n / grain, 1);
    return static_cast<std::int64_t>(std::min<std::uint64_t>(by_grain, static_cast<std::uint64_t>(size_)));
  }

  // Chunk `index` (in [0, chunks)) of [begin, end) cut into `chunks` pieces: every chunk
  // holds n / chunks indices and the first n % chunks hold one more.
  static ChunkRange chunk_range(std::int64_t begin, std::int64_t end, std::int64_t chunks,
                                std::int64_t index) noexcept {
    if (end <= begin || chunks <= 0) return {begin, begin};
    const std::uint64_t n = range_size(begin, end);
    const auto count = static_cast<std::uint64_t>(chunks);
    const auto i = static_cast<std::uint64_t>(index);
    const std::uint64_t base = n / count;
    const std::uint64_t extra = n % count;
    const std::uint64_t first = i * base + std::min(i, extra);
    const std::uint64_t length = base + (i < extra ? 1 : 0);
    // Unsigned arithmetic so that ranges spanning most of int64 cannot overflow.
    return {static_cast<std::int64_t>(static_cast<std::uint64_t>(begin) + first),
            static_cast<std::int64_t>(static_cast<std::uint64_t>(begin) + first + length)};
  }

  // Calls fn(chunk_begin, chunk_end) once per chunk of [begin, end); see chunk_count() and
  // chunk_range(). fn may be called concurrently from several threads and must allow that.
  // Returns when every chunk has finished. Chunks hold at least `min_chunk_size` indices
  // (when the range has that many), so small ranges run inline without waking anyone.
  template <class Fn>
  void parallel_for(std::int64_t begin, std::int64_t end, Fn&& fn, std::int64_t min_chunk_size = 1) {
    const std::int64_t chunks = chunk_count(begin, end, min_chunk_size);
    if (chunks == 0) return;
    if (chunks == 1 || in_parallel_region_) {
      fn(begin, end);  // nothing to share, or nested: inline avoids waiting on busy workers
      return;
    }
    using Callable = std::remove_reference_t<Fn>;
    void* context = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    dispatch(Job{&invoke_callable<Callable>, context, begin, end, chunks});
  }

  // Calls fn(i) for every i in [begin, end), partitioned as parallel_for.
  template <class Fn>
  void parallel_for_each(std::int64_t begin, std::int64_t end, Fn&& fn, std::int64_t min_chunk_size = 1) {
    parallel_for(
        begin, end,
        [&fn](std::int64_t chunk_begin, std::int64_t chunk_end) {
          for (std::int64_t i = chunk_begin; i < chunk_end; ++i) fn(i);
        },
        min_chunk_size);
  }

 private:
  using ChunkFunction = void (*)(void* context, std::int64_t chunk_begin, std::int64_t chunk_end);

  struct Job {
    ChunkFunction invoke = nullptr;
    void* context = nullptr;
    std::int64_t begin = 0;
    std::int64_t end = 0;
    std::int64_t chunk_count = 0;
  };

  // Marks the current thread as running a chunk, restoring the previous state on exit.
  class RegionGuard {
   public:
    RegionGuard() noexcept : previous_(in_parallel_region_) { in_parallel_region_ = true; }
    ~RegionGuard() { in_parallel_region_ = previous_; }
    RegionGuard(const RegionGuard&) = delete;
    RegionGuard& operator=(const RegionGuard&) = delete;

   private:
    bool previous_;
  };

  template <class Callable>
  static void invoke_callable(void* context, std::int64_t chunk_begin, std::int64_t chunk_end) {
    (*static_cast<Callable*>(context))(chunk_begin, chunk_end);
  }

  static std::uint64_t range_size(std::int64_t begin, std::int64_t end) noexcept {
    return static_cast<std::uint64_t>(end) - static_cast<std::uint64_t>(begin);
  }

  void dispatch(const Job& job) {
    // One job at a time: the job slot and the counters below are shared by all callers.
    std::lock_guard<std::mutex> dispatch_lock(dispatch_mutex_);
    RegionGuard region;
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = job;
    next_chunk_ = 1;  // chunk 0 belongs to the caller
    chunks_done_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    lock.unlock();

    // Wake only as many workers as there are chunks to share.
    const std::int64_t helpers = std::min<std::int64_t>(job.chunk_count - 1, size_ - 1);
    if (helpers == size_ - 1) {
      work_available_.notify_all();
    } else {
      for (std::int64_t i = 0; i < helpers; ++i) work_available_.notify_one();
    }

    run_chunk(job, 0);
    lock.lock();
    finish_chunk();
    // Take whatever the workers have not claimed yet rather than wait for them to wake.
    while (next_chunk_ < job_.chunk_count) run_claimed_chunk(lock);
    const std::int64_t chunks = job_.chunk_count;
    if (chunks_done_.load(std::memory_order_relaxed) != chunks) {
      lock.unlock();
      spin_until([&] { return chunks_done_.load(std::memory_order_acquire) == chunks; });
      lock.lock();
    }
    job_done_.wait(lock, [&] { return chunks_done_.load(std::memory_order_relaxed) == chunks; });

    job_ = Job{};  // no worker may see the caller's (soon dead) callable again
#if KILN_HAS_EXCEPTIONS
    std::exception_ptr error = std::exchange(first_error_, nullptr);
    lock.unlock();
    if (error) std::rethrow_exception(error);
#endif
  }

  // Runs one chunk without holding the lock; records the first exception it throws.
  void run_chunk(const Job& job, std::int64_t index) {
    const ChunkRange range = chunk_range(job.begin, job.end, job.chunk_count, index);
#if KILN_HAS_EXCEPTIONS
    try {
      job.invoke(job.context, range.begin, range.end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_error_) first_error_ = std::current_exception();
    }
#else
    job.invoke(job.context, range.begin, range.end);
#endif
  }

  // Called with the lock held after a chunk has run.
  void finish_chunk() {
    if (chunks_done_.fetch_add(1, std::memory_order_release) + 1 == job_.chunk_count) job_done_.notify_one();
  }

  // How long an idle thread polls before it sleeps.
  static constexpr std::chrono::microseconds kSpin{500};

  // Polls `ready` (without the lock) until it holds or kSpin has passed; whether it held.
  template <class Ready>
  static bool spin_until(Ready&& ready) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int round = 0;; ++round) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (std::chrono::steady_clock::now() >= deadline) return ready();
      if (round % 16 == 15) std::this_thread::yield();  // let a descheduled caller run on a busy machine
    }
  }

  // Claims the next chunk (the lock is held and one is available), runs it unlocked, and
  // returns with the lock held again.
  void run_claimed_chunk(std::unique_lock<std::mutex>& lock) {
    const std::int64_t index = next_chunk_++;
    const Job job = job_;
    lock.unlock();
    run_chunk(job, index);
    lock.lock();
    finish_chunk();
  }

  void worker_loop() {
    in_parallel_region_ = true;  // a worker only ever runs chunks
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (next_chunk_ < job_.chunk_count) {
        run_claimed_chunk(lock);
        continue;
      }
      if (stopping_) return;  // no job can be in flight: the destructor runs without callers
      // Poll for the next job a while before sleeping (see kSpin).
      const std::uint64_t seen = generation_.load(std::memory_order_acquire);
      lock.unlock();
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      lock.lock();
      work_available_.wait(lock, [this] { return stopping_ || next_chunk_ < job_.chunk_count; });
    }
  }

  void stop_and_join() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1, std::memory_order_release);  // ends the workers' polling
    }
    work_available_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
  }

  static inline thread_local bool in_parallel_region_ = false;

  const int size_;
  std::vector<std::thread> workers_;

  std::mutex dispatch_mutex_;  // serializes concurrent parallel_for calls

  // Everything below is guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_available_;  // workers sleep here
  std::condition_variable job_done_;        // the dispatching caller sleeps here
  Job job_;
  std::int64_t next_chunk_ = 0;   // first chunk nobody has claimed yet
  std::atomic<std::int64_t> chunks_done_{0};  // chunks that have finished (written under the lock)
  bool stopping_ = false;
  std::atomic<std::uint64_t> generation_{0};  // counts jobs and the stop: what idle threads poll
#if KILN_HAS_EXCEPTIONS
  std::exception_ptr first_error_;
#endif
};

} // namespace kiln
