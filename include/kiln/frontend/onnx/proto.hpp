// kiln/frontend/onnx/proto.hpp: the ONNX messages (onnx.proto, IR version 8) as plain structs,
// and their decoders from protobuf's wire format.
//
// The structs mirror onnx.proto field for field, with protobuf's meaning: an absent scalar
// is its default, an absent message is an empty std::optional (or a Box, where a message
// contains itself), an optional message that appears twice is merged, and the last member
// read of a oneof wins. Field numbers come from onnx.proto; fields this decoder does not
// know (newer IR versions, ONNX-ML extras) are skipped, as protobuf skips them.
// Skipped on purpose: ModelProto.training_info and GraphProto.quantization_annotation,
// which inference does not use. Refused with an `unsupported` error naming the field:
// sparse tensors (GraphProto.sparse_initializer, AttributeProto.sparse_tensor and
// sparse_tensors), which kiln cannot represent. Model-local functions (FunctionProto) are
// decoded for the importer to expand.
//
// Entry points: decode_model(bytes) and decode_tensor_proto(bytes) (for the backend tests'
// input_K.pb files); decode<Message>(bytes) for any of the top-level messages here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"
#include "wire.hpp"

namespace kiln::onnx {

// TensorProto.DataType. Values not listed (from IR versions newer than this decoder) are
// kept as their number.
enum class DataType : std::int32_t {
  undefined = 0,
  float32 = 1,
  uint8 = 2,
  int8 = 3,
  uint16 = 4,
  int16 = 5,
  int32 = 6,
  int64 = 7,
  string = 8,
  boolean = 9,
  float16 = 10,
  float64 = 11,
  uint32 = 12,
  uint64 = 13,
  complex64 = 14,
  complex128 = 15,
  bfloat16 = 16,
  float8e4m3fn = 17,
  float8e4m3fnuz = 18,
  float8e5m2 = 19,
  float8e5m2fnuz = 20,
  uint4 = 21,
  int4 = 22,
  float4e2m1 = 23,
  float8e8m0 = 24,
};

// ONNX's own spelling ("FLOAT", "UINT16"), or "" for a value it does not define.
constexpr std::string_view to_string(DataType type) noexcept {
  switch (type) {
    case DataType::undefined: return "UNDEFINED";
    case DataType::float32: return "FLOAT";
    case DataType::uint8: return "UINT8";
    case DataType::int8: return "INT8";
    case DataType::uint16: return "UINT16";
    case DataType::int16: return "INT16";
    case DataType::int32: return "INT32";
    case DataType::int64: return "INT64";
    case DataType::string: return "STRING";
    case DataType::boolean: return "BOOL";
    case DataType::float16: return "FLOAT16";
    case DataType::float64: return "DOUBLE";
    case DataType::uint32: return "UINT32";
    case DataType::uint64: return "UINT64";
    case DataType::complex64: return "COMPLEX64";
    case DataType::complex128: return "COMPLEX128";
    case DataType::bfloat16: return "BFLOAT16";
    case DataType::float8e4m3fn: return "FLOAT8E4M3FN";
    case DataType::float8e4m3fnuz: return "FLOAT8E4M3FNUZ";
    case DataType::float8e5m2: return "FLOAT8E5M2";
    case DataType::float8e5m2fnuz: return "FLOAT8E5M2FNUZ";
    case DataType::uint4: return "UINT4";
    case DataType::int4: return "INT4";
    case DataType::float4e2m1: return "FLOAT4E2M1";
    case DataType::float8e8m0: return "FLOAT8E8M0";
  }
  return "";
}

// For messages: "UINT16 (4)", or "99 (unknown)".
inline std::string describe(DataType type) {
  const std::string_view name = to_string(type);
  if (name.empty()) return str_cat(static_cast<std::int32_t>(type), " (unknown)");
  return str_cat(name, " (", static_cast<std::int32_t>(type), ")");
}

// A std::unique_ptr that copies what it points to: an optional field of a message that
// (through other messages) contains itself, where std::optional would need a complete type.
template <class T>
class Box {
 public:
  Box() noexcept = default;
  Box(const Box& other) : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& other) {
    if (this != &other) value_ = other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  bool has_value() const noexcept { return value_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  T& operator*() noexcept { return *value_; }
  const T& operator*() const noexcept { return *value_; }
  T* operator->() noexcept { return value_.get(); }
  const T* operator->() const noexcept { return value_.get(); }
  T* get() noexcept { return value_.get(); }
  const T* get() const noexcept { return value_.get(); }
  // The value, default-constructed first when absent (protobuf's mutable_x()).
  T& emplace() {
    if (!value_) value_ = std::make_unique<T>();
    return *value_;
  }
  void reset() noexcept { value_.reset(); }

 private:
  std::unique_ptr<T> value_;
};

struct StringStringEntryProto {
  static constexpr std::string_view kName = "StringStringEntryProto";
  std::string key;
  std::string value;
};

struct OperatorSetIdProto {
  static constexpr std::string_view kName = "OperatorSetIdProto";
  std::string domain;  // "" and "ai.onnx" both mean the default operator set
  std::int64_t version = 0;
};

// TensorProto.Segment, declared outside TensorProto so that std::optional<Segment> sees a
// complete, default-constructible type (clang checks that while TensorProto is incomplete).
struct TensorProtoSegment {
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

struct TensorProto {
  static constexpr std::string_view kName = "TensorProto";
  enum class DataLocation : std::int32_t { default_location = 0, external = 1 };
  using Segment = TensorProtoSegment;

  std::vector<std::int64_t> dims;
  DataType data_type = DataType::undefined;
  std::optional<Segment> segment;
  // The typed fields; which one holds the data depends on data_type (see tensor_data.hpp).
  std::vector<float> float_data;
  std::vector<std::int32_t> int32_data;
  std::vector<std::string> string_data;
  std::vector<std::int64_t> int64_data;
  std::string name;
  std::string doc_string;
  std::vector<std::byte> raw_data;  // little-endian elements
  bool has_raw_data = false;        // present, even if empty
  std::vector<StringStringEntryProto> external_data;
  DataLocation data_location = DataLocation::default_location;
  std::vector<double> double_data;
  std::vector<std::uint64_t> uint64_data;
};

struct TensorShapeProto {
  static constexpr std::string_view kName = "TensorShapeProto";
  struct Dimension {
    // A oneof: at most one is set; neither means an unknown extent.
    std::optional<std::int64_t> dim_value;
    std::optional<std::string> dim_param;  // a symbolic extent ("batch")
    std::string denotation;
  };
  std::vector<Dimension> dim;
};

struct TypeProto {
  static constexpr std::string_view kName = "TypeProto";
  struct Tensor {
    DataType elem_type = DataType::undefined;
    std::optional<TensorShapeProto> shape;  // absent: unknown rank; empty: a scalar
  };
  struct Sequence {
    Box<TypeProto> elem_type;
  };
  struct Map {
    DataType key_type = DataType::undefined;
    Box<TypeProto> value_type;
  };
  struct Optional {
    Box<TypeProto> elem_type;
  };
  struct SparseTensor {
    DataType elem_type = DataType::undefined;
    std::optional<TensorShapeProto> shape;
  };
  struct Opaque {
    std::string domain;
    std::string name;
  };

  // The oneof `value`: monostate when none was set.
  std::variant<std::monostate, Tensor, Sequence, Map, Optional, SparseTensor, Opaque> value;
  std::string denotation;

  const Tensor* tensor_type() const noexcept { return std::get_if<Tensor>(&value); }
  const Sequence* sequence_type() const noexcept { return std::get_if<Sequence>(&value); }
  const Map* map_type() const noexcept { return std::get_if<Map>(&value); }
  const Optional* optional_type() const noexcept { return std::get_if<Optional>(&value); }
  const SparseTensor* sparse_tensor_type() const noexcept { return std::get_if<SparseTensor>(&value); }
  const Opaque* opaque_type() const noexcept { return std::get_if<Opaque>(&value); }
};

struct ValueInfoProto {
  static constexpr std::string_view kName = "ValueInfoProto";
  std::string name;
  std::optional<TypeProto> type;
  std::string doc_string;
};

struct GraphProto;

// AttributeProto.AttributeType.
enum class AttributeType : std::int32_t {
  undefined = 0,
  float_ = 1,
  int_ = 2,
  string = 3,
  tensor = 4,
  graph = 5,
  floats = 6,
  ints = 7,
  strings = 8,
  tensors = 9,
  graphs = 10,
  sparse_tensor = 11,
  sparse_tensors = 12,
  type_proto = 13,
  type_protos = 14,
};

constexpr std::string_view to_string(AttributeType type) noexcept {
  switch (type) {
    case AttributeType::undefined: return "UNDEFINED";
    case AttributeType::float_: return "FLOAT";
    case AttributeType::int_: return "INT";
    case AttributeType::string: return "STRING";
    case AttributeType::tensor: return "TENSOR";
    case AttributeType::graph: return "GRAPH";
    case AttributeType::floats: return "FLOATS";
    case AttributeType::ints: return "INTS";
    case AttributeType::strings: return "STRINGS";
    case AttributeType::tensors: return "TENSORS";
    case AttributeType::graphs: return "GRAPHS";
    case AttributeType::sparse_tensor: return "SPARSE_TENSOR";
    case AttributeType::sparse_tensors: return "SPARSE_TENSORS";
    case AttributeType::type_proto: return "TYPE_PROTO";
    case AttributeType::type_protos: return "TYPE_PROTOS";
  }
  return "";
}

struct AttributeProto {
  static constexpr std::string_view kName = "AttributeProto";
  std::string name;
  std::string ref_attr_name;  // inside a function: the value is the caller's attribute of this name
  std::string doc_string;
  AttributeType type = AttributeType::undefined;

  // Presence of the singular scalars, for files older than IR version 2 that carry no type.
  bool has_f = false;
  bool has_i = false;
  bool has_s = false;
  float f = 0.0f;
  std::int64_t i = 0;
  std::string s;  // bytes, UTF-8 by convention
  std::optional<TensorProto> t;
  Box<GraphProto> g;
  std::optional<TypeProto> tp;

  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
  std::vector<TensorProto> tensors;
  std::vector<GraphProto> graphs;
  std::vector<TypeProto> type_protos;
};

struct NodeProto {
  static constexpr std::string_view kName = "NodeProto";
  std::vector<std::string> input;  // "" marks an omitted optional input
  std::vector<std::string> output;
  std::string name;
  std::string op_type;
  std::string domain;
  std::vector<AttributeProto> attribute;
  std::string doc_string;
};

struct GraphProto {
  static constexpr std::string_view kName = "GraphProto";
  std::vector<NodeProto> node;
  std::string name;
  std::vector<TensorProto> initializer;
  std::string doc_string;
  std::vector<ValueInfoProto> input;
  std::vector<ValueInfoProto> output;
  std::vector<ValueInfoProto> value_info;
};

struct FunctionProto {
  static constexpr std::string_view kName = "FunctionProto";
  std::string name;
  std::vector<std::string> input;
  std::vector<std::string> output;
  std::vector<std::string> attribute;
  std::vector<AttributeProto> attribute_proto;  // attributes with their default values
  std::vector<NodeProto> node;
  std::string doc_string;
  std::vector<OperatorSetIdProto> opset_import;
  std::string domain;
};

struct ModelProto {
  static constexpr std::string_view kName = "ModelProto";
  std::int64_t ir_version = 0;
  std::vector<OperatorSetIdProto> opset_import;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  std::int64_t model_version = 0;
  std::string doc_string;
  std::optional<GraphProto> graph;
  std::vector<StringStringEntryProto> metadata_props;
  std::vector<FunctionProto> functions;  // model-local functions, decoded for the importer to expand
};

// Values of sequence and optional types, as ONNX's test data stores them (maps are skipped).
// elem_type says which field holds the elements.
enum class ValueElemType : std::int32_t { undefined = 0, tensor = 1, sparse_tensor = 2, sequence = 3, map = 4, optional = 5 };

struct OptionalProto;

struct SequenceProto {
  static constexpr std::string_view kName = "SequenceProto";
  std::string name;
  ValueElemType elem_type = ValueElemType::undefined;
  std::vector<TensorProto> tensor_values;
  std::vector<SequenceProto> sequence_values;
  std::vector<OptionalProto> optional_values;
};

struct OptionalProto {
  static constexpr std::string_view kName = "OptionalProto";
  std::string name;
  ValueElemType elem_type = ValueElemType::undefined;  // undefined: no value
  std::optional<TensorProto> tensor_value;
  Box<SequenceProto> sequence_value;
  Box<OptionalProto> optional_value;
};

// ---- decoders --------------------------------------------------------------------------
//
// decode_fields(reader, message) reads the fields of one message up to the reader's end,
// merging into `message`. They are the building blocks of decode<Message>(bytes).

inline Status decode_fields(wire::Reader& reader, GraphProto& graph);
inline Status decode_fields(wire::Reader& reader, TypeProto& type);

namespace detail {

// An optional embedded message: decoded into the existing value (merged), or a new one.
template <class Message>
Status read_optional_message(wire::Reader& reader, wire::Tag tag, std::string_view field,
                             std::optional<Message>& message) {
  if (!message) message.emplace();
  return reader.read_message_field(tag, field, -1, [&](wire::Reader& sub) { return decode_fields(sub, *message); });
}

template <class Message>
Status read_boxed_message(wire::Reader& reader, wire::Tag tag, std::string_view field, Box<Message>& message) {
  Message& target = message.emplace();
  return reader.read_message_field(tag, field, -1, [&](wire::Reader& sub) { return decode_fields(sub, target); });
}

// One more element of a repeated message field, its index naming it in errors.
template <class Message>
Status append_message(wire::Reader& reader, wire::Tag tag, std::string_view field, std::vector<Message>& messages) {
  const auto index = static_cast<std::int64_t>(messages.size());
  Message& target = messages.emplace_back();
  return reader.read_message_field(tag, field, index, [&](wire::Reader& sub) { return decode_fields(sub, target); });
}

// A member of a oneof: the variant is set to `Alternative` (keeping its contents when it
// already holds one, a merge) and the message is decoded into it.
template <class Alternative, class... Ts>
Status read_oneof_message(wire::Reader& reader, wire::Tag tag, std::string_view field, std::variant<Ts...>& oneof) {
  Alternative* target = std::get_if<Alternative>(&oneof);
  if (target == nullptr) target = &oneof.template emplace<Alternative>();
  return reader.read_message_field(tag, field, -1, [&](wire::Reader& sub) { return decode_fields(sub, *target); });
}

inline Status refuse_sparse(wire::Reader& reader, std::string_view field) {
  wire::Reader::Scope scope(reader, field, -1);
  return reader.error(StatusCode::unsupported, "sparse tensors are not supported");
}

} // namespace detail

inline Status decode_fields(wire::Reader& reader, StringStringEntryProto& entry) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "key", entry.key);
      case 2: return reader.read_string_field(tag, "value", entry.value);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, OperatorSetIdProto& opset) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "domain", opset.domain);
      case 2: return reader.read_varint_field(tag, "version", opset.version);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TensorProtoSegment& segment) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_varint_field(tag, "begin", segment.begin);
      case 2: return reader.read_varint_field(tag, "end", segment.end);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TensorProto& tensor) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.append_varint_field(tag, "dims", tensor.dims);
      case 2: return reader.read_enum_field(tag, "data_type", tensor.data_type);
      case 3: return detail::read_optional_message(reader, tag, "segment", tensor.segment);
      case 4: return reader.append_fixed_field(tag, "float_data", tensor.float_data);
      case 5: return reader.append_varint_field(tag, "int32_data", tensor.int32_data);
      case 6: return reader.append_string_field(tag, "string_data", tensor.string_data);
      case 7: return reader.append_varint_field(tag, "int64_data", tensor.int64_data);
      case 8: return reader.read_string_field(tag, "name", tensor.name);
      case 9:
        tensor.has_raw_data = true;
        return reader.read_bytes_field(tag, "raw_data", tensor.raw_data);
      case 10: return reader.append_fixed_field(tag, "double_data", tensor.double_data);
      case 11: return reader.append_varint_field(tag, "uint64_data", tensor.uint64_data);
      case 12: return reader.read_string_field(tag, "doc_string", tensor.doc_string);
      case 13: return detail::append_message(reader, tag, "external_data", tensor.external_data);
      case 14: return reader.read_enum_field(tag, "data_location", tensor.data_location);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, OptionalProto& optional);

