// kiln/relax/builder.hpp: Builder, which records a dynamic module op by op, PyTorch style.
//
//   Builder b;
//   Var x = b.input("x", TensorType(DType::f32, {sym("batch"), 3, 224, 224}));
//   Var w = b.constant(weights);
//   Var y = b.relu(b.conv(x, w, {}, ConvAttrs{.strides = {2, 2}, .pads = {3, 3, 3, 3}}));
//   Result<Module> m = b.finish({y});
//
// Every call infers its output type at once. The first error is kept (naming the binding
// and the op) and later calls do nothing, so a whole graph is written without checking each
// step; finish() returns that error.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../runtime/tensor.hpp"
#include "attributes.hpp"
#include "infer_binding.hpp"
#include "known_contents.hpp"
#include "module.hpp"
#include "op_kind.hpp"

namespace kiln::relax {

// A value being built; only meaningful with the Builder that made it.
struct Var {
  ValueId id = kNoValue;
  constexpr bool valid() const noexcept { return id != kNoValue; }
};

class Builder {
 public:
  explicit Builder(std::string function_name = "main") {
    module_.functions.emplace_back();
    fn().name = std::move(function_name);
  }

  // ---- values ------------------------------------------------------------------------------
  Var input(std::string_view name, const TensorType& type) {
    if (!ok()) return {};
    if (name.empty()) return fail(make_error(StatusCode::invalid_argument, "input: the name is empty"));
    if (fn().find_param(name))
      return fail(make_error(StatusCode::invalid_argument, "input ", name, ": the name is already taken"));
    if (auto error = detail::check_input("input", name, type)) return fail(error->to_status());
    Value v;
    v.kind = ValueKind::param;
    v.type = type;
    v.name = std::string(name);
    v.index = static_cast<int>(fn().params.size());
    const ValueId id = fn().add_value(std::move(v));
    fn().params.push_back(id);
    for (int i = 0; i < type.rank; ++i) declare_symbols(type.dims[i]);
    return Var{id};
  }

  Var constant(Tensor tensor) {
    if (!ok()) return {};
    Result<TensorType> type = type_of(tensor);
    if (!type.ok()) return fail(std::move(type).status());
    std::optional<Contents> contents = contents_of(tensor);
    const ValueId id = fn().add_constant(std::move(tensor), *type);
    fn().value(id).contents = std::move(contents);
    return Var{id};
  }

  // ---- any op ------------------------------------------------------------------------------
  // Records `op`; NoAttrs stands for the op's default attributes. Pass Var{} for an absent
  // optional input.
  std::vector<Var> emit_multi(OpKind op, std::span<const Var> inputs, Attrs attrs = NoAttrs{}) {
    if (!ok()) return {};
    // Errors name the binding as the printer will: by the number of its first output.
    const auto in_context = [&](Status s) { return fail(std::move(s).with_context(str_cat("%", next_number_))); };
    if (std::holds_alternative<NoAttrs>(attrs)) attrs = default_attrs(op);
    Binding binding;
    binding.op = op;
    binding.attrs = std::move(attrs);
    for (Var v : inputs) {
      if (v.valid() && !fn().has_value(v.id)) {
        in_context(make_error(StatusCode::invalid_argument, to_string(op), ": input ", binding.inputs.size(),
                              " is not a value of this builder"));
        return {};
      }
      binding.inputs.push_back(v.id);
    }
    Result<std::vector<TensorType>> types = infer_types(fn(), binding, &module_);
    if (!types.ok()) {
      in_context(std::move(types).status());
      return {};
    }
    std::optional<Contents> contents;
    if (types->size() == 1) {
      std::vector<InferInput> infer_inputs;
      for (ValueId id : binding.inputs) {
        if (id == kNoValue) infer_inputs.push_back({});
        else infer_inputs.push_back({&fn().type(id), fn().value(id).contents ? &*fn().value(id).contents : nullptr});
      }
      contents = infer_contents(op, binding.attrs, infer_inputs, types->front());
    }
    std::vector<Var> outputs;
    for (std::size_t i = 0; i < types->size(); ++i) {
      Value v;
      v.kind = ValueKind::binding;
      v.type = (*types)[i];
      v.index = static_cast<int>(i);
      v.contents = std::move(contents);
      const ValueId id = fn().add_value(std::move(v));
      binding.outputs.push_back(id);
      outputs.push_back(Var{id});
    }
    next_number_ += static_cast<int>(outputs.size());
    block_for(op).bindings.push_back(std::move(binding));
    return outputs;
  }
  std::vector<Var> emit_multi(OpKind op, std::initializer_list<Var> inputs, Attrs attrs = NoAttrs{}) {
    return emit_multi(op, std::span<const Var>(inputs.begin(), inputs.size()), std::move(attrs));
  }

