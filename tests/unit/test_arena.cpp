// Tests for kiln::Arena: alignment, bump allocation, exhaustion, reset, peak, adopt, typed arrays.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <kiln/runtime/arena.hpp>

namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

kiln::Arena make_arena(std::size_t capacity) {
  auto arena = kiln::Arena::create(capacity);
  REQUIRE(arena.ok());
  return std::move(arena).value();
}

}  // namespace

static_assert(!std::is_copy_constructible_v<kiln::Arena>);
static_assert(!std::is_copy_assignable_v<kiln::Arena>);
static_assert(std::is_nothrow_move_constructible_v<kiln::Arena>);
static_assert(std::is_nothrow_move_assignable_v<kiln::Arena>);

TEST_CASE("Arena::create owns an aligned block of the requested capacity") {
  kiln::Arena arena = make_arena(1000);
  CHECK(arena.capacity() == 1000);
  CHECK(arena.used() == 0);
  CHECK(arena.remaining() == 1000);
  CHECK(arena.peak() == 0);
  CHECK(arena.owns_memory());
  REQUIRE(arena.data() != nullptr);
  CHECK(kiln::is_aligned(arena.data(), kiln::kDefaultAlignment));
}

TEST_CASE("Arena::create reports an impossible size as out_of_memory naming the size") {
  auto arena = kiln::Arena::create(kMax - 8);
  REQUIRE_FALSE(arena.ok());
  CHECK(arena.status().code() == kiln::StatusCode::out_of_memory);
  CHECK(arena.status().message().find(std::to_string(kMax - 8)) != std::string::npos);
}

TEST_CASE("Arena aligns every allocation to the requested alignment") {
  kiln::Arena arena = make_arena(1 << 16);
  for (std::size_t alignment : {1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 4096u}) {
    arena.reset();
    // Odd sizes knock the offset off alignment between requests.
    for (std::size_t bytes : {1u, 3u, 7u, 13u, 64u, 65u}) {
      void* p = arena.allocate(bytes, alignment);
      REQUIRE(p != nullptr);
      CHECK(kiln::is_aligned(p, alignment));
      std::memset(p, 0xAB, bytes);  // the memory is usable (ASan checks the bounds)
    }
  }
  arena.reset();
  arena.allocate(1, 1);
  void* p = arena.allocate(8);  // default alignment
  REQUIRE(p != nullptr);
  CHECK(kiln::is_aligned(p, kiln::kDefaultAlignment));
  CHECK(arena.used() == kiln::kDefaultAlignment + 8);
}

TEST_CASE("Arena bumps: allocations are contiguous, in order and never overlap") {
  kiln::Arena arena = make_arena(256);
  auto* a = static_cast<std::byte*>(arena.allocate(10, 1));
  auto* b = static_cast<std::byte*>(arena.allocate(20, 1));
  auto* c = static_cast<std::byte*>(arena.allocate(6, 2));
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  REQUIRE(c != nullptr);
  CHECK(a == arena.data());
  CHECK(b == a + 10);
  CHECK(c == b + 20);
  CHECK(arena.used() == 36);
  CHECK(arena.remaining() == 220);

  // Padding for alignment counts as used.
  auto* d = static_cast<std::byte*>(arena.allocate(1, 64));
  CHECK(d == a + 64);
  CHECK(arena.used() == 65);
}

TEST_CASE("Arena rejects alignments that are not powers of two") {
  kiln::Arena arena = make_arena(256);
  for (std::size_t alignment : {0u, 3u, 6u, 12u, 100u}) {
    CHECK(arena.allocate(8, alignment) == nullptr);
    auto r = arena.try_allocate(8, alignment);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == kiln::StatusCode::invalid_argument);
    CHECK(r.status().message().find(std::to_string(alignment)) != std::string::npos);
  }
  CHECK(arena.used() == 0);
}

