// kiln/relax/printer.hpp: a module as readable Relax-like text.
//
//   function @main(%x: f32[batch, 64], %w: f32[64, 64]) -> f32[batch, 64] {
//     symbols batch
//     dataflow {
//       %0 = relax.matmul(%x, %w) : f32[batch, 64]
//       %1 = relax.relu(%0) : f32[batch, 64]
//     }
//     return %1
//   }
//
// Parameters print by name, constants as %c<index> (with their elements when there are
// few), binding outputs as %<n> numbered in the order they are defined, so the text does not
// depend on the ids inside the function and stays the same across equivalent edits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/str_cat.hpp"
#include "../runtime/tensor.hpp"
#include "attributes.hpp"
#include "module.hpp"

namespace kiln::relax {

// Constants with at most this many elements print their elements.
inline constexpr std::int64_t kPrintedConstantElements = 8;

namespace detail {

// "[1, -1]": the elements of a small constant.
inline std::string constant_elements(const Tensor& t) {
  if (!t.defined() || !t.is_contiguous()) return "[?]";
  std::string text = "[";
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (i > 0) text += ", ";
    visit_dtype(t.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T v = static_cast<const T*>(t.data())[i];
      if constexpr (std::is_same_v<T, bool>) text += v ? "true" : "false";
      else if constexpr (std::is_integral_v<T>) text += str_cat(static_cast<std::int64_t>(v));
      else text += str_cat(static_cast<double>(v));
    });
  }
  return text + "]";
}

class FunctionPrinter {
 public:
  FunctionPrinter(const Module& module, const Function& fn) : module_(module), fn_(fn) {
    names_.resize(fn.values.size());
    for (std::size_t i = 0; i < fn.values.size(); ++i) {
      const Value& v = fn.values[i];
      if (v.kind == ValueKind::param) names_[i] = "%" + v.name;
      else if (v.kind == ValueKind::constant) names_[i] = str_cat("%c", v.index);
    }
    int next = 0;
    fn.for_each_binding([&](const Binding& b) {
      for (ValueId out : b.outputs)
        if (fn.has_value(out)) names_[static_cast<std::size_t>(out)] = str_cat("%", next++);
    });
  }

  void print(std::string& out) const {
    out += "function @" + fn_.name + "(";
    for (std::size_t i = 0; i < fn_.params.size(); ++i) {
      if (i > 0) out += ", ";
      out += name(fn_.params[i]) + ": " + type_text(fn_.params[i]);
    }
    out += ") -> ";
    if (fn_.outputs.size() == 1) {
      out += type_text(fn_.outputs[0]);
    } else {
      out += "(";
      for (std::size_t i = 0; i < fn_.outputs.size(); ++i) out += (i ? ", " : "") + type_text(fn_.outputs[i]);
      out += ")";
    }
    out += " {\n";
    if (!fn_.symbols.empty()) {
      out += "  symbols ";
      for (std::size_t i = 0; i < fn_.symbols.size(); ++i) {
        if (i > 0) out += ", ";
        out += fn_.symbols[i].view();
      }
      out += "\n";
    }
    for (std::size_t i = 0; i < fn_.values.size(); ++i) {
      const Value& v = fn_.values[i];
      if (v.kind != ValueKind::constant) continue;
      out += "  " + names_[i] + " = constant " + to_string(v.type);
      const Tensor* t = fn_.constant_of(static_cast<ValueId>(i));
      if (t && t->numel() <= kPrintedConstantElements) out += " " + constant_elements(*t);
      out += "\n";
    }
    for (const Block& block : fn_.blocks) {
      const char* indent = block.dataflow ? "    " : "  ";
      if (block.dataflow) out += "  dataflow {\n";
      for (const Binding& b : block.bindings) {
        out += indent;
        print_binding(out, b);
        out += "\n";
      }
      if (block.dataflow) out += "  }\n";
    }
    out += "  return ";
    for (std::size_t i = 0; i < fn_.outputs.size(); ++i) out += (i ? ", " : "") + name(fn_.outputs[i]);
    out += "\n}\n";
  }

  void print_binding(std::string& out, const Binding& b) const {
    for (std::size_t i = 0; i < b.outputs.size(); ++i) out += (i ? ", " : "") + name(b.outputs[i]);
    out += str_cat(" = relax.", to_string(b.op), "(");
    bool first = true;
    const auto piece = [&](const std::string& text) {
      if (!first) out += ", ";
      out += text;
      first = false;
    };
    for (ValueId in : b.inputs) piece(in == kNoValue ? std::string("_") : name(in));
    if (const auto* a = std::get_if<IfAttrs>(&b.attrs)) {
      piece("then=@" + function_name(a->then_branch));
      piece("else=@" + function_name(a->else_branch));
    } else if (const auto* l = std::get_if<LoopAttrs>(&b.attrs)) {
      piece("body=@" + function_name(l->body));
    } else if (const auto* f = std::get_if<FusedAttrs>(&b.attrs)) {
      piece("@" + function_name(f->function));
    } else if (const std::string attrs = to_string(b.attrs); !attrs.empty() && !shape_from_input(b)) {
      piece(attrs);
    }
    out += ") : ";
    if (b.outputs.size() == 1) {
      out += type_text(b.outputs[0]);
    } else {
      out += "(";
      for (std::size_t i = 0; i < b.outputs.size(); ++i) out += (i ? ", " : "") + type_text(b.outputs[i]);
      out += ")";
    }
  }

 private:
  // A reshape or expand that reads its shape from a tensor has no attributes to show.
  static bool shape_from_input(const Binding& b) {
    const auto* a = std::get_if<ShapeAttrs>(&b.attrs);
    return (b.op == OpKind::reshape || b.op == OpKind::expand) && b.inputs.size() == 2 && (!a || !a->allowzero);
  }
  std::string name(ValueId id) const {
    if (!fn_.has_value(id) || names_[static_cast<std::size_t>(id)].empty()) return str_cat("%?", id);
    return names_[static_cast<std::size_t>(id)];
  }
  std::string type_text(ValueId id) const { return fn_.has_value(id) ? to_string(fn_.type(id)) : "?"; }
  std::string function_name(int index) const {
    if (index < 0 || index >= static_cast<int>(module_.functions.size())) return str_cat("?", index);
    return module_.functions[static_cast<std::size_t>(index)].name;
  }

  const Module& module_;
  const Function& fn_;
  std::vector<std::string> names_;
};

} // namespace detail

inline std::string to_string(const Module& module, const Function& fn) {
  std::string out;
  detail::FunctionPrinter(module, fn).print(out);
  return out;
}

// Every function of the module, the entry point first, separated by blank lines.
inline std::string to_string(const Module& module) {
  std::string out;
  for (std::size_t i = 0; i < module.functions.size(); ++i) {
    if (i > 0) out += "\n";
    out += to_string(module, module.functions[i]);
  }
  return out;
}

} // namespace kiln::relax
