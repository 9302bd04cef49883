// kiln/tir/lower.hpp: lowering, the constexpr function that replays a schedule's primitives
// on a compute's loop nest and yields a LoopProgram, or a diagnostic naming the primitive
// and the loop when the schedule is illegal.
#pragma once

#include <cstdint>
#include <string_view>

#include "compute_spec.hpp"
#include "loop_program.hpp"
#include "schedule.hpp"

namespace kiln::tir {

namespace detail {

constexpr void append(Diagnostic& d, std::string_view text) noexcept {
  std::size_t n = 0;
  while (n < sizeof(d.message) - 1 && d.message[n] != '\0') ++n;
  for (char c : text) {
    if (n == sizeof(d.message) - 1) break;
    d.message[n++] = c;
  }
}
constexpr void append_number(Diagnostic& d, std::int64_t v) noexcept {
  char buf[24] = {};
  int n = 0;
  const bool negative = v < 0;
  std::uint64_t u = negative ? static_cast<std::uint64_t>(-(v + 1)) + 1 : static_cast<std::uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative) append(d, "-");
  for (int i = n - 1; i >= 0; --i) append(d, std::string_view(&buf[i], 1));
}

// Builds programs node by node; every step checks a capacity.
struct Builder {
  LoopProgram p;
  int next_loop_id = 0;
  int loop_var_node[kMaxLoops * 4] = {};  // loop id -> its loop_var node (rewritten by split/fuse)

  constexpr bool failed() const noexcept { return p.error.failed; }

  // "<primitive>("<loop>"): <what>"
  constexpr void fail(const char* primitive, const Name& loop, std::string_view what) noexcept {
    if (p.error.failed) return;
    p.error.failed = true;
    append(p.error, primitive);
    append(p.error, "(\"");
    append(p.error, loop.view());
    append(p.error, "\"): ");
    append(p.error, what);
  }

  constexpr int node(IndexNode n) noexcept {
    if (p.node_count == kMaxNodes) {
      fail("lower", p.stage, "the loop program needs more index nodes than kiln::tir::kMaxNodes");
      return 0;
    }
    p.nodes[p.node_count] = n;
    return p.node_count++;
  }
  constexpr int constant(std::int64_t v) noexcept { return node({IndexNode::constant, -1, -1, v}); }
  // Folds arithmetic on two constants so static extents stay visible as constants.
  constexpr int binary(IndexNode::Op op, int a, int b) noexcept {
    const IndexNode &na = p.nodes[a], &nb = p.nodes[b];
    if (na.op == IndexNode::constant && nb.op == IndexNode::constant) {
      const std::int64_t x = na.value, y = nb.value;
      switch (op) {
        case IndexNode::add: return constant(x + y);
        case IndexNode::sub: return constant(x - y);
        case IndexNode::mul: return constant(x * y);
        case IndexNode::floordiv: return constant(y ? x / y : 0);
        case IndexNode::floormod: return constant(y ? x % y : 0);
        case IndexNode::ceildiv: return constant(y ? (x + y - 1) / y : 0);
        case IndexNode::min: return constant(x < y ? x : y);
        default: break;
      }
    }
    return node({op, a, b, 0});
  }

  // The nodes of a derived extent (constants folded).
  constexpr int derived_extent(const AxisSpec& axis) noexcept {
    int mapped[kMaxExtentNodes] = {};
    for (int i = 0; i < axis.derived_count; ++i) {
      const IndexNode& n = axis.derived[i];
      if (n.op == IndexNode::constant) mapped[i] = constant(n.value);
      else if (n.op == IndexNode::symbol) mapped[i] = node(n);
      else mapped[i] = binary(n.op, mapped[n.a], mapped[n.b]);
    }
    return mapped[axis.derived_count - 1];
  }

