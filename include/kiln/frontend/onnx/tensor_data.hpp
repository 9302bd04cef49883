// kiln/frontend/onnx/tensor_data.hpp: a decoded ONNX TensorProto as a kiln::Tensor.
//
// The elements come from one of three places, as ONNX's IR specifies:
//  - raw_data: the elements' little-endian bytes, densely packed;
//  - the typed field of the data type: float_data (FLOAT), double_data (DOUBLE),
//    int64_data (INT64), uint64_data (UINT32, UINT64), or int32_data, which carries the other
//    types of 32 bits or fewer: INT32, INT16, UINT16, INT8, UINT8, BOOL as values, FLOAT16 and
//    BFLOAT16 as their 16-bit patterns;
//  - external data (data_location == EXTERNAL): the bytes of a file named by the
//    external_data entries location, offset and length, relative to the model's directory.
// Every source is checked against the element count of dims (overflow-checked), so the
// tensor allocated is never larger than the data the input actually holds.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/dtype.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "../../runtime/tensor.hpp"
#include "file_bytes.hpp"
#include "proto.hpp"

namespace kiln::onnx {

// The kiln dtype of an ONNX element type, if kiln has one (it has no strings, complex
// numbers or 8- and 4-bit floats).
constexpr std::optional<DType> to_dtype(DataType type) noexcept {
  switch (type) {
    case DataType::float32: return DType::f32;
    case DataType::float64: return DType::f64;
    case DataType::float16: return DType::f16;
    case DataType::bfloat16: return DType::bf16;
    case DataType::int8: return DType::i8;
    case DataType::uint8: return DType::u8;
    case DataType::int16: return DType::i16;
    case DataType::uint16: return DType::u16;
    case DataType::int32: return DType::i32;
    case DataType::uint32: return DType::u32;
    case DataType::int64: return DType::i64;
    case DataType::uint64: return DType::u64;
    case DataType::boolean: return DType::boolean;
    default: return std::nullopt;
  }
}

// Where the bytes of an external tensor are: TensorProto.external_data's entries.
struct ExternalDataLocation {
  std::string location;                 // relative to the model's directory
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;  // absent: to the end of the file
};

namespace detail {

// "onnx: model.onnx: TensorProto 'weight'"
inline std::string tensor_context(const TensorProto& proto, std::string_view source) {
  std::string out = "onnx: ";
  if (!source.empty()) out += str_cat(source, ": ");
  if (proto.name.empty()) return out + "TensorProto (unnamed)";
  return str_cat(out, "TensorProto '", proto.name, "'");
}

// Makes the errors of one tensor, each naming it (and the file it came from).
struct TensorError {
  const TensorProto& proto;
  std::string_view source;

  template <class... Pieces>
  Status operator()(StatusCode code, const Pieces&... pieces) const {
    return make_error(code, tensor_context(proto, source), ": ", pieces...);
  }
};

// A decimal integer without sign or spaces, as ONNX writes offsets and lengths.
inline std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (__builtin_mul_overflow(value, std::uint64_t{10}, &value) ||
        __builtin_add_overflow(value, static_cast<std::uint64_t>(c - '0'), &value)) {
      return std::nullopt;
    }
  }
  return value;
}

// Copies `count` little-endian elements of `size` bytes to `out` in the host's byte order.
inline void copy_little_endian(const std::byte* in, std::size_t count, std::size_t size, std::byte* out) noexcept {
  if (count == 0) return;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, in, count * size);
  } else {
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t b = 0; b < size; ++b) out[i * size + b] = in[i * size + (size - 1 - b)];
  }
}

// A bool is one byte that must hold 0 or 1 for C++ to read it; any nonzero byte is true.
inline void normalize_bools(Tensor& tensor) noexcept {
  auto* bytes = static_cast<unsigned char*>(tensor.data());
  for (std::int64_t i = 0, n = tensor.numel(); i < n; ++i) bytes[i] = bytes[i] != 0 ? 1 : 0;
}

