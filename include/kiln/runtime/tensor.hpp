// kiln/runtime/tensor.hpp: Tensor, an n-dimensional array whose dtype and shape are known at
// run time, holding a share of reference-counted, 64-byte-aligned storage.
//
// Copying a Tensor copies the handle, not the elements (as in PyTorch): slices, reshapes
// and DLPack exports share the storage. clone() makes a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include "../config.hpp"
#include "../core/dtype.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "device.hpp"
#include "storage.hpp"
#include "tensor_view.hpp"

namespace kiln {

using Dims = std::span<const std::int64_t>;

class Tensor {
 public:
  // An undefined tensor: no storage, rank 0, defined() is false.
  Tensor() noexcept = default;

  // A row-major tensor with uninitialized elements.
  static Result<Tensor> empty(DType dtype, Dims dims) {
    Tensor t;
    KILN_RETURN_IF_ERROR(t.set_row_major(dtype, dims, "Tensor::empty"));
    const std::size_t bytes = t.nbytes();
    t.storage_ = detail::Storage::allocate(bytes);
    if (!t.storage_) {
      return make_error(StatusCode::out_of_memory, "Tensor::empty: cannot allocate ", bytes, " bytes for a ",
                        to_string(dtype), " tensor of shape ", shape_string(dims));
    }
    t.data_ = static_cast<std::byte*>(t.storage_.data());
    return t;
  }
  static Result<Tensor> empty(DType dtype, std::initializer_list<std::int64_t> dims) {
    return empty(dtype, Dims(dims.begin(), dims.size()));
  }

  // A row-major tensor with every element zero (all-zero bits is zero for every dtype).
  static Result<Tensor> zeros(DType dtype, Dims dims) {
    KILN_ASSIGN_OR_RETURN(Tensor t, empty(dtype, dims));
    if (t.nbytes() != 0) std::memset(t.data_, 0, t.nbytes());
    return t;
  }
  static Result<Tensor> zeros(DType dtype, std::initializer_list<std::int64_t> dims) {
    return zeros(dtype, Dims(dims.begin(), dims.size()));
  }

  // A row-major tensor holding a copy of `values` (as many as the shape has elements).
  template <Element T>
  static Result<Tensor> from_values(Dims dims, std::span<const T> values) {
    KILN_ASSIGN_OR_RETURN(Tensor t, empty(dtype_v<T>, dims));
    if (static_cast<std::int64_t>(values.size()) != t.numel()) {
      return make_error(StatusCode::shape_mismatch, "Tensor::from_values: shape ", shape_string(dims), " has ",
                        t.numel(), " elements but ", values.size(), " values were given");
    }
    if (!values.empty()) std::memcpy(t.data_, values.data(), values.size_bytes());
    return t;
  }
  template <Element T>
  static Result<Tensor> from_values(std::initializer_list<std::int64_t> dims, std::initializer_list<T> values) {
    return from_values(Dims(dims.begin(), dims.size()), std::span<const T>(values.begin(), values.size()));
  }

  // Wraps memory owned elsewhere without copying. `strides` (in elements) may be empty for
  // row-major. `release(context, data)` runs when the last tensor sharing the memory is
  // destroyed; pass null to borrow memory that outlives them. On error nothing is
  // released: the memory stays the caller's.
  static Result<Tensor> adopt(void* data, DType dtype, Dims dims, Dims strides, Device device,
                              detail::StorageBlock::Release release, void* release_context) {
    Tensor t;
    KILN_RETURN_IF_ERROR(t.set_row_major(dtype, dims, "Tensor::adopt"));
    std::size_t span_bytes = t.nbytes();
    if (!strides.empty()) {
      if (strides.size() != dims.size()) {
        return make_error(StatusCode::invalid_argument, "Tensor::adopt: ", strides.size(), " strides for a rank-",
                          dims.size(), " shape");
      }
      std::int64_t last = 0;  // the largest element offset any index reaches
      for (std::size_t axis = 0; axis < dims.size(); ++axis) {
        if (strides[axis] < 0) {
          return make_error(StatusCode::unsupported, "Tensor::adopt: negative stride ", strides[axis], " on axis ",
                            axis, " is not supported");
        }
        t.strides_[axis] = strides[axis];
        if (dims[axis] > 1 && __builtin_add_overflow(last, (dims[axis] - 1) * strides[axis], &last)) {
          return make_error(StatusCode::out_of_range, "Tensor::adopt: strides overflow the address range");
        }
      }
      span_bytes = t.numel() == 0 ? 0 : static_cast<std::size_t>(last + 1) * size_of(dtype);
    }
    if (data == nullptr && span_bytes != 0) {
      return make_error(StatusCode::invalid_argument, "Tensor::adopt: null data for a tensor of shape ",
                        shape_string(dims));
    }
    t.storage_ = detail::Storage::adopt(data, span_bytes, device, release, release_context);
    if (!t.storage_) return make_error(StatusCode::out_of_memory, "Tensor::adopt: cannot allocate a storage block");
    t.data_ = static_cast<std::byte*>(data);
    return t;
  }

