// kiln/backend/cpu/buffer.hpp: the run-time form of a kernel argument on the CPU: a typed
// pointer with the extents and strides of each axis, taken from a TensorView or a Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../../core/dtype.hpp"
#include "../../core/result.hpp"
#include "../../core/shape.hpp"
#include "../../runtime/tensor.hpp"
#include "../../runtime/tensor_view.hpp"

namespace kiln::cpu {

// The offset of index i along one axis of a buffer; along a blocked axis, of its block and
// its position in the block. Indices into a buffer are never negative: unsigned division.
template <bool Blocked, std::int64_t Block>
KILN_FORCEINLINE std::int64_t blocked_offset(std::int64_t i, std::int64_t stride) noexcept {
  if constexpr (Blocked) {
    const auto u = static_cast<std::uint64_t>(i);
    return static_cast<std::int64_t>(u / Block) * stride + static_cast<std::int64_t>(u % Block);
  } else {
    return i * stride;
  }
}

template <class T, std::size_t R>
struct Buffer {
  T* data = nullptr;
  std::int64_t extent[R > 0 ? R : 1] = {};
  std::int64_t stride[R > 0 ? R : 1] = {};
  // Added to every element's offset: a buffer holding only a region of its tensor (a stage
  // computed at another stage's loop) is indexed by the tensor's indices, the region's
  // origin mapping to data[0].
  std::int64_t offset = 0;

  template <class... Idx>
  KILN_FORCEINLINE T* at(Idx... idx) const noexcept {
    std::int64_t element = offset;
    std::size_t axis = 0;
    ((element += static_cast<std::int64_t>(idx) * stride[axis++]), ...);
    return data + element;
  }
  // The element of a buffer whose axis BlockedAxis is stored in blocks of Block elements
  // (transform_layout): stride[BlockedAxis] steps whole blocks and the position inside a
  // block is innermost, with stride one. BlockedAxis < 0: the plain strides of at().
  template <int BlockedAxis, std::int64_t Block, class... Idx>
  KILN_FORCEINLINE T* at_blocked(Idx... idx) const noexcept {
    if constexpr (BlockedAxis < 0) {
      return at(idx...);
    } else {
      return [&]<std::size_t... Q>(std::index_sequence<Q...>) {
        const std::int64_t index[] = {static_cast<std::int64_t>(idx)...};
        return data + (offset + ... + blocked_offset<static_cast<int>(Q) == BlockedAxis, Block>(index[Q], stride[Q]));
      }(std::index_sequence_for<Idx...>{});
    }
  }
  // Whether `lanes` elements from index `first` along axis `axis` (the other indices fixed)
  // lie next to each other in memory, in order.
  template <int BlockedAxis, std::int64_t Block>
  KILN_FORCEINLINE bool unit_run(std::size_t axis, std::int64_t first, std::int64_t lanes) const noexcept {
    if constexpr (BlockedAxis >= 0) {
      if (axis == static_cast<std::size_t>(BlockedAxis))
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(first) % Block) + lanes <= Block;
    }
    return stride[axis] == 1 || lanes <= 1;
  }
};

template <class T> struct is_tensor_view : std::false_type {};
template <class T, class S, class St> struct is_tensor_view<TensorView<T, S, St>> : std::true_type {};

// A TensorView of element type T (const or not) and rank R.
template <class T, std::size_t R, class V>
Result<Buffer<T, R>> to_buffer(const V& v, const char* argument)
  requires is_tensor_view<V>::value
{
  using E = std::remove_const_t<typename V::element_type>;
  static_assert(std::is_same_v<E, std::remove_const_t<T>>, "kiln::cpu: a kernel argument has the wrong element type");
  static_assert(V::rank == R, "kiln::cpu: a kernel argument has the wrong rank");
  static_assert(std::is_const_v<T> || !std::is_const_v<typename V::element_type>,
                "kiln::cpu: the output of a kernel must be writable");
  (void)argument;
  Buffer<T, R> b;
  b.data = v.data();
  for (std::size_t a = 0; a < R; ++a) {
    b.extent[a] = v.shape()[a];
    b.stride[a] = v.stride()[a];
  }
  return b;
}

// A Tensor, checked at run time.
template <class T, std::size_t R>
Result<Buffer<T, R>> to_buffer(const Tensor& t, const char* argument) {
  using E = std::remove_const_t<T>;
  if (!t.defined()) return make_error(StatusCode::invalid_argument, "argument ", argument, " is an undefined tensor");
  if (t.dtype() != dtype_v<E>) {
    return make_error(StatusCode::dtype_mismatch, "argument ", argument, " holds ", to_string(t.dtype()),
                      " but the kernel expects ", to_string(dtype_v<E>));
  }
  if (static_cast<std::size_t>(t.rank()) != R) {
    return make_error(StatusCode::shape_mismatch, "argument ", argument, " has rank ", t.rank(),
                      " but the kernel expects rank ", R);
  }
  if (t.device().kind != DeviceKind::cpu) {
    return make_error(StatusCode::unsupported, "argument ", argument, " lives on ", to_string(t.device().kind),
                      ", not on the CPU");
  }
  Buffer<T, R> b;
  b.data = static_cast<T*>(t.data());
  for (std::size_t a = 0; a < R; ++a) {
    b.extent[a] = t.dim(static_cast<int>(a));
    b.stride[a] = t.stride(static_cast<int>(a));
  }
  return b;
}

} // namespace kiln::cpu
