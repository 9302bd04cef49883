// kiln/relax/bind_shapes.hpp: binds a function's shape symbols from concrete input shapes and
// computes the concrete shape of every value.
//
// This is what an executor's prepare() does before it plans memory: the inputs fix the
// symbols (batch = 2, seq = 128), every type's dims are evaluated under them, and each
// binding's inference is run again on the concrete shapes, which catches what symbolic
// inference had to leave to the run time (two symbols that must agree, a symbolic inner
// dimension against a constant). Errors name the input, the dim and where a symbol got its
// value: "input x: dim 1 is 4 but batch = 2 from input y".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "infer_binding.hpp"
#include "module.hpp"
#include "sym_dim.hpp"

namespace kiln::relax {

struct InputShape {
  std::string name;
  std::vector<std::int64_t> dims;
};

// A shape with its dims inline, so that a prepared module holds them without allocating.
struct ConcreteShape {
  int rank = 0;
  std::int64_t dims[kMaxRank] = {};

  std::span<const std::int64_t> view() const noexcept { return {dims, static_cast<std::size_t>(rank)}; }
  friend bool operator==(const ConcreteShape& a, const ConcreteShape& b) noexcept {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
};

inline std::string to_string(const ConcreteShape& s) {
  std::string text = "[";
  for (int i = 0; i < s.rank; ++i) text += str_cat(i ? ", " : "", s.dims[i]);
  return text + "]";
}

struct BoundShapes {
  Bindings symbols;
  std::vector<ConcreteShape> shapes;  // by ValueId

