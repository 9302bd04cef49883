// kiln/runtime/dlpack.hpp: zero-copy exchange of tensors with other libraries through
// DLPack 0.6 (PyTorch, CuPy, JAX, TVM, NumPy).
#pragma once

#include <dlpack/dlpack.h>

#include <cstdint>
#include <new>

#include "../core/dtype.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "tensor.hpp"

namespace kiln {

// kiln dtype -> DLPack type. DLPack 0.6 has no boolean code, so bool is refused rather
// than passed off as uint8.
inline Result<DLDataType> to_dlpack_dtype(DType dtype) {
  auto make = [](std::uint8_t code, std::uint8_t bits) { return DLDataType{code, bits, 1}; };
  switch (dtype) {
    case DType::f32: return make(kDLFloat, 32);
    case DType::f64: return make(kDLFloat, 64);
    case DType::f16: return make(kDLFloat, 16);
    case DType::bf16: return make(kDLBfloat, 16);
    case DType::i8: return make(kDLInt, 8);
    case DType::u8: return make(kDLUInt, 8);
    case DType::i16: return make(kDLInt, 16);
    case DType::u16: return make(kDLUInt, 16);
    case DType::i32: return make(kDLInt, 32);
    case DType::u32: return make(kDLUInt, 32);
    case DType::i64: return make(kDLInt, 64);
    case DType::u64: return make(kDLUInt, 64);
    case DType::boolean: break;
  }
  return make_error(StatusCode::unsupported, "DLPack 0.6 has no type code for ", to_string(dtype));
}

inline std::string describe_dlpack_dtype(DLDataType t) {
  const char* code = "code?";
  switch (t.code) {
    case kDLInt: code = "int"; break;
    case kDLUInt: code = "uint"; break;
    case kDLFloat: code = "float"; break;
    case kDLBfloat: code = "bfloat"; break;
    case kDLComplex: code = "complex"; break;
    case kDLOpaqueHandle: code = "opaque"; break;
    default: break;
  }
  return str_cat(code, static_cast<int>(t.bits), t.lanes != 1 ? str_cat("x", t.lanes) : std::string());
}

// DLPack type -> kiln dtype, refusing vector lanes, complex and opaque types.
inline Result<DType> from_dlpack_dtype(DLDataType t) {
  if (t.lanes == 1) {
    switch (t.code) {
      case kDLFloat:
        if (t.bits == 32) return DType::f32;
        if (t.bits == 64) return DType::f64;
        if (t.bits == 16) return DType::f16;
        break;
      case kDLBfloat:
        if (t.bits == 16) return DType::bf16;
        break;
      case kDLInt:
        if (t.bits == 8) return DType::i8;
        if (t.bits == 16) return DType::i16;
        if (t.bits == 32) return DType::i32;
        if (t.bits == 64) return DType::i64;
        break;
      case kDLUInt:
        if (t.bits == 8) return DType::u8;
        if (t.bits == 16) return DType::u16;
        if (t.bits == 32) return DType::u32;
        if (t.bits == 64) return DType::u64;
        break;
      default: break;
    }
  }
  return make_error(StatusCode::unsupported, "DLPack dtype ", describe_dlpack_dtype(t), " has no kiln dtype");
}

inline const char* describe_dlpack_device(DLDeviceType type) {
  switch (type) {
    case kDLCPU: return "kDLCPU";
    case kDLCUDA: return "kDLCUDA";
    case kDLCUDAHost: return "kDLCUDAHost";
    case kDLOpenCL: return "kDLOpenCL";
    case kDLVulkan: return "kDLVulkan";
    case kDLMetal: return "kDLMetal";
    case kDLVPI: return "kDLVPI";
    case kDLROCM: return "kDLROCM";
    case kDLROCMHost: return "kDLROCMHost";
    case kDLExtDev: return "kDLExtDev";
    case kDLCUDAManaged: return "kDLCUDAManaged";
    default: return "an unknown DLPack device";
  }
}

namespace detail {
// What an exported DLManagedTensor owns: a share of the tensor's storage and the shape
// and stride arrays DLTensor points to.
struct DLPackExport {
  Tensor tensor;
  std::int64_t shape[kMaxRank];
  std::int64_t strides[kMaxRank];
  DLManagedTensor managed;
};
} // namespace detail

// Exports `tensor` without copying. The consumer calls managed->deleter(managed) when done;
// until then the storage stays alive even if every kiln handle is gone.
inline Result<DLManagedTensor*> to_dlpack(const Tensor& tensor) {
  if (!tensor.defined()) return make_error(StatusCode::invalid_argument, "to_dlpack: the tensor is undefined");
  auto dtype = to_dlpack_dtype(tensor.dtype());
  if (!dtype.ok()) return std::move(dtype).status().with_context("to_dlpack");
  DLDevice device{};
  switch (tensor.device().kind) {
    case DeviceKind::cpu: device.device_type = kDLCPU; break;
    case DeviceKind::cuda: device.device_type = kDLCUDA; break;
    case DeviceKind::vulkan: device.device_type = kDLVulkan; break;
  }
  device.device_id = tensor.device().id;

  auto* ctx = new (std::nothrow) detail::DLPackExport;
  if (!ctx) return make_error(StatusCode::out_of_memory, "to_dlpack: cannot allocate the managed tensor");
  ctx->tensor = tensor;
  for (int axis = 0; axis < tensor.rank(); ++axis) {
    ctx->shape[axis] = tensor.dim(axis);
    ctx->strides[axis] = tensor.stride(axis);
  }
  DLTensor& dl = ctx->managed.dl_tensor;
  dl.data = tensor.data();
  dl.device = device;
  dl.ndim = tensor.rank();
  dl.dtype = *dtype;
  dl.shape = ctx->shape;
  dl.strides = ctx->strides;
  dl.byte_offset = 0;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](DLManagedTensor* self) { delete static_cast<detail::DLPackExport*>(self->manager_ctx); };
  return &ctx->managed;
}

