// protobuf_encoder.hpp: a minimal protobuf writer for the ONNX tests, independent of the
// reader under test: hand-built messages, hostile ones included.
#pragma once

#include <kiln/frontend/onnx/wire.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace kiln::test {

class Encoder {
 public:
  Encoder& byte(std::uint8_t b) {
    bytes_.push_back(static_cast<std::byte>(b));
    return *this;
  }
  Encoder& raw(std::initializer_list<std::uint8_t> bs) {
    for (std::uint8_t b : bs) byte(b);
    return *this;
  }
  Encoder& varint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    return byte(static_cast<std::uint8_t>(v));
  }
  Encoder& tag(std::uint32_t field, onnx::wire::WireType type) {
    return varint((std::uint64_t{field} << 3) | static_cast<std::uint64_t>(type));
  }
  Encoder& int_field(std::uint32_t field, std::int64_t v) {
    return tag(field, onnx::wire::WireType::varint).varint(static_cast<std::uint64_t>(v));
  }
  Encoder& fixed32_field(std::uint32_t field, std::uint32_t v) {
    tag(field, onnx::wire::WireType::fixed32);
    for (int i = 0; i < 4; ++i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Encoder& fixed64_field(std::uint32_t field, std::uint64_t v) {
    tag(field, onnx::wire::WireType::fixed64);
    for (int i = 0; i < 8; ++i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Encoder& float_field(std::uint32_t field, float v) { return fixed32_field(field, std::bit_cast<std::uint32_t>(v)); }
  Encoder& bytes_field(std::uint32_t field, std::span<const std::byte> bs) {
    tag(field, onnx::wire::WireType::length_delimited).varint(bs.size());
    bytes_.insert(bytes_.end(), bs.begin(), bs.end());
    return *this;
  }
  Encoder& string_field(std::uint32_t field, std::string_view s) {
    return bytes_field(field, std::as_bytes(std::span<const char>(s.data(), s.size())));
  }
  Encoder& message_field(std::uint32_t field, const Encoder& message) { return bytes_field(field, message.bytes_); }
  Encoder& packed_varints(std::uint32_t field, std::initializer_list<std::int64_t> values) {
    Encoder run;
    for (std::int64_t v : values) run.varint(static_cast<std::uint64_t>(v));
    return message_field(field, run);
  }
  Encoder& packed_floats(std::uint32_t field, std::initializer_list<float> values) {
    Encoder run;
    for (float v : values) {
      const auto bits = std::bit_cast<std::uint32_t>(v);
      for (int i = 0; i < 4; ++i) run.byte(static_cast<std::uint8_t>(bits >> (8 * i)));
    }
    return message_field(field, run);
  }

  std::span<const std::byte> span() const { return bytes_; }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::vector<std::byte> bytes_;
};

} // namespace kiln::test