  constexpr int new_loop(Name name, int extent, bool reduction, int position) noexcept {
    if (p.loop_count == kMaxLoops) {
      fail("lower", name, "the loop nest has more loops than kiln::tir::kMaxLoops");
      return 0;
    }
    for (int i = p.loop_count; i > position; --i) p.loops[i] = p.loops[i - 1];
    Loop& l = p.loops[position];
    l = Loop{};
    l.name = name;
    l.id = next_loop_id++;
    l.extent = extent;
    l.reduction = reduction;
    ++p.loop_count;
    loop_var_node[l.id] = node({IndexNode::loop_var, -1, -1, l.id});
    return position;
  }
  constexpr void erase_loop(int position) noexcept {
    for (int i = position; i + 1 < p.loop_count; ++i) p.loops[i] = p.loops[i + 1];
    --p.loop_count;
  }
  // Every index expression that used this loop's variable now uses `replacement`.
  constexpr void substitute(int loop_id, IndexNode replacement) noexcept {
    p.nodes[loop_var_node[loop_id]] = replacement;
  }

  constexpr int require_loop(const char* primitive, const Name& name) noexcept {
    const int at = p.find_loop(name);
    if (at < 0) fail(primitive, name, "no loop of that name in the loop nest");
    return at;
  }
  constexpr bool require_unannotated(const char* primitive, const Loop& l) noexcept {
    if (l.kind != LoopKind::serial) {
      Diagnostic d;
      append(d, "the loop is already ");
      append(d, to_string(l.kind));
      fail(primitive, l.name, d.message);
      return false;
    }
    return true;
  }

  // transform_layout: the order (and blocking) of the stage's buffer in memory.
  constexpr void transform_layout(const Primitive& t) noexcept {
    const char* primitive = "transform_layout";
    BufferLayout& layout = p.layout;
    if (t.loop_count > kMaxLoopsPerPrimitive || t.loop_count > kMaxLayoutDims)
      return fail(primitive, p.stage, "the layout has more dimensions than a primitive holds");
    if (p.attached) return fail(primitive, p.stage, "a stage computed at another stage's loop stores its regions densely");
    if (layout.transformed()) return fail(primitive, p.stage, "the layout of the stage's buffer is already transformed");
    for (int a = 0; a < p.spatial_count; ++a)
      if (p.align_factor[a] > 0)
        return fail(primitive, p.axis_names[a], "the axis is storage_align'ed; transform_layout sets every stride itself");
    const bool blocked = !t.results[0].empty();
    const int blocked_axis = blocked ? p.find_axis(t.results[0]) : -1;
    if (blocked) {
      if (blocked_axis < 0 || blocked_axis >= p.spatial_count)
        return fail(primitive, t.results[0], "the stage has no spatial axis of that name to block");
      if (t.factor <= 0) return fail(primitive, t.results[0], "the block factor must be positive");
      if (!(t.loops[t.loop_count - 1] == t.results[0] + ".i"))
        return fail(primitive, t.loops[t.loop_count - 1], "the position inside a block (<axis>.i) must come last");
    }
    bool listed[kMaxAxes] = {};
    int dims = 0;
    for (int i = 0; i < t.loop_count - (blocked ? 1 : 0); ++i) {
      const Name& n = t.loops[i];
      int a = -1;
      if (blocked && n == t.results[0] + ".o") a = blocked_axis;
      else if (!(blocked && n == t.results[0])) a = p.find_axis(n);
      if (a < 0 || a >= p.spatial_count)
        return fail(primitive, n,
                    blocked ? "not a spatial axis of the stage, nor the blocked axis's <axis>.o or <axis>.i"
                            : "not a spatial axis of the stage");
      if (listed[a]) return fail(primitive, n, "the axis is listed twice");
      listed[a] = true;
      layout.order[dims++] = static_cast<std::int8_t>(a);
    }
    for (int a = 0; a < p.spatial_count; ++a)
      if (!listed[a]) return fail(primitive, p.axis_names[a], "the layout does not list this axis of the stage");
    layout.rank = dims;
    layout.blocked_axis = blocked_axis;
    layout.block = blocked ? t.factor : 0;
  }

