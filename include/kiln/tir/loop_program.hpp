// kiln/tir/loop_program.hpp: the lowered form of a scheduled compute: a loop nest (outer to
// inner) with each loop's extent and kind, how every axis of the compute is rebuilt from
// the loop variables, and the predicates a guarded tail needs. It is a structural
// constexpr value, so a backend receives it as a template argument and instantiates code
// in which every static extent and factor is a constant.
#pragma once

#include <cstdint>

#include "../core/name.hpp"
#include "buffer_layout.hpp"
#include "intrinsic.hpp"
#include "schedule.hpp"

namespace kiln::tir {

inline constexpr int kMaxAxes = 8;
inline constexpr int kMaxLoops = 16;
inline constexpr int kMaxNodes = 96;
inline constexpr int kMaxGuards = 8;
inline constexpr int kMaxSymbols = 32;

// Integer index arithmetic over constants, symbols (dynamic extents bound at run time)
// and loop variables.
struct IndexNode {
  enum Op : std::uint8_t { constant, symbol, loop_var, add, sub, mul, floordiv, floormod, ceildiv, min } op = constant;
  std::int32_t a = -1, b = -1;  // operand nodes
  std::int64_t value = 0;       // constant: the value; symbol: its slot; loop_var: the loop's id
};

enum class LoopKind : std::uint8_t { serial, parallel, vectorized, unrolled };

constexpr const char* to_string(LoopKind kind) noexcept {
  switch (kind) {
    case LoopKind::serial: return "serial";
    case LoopKind::parallel: return "parallel";
    case LoopKind::vectorized: return "vectorized";
    case LoopKind::unrolled: return "unrolled";
  }
  return "?";
}

struct Loop {
  Name name;
  std::int32_t id = -1;         // stable identity; IndexNode::loop_var refers to it
  std::int32_t extent = -1;     // node: the trip count of a full tile
  std::int32_t tail_bound = -1; // node, for a separate tail: the trip count of this tile
  LoopKind kind = LoopKind::serial;
  bool reduction = false;
};

// value < bound, checked before the statement runs: a guarded split tail skips the
// statement past the bound; a padded axis (pad, Tail::round_up) writes zero there instead.
struct Guard {
  std::int32_t value = -1;
  std::int32_t bound = -1;
  bool pad = false;
};

// An illegal schedule: the primitive, the loop and what is wrong, in one message.
struct Diagnostic {
  bool failed = false;
  char message[160] = {};
};

struct LoopProgram {
  Name stage;
  // The compute's axes (spatial first, then reduction) and how each is rebuilt.
  Name axis_names[kMaxAxes] = {};
  bool axis_reduction[kMaxAxes] = {};
  std::int32_t axis_extent[kMaxAxes] = {};
  std::int32_t axis_value[kMaxAxes] = {};
  int axis_count = 0;
  int spatial_count = 0;
  Name symbols[kMaxSymbols] = {};
  int symbol_count = 0;

  Loop loops[kMaxLoops] = {};
  int loop_count = 0;
  IndexNode nodes[kMaxNodes] = {};
  int node_count = 0;
  Guard guards[kMaxGuards] = {};
  int guard_count = 0;

  // How a reduction starts: by testing for the first step in the statement (default), in a
  // separate init nest before the first reduction loop (decompose_reduction), or in a local
  // accumulator tile written back after the reduction (cache_write(local)).
  bool decomposed_init = false;
  bool local_accumulator = false;

  // storage_align: per axis, the stride of the stage's buffer is a multiple of
  // align_factor[a] plus align_offset[a] (factor 0: the natural row-major stride).
  std::int64_t align_factor[kMaxAxes] = {};
  std::int64_t align_offset[kMaxAxes] = {};
  // pad / Tail::round_up: per spatial axis, the buffer's extent is rounded up to a multiple
  // of pad_multiple[a] (0: not padded).
  std::int64_t pad_multiple[kMaxAxes] = {};
  // transform_layout: the order of the buffer's elements in memory (default: row-major).
  BufferLayout layout;

