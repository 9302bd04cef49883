// kiln/vm/execution_context.hpp: ExecutionContext, the state of one thread running an Executable.
//
// prepare(input shapes) does everything that depends on shapes once: it binds the symbols,
// computes every value's shape, asks each kernel for its scratch, plans one arena for all
// intermediate values and scratch (see memory_plan.hpp) and wires every call's slots. run()
// then only points the parameters at the caller's tensors and calls the kernels in order: it
// allocates nothing. A run with other input shapes prepares again first (and may allocate);
// the arena only grows, so alternating between shapes settles after one run of each.
//
// Contexts share the Executable and nothing else: run one context per thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/bind_shapes.hpp"
#include "../runtime/aligned_alloc.hpp"
#include "../runtime/tensor.hpp"
#include "../runtime/thread_pool.hpp"
#include "executable.hpp"
#include "memory_plan.hpp"
#include "slot.hpp"

namespace kiln::vm {

class ExecutionContext {
 public:
  // `pool` (optional, not owned) runs the kernels' parallel loops; it must not be shared with
  // a context that runs at the same time.
  explicit ExecutionContext(std::shared_ptr<const Executable> exe, ThreadPool* pool = nullptr)
      : exe_(std::move(exe)), pool_(pool) {}

  const Executable& executable() const noexcept { return *exe_; }

  // Plans a run for inputs of these shapes (by parameter name).
  Status prepare(std::span<const relax::InputShape> inputs) {
    prepared_ = false;
    const relax::Function& fn = exe_->function();
    Result<relax::BoundShapes> bound = relax::bind_shapes(fn, inputs);
    if (!bound.ok()) return std::move(bound).status().with_context("prepare");

    slots_.assign(fn.values.size(), Slot{});
    for (std::size_t v = 0; v < fn.values.size(); ++v) {
      Slot& s = slots_[v];
      s.dtype = fn.values[v].type.dtype;
      s.set_shape(bound->shapes[v].view());
      if (const Tensor* c = fn.constant_of(static_cast<relax::ValueId>(v))) s = slot_of(*c);
    }
    param_dims_.clear();
    for (relax::ValueId p : fn.params) param_dims_.push_back(bound->shape(p));

    wire_calls();
    KILN_RETURN_IF_ERROR(plan());
    prepared_ = true;
    return {};
  }
  Status prepare(std::initializer_list<relax::InputShape> inputs) {
    return prepare(std::span<const relax::InputShape>(inputs.begin(), inputs.size()));
  }

  // Runs on `inputs`, in the order of the function's parameters; row-major tensors. Inputs of
  // the prepared shapes run without allocating; others prepare first.
  Status run(std::span<const Tensor> inputs) {
    const relax::Function& fn = exe_->function();
    if (inputs.size() != fn.params.size())
      return make_error(StatusCode::invalid_argument, "run: ", inputs.size(), " inputs given, the module takes ",
                        fn.params.size());
    bool same = prepared_;
    for (std::size_t i = 0; i < inputs.size() && same; ++i)
      same = shape_of(inputs[i]) == param_dims_[i];
    if (!same) {
      std::vector<relax::InputShape> shapes;
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& t = inputs[i];
        if (!t.defined()) return make_error(StatusCode::invalid_argument, "run: input ", i, " is undefined");
        shapes.push_back({fn.value(fn.params[i]).name, std::vector<std::int64_t>(t.dims().begin(), t.dims().end())});
      }
      KILN_RETURN_IF_ERROR(prepare(shapes));
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      const relax::Value& p = fn.value(fn.params[i]);
      if (t.dtype() != p.type.dtype)
        return make_error(StatusCode::dtype_mismatch, "run: input ", p.name, " holds ", to_string(t.dtype()),
                          ", the module takes ", to_string(p.type.dtype));
      if (t.device().kind != DeviceKind::cpu)
        return make_error(StatusCode::unsupported, "run: input ", p.name, " is not in CPU memory");
      Slot& s = slots_[static_cast<std::size_t>(fn.params[i])];
      s = slot_of(t);
      if (!s.contiguous())
        return make_error(StatusCode::invalid_argument, "run: input ", p.name, " is not row-major contiguous");
    }
    return execute();
  }
  Status run(std::initializer_list<Tensor> inputs) { return run(std::span<const Tensor>(inputs.begin(), inputs.size())); }

