// kiln/vm/op_kernel.hpp: OpKernel, how the VM runs one op on one backend, and OpCall, what a
// run sees.
//
// Every op the dynamic module can execute has one OpKernel per backend. The VM asks it three
// things at three times:
//   - at load (`supports`): can you run this binding, given its dtypes, ranks and attributes?
//     The answer is a Status whose error names what is missing ("conv: 3-D kernels are not
//     supported"), so a module that cannot run fails at load, not half-way through a run.
//   - at prepare (`scratch_bytes`): how much scratch memory do you need for these concrete
//     shapes? The slots carry shapes and dtypes, but no data yet. The planner gives each call
//     its scratch inside the context's arena.
//   - at run (`run`): compute. The outputs' memory is already placed; `run` must not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "../core/status.hpp"
#include "../relax/attributes.hpp"
#include "../relax/module.hpp"
#include "../relax/op_kind.hpp"
#include "../runtime/thread_pool.hpp"
#include "slot.hpp"

namespace kiln::vm {

struct FusedProgram;  // fused_program.hpp

struct OpCall {
  relax::OpKind op = relax::OpKind::identity;
  const relax::Attrs* attrs = nullptr;
  std::span<const Slot* const> inputs;  // null where an optional input is absent
  std::span<const Slot* const> outputs;
  ThreadPool* pool = nullptr;           // may be null: run on the caller's thread
  std::span<std::byte> scratch;         // 64-byte aligned, scratch_bytes() of them
  const FusedProgram* fused = nullptr;  // for a fused call: what it computes
  // For an op whose output extent depends on the values (relax::DataDependentExtent): on
  // entry the bound its outputs' memory holds, on return the extent the kernel produced.
  std::int64_t* data_dependent_count = nullptr;

  const Slot* input(std::size_t i) const noexcept { return i < inputs.size() ? inputs[i] : nullptr; }
  const Slot& output(std::size_t i = 0) const noexcept { return *outputs[i]; }
  template <class A>
  const A& attr() const noexcept {
    return std::get<A>(*attrs);
  }
  int threads() const noexcept { return pool != nullptr ? pool->size() : 1; }
};

struct OpKernel {
  // Whether this kernel runs `binding` of `fn` (its inputs' and outputs' types are in fn).
  Status (*supports)(const relax::Binding& binding, const relax::Function& fn) = nullptr;
  // Scratch bytes a call needs; null means none. Called with slots whose data is null.
  std::size_t (*scratch_bytes)(const OpCall& call) = nullptr;
  Status (*run)(const OpCall& call) = nullptr;
};

// A backend that keeps values in its own memory between its kernels (a GPU recording a whole
// run into one command buffer) is told where a run starts and ends, and when the VM itself is
// about to read or write values in host memory (an if's condition, a loop's trip count and
// carried values, a user kernel): after `sync` (and `end`) every value its kernels wrote is in
// host memory, and what the host writes next is read from there. `end` is called after a
// failed run too. The CPU backend has none.
struct RunHooks {
  Status (*begin)() = nullptr;
  Status (*sync)() = nullptr;
  Status (*end)() = nullptr;
};

} // namespace kiln::vm
