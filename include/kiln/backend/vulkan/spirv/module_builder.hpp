// kiln/backend/vulkan/spirv/module_builder.hpp: assembles a SPIR-V module word by word. It
// hands out result ids, keeps each section of the module apart (the specification fixes their
// order), and makes each type and constant once. Everything is constexpr, so a shader whose
// kernel is fully static is assembled while the application compiles.
#pragma once

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "numbers.hpp"

namespace kiln::vulkan::spirv {

using Id = std::uint32_t;

class ModuleBuilder {
 public:
  constexpr Id fresh() noexcept { return next_id_++; }

  // ---- module-level sections ------------------------------------------------------------
  constexpr void capability(std::uint32_t c) { put(capabilities_, Op::capability, {c}); }
  constexpr void extension(std::string_view name) { put_with_string(extensions_, Op::extension, {}, name, {}); }
  constexpr Id glsl_instructions() {
    if (glsl_ == 0) {
      glsl_ = fresh();
      put_with_string(imports_, Op::ext_inst_import, {glsl_}, "GLSL.std.450", {});
    }
    return glsl_;
  }
  constexpr void compute_entry_point(Id function, std::string_view name, std::initializer_list<Id> interface,
                                     std::uint32_t x, std::uint32_t y, std::uint32_t z) {
    put_with_string(entry_points_, Op::entry_point, {execution_model::gl_compute, function}, name, interface);
    put(execution_modes_, Op::execution_mode, {function, execution_mode::local_size, x, y, z});
  }
  constexpr void name(Id target, std::string_view text) { put_with_string(debug_names_, Op::name, {target}, text, {}); }
  constexpr void decorate(Id target, std::uint32_t what, std::initializer_list<std::uint32_t> operands = {}) {
    const std::size_t at = begin(annotations_);
    annotations_.push_back(target);
    annotations_.push_back(what);
    annotations_.insert(annotations_.end(), operands.begin(), operands.end());
    end(annotations_, at, Op::decorate);
  }
  constexpr void decorate_member(Id type, std::uint32_t member, std::uint32_t what,
                                 std::initializer_list<std::uint32_t> operands = {}) {
    const std::size_t at = begin(annotations_);
    annotations_.push_back(type);
    annotations_.push_back(member);
    annotations_.push_back(what);
    annotations_.insert(annotations_.end(), operands.begin(), operands.end());
    end(annotations_, at, Op::member_decorate);
  }

  // ---- types and constants, each made once ---------------------------------------------
  constexpr Id type_void() { return cached(Op::type_void, {}); }
  constexpr Id type_bool() { return cached(Op::type_bool, {}); }
  constexpr Id type_int(std::uint32_t width, bool is_signed) { return cached(Op::type_int, {width, is_signed ? 1u : 0u}); }
  constexpr Id type_float(std::uint32_t width) { return cached(Op::type_float, {width}); }
  constexpr Id type_vector(Id element, std::uint32_t count) { return cached(Op::type_vector, {element, count}); }
  constexpr Id type_pointer(std::uint32_t storage_class, Id pointee) {
    return cached(Op::type_pointer, {storage_class, pointee});
  }
  constexpr Id type_function(Id result) { return cached(Op::type_function, {result}); }
  // Arrays carry their stride, so the same element and stride give the same type.
  constexpr Id type_runtime_array(Id element, std::uint32_t stride) {
    const std::size_t before = types_.size();
    const Id id = cached(Op::type_runtime_array, {element});
    if (types_.size() != before) decorate(id, decoration::array_stride, {stride});
    return id;
  }
  constexpr Id type_array(Id element, Id length_constant, std::uint32_t stride) {
    const std::size_t before = types_.size();
    const Id id = cached(Op::type_array, {element, length_constant});
    if (types_.size() != before) decorate(id, decoration::array_stride, {stride});
    return id;
  }
  // An array in workgroup memory: Vulkan forbids explicit layout there, so it carries no
  // stride, and it is made anew each time (arrays, unlike scalars, may be declared twice).
  constexpr Id type_workgroup_array(Id element, std::uint32_t length) {
    const Id count = constant_u32(length);
    const Id id = fresh();
    put(types_, Op::type_array, {id, element, count});
    return id;
  }
  // A struct of one member at offset 0, decorated as an interface block (storage buffers and
  // push constants).
  constexpr Id type_block(Id member) {
    const std::size_t before = types_.size();
    const Id id = cached(Op::type_struct, {member});
    if (types_.size() != before) {
      decorate(id, decoration::block);
      decorate_member(id, 0, decoration::offset, {0});
    }
    return id;
  }

