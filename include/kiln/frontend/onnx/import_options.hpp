// kiln/frontend/onnx/import_options.hpp: ImportOptions, what a caller may fix when an ONNX
// model is imported into a relax::Module.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../../runtime/tensor.hpp"

namespace kiln::onnx {

struct ImportOptions {
  // Extents for symbolic dims, by dim_param name ("batch" -> 1): such a dim becomes the
  // constant instead of a symbol.
  std::vector<std::pair<std::string, std::int64_t>> dim_values = {};
  // Values of graph inputs that are known when the model is imported. An op that needs a
  // load-time constant (a shape, axes, pads, scales, k, ...) where the model feeds it a
  // graph input takes the value from here (as TVM's freeze_params would); the input stays an
  // input of the module, and the caller promises to pass this same value at run time.
  std::vector<std::pair<std::string, Tensor>> input_values = {};
};

} // namespace kiln::onnx
