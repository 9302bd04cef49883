// kiln/aot/weights_file.hpp: the weights of a model that `kiln aot` turned into a static
// graph, as one binary file (or the same bytes embedded in the program), and binding them.
//
//   KILN_RETURN_IF_ERROR(aot::write_weights_file("resnet18.weights", weights));
//   KILN_ASSIGN_OR_RETURN(auto loaded, aot::read_weights_file("resnet18.weights"));
//   KILN_RETURN_IF_ERROR(aot::bind_weights(model, loaded, resnet18::weight_names));
//
// The format, all integers little-endian:
//   header   8-byte magic "KILNWTS\0", u32 version (1), u32 tensor count,
//            u64 data offset (where the data section starts), u64 data bytes
//   entries  per tensor: u32 name length, the name's bytes, u8 dtype name length, the dtype's
//            name ("f32", "i64", "bool": kiln::to_string(DType)), u8 rank, i64 dims[rank],
//            u64 offset (from the data section's start, a multiple of 64), u64 bytes
//   data     each tensor's elements, row-major, at its offset; the section ends the file
// Reading checks every length, offset and size against the bytes it has, so a truncated or
// corrupt file is an error that says what is wrong, never a read out of bounds.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../runtime/tensor.hpp"

namespace kiln::aot {

inline constexpr char kWeightsMagic[8] = {'K', 'I', 'L', 'N', 'W', 'T', 'S', '\0'};
inline constexpr std::uint32_t kWeightsVersion = 1;
inline constexpr std::size_t kWeightsAlignment = 64;

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

namespace detail {

static_assert(std::endian::native == std::endian::little,
              "kiln aot weights files hold little-endian data; this target is big-endian");

constexpr std::uint64_t align_up(std::uint64_t n) noexcept {
  return (n + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
}

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Reads little-endian fields from a byte span; every read checks what is left.
class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, std::size_t end) : bytes_(bytes), end_(end) {}

  std::size_t position() const noexcept { return pos_; }

  Result<std::uint64_t> unsigned_int(int width, std::string_view what) {
    if (end_ - pos_ < static_cast<std::size_t>(width))
      return make_error(StatusCode::parse_error, "weights file: truncated at byte ", pos_, " reading ", what);
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= static_cast<std::uint64_t>(bytes_[pos_ + static_cast<std::size_t>(i)]) << (8 * i);
    pos_ += static_cast<std::size_t>(width);
    return v;
  }
  Result<std::string> text(std::size_t length, std::string_view what) {
    if (end_ - pos_ < length)
      return make_error(StatusCode::parse_error, "weights file: truncated at byte ", pos_, " reading ", what,
                        " (", length, " bytes)");
    std::string out(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return out;
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
};

// Keeps the buffer a weight was read into alive while any weight uses it.
inline void release_buffer(void* context, void*) noexcept { delete static_cast<Tensor*>(context); }

} // namespace detail

// The weights as the bytes of a weights file.
inline Result<std::string> encode_weights(std::span<const NamedTensor> weights) {
  if (weights.size() > std::numeric_limits<std::uint32_t>::max())
    return make_error(StatusCode::out_of_range, "weights file: ", weights.size(), " tensors are too many");
  std::string entries;
  std::uint64_t data_bytes = 0;
  std::vector<std::uint64_t> offsets;
  for (const NamedTensor& w : weights) {
    if (!w.tensor.defined())
      return make_error(StatusCode::invalid_argument, "weights file: weight '", w.name, "' is undefined");
    if (w.name.empty() || w.name.size() > std::numeric_limits<std::uint32_t>::max())
      return make_error(StatusCode::invalid_argument, "weights file: a weight needs a name");
    detail::put_u32(entries, static_cast<std::uint32_t>(w.name.size()));
    entries += w.name;
    const std::string_view dtype = to_string(w.tensor.dtype());
    entries += static_cast<char>(dtype.size());
    entries += dtype;
    entries += static_cast<char>(w.tensor.rank());
    for (std::int64_t d : w.tensor.dims()) detail::put_u64(entries, static_cast<std::uint64_t>(d));
    data_bytes = detail::align_up(data_bytes);
    offsets.push_back(data_bytes);
    detail::put_u64(entries, data_bytes);
    detail::put_u64(entries, w.tensor.nbytes());
    data_bytes += w.tensor.nbytes();
  }
  const std::uint64_t header_bytes = sizeof kWeightsMagic + 4 + 4 + 8 + 8;
  const std::uint64_t data_offset = detail::align_up(header_bytes + entries.size());
  std::string out(kWeightsMagic, sizeof kWeightsMagic);
  detail::put_u32(out, kWeightsVersion);
  detail::put_u32(out, static_cast<std::uint32_t>(weights.size()));
  detail::put_u64(out, data_offset);
  detail::put_u64(out, data_bytes);
  out += entries;
  out.resize(static_cast<std::size_t>(data_offset + data_bytes), '\0');
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Tensor t = weights[i].tensor;
    if (!t.is_contiguous()) {
      KILN_ASSIGN_OR_RETURN(t, t.clone());
    }
    if (t.nbytes() > 0) std::memcpy(out.data() + data_offset + offsets[i], t.data(), t.nbytes());
  }
  return out;
}

inline Status write_weights_file(const std::filesystem::path& path, std::span<const NamedTensor> weights) {
  KILN_ASSIGN_OR_RETURN(const std::string bytes, encode_weights(weights));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return make_error(StatusCode::not_found, "weights file: cannot create ", path.string());
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) return make_error(StatusCode::internal, "weights file: cannot write ", path.string());
  return Status();
}