  constexpr Id constant_i32(std::int32_t v) { return cached(Op::constant, {type_int(32, true), std::bit_cast<std::uint32_t>(v)}); }
  constexpr Id constant_i64(std::int64_t v) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    return cached(Op::constant, {type_int(64, true), static_cast<std::uint32_t>(bits), static_cast<std::uint32_t>(bits >> 32)});
  }
  constexpr Id constant_u32(std::uint32_t v) { return cached(Op::constant, {type_int(32, false), v}); }
  constexpr Id constant_f32(float v) { return cached(Op::constant, {type_float(32), std::bit_cast<std::uint32_t>(v)}); }
  constexpr Id constant_f64(double v) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    return cached(Op::constant, {type_float(64), static_cast<std::uint32_t>(bits), static_cast<std::uint32_t>(bits >> 32)});
  }
  constexpr Id constant_bool(bool v) { return cached(v ? Op::constant_true : Op::constant_false, {type_bool()}); }

  // A module-scope variable (storage buffer, push constants, built-in input).
  constexpr Id global_variable(Id pointer_type, std::uint32_t storage_class) {
    const Id id = fresh();
    put(globals_, Op::variable, {pointer_type, id, storage_class});
    return id;
  }

  // ---- the one function ----------------------------------------------------------------
  // A variable of the function: declared in its first block, whatever block asks for it.
  constexpr Id function_variable(Id pointer_type) {
    const Id id = fresh();
    put(function_variables_, Op::variable, {pointer_type, id, storage::function});
    return id;
  }
  // An instruction with a result: returns its id.
  constexpr Id value(Op op, Id result_type, std::initializer_list<std::uint32_t> operands) {
    const Id id = fresh();
    const std::size_t at = begin(body_);
    body_.push_back(result_type);
    body_.push_back(id);
    body_.insert(body_.end(), operands.begin(), operands.end());
    end(body_, at, op);
    return id;
  }
  constexpr Id ext(Id result_type, std::uint32_t instruction, std::initializer_list<std::uint32_t> operands) {
    const Id id = fresh();
    const std::size_t at = begin(body_);
    body_.push_back(result_type);
    body_.push_back(id);
    body_.push_back(glsl_instructions());
    body_.push_back(instruction);
    body_.insert(body_.end(), operands.begin(), operands.end());
    end(body_, at, Op::ext_inst);
    return id;
  }
  // An instruction without a result (store, branch, merge, label).
  constexpr void code(Op op, std::initializer_list<std::uint32_t> operands) { put(body_, op, operands); }

  // The whole module: header, then the sections in the order the specification gives, then
  // `function` wrapped around the variables and the body.
  constexpr std::vector<std::uint32_t> finish(Id function, Id function_type) const {
    std::vector<std::uint32_t> out;
    out.push_back(kMagic);
    out.push_back(kVersion);
    out.push_back(kGenerator);
    out.push_back(next_id_);  // the bound: every id is below it
    out.push_back(0);
    for (const auto* section : {&capabilities_, &extensions_, &imports_}) out.insert(out.end(), section->begin(), section->end());
    put(out, Op::memory_model, {addressing::logical, memory_model::glsl450});
    for (const auto* section : {&entry_points_, &execution_modes_, &debug_names_, &annotations_, &types_, &globals_})
      out.insert(out.end(), section->begin(), section->end());
    put(out, Op::function, {type_void_id(), function, kNoControl, function_type});
    put(out, Op::label, {entry_label_});
    out.insert(out.end(), function_variables_.begin(), function_variables_.end());
    out.insert(out.end(), body_.begin(), body_.end());
    put(out, Op::function_end, {});
    return out;
  }

  // The label of the function's first block; the body's code continues that block.
  constexpr Id entry_label() {
    if (entry_label_ == 0) entry_label_ = fresh();
    return entry_label_;
  }

 private:
  struct Cached {
    Op op;
    std::uint32_t operands[3];
    std::uint32_t count;
    Id id;
  };

  static constexpr std::size_t begin(std::vector<std::uint32_t>& out) {
    out.push_back(0);  // the word count and opcode, written by end()
    return out.size() - 1;
  }
  static constexpr void end(std::vector<std::uint32_t>& out, std::size_t at, Op op) {
    const auto words = static_cast<std::uint32_t>(out.size() - at);
    out[at] = (words << 16) | static_cast<std::uint32_t>(op);
  }
  static constexpr void put(std::vector<std::uint32_t>& out, Op op, std::initializer_list<std::uint32_t> operands) {
    const std::size_t at = begin(out);
    out.insert(out.end(), operands.begin(), operands.end());
    end(out, at, op);
  }
  // Operands, then a nul-terminated UTF-8 string packed four bytes a word (first byte lowest),
  // then more operands.
  static constexpr void put_with_string(std::vector<std::uint32_t>& out, Op op, std::initializer_list<std::uint32_t> head,
                                        std::string_view text, std::initializer_list<std::uint32_t> tail) {
    const std::size_t at = begin(out);
    out.insert(out.end(), head.begin(), head.end());
    for (std::size_t i = 0; i <= text.size(); i += 4) {
      std::uint32_t word = 0;
      for (std::size_t b = 0; b < 4 && i + b < text.size(); ++b)
        word |= static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + b])) << (8 * b);
      out.push_back(word);
    }
    out.insert(out.end(), tail.begin(), tail.end());
    end(out, at, op);
  }

  constexpr Id type_void_id() const {
    for (const Cached& c : cache_)
      if (c.op == Op::type_void) return c.id;
    return 0;
  }
  // Types and constants share one section: each is defined before anything that uses it
  // because its operands are made (and so defined) before it.
  constexpr Id cached(Op op, std::initializer_list<std::uint32_t> operands) {
    for (const Cached& c : cache_) {
      if (c.op != op || c.count != operands.size()) continue;
      bool same = true;
      std::size_t i = 0;
      for (std::uint32_t w : operands) same = same && c.operands[i++] == w;
      if (same) return c.id;
    }
    Cached entry{op, {}, static_cast<std::uint32_t>(operands.size()), fresh()};
    std::size_t i = 0;
    for (std::uint32_t w : operands) entry.operands[i++] = w;
    cache_.push_back(entry);
    // Constants put their type first, then the result id; types put the result id first.
    const bool is_constant = op == Op::constant || op == Op::constant_true || op == Op::constant_false;
    const std::size_t at = begin(types_);
    if (is_constant) {
      auto w = operands.begin();
      types_.push_back(*w++);
      types_.push_back(entry.id);
      types_.insert(types_.end(), w, operands.end());
    } else {
      types_.push_back(entry.id);
      types_.insert(types_.end(), operands.begin(), operands.end());
    }
    end(types_, at, op);
    return entry.id;
  }

  Id next_id_ = 1;
  Id glsl_ = 0;
  Id entry_label_ = 0;
  std::vector<Cached> cache_;
  std::vector<std::uint32_t> capabilities_, extensions_, imports_, entry_points_, execution_modes_, debug_names_, annotations_,
      types_, globals_, function_variables_, body_;
};

} // namespace kiln::vulkan::spirv