  // Records a single-output op.
  Var emit(OpKind op, std::span<const Var> inputs, Attrs attrs = NoAttrs{}) {
    std::vector<Var> out = emit_multi(op, inputs, std::move(attrs));
    if (out.empty()) return {};
    if (out.size() != 1) return fail(make_error(StatusCode::invalid_argument, to_string(op), ": has ", out.size(),
                                                " outputs; use emit_multi"));
    return out[0];
  }
  Var emit(OpKind op, std::initializer_list<Var> inputs, Attrs attrs = NoAttrs{}) {
    return emit(op, std::span<const Var>(inputs.begin(), inputs.size()), std::move(attrs));
  }

  // ---- elementwise -------------------------------------------------------------------------
  Var unary(OpKind op, Var x) { return emit(op, {x}); }
  Var relu(Var x) { return emit(OpKind::relu, {x}); }
  Var sigmoid(Var x) { return emit(OpKind::sigmoid, {x}); }
  Var tanh(Var x) { return emit(OpKind::tanh, {x}); }
  Var exp(Var x) { return emit(OpKind::exp, {x}); }
  Var sqrt(Var x) { return emit(OpKind::sqrt, {x}); }
  Var gelu(Var x) { return emit(OpKind::gelu, {x}); }
  Var silu(Var x) { return emit(OpKind::silu, {x}); }
  Var neg(Var x) { return emit(OpKind::neg, {x}); }

  Var binary(OpKind op, Var a, Var b) { return emit(op, {a, b}); }
  Var add(Var a, Var b) { return emit(OpKind::add, {a, b}); }
  Var subtract(Var a, Var b) { return emit(OpKind::subtract, {a, b}); }
  Var multiply(Var a, Var b) { return emit(OpKind::multiply, {a, b}); }
  Var divide(Var a, Var b) { return emit(OpKind::divide, {a, b}); }
  Var maximum(Var a, Var b) { return emit(OpKind::maximum, {a, b}); }
  Var minimum(Var a, Var b) { return emit(OpKind::minimum, {a, b}); }
  Var power(Var a, Var b) { return emit(OpKind::power, {a, b}); }
  Var compare(OpKind op, Var a, Var b) { return emit(op, {a, b}); }
  Var where(Var condition, Var x, Var y) { return emit(OpKind::where, {condition, x, y}); }
  Var clip(Var x, Var min_value = {}, Var max_value = {}) { return emit(OpKind::clip, {x, min_value, max_value}); }
  Var cast(Var x, DType to) { return emit(OpKind::cast, {x}, CastAttrs{to}); }

  // ---- linear algebra and windows ----------------------------------------------------------
  Var matmul(Var a, Var b) { return emit(OpKind::matmul, {a, b}); }
  Var gemm(Var a, Var b, Var c = {}, GemmOpAttrs attrs = {}) {
    return c.valid() ? emit(OpKind::gemm, {a, b, c}, attrs) : emit(OpKind::gemm, {a, b}, attrs);
  }
  Var conv(Var x, Var weight, Var bias = {}, const ConvAttrs& attrs = {}) {
    return bias.valid() ? emit(OpKind::conv, {x, weight, bias}, attrs) : emit(OpKind::conv, {x, weight}, attrs);
  }
  // conv with its checks for a 4-D input (NCHW).
  Var conv2d(Var x, Var weight, const ConvAttrs& attrs = {}, Var bias = {}) {
    if (ok() && x.valid() && fn().has_value(x.id) && fn().type(x.id).rank != 4)
      return fail(make_error(StatusCode::shape_mismatch, "%", next_number_, ": conv2d: input must have rank 4, got ",
                             to_string(fn().type(x.id))));
    return conv(x, weight, bias, attrs);
  }
  Var conv_transpose(Var x, Var weight, Var bias = {}, const ConvTransposeAttrs& attrs = {}) {
    return bias.valid() ? emit(OpKind::conv_transpose, {x, weight, bias}, attrs)
                        : emit(OpKind::conv_transpose, {x, weight}, attrs);
  }
  Var max_pool(Var x, const PoolAttrs& attrs) { return emit(OpKind::max_pool, {x}, attrs); }
  Var average_pool(Var x, const PoolAttrs& attrs) { return emit(OpKind::average_pool, {x}, attrs); }
  Var global_average_pool(Var x) { return emit(OpKind::global_average_pool, {x}); }
  Var attention(Var q, Var k, Var v, Var mask = {}, AttentionAttrs attrs = {}) {
    return mask.valid() ? emit(OpKind::attention, {q, k, v, mask}, attrs) : emit(OpKind::attention, {q, k, v}, attrs);
  }