  const ConcreteShape& shape(ValueId id) const { return shapes[static_cast<std::size_t>(id)]; }
};

namespace detail {

// Where a symbol got its value, for messages.
struct SymbolSource {
  Name symbol;
  std::string input;
};

inline std::string source_of(const std::vector<SymbolSource>& sources, const Name& symbol) {
  for (const SymbolSource& s : sources)
    if (s.symbol == symbol) return s.input;
  return "?";
}

// The one symbol of `d` that `bindings` lacks, or nullopt when there are none or several.
inline std::optional<Name> single_unbound(const SymDim& d, const Bindings& bindings, int& unbound_count) {
  std::optional<Name> found;
  unbound_count = 0;
  for (int i = 0; i < d.symbol_count(); ++i) {
    if (bindings.find(d.symbol_at(i))) continue;
    ++unbound_count;
    found = d.symbol_at(i);
  }
  if (unbound_count != 1) return std::nullopt;
  return found;
}

// Solves d(s) == value for the single unbound symbol s of d, when d is linear in s (checked
// by evaluating the answer): 2*n + 1 = 9 gives n = 4.
inline std::optional<std::int64_t> solve_for(const SymDim& d, const Name& s, Bindings bindings, std::int64_t value) {
  if (!bindings.bind(s, 0)) return std::nullopt;
  const std::optional<std::int64_t> at0 = try_evaluate(d, bindings);
  bindings.bind(s, 1);
  const std::optional<std::int64_t> at1 = try_evaluate(d, bindings);
  if (!at0 || !at1 || *at1 == *at0) return std::nullopt;
  const std::int64_t slope = *at1 - *at0;
  if ((value - *at0) % slope != 0) return std::nullopt;
  const std::int64_t candidate = (value - *at0) / slope;
  if (candidate < 0 || candidate > kMaxSymbolValue) return std::nullopt;
  bindings.bind(s, candidate);
  if (try_evaluate(d, bindings) != value) return std::nullopt;
  return candidate;
}

inline Result<ConcreteShape> evaluate_type(const TensorType& t, const Bindings& bindings) {
  ConcreteShape shape;
  shape.rank = t.rank;
  for (int i = 0; i < t.rank; ++i) {
    KILN_ASSIGN_OR_RETURN(shape.dims[i], evaluate(t.dims[i], bindings));
    if (shape.dims[i] < 0)
      return make_error(StatusCode::shape_mismatch, "dim ", i, " of ", to_string(t), " evaluates to ", shape.dims[i]);
  }
  return shape;
}

// Dims in attributes (a reshape's symbolic target, a top-k's k) with the symbols bound.
inline Status bind_dims(Dims& dims, const Bindings& bindings) {
  for (SymDim& d : dims) {
    KILN_ASSIGN_OR_RETURN(const std::int64_t v, evaluate(d, bindings));
    d = v;
  }
  return {};
}
inline Status bind_attrs(Attrs& attrs, const Bindings& bindings) {
  if (auto* a = std::get_if<ShapeAttrs>(&attrs)) return bind_dims(a->shape, bindings);
  if (auto* a = std::get_if<ConvTransposeAttrs>(&attrs)) return bind_dims(a->output_shape, bindings);
  if (auto* a = std::get_if<ResizeAttrs>(&attrs)) return bind_dims(a->sizes, bindings);
  if (DataDependentExtent* e = data_dependent_extent(attrs)) {
    KILN_ASSIGN_OR_RETURN(const std::int64_t count, evaluate(e->count, bindings));
    e->count = count;
  }
  if (auto* a = std::get_if<TopKAttrs>(&attrs)) {
    KILN_ASSIGN_OR_RETURN(const std::int64_t k, evaluate(a->k, bindings));
    a->k = k;
  }
  return {};
}

// Binds a data-dependent count to its reported value, else to its bound.
inline Status bind_data_dependent(const DataDependentExtent& e, const Bindings& reported, Bindings& symbols) {
  if (!e.count.is_symbol())
    return make_error(StatusCode::invalid_argument, "a data-dependent count must be a symbol, got ",
                      to_string(e.count));
  const Name& symbol = e.count.symbol_at(0);
  KILN_ASSIGN_OR_RETURN(const std::int64_t bound, evaluate(e.bound, symbols));
  const std::int64_t value = reported.find(symbol).value_or(bound);
  if (value < 0 || value > bound)
    return make_error(StatusCode::out_of_range, symbol.view(), " = ", value, " is outside its bound [0, ", bound, "]");
  if (!symbols.bind(symbol, value))
    return make_error(StatusCode::unsupported, "more than ", Bindings::capacity, " shape symbols");
  return {};
}

inline TensorType concrete_type(DType dtype, const ConcreteShape& shape) {
  TensorType t;
  t.dtype = dtype;
  for (int i = 0; i < shape.rank; ++i) t.push_back(shape.dims[i]);
  return t;
}

} // namespace detail

// `data_dependent` holds the extents data-dependent ops reported in a run (their count
// symbols); a count it lacks takes its bound, the most it can be.
inline Result<BoundShapes> bind_shapes(const Function& fn, std::span<const InputShape> inputs,
                                       const Bindings& data_dependent = {}) {
  // Everything below indexes by ids; a malformed function is reported, not followed.
  KILN_RETURN_IF_ERROR(verify(fn));
  BoundShapes out;
  out.shapes.resize(fn.values.size());

  // Every parameter gets exactly one shape, of its rank, with no negative dims.
  std::vector<const InputShape*> given(fn.params.size(), nullptr);
  for (const InputShape& in : inputs) {
    const std::optional<ValueId> p = fn.find_param(in.name);
    if (!p) {
      std::string names;
      for (ValueId q : fn.params) names += (names.empty() ? "" : ", ") + fn.value(q).name;
      return make_error(StatusCode::not_found, "no input named '", in.name, "' (inputs: ", names, ")");
    }
    const auto index = static_cast<std::size_t>(fn.value(*p).index);
    if (given[index]) return make_error(StatusCode::invalid_argument, "input ", in.name, ": shape given twice");
    given[index] = &in;
  }
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const Value& param = fn.value(fn.params[i]);
    if (!given[i]) return make_error(StatusCode::invalid_argument, "input ", param.name, ": no shape given");
    const std::vector<std::int64_t>& dims = given[i]->dims;
    if (static_cast<int>(dims.size()) != param.type.rank)
      return make_error(StatusCode::shape_mismatch, "input ", param.name, ": rank ", dims.size(), ", expected ",
                        param.type.rank, " (", to_string(param.type), ")");
    for (std::size_t a = 0; a < dims.size(); ++a) {
      if (dims[a] < 0 || dims[a] > kMaxSymbolValue)
        return make_error(StatusCode::out_of_range, "input ", param.name, ": dim ", a, " is ", dims[a],
                          ", outside [0, ", kMaxSymbolValue, "]");
    }
  }