  // Views memory the caller keeps alive for as long as the tensor is used.
  static Result<Tensor> borrow(void* data, DType dtype, Dims dims, Dims strides = {}) {
    return adopt(data, dtype, dims, strides, Device::cpu(), nullptr, nullptr);
  }

  bool defined() const noexcept { return static_cast<bool>(storage_); }
  DType dtype() const noexcept { return dtype_; }
  Device device() const noexcept { return storage_.device(); }
  int rank() const noexcept { return rank_; }
  Dims dims() const noexcept { return Dims(dims_, static_cast<std::size_t>(rank_)); }
  Dims strides() const noexcept { return Dims(strides_, static_cast<std::size_t>(rank_)); }
  std::int64_t dim(int axis) const noexcept { return dims_[axis]; }
  std::int64_t stride(int axis) const noexcept { return strides_[axis]; }
  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (int axis = 0; axis < rank_; ++axis) n *= dims_[axis];
    return n;
  }
  std::size_t itemsize() const noexcept { return size_of(dtype_); }
  // Bytes of the elements (not of the strided span they may cover).
  std::size_t nbytes() const noexcept { return static_cast<std::size_t>(numel()) * itemsize(); }
  // How many tensors share this one's storage.
  long use_count() const noexcept { return storage_.use_count(); }

  bool is_contiguous() const noexcept {
    std::int64_t expected = 1;
    for (int axis = rank_; axis-- > 0;) {
      if (dims_[axis] != 1 && strides_[axis] != expected) return false;
      expected *= dims_[axis];
    }
    return true;
  }

  // The address of element (0, ..., 0).
  void* data() const noexcept { return data_; }

  // The elements as T*; asking for the wrong type is a fatal error that names both.
  template <Element T>
  T* data_as() const {
    check_dtype<T>("Tensor::data_as");
    return reinterpret_cast<T*>(data_);
  }

  // A typed view of rank R with dynamic extents and the tensor's strides.
  template <Element T, std::size_t R>
  Result<DynTensorView<T, R>> view() const {
    if (dtype_ != dtype_v<T>) {
      return make_error(StatusCode::dtype_mismatch, "Tensor::view: the tensor holds ", to_string(dtype_),
                        ", not ", to_string(dtype_v<T>));
    }
    if (static_cast<std::size_t>(rank_) != R) {
      return make_error(StatusCode::shape_mismatch, "Tensor::view: the tensor has rank ", rank_, ", not ", R);
    }
    DynShape<R> shape;
    DynStride<R> stride;
    for (std::size_t axis = 0; axis < R; ++axis) {
      shape.dynamic.values[axis] = dims_[axis];
      stride.dynamic.values[axis] = strides_[axis];
    }
    return DynTensorView<T, R>(reinterpret_cast<T*>(data_), shape, stride);
  }

  // Checked element access: dtype, rank and every index are verified, and a violation is
  // a fatal error that names it.
  template <Element T, class... Idx>
  T& at(Idx... idx) const {
    check_dtype<T>("Tensor::at");
    const std::int64_t indices[] = {0, static_cast<std::int64_t>(idx)...};
    if (static_cast<int>(sizeof...(Idx)) != rank_) {
      detail::fail_on_error(make_error(StatusCode::invalid_argument, "Tensor::at: ", sizeof...(Idx),
                                       " indices for a tensor of rank ", rank_));
    }
    std::int64_t offset = 0;
    for (int axis = 0; axis < rank_; ++axis) {
      const std::int64_t i = indices[axis + 1];
      if (i < 0 || i >= dims_[axis]) {
        detail::fail_on_error(make_error(StatusCode::out_of_range, "Tensor::at: index ", i, " on axis ", axis,
                                         " is outside the extent ", dims_[axis]));
      }
      offset += i * strides_[axis];
    }
    return reinterpret_cast<T*>(data_)[offset];
  }

  // Element i of the leading axis, one rank lower, sharing the storage.
  Result<Tensor> slice(std::int64_t i) const {
    if (rank_ == 0) return make_error(StatusCode::invalid_argument, "Tensor::slice: a rank-0 tensor has no axis to slice");
    if (i < 0 || i >= dims_[0]) {
      return make_error(StatusCode::out_of_range, "Tensor::slice: index ", i, " is outside the leading extent ",
                        dims_[0]);
    }
    Tensor t = *this;
    t.data_ += i * strides_[0] * static_cast<std::int64_t>(itemsize());
    for (int axis = 1; axis < rank_; ++axis) {
      t.dims_[axis - 1] = dims_[axis];
      t.strides_[axis - 1] = strides_[axis];
    }
    t.rank_ = rank_ - 1;
    return t;
  }

