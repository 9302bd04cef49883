// vm_op_harness.hpp: runs one op's CPU kernel outside the VM, on host buffers, the way the
// VM would: supports(), then scratch_bytes() (given exactly that many bytes, so the
// sanitizers see an overrun), then run(), which must not allocate when it succeeds.
#pragma once

#include <doctest/doctest.h>

#include <kiln/relax/builder.hpp>
#include <kiln/runtime/thread_pool.hpp>
#include <kiln/vm/op_kernel.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "allocation_counter.hpp"
#include "test_data.hpp"

namespace kiln::test::vm_ops {

using relax::Binding;
using relax::Builder;
using relax::Function;
using relax::kNoValue;
using relax::Module;
using relax::TensorType;
using relax::ValueId;
using relax::ValueKind;
using relax::Var;
using vm::OpCall;
using vm::OpKernel;
using vm::Slot;

// A host buffer and the slot over it (the slot's data pointer is set when the op runs).
struct Host {
  std::vector<std::byte> bytes;
  Slot slot;

  template <class T>
  std::vector<T> values() const {
    std::vector<T> v(bytes.size() / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
    return v;
  }
};

template <class T>
Host host(const std::vector<T>& values, const std::vector<std::int64_t>& dims, DType dtype = dtype_v<T>) {
  Host h;
  h.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(h.bytes.data(), values.data(), h.bytes.size());
  h.slot.dtype = dtype;
  h.slot.set_shape(dims);
  REQUIRE(h.slot.elements() == static_cast<std::int64_t>(values.size()));
  return h;
}

inline TensorType host_type(const Host& h) {
  TensorType t;
  t.dtype = h.slot.dtype;
  for (int i = 0; i < h.slot.rank; ++i) t.push_back(h.slot.dims[i]);
  return t;
}

struct Outcome {
  Status supported;
  Status status;
  std::vector<Host> outputs;
  std::size_t scratch_bytes = 0;

  template <class T = float>
  std::vector<T> out(std::size_t i = 0) const {
    return outputs[i].values<T>();
  }
  std::vector<std::int64_t> dims(std::size_t i = 0) const {
    const Slot& s = outputs[i].slot;
    return std::vector<std::int64_t>(s.dims, s.dims + s.rank);
  }
};

inline Module finished(Builder& b, std::vector<Var> outputs) {
  Result<Module> m = b.finish(std::span<const Var>(outputs));
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  return std::move(*m);
}
inline Module finished(Builder& b, Var out) { return finished(b, std::vector<Var>{out}); }

// Runs the module's last binding with the kernel `kernel_of` gives for its op: the inputs are
// the module's parameters in order, the outputs are shaped as inference typed them.
inline Outcome run_op(const Module& m, const std::vector<Host*>& params, const OpKernel* (*kernel_of)(relax::OpKind),
                      ThreadPool* pool = nullptr) {
  const Function& fn = m.main();
  const Binding& binding = fn.blocks.back().bindings.back();
  const OpKernel* kernel = kernel_of(binding.op);
  REQUIRE(kernel != nullptr);
  Outcome o;
  o.supported = kernel->supports(binding, fn);
  if (!o.supported.ok()) return o;
  std::vector<const Slot*> inputs;
  for (ValueId id : binding.inputs) {
    if (id == kNoValue) {
      inputs.push_back(nullptr);
      continue;
    }
    REQUIRE(fn.value(id).kind == ValueKind::param);
    Host* h = params.at(at(fn.value(id).index));
    h->slot.data = h->bytes.data();
    inputs.push_back(&h->slot);
  }
  for (ValueId id : binding.outputs) {
    const TensorType& t = fn.type(id);
    REQUIRE(t.is_static());
    Host h;
    std::vector<std::int64_t> dims;
    for (int i = 0; i < t.rank; ++i) dims.push_back(t.dims[i].constant_value());
    h.slot.dtype = t.dtype;
    h.slot.set_shape(dims);
    h.bytes.assign(h.slot.bytes(), std::byte{0xCD});  // garbage that a missed element keeps
    o.outputs.push_back(std::move(h));
  }
  std::vector<const Slot*> outputs;
  for (Host& h : o.outputs) {
    h.slot.data = h.bytes.data();
    outputs.push_back(&h.slot);
  }
  OpCall call;
  call.op = binding.op;
  call.attrs = &binding.attrs;
  call.inputs = inputs;
  call.outputs = outputs;
  call.pool = pool;
  o.scratch_bytes = kernel->scratch_bytes != nullptr ? kernel->scratch_bytes(call) : 0;
  struct FreeScratch {
    void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte, FreeScratch> scratch(
      o.scratch_bytes == 0 ? nullptr : static_cast<std::byte*>(::operator new(o.scratch_bytes, std::align_val_t{64})));
  call.scratch = std::span<std::byte>(scratch.get(), o.scratch_bytes);
  {
    // run() must not touch the heap (an error's message may).
    CountAllocations allocations;
    o.status = kernel->run(call);
    if (o.status.ok()) CHECK(allocations.count() == 0);
  }
  return o;
}

} // namespace kiln::test::vm_ops
