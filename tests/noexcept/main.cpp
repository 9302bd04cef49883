// Built with -fno-exceptions -fno-rtti: the whole library must compile and its error
// handling must work through Status and Result alone.
#include <kiln/kiln.hpp>

#if KILN_HAS_EXCEPTIONS
#error "this test must be compiled with -fno-exceptions"
#endif
#if defined(__GXX_RTTI)
#error "this test must be compiled with -fno-rtti"
#endif

#include <atomic>
#include <cstdio>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

namespace {
int failures = 0;

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

kiln::Result<kiln::Tensor> make_matrix(std::int64_t rows) {
  KILN_ASSIGN_OR_RETURN(kiln::Tensor t, kiln::Tensor::zeros(kiln::DType::f32, {rows, 4}));
  return t;
}

// Runs fn in a child process and returns what it wrote to stderr and how it ended.
template <class Fn>
bool dies_with_message(Fn fn, const char* expected_message) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 2);
    fn();
    _exit(0);
  }
  close(pipe_fds[1]);
  char buf[512] = {};
  std::size_t used = 0;
  for (ssize_t n; (n = read(pipe_fds[0], buf + used, sizeof(buf) - 1 - used)) > 0;) used += static_cast<std::size_t>(n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && std::strstr(buf, expected_message) != nullptr;
}
} // namespace

int main() {
  auto good = make_matrix(3);
  expect(good.ok() && good->numel() == 12, "Result carries a tensor");

  auto bad = make_matrix(-2);
  expect(!bad.ok(), "a negative extent is an error");
  expect(bad.status().code() == kiln::StatusCode::invalid_argument, "the error code is invalid_argument");
  expect(bad.status().message() == "Tensor::empty: extent -2 on axis 0 of shape [-2, 4] is negative",
         "the message names the extent and the axis");

  kiln::f16 h(0.1f);
  expect(static_cast<float>(h) == 0.0999755859375f, "f16 rounds to nearest");

  kiln::ThreadPool pool(2);
  std::atomic<std::int64_t> sum{0};
  pool.parallel_for(0, 1000, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t local = 0;
    for (std::int64_t i = begin; i < end; ++i) local += i;
    sum += local;
  });
  expect(sum == 499500, "parallel_for sums 0..999");

  // Without exceptions, insisting on a missing value prints the status and aborts.
  expect(dies_with_message([&] { (void)bad.value(); },
                           "kiln: fatal: invalid argument: Tensor::empty: extent -2 on axis 0"),
         "value() on an error aborts with the message");
  expect(dies_with_message([&] { (void)good->at<float>(3, 0); },
                           "kiln: fatal: out of range: Tensor::at: index 3 on axis 0 is outside the extent 3"),
         "an out-of-range index aborts with the message");

  if (failures == 0) std::puts("no-exceptions, no-RTTI checks passed");
  return failures == 0 ? 0 : 1;
}