  // Constants and bare symbols first, then expressions, solving those that are linear in
  // one symbol still unbound.
  std::vector<detail::SymbolSource> sources;
  const auto bind = [&](const Name& symbol, std::int64_t value, const std::string& input) -> Status {
    if (!out.symbols.bind(symbol, value))
      return make_error(StatusCode::unsupported, "input ", input, ": more than ", Bindings::capacity,
                        " shape symbols");
    sources.push_back({symbol, input});
    return {};
  };
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const Value& param = fn.value(fn.params[i]);
    for (int a = 0; a < param.type.rank; ++a) {
      const SymDim& d = param.type.dims[a];
      const std::int64_t v = given[i]->dims[static_cast<std::size_t>(a)];
      if (d.is_constant() && d.constant_value() != v)
        return make_error(StatusCode::shape_mismatch, "input ", param.name, ": dim ", a, " is ", v, ", expected ",
                          d.constant_value());
      if (!d.is_symbol()) continue;
      const Name& s = d.symbol_at(0);
      if (const std::optional<std::int64_t> bound = out.symbols.find(s)) {
        if (*bound != v)
          return make_error(StatusCode::shape_mismatch, "input ", param.name, ": dim ", a, " is ", v, " but ",
                            s.view(), " = ", *bound, " from input ", detail::source_of(sources, s));
      } else {
        KILN_RETURN_IF_ERROR(bind(s, v, param.name));
      }
    }
  }
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = 0; i < fn.params.size(); ++i) {
      const Value& param = fn.value(fn.params[i]);
      for (int a = 0; a < param.type.rank; ++a) {
        const SymDim& d = param.type.dims[a];
        if (d.is_constant() || d.is_symbol()) continue;
        int unbound = 0;
        const std::optional<Name> s = detail::single_unbound(d, out.symbols, unbound);
        if (unbound > 1) continue;
        const std::int64_t v = given[i]->dims[static_cast<std::size_t>(a)];
        if (s) {
          const std::optional<std::int64_t> solved = detail::solve_for(d, *s, out.symbols, v);
          if (!solved)
            return make_error(StatusCode::shape_mismatch, "input ", param.name, ": dim ", a, " is ", v,
                              ", which no value of ", s->view(), " makes ", to_string(d));
          KILN_RETURN_IF_ERROR(bind(*s, *solved, param.name));
          progress = true;
          continue;
        }
        KILN_ASSIGN_OR_RETURN(const std::int64_t expected, evaluate(d, out.symbols));
        if (expected != v)
          return make_error(StatusCode::shape_mismatch, "input ", param.name, ": dim ", a, " is ", v, " but ",
                            to_string(d), " = ", expected);
      }
    }
  }
  for (ValueId p : fn.params) {
    const Value& param = fn.value(p);
    for (int a = 0; a < param.type.rank; ++a) {
      int unbound = 0;
      (void)detail::single_unbound(param.type.dims[a], out.symbols, unbound);
      if (unbound > 0)
        return make_error(StatusCode::invalid_argument, "input ", param.name, ": dim ", a, " is ",
                          to_string(param.type.dims[a]), ", which does not determine its symbols");
    }
  }

  // Every value's shape: parameters as given, constants as they are, binding outputs by
  // evaluating their types; then each binding is inferred again on concrete shapes.
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    ConcreteShape& s = out.shapes[static_cast<std::size_t>(fn.params[i])];
    s.rank = static_cast<int>(given[i]->dims.size());
    for (int a = 0; a < s.rank; ++a) s.dims[a] = given[i]->dims[static_cast<std::size_t>(a)];
  }
  for (std::size_t i = 0; i < fn.values.size(); ++i) {
    if (const Tensor* t = fn.constant_of(static_cast<ValueId>(i))) {
      ConcreteShape& s = out.shapes[i];
      s.rank = t->rank();
      for (int a = 0; a < s.rank; ++a) s.dims[a] = t->dim(a);
    }
  }
  int number = 0;
  Status status;
  fn.for_each_binding([&](const Binding& b) {
    if (!status.ok()) return;
    const std::string where = str_cat("%", number, " = relax.", to_string(b.op));
    number += static_cast<int>(b.outputs.size());
    if (const DataDependentExtent* e = data_dependent_extent(b.attrs)) {
      Status bound = detail::bind_data_dependent(*e, data_dependent, out.symbols);
      if (!bound.ok()) {
        status = std::move(bound).with_context(where);
        return;
      }
    }
    for (ValueId o : b.outputs) {
      Result<ConcreteShape> s = detail::evaluate_type(fn.type(o), out.symbols);
      if (!s.ok()) {
        status = std::move(s).status().with_context(where);
        return;
      }
      out.shapes[static_cast<std::size_t>(o)] = *s;
    }
    if (is_control_flow(b.op) || b.op == OpKind::call_kernel || b.op == OpKind::fused) return;
    // Inference once more, on the concrete shapes (and on concrete shape contents).
    std::vector<TensorType> types;
    std::vector<Contents> contents;
    types.reserve(b.inputs.size());
    contents.reserve(b.inputs.size());
    std::vector<InferInput> in;
    for (ValueId id : b.inputs) {
      if (id == kNoValue) {
        in.push_back({});
        continue;
      }
      types.push_back(detail::concrete_type(fn.type(id).dtype, out.shape(id)));
      InferInput input{&types.back()};
      if (const std::optional<Contents>& c = fn.value(id).contents) {
        Contents& values = contents.emplace_back();
        for (const SymDim& d : *c) {
          Result<std::int64_t> v = evaluate(d, out.symbols);
          if (!v.ok()) {
            status = std::move(v).status().with_context(where);
            return;
          }
          values.push_back(*v);
        }
        input.contents = &values;
      }
      in.push_back(input);
    }
    Attrs attrs = b.attrs;
    if (Status bound = detail::bind_attrs(attrs, out.symbols); !bound.ok()) {
      status = std::move(bound).with_context(where);
      return;
    }
    Result<std::vector<TensorType>> inferred = infer_types(b.op, attrs, in);
    if (!inferred.ok()) {
      status = std::move(inferred).status().with_context(where);
      return;
    }
    for (std::size_t k = 0; k < b.outputs.size() && k < inferred->size(); ++k) {
      const ConcreteShape& expected = out.shape(b.outputs[k]);
      const TensorType& got = (*inferred)[k];
      bool same = got.rank == expected.rank;
      for (int a = 0; same && a < got.rank; ++a) same = got.dims[a].is_constant(expected.dims[a]);
      if (!same)
        status = make_error(StatusCode::shape_mismatch, where, ": output ", k, " is ", to_string(got),
                            " for these inputs, but its type ", to_string(fn.type(b.outputs[k])), " gives ",
                            to_string(expected));
    }
  });
  KILN_RETURN_IF_ERROR(status);
  return out;
}

inline Result<BoundShapes> bind_shapes(const Function& fn, std::initializer_list<InputShape> inputs) {
  return bind_shapes(fn, std::span<const InputShape>(inputs.begin(), inputs.size()));
}

} // namespace kiln::relax