  // pad (and Tail::round_up): the loop over a spatial axis, as declared, runs up to the next
  // multiple; a pad guard turns the statement past the axis's extent into a zero store.
  constexpr void pad(const char* primitive, const Name& name, std::int64_t multiple) noexcept {
    const int at = require_loop(primitive, name);
    if (failed()) return;
    if (multiple <= 0) return fail(primitive, name, "the factor must be positive");
    if (p.attached)
      return fail(primitive, name, "a stage computed at another stage's loop stores its regions densely");
    Loop& l = p.loops[at];
    const int var = loop_var_node[l.id];
    int axis = -1;
    for (int a = 0; a < p.axis_count; ++a)
      if (p.axis_value[a] == var) axis = a;
    if (axis < 0 || p.nodes[var].op != IndexNode::loop_var)
      return fail(primitive, name, "the loop is not an axis of the stage as declared (pad before splitting or fusing)");
    if (p.axis_reduction[axis])
      return fail(primitive, name, "the loop is a reduction loop; only the spatial axes of a buffer can be padded");
    if (p.pad_multiple[axis] != 0) return fail(primitive, name, "the axis is already padded");
    p.pad_multiple[axis] = multiple;
    const std::int64_t e = p.static_value(l.extent);
    if (e >= 0 && e % multiple == 0) return;  // nothing to pad
    if (p.guard_count == kMaxGuards) return fail(primitive, name, "more guards than kiln::tir::kMaxGuards");
    p.guards[p.guard_count++] = Guard{var, l.extent, true};
    const int m = constant(multiple);
    l.extent = binary(IndexNode::mul, binary(IndexNode::ceildiv, l.extent, m), m);
  }

  constexpr void split(const Primitive& s) noexcept {
    const int at = require_loop("split", s.loops[0]);
    if (failed()) return;
    if (s.factor <= 0) return fail("split", s.loops[0], "the factor must be positive");
    if (s.results[0] == s.results[1] || (p.find_loop(s.results[0]) >= 0 && !(s.results[0] == s.loops[0])) ||
        (p.find_loop(s.results[1]) >= 0 && !(s.results[1] == s.loops[0])))
      return fail("split", s.loops[0], "the new loop names clash with existing loops");
    if (s.tail == Tail::round_up) {
      if (!require_unannotated("split", p.loops[at])) return;
      pad("split", s.loops[0], s.factor);
      if (failed()) return;
    }
    const Loop old = p.loops[at];
    if (!require_unannotated("split", old)) return;
    if (old.tail_bound >= 0) return fail("split", old.name, "a loop with a separate tail cannot be split again");
    const int factor = constant(s.factor);
    const int outer_extent = binary(IndexNode::ceildiv, old.extent, factor);
    erase_loop(at);
    const int outer = new_loop(s.results[0], outer_extent, old.reduction, at);
    const int inner = new_loop(s.results[1], factor, old.reduction, at + 1);
    const int outer_id = p.loops[outer].id, inner_id = p.loops[inner].id;
    const int value = binary(IndexNode::add, binary(IndexNode::mul, loop_var_node[outer_id], factor),
                             loop_var_node[inner_id]);
    // The old variable becomes outer * factor + inner wherever it was used.
    const IndexNode rebuilt = p.nodes[value];
    substitute(old.id, rebuilt);
    const std::int64_t e = p.static_value(old.extent);
    // A round-up split divides its padded extent.
    const bool divides = (e >= 0 && e % s.factor == 0) || s.tail == Tail::round_up;
    if (divides || failed()) return;
    if (s.tail == Tail::guard) {
      if (p.guard_count == kMaxGuards) return fail("split", old.name, "more guarded tails than kiln::tir::kMaxGuards");
      p.guards[p.guard_count++] = Guard{loop_var_node[old.id], old.extent};
    } else {
      // The last outer iteration runs min(factor, extent - outer * factor) inner iterations.
      const int rest = binary(IndexNode::sub, old.extent, binary(IndexNode::mul, loop_var_node[outer_id], factor));
      p.loops[inner].tail_bound = binary(IndexNode::min, factor, rest);
    }
  }