  // ---- normalization, softmax, reductions --------------------------------------------------
  Var batch_norm(Var x, Var scale, Var bias, Var mean, Var variance, double epsilon = 1e-5) {
    return emit(OpKind::batch_norm, {x, scale, bias, mean, variance}, NormAttrs{.epsilon = epsilon});
  }
  Var layer_norm(Var x, Var scale, Var bias = {}, NormAttrs attrs = {}) {
    return bias.valid() ? emit(OpKind::layer_norm, {x, scale, bias}, attrs) : emit(OpKind::layer_norm, {x, scale}, attrs);
  }
  Var softmax(Var x, std::int64_t axis = -1) { return emit(OpKind::softmax, {x}, AxisAttrs{axis}); }
  Var reduce(OpKind op, Var x, const ReduceAttrs& attrs = {}) { return emit(op, {x}, attrs); }
  Var argmax(Var x, std::int64_t axis = 0, bool keepdims = true) {
    return emit(OpKind::argmax, {x}, ArgReduceAttrs{axis, keepdims});
  }

  // ---- layout ------------------------------------------------------------------------------
  Var reshape(Var x, const Dims& shape) { return emit(OpKind::reshape, {x}, ShapeAttrs{shape}); }
  Var reshape(Var x, Var shape) { return emit(OpKind::reshape, {x, shape}); }
  Var expand(Var x, const Dims& shape) { return emit(OpKind::expand, {x}, ShapeAttrs{shape}); }
  Var expand(Var x, Var shape) { return emit(OpKind::expand, {x, shape}); }
  Var flatten(Var x, std::int64_t axis = 1) { return emit(OpKind::flatten, {x}, AxisAttrs{axis}); }
  Var squeeze(Var x, const Ints& axes = {}) { return emit(OpKind::squeeze, {x}, AxesAttrs{axes}); }
  Var unsqueeze(Var x, const Ints& axes) { return emit(OpKind::unsqueeze, {x}, AxesAttrs{axes}); }
  Var transpose(Var x, const Ints& perm = {}) { return emit(OpKind::transpose, {x}, PermAttrs{perm}); }
  Var shape_of(Var x) { return emit(OpKind::shape_of, {x}); }

  // ---- cutting and joining -----------------------------------------------------------------
  Var concat(std::span<const Var> inputs, std::int64_t axis) { return emit(OpKind::concat, inputs, AxisAttrs{axis}); }
  Var concat(std::initializer_list<Var> inputs, std::int64_t axis) {
    return concat(std::span<const Var>(inputs.begin(), inputs.size()), axis);
  }
  std::vector<Var> split(Var x, const SplitAttrs& attrs) { return emit_multi(OpKind::split, {x}, attrs); }
  Var slice(Var x, const SliceAttrs& attrs) { return emit(OpKind::slice, {x}, attrs); }
  Var gather(Var data, Var indices, std::int64_t axis = 0) { return emit(OpKind::gather, {data, indices}, AxisAttrs{axis}); }
  Var pad(Var x, const PadAttrs& attrs) { return emit(OpKind::pad, {x}, attrs); }
  Var tile(Var x, const Ints& repeats) { return emit(OpKind::tile, {x}, TileAttrs{repeats}); }

  // ---- cross-level calls and control flow ---------------------------------------------------
  // A call of the user's kernel `kernel` (registered with the executor by that name), whose
  // outputs have the declared types.
  std::vector<Var> call_kernel(std::string kernel, std::span<const Var> inputs, std::vector<TensorType> outputs) {
    return emit_multi(OpKind::call_kernel, inputs, CallKernelAttrs{std::move(kernel), std::move(outputs)});
  }

