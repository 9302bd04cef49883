// kiln/aot/static_shapes.hpp: a module with every shape symbol fixed to a size, so that each
// value has a static type, ready to become a static graph.
//
//   std::vector<aot::DimSize> dims = {{"seq", 128}};          // every other symbol: 1
//   KILN_ASSIGN_OR_RETURN(aot::StaticModule s, aot::make_static(std::move(module), dims));
//   // s.module: f32[1, 128, 256] where it was f32[batch, seq, 256]; s.sizes: batch = 1, seq = 128
//
// The symbols of the entry function are bound, every value's type and known contents are
// evaluated under them (relax::bind_shapes, which also checks each binding again on the
// concrete shapes), and so are the dims inside attributes (a reshape target, a top-k's k).
// Then the load-time pipeline runs, as the VM runs it: shape computations that now have
// constant results fold away, and reshapes get static targets.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/result.hpp"
#include "../core/status.hpp"
#include "../core/str_cat.hpp"
#include "../relax/bind_shapes.hpp"
#include "../relax/module.hpp"
#include "../relax/passes/pass_manager.hpp"

namespace kiln::aot {

// One symbol's size (`--dim seq=128`).
struct DimSize {
  std::string symbol;
  std::int64_t size = 1;
};

struct StaticModule {
  relax::Module module;
  std::vector<DimSize> sizes;  // every symbol of the entry function, with the size it got
};

// Binds the entry function's symbols: those in `dims` to their sizes, the others to
// `default_size`. A size names a symbol the function has, once, and is at least 1 (a static
// graph's dims are positive).
inline Result<StaticModule> make_static(relax::Module module, std::span<const DimSize> dims,
                                        std::int64_t default_size = 1) {
  if (module.functions.empty()) return make_error(StatusCode::invalid_argument, "the module has no functions");
  relax::Function& fn = module.main();
  std::string known;
  for (const Name& s : fn.symbols) known += str_cat(known.empty() ? "" : ", ", s.view());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    bool found = false;
    for (const Name& s : fn.symbols) found = found || s.view() == dims[i].symbol;
    if (!found)
      return make_error(StatusCode::not_found, "--dim ", dims[i].symbol, ": the model has no such symbol (",
                        known.empty() ? std::string("its shapes are all static") : "its symbols: " + known, ")");
    for (std::size_t j = 0; j < i; ++j)
      if (dims[j].symbol == dims[i].symbol)
        return make_error(StatusCode::invalid_argument, "--dim ", dims[i].symbol, " is given twice");
    if (dims[i].size < 1 || dims[i].size > relax::kMaxSymbolValue)
      return make_error(StatusCode::out_of_range, "--dim ", dims[i].symbol, "=", dims[i].size,
                        ": a static graph's dims are at least 1");
  }

  StaticModule out;
  relax::Bindings symbols;
  for (const Name& s : fn.symbols) {
    std::int64_t size = default_size;
    for (const DimSize& d : dims)
      if (d.symbol == s.view()) size = d.size;
    if (!symbols.bind(s, size))
      return make_error(StatusCode::unsupported, "the model has more than ", relax::Bindings::capacity, " symbols");
    out.sizes.push_back({std::string(s.view()), size});
  }

  std::vector<relax::InputShape> inputs;
  for (relax::ValueId p : fn.params) {
    const relax::Value& param = fn.value(p);
    if (param.type.rank < 0)
      return make_error(StatusCode::unsupported, "input ", param.name, ": its rank is unknown");
    relax::InputShape shape{param.name, {}};
    for (int a = 0; a < param.type.rank; ++a) {
      Result<std::int64_t> d = relax::evaluate(param.type.dims[a], symbols);
      if (!d.ok()) return std::move(d).status().with_context(str_cat("input ", param.name, ", dim ", a));
      shape.dims.push_back(*d);
    }
    inputs.push_back(std::move(shape));
  }
  Result<relax::BoundShapes> bound = relax::bind_shapes(fn, inputs);
  if (!bound.ok())
    return std::move(bound).status().with_context("binding the shapes (a shape that depends on the data has no "
                                                  "static form)");

  for (std::size_t i = 0; i < fn.values.size(); ++i) {
    relax::Value& v = fn.values[i];
    if (v.kind == relax::ValueKind::constant) continue;
    if (v.type.rank < 0) return make_error(StatusCode::unsupported, "value %", i, " has an unknown rank");
    v.type = relax::detail::concrete_type(v.type.dtype, bound->shapes[i]);
    if (v.contents) {
      for (relax::SymDim& d : *v.contents) {
        Result<std::int64_t> value = relax::evaluate(d, bound->symbols);
        if (!value.ok()) {
          v.contents.reset();  // no longer known; a reshape reading it keeps its static output type
          break;
        }
        d = *value;
      }
    }
  }
  Status status;
  fn.for_each_binding([&](relax::Binding& b) {
    if (status.ok()) status = relax::detail::bind_attrs(b.attrs, bound->symbols).with_context(relax::to_string(b.op));
  });
  KILN_RETURN_IF_ERROR(status);
  fn.symbols.clear();
  KILN_RETURN_IF_ERROR(relax::default_pipeline().run(module));
  out.module = std::move(module);
  return out;
}

} // namespace kiln::aot
