// test_onnx_wire.cpp: the first layer of the ONNX frontend: the protobuf wire reader, the
// ONNX message decoders, TensorProto -> kiln::Tensor (typed fields, raw and external data),
// and loading files, checked on hand-built bytes, on a model made with onnx's Python helper,
// on ONNX's backend node tests (Debian's libonnx-testdata) and under truncation and mutation.
#include <doctest/doctest.h>

#include "onnx_testdata.hpp"
#include "protobuf_encoder.hpp"

#include <kiln/frontend/onnx/load_file.hpp>
#include <kiln/frontend/onnx/proto.hpp>
#include <kiln/frontend/onnx/tensor_data.hpp>
#include <kiln/frontend/onnx/wire.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

using namespace kiln;
namespace fs = std::filesystem;
using onnx::wire::WireType;
using test::Encoder;

namespace {

std::vector<std::byte> to_bytes(std::initializer_list<std::uint8_t> bs) {
  std::vector<std::byte> out;
  for (std::uint8_t b : bs) out.push_back(static_cast<std::byte>(b));
  return out;
}

void check_error(const Status& status, StatusCode code, std::string_view fragment) {
  CHECK_MESSAGE(status.code() == code, status.to_string());
  CHECK_MESSAGE(status.message().find(fragment) != std::string::npos,
                "expected \"", std::string(fragment), "\" in: ", status.to_string());
}

bool write_file(const fs::path& path, std::span<const std::byte> bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  return std::fclose(file) == 0 && ok;
}

// A directory of its own under the system's temporary directory, removed when done.
class TempDir {
 public:
  explicit TempDir(std::string_view tag)
      : path_(fs::temp_directory_path() / str_cat("kiln_", tag, "_", static_cast<long>(::getpid()))) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- the fixture model ----------------------------------------------------------------
//
// Made once with Debian's /usr/bin/python3 and python3-onnx 1.12 (onnx.helper; the script is
// at the end of this file), serialized with ModelProto.SerializeToString() and checked to
// parse back equal. It holds:
//   ir_version 8, producer kiln-test 1.0, domain org.kiln, model_version 42, doc "fixture",
//   opsets ("", 17) and ("com.example", 1), metadata author=kiln, one function
//   com.example.Custom(a, b) -> z = Add(a, b) with attribute name "alpha";
//   graph "fixture" (doc "a graph"):
//     conv0: Conv(x, W) -> y, kernel_shape [3, 3], pads [1, 1, 1, 1], strides [2, 2]
//     const0: Constant -> c, value = FLOAT [2, 2] float_data [1, -2.5, 3.25, 1e-3]
//     if0: If(cond) -> r, else_branch: Constant value_ints [4, 5, 6] -> e (INT64 [3]),
//                        then_branch: Constant value INT32 [1] int32_data [7] -> t (INT32 [1])
//     custom0 (com.example): Custom(y, "") -> z, attributes in this order:
//       alpha f 0.25, count i -3, elem tp FLOAT ["n", 4], graphs [then_branch], label s "hello",
//       names strings ["a", "bc"], scales floats [0.5, 2], tensors [INT8 [2] int32_data [-1, 2]],
//       types type_protos [sequence(INT64 [2])], gamma: ref_attr_name "outer_gamma", type FLOAT
//   initializers W FLOAT [1, 1, 3, 3] raw_data 0, 0.5, ..., 4; shape INT64 [2] int64_data [-1, 12];
//     mask BOOL [3] int32_data [1, 0, 1]; half FLOAT16 [2] int32_data [15872, 49152] (1.5, -2)
//   inputs x FLOAT ["batch", 1, 7, 5], cond BOOL [] (an empty shape);
//   outputs y FLOAT ["batch", 1, 4, 3], seq sequence(FLOAT, no shape), opt optional(UINT8 [?]);
//   value_info m map(INT64 -> DOUBLE [2]).
constexpr std::uint8_t kFixtureModel[] = {
    0x08, 0x08, 0x12, 0x09, 0x6b, 0x69, 0x6c, 0x6e, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x1a, 0x03, 0x31, 0x2e, 0x30,
    0x22, 0x08, 0x6f, 0x72, 0x67, 0x2e, 0x6b, 0x69, 0x6c, 0x6e, 0x28, 0x2a, 0x32, 0x07, 0x66, 0x69, 0x78, 0x74,
    0x75, 0x72, 0x65, 0x3a, 0xc5, 0x07, 0x0a, 0x52, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x57, 0x12, 0x01, 0x79, 0x1a,
    0x05, 0x63, 0x6f, 0x6e, 0x76, 0x30, 0x22, 0x04, 0x43, 0x6f, 0x6e, 0x76, 0x2a, 0x15, 0x0a, 0x0c, 0x6b, 0x65,
    0x72, 0x6e, 0x65, 0x6c, 0x5f, 0x73, 0x68, 0x61, 0x70, 0x65, 0x40, 0x03, 0x40, 0x03, 0xa0, 0x01, 0x07, 0x2a,
    0x11, 0x0a, 0x04, 0x70, 0x61, 0x64, 0x73, 0x40, 0x01, 0x40, 0x01, 0x40, 0x01, 0x40, 0x01, 0xa0, 0x01, 0x07,
    0x2a, 0x10, 0x0a, 0x07, 0x73, 0x74, 0x72, 0x69, 0x64, 0x65, 0x73, 0x40, 0x02, 0x40, 0x02, 0xa0, 0x01, 0x07,
    0x0a, 0x3e, 0x12, 0x01, 0x63, 0x1a, 0x06, 0x63, 0x6f, 0x6e, 0x73, 0x74, 0x30, 0x22, 0x08, 0x43, 0x6f, 0x6e,
    0x73, 0x74, 0x61, 0x6e, 0x74, 0x2a, 0x27, 0x0a, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2a, 0x1b, 0x08, 0x02,
    0x08, 0x02, 0x10, 0x01, 0x22, 0x10, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0x00, 0x00, 0x50, 0x40,
    0x6f, 0x12, 0x83, 0x3a, 0x42, 0x01, 0x63, 0xa0, 0x01, 0x04, 0x0a, 0xc0, 0x01, 0x0a, 0x04, 0x63, 0x6f, 0x6e,
    0x64, 0x12, 0x01, 0x72, 0x1a, 0x03, 0x69, 0x66, 0x30, 0x22, 0x02, 0x49, 0x66, 0x2a, 0x54, 0x0a, 0x0b, 0x65,
    0x6c, 0x73, 0x65, 0x5f, 0x62, 0x72, 0x61, 0x6e, 0x63, 0x68, 0x32, 0x42, 0x0a, 0x24, 0x12, 0x01, 0x65, 0x22,
    0x08, 0x43, 0x6f, 0x6e, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x2a, 0x15, 0x0a, 0x0a, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x5f, 0x69, 0x6e, 0x74, 0x73, 0x40, 0x04, 0x40, 0x05, 0x40, 0x06, 0xa0, 0x01, 0x07, 0x12, 0x09, 0x65, 0x6c,
    0x73, 0x65, 0x5f, 0x62, 0x6f, 0x64, 0x79, 0x62, 0x0f, 0x0a, 0x01, 0x65, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x07,
    0x12, 0x04, 0x0a, 0x02, 0x08, 0x03, 0xa0, 0x01, 0x05, 0x2a, 0x56, 0x0a, 0x0b, 0x74, 0x68, 0x65, 0x6e, 0x5f,
    0x62, 0x72, 0x61, 0x6e, 0x63, 0x68, 0x32, 0x44, 0x0a, 0x26, 0x12, 0x01, 0x74, 0x22, 0x08, 0x43, 0x6f, 0x6e,
    0x73, 0x74, 0x61, 0x6e, 0x74, 0x2a, 0x17, 0x0a, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2a, 0x0b, 0x08, 0x01,
    0x10, 0x06, 0x2a, 0x01, 0x07, 0x42, 0x02, 0x74, 0x76, 0xa0, 0x01, 0x04, 0x12, 0x09, 0x74, 0x68, 0x65, 0x6e,
    0x5f, 0x62, 0x6f, 0x64, 0x79, 0x62, 0x0f, 0x0a, 0x01, 0x74, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x06, 0x12, 0x04,
    0x0a, 0x02, 0x08, 0x01, 0xa0, 0x01, 0x05, 0x0a, 0xd5, 0x02, 0x0a, 0x01, 0x79, 0x0a, 0x00, 0x12, 0x01, 0x7a,
    0x1a, 0x07, 0x63, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x30, 0x22, 0x06, 0x43, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x2a,
    0x0f, 0x0a, 0x05, 0x61, 0x6c, 0x70, 0x68, 0x61, 0x15, 0x00, 0x00, 0x80, 0x3e, 0xa0, 0x01, 0x01, 0x2a, 0x15,
    0x0a, 0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x18, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    0xa0, 0x01, 0x02, 0x2a, 0x1a, 0x0a, 0x04, 0x65, 0x6c, 0x65, 0x6d, 0x72, 0x0f, 0x0a, 0x0d, 0x08, 0x01, 0x12,
    0x09, 0x0a, 0x03, 0x12, 0x01, 0x6e, 0x0a, 0x02, 0x08, 0x04, 0xa0, 0x01, 0x0d, 0x2a, 0x51, 0x0a, 0x06, 0x67,
    0x72, 0x61, 0x70, 0x68, 0x73, 0x5a, 0x44, 0x0a, 0x26, 0x12, 0x01, 0x74, 0x22, 0x08, 0x43, 0x6f, 0x6e, 0x73,
    0x74, 0x61, 0x6e, 0x74, 0x2a, 0x17, 0x0a, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2a, 0x0b, 0x08, 0x01, 0x10,
    0x06, 0x2a, 0x01, 0x07, 0x42, 0x02, 0x74, 0x76, 0xa0, 0x01, 0x04, 0x12, 0x09, 0x74, 0x68, 0x65, 0x6e, 0x5f,
    0x62, 0x6f, 0x64, 0x79, 0x62, 0x0f, 0x0a, 0x01, 0x74, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x06, 0x12, 0x04, 0x0a,
    0x02, 0x08, 0x01, 0xa0, 0x01, 0x0a, 0x2a, 0x11, 0x0a, 0x05, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0x22, 0x05, 0x68,
    0x65, 0x6c, 0x6c, 0x6f, 0xa0, 0x01, 0x03, 0x2a, 0x11, 0x0a, 0x05, 0x6e, 0x61, 0x6d, 0x65, 0x73, 0x4a, 0x01,
    0x61, 0x4a, 0x02, 0x62, 0x63, 0xa0, 0x01, 0x08, 0x2a, 0x15, 0x0a, 0x06, 0x73, 0x63, 0x61, 0x6c, 0x65, 0x73,
    0x3d, 0x00, 0x00, 0x00, 0x3f, 0x3d, 0x00, 0x00, 0x00, 0x40, 0xa0, 0x01, 0x06, 0x2a, 0x23, 0x0a, 0x07, 0x74,
    0x65, 0x6e, 0x73, 0x6f, 0x72, 0x73, 0x52, 0x15, 0x08, 0x02, 0x10, 0x03, 0x2a, 0x0b, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x42, 0x02, 0x74, 0x30, 0xa0, 0x01, 0x09, 0x2a, 0x1a, 0x0a, 0x05,
    0x74, 0x79, 0x70, 0x65, 0x73, 0x7a, 0x0e, 0x22, 0x0c, 0x0a, 0x0a, 0x0a, 0x08, 0x08, 0x07, 0x12, 0x04, 0x0a,
    0x02, 0x08, 0x02, 0xa0, 0x01, 0x0e, 0x2a, 0x18, 0x0a, 0x05, 0x67, 0x61, 0x6d, 0x6d, 0x61, 0xa0, 0x01, 0x01,
    0xaa, 0x01, 0x0b, 0x6f, 0x75, 0x74, 0x65, 0x72, 0x5f, 0x67, 0x61, 0x6d, 0x6d, 0x61, 0x3a, 0x0b, 0x63, 0x6f,
    0x6d, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x12, 0x07, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65,
    0x2a, 0x33, 0x08, 0x01, 0x08, 0x01, 0x08, 0x03, 0x08, 0x03, 0x10, 0x01, 0x42, 0x01, 0x57, 0x4a, 0x24, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00,
    0x40, 0x00, 0x00, 0x20, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x60, 0x40, 0x00, 0x00, 0x80, 0x40, 0x2a,
    0x18, 0x08, 0x02, 0x10, 0x07, 0x3a, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0c,
    0x42, 0x05, 0x73, 0x68, 0x61, 0x70, 0x65, 0x2a, 0x0f, 0x08, 0x03, 0x10, 0x09, 0x2a, 0x03, 0x01, 0x00, 0x01,
    0x42, 0x04, 0x6d, 0x61, 0x73, 0x6b, 0x2a, 0x11, 0x08, 0x02, 0x10, 0x0a, 0x2a, 0x05, 0x80, 0x7c, 0x80, 0x80,
    0x03, 0x42, 0x04, 0x68, 0x61, 0x6c, 0x66, 0x52, 0x07, 0x61, 0x20, 0x67, 0x72, 0x61, 0x70, 0x68, 0x5a, 0x20,
    0x0a, 0x01, 0x78, 0x12, 0x1b, 0x0a, 0x19, 0x08, 0x01, 0x12, 0x15, 0x0a, 0x07, 0x12, 0x05, 0x62, 0x61, 0x74,
    0x63, 0x68, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x07, 0x0a, 0x02, 0x08, 0x05, 0x5a, 0x0e, 0x0a, 0x04,
    0x63, 0x6f, 0x6e, 0x64, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x09, 0x12, 0x00, 0x62, 0x20, 0x0a, 0x01, 0x79, 0x12,
    0x1b, 0x0a, 0x19, 0x08, 0x01, 0x12, 0x15, 0x0a, 0x07, 0x12, 0x05, 0x62, 0x61, 0x74, 0x63, 0x68, 0x0a, 0x02,
    0x08, 0x01, 0x0a, 0x02, 0x08, 0x04, 0x0a, 0x02, 0x08, 0x03, 0x62, 0x0f, 0x0a, 0x03, 0x73, 0x65, 0x71, 0x12,
    0x08, 0x22, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x62, 0x13, 0x0a, 0x03, 0x6f, 0x70, 0x74, 0x12, 0x0c,
    0x4a, 0x0a, 0x0a, 0x08, 0x0a, 0x06, 0x08, 0x02, 0x12, 0x02, 0x0a, 0x00, 0x6a, 0x15, 0x0a, 0x01, 0x6d, 0x12,
    0x10, 0x2a, 0x0e, 0x08, 0x07, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x0b, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x02, 0x42,
    0x04, 0x0a, 0x00, 0x10, 0x11, 0x42, 0x0f, 0x0a, 0x0b, 0x63, 0x6f, 0x6d, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x10, 0x01, 0x72, 0x0e, 0x0a, 0x06, 0x61, 0x75, 0x74, 0x68, 0x6f, 0x72, 0x12, 0x04, 0x6b, 0x69,
    0x6c, 0x6e, 0xca, 0x01, 0x3b, 0x0a, 0x06, 0x43, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x22, 0x01, 0x61, 0x22, 0x01,
    0x62, 0x2a, 0x01, 0x7a, 0x32, 0x05, 0x61, 0x6c, 0x70, 0x68, 0x61, 0x3a, 0x0e, 0x0a, 0x01, 0x61, 0x0a, 0x01,
    0x62, 0x12, 0x01, 0x7a, 0x22, 0x03, 0x41, 0x64, 0x64, 0x4a, 0x04, 0x0a, 0x00, 0x10, 0x11, 0x52, 0x0b, 0x63,
    0x6f, 0x6d, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
};

std::span<const std::byte> fixture_bytes() { return std::as_bytes(std::span(kFixtureModel)); }

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, std::string_view name) {
  for (const onnx::AttributeProto& attribute : node.attribute)
    if (attribute.name == name) return &attribute;
  return nullptr;
}

// "[3, 4, 5]" for a tensor_type's shape, "?" for an unknown extent, the name for a symbolic one.
std::string shape_of(const onnx::TypeProto& type) {
  const onnx::TypeProto::Tensor* tensor = type.tensor_type();
  if (tensor == nullptr || !tensor->shape) return "none";
  std::string out = "[";
  for (std::size_t i = 0; i < tensor->shape->dim.size(); ++i) {
    const auto& dim = tensor->shape->dim[i];
    out += i ? ", " : "";
    out += dim.dim_value ? std::to_string(*dim.dim_value) : dim.dim_param ? *dim.dim_param : "?";
  }
  return out + "]";
}

} // namespace