TEST_CASE("Arena exhaustion returns nullptr and an error naming the sizes") {
  kiln::Arena arena = make_arena(128);
  REQUIRE(arena.allocate(100, 1) != nullptr);
  CHECK(arena.allocate(29, 1) == nullptr);
  CHECK(arena.used() == 100);  // a failed request consumes nothing
  CHECK(arena.allocate(28, 1) != nullptr);
  CHECK(arena.remaining() == 0);
  CHECK(arena.allocate(1, 1) == nullptr);
  CHECK(arena.allocate(0, 1) != nullptr);  // zero bytes still fit exactly at the end

  auto r = arena.try_allocate(50, 16);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == kiln::StatusCode::out_of_memory);
  CHECK(r.status().message() == "arena exhausted: requested 50 bytes (alignment 16) with 128 of 128 bytes used");

  // Enough bytes remain, but not once the padding for the alignment is counted.
  arena.reset();
  REQUIRE(arena.allocate(1, 1) != nullptr);
  CHECK(arena.allocate(127, 64) == nullptr);
  CHECK(arena.allocate(64, 64) != nullptr);
  CHECK(arena.used() == 128);
}

TEST_CASE("Arena::try_allocate returns the same memory allocate would") {
  kiln::Arena arena = make_arena(256);
  auto r = arena.try_allocate(32, 32);
  REQUIRE(r.ok());
  CHECK(*r == arena.data());
  CHECK(arena.used() == 32);
}

TEST_CASE("Arena huge requests fail cleanly instead of wrapping") {
  kiln::Arena arena = make_arena(256);
  REQUIRE(arena.allocate(3, 1) != nullptr);
  CHECK(arena.allocate(kMax, 1) == nullptr);
  CHECK(arena.allocate(kMax, 64) == nullptr);
  CHECK(arena.allocate(kMax - 2, 1) == nullptr);
  CHECK(arena.allocate(kMax - 62, 64) == nullptr);
  CHECK(arena.allocate(8, std::size_t{1} << 63) == nullptr);  // padding alone exceeds the block
  CHECK(arena.used() == 3);

  auto r = arena.try_allocate(kMax);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find(std::to_string(kMax)) != std::string::npos);
}

TEST_CASE("Arena::reset reuses the block from the start") {
  kiln::Arena arena = make_arena(512);
  void* first = arena.allocate(100);
  arena.allocate(200);
  CHECK(arena.used() > 0);
  arena.reset();
  CHECK(arena.used() == 0);
  CHECK(arena.remaining() == 512);
  CHECK(arena.allocate(100) == first);
  CHECK(arena.allocate(512) == nullptr);
  arena.reset();
  CHECK(arena.allocate(512) == first);  // the whole block is available again
}

TEST_CASE("Arena::peak is the high-water mark across resets") {
  kiln::Arena arena = make_arena(1024);
  arena.allocate(300, 1);
  CHECK(arena.peak() == 300);
  arena.reset();
  CHECK(arena.peak() == 300);
  arena.allocate(100, 1);
  CHECK(arena.peak() == 300);
  arena.allocate(400, 1);
  CHECK(arena.peak() == 500);
  arena.allocate(5000, 1);  // a failed request does not count
  CHECK(arena.peak() == 500);
  arena.reset();
  CHECK(arena.used() == 0);
  CHECK(arena.peak() == 500);
}

TEST_CASE("Arena mark and rewind free only what came after the mark") {
  kiln::Arena arena = make_arena(1024);
  arena.allocate(100, 1);
  const kiln::Arena::Marker marker = arena.mark();
  void* scratch = arena.allocate(200, 1);
  arena.allocate(300, 1);
  CHECK(arena.used() == 600);
  arena.rewind(marker);
  CHECK(arena.used() == 100);
  CHECK(arena.allocate(200, 1) == scratch);
  CHECK(arena.peak() == 600);

  // A marker beyond the current position (stale after a reset) is ignored.
  const kiln::Arena::Marker late = arena.mark();
  arena.reset();
  arena.rewind(late);
  CHECK(arena.used() == 0);
}

TEST_CASE("Arena::adopt allocates from caller memory without owning it") {
  alignas(64) std::byte buffer[256];
  {
    kiln::Arena arena = kiln::Arena::adopt(buffer, sizeof(buffer));
    CHECK_FALSE(arena.owns_memory());
    CHECK(arena.data() == buffer);
    CHECK(arena.capacity() == 256);
    void* a = arena.allocate(64);
    void* b = arena.allocate(64);
    CHECK(a == buffer);
    CHECK(b == buffer + 64);
    CHECK(arena.allocate(129) == nullptr);
    CHECK(arena.allocate(128) == buffer + 128);
  }  // destroying a non-owning arena must not free the buffer (ASan would flag a bad free)
  buffer[0] = std::byte{1};
  CHECK(buffer[0] == std::byte{1});
}