inline Status decode_fields(wire::Reader& reader, SequenceProto& sequence) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "name", sequence.name);
      case 2: return reader.read_enum_field(tag, "elem_type", sequence.elem_type);
      case 3: return detail::append_message(reader, tag, "tensor_values", sequence.tensor_values);
      case 4: return detail::refuse_sparse(reader, "sparse_tensor_values");
      case 5: return detail::append_message(reader, tag, "sequence_values", sequence.sequence_values);
      case 7: return detail::append_message(reader, tag, "optional_values", sequence.optional_values);
      default: return reader.skip(tag);  // 6: map_values
    }
  });
}

inline Status decode_fields(wire::Reader& reader, OptionalProto& optional) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "name", optional.name);
      case 2: return reader.read_enum_field(tag, "elem_type", optional.elem_type);
      case 3: return detail::read_optional_message(reader, tag, "tensor_value", optional.tensor_value);
      case 4: return detail::refuse_sparse(reader, "sparse_tensor_value");
      case 5: return detail::read_boxed_message(reader, tag, "sequence_value", optional.sequence_value);
      case 7: return detail::read_boxed_message(reader, tag, "optional_value", optional.optional_value);
      default: return reader.skip(tag);  // 6: map_value
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TensorShapeProto::Dimension& dim) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1:
        dim.dim_param.reset();  // a oneof: the last member read wins
        return reader.read_varint_field(tag, "dim_value", dim.dim_value.emplace());
      case 2:
        dim.dim_value.reset();
        return reader.read_string_field(tag, "dim_param", dim.dim_param.emplace());
      case 3: return reader.read_string_field(tag, "denotation", dim.denotation);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TensorShapeProto& shape) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    if (tag.field == 1) return detail::append_message(reader, tag, "dim", shape.dim);
    return reader.skip(tag);
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::Tensor& tensor) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_enum_field(tag, "elem_type", tensor.elem_type);
      case 2: return detail::read_optional_message(reader, tag, "shape", tensor.shape);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::SparseTensor& tensor) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_enum_field(tag, "elem_type", tensor.elem_type);
      case 2: return detail::read_optional_message(reader, tag, "shape", tensor.shape);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::Sequence& sequence) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    if (tag.field == 1) return detail::read_boxed_message(reader, tag, "elem_type", sequence.elem_type);
    return reader.skip(tag);
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::Optional& optional) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    if (tag.field == 1) return detail::read_boxed_message(reader, tag, "elem_type", optional.elem_type);
    return reader.skip(tag);
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::Map& map) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_enum_field(tag, "key_type", map.key_type);
      case 2: return detail::read_boxed_message(reader, tag, "value_type", map.value_type);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto::Opaque& opaque) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "domain", opaque.domain);
      case 2: return reader.read_string_field(tag, "name", opaque.name);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, TypeProto& type) {
  using detail::read_oneof_message;
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return read_oneof_message<TypeProto::Tensor>(reader, tag, "tensor_type", type.value);
      case 4: return read_oneof_message<TypeProto::Sequence>(reader, tag, "sequence_type", type.value);
      case 5: return read_oneof_message<TypeProto::Map>(reader, tag, "map_type", type.value);
      case 6: return reader.read_string_field(tag, "denotation", type.denotation);
      case 7: return read_oneof_message<TypeProto::Opaque>(reader, tag, "opaque_type", type.value);
      case 8: return read_oneof_message<TypeProto::SparseTensor>(reader, tag, "sparse_tensor_type", type.value);
      case 9: return read_oneof_message<TypeProto::Optional>(reader, tag, "optional_type", type.value);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, ValueInfoProto& value) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "name", value.name);
      case 2: return detail::read_optional_message(reader, tag, "type", value.type);
      case 3: return reader.read_string_field(tag, "doc_string", value.doc_string);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, AttributeProto& attribute) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "name", attribute.name);
      case 2:
        attribute.has_f = true;
        return reader.read_float_field(tag, "f", attribute.f);
      case 3:
        attribute.has_i = true;
        return reader.read_varint_field(tag, "i", attribute.i);
      case 4:
        attribute.has_s = true;
        return reader.read_string_field(tag, "s", attribute.s);
      case 5: return detail::read_optional_message(reader, tag, "t", attribute.t);
      case 6: return detail::read_boxed_message(reader, tag, "g", attribute.g);
      case 7: return reader.append_fixed_field(tag, "floats", attribute.floats);
      case 8: return reader.append_varint_field(tag, "ints", attribute.ints);
      case 9: return reader.append_string_field(tag, "strings", attribute.strings);
      case 10: return detail::append_message(reader, tag, "tensors", attribute.tensors);
      case 11: return detail::append_message(reader, tag, "graphs", attribute.graphs);
      case 13: return reader.read_string_field(tag, "doc_string", attribute.doc_string);
      case 14: return detail::read_optional_message(reader, tag, "tp", attribute.tp);
      case 15: return detail::append_message(reader, tag, "type_protos", attribute.type_protos);
      case 20: return reader.read_enum_field(tag, "type", attribute.type);
      case 21: return reader.read_string_field(tag, "ref_attr_name", attribute.ref_attr_name);
      case 22: return detail::refuse_sparse(reader, "sparse_tensor");
      case 23: return detail::refuse_sparse(reader, "sparse_tensors");
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, NodeProto& node) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.append_string_field(tag, "input", node.input);
      case 2: return reader.append_string_field(tag, "output", node.output);
      case 3: return reader.read_string_field(tag, "name", node.name);
      case 4: return reader.read_string_field(tag, "op_type", node.op_type);
      case 5: return detail::append_message(reader, tag, "attribute", node.attribute);
      case 6: return reader.read_string_field(tag, "doc_string", node.doc_string);
      case 7: return reader.read_string_field(tag, "domain", node.domain);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, GraphProto& graph) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return detail::append_message(reader, tag, "node", graph.node);
      case 2: return reader.read_string_field(tag, "name", graph.name);
      case 5: return detail::append_message(reader, tag, "initializer", graph.initializer);
      case 10: return reader.read_string_field(tag, "doc_string", graph.doc_string);
      case 11: return detail::append_message(reader, tag, "input", graph.input);
      case 12: return detail::append_message(reader, tag, "output", graph.output);
      case 13: return detail::append_message(reader, tag, "value_info", graph.value_info);
      case 15: return detail::refuse_sparse(reader, "sparse_initializer");
      default: return reader.skip(tag);  // 14: quantization_annotation
    }
  });
}

