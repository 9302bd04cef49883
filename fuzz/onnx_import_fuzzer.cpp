// onnx_import_fuzzer.cpp: libFuzzer target for the ONNX frontend. Each input is decoded as a
// ModelProto; a model that decodes is imported into a relax module, and a module that
// imports is loaded into the VM (passes, constant folding, fusion, planning), never run.
// Errors are the expected outcome; crashes, sanitizer reports, hangs and huge allocations
// are bugs. Build with -DKILN_BUILD_FUZZER=ON and clang; ./scripts/fuzz runs it.
#include <kiln/frontend/onnx/import.hpp>
#include <kiln/frontend/onnx/proto.hpp>
#include <kiln/vm/cpu_kernels.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  kiln::Result<kiln::onnx::ModelProto> model = kiln::onnx::decode_model(bytes, "fuzz-input");
  if (!model.ok()) return 0;
  // No model directory: external data is refused instead of read from wherever it points.
  kiln::Result<kiln::relax::Module> module = kiln::onnx::import_model(*model);
  if (!module.ok()) return 0;
  (void)kiln::vm::load(std::move(*module));
  return 0;
}
