// allocation_counter.cpp: replaces the global operator new so that tests can count allocations.
#include "allocation_counter.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local int counting_depth = 0;
thread_local std::size_t allocations = 0;

void* try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (counting_depth > 0) ++allocations;
  if (bytes == 0) bytes = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) p = std::malloc(bytes);
  else if (posix_memalign(&p, alignment, bytes) != 0) p = nullptr;
  return p;
}
void* allocate(std::size_t bytes, std::size_t alignment) {
  void* p = try_allocate(bytes, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
} // namespace

namespace kiln::test {
std::size_t counted_allocations() noexcept { return allocations; }
CountAllocations::CountAllocations() noexcept : start_(allocations) { ++counting_depth; }
CountAllocations::~CountAllocations() { --counting_depth; }
} // namespace kiln::test

void* operator new(std::size_t bytes) { return allocate(bytes, 0); }
void* operator new[](std::size_t bytes) { return allocate(bytes, 0); }
void* operator new(std::size_t bytes, std::align_val_t a) { return allocate(bytes, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t bytes, std::align_val_t a) { return allocate(bytes, static_cast<std::size_t>(a)); }
// Every form is replaced, so that nothing allocated here is freed by another allocator's
// delete (AddressSanitizer checks that they match).
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept { return try_allocate(bytes, 0); }
void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept { return try_allocate(bytes, 0); }
void* operator new(std::size_t bytes, std::align_val_t a, const std::nothrow_t&) noexcept {
  return try_allocate(bytes, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t bytes, std::align_val_t a, const std::nothrow_t&) noexcept {
  return try_allocate(bytes, static_cast<std::size_t>(a));
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