  constexpr void fuse(const Primitive& s) noexcept {
    const int a = require_loop("fuse", s.loops[0]);
    const int b = require_loop("fuse", s.loops[1]);
    if (failed()) return;
    if (b != a + 1) return fail("fuse", s.loops[1], "the loop is not directly inside the loop it is fused with");
    const Loop outer = p.loops[a], inner = p.loops[b];
    if (outer.reduction != inner.reduction)
      return fail("fuse", s.loops[1], "a reduction loop cannot be fused with a spatial loop");
    if (!require_unannotated("fuse", outer) || !require_unannotated("fuse", inner)) return;
    if (outer.tail_bound >= 0 || inner.tail_bound >= 0)
      return fail("fuse", inner.tail_bound >= 0 ? inner.name : outer.name, "a loop with a separate tail cannot be fused");
    if (p.find_loop(s.results[0]) >= 0 && !(s.results[0] == outer.name) && !(s.results[0] == inner.name))
      return fail("fuse", s.loops[0], "the name of the fused loop clashes with an existing loop");
    const int extent = binary(IndexNode::mul, outer.extent, inner.extent);
    erase_loop(b);
    erase_loop(a);
    const int fused = new_loop(s.results[0], extent, outer.reduction, a);
    const int var = loop_var_node[p.loops[fused].id];
    substitute(outer.id, IndexNode{IndexNode::floordiv, var, inner.extent, 0});
    substitute(inner.id, IndexNode{IndexNode::floormod, var, inner.extent, 0});
  }

  constexpr void reorder(const Primitive& s) noexcept {
    int positions[kMaxLoopsPerPrimitive] = {};
    for (int i = 0; i < s.loop_count; ++i) {
      positions[i] = require_loop("reorder", s.loops[i]);
      if (failed()) return;
      for (int j = 0; j < i; ++j)
        if (positions[j] == positions[i]) return fail("reorder", s.loops[i], "the loop is listed twice");
    }
    // The listed loops fill their own (sorted) positions in the order given.
    int sorted[kMaxLoopsPerPrimitive] = {};
    for (int i = 0; i < s.loop_count; ++i) sorted[i] = positions[i];
    for (int i = 1; i < s.loop_count; ++i)
      for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) {
        const int t = sorted[j];
        sorted[j] = sorted[j - 1];
        sorted[j - 1] = t;
      }
    Loop moved[kMaxLoopsPerPrimitive] = {};
    for (int i = 0; i < s.loop_count; ++i) moved[i] = p.loops[positions[i]];
    for (int i = 0; i < s.loop_count; ++i) p.loops[sorted[i]] = moved[i];
    // A separate tail's bound reads its outer loop, which must stay outside it.
    for (int i = 0; i < p.loop_count; ++i) {
      if (p.loops[i].tail_bound < 0) continue;
      for (int j = i + 1; j < p.loop_count; ++j)
        if (p.depends_on_loop(p.loops[i].tail_bound, p.loops[j].id))
          return fail("reorder", p.loops[j].name, "the loop would move inside the tail loop it bounds");
    }
  }

  constexpr void annotate(const Primitive& s, LoopKind kind) noexcept {
    const char* primitive = to_string(s.kind);
    const int at = require_loop(primitive, s.loops[0]);
    if (failed()) return;
    Loop& l = p.loops[at];
    if (!require_unannotated(primitive, l)) return;
    if (kind == LoopKind::vectorized || kind == LoopKind::parallel) {
      if (l.reduction) {
        return fail(primitive, l.name,
                    kind == LoopKind::vectorized
                        ? "the loop is a reduction loop; only spatial loops can be vectorized (rfactor it first)"
                        : "the loop is a reduction loop; only spatial loops can run in parallel");
      }
    }
    if (kind == LoopKind::unrolled && p.static_value(l.extent) < 0)
      return fail(primitive, l.name, "the extent of the loop is not static; only static loops can be unrolled");
    if (kind == LoopKind::vectorized && p.static_value(l.extent) < 0)
      return fail(primitive, l.name, "the extent of the loop is not static; split it and vectorize the inner loop");
    l.kind = kind;
  }
};

} // namespace detail