TEST_CASE("Arena::adopt aligns on the real address of misaligned caller memory") {
  alignas(64) std::byte buffer[256];
  kiln::Arena arena = kiln::Arena::adopt(buffer + 1, 255);
  void* p = arena.allocate(16, 64);
  CHECK(p == buffer + 64);
  CHECK(arena.used() == 63 + 16);
  CHECK(arena.allocate(1, 1) == buffer + 80);
}

TEST_CASE("Arena::adopt of null memory and the default arena are empty") {
  kiln::Arena empty;
  CHECK(empty.capacity() == 0);
  CHECK(empty.data() == nullptr);
  CHECK(empty.allocate(1) == nullptr);
  CHECK(empty.allocate(0) == nullptr);
  CHECK_FALSE(empty.try_allocate(1).ok());

  kiln::Arena adopted = kiln::Arena::adopt(nullptr, 100);
  CHECK(adopted.capacity() == 0);
  CHECK(adopted.allocate(1) == nullptr);
}

TEST_CASE("Arena::allocate_array returns typed, aligned, non-overlapping storage") {
  kiln::Arena arena = make_arena(4096);
  float* floats = arena.allocate_array<float>(10);
  REQUIRE(floats != nullptr);
  CHECK(kiln::is_aligned(floats, kiln::kDefaultAlignment));
  for (int i = 0; i < 10; ++i) floats[i] = static_cast<float>(i);

  std::int64_t* ints = arena.allocate_array<std::int64_t>(3, 8);
  REQUIRE(ints != nullptr);
  CHECK(kiln::is_aligned(ints, alignof(std::int64_t)));
  CHECK(reinterpret_cast<std::byte*>(ints) >= reinterpret_cast<std::byte*>(floats + 10));

  // The requested alignment never drops below the type's own.
  arena.allocate(1, 1);
  double* doubles = arena.allocate_array<double>(2, 1);
  REQUIRE(doubles != nullptr);
  CHECK(kiln::is_aligned(doubles, alignof(double)));

  // Types with a default constructor are constructed.
  struct Point {
    int x = 7;
    int y = -1;
  };
  Point* points = arena.allocate_array<Point>(4);
  REQUIRE(points != nullptr);
  CHECK(points[3].x == 7);
  CHECK(points[3].y == -1);

  for (int i = 0; i < 10; ++i) CHECK(floats[i] == static_cast<float>(i));
}

TEST_CASE("Arena::allocate_array rejects counts whose byte size overflows") {
  kiln::Arena arena = make_arena(4096);
  CHECK(arena.allocate_array<float>(kMax / 2) == nullptr);
  CHECK(arena.allocate_array<float>(kMax / 4 + 1) == nullptr);  // * 4 would wrap to a small number
  CHECK(arena.allocate_array<double>(kMax) == nullptr);
  CHECK(arena.allocate_array<float>(1025) == nullptr);  // fits size_t, not the arena
  CHECK(arena.used() == 0);
  CHECK(arena.allocate_array<float>(1024) != nullptr);
  CHECK(arena.remaining() == 0);
}

TEST_CASE("Arena moves transfer the block and leave the source empty") {
  kiln::Arena a = make_arena(256);
  void* block = a.data();
  a.allocate(40, 1);

  kiln::Arena b(std::move(a));
  CHECK(b.data() == block);
  CHECK(b.capacity() == 256);
  CHECK(b.used() == 40);
  CHECK(b.peak() == 40);
  CHECK(b.owns_memory());
  CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  CHECK(a.capacity() == 0);
  CHECK(a.used() == 0);
  CHECK(a.allocate(1) == nullptr);

  kiln::Arena c = make_arena(64);
  c = std::move(b);  // c's old block is freed (LeakSanitizer would notice otherwise)
  CHECK(c.data() == block);
  CHECK(c.used() == 40);
  CHECK(b.capacity() == 0);  // NOLINT(bugprone-use-after-move)

  // Moving into an arena that adopted memory must not free that memory.
  alignas(64) std::byte buffer[64];
  kiln::Arena d = kiln::Arena::adopt(buffer, sizeof(buffer));
  d = std::move(c);
  CHECK(d.owns_memory());
  CHECK(d.capacity() == 256);

  auto self = [](kiln::Arena& x) -> kiln::Arena& { return x; };
  d = std::move(self(d));  // self-move keeps the arena intact
  CHECK(d.data() == block);
}