  // if condition: then_branch(args...) else else_branch(args...). Each branch is a module
  // whose main function takes `args`; both return values of the same types.
  std::vector<Var> if_then_else(Var condition, Module then_branch, Module else_branch, std::span<const Var> args) {
    if (!ok()) return {};
    IfAttrs attrs;
    attrs.then_branch = adopt(std::move(then_branch));
    attrs.else_branch = adopt(std::move(else_branch));
    std::vector<Var> inputs{condition};
    inputs.insert(inputs.end(), args.begin(), args.end());
    return emit_multi(OpKind::if_then_else, inputs, attrs);
  }

  // Runs body(iteration, carried...) -> carried... `trip_count` times.
  std::vector<Var> loop(Var trip_count, Module body, std::span<const Var> carried) {
    if (!ok()) return {};
    LoopAttrs attrs;
    attrs.body = adopt(std::move(body));
    std::vector<Var> inputs{trip_count};
    inputs.insert(inputs.end(), carried.begin(), carried.end());
    return emit_multi(OpKind::loop, inputs, attrs);
  }

  // ---- state -------------------------------------------------------------------------------
  bool ok() const noexcept { return status_.ok(); }
  const Status& status() const noexcept { return status_; }
  // The type of `v`; an empty f32[] for a Var that an error left invalid.
  const TensorType& type(Var v) const {
    static const TensorType none{};
    return fn().has_value(v.id) ? fn().type(v.id) : none;
  }
  const Function& function() const { return module_.main(); }

  // The module with `outputs` as the results of its main function, or the first error.
  Result<Module> finish(std::span<const Var> outputs) {
    if (!ok()) return status_;
    if (outputs.empty()) return make_error(StatusCode::invalid_argument, "finish: a function needs an output");
    for (Var v : outputs) {
      if (!v.valid() || !fn().has_value(v.id))
        return make_error(StatusCode::invalid_argument, "finish: an output is not a value of this builder");
      fn().outputs.push_back(v.id);
    }
    status_ = make_error(StatusCode::invalid_argument, "the builder has finished");
    return std::move(module_);
  }
  Result<Module> finish(std::initializer_list<Var> outputs) {
    return finish(std::span<const Var>(outputs.begin(), outputs.size()));
  }

 private:
  Function& fn() { return module_.main(); }
  const Function& fn() const { return module_.main(); }

  Var fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
    return {};
  }

  void declare_symbols(const SymDim& d) {
    for (int i = 0; i < d.symbol_count(); ++i) {
      bool known = false;
      for (const Name& s : fn().symbols) known = known || s == d.symbol_at(i);
      if (!known) fn().symbols.push_back(d.symbol_at(i));
    }
  }

  // Control flow sits in blocks of its own, between dataflow blocks.
  Block& block_for(OpKind op) {
    const bool dataflow = !is_control_flow(op);
    if (fn().blocks.empty() || fn().blocks.back().dataflow != dataflow) fn().blocks.push_back(Block{dataflow, {}});
    return fn().blocks.back();
  }

  // Moves the functions of `sub` into this module, returning the index of its main; names
  // that are taken get a suffix.
  int adopt(Module sub) {
    const int offset = static_cast<int>(module_.functions.size());
    for (Function& f : sub.functions) {
      for (Block& block : f.blocks) {
        for (Binding& b : block.bindings) {
          if (auto* a = std::get_if<IfAttrs>(&b.attrs)) {
            a->then_branch += offset;
            a->else_branch += offset;
          } else if (auto* l = std::get_if<LoopAttrs>(&b.attrs)) {
            l->body += offset;
          } else if (auto* fused = std::get_if<FusedAttrs>(&b.attrs)) {
            fused->function += offset;
          }
        }
      }
      std::string name = f.name;
      for (int n = 1; module_.find_function(name); ++n) name = str_cat(f.name, "_", n);
      f.name = std::move(name);
      module_.functions.push_back(std::move(f));
    }
    return offset;
  }

  Module module_;
  Status status_;
  int next_number_ = 0;  // the printed number of the next binding's first output
};

} // namespace kiln::relax