// The number of outputs the spatial loops inside the first reduction loop cover, or -1 when
// one of them has a dynamic extent (or a separate tail).
constexpr std::int64_t reduction_tile(const LoopProgram& p) noexcept {
  int first = 0;
  while (first < p.loop_count && !p.loops[first].reduction) ++first;
  std::int64_t tile = 1;
  for (int i = first + 1; i < p.loop_count; ++i) {
    if (p.loops[i].reduction) continue;
    const std::int64_t e = p.static_value(p.loops[i].extent);
    if (e < 0 || p.loops[i].tail_bound >= 0) return -1;
    tile *= e;
  }
  return tile;
}

// The most elements a local accumulator tile (cache_write(local)) may hold.
inline constexpr std::int64_t kMaxLocalTile = 1024;

namespace detail {

// The only axis a loop steps, when it steps exactly one with coefficient one; else -1.
constexpr int unit_axis_of(const LoopProgram& p, const Loop& l) noexcept {
  int axis = -1;
  for (int a = 0; a < p.axis_count; ++a) {
    if (!p.depends_on_loop(p.axis_value[a], l.id)) continue;
    if (axis >= 0 || p.unit_coefficient(p.axis_value[a], l.id) != 1) return -1;
    axis = a;
  }
  return axis;
}

// tensorize("k", gemm intrinsic): the loops from "k" inwards are exactly k (the only
// reduction axis, stepped by one), then the rows and the columns of the output's last two
// axes, stepped by one, with the intrinsic's tile as static extents.
constexpr void check_tensorize(Builder& b, const Name& loop) noexcept {
  LoopProgram& p = b.p;
  const Intrinsic& in = p.intrinsic;
  const int at = p.find_loop(loop);
  if (at < 0) return b.fail("tensorize", loop, "no loop of that name in the loop nest");
  if (p.local_accumulator)
    return b.fail("tensorize", loop, "the intrinsic keeps its own accumulators; drop cache_write(local)");
  if (p.axis_count != p.spatial_count + 1 || p.spatial_count < 2)
    return b.fail("tensorize", loop, "the gemm pattern needs two or more spatial axes and one reduction axis");
  if (at + 3 != p.loop_count)
    return b.fail("tensorize", loop, "the gemm pattern needs exactly three loops from here inwards: k, rows, columns");
  const Loop &k = p.loops[at], &rows = p.loops[at + 1], &cols = p.loops[at + 2];
  if (!k.reduction || unit_axis_of(p, k) != p.spatial_count)
    return b.fail("tensorize", k.name, "the loop must step the reduction axis by one");
  if (rows.reduction || unit_axis_of(p, rows) != p.spatial_count - 2)
    return b.fail("tensorize", rows.name, "the loop must step the output's second-to-last axis by one");
  if (cols.reduction || unit_axis_of(p, cols) != p.spatial_count - 1)
    return b.fail("tensorize", cols.name, "the loop must step the output's last axis by one");
  if (p.static_value(rows.extent) != in.rows || p.static_value(cols.extent) != in.cols)
    return b.fail("tensorize", rows.name, "the extents of the row and column loops differ from the intrinsic's tile");
  if (rows.tail_bound >= 0 || cols.tail_bound >= 0)
    return b.fail("tensorize", rows.name, "a tile loop has a separate tail; use a guarded tail");
  for (int i = at; i < p.loop_count; ++i)
    if (p.loops[i].kind == LoopKind::parallel) return b.fail("tensorize", p.loops[i].name, "the loop is parallel");
  p.tensorize_at = at;
}

// Checks that apply once every primitive has run.
constexpr void check_final(Builder& b) noexcept {
  LoopProgram& p = b.p;
  if (p.local_accumulator) {
    const std::int64_t tile = reduction_tile(p);
    if (tile < 0)
      b.fail("cache_write", p.stage,
             "a spatial loop inside the first reduction loop has a dynamic extent; the local tile must be static");
    else if (tile > kMaxLocalTile)
      b.fail("cache_write", p.stage, "the local tile is larger than kiln::tir::kMaxLocalTile elements");
  }
  for (int i = 0; i < p.loop_count && !b.failed(); ++i) {
    const Loop& l = p.loops[i];
    if (l.kind == LoopKind::vectorized) {
      if (i != p.loop_count - 1) b.fail("vectorize", l.name, "the loop is not the innermost loop");
      // The vector lanes must walk one axis with unit step.
      if (!b.failed() && unit_axis_of(p, l) < 0)
        b.fail("vectorize", l.name, "the loop does not step one axis by one (it comes from a fuse)");
    }
    if (l.kind == LoopKind::parallel && i != 0) {
      for (int j = 0; j < i; ++j)
        if (p.loops[j].kind != LoopKind::parallel)
          b.fail("parallel", l.name, "the loop is inside a serial loop; fuse the outer loops and parallelize the fused loop");
    }
  }
}

} // namespace detail