// ---- wire primitives -------------------------------------------------------------------

TEST_CASE("onnx wire: varints from one byte to the ten-byte maximum") {
  struct Case {
    std::vector<std::byte> bytes;
    std::uint64_t value;
  };
  const Case cases[] = {
      {to_bytes({0x00}), 0},
      {to_bytes({0x01}), 1},
      {to_bytes({0x7f}), 127},
      {to_bytes({0x80, 0x01}), 128},
      {to_bytes({0xac, 0x02}), 300},
      {to_bytes({0xff, 0xff, 0xff, 0xff, 0x0f}), 0xffffffffu},
      {to_bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), std::uint64_t{1} << 63},
      {to_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), ~std::uint64_t{0}},
      // Non-canonical padding is valid protobuf as long as it stays within ten bytes.
      {to_bytes({0x80, 0x00}), 0},
      {to_bytes({0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), 1},
  };
  for (const Case& c : cases) {
    onnx::wire::Reader reader(c.bytes, "Test");
    std::uint64_t value = 12345;
    REQUIRE(reader.read_varint(value).ok());
    CHECK(value == c.value);
    CHECK(reader.at_end());
  }

  // An eleventh byte, bits beyond 64, and a varint cut short are refused.
  const auto eleven = to_bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  const auto overflow = to_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});
  const auto cut = to_bytes({0x80, 0x80});
  std::uint64_t value = 0;
  onnx::wire::Reader r1(eleven, "Test");
  Status s = r1.read_varint(value);
  check_error(s, StatusCode::parse_error, "varint longer than 10 bytes");
  CHECK(s.message() == "onnx: Test: varint longer than 10 bytes");
  onnx::wire::Reader r2(overflow, "Test");
  check_error(r2.read_varint(value), StatusCode::parse_error, "varint overflows 64 bits");
  onnx::wire::Reader r3(cut, "Test");
  check_error(r3.read_varint(value), StatusCode::parse_error, "truncated varint (the input ends after 2 of its bytes)");
  onnx::wire::Reader r4(std::span<const std::byte>(), "Test");
  check_error(r4.read_varint(value), StatusCode::parse_error, "truncated varint");
}

TEST_CASE("onnx wire: an int32 field reads the ten-byte sign extension of a negative value") {
  // TensorProto.int32_data (field 5), unpacked: -7 as protobuf writes an int32, 10 bytes.
  Encoder e;
  e.int_field(5, -7).int_field(2, 6).int_field(1, 1);
  CHECK(e.size() == 1 + 10 + 2 + 2);
  auto t = onnx::decode_tensor_proto(e.span());
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  REQUIRE(t->int32_data.size() == 1);
  CHECK(t->int32_data[0] == -7);
}

TEST_CASE("onnx wire: zigzag maps small magnitudes to small codes") {
  using namespace onnx::wire;
  CHECK(zigzag_encode32(0) == 0u);
  CHECK(zigzag_encode32(-1) == 1u);
  CHECK(zigzag_encode32(1) == 2u);
  CHECK(zigzag_encode32(-2) == 3u);
  CHECK(zigzag_encode32(std::numeric_limits<std::int32_t>::max()) == 0xfffffffeu);
  CHECK(zigzag_encode32(std::numeric_limits<std::int32_t>::min()) == 0xffffffffu);
  CHECK(zigzag_encode64(std::numeric_limits<std::int64_t>::min()) == ~std::uint64_t{0});
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{63}, std::int64_t{-64}, std::int64_t{1} << 40,
                         std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    CHECK(zigzag_decode64(zigzag_encode64(v)) == v);
  }
  for (std::int32_t v : {0, -1, 1, 1000, -1000, std::numeric_limits<std::int32_t>::max(),
                         std::numeric_limits<std::int32_t>::min()}) {
    CHECK(zigzag_decode32(zigzag_encode32(v)) == v);
  }
  // And through a field: sint64 as a zigzag varint.
  Encoder e;
  e.int_field(1, 3);  // zigzag 3 is -2
  onnx::wire::Reader reader(e.span(), "Test");
  onnx::wire::Tag tag;
  REQUIRE(reader.read_tag(tag).ok());
  std::int64_t v = 0;
  REQUIRE(reader.read_sint64_field(tag, "x", v).ok());
  CHECK(v == -2);
}

TEST_CASE("onnx wire: fixed-width values are little-endian and bounds-checked") {
  const auto bytes = to_bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xaa});
  onnx::wire::Reader reader(bytes, "Test");
  std::uint32_t a = 0;
  REQUIRE(reader.read_fixed32(a).ok());
  CHECK(a == 0x04030201u);
  std::uint64_t b = 0;
  check_error(reader.read_fixed64(b), StatusCode::parse_error, "truncated fixed64 value (needs 8 bytes, 5 remain)");

  onnx::wire::Reader whole(bytes, "Test");
  REQUIRE(whole.read_fixed64(b).ok());
  CHECK(b == 0x0807060504030201u);
  CHECK(whole.remaining() == 1);
}

TEST_CASE("onnx wire: tags carry a valid field number and wire type") {
  onnx::wire::Tag tag;
  const auto field_zero = to_bytes({0x00});
  onnx::wire::Reader r1(field_zero, "Test");
  check_error(r1.read_tag(tag), StatusCode::parse_error, "invalid field number 0");
  const auto type_six = to_bytes({0x0e});  // field 1, wire type 6
  onnx::wire::Reader r2(type_six, "Test");
  check_error(r2.read_tag(tag), StatusCode::parse_error, "invalid wire type 6 in field 1");
  Encoder max_field;
  max_field.tag(onnx::wire::kMaxFieldNumber, WireType::fixed32);
  onnx::wire::Reader r3(max_field.span(), "Test");
  REQUIRE(r3.read_tag(tag).ok());
  CHECK(tag.field == onnx::wire::kMaxFieldNumber);
  CHECK(tag.type == WireType::fixed32);
  Encoder beyond;
  beyond.varint((std::uint64_t{onnx::wire::kMaxFieldNumber} + 1) << 3);
  onnx::wire::Reader r4(beyond.span(), "Test");
  check_error(r4.read_tag(tag), StatusCode::parse_error, "invalid field number 536870912");
}

TEST_CASE("onnx wire: a length-delimited field is checked against the bytes that remain") {
  Encoder e;
  e.tag(8, WireType::length_delimited).varint(40).raw({'a', 'b', 'c'});
  auto t = onnx::decode_tensor_proto(e.span());
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().message() == "onnx: TensorProto.name: truncated length-delimited field (needs 40 bytes, 3 remain)");
  // A length near 2^64 must not wrap around.
  Encoder huge;
  huge.tag(9, WireType::length_delimited).varint(~std::uint64_t{0}).raw({1, 2});
  check_error(onnx::decode_tensor_proto(huge.span()).status(), StatusCode::parse_error,
              "TensorProto.raw_data: truncated length-delimited field (needs 18446744073709551615 bytes, 2 remain)");
}

