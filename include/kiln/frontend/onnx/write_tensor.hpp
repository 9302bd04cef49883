// kiln/frontend/onnx/write_tensor.hpp: a tensor encoded as an ONNX TensorProto (dims,
// data_type, name and little-endian raw_data), the format of the backend tests'
// input_K.pb / output_K.pb files, so that what kiln computes can be read back by any ONNX
// tool. The VM's output slots are written the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "../../core/dtype.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../../vm/slot.hpp"
#include "proto.hpp"

namespace kiln::onnx {

// The ONNX element type of a kiln dtype.
constexpr std::optional<DataType> to_data_type(DType dtype) noexcept {
  switch (dtype) {
    case DType::f32: return DataType::float32;
    case DType::f64: return DataType::float64;
    case DType::f16: return DataType::float16;
    case DType::bf16: return DataType::bfloat16;
    case DType::i8: return DataType::int8;
    case DType::u8: return DataType::uint8;
    case DType::i16: return DataType::int16;
    case DType::u16: return DataType::uint16;
    case DType::i32: return DataType::int32;
    case DType::u32: return DataType::uint32;
    case DType::i64: return DataType::int64;
    case DType::u64: return DataType::uint64;
    case DType::boolean: return DataType::boolean;
  }
  return std::nullopt;
}

namespace detail {

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Field numbers of TensorProto; wire types 0 (varint) and 2 (length-delimited).
inline void put_tag(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
}

inline void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

} // namespace detail

// The TensorProto bytes of a dense, row-major tensor of `dtype` and `dims` at `data`.
inline Result<std::string> encode_tensor(std::string_view name, DType dtype, std::span<const std::int64_t> dims,
                                         const void* data) {
  const std::optional<DataType> type = to_data_type(dtype);
  if (!type) return make_error(StatusCode::unsupported, "onnx: no ONNX element type for ", to_string(dtype));
  std::size_t count = 1;
  for (std::int64_t d : dims) {
    if (d < 0) return make_error(StatusCode::invalid_argument, "onnx: tensor '", name, "' has a negative dim");
    count *= static_cast<std::size_t>(d);
  }
  std::string out;
  std::string packed_dims;
  for (std::int64_t d : dims) detail::put_varint(packed_dims, static_cast<std::uint64_t>(d));
  if (!dims.empty()) detail::put_bytes(out, 1, packed_dims);
  detail::put_tag(out, 2, 0);
  detail::put_varint(out, static_cast<std::uint64_t>(*type));
  if (!name.empty()) detail::put_bytes(out, 8, name);
  // kiln's dtypes are stored little-endian on every machine it builds for, as raw_data is.
  const std::size_t bytes = count * size_of(dtype);
  detail::put_bytes(out, 9, std::string_view(static_cast<const char*>(data), bytes));
  return out;
}

// A VM output slot as a TensorProto file at `path`. The slot must be contiguous.
inline Status write_tensor_file(const std::filesystem::path& path, std::string_view name, const vm::Slot& slot) {
  if (!slot.contiguous())
    return make_error(StatusCode::invalid_argument, "onnx: output '", name, "' is not contiguous");
  KILN_ASSIGN_OR_RETURN(const std::string bytes, encode_tensor(name, slot.dtype, slot.shape(), slot.data));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return make_error(StatusCode::not_found, "onnx: cannot write ", path.string());
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) return make_error(StatusCode::internal, "onnx: writing ", path.string(), " failed");
  return {};
}

} // namespace kiln::onnx
