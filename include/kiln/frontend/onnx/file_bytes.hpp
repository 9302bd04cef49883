// kiln/frontend/onnx/file_bytes.hpp: reads a whole file, or a byte range of one, with errors
// that name the file and what went wrong (missing, not a regular file, too large, short read).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "../../core/result.hpp"
#include "../../core/status.hpp"

namespace kiln::onnx::detail {

// Closes the file when it goes out of scope.
class OpenFile {
 public:
  explicit OpenFile(const std::filesystem::path& path) noexcept : file_(std::fopen(path.c_str(), "rb")) {}
  ~OpenFile() {
    if (file_ != nullptr) std::fclose(file_);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  std::FILE* get() const noexcept { return file_; }

 private:
  std::FILE* file_;
};

inline bool seek_to(std::FILE* file, std::uint64_t offset) noexcept {
#if defined(_WIN32)
  return _fseeki64(file, static_cast<long long>(offset), SEEK_SET) == 0;
#else
  return fseeko(file, static_cast<off_t>(offset), SEEK_SET) == 0;
#endif
}

// The size of a regular file; a clear error when it is missing or something else.
inline Result<std::uint64_t> regular_file_size(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return make_error(StatusCode::not_found, "onnx: ", path.string(), ": no such file");
  }
  if (ec) return make_error(StatusCode::unavailable, "onnx: ", path.string(), ": ", ec.message());
  if (status.type() != std::filesystem::file_type::regular) {
    return make_error(StatusCode::invalid_argument, "onnx: ", path.string(), ": not a regular file");
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(StatusCode::unavailable, "onnx: ", path.string(), ": cannot get its size: ", ec.message());
  return static_cast<std::uint64_t>(size);
}

// Reads `length` bytes at `offset` into `out`, which has room for them.
inline Status read_file_range(const std::filesystem::path& path, std::uint64_t offset, std::uint64_t length,
                              void* out) {
  OpenFile file(path);
  if (file.get() == nullptr) {
    return make_error(StatusCode::unavailable, "onnx: ", path.string(), ": cannot open: ", std::strerror(errno));
  }
  if (!seek_to(file.get(), offset)) {
    return make_error(StatusCode::unavailable, "onnx: ", path.string(), ": cannot seek to byte ", offset, ": ",
                      std::strerror(errno));
  }
  const std::size_t got = length == 0 ? 0 : std::fread(out, 1, static_cast<std::size_t>(length), file.get());
  if (got != length) {
    return make_error(StatusCode::unavailable, "onnx: ", path.string(), ": read ", got, " of ", length,
                      " bytes at offset ", offset, std::ferror(file.get()) ? ": read error" : ": the file is shorter");
  }
  return {};
}

// The whole file, refused when larger than max_bytes.
inline Result<std::vector<std::byte>> read_whole_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  KILN_ASSIGN_OR_RETURN(const std::uint64_t size, regular_file_size(path));
  if (size > max_bytes) {
    return make_error(StatusCode::out_of_range, "onnx: ", path.string(), ": the file has ", size,
                      " bytes, more than the limit of ", max_bytes);
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  KILN_RETURN_IF_ERROR(read_file_range(path, 0, size, bytes.data()));
  return bytes;
}

} // namespace kiln::onnx::detail