// Imports a DLPack tensor without copying. On success the returned Tensor owns `managed`
// and calls its deleter when the last tensor sharing it goes; on error nothing is taken
// and the caller still owns `managed`. Strides and byte_offset are honoured; memory that
// is not on the CPU and dtypes kiln lacks are refused with an error that names them.
inline Result<Tensor> from_dlpack(DLManagedTensor* managed) {
  if (managed == nullptr) return make_error(StatusCode::invalid_argument, "from_dlpack: null DLManagedTensor");
  const DLTensor& dl = managed->dl_tensor;
  if (dl.device.device_type != kDLCPU) {
    return make_error(StatusCode::unsupported, "from_dlpack: memory on ", describe_dlpack_device(dl.device.device_type),
                      " (device id ", dl.device.device_id, ") cannot be imported; this build of kiln accepts kDLCPU");
  }
  auto dtype = from_dlpack_dtype(dl.dtype);
  if (!dtype.ok()) return std::move(dtype).status().with_context("from_dlpack");
  if (dl.ndim < 0 || dl.ndim > kMaxRank) {
    return make_error(StatusCode::unsupported, "from_dlpack: rank ", dl.ndim, " is outside 0..", kMaxRank);
  }
  const auto rank = static_cast<std::size_t>(dl.ndim);
  if (rank > 0 && dl.shape == nullptr) {
    return make_error(StatusCode::invalid_argument, "from_dlpack: a rank-", rank, " tensor with a null shape");
  }
  const std::size_t itemsize = size_of(*dtype);
  if (dl.byte_offset % itemsize != 0) {
    return make_error(StatusCode::invalid_argument, "from_dlpack: byte_offset ", dl.byte_offset,
                      " is not a multiple of the ", to_string(*dtype), " element size ", itemsize);
  }
  auto* data = static_cast<std::byte*>(dl.data) + dl.byte_offset;
  if (!is_aligned(data, itemsize)) {
    return make_error(StatusCode::invalid_argument, "from_dlpack: data at ", static_cast<const void*>(data),
                      " is not aligned for ", to_string(*dtype));
  }
  const Dims dims(dl.shape, rank);
  const Dims strides = dl.strides ? Dims(dl.strides, rank) : Dims();
  auto release = [](void* context, void*) noexcept {
    auto* self = static_cast<DLManagedTensor*>(context);
    if (self->deleter) self->deleter(self);
  };
  auto tensor = Tensor::adopt(data, *dtype, dims, strides, Device::cpu(), release, managed);
  if (!tensor.ok()) return std::move(tensor).status().with_context("from_dlpack");
  return tensor;
}

} // namespace kiln