TEST_CASE("onnx wire: unknown fields of every wire type are skipped; groups are refused") {
  Encoder e;
  e.int_field(100, 1234567)
      .fixed64_field(101, 0x1122334455667788u)
      .string_field(102, "ignored")
      .fixed32_field(103, 7)
      .string_field(8, "t")
      .int_field(2, 1)
      .packed_varints(1, {3, 4})
      .int_field(100000, -1);
  auto t = onnx::decode_tensor_proto(e.span());
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  CHECK(t->name == "t");
  CHECK(t->data_type == onnx::DataType::float32);
  CHECK(t->dims == std::vector<std::int64_t>{3, 4});

  Encoder group;
  group.string_field(8, "t").tag(104, WireType::start_group).tag(104, WireType::end_group);
  auto g = onnx::decode_tensor_proto(group.span());
  check_error(g.status(), StatusCode::unsupported,
              "TensorProto: field 104 uses the deprecated group wire type 3 (start-group), which is not supported");

  // A skipped value that runs past the end is still an error.
  Encoder cut;
  cut.tag(101, WireType::fixed64).raw({1, 2, 3});
  check_error(onnx::decode_tensor_proto(cut.span()).status(), StatusCode::parse_error,
              "truncated fixed64 value (needs 8 bytes, 3 remain)");
}

TEST_CASE("onnx wire: a known field with the wrong wire type is refused") {
  Encoder e;
  e.fixed32_field(1, 8);  // ModelProto.ir_version is a varint
  auto m = onnx::decode_model(e.span());
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message() == "onnx: ModelProto.ir_version: wire type fixed32 (5) where varint was expected");
  Encoder dims;
  dims.fixed64_field(1, 3);
  check_error(onnx::decode_tensor_proto(dims.span()).status(), StatusCode::parse_error,
              "TensorProto.dims: wire type fixed64 (1) where varint or packed length-delimited was expected");
}

