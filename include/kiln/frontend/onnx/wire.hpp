// kiln/frontend/onnx/wire.hpp: a bounded reader of protobuf's binary wire format, the
// layer under the ONNX message decoders.
//
// Written from the protobuf encoding specification. A message is a sequence of fields,
// each a varint tag (field number << 3 | wire type) followed by a value whose wire type
// says how to find its end: a varint, 8 or 4 little-endian bytes, or a varint length and
// that many bytes. Nothing here trusts the input: every length is checked against the
// bytes that remain, varints longer than 10 bytes or wider than 64 bits are refused, and
// nested messages are limited in depth so that a hostile file cannot recurse deeply.
//
// Errors name where they happened: the reader keeps the path of fields it is inside
// ("ModelProto.graph.node[3].attribute[1]") and every error it makes starts with it.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../core/status.hpp"
#include "../../core/str_cat.hpp"

namespace kiln::onnx::wire {

enum class WireType : std::uint8_t {
  varint = 0,
  fixed64 = 1,
  length_delimited = 2,
  start_group = 3,  // proto2 groups: deprecated, never used by ONNX, refused
  end_group = 4,
  fixed32 = 5,
};

constexpr std::string_view to_string(WireType type) noexcept {
  switch (type) {
    case WireType::varint: return "varint";
    case WireType::fixed64: return "fixed64";
    case WireType::length_delimited: return "length-delimited";
    case WireType::start_group: return "start-group";
    case WireType::end_group: return "end-group";
    case WireType::fixed32: return "fixed32";
  }
  return "invalid";
}

struct Tag {
  std::uint32_t field = 0;
  WireType type = WireType::varint;
};

inline constexpr int kMaxVarintBytes = 10;  // ceil(64 / 7)
inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;
// The deepest nesting of messages a reader accepts (ONNX models stay far below); a reader
// may be given a smaller limit.
inline constexpr int kMaxDepth = 64;

// sint32/sint64 map signed values to unsigned ones so that small magnitudes stay short:
// 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
constexpr std::uint32_t zigzag_encode32(std::int32_t v) noexcept {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
constexpr std::uint64_t zigzag_encode64(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int32_t zigzag_decode32(std::uint32_t v) noexcept {
  return static_cast<std::int32_t>((v >> 1) ^ (0u - (v & 1u)));
}
constexpr std::int64_t zigzag_decode64(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>((v >> 1) ^ (std::uint64_t{0} - (v & 1u)));
}

class Reader {
 public:
  // `message` names the outermost message ("ModelProto"); `source` (a file name, may be
  // empty) is put in front of every error's path.
  Reader(std::span<const std::byte> input, std::string_view message, std::string_view source = {},
         int max_depth = kMaxDepth) noexcept
      : pos_(input.data()),
        end_(input.data() + input.size()),
        source_(source),
        max_depth_(max_depth < 0 ? 0 : (max_depth > kMaxDepth ? kMaxDepth : max_depth)) {
    frames_[0] = Frame{message, -1};
  }

  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool at_end() const noexcept { return pos_ == end_; }
  // Bytes left in the message being read (not in the whole input).
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
  int depth() const noexcept { return depth_; }

  // Names one more step of the path for as long as it lives: a field, and its index when
  // the field is repeated (-1 otherwise).
  class [[nodiscard]] Scope {
   public:
    Scope(Reader& reader, std::string_view field, std::int64_t index) noexcept
        : reader_(reader), pushed_(reader.frame_count_ < kMaxFrames) {
      if (!pushed_) return;  // unreachable through the decoders, which stop at the depth limit
      reader_.frames_[static_cast<std::size_t>(reader_.frame_count_)] = Frame{field, index};
      ++reader_.frame_count_;
    }
    ~Scope() {
      if (pushed_) --reader_.frame_count_;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Reader& reader_;
    bool pushed_;
  };

  // "ModelProto.graph.node[3].attribute[1]"
  std::string path() const {
    std::string out;
    for (int i = 0; i < frame_count_; ++i) {
      const Frame& frame = frames_[static_cast<std::size_t>(i)];
      if (i > 0) out.push_back('.');
      out.append(frame.name);
      if (frame.index >= 0) out += str_cat('[', frame.index, ']');
    }
    return out;
  }

  // "onnx: model.onnx: ModelProto.graph: <pieces>"
  template <class... Pieces>
  Status error(StatusCode code, const Pieces&... pieces) const {
    std::string message = "onnx: ";
    if (!source_.empty()) message += str_cat(source_, ": ");
    message += path();
    message += ": ";
    message += str_cat(pieces...);
    return Status(code, std::move(message));
  }

  // ---- primitives -------------------------------------------------------------------

  Status read_varint(std::uint64_t& value) {
    std::uint64_t result = 0;
    for (int i = 0; i < kMaxVarintBytes; ++i) {
      if (pos_ == end_) {
        return error(StatusCode::parse_error, "truncated varint (the input ends after ", i, " of its bytes)");
      }
      const auto byte = static_cast<std::uint8_t>(*pos_++);
      // The tenth byte carries only bit 63: anything more is an overflow or an 11th byte.
      if (i == kMaxVarintBytes - 1 && byte > 1) {
        if (byte & 0x80u) return error(StatusCode::parse_error, "varint longer than ", kMaxVarintBytes, " bytes");
        return error(StatusCode::parse_error, "varint overflows 64 bits");
      }
      result |= static_cast<std::uint64_t>(byte & 0x7fu) << (7 * i);
      if (!(byte & 0x80u)) {
        value = result;
        return {};
      }
    }
    return error(StatusCode::internal, "varint reader fell through");  // the loop returns at i == 9
  }

  Status read_fixed32(std::uint32_t& value) {
    KILN_RETURN_IF_ERROR(need(4, "fixed32 value"));
    value = load_little_endian<std::uint32_t>(pos_);
    pos_ += 4;
    return {};
  }

  Status read_fixed64(std::uint64_t& value) {
    KILN_RETURN_IF_ERROR(need(8, "fixed64 value"));
    value = load_little_endian<std::uint64_t>(pos_);
    pos_ += 8;
    return {};
  }

  // A varint length and that many bytes, which must all be there.
  Status read_length_delimited(std::span<const std::byte>& bytes) {
    std::uint64_t length = 0;
    KILN_RETURN_IF_ERROR(read_varint(length));
    if (length > remaining()) {
      return error(StatusCode::parse_error, "truncated length-delimited field (needs ", length, " bytes, ",
                   remaining(), " remain)");
    }
    bytes = std::span<const std::byte>(pos_, static_cast<std::size_t>(length));
    pos_ += length;
    return {};
  }

  Status read_tag(Tag& tag) {
    std::uint64_t key = 0;
    KILN_RETURN_IF_ERROR(read_varint(key));
    const std::uint64_t field = key >> 3;
    const auto type = static_cast<std::uint8_t>(key & 7u);
    if (field == 0 || field > kMaxFieldNumber) {
      return error(StatusCode::parse_error, "invalid field number ", field, " (valid: 1 to ", kMaxFieldNumber, ")");
    }
    if (type > 5) {
      return error(StatusCode::parse_error, "invalid wire type ", static_cast<int>(type), " in field ", field);
    }
    tag.field = static_cast<std::uint32_t>(field);
    tag.type = static_cast<WireType>(type);
    return {};
  }

  // Skips the value of a field this reader does not know.
  Status skip(Tag tag) {
    switch (tag.type) {
      case WireType::varint: {
        std::uint64_t ignored = 0;
        return read_varint(ignored);
      }
      case WireType::fixed64:
        KILN_RETURN_IF_ERROR(need(8, "fixed64 value"));
        pos_ += 8;
        return {};
      case WireType::length_delimited: {
        std::span<const std::byte> ignored;
        return read_length_delimited(ignored);
      }
      case WireType::fixed32:
        KILN_RETURN_IF_ERROR(need(4, "fixed32 value"));
        pos_ += 4;
        return {};
      case WireType::start_group:
      case WireType::end_group: break;
    }
    return error(StatusCode::unsupported, "field ", tag.field, " uses the deprecated group wire type ",
                 static_cast<int>(tag.type), " (", to_string(tag.type), "), which is not supported");
  }

  // Calls on_field(tag) for every field up to the end of the current message; on_field
  // reads or skips the field's value.
  template <class OnField>
  Status for_each_field(OnField&& on_field) {
    while (pos_ != end_) {
      Tag tag;
      KILN_RETURN_IF_ERROR(read_tag(tag));
      KILN_RETURN_IF_ERROR(on_field(tag));
    }
    return {};
  }

  // ---- typed fields: each checks the wire type and names the field in its errors ----

  // int64, int32, uint64, uint32, bool and enums: varints (an int32 is its 64-bit
  // sign extension, truncated back as protobuf does).
  template <class T>
    requires std::is_integral_v<T>
  Status read_varint_field(Tag tag, std::string_view field, T& value) {
    Scope scope(*this, field, -1);
    KILN_RETURN_IF_ERROR(expect(tag, WireType::varint));
    std::uint64_t raw = 0;
    KILN_RETURN_IF_ERROR(read_varint(raw));
    value = narrow_varint<T>(raw);
    return {};
  }

  // Enums are varints stored as their underlying integer; unknown values are kept.
  template <class E>
    requires std::is_enum_v<E>
  Status read_enum_field(Tag tag, std::string_view field, E& value) {
    std::underlying_type_t<E> raw{};
    KILN_RETURN_IF_ERROR(read_varint_field(tag, field, raw));
    value = static_cast<E>(raw);
    return {};
  }

  // sint32/sint64: zigzag varints.
  Status read_sint64_field(Tag tag, std::string_view field, std::int64_t& value) {
    std::uint64_t raw = 0;
    KILN_RETURN_IF_ERROR(read_varint_field(tag, field, raw));
    value = zigzag_decode64(raw);
    return {};
  }

  Status read_float_field(Tag tag, std::string_view field, float& value) {
    Scope scope(*this, field, -1);
    KILN_RETURN_IF_ERROR(expect(tag, WireType::fixed32));
    std::uint32_t bits = 0;
    KILN_RETURN_IF_ERROR(read_fixed32(bits));
    std::memcpy(&value, &bits, sizeof value);
    return {};
  }

  Status read_double_field(Tag tag, std::string_view field, double& value) {
    Scope scope(*this, field, -1);
    KILN_RETURN_IF_ERROR(expect(tag, WireType::fixed64));
    std::uint64_t bits = 0;
    KILN_RETURN_IF_ERROR(read_fixed64(bits));
    std::memcpy(&value, &bits, sizeof value);
    return {};
  }

  // string and bytes. The length was checked against the input before anything is allocated.
  Status read_string_field(Tag tag, std::string_view field, std::string& value) {
    Scope scope(*this, field, -1);
    std::span<const std::byte> bytes;
    KILN_RETURN_IF_ERROR(read_bytes_span(tag, bytes));
    value.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }

  Status read_bytes_field(Tag tag, std::string_view field, std::vector<std::byte>& value) {
    Scope scope(*this, field, -1);
    std::span<const std::byte> bytes;
    KILN_RETURN_IF_ERROR(read_bytes_span(tag, bytes));
    value.assign(bytes.begin(), bytes.end());
    return {};
  }

  // One more element of a repeated string/bytes field.
  Status append_string_field(Tag tag, std::string_view field, std::vector<std::string>& values) {
    Scope scope(*this, field, static_cast<std::int64_t>(values.size()));
    std::span<const std::byte> bytes;
    KILN_RETURN_IF_ERROR(read_bytes_span(tag, bytes));
    values.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }

  // A repeated varint field, packed (one length-delimited run) or not (one element per tag);
  // parsers must accept both whatever the .proto says.
  template <class T>
    requires std::is_integral_v<T>
  Status append_varint_field(Tag tag, std::string_view field, std::vector<T>& values) {
    Scope scope(*this, field, -1);
    if (tag.type == WireType::varint) {
      std::uint64_t raw = 0;
      KILN_RETURN_IF_ERROR(read_varint(raw));
      values.push_back(narrow_varint<T>(raw));
      return {};
    }
    if (tag.type != WireType::length_delimited) return wire_type_error(tag, "varint or packed length-delimited");
    std::span<const std::byte> run;
    KILN_RETURN_IF_ERROR(read_length_delimited(run));
    // Every varint ends in exactly one byte with the high bit clear: counting those sizes
    // the vector exactly, never beyond the bytes of the run.
    std::size_t count = 0;
    for (std::byte b : run) count += (static_cast<std::uint8_t>(b) & 0x80u) ? 0 : 1;
    if (!run.empty() && (static_cast<std::uint8_t>(run.back()) & 0x80u)) {
      return error(StatusCode::parse_error, "packed run of ", run.size(), " bytes ends inside a varint");
    }
    reserve_more(values, count);
    const std::byte* saved_end = end_;
    const std::byte* after = pos_;
    pos_ = run.data();
    end_ = run.data() + run.size();
    Status status;
    while (status.ok() && pos_ != end_) {
      std::uint64_t raw = 0;
      status = read_varint(raw);
      if (status.ok()) values.push_back(narrow_varint<T>(raw));
    }
    pos_ = after;
    end_ = saved_end;
    return status;
  }

  // A repeated float (fixed32) or double (fixed64) field, packed or not.
  template <class T>
    requires(std::is_same_v<T, float> || std::is_same_v<T, double>)
  Status append_fixed_field(Tag tag, std::string_view field, std::vector<T>& values) {
    Scope scope(*this, field, -1);
    constexpr WireType element_type = sizeof(T) == 4 ? WireType::fixed32 : WireType::fixed64;
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    if (tag.type == element_type) {
      KILN_RETURN_IF_ERROR(need(sizeof(T), "fixed-width value"));
      values.push_back(std::bit_cast<T>(load_little_endian<Bits>(pos_)));
      pos_ += sizeof(T);
      return {};
    }
    if (tag.type != WireType::length_delimited) {
      return wire_type_error(tag, sizeof(T) == 4 ? "fixed32 or packed length-delimited"
                                                 : "fixed64 or packed length-delimited");
    }
    std::span<const std::byte> run;
    KILN_RETURN_IF_ERROR(read_length_delimited(run));
    if (run.size() % sizeof(T) != 0) {
      return error(StatusCode::parse_error, "packed ", sizeof(T) == 4 ? "fixed32" : "fixed64", " run of ", run.size(),
                   " bytes is not a multiple of ", sizeof(T));
    }
    const std::size_t count = run.size() / sizeof(T);
    reserve_more(values, count);
    for (std::size_t i = 0; i < count; ++i) {
      values.push_back(std::bit_cast<T>(load_little_endian<Bits>(run.data() + i * sizeof(T))));
    }
    return {};
  }

  // An embedded message: `decode_body(reader)` reads its fields, with the reader bounded
  // to the message's bytes and the path extended by `field` (and `index`, for repeated ones).
  template <class DecodeBody>
  Status read_message_field(Tag tag, std::string_view field, std::int64_t index, DecodeBody&& decode_body) {
    if (frame_count_ >= kMaxFrames - 1 || depth_ >= max_depth_) {
      return error(StatusCode::parse_error, "messages nested deeper than ", max_depth_, " levels in field '", field,
                   "'");
    }
    Scope scope(*this, field, index);
    KILN_RETURN_IF_ERROR(expect(tag, WireType::length_delimited));
    std::span<const std::byte> body;
    KILN_RETURN_IF_ERROR(read_length_delimited(body));
    const std::byte* saved_end = end_;
    const std::byte* after = pos_;
    pos_ = body.data();
    end_ = body.data() + body.size();
    ++depth_;
    Status status = decode_body(*this);
    --depth_;
    if (status.ok() && pos_ != end_) status = error(StatusCode::internal, "message decoder stopped before its end");
    pos_ = after;
    end_ = saved_end;
    return status;
  }

  Status wire_type_error(Tag tag, std::string_view expected) const {
    return error(StatusCode::parse_error, "wire type ", to_string(tag.type), " (", static_cast<int>(tag.type),
                 ") where ", expected, " was expected");
  }

 private:
  struct Frame {
    std::string_view name;
    std::int64_t index = -1;
  };
  // The root, one frame per nested message, and one for the scalar field being read.
  static constexpr int kMaxFrames = kMaxDepth + 2;

  Status need(std::size_t bytes, std::string_view what) const {
    if (remaining() < bytes) {
      return error(StatusCode::parse_error, "truncated ", what, " (needs ", bytes, " bytes, ", remaining(), " remain)");
    }
    return {};
  }

  Status expect(Tag tag, WireType type) const {
    if (tag.type == type) return {};
    return wire_type_error(tag, to_string(type));
  }

  Status read_bytes_span(Tag tag, std::span<const std::byte>& bytes) {
    KILN_RETURN_IF_ERROR(expect(tag, WireType::length_delimited));
    return read_length_delimited(bytes);
  }

  // Room for `count` more elements, counted from the bytes of a packed run (so never more
  // than the input holds), growing at least geometrically so that a file of many short
  // runs cannot make appending quadratic.
  template <class T>
  static void reserve_more(std::vector<T>& values, std::size_t count) {
    if (values.capacity() - values.size() >= count) return;
    values.reserve(std::max(values.size() + count, 2 * values.capacity()));
  }

  template <class T>
  static T narrow_varint(std::uint64_t raw) noexcept {
    if constexpr (std::is_same_v<T, bool>) {
      return raw != 0;
    } else {
      // Two's-complement truncation, as protobuf reads an int32 from a 64-bit varint.
      return static_cast<T>(static_cast<std::make_unsigned_t<T>>(raw));
    }
  }

  template <class Bits>
  static Bits load_little_endian(const std::byte* p) noexcept {
    Bits value = 0;
    for (std::size_t i = 0; i < sizeof(Bits); ++i) {
      value |= static_cast<Bits>(static_cast<std::uint8_t>(p[i])) << (8 * i);
    }
    return value;
  }

  const std::byte* pos_;
  const std::byte* end_;
  std::string_view source_;
  int max_depth_;
  int depth_ = 0;
  int frame_count_ = 1;
  std::array<Frame, kMaxFrames> frames_{};
};

} // namespace kiln::onnx::wire
