// kiln/vm/execution_context.hpp: ExecutionContext, the state of one thread running an Executable.
//
// prepare(input shapes) does everything that depends on shapes once: it binds the symbols,
// computes every value's shape, asks each kernel for its scratch, plans one arena for all
// intermediate values and scratch (see memory_plan.hpp) and wires every call's slots. run()
// then only points the parameters at the caller's tensors and calls the kernels in order: it
// allocates nothing. A run with other input shapes prepares again first (and may allocate);
// the arena only grows, so alternating between shapes settles after one run of each.
//
// Control flow runs in child contexts, one per sub-function of each if and loop (made with
// the context, so they are never shared). prepare() prepares them with the actual shapes of
// their arguments, both branches of an if (so that a run taking the other branch does not
// prepare), and checks what only those shapes tell: both branches return the shapes the
// if's type gives, and a loop's carried values keep their shapes through the body (a loop
// whose carried shapes change per iteration is refused at prepare; relax's loop cannot
// express one). A child's memory is the scratch of its instruction in the parent's arena:
// the branches of an if share it, and a loop's holds the body's values, a second set of the
// carried values (the iterations write alternately into it and the loop's outputs, ending
// in the outputs) and the iteration number. Results are copied into the parent's slots.
//
// An op whose output extent depends on the values (non_zero, unique, non_max_suppression)
// has memory planned for its count's bound, so a run allocates nothing for it either; when
// its kernel reports a count other than the one the shapes were computed with, the shapes
// of every value are computed again with it (this allocates, like a prepare, but keeps the
// plan). A count that changes the inputs of an if or loop is refused.
//
// Contexts share the Executable and nothing else: run one context per thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
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
      : exe_(std::move(exe)), pool_(pool) {
    make_sub_calls();
  }

  const Executable& executable() const noexcept { return *exe_; }

  // Plans a run for inputs of these shapes (by parameter name).
  Status prepare(std::span<const relax::InputShape> inputs) {
    prepared_ = false;
    KILN_RETURN_IF_ERROR(lay_out(inputs).with_context("prepare"));
    if (plan_.arena_bytes > arena_capacity_) {
      arena_.reset(static_cast<std::byte*>(aligned_alloc_bytes(plan_.arena_bytes, kBufferAlignment)));
      arena_capacity_ = arena_ ? plan_.arena_bytes : 0;
      if (!arena_)
        return make_error(StatusCode::out_of_memory, "prepare: cannot allocate an arena of ", plan_.arena_bytes,
                          " bytes");
    }
    place(arena_.get());
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
    for (const auto& [index, value] : fn.fixed_param_values) {
      const Slot& given = slots_[static_cast<std::size_t>(fn.params[static_cast<std::size_t>(index)])];
      const bool matches = std::ranges::equal(given.shape(), value.dims()) &&
                           (given.bytes() == 0 || std::memcmp(given.data, value.data(), given.bytes()) == 0);
      if (!matches)
        return make_error(StatusCode::invalid_argument, "run: input ", fn.value(fn.params[static_cast<std::size_t>(index)]).name,
                          " differs from the value the module was built for (a shape or similar fixed at load time); "
                          "load the model again for this value");
    }
    const RunHooks* hooks = exe_->options().run_hooks;
    if (hooks != nullptr) KILN_RETURN_IF_ERROR(hooks->begin().with_context("run"));
    Status s = execute();
    if (hooks != nullptr) {
      Status ended = hooks->end();
      if (s.ok()) s = std::move(ended);
    }
    return std::move(s).with_context("run");
  }
  Status run(std::initializer_list<Tensor> inputs) { return run(std::span<const Tensor>(inputs.begin(), inputs.size())); }

  std::size_t output_count() const noexcept { return exe_->function().outputs.size(); }
  // Output i of the last run; its memory is the context's until the next prepare or run.
  const Slot& output(std::size_t i = 0) const { return slots_[static_cast<std::size_t>(exe_->function().outputs[i])]; }
  // The slot of any value of the function (for inspection and tests).
  const Slot& value(relax::ValueId id) const { return slots_[static_cast<std::size_t>(id)]; }

  // Bytes of the arena the current plan uses (child contexts of if and loop included), and
  // what it would use without reuse.
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

    std::span<const Slot* const> inputs(const std::vector<const Slot*>& all) const noexcept {
      return {all.data() + first_input, input_count};
    }
    std::span<const Slot* const> outputs(const std::vector<const Slot*>& all) const noexcept {
      return {all.data() + first_output, output_count};
    }
  };

  // An if or loop instruction: the child contexts that run its sub-functions, and what a loop
  // keeps between iterations. The memory of all of it is the instruction's scratch: the
  // children's values first (the branches of an if share them), then a loop's spare carried
  // values and its iteration number.
  struct SubCall {
    std::size_t instruction = 0;
    std::vector<std::unique_ptr<ExecutionContext>> children;  // then and else; or the body
    std::vector<const Slot*> body_args;  // a loop's: the iteration number, then the carried values
    std::vector<Slot> spare;             // a loop's second set of carried values
    Slot iteration;                      // a loop's iteration number, i64[]
    std::size_t children_bytes = 0;
    std::size_t scratch_bytes = 0;
  };

  static relax::ConcreteShape shape_of(const Tensor& t) {
    relax::ConcreteShape s;
    s.rank = t.rank();
    for (int a = 0; a < t.rank() && a < kMaxRank; ++a) s.dims[a] = t.dim(a);
    return s;
  }

  OpCall call_of(std::size_t i) {
    const Instruction& ins = exe_->instructions()[i];
    const CallSlots& c = calls_[i];
    OpCall call;
    call.op = ins.op;
    call.attrs = ins.attrs;
    call.inputs = c.inputs(call_slots_);
    call.outputs = c.outputs(call_slots_);
    call.pool = pool_;
    call.scratch = c.scratch;
    call.fused = ins.fused;
    if (const int d = data_dependent_of_[i]; d >= 0)
      call.data_dependent_count = &data_dependent_[static_cast<std::size_t>(d)].reported;
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

  // Binds the shapes, wires the calls, prepares the child contexts and plans the memory; the
  // memory itself is placed by place(), in this context's arena or in its parent's.
  Status lay_out(std::span<const relax::InputShape> inputs) {
    const relax::Function& fn = exe_->function();
    Result<relax::BoundShapes> bound = relax::bind_shapes(fn, inputs);
    if (!bound.ok()) return std::move(bound).status();

    slots_.assign(fn.values.size(), Slot{});
    for (std::size_t v = 0; v < fn.values.size(); ++v) {
      Slot& s = slots_[v];
      s.dtype = fn.values[v].type.dtype;
      s.set_shape(bound->shapes[v].view());
      if (const Tensor* c = fn.constant_of(static_cast<relax::ValueId>(v))) s = slot_of(*c);
    }
    param_dims_.clear();
    for (relax::ValueId p : fn.params) param_dims_.push_back(bound->shape(p));
    input_shapes_.assign(inputs.begin(), inputs.end());
    KILN_RETURN_IF_ERROR(find_data_dependent(bound->symbols));

    wire_calls();
    for (SubCall& sub : sub_calls_) KILN_RETURN_IF_ERROR(lay_out_sub_call(sub));
    plan();
    return {};
  }

  // The data-dependent calls and the bounds of their counts under these input shapes.
  Status find_data_dependent(const relax::Bindings& symbols) {
    const auto instructions = exe_->instructions();
    data_dependent_of_.assign(instructions.size(), -1);
    data_dependent_.clear();
    reported_ = {};
    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const relax::DataDependentExtent* e = relax::data_dependent_extent(*instructions[i].attrs);
      if (e == nullptr || !e->count.is_symbol()) continue;
      DataDependentCall call;
      call.symbol = e->count.symbol_at(0);
      const std::optional<std::int64_t> bound = symbols.find(call.symbol);
      if (!bound) return make_error(StatusCode::internal, where(i), ": no bound for ", call.symbol.view());
      call.bound = call.current = call.reported = *bound;
      data_dependent_of_[i] = static_cast<int>(data_dependent_.size());
      data_dependent_.push_back(call);
    }
    return {};
  }

  // After data-dependent call i reported a count other than the shapes were computed with:
  // every value's shape again, within the memory planned for the bounds.
  Status rebind(std::size_t i) {
    DataDependentCall& d = data_dependent_[static_cast<std::size_t>(data_dependent_of_[i])];
    if (!reported_.bind(d.symbol, d.reported))
      return make_error(StatusCode::unsupported, where(i), ": too many data-dependent extents");
    d.current = d.reported;
    const relax::Function& fn = exe_->function();
    Result<relax::BoundShapes> bound = relax::bind_shapes(fn, input_shapes_, reported_);
    if (!bound.ok()) return std::move(bound).status().with_context(where(i));
    for (const SubCall& sub : sub_calls_)
      for (const Slot* in : calls_[sub.instruction].inputs(call_slots_))
        if (in != nullptr && !std::ranges::equal(in->shape(), bound->shapes[static_cast<std::size_t>(in - slots_.data())].view()))
          return make_error(StatusCode::unsupported, where(i), ": its output extent ", d.symbol.view(), " = ",
                            d.reported, " changes the shape of an input of ", where(sub.instruction),
                            ", which was prepared for ", d.bound);
    for (std::size_t v = 0; v < slots_.size(); ++v) {
      Slot& s = slots_[v];
      s.set_shape(bound->shapes[v].view());
      if (value_request_[v] >= 0 && s.bytes() > planned_bytes_[v])
        return make_error(StatusCode::internal, where(i), ": value %", v, " outgrows its planned memory");
    }
    return {};
  }

  // lay_out() for a child context whose parameters take `args` (their shapes).
  Status lay_out_call(std::span<const Slot* const> args) {
    const relax::Function& fn = exe_->function();
    std::vector<relax::InputShape> shapes;
    for (std::size_t p = 0; p < fn.params.size() && p < args.size(); ++p) {
      const auto dims = args[p]->shape();
      shapes.push_back({fn.value(fn.params[p]).name, std::vector<std::int64_t>(dims.begin(), dims.end())});
    }
    return lay_out(shapes);
  }

  // The bytes at `base` hold this context's values and scratch, as planned.
  void place(std::byte* base) {
    const auto instructions = exe_->instructions();
    for (std::size_t v = 0; v < slots_.size(); ++v)
      if (const int r = value_request_[v]; r >= 0) slots_[v].data = base + plan_.offsets[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < instructions.size(); ++i)
      if (const int r = scratch_request_[i]; r >= 0)
        calls_[i].scratch = std::span<std::byte>(base + plan_.offsets[static_cast<std::size_t>(r)],
                                                 requests_[static_cast<std::size_t>(r)].bytes);
    for (SubCall& sub : sub_calls_) {
      std::byte* region = calls_[sub.instruction].scratch.data();
      for (auto& child : sub.children) child->place(region);
      std::size_t offset = sub.children_bytes;
      for (Slot& spare : sub.spare) {
        spare.data = region + offset;
        offset += align_up(spare.bytes());
      }
      sub.iteration.data = region + offset;
    }
  }

  // One request per value that owns memory the kernels write (not parameters, constants or
  // views), live until the last use of it or of any view of it; one per call's scratch.
  void plan() {
    const relax::Function& fn = exe_->function();
    const auto instructions = exe_->instructions();
    const int end = static_cast<int>(instructions.size());  // past the last step: outputs live to here
    std::vector<int>& request_of = value_request_;
    std::vector<BufferRequest>& requests = requests_;
    std::vector<int>& scratch_request = scratch_request_;
    request_of.assign(fn.values.size(), -1);
    requests.clear();
    scratch_request.assign(instructions.size(), -1);
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
      std::size_t scratch = 0;
      if (ins.kind == InstructionKind::kernel && ins.kernel->scratch_bytes != nullptr)
        scratch = ins.kernel->scratch_bytes(call_of(i));
      else if (ins.is_control_flow())
        scratch = sub_calls_[static_cast<std::size_t>(sub_call_of_[i])].scratch_bytes;
      if (scratch > 0) {
        scratch_request[i] = static_cast<int>(requests.size());
        requests.push_back(BufferRequest{scratch, step, step, -1});
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
    planned_bytes_.assign(fn.values.size(), 0);
    for (std::size_t v = 0; v < fn.values.size(); ++v)
      if (const int r = request_of[v]; r >= 0) planned_bytes_[v] = requests[static_cast<std::size_t>(r)].bytes;
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

  // ---- control flow ------------------------------------------------------------------------

  void make_sub_calls() {
    const auto instructions = exe_->instructions();
    sub_call_of_.assign(instructions.size(), -1);
    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const Instruction& ins = instructions[i];
      if (!ins.is_control_flow()) continue;
      SubCall sub;
      sub.instruction = i;
      for (const auto& program : ins.subprograms)
        sub.children.push_back(std::make_unique<ExecutionContext>(program, pool_));
      sub_call_of_[i] = static_cast<int>(sub_calls_.size());
      sub_calls_.push_back(std::move(sub));
    }
  }

  std::string where(std::size_t i) const {
    const Instruction& ins = exe_->instructions()[i];
    return str_cat("%", ins.outputs.empty() ? -1 : ins.outputs[0], " = ", relax::to_string(ins.op));
  }

  static std::string shape_text(const Slot& s) {
    std::string text = "[";
    for (int a = 0; a < s.rank; ++a) text += str_cat(a ? ", " : "", s.dims[a]);
    return text + "]";
  }

  // Prepares the children of an if or loop for the shapes its inputs now have, and checks
  // that what they return fits the instruction's outputs.
  Status lay_out_sub_call(SubCall& sub) {
    const Instruction& ins = exe_->instructions()[sub.instruction];
    const CallSlots& c = calls_[sub.instruction];
    const auto inputs = c.inputs(call_slots_);
    const auto outputs = c.outputs(call_slots_);
    const auto child_name = [&](std::size_t k) -> const std::string& {
      return ins.subprograms[k]->function().name;
    };
    if (inputs[0]->elements() != 1)
      return make_error(StatusCode::shape_mismatch, where(sub.instruction), ": the ",
                        ins.kind == InstructionKind::loop ? "trip count" : "condition", " must have one element, got ",
                        shape_text(*inputs[0]));
    const auto carried = inputs.subspan(1);
    sub.children_bytes = 0;
    if (ins.kind == InstructionKind::if_then_else) {
      for (std::size_t k = 0; k < sub.children.size(); ++k) {
        const char* branch = k == 0 ? ": the then branch @" : ": the else branch @";
        KILN_RETURN_IF_ERROR(sub.children[k]->lay_out_call(carried).with_context(
            str_cat(where(sub.instruction), branch, child_name(k))));
        sub.children_bytes = std::max(sub.children_bytes, sub.children[k]->plan_.arena_bytes);
      }
      for (std::size_t o = 0; o < outputs.size(); ++o) {
        const Slot& then_out = sub.children[0]->output(o);
        const Slot& else_out = sub.children[1]->output(o);
        if (!std::ranges::equal(then_out.shape(), else_out.shape()))
          return make_error(StatusCode::shape_mismatch, where(sub.instruction), ": output ", o, " is ",
                            shape_text(then_out), " in the then branch @", child_name(0), " but ", shape_text(else_out),
                            " in the else branch @", child_name(1), " for these inputs; both branches must return the "
                            "same shapes");
        if (!std::ranges::equal(then_out.shape(), outputs[o]->shape()))
          return make_error(StatusCode::shape_mismatch, where(sub.instruction), ": output ", o, " is ",
                            shape_text(then_out), " in both branches, but the if's type gives ",
                            shape_text(*outputs[o]));
      }
      sub.scratch_bytes = align_up(sub.children_bytes);
      return {};
    }

    // A loop: body(iteration, carried...) -> carried..., every carried value keeping its shape.
    ExecutionContext& body = *sub.children[0];
    sub.iteration = Slot{};
    sub.iteration.dtype = DType::i64;
    sub.body_args.assign(1, &sub.iteration);
    sub.body_args.insert(sub.body_args.end(), carried.begin(), carried.end());
    KILN_RETURN_IF_ERROR(body.lay_out_call(sub.body_args).with_context(
        str_cat(where(sub.instruction), ": the body @", child_name(0))));
    sub.spare.clear();
    sub.children_bytes = align_up(body.plan_.arena_bytes);
    std::size_t bytes = sub.children_bytes;
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      const Slot& result = body.output(o);
      if (!std::ranges::equal(result.shape(), carried[o]->shape()))
        return make_error(StatusCode::shape_mismatch, where(sub.instruction), ": carried value ", o, " goes in as ",
                          shape_text(*carried[o]), " but the body @", child_name(0), " returns ", shape_text(result),
                          "; the VM runs loops whose carried values keep their shapes");
      if (!std::ranges::equal(result.shape(), outputs[o]->shape()))
        return make_error(StatusCode::shape_mismatch, where(sub.instruction), ": carried value ", o, " is ",
                          shape_text(result), ", but the loop's type gives ", shape_text(*outputs[o]));
      Slot spare = *outputs[o];
      spare.data = nullptr;
      bytes += align_up(spare.bytes());
      sub.spare.push_back(spare);
    }
    sub.scratch_bytes = bytes + align_up(sizeof(std::int64_t));
    return {};
  }

  // Runs this (child) context with its parameters on `args`; shapes as prepared.
  Status run_call(std::span<const Slot* const> args) {
    const relax::Function& fn = exe_->function();
    for (std::size_t p = 0; p < fn.params.size(); ++p) slots_[static_cast<std::size_t>(fn.params[p])] = *args[p];
    return execute();
  }

  // Copies a value of a child into a slot of the same shape and dtype. The two may be the
  // same memory (a body returning its parameter unchanged).
  static void copy_value(const Slot& from, const Slot& to) noexcept {
    const std::size_t bytes = to.bytes();
    if (bytes > 0 && from.data != to.data) std::memmove(to.data, from.data, bytes);
  }

  static std::int64_t integer_of(const Slot& s) noexcept {
    return visit_dtype(s.dtype, [&](auto zero) -> std::int64_t {
      using T = decltype(zero);
      if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(*static_cast<const T*>(s.data));
      else return 0;  // load accepts only integer trip counts
    });
  }

  Status run_if(std::size_t i) {
    SubCall& sub = sub_calls_[static_cast<std::size_t>(sub_call_of_[i])];
    const CallSlots& c = calls_[i];
    const auto inputs = c.inputs(call_slots_);
    const auto outputs = c.outputs(call_slots_);
    // Read as a byte: any nonzero byte is true.
    const bool condition = *static_cast<const unsigned char*>(inputs[0]->data) != 0;
    const std::size_t k = condition ? 0 : 1;
    ExecutionContext& branch = *sub.children[k];
    if (Status s = branch.run_call(inputs.subspan(1)); !s.ok())
      return std::move(s).with_context(
          str_cat(k == 0 ? "the then branch @" : "the else branch @", branch.executable().function().name));
    KILN_RETURN_IF_ERROR(sync_backend());
    for (std::size_t o = 0; o < outputs.size(); ++o) copy_value(branch.output(o), *outputs[o]);
    return {};
  }

  Status run_loop(std::size_t i) {
    SubCall& sub = sub_calls_[static_cast<std::size_t>(sub_call_of_[i])];
    const CallSlots& c = calls_[i];
    const auto inputs = c.inputs(call_slots_);
    const auto outputs = c.outputs(call_slots_);
    const auto carried = inputs.subspan(1);
    const std::int64_t trips = integer_of(*inputs[0]);
    if (trips <= 0) {
      for (std::size_t o = 0; o < outputs.size(); ++o) copy_value(*carried[o], *outputs[o]);
      return {};
    }
    // Iteration k writes into the outputs when trips - 1 - k is even, else into the spare
    // set, so the last one writes the outputs and each reads what the one before wrote.
    const auto target = [&](std::int64_t k, std::size_t o) -> const Slot* {
      return (trips - 1 - k) % 2 == 0 ? outputs[o] : &sub.spare[o];
    };
    ExecutionContext& body = *sub.children[0];
    for (std::int64_t k = 0; k < trips; ++k) {
      *sub.iteration.data_as<std::int64_t>() = k;
      for (std::size_t o = 0; o < outputs.size(); ++o) sub.body_args[o + 1] = k == 0 ? carried[o] : target(k - 1, o);
      if (Status s = body.run_call(sub.body_args); !s.ok())
        return std::move(s).with_context(str_cat("the body @", body.executable().function().name, ", iteration ", k));
      KILN_RETURN_IF_ERROR(sync_backend());
      for (std::size_t o = 0; o < outputs.size(); ++o) copy_value(body.output(o), *target(k, o));
    }
    return {};
  }

  // A backend with run hooks puts every value in host memory before the VM reads or writes
  // values itself.
  Status sync_backend() const {
    const RunHooks* hooks = exe_->options().run_hooks;
    return hooks != nullptr ? hooks->sync() : Status{};
  }

  Status execute() {
    const auto instructions = exe_->instructions();
    for (std::size_t i = 0; i < instructions.size(); ++i) {
      const Instruction& ins = instructions[i];
      Status s;
      if (ins.kind != InstructionKind::kernel && ins.kind != InstructionKind::view) {
        s = sync_backend();
        if (!s.ok()) return std::move(s).with_context(where(i));
      }
      switch (ins.kind) {
        case InstructionKind::view:
          // The output slot already has its shape; it takes its input's memory, which for a
          // parameter changes from run to run.
          slots_[static_cast<std::size_t>(ins.outputs[0])].data = slots_[static_cast<std::size_t>(ins.inputs[0])].data;
          continue;
        case InstructionKind::kernel:
          if (const int d = data_dependent_of_[i]; d >= 0) {
            DataDependentCall& dd = data_dependent_[static_cast<std::size_t>(d)];
            dd.reported = dd.bound;
            s = ins.kernel->run(call_of(i));
            if (s.ok() && dd.reported != dd.current) s = rebind(i);
            break;
          }
          s = ins.kernel->run(call_of(i));
          break;
        case InstructionKind::user_kernel:
          s = ins.user_kernel->run(calls_[i].inputs(call_slots_), calls_[i].outputs(call_slots_));
          break;
        case InstructionKind::if_then_else: s = run_if(i); break;
        case InstructionKind::loop: s = run_loop(i); break;
      }
      if (!s.ok()) return std::move(s).with_context(where(i));
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
  std::vector<SubCall> sub_calls_;   // one per if and loop, made with the context
  std::vector<int> sub_call_of_;     // by instruction: its SubCall, or -1
  std::vector<int> value_request_;   // by value: its buffer request, or -1 (the last plan's)
  std::vector<int> scratch_request_; // by instruction: its scratch request, or -1
  std::vector<BufferRequest> requests_;
  std::vector<std::size_t> planned_bytes_;  // by value: the bytes its request holds, or 0
  MemoryPlan plan_;
  // Ops whose output extent depends on the values: by instruction, the index of its entry or -1.
  struct DataDependentCall {
    Name symbol;
    std::int64_t bound = 0;     // what memory is planned for
    std::int64_t current = 0;   // what the shapes were computed with
    std::int64_t reported = 0;  // what the kernel produced last
  };
  std::vector<DataDependentCall> data_dependent_;
  std::vector<int> data_dependent_of_;
  std::vector<relax::InputShape> input_shapes_;  // of the last prepare
  relax::Bindings reported_;                     // the counts the shapes now use
  std::unique_ptr<std::byte, FreeAligned> arena_;
  std::size_t arena_capacity_ = 0;
};

} // namespace kiln::vm