  std::size_t output_count() const noexcept { return exe_->function().outputs.size(); }
  // Output i of the last run; its memory is the context's until the next prepare or run.
  const Slot& output(std::size_t i = 0) const { return slots_[static_cast<std::size_t>(exe_->function().outputs[i])]; }
  // The slot of any value of the function (for inspection and tests).
  const Slot& value(relax::ValueId id) const { return slots_[static_cast<std::size_t>(id)]; }

  // Bytes of the arena the current plan uses, and what it would use without reuse.
  std::size_t arena_bytes() const noexcept { return plan_.arena_bytes; }
  std::size_t unplanned_bytes() const noexcept { return plan_.requested_bytes; }
  // How many values were written over a dying input of theirs.
  int in_place_count() const noexcept {
    int n = 0;
    for (std::size_t r = 0; r < plan_.in_place.size(); ++r) n += plan_.in_place[r] ? 1 : 0;
    return n;
  }

 private:
  struct CallSlots {
    std::size_t first_input = 0;  // in call_slots_
    std::size_t first_output = 0;
    std::size_t input_count = 0;
    std::size_t output_count = 0;
    std::span<std::byte> scratch;
  };

  static relax::ConcreteShape shape_of(const Tensor& t) {
    relax::ConcreteShape s;
    s.rank = t.rank();
    for (int a = 0; a < t.rank() && a < kMaxRank; ++a) s.dims[a] = t.dim(a);
    return s;
  }

  OpCall call_of(std::size_t i) const {
    const Instruction& ins = exe_->instructions()[i];
    const CallSlots& c = calls_[i];
    OpCall call;
    call.op = ins.op;
    call.attrs = ins.attrs;
    call.inputs = std::span<const Slot* const>(call_slots_.data() + c.first_input, c.input_count);
    call.outputs = std::span<const Slot* const>(call_slots_.data() + c.first_output, c.output_count);
    call.pool = pool_;
    call.scratch = c.scratch;
    call.fused = ins.fused;
    return call;
  }