TEST_CASE("onnx wire: packed and unpacked repeated scalars give the same values") {
  Encoder packed, unpacked, mixed;
  packed.packed_varints(1, {3, 4, 5});
  unpacked.int_field(1, 3).int_field(1, 4).int_field(1, 5);
  mixed.packed_varints(1, {3}).int_field(1, 4).packed_varints(1, {5});
  for (const Encoder* e : {&packed, &unpacked, &mixed}) {
    auto t = onnx::decode_tensor_proto(e->span());
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    CHECK(t->dims == std::vector<std::int64_t>{3, 4, 5});
  }

  Encoder floats_packed, floats_unpacked;
  floats_packed.packed_floats(4, {1.5f, -2.0f, 1e-3f});
  floats_unpacked.float_field(4, 1.5f).float_field(4, -2.0f).float_field(4, 1e-3f);
  for (const Encoder* e : {&floats_packed, &floats_unpacked}) {
    auto t = onnx::decode_tensor_proto(e->span());
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    CHECK(t->float_data == std::vector<float>{1.5f, -2.0f, 1e-3f});
  }

  // double_data (fixed64) and uint64_data (varint), unpacked.
  Encoder wide;
  wide.fixed64_field(10, std::bit_cast<std::uint64_t>(-0.25)).int_field(11, -1).packed_varints(7, {-5, 1LL << 40});
  auto w = onnx::decode_tensor_proto(wide.span());
  REQUIRE_MESSAGE(w.ok(), w.status().to_string());
  CHECK(w->double_data == std::vector<double>{-0.25});
  CHECK(w->uint64_data == std::vector<std::uint64_t>{~std::uint64_t{0}});
  CHECK(w->int64_data == std::vector<std::int64_t>{-5, std::int64_t{1} << 40});

  // A packed run that ends inside a varint, and a fixed32 run of a length not divisible by 4.
  Encoder cut_varint;
  cut_varint.tag(1, WireType::length_delimited).varint(2).raw({0x03, 0x80});
  check_error(onnx::decode_tensor_proto(cut_varint.span()).status(), StatusCode::parse_error,
              "TensorProto.dims: packed run of 2 bytes ends inside a varint");
  Encoder odd_floats;
  odd_floats.tag(4, WireType::length_delimited).varint(6).raw({0, 0, 0x80, 0x3f, 0, 0});
  check_error(onnx::decode_tensor_proto(odd_floats.span()).status(), StatusCode::parse_error,
              "TensorProto.float_data: packed fixed32 run of 6 bytes is not a multiple of 4");
  // Many short packed runs of one field append in linear time (reservations grow geometrically).
  Encoder many_runs;
  for (int i = 0; i < 200000; ++i) many_runs.packed_varints(7, {i});
  auto runs = onnx::decode_tensor_proto(many_runs.span());
  REQUIRE(runs.ok());
  REQUIRE(runs->int64_data.size() == 200000);
  CHECK(runs->int64_data[199999] == 199999);

  // A packed run with an overlong varint inside.
  Encoder bad_inside;
  Encoder run;
  run.raw({0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  bad_inside.message_field(1, run);
  check_error(onnx::decode_tensor_proto(bad_inside.span()).status(), StatusCode::parse_error,
              "TensorProto.dims: varint longer than 10 bytes");
}

namespace {
// A TypeProto of `levels` nested sequence types around a FLOAT tensor type: 2 * levels + 1
// messages deep below the outermost TypeProto.
Encoder nested_sequences(int levels) {
  Encoder tensor_type;
  tensor_type.int_field(1, 1);
  Encoder type;
  type.message_field(1, tensor_type);
  for (int i = 0; i < levels; ++i) {
    Encoder sequence;
    sequence.message_field(1, type);
    Encoder outer;
    outer.message_field(4, sequence);
    type = outer;
  }
  return type;
}
} // namespace

TEST_CASE("onnx wire: messages nested deeper than the limit are refused") {
  auto ok = onnx::decode<onnx::TypeProto>(nested_sequences(31).span());  // 63 levels: accepted
  REQUIRE_MESSAGE(ok.ok(), ok.status().to_string());
  const onnx::TypeProto* type = &*ok;
  int depth = 0;
  while (const onnx::TypeProto::Sequence* sequence = type->sequence_type()) {
    REQUIRE(sequence->elem_type.has_value());
    type = sequence->elem_type.get();
    ++depth;
  }
  CHECK(depth == 31);
  REQUIRE(type->tensor_type() != nullptr);
  CHECK(type->tensor_type()->elem_type == onnx::DataType::float32);

  auto deep = onnx::decode<onnx::TypeProto>(nested_sequences(32).span());  // 65 levels
  check_error(deep.status(), StatusCode::parse_error, "messages nested deeper than 64 levels in field 'tensor_type'");
  CHECK(deep.status().message().rfind("onnx: TypeProto.sequence_type.elem_type.sequence_type.elem_type.", 0) == 0);

  // A hostile depth far beyond the limit stops at the limit, without deep recursion.
  auto hostile = onnx::decode<onnx::TypeProto>(nested_sequences(5000).span());
  check_error(hostile.status(), StatusCode::parse_error, "nested deeper than 64 levels");

  // The limit can be lowered.
  const Encoder two = nested_sequences(1);  // sequence_type, elem_type, tensor_type: 3 levels
  onnx::wire::Reader shallow(two.span(), "TypeProto", {}, 2);
  onnx::TypeProto t;
  check_error(onnx::decode_fields(shallow, t), StatusCode::parse_error, "nested deeper than 2 levels");
}

TEST_CASE("onnx wire: errors name the message and the field path") {
  // A graph whose node[3] has a second attribute whose length runs past the node's end.
  Encoder attribute0;
  attribute0.string_field(1, "a").int_field(20, 2).int_field(3, 1);
  Encoder node3;
  node3.string_field(4, "X").message_field(5, attribute0);
  node3.tag(5, WireType::length_delimited).varint(40).raw({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Encoder plain_node;
  plain_node.string_field(4, "Relu");
  Encoder graph;
  graph.message_field(1, plain_node).message_field(1, plain_node).message_field(1, plain_node).message_field(1, node3);
  Encoder model;
  model.int_field(1, 8).message_field(7, graph);
  auto m = onnx::decode_model(model.span());
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == StatusCode::parse_error);
  CHECK(m.status().message() ==
        "onnx: ModelProto.graph.node[3].attribute[1]: truncated length-delimited field (needs 40 bytes, 12 remain)");
  // With the file named.
  auto named = onnx::decode_model(model.span(), "dir/model.onnx");
  CHECK(named.status().message().rfind("onnx: dir/model.onnx: ModelProto.graph.node[3].attribute[1]: ", 0) == 0);

  // A leaf field is named too.
  Encoder bad_attribute;
  bad_attribute.string_field(1, "b").tag(3, WireType::varint).raw({0xff, 0xff});
  Encoder node;
  node.message_field(5, attribute0).message_field(5, bad_attribute);
  Encoder graph2;
  graph2.message_field(1, node);
  Encoder model2;
  model2.message_field(7, graph2);
  auto m2 = onnx::decode_model(model2.span());
  CHECK(m2.status().message() ==
        "onnx: ModelProto.graph.node[0].attribute[1].i: truncated varint (the input ends after 2 of its bytes)");
}

// ---- messages --------------------------------------------------------------------------

TEST_CASE("onnx proto: repeated optional messages merge and oneofs keep the last member") {
  Encoder node_a, node_b;
  node_a.string_field(4, "Relu");
  node_b.string_field(4, "Sigmoid");
  Encoder graph1, graph2;
  graph1.string_field(2, "first").message_field(1, node_a);
  graph2.string_field(2, "second").message_field(1, node_b);
  Encoder model;
  model.message_field(7, graph1).message_field(7, graph2);
  auto m = onnx::decode_model(model.span());
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  REQUIRE(m->graph.has_value());
  CHECK(m->graph->name == "second");
  REQUIRE(m->graph->node.size() == 2);
  CHECK(m->graph->node[0].op_type == "Relu");
  CHECK(m->graph->node[1].op_type == "Sigmoid");

  Encoder dim;
  dim.int_field(1, 5).string_field(2, "n");
  Encoder shape;
  shape.message_field(1, dim);
  Encoder tensor_type;
  tensor_type.int_field(1, 7).message_field(2, shape);
  Encoder sequence;
  sequence.message_field(1, Encoder().message_field(1, Encoder().int_field(1, 1)));
  Encoder type;
  type.message_field(1, tensor_type);
  auto t = onnx::decode<onnx::TypeProto>(type.span());
  REQUIRE(t.ok());
  REQUIRE(t->tensor_type() != nullptr);
  const auto& d = t->tensor_type()->shape->dim.at(0);
  CHECK_FALSE(d.dim_value.has_value());
  CHECK(d.dim_param == std::optional<std::string>("n"));
  type.message_field(4, sequence);  // a later member of the oneof replaces the tensor type
  auto t2 = onnx::decode<onnx::TypeProto>(type.span());
  REQUIRE(t2.ok());
  CHECK(t2->tensor_type() == nullptr);
  REQUIRE(t2->sequence_type() != nullptr);
  CHECK(t2->sequence_type()->elem_type->tensor_type()->elem_type == onnx::DataType::float32);
}

TEST_CASE("onnx proto: sparse tensors are refused with the field that holds them") {
  Encoder graph;
  graph.string_field(2, "g").message_field(15, Encoder().int_field(3, 4));
  Encoder model;
  model.message_field(7, graph);
  auto m = onnx::decode_model(model.span());
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == StatusCode::unsupported);
  CHECK(m.status().message() == "onnx: ModelProto.graph.sparse_initializer: sparse tensors are not supported");

  Encoder attribute;
  attribute.string_field(1, "value").message_field(22, Encoder());
  auto a = onnx::decode<onnx::AttributeProto>(attribute.span());
  CHECK(a.status().message() == "onnx: AttributeProto.sparse_tensor: sparse tensors are not supported");
}

TEST_CASE("onnx proto: the fixture model decodes to the values onnx reports") {
  auto decoded = onnx::decode_model(fixture_bytes(), "fixture");
  REQUIRE_MESSAGE(decoded.ok(), decoded.status().to_string());
  const onnx::ModelProto& m = *decoded;
  CHECK(m.ir_version == 8);
  CHECK(m.producer_name == "kiln-test");
  CHECK(m.producer_version == "1.0");
  CHECK(m.domain == "org.kiln");
  CHECK(m.model_version == 42);
  CHECK(m.doc_string == "fixture");
  REQUIRE(m.opset_import.size() == 2);
  CHECK(m.opset_import[0].domain.empty());
  CHECK(m.opset_import[0].version == 17);
  CHECK(m.opset_import[1].domain == "com.example");
  CHECK(m.opset_import[1].version == 1);
  REQUIRE(m.metadata_props.size() == 1);
  CHECK(m.metadata_props[0].key == "author");
  CHECK(m.metadata_props[0].value == "kiln");
  REQUIRE(m.functions.size() == 1);
  const onnx::FunctionProto& fn = m.functions[0];
  CHECK(fn.name == "Custom");
  CHECK(fn.domain == "com.example");
  CHECK(fn.input == std::vector<std::string>{"a", "b"});
  CHECK(fn.output == std::vector<std::string>{"z"});
  CHECK(fn.attribute == std::vector<std::string>{"alpha"});
  REQUIRE(fn.node.size() == 1);
  CHECK(fn.node[0].op_type == "Add");
  REQUIRE(fn.opset_import.size() == 1);
  CHECK(fn.opset_import[0].version == 17);

  REQUIRE(m.graph.has_value());
  const onnx::GraphProto& g = *m.graph;
  CHECK(g.name == "fixture");
  CHECK(g.doc_string == "a graph");
  REQUIRE(g.node.size() == 4);

  const onnx::NodeProto& conv = g.node[0];
  CHECK(conv.name == "conv0");
  CHECK(conv.op_type == "Conv");
  CHECK(conv.input == std::vector<std::string>{"x", "W"});
  CHECK(conv.output == std::vector<std::string>{"y"});
  REQUIRE(conv.attribute.size() == 3);
  CHECK(conv.attribute[0].name == "kernel_shape");
  CHECK(conv.attribute[0].type == onnx::AttributeType::ints);
  CHECK(conv.attribute[0].ints == std::vector<std::int64_t>{3, 3});
  CHECK(conv.attribute[1].ints == std::vector<std::int64_t>{1, 1, 1, 1});
  CHECK(conv.attribute[2].name == "strides");
  CHECK(conv.attribute[2].ints == std::vector<std::int64_t>{2, 2});

  const onnx::AttributeProto* value = find_attribute(g.node[1], "value");
  REQUIRE(value != nullptr);
  CHECK(value->type == onnx::AttributeType::tensor);
  REQUIRE(value->t.has_value());
  CHECK(value->t->name == "c");
  CHECK(value->t->dims == std::vector<std::int64_t>{2, 2});
  CHECK(value->t->float_data == std::vector<float>{1.0f, -2.5f, 3.25f, 1e-3f});
  auto c = onnx::to_tensor(*value->t);
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  CHECK(c->at<float>(1, 0) == 3.25f);

  const onnx::NodeProto& if_node = g.node[2];
  CHECK(if_node.op_type == "If");
  const onnx::AttributeProto* else_branch = find_attribute(if_node, "else_branch");
  const onnx::AttributeProto* then_branch = find_attribute(if_node, "then_branch");
  REQUIRE(else_branch != nullptr);
  REQUIRE(then_branch != nullptr);
  CHECK(else_branch->type == onnx::AttributeType::graph);
  REQUIRE(else_branch->g.has_value());
  CHECK(else_branch->g->name == "else_body");
  REQUIRE(else_branch->g->node.size() == 1);
  CHECK(else_branch->g->node[0].attribute.at(0).name == "value_ints");
  CHECK(else_branch->g->node[0].attribute.at(0).ints == std::vector<std::int64_t>{4, 5, 6});
  CHECK(shape_of(*else_branch->g->output.at(0).type) == "[3]");
  REQUIRE(then_branch->g.has_value());
  const onnx::TensorProto& tv = *then_branch->g->node.at(0).attribute.at(0).t;
  CHECK(tv.data_type == onnx::DataType::int32);
  CHECK(tv.int32_data == std::vector<std::int32_t>{7});

  const onnx::NodeProto& custom = g.node[3];
  CHECK(custom.domain == "com.example");
  CHECK(custom.input == std::vector<std::string>{"y", ""});
  REQUIRE(custom.attribute.size() == 10);
  const char* expected_names[] = {"alpha", "count", "elem", "graphs", "label", "names", "scales", "tensors", "types",
                                  "gamma"};
  for (std::size_t i = 0; i < 10; ++i) CHECK(custom.attribute[i].name == expected_names[i]);
  CHECK(custom.attribute[0].type == onnx::AttributeType::float_);
  CHECK(custom.attribute[0].has_f);
  CHECK(custom.attribute[0].f == 0.25f);
  CHECK(custom.attribute[1].type == onnx::AttributeType::int_);
  CHECK(custom.attribute[1].has_i);
  CHECK(custom.attribute[1].i == -3);
  CHECK(custom.attribute[2].type == onnx::AttributeType::type_proto);
  REQUIRE(custom.attribute[2].tp.has_value());
  CHECK(custom.attribute[2].tp->tensor_type()->elem_type == onnx::DataType::float32);
  CHECK(shape_of(*custom.attribute[2].tp) == "[n, 4]");
  CHECK(custom.attribute[3].type == onnx::AttributeType::graphs);
  REQUIRE(custom.attribute[3].graphs.size() == 1);
  CHECK(custom.attribute[3].graphs[0].name == "then_body");
  CHECK(custom.attribute[4].type == onnx::AttributeType::string);
  CHECK(custom.attribute[4].has_s);
  CHECK(custom.attribute[4].s == "hello");
  CHECK(custom.attribute[5].type == onnx::AttributeType::strings);
  CHECK(custom.attribute[5].strings == std::vector<std::string>{"a", "bc"});
  CHECK(custom.attribute[6].type == onnx::AttributeType::floats);
  CHECK(custom.attribute[6].floats == std::vector<float>{0.5f, 2.0f});
  CHECK(custom.attribute[7].type == onnx::AttributeType::tensors);
  REQUIRE(custom.attribute[7].tensors.size() == 1);
  auto t0 = onnx::to_tensor(custom.attribute[7].tensors[0]);
  REQUIRE_MESSAGE(t0.ok(), t0.status().to_string());
  CHECK(t0->dtype() == DType::i8);
  CHECK(t0->at<std::int8_t>(0) == -1);
  CHECK(t0->at<std::int8_t>(1) == 2);
  CHECK(custom.attribute[8].type == onnx::AttributeType::type_protos);
  REQUIRE(custom.attribute[8].type_protos.size() == 1);
  const onnx::TypeProto::Sequence* seq = custom.attribute[8].type_protos[0].sequence_type();
  REQUIRE(seq != nullptr);
  CHECK(seq->elem_type->tensor_type()->elem_type == onnx::DataType::int64);
  CHECK(shape_of(*seq->elem_type) == "[2]");
  CHECK(custom.attribute[9].ref_attr_name == "outer_gamma");
  CHECK(custom.attribute[9].type == onnx::AttributeType::float_);
  CHECK_FALSE(custom.attribute[9].has_f);

  // Initializers: raw_data, int64_data, bools and float16 bit patterns in int32_data.
  REQUIRE(g.initializer.size() == 4);
  auto w = onnx::to_tensor(g.initializer[0]);
  REQUIRE_MESSAGE(w.ok(), w.status().to_string());
  CHECK(w->dtype() == DType::f32);
  CHECK(std::vector<std::int64_t>(w->dims().begin(), w->dims().end()) == std::vector<std::int64_t>{1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) CHECK(w->at<float>(0, 0, i / 3, i % 3) == 0.5f * static_cast<float>(i));
  auto shape = onnx::to_tensor(g.initializer[1]);
  REQUIRE(shape.ok());
  CHECK(shape->dtype() == DType::i64);
  CHECK(shape->at<std::int64_t>(0) == -1);
  CHECK(shape->at<std::int64_t>(1) == 12);
  auto mask = onnx::to_tensor(g.initializer[2]);
  REQUIRE(mask.ok());
  CHECK(mask->dtype() == DType::boolean);
  CHECK(mask->at<bool>(0));
  CHECK_FALSE(mask->at<bool>(1));
  CHECK(mask->at<bool>(2));
  auto half = onnx::to_tensor(g.initializer[3]);
  REQUIRE(half.ok());
  CHECK(half->dtype() == DType::f16);
  CHECK(half->at<f16>(0).bits == 15872);
  CHECK(static_cast<float>(half->at<f16>(0)) == 1.5f);
  CHECK(static_cast<float>(half->at<f16>(1)) == -2.0f);

  // Inputs, outputs and value_info: symbolic and unknown extents, an empty (scalar) shape,
  // sequence, optional and map types.
  REQUIRE(g.input.size() == 2);
  CHECK(g.input[0].name == "x");
  CHECK(shape_of(*g.input[0].type) == "[batch, 1, 7, 5]");
  CHECK(g.input[1].type->tensor_type()->elem_type == onnx::DataType::boolean);
  CHECK(shape_of(*g.input[1].type) == "[]");
  REQUIRE(g.output.size() == 3);
  CHECK(shape_of(*g.output[0].type) == "[batch, 1, 4, 3]");
  const onnx::TypeProto::Sequence* out_seq = g.output[1].type->sequence_type();
  REQUIRE(out_seq != nullptr);
  CHECK(out_seq->elem_type->tensor_type()->elem_type == onnx::DataType::float32);
  CHECK(shape_of(*out_seq->elem_type) == "none");
  const onnx::TypeProto::Optional* opt = g.output[2].type->optional_type();
  REQUIRE(opt != nullptr);
  CHECK(opt->elem_type->tensor_type()->elem_type == onnx::DataType::uint8);
  CHECK(shape_of(*opt->elem_type) == "[?]");
  REQUIRE(g.value_info.size() == 1);
  const onnx::TypeProto::Map* map = g.value_info[0].type->map_type();
  REQUIRE(map != nullptr);
  CHECK(map->key_type == onnx::DataType::int64);
  CHECK(map->value_type->tensor_type()->elem_type == onnx::DataType::float64);
  CHECK(shape_of(*map->value_type) == "[2]");

  // Structs copy deeply (Box copies what it holds).
  const onnx::ModelProto copy = m;
  CHECK(copy.graph->node[2].attribute[0].g->name == "else_body");
  CHECK(copy.graph->node[2].attribute[0].g.get() != m.graph->node[2].attribute[0].g.get());
}

// ---- TensorProto -> kiln::Tensor ---------------------------------------------------------

namespace {
onnx::TensorProto make_proto(onnx::DataType type, std::vector<std::int64_t> dims) {
  onnx::TensorProto proto;
  proto.name = "t";
  proto.data_type = type;
  proto.dims = std::move(dims);
  return proto;
}

onnx::TensorProto raw_proto(onnx::DataType type, std::vector<std::int64_t> dims,
                            std::initializer_list<std::uint8_t> raw) {
  onnx::TensorProto proto = make_proto(type, std::move(dims));
  proto.has_raw_data = true;
  proto.raw_data = to_bytes(raw);
  return proto;
}

Tensor require_tensor(const onnx::TensorProto& proto) {
  auto t = onnx::to_tensor(proto);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return *t;
}
} // namespace

TEST_CASE("onnx tensor data: the typed fields of every kiln dtype") {
  auto f32 = make_proto(onnx::DataType::float32, {2, 2});
  f32.float_data = {1.0f, 2.0f, 3.0f, -4.5f};
  Tensor a = require_tensor(f32);
  CHECK(a.dtype() == DType::f32);
  CHECK(a.at<float>(1, 1) == -4.5f);

  auto f64 = make_proto(onnx::DataType::float64, {2});
  f64.double_data = {0.125, -1e300};
  CHECK(require_tensor(f64).at<double>(1) == -1e300);

  auto i64 = make_proto(onnx::DataType::int64, {3});
  i64.int64_data = {std::numeric_limits<std::int64_t>::min(), 0, 7};
  Tensor b = require_tensor(i64);
  CHECK(b.dtype() == DType::i64);
  CHECK(b.at<std::int64_t>(0) == std::numeric_limits<std::int64_t>::min());

  auto i32 = make_proto(onnx::DataType::int32, {2});
  i32.int32_data = {-2147483647 - 1, 2147483647};
  CHECK(require_tensor(i32).at<std::int32_t>(0) == std::numeric_limits<std::int32_t>::min());

  auto i16 = make_proto(onnx::DataType::int16, {2});
  i16.int32_data = {-32768, 32767};
  Tensor c = require_tensor(i16);
  CHECK(c.dtype() == DType::i16);
  CHECK(c.at<std::int16_t>(0) == -32768);
  CHECK(c.at<std::int16_t>(1) == 32767);

  auto i8 = make_proto(onnx::DataType::int8, {2});
  i8.int32_data = {-128, 127};
  CHECK(require_tensor(i8).at<std::int8_t>(0) == -128);

  auto u8 = make_proto(onnx::DataType::uint8, {2});
  u8.int32_data = {0, 255};
  CHECK(require_tensor(u8).at<std::uint8_t>(1) == 255);

  auto boolean = make_proto(onnx::DataType::boolean, {3});
  boolean.int32_data = {0, 1, 2};
  Tensor d = require_tensor(boolean);
  CHECK_FALSE(d.at<bool>(0));
  CHECK(d.at<bool>(1));
  CHECK(static_cast<const unsigned char*>(d.data())[2] == 1);  // normalized to a valid bool

  auto half = make_proto(onnx::DataType::float16, {2});
  half.int32_data = {0x3e00, 0xc000};  // 1.5, -2
  Tensor e = require_tensor(half);
  CHECK(e.dtype() == DType::f16);
  CHECK(static_cast<float>(e.at<f16>(0)) == 1.5f);
  CHECK(static_cast<float>(e.at<f16>(1)) == -2.0f);

  auto brain = make_proto(onnx::DataType::bfloat16, {2});
  brain.int32_data = {0x3fc0, 0xc000};  // 1.5, -2
  Tensor f = require_tensor(brain);
  CHECK(f.dtype() == DType::bf16);
  CHECK(static_cast<float>(f.at<bf16>(0)) == 1.5f);
  CHECK(static_cast<float>(f.at<bf16>(1)) == -2.0f);

  // A scalar, and a tensor with no elements and no data.
  auto scalar = make_proto(onnx::DataType::float32, {});
  scalar.float_data = {42.0f};
  Tensor s = require_tensor(scalar);
  CHECK(s.rank() == 0);
  CHECK(s.at<float>() == 42.0f);
  Tensor empty = require_tensor(make_proto(onnx::DataType::int64, {3, 0, 5}));
  CHECK(empty.numel() == 0);
  CHECK(empty.rank() == 3);
}

TEST_CASE("onnx tensor data: raw_data is little-endian for every kiln dtype") {
  Tensor f32 =
      require_tensor(raw_proto(onnx::DataType::float32, {2}, {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x20, 0xc1}));
  CHECK(f32.at<float>(0) == 1.5f);
  CHECK(f32.at<float>(1) == -10.0f);
  Tensor f64 = require_tensor(raw_proto(onnx::DataType::float64, {1}, {0, 0, 0, 0, 0, 0, 0x00, 0xc0}));
  CHECK(f64.at<double>(0) == -2.0);
  Tensor f16v = require_tensor(raw_proto(onnx::DataType::float16, {1}, {0x00, 0x3e}));
  CHECK(static_cast<float>(f16v.at<f16>(0)) == 1.5f);
  Tensor bf16v = require_tensor(raw_proto(onnx::DataType::bfloat16, {1}, {0xc0, 0x3f}));
  CHECK(static_cast<float>(bf16v.at<bf16>(0)) == 1.5f);
  CHECK(require_tensor(raw_proto(onnx::DataType::int8, {1}, {0xfb})).at<std::int8_t>(0) == -5);
  CHECK(require_tensor(raw_proto(onnx::DataType::uint8, {1}, {200})).at<std::uint8_t>(0) == 200);
  CHECK(require_tensor(raw_proto(onnx::DataType::int16, {1}, {0xfe, 0xff})).at<std::int16_t>(0) == -2);
  CHECK(require_tensor(raw_proto(onnx::DataType::uint16, {1}, {0xfe, 0xff})).at<std::uint16_t>(0) == 65534);
  CHECK(require_tensor(raw_proto(onnx::DataType::uint32, {1}, {0xfd, 0xff, 0xff, 0xff})).at<std::uint32_t>(0) ==
        4294967293u);
  CHECK(require_tensor(raw_proto(onnx::DataType::uint64, {1}, {0, 0, 0, 0, 0, 0, 0, 0x80})).at<std::uint64_t>(0) ==
        std::uint64_t{1} << 63);
  CHECK(require_tensor(raw_proto(onnx::DataType::int32, {1}, {0xfd, 0xff, 0xff, 0xff})).at<std::int32_t>(0) == -3);
  CHECK(require_tensor(raw_proto(onnx::DataType::int64, {1}, {0x02, 0x01, 0, 0, 0, 0, 0, 0})).at<std::int64_t>(0) ==
        258);
  Tensor bools = require_tensor(raw_proto(onnx::DataType::boolean, {3}, {0x00, 0x01, 0x05}));
  CHECK_FALSE(bools.at<bool>(0));
  CHECK(bools.at<bool>(1));
  CHECK(static_cast<const unsigned char*>(bools.data())[2] == 1);
  // Present but empty raw_data is the data of a tensor with no elements.
  CHECK(require_tensor(raw_proto(onnx::DataType::float32, {0}, {})).numel() == 0);
}

TEST_CASE("onnx tensor data: types kiln lacks, malformed shapes and data in the wrong place are clear errors") {
  const std::pair<onnx::DataType, const char*> unsupported[] = {
      {onnx::DataType::string, "data type STRING (8) has no kiln dtype"},
      {onnx::DataType::complex64, "data type COMPLEX64 (14) has no kiln dtype"},
      {onnx::DataType::float8e4m3fn, "data type FLOAT8E4M3FN (17) has no kiln dtype"},
      {onnx::DataType::undefined, "data type UNDEFINED (0) has no kiln dtype"},
      {static_cast<onnx::DataType>(99), "data type 99 (unknown) has no kiln dtype"},
  };
  for (const auto& [type, message] : unsupported) {
    auto t = onnx::to_tensor(make_proto(type, {1}));
    check_error(t.status(), StatusCode::unsupported, message);
  }
  auto named = onnx::to_tensor(make_proto(onnx::DataType::string, {1}), {}, "in.pb");
  CHECK(named.status().message() == "onnx: in.pb: TensorProto 't': data type STRING (8) has no kiln dtype");

  auto short_data = make_proto(onnx::DataType::float32, {3});
  short_data.float_data = {1, 2};
  CHECK(onnx::to_tensor(short_data).status().message() ==
        "onnx: TensorProto 't': float_data has 2 values but dims [3] need 3");
  check_error(onnx::to_tensor(make_proto(onnx::DataType::int64, {2})).status(), StatusCode::shape_mismatch,
              "int64_data has 0 values but dims [2] need 2");
  check_error(onnx::to_tensor(raw_proto(onnx::DataType::float32, {2}, {1, 2, 3, 4, 5, 6, 7})).status(),
              StatusCode::shape_mismatch, "raw_data has 7 bytes but dims [2] of FLOAT (1) need 8");
  check_error(onnx::to_tensor(make_proto(onnx::DataType::float32, {2, -1})).status(), StatusCode::parse_error,
              "dims[1] = -1 is negative");
  // 2^40 * 2^40 elements overflow before anything is allocated; so does the byte size.
  check_error(onnx::to_tensor(make_proto(onnx::DataType::float32, {std::int64_t{1} << 40, std::int64_t{1} << 40}))
                  .status(),
              StatusCode::out_of_range, "overflow the element count");
  check_error(onnx::to_tensor(make_proto(onnx::DataType::int64, {std::int64_t{1} << 61, 2})).status(),
              StatusCode::out_of_range, "overflow the byte size");
  // A huge element count with little data is refused by the count check, not by an allocation.
  check_error(onnx::to_tensor(make_proto(onnx::DataType::float32, {std::int64_t{1} << 50})).status(),
              StatusCode::shape_mismatch, "float_data has 0 values but dims [1125899906842624] need 1125899906842624");
  check_error(onnx::to_tensor(make_proto(onnx::DataType::float32, {1, 1, 1, 1, 1, 1, 1, 1, 1})).status(),
              StatusCode::unsupported, "rank 9 exceeds kiln's maximum rank 8");

  auto both = raw_proto(onnx::DataType::float32, {1}, {0, 0, 0, 0});
  both.float_data = {1};
  check_error(onnx::to_tensor(both).status(), StatusCode::parse_error, "carries both raw_data and float_data");
  auto wrong_field = make_proto(onnx::DataType::float32, {1});
  wrong_field.int64_data = {1};
  check_error(onnx::to_tensor(wrong_field).status(), StatusCode::parse_error,
              "a FLOAT (1) tensor carries its data in a typed field other than float_data");
  auto two_fields = make_proto(onnx::DataType::int64, {1});
  two_fields.int64_data = {1};
  two_fields.float_data = {1};
  check_error(onnx::to_tensor(two_fields).status(), StatusCode::parse_error, "typed field other than int64_data");
  auto out_of_range = make_proto(onnx::DataType::int8, {2});
  out_of_range.int32_data = {1, 300};
  check_error(onnx::to_tensor(out_of_range).status(), StatusCode::parse_error,
              "int32_data[1] = 300 does not fit INT8 (3) (-128 to 127)");
  auto bad_half = make_proto(onnx::DataType::float16, {1});
  bad_half.int32_data = {-1};
  check_error(onnx::to_tensor(bad_half).status(), StatusCode::parse_error, "int32_data[0] = -1 does not fit FLOAT16");
  auto segmented = make_proto(onnx::DataType::float32, {1});
  segmented.float_data = {1};
  segmented.segment = onnx::TensorProto::Segment{0, 1};
  check_error(onnx::to_tensor(segmented).status(), StatusCode::unsupported, "segmented tensors");
  auto location = make_proto(onnx::DataType::float32, {0});
  location.data_location = static_cast<onnx::TensorProto::DataLocation>(5);
  check_error(onnx::to_tensor(location).status(), StatusCode::parse_error, "unknown data_location 5");
}

// ---- external data -----------------------------------------------------------------------

namespace {
// A TensorProto stored outside the model, encoded by hand: FLOAT (or `type`) with `dims`,
// data_location EXTERNAL and the external_data entries given (key, value).
using Entries = std::vector<std::pair<std::string, std::string>>;

Encoder external_tensor(std::string_view name, std::initializer_list<std::int64_t> dims, const Entries& entries,
                        onnx::DataType type = onnx::DataType::float32) {
  Encoder tensor;
  for (std::int64_t d : dims) tensor.int_field(1, d);
  tensor.int_field(2, static_cast<std::int64_t>(type)).string_field(8, name);
  for (const auto& [key, value] : entries) {
    tensor.message_field(13, Encoder().string_field(1, key).string_field(2, value));
  }
  tensor.int_field(14, 1);
  return tensor;
}
} // namespace

TEST_CASE("onnx external data: read from a file beside the model, and refused outside it") {
  TempDir dir("onnx_external");
  // weights.bin: 16 bytes of padding, six floats 1..6, then one int32 (-9) at offset 40.
  std::vector<std::byte> weights(16, std::byte{0xee});
  for (int i = 1; i <= 6; ++i) {
    const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(i));
    for (int b = 0; b < 4; ++b) weights.push_back(static_cast<std::byte>(bits >> (8 * b)));
  }
  for (int b : {0xf7, 0xff, 0xff, 0xff}) weights.push_back(static_cast<std::byte>(b));
  REQUIRE(weights.size() == 44);
  REQUIRE(write_file(dir.path() / "weights.bin", weights));
  fs::create_directories(dir.path() / "sub");
  REQUIRE(write_file(dir.path() / "sub" / "more.bin", weights));

  Encoder graph;
  graph.message_field(5,
                      external_tensor("w", {2, 3}, {{"location", "weights.bin"}, {"offset", "16"}, {"length", "24"}}));
  graph.message_field(5, external_tensor("tail", {1}, {{"location", "weights.bin"}, {"offset", "40"}},
                                         onnx::DataType::int32));
  graph.message_field(5, external_tensor("nested", {1}, {{"location", "sub/more.bin"}, {"offset", "20"},
                                                          {"length", "4"}, {"checksum", "ignored"}}));
  Encoder model;
  model.int_field(1, 8).message_field(7, graph);
  REQUIRE(write_file(dir.path() / "model.onnx", model.bytes()));

  auto loaded = onnx::load_model(dir.path() / "model.onnx");
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  CHECK(loaded->directory == dir.path());
  const auto& initializers = loaded->model.graph->initializer;
  REQUIRE(initializers.size() == 3);
  CHECK(initializers[0].data_location == onnx::TensorProto::DataLocation::external);
  auto where = onnx::external_data_location(initializers[0]);
  REQUIRE(where.ok());
  CHECK(where->location == "weights.bin");
  CHECK(where->offset == 16);
  CHECK(where->length == std::optional<std::uint64_t>(24));

  auto w = onnx::to_tensor(initializers[0], loaded->directory);
  REQUIRE_MESSAGE(w.ok(), w.status().to_string());
  CHECK(w->dtype() == DType::f32);
  CHECK(w->at<float>(0, 0) == 1.0f);
  CHECK(w->at<float>(1, 2) == 6.0f);
  auto tail = onnx::to_tensor(initializers[1], loaded->directory);  // no length: to the end of the file
  REQUIRE_MESSAGE(tail.ok(), tail.status().to_string());
  CHECK(tail->at<std::int32_t>(0) == -9);
  auto nested = onnx::to_tensor(initializers[2], loaded->directory);
  REQUIRE_MESSAGE(nested.ok(), nested.status().to_string());
  CHECK(nested->at<float>(0) == 2.0f);

  // The same tensor as a .pb file of its own: external data is found beside it.
  REQUIRE(write_file(dir.path() / "input_0.pb",
                     external_tensor("w", {2, 3}, {{"location", "weights.bin"}, {"offset", "16"}}).bytes()));
  auto from_pb = onnx::load_tensor(dir.path() / "input_0.pb");
  // offset 16 without a length reads 28 bytes, 4 more than a [2, 3] FLOAT tensor has.
  check_error(from_pb.status(), StatusCode::shape_mismatch,
              "external data has 28 bytes but dims [2, 3] of FLOAT (1) need 24");
  const std::string pb_prefix = str_cat("onnx: ", (dir.path() / "input_0.pb").string(), ": TensorProto 'w': ");
  CHECK(from_pb.status().message().rfind(pb_prefix, 0) == 0);

  struct Refusal {
    Entries entries;
    StatusCode code;
    const char* fragment;
  };
  const Refusal refusals[] = {
      {{{"location", "../weights.bin"}}, StatusCode::invalid_argument,
       "external data location '../weights.bin' has a '..' component; it must stay inside the model's directory"},
      {{{"location", "sub/../../x/weights.bin"}}, StatusCode::invalid_argument, "has a '..' component"},
      {{{"location", "/etc/passwd"}}, StatusCode::invalid_argument,
       "external data location '/etc/passwd' is absolute; it must be relative to the model's directory"},
      {{{"location", "weights.bin"}, {"offset", "100"}}, StatusCode::out_of_range,
       "external data offset 100 is beyond the end of 'weights.bin' (44 bytes)"},
      {{{"location", "weights.bin"}, {"offset", "40"}, {"length", "24"}}, StatusCode::out_of_range,
       "external data at offset 40 with length 24 runs past the end of 'weights.bin' (44 bytes)"},
      {{{"location", "weights.bin"}, {"offset", "18446744073709551615"}, {"length", "24"}}, StatusCode::out_of_range,
       "is beyond the end"},
      {{{"location", "weights.bin"}, {"offset", "16"}, {"length", "20"}}, StatusCode::shape_mismatch,
       "external data has 20 bytes but dims [2, 3] of FLOAT (1) need 24"},
      {{{"location", "missing.bin"}}, StatusCode::not_found, "missing.bin: no such file"},
      {{{"location", "sub"}}, StatusCode::invalid_argument, "not a regular file"},
      {{{"location", "weights.bin"}, {"offset", "-4"}}, StatusCode::parse_error,
       "external data offset '-4' is not a non-negative decimal integer"},
      {{{"location", "weights.bin"}, {"length", "99999999999999999999"}}, StatusCode::parse_error,
       "is not a non-negative decimal integer"},
      {{{"offset", "0"}}, StatusCode::parse_error, "external data has no 'location' entry"},
      {{{"location", ""}}, StatusCode::parse_error, "external data has no location"},
  };
  for (const Refusal& refusal : refusals) {
    Encoder tensor = external_tensor("w", {2, 3}, refusal.entries);
    auto proto = onnx::decode_tensor_proto(tensor.span());
    REQUIRE(proto.ok());
    auto t = onnx::to_tensor(*proto, dir.path());
    REQUIRE_FALSE(t.ok());
    check_error(t.status(), refusal.code, refusal.fragment);
  }
  // External data needs to know where the model is.
  check_error(onnx::to_tensor(initializers[0]).status(), StatusCode::invalid_argument,
              "external data 'weights.bin' needs the model's directory, and none was given");
  // And must not also carry data in the model.
  onnx::TensorProto mixed = initializers[0];
  mixed.float_data = {1, 2, 3, 4, 5, 6};
  check_error(onnx::to_tensor(mixed, dir.path()).status(), StatusCode::parse_error,
              "external tensor also carries data in the model");
}

TEST_CASE("onnx load_file: missing files, directories and files over the limit are clear errors") {
  TempDir dir("onnx_load");
  auto missing = onnx::load_model(dir.path() / "nope.onnx");
  CHECK(missing.status().code() == StatusCode::not_found);
  CHECK(missing.status().message() == str_cat("onnx: ", (dir.path() / "nope.onnx").string(), ": no such file"));
  check_error(onnx::load_tensor_proto(dir.path()).status(), StatusCode::invalid_argument, "not a regular file");
  REQUIRE(write_file(dir.path() / "model.onnx", fixture_bytes()));
  check_error(onnx::load_model(dir.path() / "model.onnx", 100).status(), StatusCode::out_of_range,
              str_cat("the file has ", sizeof kFixtureModel, " bytes, more than the limit of 100"));
  auto ok = onnx::load_model(dir.path() / "model.onnx");
  REQUIRE_MESSAGE(ok.ok(), ok.status().to_string());
  CHECK(ok->model.graph->name == "fixture");
  // Decode errors from a file name the file.
  std::vector<std::byte> cut(fixture_bytes().begin(), fixture_bytes().begin() + 100);
  REQUIRE(write_file(dir.path() / "cut.onnx", cut));
  auto truncated = onnx::load_model(dir.path() / "cut.onnx");
  REQUIRE_FALSE(truncated.ok());
  const std::string cut_prefix = str_cat("onnx: ", (dir.path() / "cut.onnx").string(), ": ModelProto.graph");
  CHECK(truncated.status().message().rfind(cut_prefix, 0) == 0);
}

// ---- ONNX's backend node tests -----------------------------------------------------------

namespace {
// Debian's libonnx-testdata: per operator case, a model.onnx and test_data_set_N/ holding
// input_K.pb and output_K.pb, serialized TensorProtos (or SequenceProtos and OptionalProtos
// for the K-th graph input or output when it is not a tensor); onnx_testdata.hpp finds it.
fs::path node_tests_dir() { return test::onnx_node_tests_dir(); }
bool node_tests_available() { return test::onnx_node_tests_available("the checks on real ONNX files"); }

std::vector<fs::path> sorted_children(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

// "input_3.pb" -> {true, 3}; "output_0.pb" -> {false, 0}; anything else -> index -1.
struct DataFile {
  bool is_input = false;
  long index = -1;
};
DataFile parse_data_file(const std::string& name) {
  DataFile file;
  std::string_view rest;
  if (name.rfind("input_", 0) == 0) {
    file.is_input = true;
    rest = std::string_view(name).substr(6);
  } else if (name.rfind("output_", 0) == 0) {
    rest = std::string_view(name).substr(7);
  } else {
    return file;
  }
  if (rest.size() < 4 || rest.substr(rest.size() - 3) != ".pb") return file;
  rest.remove_suffix(3);
  long index = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') return file;
    index = index * 10 + (c - '0');
  }
  file.index = index;
  return file;
}

std::vector<std::int64_t> dims_of(const Tensor& t) { return {t.dims().begin(), t.dims().end()}; }

// A tensor file of a node test case, which must load.
Tensor case_tensor(std::string_view test_case, std::string_view file) {
  const fs::path path = node_tests_dir() / test_case / "test_data_set_0" / file;
  auto t = onnx::load_tensor(path);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return *t;
}

onnx::ModelProto case_model(std::string_view test_case) {
  auto loaded = onnx::load_model(node_tests_dir() / test_case / "model.onnx");
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  REQUIRE(loaded->model.graph.has_value());
  return loaded->model;
}
} // namespace

TEST_CASE("onnx backend node tests: every model decodes, every tensor file loads or is a clear unsupported error") {
  if (!node_tests_available()) return;
  int cases = 0, models = 0, tensors = 0, non_tensor_values = 0, failures = 0;
  std::map<std::string, int> unsupported;  // ONNX data type -> files
  std::string shape_differs;              // files whose extents are not the declared ones
  for (const fs::path& case_dir : sorted_children(node_tests_dir())) {
    std::error_code ec;
    if (!fs::is_regular_file(case_dir / "model.onnx", ec)) continue;
    ++cases;
    auto loaded = onnx::load_model(case_dir / "model.onnx");
    if (!loaded.ok() || !loaded->model.graph) {
      ++failures;
      FAIL_CHECK(case_dir.filename().string(), ": ", loaded.ok() ? "no graph" : loaded.status().to_string());
      continue;
    }
    ++models;
    const onnx::GraphProto& graph = *loaded->model.graph;
    // input_K.pb is the K-th graph input that is not an initializer.
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const onnx::ValueInfoProto& input : graph.input) {
      const bool is_initializer = std::any_of(graph.initializer.begin(), graph.initializer.end(),
                                              [&](const onnx::TensorProto& t) { return t.name == input.name; });
      if (!is_initializer) inputs.push_back(&input);
    }
    for (const fs::path& data_set : sorted_children(case_dir)) {
      if (data_set.filename().string().rfind("test_data_set_", 0) != 0) continue;
      for (const fs::path& file : sorted_children(data_set)) {
        const DataFile which = parse_data_file(file.filename().string());
        if (which.index < 0) continue;
        const auto k = static_cast<std::size_t>(which.index);
        const onnx::ValueInfoProto* info = which.is_input ? (k < inputs.size() ? inputs[k] : nullptr)
                                                          : (k < graph.output.size() ? &graph.output[k] : nullptr);
        if (info == nullptr || !info->type) {
          ++failures;
          FAIL_CHECK(file.string(), ": no graph value with a type for this file");
          continue;
        }
        const onnx::TypeProto::Tensor* tensor_type = info->type->tensor_type();
        auto proto = onnx::load_tensor_proto(file);
        if (tensor_type == nullptr) {
          // A SequenceProto or OptionalProto: read as a TensorProto it may decode to nonsense
          // or fail, but must do either safely.
          if (proto.ok()) onnx::to_tensor(*proto).status().ignore();
          ++non_tensor_values;
          continue;
        }
        if (!proto.ok()) {
          ++failures;
          FAIL_CHECK(proto.status().to_string());
          continue;
        }
        auto tensor = onnx::to_tensor(*proto, data_set, file.string());
        if (!tensor.ok()) {
          if (tensor.status().code() != StatusCode::unsupported) {
            ++failures;
            FAIL_CHECK(tensor.status().to_string());
          }
          ++unsupported[std::string(onnx::to_string(proto->data_type))];
          continue;
        }
        ++tensors;
        // The file has the graph's declared element type (the older test data stores
        // BFLOAT16 values as their UINT16 bit patterns), and (but for a few files of the ONNX
        // 1.12 test data that disagree with their own model) its static extents.
        const bool bf16_as_bits =
            proto->data_type == onnx::DataType::uint16 && tensor_type->elem_type == onnx::DataType::bfloat16;
        if ((proto->data_type != tensor_type->elem_type && !bf16_as_bits) ||
            onnx::to_dtype(proto->data_type) != tensor->dtype()) {
          ++failures;
          FAIL_CHECK(file.string(), ": ", onnx::describe(proto->data_type), " disagrees with the graph's ", info->name,
                     ": ", onnx::describe(tensor_type->elem_type));
        }
        if (tensor_type->shape) {
          const auto& dims = tensor_type->shape->dim;
          bool same = dims.size() == static_cast<std::size_t>(tensor->rank());
          for (std::size_t axis = 0; same && axis < dims.size(); ++axis) {
            if (dims[axis].dim_value) same = *dims[axis].dim_value == tensor->dim(static_cast<int>(axis));
          }
          if (!same) {
            shape_differs += str_cat(shape_differs.empty() ? "" : ", ", case_dir.filename().string(), "/",
                                     file.filename().string(), " ", Tensor::shape_string(tensor->dims()),
                                     " vs ", shape_of(*info->type));
          }
        }
      }
    }
  }
  std::string unsupported_summary;
  int unsupported_files = 0;
  for (const auto& [type, count] : unsupported) {
    unsupported_summary += str_cat(unsupported_summary.empty() ? "" : ", ", type, " ", count);
    unsupported_files += count;
  }
  MESSAGE(models, " of ", cases, " node test models decoded; ", tensors, " tensor files loaded; ", unsupported_files,
          " unsupported (", unsupported_summary, "); ", non_tensor_values, " sequence/optional values skipped");
  if (!shape_differs.empty()) MESSAGE("extents other than the model declares (a quirk of the data): ", shape_differs);
  CHECK(cases > 0);
  CHECK(models == cases);
  CHECK(tensors > 0);
  CHECK(failures == 0);
}

// Known values, obtained once with Debian's /usr/bin/python3 and python3-onnx 1.12:
// onnx.load(model) printed, and onnx.numpy_helper.to_array(TensorProto.FromString(pb bytes)).
TEST_CASE("onnx backend node tests: known values") {
  if (!node_tests_available()) return;

  SUBCASE("test_add: FLOAT raw_data") {
    const onnx::ModelProto m = case_model("test_add");
    CHECK(m.ir_version == 7);
    CHECK(m.producer_name == "backend-test");
    REQUIRE(m.opset_import.size() == 1);
    CHECK(m.opset_import[0].version == 14);
    const onnx::GraphProto& g = *m.graph;
    REQUIRE(g.node.size() == 1);
    CHECK(g.node[0].op_type == "Add");
    CHECK(g.node[0].input == std::vector<std::string>{"x", "y"});
    CHECK(g.node[0].output == std::vector<std::string>{"sum"});
    REQUIRE(g.input.size() == 2);
    CHECK(shape_of(*g.input[1].type) == "[3, 4, 5]");
    CHECK(g.output.at(0).type->tensor_type()->elem_type == onnx::DataType::float32);
    const Tensor x = case_tensor("test_add", "input_0.pb");
    CHECK(x.dtype() == DType::f32);
    CHECK(dims_of(x) == std::vector<std::int64_t>{3, 4, 5});
    // Bit patterns, so the check is exact: 1.764052391052246, 0.40015721321105957, -0.3627411723136902.
    CHECK(std::bit_cast<std::uint32_t>(x.at<float>(0, 0, 0)) == 1071762552u);
    CHECK(std::bit_cast<std::uint32_t>(x.at<float>(0, 0, 1)) == 1053614440u);
    CHECK(std::bit_cast<std::uint32_t>(x.at<float>(2, 3, 4)) == 3199842614u);
  }

  SUBCASE("test_conv_with_strides_padding: INTS attributes") {
    const onnx::ModelProto m = case_model("test_conv_with_strides_padding");
    CHECK(m.ir_version == 6);
    CHECK(m.opset_import.at(0).version == 11);
    const onnx::NodeProto& conv = m.graph->node.at(0);
    CHECK(conv.op_type == "Conv");
    REQUIRE(conv.attribute.size() == 3);
    CHECK(conv.attribute[0].name == "kernel_shape");
    CHECK(conv.attribute[0].type == onnx::AttributeType::ints);
    CHECK(conv.attribute[0].ints == std::vector<std::int64_t>{3, 3});
    CHECK(conv.attribute[1].name == "pads");
    CHECK(conv.attribute[1].ints == std::vector<std::int64_t>{1, 1, 1, 1});
    CHECK(conv.attribute[2].name == "strides");
    CHECK(conv.attribute[2].ints == std::vector<std::int64_t>{2, 2});
    CHECK(shape_of(*m.graph->input.at(0).type) == "[1, 1, 7, 5]");
    CHECK(shape_of(*m.graph->output.at(0).type) == "[1, 1, 4, 3]");
    const Tensor y = case_tensor("test_conv_with_strides_padding", "output_0.pb");
    CHECK(dims_of(y) == std::vector<std::int64_t>{1, 1, 4, 3});
    const float expected[] = {12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124};
    for (int i = 0; i < 12; ++i) CHECK(y.at<float>(0, 0, i / 3, i % 3) == expected[i]);
    CHECK(case_tensor("test_conv_with_strides_padding", "input_0.pb").at<float>(0, 0, 6, 4) == 34.0f);
  }

  SUBCASE("test_cast_FLOAT_to_FLOAT16: an INT attribute and FLOAT16 raw_data") {
    const onnx::ModelProto m = case_model("test_cast_FLOAT_to_FLOAT16");
    const onnx::NodeProto& cast = m.graph->node.at(0);
    CHECK(cast.op_type == "Cast");
    REQUIRE(cast.attribute.size() == 1);
    CHECK(cast.attribute[0].name == "to");
    CHECK(cast.attribute[0].type == onnx::AttributeType::int_);
    CHECK(cast.attribute[0].i == 10);
    CHECK(m.graph->output.at(0).type->tensor_type()->elem_type == onnx::DataType::float16);
    const Tensor out = case_tensor("test_cast_FLOAT_to_FLOAT16", "output_0.pb");
    CHECK(out.dtype() == DType::f16);
    CHECK(dims_of(out) == std::vector<std::int64_t>{3, 4});
    const std::uint16_t bits[] = {14436, 14777, 14546, 14428, 14023, 14635, 14080, 15138, 15286, 13859, 14933, 14395};
    for (int i = 0; i < 12; ++i) CHECK(out.at<f16>(i / 4, i % 4).bits == bits[i]);
    CHECK(static_cast<float>(out.at<f16>(0, 0)) == 0.548828125f);
    CHECK(static_cast<float>(out.at<f16>(2, 3)) == 0.52880859375f);
  }

  SUBCASE("test_and2d: BOOL") {
    const onnx::ModelProto m = case_model("test_and2d");
    CHECK(m.ir_version == 3);
    CHECK(m.graph->node.at(0).op_type == "And");
    CHECK(m.graph->input.at(0).type->tensor_type()->elem_type == onnx::DataType::boolean);
    const int x[] = {1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1};
    const int y[] = {1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0};
    const Tensor tx = case_tensor("test_and2d", "input_0.pb");
    const Tensor ty = case_tensor("test_and2d", "input_1.pb");
    const Tensor tz = case_tensor("test_and2d", "output_0.pb");
    CHECK(tz.dtype() == DType::boolean);
    CHECK(dims_of(tz) == std::vector<std::int64_t>{3, 4});
    for (int i = 0; i < 12; ++i) {
      CHECK(tx.at<bool>(i / 4, i % 4) == (x[i] != 0));
      CHECK(ty.at<bool>(i / 4, i % 4) == (y[i] != 0));
      CHECK(tz.at<bool>(i / 4, i % 4) == (x[i] != 0 && y[i] != 0));
    }
  }

  SUBCASE("test_argmax_default_axis_example: INT64 output") {
    const onnx::ModelProto m = case_model("test_argmax_default_axis_example");
    const onnx::NodeProto& node = m.graph->node.at(0);
    CHECK(node.op_type == "ArgMax");
    CHECK(node.attribute.at(0).name == "keepdims");
    CHECK(node.attribute.at(0).i == 1);
    CHECK(m.graph->output.at(0).type->tensor_type()->elem_type == onnx::DataType::int64);
    const Tensor data = case_tensor("test_argmax_default_axis_example", "input_0.pb");
    CHECK(data.at<float>(1, 1) == 10.0f);
    const Tensor result = case_tensor("test_argmax_default_axis_example", "output_0.pb");
    CHECK(result.dtype() == DType::i64);
    CHECK(dims_of(result) == std::vector<std::int64_t>{1, 2});
    CHECK(result.at<std::int64_t>(0, 0) == 1);
    CHECK(result.at<std::int64_t>(0, 1) == 1);
  }

  SUBCASE("test_constant: a TENSOR attribute in float_data") {
    const onnx::ModelProto m = case_model("test_constant");
    const onnx::AttributeProto& value = m.graph->node.at(0).attribute.at(0);
    CHECK(value.name == "value");
    CHECK(value.type == onnx::AttributeType::tensor);
    REQUIRE(value.t.has_value());
    CHECK(value.t->name == "const_tensor");
    CHECK(value.t->float_data.size() == 25);
    CHECK_FALSE(value.t->has_raw_data);
    const Tensor t = onnx::to_tensor(*value.t).value();
    CHECK(dims_of(t) == std::vector<std::int64_t>{5, 5});
    CHECK(std::bit_cast<std::uint32_t>(t.at<float>(0, 0)) == 1071762552u);  // 1.764052391052246
    CHECK(std::bit_cast<std::uint32_t>(t.at<float>(4, 4)) == 1074873257u);  // 2.269754648208618
    const Tensor out = case_tensor("test_constant", "output_0.pb");
    CHECK(std::memcmp(out.data(), t.data(), t.nbytes()) == 0);
  }

  SUBCASE("test_if_seq: GRAPH attributes and sequence types") {
    const onnx::ModelProto m = case_model("test_if_seq");
    const onnx::NodeProto& node = m.graph->node.at(0);
    CHECK(node.op_type == "If");
    REQUIRE(node.attribute.size() == 2);
    CHECK(node.attribute[0].name == "else_branch");
    CHECK(node.attribute[0].type == onnx::AttributeType::graph);
    const onnx::GraphProto& else_body = *node.attribute[0].g;
    CHECK(else_body.name == "else_body");
    REQUIRE(else_body.node.size() == 2);
    CHECK(else_body.node[1].op_type == "SequenceConstruct");
    const Tensor y = onnx::to_tensor(*else_body.node[0].attribute.at(0).t).value();
    const float descending[] = {5, 4, 3, 2, 1};
    for (int i = 0; i < 5; ++i) CHECK(y.at<float>(i) == descending[i]);
    const onnx::TypeProto::Sequence* seq = else_body.output.at(0).type->sequence_type();
    REQUIRE(seq != nullptr);
    CHECK(shape_of(*seq->elem_type) == "[5]");
    CHECK(shape_of(*m.graph->input.at(0).type) == "[]");  // cond: a scalar
    const onnx::TypeProto::Sequence* res = m.graph->output.at(0).type->sequence_type();
    REQUIRE(res != nullptr);
    CHECK(shape_of(*res->elem_type) == "none");
    CHECK(case_tensor("test_if_seq", "input_0.pb").at<bool>());
  }
}

// ---- robustness ------------------------------------------------------------------------

namespace {
// Converts every tensor a decoded message holds, so that corrupted files exercise
// tensor_data.hpp as well (without a model directory: external data is refused, not read).
void exercise(const onnx::GraphProto& graph, int& converted);
void exercise(const onnx::TensorProto& tensor, int& converted) { converted += onnx::to_tensor(tensor).ok() ? 1 : 0; }
void exercise(const onnx::NodeProto& node, int& converted) {
  for (const onnx::AttributeProto& attribute : node.attribute) {
    if (attribute.t) exercise(*attribute.t, converted);
    for (const onnx::TensorProto& t : attribute.tensors) exercise(t, converted);
    if (attribute.g) exercise(*attribute.g, converted);
    for (const onnx::GraphProto& g : attribute.graphs) exercise(g, converted);
  }
}
void exercise(const onnx::GraphProto& graph, int& converted) {
  for (const onnx::TensorProto& t : graph.initializer) exercise(t, converted);
  for (const onnx::NodeProto& node : graph.node) exercise(node, converted);
}
void exercise(const onnx::ModelProto& model, int& converted) {
  if (model.graph) exercise(*model.graph, converted);
  for (const onnx::FunctionProto& f : model.functions)
    for (const onnx::NodeProto& node : f.node) exercise(node, converted);
}

struct Outcomes {
  int decoded = 0;
  int refused = 0;
  int unnamed_errors = 0;  // errors that do not start with "onnx: <Message>"
  int converted = 0;
};

void decode_any(std::span<const std::byte> bytes, bool is_model, Outcomes& outcomes) {
  if (is_model) {
    auto m = onnx::decode_model(bytes);
    if (m.ok()) {
      ++outcomes.decoded;
      exercise(*m, outcomes.converted);
      const onnx::ModelProto copy = *m;  // deep copies of whatever decoded
      (void)copy;
    } else {
      ++outcomes.refused;
      if (m.status().message().rfind("onnx: ModelProto", 0) != 0) ++outcomes.unnamed_errors;
    }
  } else {
    auto t = onnx::decode_tensor_proto(bytes);
    if (t.ok()) {
      ++outcomes.decoded;
      exercise(*t, outcomes.converted);
    } else {
      ++outcomes.refused;
      if (t.status().message().rfind("onnx: TensorProto", 0) != 0) ++outcomes.unnamed_errors;
    }
  }
}

// Every truncation of `original`, then `mutations` copies with one to three random edits
// (a byte replaced, a bit flipped, a byte inserted or deleted): each must decode or be
// refused with an error, never crash.
Outcomes torture(std::span<const std::byte> original, bool is_model, std::uint32_t seed, int mutations) {
  Outcomes outcomes;
  for (std::size_t n = 0; n < original.size(); ++n) {
    // A copy of exactly n bytes, so that AddressSanitizer sees any read past the end.
    const std::vector<std::byte> prefix(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(n));
    decode_any(prefix, is_model, outcomes);
  }
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes;
  for (int i = 0; i < mutations; ++i) {
    bytes.assign(original.begin(), original.end());
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto random_byte = static_cast<std::byte>(rng() & 0xff);
      const std::size_t pos = bytes.empty() ? 0 : rng() % bytes.size();
      switch (bytes.empty() ? 2 : rng() % 4) {
        case 0: bytes[pos] = random_byte; break;
        case 1: bytes[pos] ^= static_cast<std::byte>(1u << (rng() % 8)); break;
        case 2: bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos), random_byte); break;
        default: bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(pos)); break;
      }
    }
    decode_any(bytes, is_model, outcomes);
    decode_any(bytes, !is_model, outcomes);  // the same bytes read as the other message
  }
  return outcomes;
}