// The tensors of a weights file held in `bytes`, which must start at a 64-byte boundary.
// The tensors point into `bytes` without copying: `owner` (a tensor holding the bytes) is
// kept alive while any of them is; without an owner the bytes must outlive the tensors
// (an embedded array does).
inline Result<std::vector<NamedTensor>> decode_weights(std::span<const std::byte> bytes, const Tensor* owner = nullptr) {
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % kWeightsAlignment != 0)
    return make_error(StatusCode::invalid_argument, "weights file: the bytes are not 64-byte aligned");
  detail::ByteReader header(bytes, bytes.size());
  KILN_ASSIGN_OR_RETURN(const std::string magic, header.text(sizeof kWeightsMagic, "the magic"));
  if (magic != std::string_view(kWeightsMagic, sizeof kWeightsMagic))
    return make_error(StatusCode::parse_error, "weights file: not a kiln weights file (wrong magic)");
  KILN_ASSIGN_OR_RETURN(const std::uint64_t version, header.unsigned_int(4, "the version"));
  if (version != kWeightsVersion)
    return make_error(StatusCode::unsupported, "weights file: version ", version, ", this kiln reads version ",
                      kWeightsVersion);
  KILN_ASSIGN_OR_RETURN(const std::uint64_t count, header.unsigned_int(4, "the tensor count"));
  KILN_ASSIGN_OR_RETURN(const std::uint64_t data_offset, header.unsigned_int(8, "the data offset"));
  KILN_ASSIGN_OR_RETURN(const std::uint64_t data_bytes, header.unsigned_int(8, "the data size"));
  if (data_offset % kWeightsAlignment != 0 || data_offset < header.position() || data_offset > bytes.size() ||
      data_bytes != bytes.size() - data_offset)
    return make_error(StatusCode::parse_error, "weights file: a data section of ", data_bytes, " bytes at ",
                      data_offset, " does not end a file of ", bytes.size(), " bytes");
  // Each entry takes at least 24 bytes, which bounds a corrupt count before anything is reserved.
  if (count > data_offset / 24)
    return make_error(StatusCode::parse_error, "weights file: ", count, " tensors do not fit its ", data_offset,
                      "-byte index");

  detail::ByteReader index(bytes, static_cast<std::size_t>(data_offset));
  (void)index.text(header.position(), "the header");
  std::vector<NamedTensor> out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string what = str_cat("tensor ", i);
    KILN_ASSIGN_OR_RETURN(const std::uint64_t name_length, index.unsigned_int(4, what + "'s name length"));
    KILN_ASSIGN_OR_RETURN(std::string name, index.text(static_cast<std::size_t>(name_length), what + "'s name"));
    if (name.empty()) return make_error(StatusCode::parse_error, "weights file: ", what, " has no name");
    const std::string where = str_cat("weights file: tensor '", name, "'");
    KILN_ASSIGN_OR_RETURN(const std::uint64_t dtype_length, index.unsigned_int(1, what + "'s dtype length"));
    KILN_ASSIGN_OR_RETURN(const std::string dtype_name, index.text(static_cast<std::size_t>(dtype_length), what + "'s dtype"));
    const std::optional<DType> parsed = parse_dtype(dtype_name);
    if (!parsed) return make_error(StatusCode::parse_error, where, ": unknown dtype '", dtype_name, "'");
    const DType dtype = *parsed;
    KILN_ASSIGN_OR_RETURN(const std::uint64_t rank, index.unsigned_int(1, what + "'s rank"));
    if (rank > static_cast<std::uint64_t>(kMaxRank))
      return make_error(StatusCode::parse_error, where, ": rank ", rank, " is above ", kMaxRank);
    std::vector<std::int64_t> dims;
    std::uint64_t elements = 1;
    bool overflow = false;
    for (std::uint64_t a = 0; a < rank; ++a) {
      KILN_ASSIGN_OR_RETURN(const std::uint64_t d, index.unsigned_int(8, str_cat(what, "'s dim ", a)));
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return make_error(StatusCode::parse_error, where, ": dim ", a, " is negative");
      dims.push_back(static_cast<std::int64_t>(d));
      overflow = overflow || __builtin_mul_overflow(elements, d, &elements);
    }
    KILN_ASSIGN_OR_RETURN(const std::uint64_t offset, index.unsigned_int(8, what + "'s offset"));
    KILN_ASSIGN_OR_RETURN(const std::uint64_t size, index.unsigned_int(8, what + "'s size"));
    std::uint64_t expected = 0;
    overflow = overflow || __builtin_mul_overflow(elements, size_of(dtype), &expected);
    if (overflow || size != expected)
      return make_error(StatusCode::parse_error, where, ": ", size, " bytes for ", Tensor::shape_string(dims), " of ",
                        to_string(dtype));
    if (offset % kWeightsAlignment != 0 || offset > data_bytes || size > data_bytes - offset)
      return make_error(StatusCode::parse_error, where, ": ", size, " bytes at offset ", offset,
                        " do not fit the data section of ", data_bytes, " bytes");
    for (const NamedTensor& earlier : out)
      if (earlier.name == name) return make_error(StatusCode::parse_error, where, ": the name appears twice");
    void* data = const_cast<std::byte*>(bytes.data() + data_offset + offset);
    Tensor* keep = owner != nullptr ? new Tensor(*owner) : nullptr;
    Result<Tensor> t = Tensor::adopt(data, dtype, dims, {}, Device::cpu(), keep ? detail::release_buffer : nullptr, keep);
    if (!t.ok()) {
      delete keep;
      return std::move(t).status().with_context(where);
    }
    out.push_back({std::move(name), std::move(*t)});
  }
  return out;
}