// The typed field that holds a data type's elements, and how many it holds.
struct TypedField {
  std::string_view name;
  std::size_t size = 0;
};

inline TypedField typed_field_of(const TensorProto& proto) noexcept {
  switch (proto.data_type) {
    case DataType::float32:
    case DataType::complex64: return {"float_data", proto.float_data.size()};
    case DataType::float64:
    case DataType::complex128: return {"double_data", proto.double_data.size()};
    case DataType::int64: return {"int64_data", proto.int64_data.size()};
    case DataType::uint32:
    case DataType::uint64: return {"uint64_data", proto.uint64_data.size()};
    case DataType::string: return {"string_data", proto.string_data.size()};
    default: return {"int32_data", proto.int32_data.size()};
  }
}

// How many of the typed fields hold anything: data in more than one, or in one the data
// type does not use, is a malformed tensor.
inline std::size_t filled_typed_fields(const TensorProto& proto) noexcept {
  return std::size_t{!proto.float_data.empty()} + std::size_t{!proto.int32_data.empty()} +
         std::size_t{!proto.string_data.empty()} + std::size_t{!proto.int64_data.empty()} +
         std::size_t{!proto.double_data.empty()} + std::size_t{!proto.uint64_data.empty()};
}

// int32_data -> an integer type of 16 bits or fewer, refusing values that do not fit.
template <class T>
Status narrow_int32_data(const TensorProto& proto, const TensorError& error, std::int64_t lowest, std::int64_t highest,
                         Tensor& tensor) {
  T* out = static_cast<T*>(tensor.data());
  for (std::size_t i = 0; i < proto.int32_data.size(); ++i) {
    const std::int32_t value = proto.int32_data[i];
    if (value < lowest || value > highest) {
      return error(StatusCode::parse_error, "int32_data[", i, "] = ", value, " does not fit ",
                   describe(proto.data_type), " (", lowest, " to ", highest, ")");
    }
    out[i] = static_cast<T>(value);
  }
  return {};
}

inline Status copy_typed_field(const TensorProto& proto, const TensorError& error, Tensor& tensor) {
  switch (proto.data_type) {
    case DataType::float32:
      std::memcpy(tensor.data(), proto.float_data.data(), proto.float_data.size() * sizeof(float));
      return {};
    case DataType::float64:
      std::memcpy(tensor.data(), proto.double_data.data(), proto.double_data.size() * sizeof(double));
      return {};
    case DataType::int64:
      std::memcpy(tensor.data(), proto.int64_data.data(), proto.int64_data.size() * sizeof(std::int64_t));
      return {};
    case DataType::int32:
      std::memcpy(tensor.data(), proto.int32_data.data(), proto.int32_data.size() * sizeof(std::int32_t));
      return {};
    case DataType::int16: return narrow_int32_data<std::int16_t>(proto, error, -32768, 32767, tensor);
    case DataType::int8: return narrow_int32_data<std::int8_t>(proto, error, -128, 127, tensor);
    case DataType::uint8: return narrow_int32_data<std::uint8_t>(proto, error, 0, 255, tensor);
    case DataType::uint16: return narrow_int32_data<std::uint16_t>(proto, error, 0, 65535, tensor);
    case DataType::uint64:
      std::memcpy(tensor.data(), proto.uint64_data.data(), proto.uint64_data.size() * sizeof(std::uint64_t));
      return {};
    case DataType::uint32: {
      auto* out = static_cast<std::uint32_t*>(tensor.data());
      for (std::size_t i = 0; i < proto.uint64_data.size(); ++i) {
        const std::uint64_t value = proto.uint64_data[i];
        if (value > std::numeric_limits<std::uint32_t>::max())
          return error(StatusCode::parse_error, "uint64_data[", i, "] = ", value, " does not fit UINT32");
        out[i] = static_cast<std::uint32_t>(value);
      }
      return {};
    }
    // The bit patterns of 16-bit floats, as unsigned values.
    case DataType::float16:
    case DataType::bfloat16: return narrow_int32_data<std::uint16_t>(proto, error, 0, 65535, tensor);
    case DataType::boolean: {
      auto* out = static_cast<bool*>(tensor.data());
      for (std::size_t i = 0; i < proto.int32_data.size(); ++i) out[i] = proto.int32_data[i] != 0;
      return {};
    }
    default: break;
  }
  return error(StatusCode::internal, "no typed field for ", describe(proto.data_type));
}