std::vector<std::byte> read_bytes(const fs::path& path) {
  auto bytes = onnx::detail::read_whole_file(path, 1 << 20);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
  return *bytes;
}
} // namespace

TEST_CASE("onnx robustness: every truncation and thousands of random edits decode or fail cleanly") {
  struct Input {
    std::string name;
    std::vector<std::byte> bytes;
    bool is_model;
  };
  std::vector<Input> inputs;
  inputs.push_back({"fixture", std::vector<std::byte>(fixture_bytes().begin(), fixture_bytes().end()), true});
  // The node tests' absence is reported by the tests above; the fixture is tortured regardless.
  std::error_code ec;
  if (fs::is_directory(node_tests_dir(), ec)) {
    for (const char* name : {"test_if_seq/model.onnx", "test_loop13_seq/model.onnx", "test_constant/model.onnx",
                             "test_conv_with_strides_padding/model.onnx"}) {
      inputs.push_back({name, read_bytes(node_tests_dir() / name), true});
    }
    for (const char* name :
         {"test_add/test_data_set_0/input_0.pb", "test_sequence_insert_at_back/test_data_set_0/input_0.pb"}) {
      inputs.push_back({name, read_bytes(node_tests_dir() / name), false});
    }
  }
  std::uint32_t seed = 20240611;
  Outcomes total;
  for (const Input& input : inputs) {
    CAPTURE(input.name);
    Outcomes whole;
    decode_any(input.bytes, input.is_model, whole);
    CHECK(whole.decoded == 1);
    const Outcomes o = torture(input.bytes, input.is_model, seed++, 3000);
    CHECK(o.refused > 0);
    CHECK(o.unnamed_errors == 0);
    total.decoded += o.decoded;
    total.refused += o.refused;
    total.converted += o.converted;
  }
  MESSAGE(inputs.size(), " files truncated and mutated: ", total.decoded, " decodes succeeded, ", total.refused,
          " were refused, ", total.converted, " tensors converted");
}