// Lowers one stage under the primitives of a schedule that name it. The result's `error` is
// set for an illegal schedule.
constexpr LoopProgram lower(const ComputeSpec& spec, const Schedule& s) noexcept {
  detail::Builder b;
  LoopProgram& p = b.p;
  p.stage = spec.stage;
  if (spec.too_many) {
    b.fail("lower", spec.stage, "the compute has more axes or symbolic extents than a loop program holds");
    return p;
  }
  if (s.overflow) {
    b.fail("schedule", s.current, "the schedule has more primitives than kiln::tir::kMaxPrimitives");
    return p;
  }
  for (int i = 0; i < spec.symbol_count; ++i) p.symbols[i] = spec.symbols[i];
  p.symbol_count = spec.symbol_count;
  p.kernel_symbol_count = spec.symbol_count;
  p.axis_count = spec.axis_count;
  p.spatial_count = spec.spatial_count;
  p.attached = s.attachment(spec.stage) >= 0;
  if (p.attached && p.symbol_count + 2 * spec.spatial_count > kMaxSymbols) {
    b.fail("compute_at", spec.stage, "the region of the stage needs more symbols than kiln::tir::kMaxSymbols");
    return p;
  }
  // The default nest: spatial axes outside, reductions inside, in declaration order. An
  // attached stage's spatial loops cover its region: origin + loop variable.
  for (int a = 0; a < spec.axis_count; ++a) {
    const AxisSpec& axis = spec.axes[a];
    const int full = axis.static_extent >= 0 ? b.constant(axis.static_extent)
                     : axis.derived_count > 0 ? b.derived_extent(axis)
                                              : b.node({IndexNode::symbol, -1, -1, axis.symbol});
    p.axis_names[a] = axis.name;
    p.axis_reduction[a] = axis.reduction;
    p.axis_full_extent[a] = full;
    int extent = full;
    int origin = -1;
    if (p.attached && !axis.reduction) {
      p.region_extent_slot[a] = p.symbol_count;
      p.symbols[p.symbol_count++] = spec.stage + "." + axis.name + ".extent";
      p.region_origin_slot[a] = p.symbol_count;
      p.symbols[p.symbol_count++] = spec.stage + "." + axis.name + ".origin";
      extent = b.node({IndexNode::symbol, -1, -1, p.region_extent_slot[a]});
      origin = b.node({IndexNode::symbol, -1, -1, p.region_origin_slot[a]});
    }
    p.axis_extent[a] = extent;
    const int at = b.new_loop(axis.name, extent, axis.reduction, p.loop_count);
    const int var = b.loop_var_node[p.loops[at].id];
    p.axis_value[a] = origin < 0 ? var : b.node({IndexNode::add, origin, var, 0});
  }
  Name tensorized;
  for (int i = 0; i < s.count && !b.failed(); ++i) {
    const Primitive& prim = s.primitives[i];
    if (!(prim.stage == spec.stage)) continue;  // another stage's
    switch (prim.kind) {
      case PrimitiveKind::split: b.split(prim); break;
      case PrimitiveKind::fuse: b.fuse(prim); break;
      case PrimitiveKind::reorder: b.reorder(prim); break;
      case PrimitiveKind::parallel: b.annotate(prim, LoopKind::parallel); break;
      case PrimitiveKind::vectorize: b.annotate(prim, LoopKind::vectorized); break;
      case PrimitiveKind::unroll: b.annotate(prim, LoopKind::unrolled); break;
      case PrimitiveKind::bind:
        b.fail("bind", prim.loops[0], "the CPU backend has no GPU thread axes to bind to");
        break;
      case PrimitiveKind::compute_inline:
      case PrimitiveKind::reverse_compute_inline:
      case PrimitiveKind::compute_at:
      case PrimitiveKind::reverse_compute_at:
      case PrimitiveKind::rfactor:
        break;  // stage-level: checked by check_stages and the stage plan, applied by the backend
      case PrimitiveKind::cache_write:
        if (prim.scope == Scope::global) break;  // a stage of its own (tir/cache.hpp)
        if (prim.scope == Scope::shared)
          b.fail("cache_write", spec.stage, "the CPU backend has no shared memory (shared scope is for GPUs)");
        else if (spec.axis_count == spec.spatial_count)
          b.fail("cache_write", spec.stage, "the stage is not a reduction; only reductions cache their writes locally");
        else
          p.local_accumulator = true;
        break;
      case PrimitiveKind::storage_align: {
        const int a = p.find_axis(prim.loops[0]);
        if (a < 0 || a >= spec.spatial_count)
          b.fail("storage_align", prim.loops[0], "the stage has no spatial axis of that name");
        else if (prim.factor <= 0 || prim.align_offset < 0 || prim.align_offset >= prim.factor)
          b.fail("storage_align", prim.loops[0], "the factor must be positive and the offset in [0, factor)");
        else if (p.attached)
          b.fail("storage_align", prim.loops[0], "a stage computed at another stage's loop stores its regions densely");
        else if (p.layout.transformed())
          b.fail("storage_align", prim.loops[0], "the stage's layout is transformed, which sets every stride itself");
        else {
          p.align_factor[a] = prim.factor;
          p.align_offset[a] = prim.align_offset;
        }
        break;
      }
      case PrimitiveKind::cache_read:
        if (prim.scope == Scope::shared)
          b.fail("cache_read", prim.loops[0], "the CPU backend has no shared memory (shared scope is for GPUs)");
        break;  // the copy is a stage of its own (tir/cache.hpp)
      case PrimitiveKind::tensorize:
        if (b.require_loop("tensorize", prim.loops[0]) >= 0) {
          if (!p.intrinsic.empty()) b.fail("tensorize", prim.loops[0], "the stage is already tensorized");
          tensorized = prim.loops[0];
          p.intrinsic = prim.intrinsic;
        }
        break;
      case PrimitiveKind::pad: b.pad("pad", prim.loops[0], prim.factor); break;
      case PrimitiveKind::transform_layout: b.transform_layout(prim); break;
      case PrimitiveKind::decompose_reduction:
        if (spec.axis_count == spec.spatial_count)
          b.fail("decompose_reduction", spec.stage, "the stage is not a reduction");
        else
          p.decomposed_init = true;
        break;
    }
  }
  if (!b.failed() && !p.intrinsic.empty()) detail::check_tensorize(b, tensorized);
  if (!b.failed()) detail::check_final(b);
  return p;
}

} // namespace kiln::tir