inline Status check_relative_location(const TensorError& error, std::string_view location) {
  if (location.empty()) return error(StatusCode::parse_error, "external data has no location");
  if (location.find('\0') != std::string_view::npos) {
    return error(StatusCode::invalid_argument, "external data location contains a NUL byte");
  }
  const std::filesystem::path path(location);
  if (path.has_root_path()) {
    return error(StatusCode::invalid_argument, "external data location '", location,
                 "' is absolute; it must be relative to the model's directory");
  }
  for (const std::filesystem::path& part : path) {
    if (part == "..") {
      return error(StatusCode::invalid_argument, "external data location '", location,
                   "' has a '..' component; it must stay inside the model's directory");
    }
  }
  return {};
}

} // namespace detail

// The external_data entries of a tensor stored outside the model: location (required),
// offset and length (decimal). Other keys (checksum) are ignored.
inline Result<ExternalDataLocation> external_data_location(const TensorProto& proto, std::string_view source = {}) {
  const detail::TensorError error{proto, source};
  ExternalDataLocation where;
  bool has_location = false;
  for (const StringStringEntryProto& entry : proto.external_data) {
    if (entry.key == "location") {
      where.location = entry.value;
      has_location = true;
    } else if (entry.key == "offset" || entry.key == "length") {
      const std::optional<std::uint64_t> value = detail::parse_decimal(entry.value);
      if (!value) {
        return error(StatusCode::parse_error, "external data ", entry.key, " '", entry.value,
                     "' is not a non-negative decimal integer");
      }
      if (entry.key == "offset") {
        where.offset = *value;
      } else {
        where.length = *value;
      }
    }
  }
  if (!has_location) return error(StatusCode::parse_error, "external data has no 'location' entry");
  KILN_RETURN_IF_ERROR(detail::check_relative_location(error, where.location));
  return where;
}