// Reads a weights file into one aligned buffer; the tensors share it.
inline Result<std::vector<NamedTensor>> read_weights_file(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(StatusCode::not_found, "weights file ", path.string(), ": ", ec.message());
  KILN_ASSIGN_OR_RETURN(const Tensor buffer, Tensor::empty(DType::u8, {static_cast<std::int64_t>(size)}));
  std::ifstream file(path, std::ios::binary);
  if (!file) return make_error(StatusCode::not_found, "weights file ", path.string(), ": cannot open it");
  file.read(static_cast<char*>(buffer.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(file.gcount()) != size)
    return make_error(StatusCode::parse_error, "weights file ", path.string(), ": read ", file.gcount(), " of ", size,
                      " bytes");
  Result<std::vector<NamedTensor>> weights =
      decode_weights(std::span<const std::byte>(static_cast<const std::byte*>(buffer.data()), size), &buffer);
  if (!weights.ok()) return std::move(weights).status().with_context(path.string());
  return weights;
}

// Binds every weight `names` lists (a static graph's weights) from `weights`; a weight
// missing from them is an error, as is one the graph does not have.
template <class Model, class Names>
Status bind_weights(Model& model, std::span<const NamedTensor> weights, const Names& names) {
  for (std::string_view name : names) {
    const NamedTensor* found = nullptr;
    for (const NamedTensor& w : weights)
      if (w.name == name) found = &w;
    if (found == nullptr) return make_error(StatusCode::not_found, "weights: no tensor named '", name, "'");
    KILN_RETURN_IF_ERROR(model.bind(name, found->tensor));
  }
  if (weights.size() != std::size(names))
    return make_error(StatusCode::invalid_argument, "weights: ", weights.size(), " tensors for a graph of ",
                      std::size(names), " weights");
  return Status();
}

} // namespace kiln::aot
