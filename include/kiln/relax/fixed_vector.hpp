// kiln/relax/fixed_vector.hpp: a vector of at most N values, usable in constant expressions.
//
// Static graphs run shape inference in the C++ compiler, where nothing may allocate; every
// list the graph level passes around (axes, pads, dims, output types) has a fixed capacity.
#pragma once

#include <initializer_list>

namespace kiln::relax {

template <class T, int N>
struct FixedVector {
  static constexpr int capacity = N;

  T items[N] = {};
  int count = 0;
  bool overflow = false;  // more values were given than fit; users of the list report it

  constexpr FixedVector() = default;
  constexpr FixedVector(std::initializer_list<T> values) noexcept {  // NOLINT: implicit, so {2, 2} works
    for (const T& v : values) push_back(v);
  }

  constexpr void push_back(const T& value) noexcept {
    if (count < N) items[count++] = value;
    else overflow = true;
  }

  constexpr int size() const noexcept { return count; }
  constexpr bool empty() const noexcept { return count == 0; }
  constexpr T& operator[](int i) noexcept { return items[i]; }
  constexpr const T& operator[](int i) const noexcept { return items[i]; }
  constexpr T* begin() noexcept { return items; }
  constexpr T* end() noexcept { return items + count; }
  constexpr const T* begin() const noexcept { return items; }
  constexpr const T* end() const noexcept { return items + count; }
};

} // namespace kiln::relax