// The tensor's elements in a kiln::Tensor. `model_dir` is the directory external data
// locations are relative to; it is needed only by tensors stored outside the model.
// `source` (a file name, may be empty) is named in errors.
inline Result<Tensor> to_tensor(const TensorProto& proto, const std::filesystem::path& model_dir = {},
                                std::string_view source = {}) {
  const detail::TensorError error{proto, source};
  const std::optional<DType> dtype = to_dtype(proto.data_type);
  if (!dtype) {
    return error(StatusCode::unsupported, "data type ", describe(proto.data_type), " has no kiln dtype");
  }
  if (proto.segment) {
    return error(StatusCode::unsupported, "segmented tensors (segment ", proto.segment->begin, " to ",
                 proto.segment->end, ") are not supported");
  }
  if (proto.dims.size() > static_cast<std::size_t>(kMaxRank)) {
    return error(StatusCode::unsupported, "rank ", proto.dims.size(), " exceeds kiln's maximum rank ", kMaxRank);
  }
  // The element count and byte size, overflow-checked before anything is allocated.
  std::uint64_t count = 1;
  for (std::size_t axis = 0; axis < proto.dims.size(); ++axis) {
    if (proto.dims[axis] < 0) {
      return error(StatusCode::parse_error, "dims[", axis, "] = ", proto.dims[axis], " is negative");
    }
    // kiln counts elements in int64, so past 2^63 - 1 is an overflow too.
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(proto.dims[axis]), &count) ||
        count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return error(StatusCode::out_of_range, "dims ", Tensor::shape_string(proto.dims), " overflow the element count");
    }
  }
  const std::size_t item = size_of(*dtype);
  if (count > std::numeric_limits<std::uint64_t>::max() / item) {
    return error(StatusCode::out_of_range, "dims ", Tensor::shape_string(proto.dims), " overflow the byte size");
  }
  const std::uint64_t nbytes = count * item;
  const detail::TypedField typed = detail::typed_field_of(proto);
  const std::size_t filled = detail::filled_typed_fields(proto);

  if (proto.data_location == TensorProto::DataLocation::external) {
    if (proto.has_raw_data || filled != 0) {
      return error(StatusCode::parse_error, "external tensor also carries data in the model");
    }
    KILN_ASSIGN_OR_RETURN(const ExternalDataLocation where, external_data_location(proto, source));
    if (model_dir.empty()) {
      return error(StatusCode::invalid_argument, "external data '", where.location,
                   "' needs the model's directory, and none was given");
    }
    const std::filesystem::path file = model_dir / where.location;
    KILN_ASSIGN_OR_RETURN(const std::uint64_t file_size, detail::regular_file_size(file));
    if (where.offset > file_size) {
      return error(StatusCode::out_of_range, "external data offset ", where.offset, " is beyond the end of '",
                   where.location, "' (", file_size, " bytes)");
    }
    const std::uint64_t length = where.length.value_or(file_size - where.offset);
    if (length > file_size - where.offset) {
      return error(StatusCode::out_of_range, "external data at offset ", where.offset, " with length ", length,
                   " runs past the end of '", where.location, "' (", file_size, " bytes)");
    }
    if (length != nbytes) {
      return error(StatusCode::shape_mismatch, "external data has ", length, " bytes but dims ",
                   Tensor::shape_string(proto.dims), " of ", describe(proto.data_type), " need ", nbytes);
    }
    KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::empty(*dtype, proto.dims));
    if (nbytes != 0) {
      if constexpr (std::endian::native == std::endian::little) {
        KILN_RETURN_IF_ERROR(detail::read_file_range(file, where.offset, length, tensor.data()));
      } else {
        std::vector<std::byte> bytes(static_cast<std::size_t>(length));
        KILN_RETURN_IF_ERROR(detail::read_file_range(file, where.offset, length, bytes.data()));
        detail::copy_little_endian(bytes.data(), static_cast<std::size_t>(count), item,
                                   static_cast<std::byte*>(tensor.data()));
      }
    }
    if (*dtype == DType::boolean) detail::normalize_bools(tensor);
    return tensor;
  }
  if (proto.data_location != TensorProto::DataLocation::default_location) {
    return error(StatusCode::parse_error, "unknown data_location ", static_cast<std::int32_t>(proto.data_location));
  }

  if (proto.has_raw_data) {
    if (filled != 0) {
      return error(StatusCode::parse_error, "carries both raw_data and ", typed.name,
                   "; only one may hold the elements");
    }
    if (proto.raw_data.size() != nbytes) {
      return error(StatusCode::shape_mismatch, "raw_data has ", proto.raw_data.size(), " bytes but dims ",
                   Tensor::shape_string(proto.dims), " of ", describe(proto.data_type), " need ", nbytes);
    }
    KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::empty(*dtype, proto.dims));
    detail::copy_little_endian(proto.raw_data.data(), static_cast<std::size_t>(count), item,
                               static_cast<std::byte*>(tensor.data()));
    if (*dtype == DType::boolean) detail::normalize_bools(tensor);
    return tensor;
  }

  if (filled > 1 || (filled == 1 && typed.size == 0)) {
    return error(StatusCode::parse_error, "a ", describe(proto.data_type),
                 " tensor carries its data in a typed field other than ", typed.name);
  }
  if (typed.size != count) {
    return error(StatusCode::shape_mismatch, typed.name, " has ", typed.size, " values but dims ",
                 Tensor::shape_string(proto.dims), " need ", count);
  }
  KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::empty(*dtype, proto.dims));
  if (count != 0) KILN_RETURN_IF_ERROR(detail::copy_typed_field(proto, error, tensor));
  return tensor;
}

} // namespace kiln::onnx