  // compute_at / reverse_compute_at: the stage runs over a region of its spatial axes whose
  // extent and origin (per axis) are symbols of this program only, set by the host stage;
  // axis_full_extent keeps the extents of the whole tensor.
  bool attached = false;
  int region_extent_slot[kMaxAxes] = {};
  int region_origin_slot[kMaxAxes] = {};
  std::int32_t axis_full_extent[kMaxAxes] = {};
  int kernel_symbol_count = 0;  // the symbols shared by every stage come first

  // tensorize: the loops from position `tensorize_at` inwards are replaced by `intrinsic`.
  int tensorize_at = -1;
  Intrinsic intrinsic = {};

  Diagnostic error;

  // The extent of the buffer along spatial axis `axis` whose tensor extent is `extent`: rounded
  // up to the multiple pad asks for.
  constexpr std::int64_t padded_extent(int axis, std::int64_t extent) const noexcept {
    const std::int64_t m = pad_multiple[axis];
    return m > 0 ? (extent + m - 1) / m * m : extent;
  }
  constexpr bool has_padding() const noexcept {
    for (int g = 0; g < guard_count; ++g)
      if (guards[g].pad) return true;
    return false;
  }
  constexpr int find_loop(const Name& name) const noexcept {
    for (int i = 0; i < loop_count; ++i)
      if (loops[i].name == name) return i;
    return -1;
  }
  constexpr int find_axis(const Name& name) const noexcept {
    for (int i = 0; i < axis_count; ++i)
      if (axis_names[i] == name) return i;
    return -1;
  }
  // The static value of a node, or -1 when it depends on a symbol or a loop variable.
  constexpr std::int64_t static_value(int node) const noexcept {
    const IndexNode& n = nodes[node];
    switch (n.op) {
      case IndexNode::constant: return n.value;
      case IndexNode::symbol:
      case IndexNode::loop_var: return -1;
      default: break;
    }
    const std::int64_t a = static_value(n.a), b = static_value(n.b);
    if (a < 0 || b < 0) return -1;
    switch (n.op) {
      case IndexNode::add: return a + b;
      case IndexNode::sub: return a - b;
      case IndexNode::mul: return a * b;
      case IndexNode::floordiv: return b ? a / b : -1;
      case IndexNode::floormod: return b ? a % b : -1;
      case IndexNode::ceildiv: return b ? (a + b - 1) / b : -1;
      case IndexNode::min: return a < b ? a : b;
      default: return -1;
    }
  }
  // Whether a node's value changes with the given loop's variable.
  constexpr bool depends_on_loop(int node, int loop_id) const noexcept {
    const IndexNode& n = nodes[node];
    if (n.op == IndexNode::loop_var) return n.value == loop_id;
    if (n.op == IndexNode::constant || n.op == IndexNode::symbol) return false;
    return depends_on_loop(n.a, loop_id) || depends_on_loop(n.b, loop_id);
  }
  // The coefficient of a loop variable in an affine node (value = c * var + rest), or 0
  // when the node is not affine in it with a static coefficient.
  constexpr std::int64_t unit_coefficient(int node, int loop_id) const noexcept {
    const IndexNode& n = nodes[node];
    switch (n.op) {
      case IndexNode::loop_var: return n.value == loop_id ? 1 : 0;
      case IndexNode::add:
        if (!depends_on_loop(n.a, loop_id)) return unit_coefficient(n.b, loop_id);
        if (!depends_on_loop(n.b, loop_id)) return unit_coefficient(n.a, loop_id);
        return 0;
      case IndexNode::mul: {
        if (!depends_on_loop(n.b, loop_id) && static_value(n.b) >= 0) return unit_coefficient(n.a, loop_id) * static_value(n.b);
        if (!depends_on_loop(n.a, loop_id) && static_value(n.a) >= 0) return unit_coefficient(n.b, loop_id) * static_value(n.a);
        return 0;
      }
      default: return 0;
    }
  }
};

} // namespace kiln::tir
