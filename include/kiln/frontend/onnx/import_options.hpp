// kiln/frontend/onnx/import_options.hpp: ImportOptions, what a caller may fix when an ONNX
// model is imported into a relax::Module.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../../runtime/tensor.hpp"

namespace kiln::onnx {

// A graph input of sequence type, as the module takes it: kiln has no sequence values at run
// time, so the sequence is a list of tensor inputs "name[0]", "name[1]", ..., as many as
// `element_ranks` has entries. The elements' dims are symbols, one per dim of each element
// (elements of one sequence may differ in shape); their ranks come from the model where it
// declares them and from here where it does not.
struct SequenceInput {
  std::string name;
  std::vector<int> element_ranks;
};

struct ImportOptions {
  // Extents for symbolic dims, by dim_param name ("batch" -> 1): such a dim becomes the
  // constant instead of a symbol.
  std::vector<std::pair<std::string, std::int64_t>> dim_values = {};
  // Values of graph inputs that are known when the model is imported. An op that needs a
  // load-time constant (a shape, axes, pads, scales, k, ...) where the model feeds it a
  // graph input takes the value from here (as TVM's freeze_params would); the input stays an
  // input of the module, and the caller promises to pass this same value at run time.
  std::vector<std::pair<std::string, Tensor>> input_values = {};
  // The lengths of the graph inputs that are sequences (also inside optionals).
  std::vector<SequenceInput> sequence_inputs = {};
  // The graph inputs of optional type that hold no value; the others hold one, an input of
  // the module like any other.
  std::vector<std::string> absent_optionals = {};
};

} // namespace kiln::onnx
