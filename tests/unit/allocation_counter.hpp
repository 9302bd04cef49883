// allocation_counter.hpp: counts the heap allocations (operator new) a scope makes on its thread.
#pragma once

#include <cstddef>

namespace kiln::test {

// Allocations by this thread while some CountAllocations is alive.
std::size_t counted_allocations() noexcept;

class CountAllocations {
 public:
  CountAllocations() noexcept;
  ~CountAllocations();
  CountAllocations(const CountAllocations&) = delete;
  CountAllocations& operator=(const CountAllocations&) = delete;
  std::size_t count() const noexcept { return counted_allocations() - start_; }

 private:
  std::size_t start_;
};

} // namespace kiln::test
