// The workspace a kernel holds for `elements` f32 intermediate values: each stage's buffer is
// rounded up to 64 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::test {

inline std::size_t workspace_for(std::int64_t elements) {
  return (static_cast<std::size_t>(elements) * sizeof(float) + 63) / 64 * 64;
}

} // namespace kiln::test
