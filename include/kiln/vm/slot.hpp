// kiln/vm/slot.hpp: Slot, a value of a running module: where its elements are and their shape.
//
// A slot is plain data (no ownership, no heap), so a prepared execution context holds one per
// value and a kernel call passes them around without allocating. The planner points slots
// into the context's arena, at parameters the caller passed, or at the executable's constants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "../core/dtype.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/tensor.hpp"
#include "../runtime/tensor_view.hpp"

namespace kiln::vm {

struct Slot {
  void* data = nullptr;
  DType dtype = DType::f32;
  int rank = 0;
  std::int64_t dims[kMaxRank] = {};
  std::int64_t strides[kMaxRank] = {};  // in elements

  std::span<const std::int64_t> shape() const noexcept { return {dims, static_cast<std::size_t>(rank)}; }

  std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (int a = 0; a < rank; ++a) n *= dims[a];
    return n;
  }
  std::size_t bytes() const noexcept { return static_cast<std::size_t>(elements()) * size_of(dtype); }

  // Row-major without gaps (extents of 1 may have any stride).
  bool contiguous() const noexcept {
    std::int64_t expect = 1;
    for (int a = rank; a-- > 0;) {
      if (dims[a] != 1 && strides[a] != expect) return false;
      expect *= dims[a];
    }
    return true;
  }

  // Sets dims and row-major strides.
  void set_shape(std::span<const std::int64_t> shape) noexcept {
    rank = static_cast<int>(shape.size());
    std::int64_t stride = 1;
    for (int a = rank; a-- > 0;) {
      dims[a] = shape[static_cast<std::size_t>(a)];
      strides[a] = stride;
      stride *= dims[a];
    }
  }

  template <Element T>
  T* data_as() const noexcept {
    return static_cast<T*>(data);
  }

  // A typed view of rank R; the dtype and rank are the caller's to have checked.
  template <Element T, std::size_t R>
  DynTensorView<T, R> view() const noexcept {
    DynShape<R> shape;
    DynStride<R> stride;
    for (std::size_t a = 0; a < R; ++a) {
      shape.dynamic.values[a] = dims[a];
      stride.dynamic.values[a] = strides[a];
    }
    return DynTensorView<T, R>(static_cast<T*>(data), shape, stride);
  }
};

// A slot over a tensor's memory (the tensor keeps owning it).
inline Slot slot_of(const Tensor& t) noexcept {
  Slot s;
  s.data = t.data();
  s.dtype = t.dtype();
  s.rank = t.rank();
  for (int a = 0; a < t.rank(); ++a) {
    s.dims[a] = t.dim(a);
    s.strides[a] = t.stride(a);
  }
  return s;
}

} // namespace kiln::vm