  // Rows [begin, end) of the leading axis, same rank, sharing the storage.
  Result<Tensor> slice(std::int64_t begin, std::int64_t end) const {
    if (rank_ == 0) return make_error(StatusCode::invalid_argument, "Tensor::slice: a rank-0 tensor has no axis to slice");
    if (begin < 0 || end < begin || end > dims_[0]) {
      return make_error(StatusCode::out_of_range, "Tensor::slice: range [", begin, ", ", end,
                        ") is outside the leading extent ", dims_[0]);
    }
    Tensor t = *this;
    t.data_ += begin * strides_[0] * static_cast<std::int64_t>(itemsize());
    t.dims_[0] = end - begin;
    return t;
  }

  // The same elements under another shape with as many elements; needs a contiguous tensor.
  Result<Tensor> reshape(Dims new_dims) const {
    if (!is_contiguous()) {
      return make_error(StatusCode::invalid_argument, "Tensor::reshape: a tensor of shape ", shape_string(dims()),
                        " with strides ", shape_string(strides()), " is not contiguous; clone() it first");
    }
    Tensor t = *this;
    KILN_RETURN_IF_ERROR(t.set_row_major(dtype_, new_dims, "Tensor::reshape"));
    if (t.numel() != numel()) {
      return make_error(StatusCode::shape_mismatch, "Tensor::reshape: cannot view ", shape_string(dims()), " (",
                        numel(), " elements) as ", shape_string(new_dims), " (", t.numel(), " elements)");
    }
    return t;
  }
  Result<Tensor> reshape(std::initializer_list<std::int64_t> new_dims) const {
    return reshape(Dims(new_dims.begin(), new_dims.size()));
  }

  // A deep, row-major copy.
  Result<Tensor> clone() const {
    if (!defined()) return Tensor();
    if (device().kind != DeviceKind::cpu) {
      return make_error(StatusCode::unsupported, "Tensor::clone: tensors on ", to_string(device().kind),
                        " cannot be copied on the CPU");
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, empty(dtype_, dims()));
    if (is_contiguous()) {
      if (nbytes() != 0) std::memcpy(t.data_, data_, nbytes());
      return t;
    }
    // Walk the strided source in row-major order.
    const std::size_t item = itemsize();
    std::int64_t index[kMaxRank] = {};
    for (std::int64_t n = 0, total = numel(); n < total; ++n) {
      std::int64_t offset = 0;
      for (int axis = 0; axis < rank_; ++axis) offset += index[axis] * strides_[axis];
      std::memcpy(t.data_ + static_cast<std::size_t>(n) * item, data_ + offset * static_cast<std::int64_t>(item), item);
      for (int axis = rank_; axis-- > 0;) {
        if (++index[axis] < dims_[axis]) break;
        index[axis] = 0;
      }
    }
    return t;
  }

  // "[2, 3, 224, 224]"
  static std::string shape_string(Dims dims) {
    std::string out = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) out += str_cat(i ? ", " : "", dims[i]);
    return out + "]";
  }

 private:
  // Sets dtype, dims and row-major strides after checking every extent and that the
  // element count and byte size fit their types.
  Status set_row_major(DType dtype, Dims dims, const char* where) {
    if (dims.size() > static_cast<std::size_t>(kMaxRank)) {
      return make_error(StatusCode::unsupported, where, ": rank ", dims.size(), " exceeds the maximum rank ", kMaxRank);
    }
    std::int64_t count = 1;
    for (std::size_t axis = 0; axis < dims.size(); ++axis) {
      if (dims[axis] < 0) {
        return make_error(StatusCode::invalid_argument, where, ": extent ", dims[axis], " on axis ", axis,
                          " of shape ", shape_string(dims), " is negative");
      }
      if (__builtin_mul_overflow(count, dims[axis], &count)) {
        return make_error(StatusCode::out_of_range, where, ": shape ", shape_string(dims), " has too many elements");
      }
    }
    if (static_cast<std::uint64_t>(count) > std::numeric_limits<std::size_t>::max() / 16 / size_of(dtype)) {
      return make_error(StatusCode::out_of_range, where, ": shape ", shape_string(dims), " of ", to_string(dtype),
                        " is too large to address");
    }
    dtype_ = dtype;
    rank_ = static_cast<int>(dims.size());
    std::int64_t stride = 1;
    for (int axis = rank_; axis-- > 0;) {
      dims_[axis] = dims[static_cast<std::size_t>(axis)];
      strides_[axis] = stride;
      stride *= dims_[axis];
    }
    return {};
  }

  template <Element T>
  void check_dtype(const char* where) const {
    if (KILN_UNLIKELY(dtype_ != dtype_v<T>)) {
      detail::fail_on_error(make_error(StatusCode::dtype_mismatch, where, ": the tensor holds ", to_string(dtype_),
                                       ", not ", to_string(dtype_v<T>)));
    }
  }

  detail::Storage storage_;
  std::byte* data_ = nullptr;
  DType dtype_ = DType::f32;
  int rank_ = 0;
  std::int64_t dims_[kMaxRank] = {};
  std::int64_t strides_[kMaxRank] = {};
};

} // namespace kiln