// ---- the script that made kFixtureModel (Debian python3-onnx 1.12) --------------------
//
// import onnx, numpy as np
// from onnx import helper, TensorProto, numpy_helper
//
// W = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) * 0.5, name="W")
// shape_init = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 12])            # int64_data
// mask = helper.make_tensor("mask", TensorProto.BOOL, [3], [True, False, True])           # int32_data
// half = helper.make_tensor("half", TensorProto.FLOAT16, [2], [1.5, -2.0])  # int32_data holds the bit patterns
// const_value = helper.make_tensor("c", TensorProto.FLOAT, [2, 2], [1.0, -2.5, 3.25, 1e-3])  # float_data
//
// then_g = helper.make_graph(
//     [helper.make_node("Constant", [], ["t"], value=helper.make_tensor("tv", TensorProto.INT32, [1], [7]))],
//     "then_body", [], [helper.make_tensor_value_info("t", TensorProto.INT32, [1])])
// else_g = helper.make_graph(
//     [helper.make_node("Constant", [], ["e"], value_ints=[4, 5, 6])],
//     "else_body", [], [helper.make_tensor_value_info("e", TensorProto.INT64, [3])])
//
// nodes = [
//     helper.make_node("Conv", ["x", "W"], ["y"], name="conv0",
//                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
//     helper.make_node("Constant", [], ["c"], name="const0", value=const_value),
//     helper.make_node("If", ["cond"], ["r"], name="if0", then_branch=then_g, else_branch=else_g),
//     helper.make_node("Custom", ["y", ""], ["z"], name="custom0", domain="com.example",
//                      alpha=0.25, count=-3, label="hello", scales=[0.5, 2.0], names=["a", "bc"],
//                      tensors=[helper.make_tensor("t0", TensorProto.INT8, [2], [-1, 2])],
//                      graphs=[then_g],
//                      elem=helper.make_tensor_type_proto(TensorProto.FLOAT, ["n", 4])),
// ]
// nodes[3].attribute.append(helper.make_attribute(
//     "types", [helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.INT64, [2]))]))
// ref = onnx.AttributeProto()
// ref.name, ref.ref_attr_name, ref.type = "gamma", "outer_gamma", onnx.AttributeProto.FLOAT
// nodes[3].attribute.append(ref)
//
// inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 7, 5]),
//           helper.make_tensor_value_info("cond", TensorProto.BOOL, [])]
// outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 4, 3]),
//            helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None),
//            helper.make_value_info("opt", helper.make_optional_type_proto(
//                helper.make_tensor_type_proto(TensorProto.UINT8, [None])))]
// map_type = onnx.TypeProto(); map_type.map_type.key_type = TensorProto.INT64
// map_type.map_type.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.DOUBLE, [2]))
// value_info = [helper.make_value_info("m", map_type)]
// graph = helper.make_graph(nodes, "fixture", inputs, outputs, [W, shape_init, mask, half], value_info=value_info,
//                           doc_string="a graph")
// fn = helper.make_function("com.example", "Custom", ["a", "b"], ["z"],
//                           [helper.make_node("Add", ["a", "b"], ["z"])], [helper.make_opsetid("", 17)], ["alpha"])
// model = helper.make_model(graph, producer_name="kiln-test", producer_version="1.0",
//                           opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
//                           functions=[fn])
// model.ir_version, model.domain, model.model_version, model.doc_string = 8, "org.kiln", 42, "fixture"
// helper.set_model_props(model, {"author": "kiln"})
// data = model.SerializeToString()   # then printed as the hex bytes above
