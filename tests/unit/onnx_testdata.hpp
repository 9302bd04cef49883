// Where the tests find Debian's libonnx-testdata node tests (per operator case, a model.onnx
// and test_data_set_N/ holding input_K.pb and output_K.pb), and what they do when it is absent.
#pragma once

#include <doctest/doctest.h>

#include <kiln/core/str_cat.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace kiln::test {

// KILN_ONNX_NODE_TESTS_DIR, or where Debian installs them.
inline std::filesystem::path onnx_node_tests_dir() {
  if (const char* dir = std::getenv("KILN_ONNX_NODE_TESTS_DIR"); dir != nullptr && *dir != '\0') return dir;
  return "/usr/share/libonnx-testdata/data/node";
}

// Whether the node tests are there. A missing directory fails under
// KILN_REQUIRE_ONNX_TESTDATA=1 and warns otherwise, saying that `what` did not run.
inline bool onnx_node_tests_available(std::string_view what) {
  const std::filesystem::path dir = onnx_node_tests_dir();
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return true;
  const std::string reason = str_cat("ONNX backend node tests not found at ", dir.string(),
                                     ": install Debian's libonnx-testdata (or set KILN_ONNX_NODE_TESTS_DIR); ", what,
                                     " did not run");
  const char* require = std::getenv("KILN_REQUIRE_ONNX_TESTDATA");
  if (require != nullptr && *require != '\0' && std::string_view(require) != "0") {
    FAIL(reason);
  }
  WARN_MESSAGE(false, reason);
  return false;
}

} // namespace kiln::test
