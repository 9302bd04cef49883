// kiln/frontend/onnx/load_file.hpp: reads and decodes a .onnx model file, or a serialized
// TensorProto (.pb, the backend tests' input_K.pb and output_K.pb).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../../core/result.hpp"
#include "../../runtime/tensor.hpp"
#include "file_bytes.hpp"
#include "proto.hpp"
#include "tensor_data.hpp"

namespace kiln::onnx {

// A protobuf message cannot exceed 2 GiB; larger models keep their weights as external data.
inline constexpr std::uint64_t kMaxProtobufFileBytes = std::uint64_t{2} << 30;

namespace detail {
// The directory a file is in: "." for a bare file name.
inline std::filesystem::path directory_of(const std::filesystem::path& file) {
  std::filesystem::path directory = file.parent_path();
  return directory.empty() ? std::filesystem::path(".") : directory;
}
} // namespace detail

// The decoded model and the directory its external data locations are relative to.
struct LoadedModel {
  ModelProto model;
  std::filesystem::path directory;
};

inline Result<LoadedModel> load_model(const std::filesystem::path& path,
                                      std::uint64_t max_bytes = kMaxProtobufFileBytes) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::byte> bytes, detail::read_whole_file(path, max_bytes));
  const std::string source = path.string();
  KILN_ASSIGN_OR_RETURN(ModelProto model, decode_model(bytes, source));
  return LoadedModel{std::move(model), detail::directory_of(path)};
}

inline Result<TensorProto> load_tensor_proto(const std::filesystem::path& path,
                                             std::uint64_t max_bytes = kMaxProtobufFileBytes) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::byte> bytes, detail::read_whole_file(path, max_bytes));
  const std::string source = path.string();
  return decode_tensor_proto(bytes, source);
}

// A serialized TensorProto as a kiln::Tensor; external data is looked up beside the file.
inline Result<Tensor> load_tensor(const std::filesystem::path& path, std::uint64_t max_bytes = kMaxProtobufFileBytes) {
  KILN_ASSIGN_OR_RETURN(const TensorProto proto, load_tensor_proto(path, max_bytes));
  return to_tensor(proto, detail::directory_of(path), path.string());
}

} // namespace kiln::onnx