inline Status decode_fields(wire::Reader& reader, FunctionProto& function) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_string_field(tag, "name", function.name);
      case 4: return reader.append_string_field(tag, "input", function.input);
      case 5: return reader.append_string_field(tag, "output", function.output);
      case 6: return reader.append_string_field(tag, "attribute", function.attribute);
      case 7: return detail::append_message(reader, tag, "node", function.node);
      case 8: return reader.read_string_field(tag, "doc_string", function.doc_string);
      case 9: return detail::append_message(reader, tag, "opset_import", function.opset_import);
      case 10: return reader.read_string_field(tag, "domain", function.domain);
      case 11: return detail::append_message(reader, tag, "attribute_proto", function.attribute_proto);
      default: return reader.skip(tag);
    }
  });
}

inline Status decode_fields(wire::Reader& reader, ModelProto& model) {
  return reader.for_each_field([&](wire::Tag tag) -> Status {
    switch (tag.field) {
      case 1: return reader.read_varint_field(tag, "ir_version", model.ir_version);
      case 2: return reader.read_string_field(tag, "producer_name", model.producer_name);
      case 3: return reader.read_string_field(tag, "producer_version", model.producer_version);
      case 4: return reader.read_string_field(tag, "domain", model.domain);
      case 5: return reader.read_varint_field(tag, "model_version", model.model_version);
      case 6: return reader.read_string_field(tag, "doc_string", model.doc_string);
      case 7: return detail::read_optional_message(reader, tag, "graph", model.graph);
      case 8: return detail::append_message(reader, tag, "opset_import", model.opset_import);
      case 14: return detail::append_message(reader, tag, "metadata_props", model.metadata_props);
      case 25: return detail::append_message(reader, tag, "functions", model.functions);
      default: return reader.skip(tag);  // 20: training_info, which inference does not need
    }
  });
}

// Decodes one whole message. `source` (a file name, may be empty) starts every error.
template <class Message>
Result<Message> decode(std::span<const std::byte> bytes, std::string_view source = {}) {
  wire::Reader reader(bytes, Message::kName, source);
  Message message;
  KILN_RETURN_IF_ERROR(decode_fields(reader, message));
  return message;
}

inline Result<ModelProto> decode_model(std::span<const std::byte> bytes, std::string_view source = {}) {
  return decode<ModelProto>(bytes, source);
}

inline Result<TensorProto> decode_tensor_proto(std::span<const std::byte> bytes, std::string_view source = {}) {
  return decode<TensorProto>(bytes, source);
}

} // namespace kiln::onnx
