// kiln/backend/cpu/buffer.hpp: the run-time form of a kernel argument on the CPU: a typed
// pointer with the extents and strides of each axis, taken from a TensorView or a Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../core/dtype.hpp"
#include "../../core/result.hpp"
#include "../../core/shape.hpp"
#include "../../runtime/tensor.hpp"
#include "../../runtime/tensor_view.hpp"

namespace kiln::cpu {

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