  void wire_calls() {
    const auto instructions = exe_->instructions();
    calls_.assign(instructions.size(), CallSlots{});
    call_slots_.clear();
    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const Instruction& ins = instructions[i];
      CallSlots& c = calls_[i];
      c.first_input = call_slots_.size();
      for (relax::ValueId in : ins.inputs)
        call_slots_.push_back(in == relax::kNoValue ? nullptr : &slots_[static_cast<std::size_t>(in)]);
      c.first_output = call_slots_.size();
      for (relax::ValueId out : ins.outputs) call_slots_.push_back(&slots_[static_cast<std::size_t>(out)]);
      c.input_count = ins.inputs.size();
      c.output_count = ins.outputs.size();
    }
  }

  // One request per value that owns memory the kernels write (not parameters, constants or
  // views), live until the last use of it or of any view of it; one per call's scratch.
  Status plan() {
    const relax::Function& fn = exe_->function();
    const auto instructions = exe_->instructions();
    const int end = static_cast<int>(instructions.size());  // past the last step: outputs live to here
    std::vector<int> request_of(fn.values.size(), -1);
    std::vector<BufferRequest> requests;
    std::vector<int> scratch_request(instructions.size(), -1);
    const auto owner = [&](relax::ValueId id) { return request_of[static_cast<std::size_t>(exe_->storage_of(id))]; };

    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const Instruction& ins = instructions[i];
      const int step = static_cast<int>(i);
      for (relax::ValueId in : ins.inputs) {
        if (in == relax::kNoValue) continue;
        if (const int r = owner(in); r >= 0) requests[static_cast<std::size_t>(r)].last_step = step;
      }
      if (ins.is_view()) continue;
      for (relax::ValueId out : ins.outputs) {
        BufferRequest r;
        r.bytes = slots_[static_cast<std::size_t>(out)].bytes();
        r.first_step = r.last_step = step;
        if (may_run_in_place(ins.op)) r.in_place_of = in_place_donor(ins, out, request_of);
        request_of[static_cast<std::size_t>(out)] = static_cast<int>(requests.size());
        requests.push_back(r);
      }
      if (ins.kernel->scratch_bytes != nullptr) {
        const std::size_t bytes = ins.kernel->scratch_bytes(call_of(i));
        if (bytes > 0) {
          scratch_request[i] = static_cast<int>(requests.size());
          requests.push_back(BufferRequest{bytes, step, step, -1});
        }
      }
    }
    for (relax::ValueId out : fn.outputs)
      if (const int r = owner(out); r >= 0) requests[static_cast<std::size_t>(r)].last_step = end;
    if (!exe_->options().plan_memory) {
      // Every buffer to itself, for measuring what planning saves.
      for (BufferRequest& r : requests) {
        r.last_step = end;
        r.in_place_of = -1;
      }
    }

    plan_ = plan_memory(requests);
    if (plan_.arena_bytes > arena_capacity_) {
      arena_.reset(static_cast<std::byte*>(aligned_alloc_bytes(plan_.arena_bytes, kBufferAlignment)));
      arena_capacity_ = arena_ ? plan_.arena_bytes : 0;
      if (!arena_)
        return make_error(StatusCode::out_of_memory, "prepare: cannot allocate an arena of ", plan_.arena_bytes,
                          " bytes");
    }
    for (std::size_t v = 0; v < fn.values.size(); ++v)
      if (const int r = request_of[v]; r >= 0) slots_[v].data = arena_.get() + plan_.offsets[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < instructions.size(); ++i)
      if (const int r = scratch_request[i]; r >= 0)
        calls_[i].scratch = std::span<std::byte>(arena_.get() + plan_.offsets[static_cast<std::size_t>(r)],
                                                 requests[static_cast<std::size_t>(r)].bytes);
    return {};
  }

  // An input of an in-place-capable op whose memory the output may take: same element size
  // and shape, owned by an earlier request (the planner checks that it dies here).
  int in_place_donor(const Instruction& ins, relax::ValueId out, const std::vector<int>& request_of) const {
    const Slot& o = slots_[static_cast<std::size_t>(out)];
    for (relax::ValueId in : ins.inputs) {
      if (in == relax::kNoValue) continue;
      const Slot& s = slots_[static_cast<std::size_t>(in)];
      const int r = request_of[static_cast<std::size_t>(exe_->storage_of(in))];
      if (r >= 0 && size_of(s.dtype) == size_of(o.dtype) && std::ranges::equal(s.shape(), o.shape())) return r;
    }
    return -1;
  }

  Status execute() {
    const auto instructions = exe_->instructions();
    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const Instruction& ins = instructions[i];
      if (ins.is_view()) {
        // The output slot already has its shape; it takes its input's memory, which for a
        // parameter changes from run to run.
        slots_[static_cast<std::size_t>(ins.outputs[0])].data = slots_[static_cast<std::size_t>(ins.inputs[0])].data;
        continue;
      }
      Status s = ins.kernel->run(call_of(i));
      if (!s.ok())
        return std::move(s).with_context(str_cat("run: %", ins.outputs.empty() ? -1 : ins.outputs[0], " = ",
                                                 relax::to_string(ins.op)));
    }
    return {};
  }

  struct FreeAligned {
    void operator()(std::byte* p) const noexcept { aligned_free(p); }
  };

  std::shared_ptr<const Executable> exe_;
  ThreadPool* pool_ = nullptr;
  bool prepared_ = false;
  std::vector<Slot> slots_;  // by ValueId
  std::vector<relax::ConcreteShape> param_dims_;
  std::vector<CallSlots> calls_;
  std::vector<const Slot*> call_slots_;
  MemoryPlan plan_;
  std::unique_ptr<std::byte, FreeAligned> arena_;
  std::size_t arena_capacity_ = 0;
};

} // namespace kiln::vm
