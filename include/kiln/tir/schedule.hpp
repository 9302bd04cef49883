// kiln/tir/schedule.hpp: a schedule, the second half of a kernel: a constexpr value (usable as
// a template argument) recording primitives in the order they were applied, with TVM's
// semantics. Lowering (tir/lower.hpp) replays them on the compute's loop nest and rejects an
// illegal schedule at compile time, naming the primitive and the loop.
#pragma once

#include <cstdint>

#include "../core/name.hpp"
#include "intrinsic.hpp"

namespace kiln::tir {

// What happens to the last, partial tile when a split factor does not divide the extent.
enum class Tail : std::uint8_t {
  guard,     // one loop nest; iterations past the extent are masked by a predicate
  separate,  // full tiles run a loop with a static extent; the last tile a shorter loop
  round_up,  // the stage's buffer is padded to a multiple of the factor (pad) and every tile
             // is full: no predicate on the loops, zeros written past the extent
};

enum class PrimitiveKind : std::uint8_t {
  split,
  fuse,
  reorder,
  parallel,
  vectorize,
  unroll,
  bind,
  compute_inline,
  reverse_compute_inline,
  cache_write,
  cache_read,
  storage_align,
  rfactor,
  decompose_reduction,
  tensorize,
  compute_at,
  reverse_compute_at,
  pad,
  transform_layout,
};

// Where a cached buffer lives: registers/stack (local), GPU workgroup memory (shared), or
// main memory (global).
enum class Scope : std::uint8_t { global, shared, local };

constexpr const char* to_string(Scope scope) noexcept {
  switch (scope) {
    case Scope::global: return "global";
    case Scope::shared: return "shared";
    case Scope::local: return "local";
  }
  return "?";
}

// The name of the copy of `tensor` that cache_read makes (and of the stage cache_write(global)
// moves a computation to).
constexpr Name cache_name(const Name& tensor, Scope scope) noexcept { return tensor + "_" + to_string(scope); }
// The name of the stage of partial results that rfactor adds.
constexpr Name rfactor_name(const Name& stage) noexcept { return stage + "_rf"; }

constexpr const char* to_string(PrimitiveKind kind) noexcept {
  switch (kind) {
    case PrimitiveKind::split: return "split";
    case PrimitiveKind::fuse: return "fuse";
    case PrimitiveKind::reorder: return "reorder";
    case PrimitiveKind::parallel: return "parallel";
    case PrimitiveKind::vectorize: return "vectorize";
    case PrimitiveKind::unroll: return "unroll";
    case PrimitiveKind::bind: return "bind";
    case PrimitiveKind::compute_inline: return "compute_inline";
    case PrimitiveKind::reverse_compute_inline: return "reverse_compute_inline";
    case PrimitiveKind::cache_write: return "cache_write";
    case PrimitiveKind::cache_read: return "cache_read";
    case PrimitiveKind::storage_align: return "storage_align";
    case PrimitiveKind::rfactor: return "rfactor";
    case PrimitiveKind::decompose_reduction: return "decompose_reduction";
    case PrimitiveKind::tensorize: return "tensorize";
    case PrimitiveKind::compute_at: return "compute_at";
    case PrimitiveKind::reverse_compute_at: return "reverse_compute_at";
    case PrimitiveKind::pad: return "pad";
    case PrimitiveKind::transform_layout: return "transform_layout";
  }
  return "?";
}

// GPU thread axes for bind (kept in the schedule so one schedule can target several
// backends; the CPU backend rejects them).
enum class ThreadAxis : std::uint8_t { block_x, block_y, block_z, thread_x, thread_y, thread_z };

// transform_layout's blocking: `axis` stored in blocks of `factor` elements.
struct Blocking {
  Name axis;
  std::int64_t factor = 0;
};
constexpr Blocking block(Name axis, std::int64_t factor) noexcept { return {axis, factor}; }

inline constexpr int kMaxPrimitives = 24;
inline constexpr int kMaxLoopsPerPrimitive = 8;

struct Primitive {
  PrimitiveKind kind = PrimitiveKind::split;
  Name stage;                              // the stage it applies to
  Name loops[kMaxLoopsPerPrimitive] = {};  // the loops it applies to
  int loop_count = 0;
  std::int64_t factor = 0;                 // split, storage_align, rfactor, pad, transform_layout
  std::int64_t align_offset = 0;           // storage_align
  Tail tail = Tail::guard;                 // split
  Name results[2] = {};                    // names of the loops it creates (split: outer, inner);
                                           // compute_at / reverse_compute_at: the other stage;
                                           // transform_layout: the blocked axis
  ThreadAxis thread_axis = ThreadAxis::block_x;  // bind
  Scope scope = Scope::global;                   // cache_write, cache_read
  Intrinsic intrinsic = {};                      // tensorize
};

// A schedule for the stages of one kernel. Primitives apply to the current stage, set by
// schedule("C") and changed with .stage("D").
struct Schedule {
  Name current;  // the stage the next primitive applies to
  Primitive primitives[kMaxPrimitives] = {};
  int count = 0;
  bool overflow = false;  // more primitives than fit; lowering reports it

  constexpr explicit Schedule(Name stage_name) noexcept : current(stage_name) {}

  // Primitives after this apply to `name`.
  constexpr Schedule stage(Name name) const noexcept {
    Schedule s = *this;
    s.current = name;
    return s;
  }

  // The current stage is not materialized: every read of it computes its body in place.
  // Only injective (non-reduction) stages other than the kernel's output can be inlined.
  constexpr Schedule compute_inline() const noexcept {
    return with(one(PrimitiveKind::compute_inline, current));
  }
  // The current stage, an elementwise consumer of one producer, becomes the producer's
  // epilogue: applied to each element right after the producer computed it (bias,
  // activation, residual add after a matmul or conv).
  constexpr Schedule reverse_compute_inline() const noexcept {
    return with(one(PrimitiveKind::reverse_compute_inline, current));
  }

  // local: the current reduction stage accumulates the tile of outputs that the spatial
  // loops inside its first reduction loop cover in registers, initialized before that loop
  // and written back (through any epilogue) after it. global: the stage's computation moves
  // to a new stage "<stage>_global" and the stage becomes a copy of it (tir/cache.hpp).
  constexpr Schedule cache_write(Scope scope) const noexcept {
    Primitive p = one(PrimitiveKind::cache_write, current);
    p.scope = scope;
    return with(p);
  }
  // The current stage reads `tensor` (an input or a stage) through a copy, the new stage
  // "<tensor>_<scope>" (tir/cache.hpp), to be placed with compute_at and scheduled like any.
  constexpr Schedule cache_read(Name tensor, Scope scope) const noexcept {
    Primitive p = one(PrimitiveKind::cache_read, tensor);
    p.scope = scope;
    return with(p);
  }
  // The stride of `axis` in the current stage's buffer is padded to factor * q + offset for
  // some q (to keep rows on cache-line or vector boundaries, or off a power of two that makes
  // rows collide in the cache). The stage must have a buffer of its own, not the caller's.
  constexpr Schedule storage_align(Name axis, std::int64_t factor, std::int64_t offset) const noexcept {
    Primitive p = one(PrimitiveKind::storage_align, axis);
    p.factor = factor;
    p.align_offset = offset;
    return with(p);
  }
  // The current stage's buffer is padded along spatial axis `axis` to a multiple of
  // `multiple`, and its loop over the axis covers the padding, which is written with zeros:
  // consumers that read whole tiles (a tensorized matmul reading a packed operand) then read
  // zeros instead of running past the tensor. Applies to the axis's own loop, before it is
  // split or fused, on a stage with a buffer of its own (not the kernel's output).
  // split(axis, f, Tail::round_up) is pad(axis, f) followed by a split without a tail.
  constexpr Schedule pad(Name axis, std::int64_t multiple) const noexcept {
    Primitive p = one(PrimitiveKind::pad, axis);
    p.factor = multiple;
    return with(p);
  }
  // The current stage's buffer stores its elements in the order `order`, outermost first,
  // which names each spatial axis of the stage once (a transposed copy: "j", "i"). Its
  // expressions and its consumers keep indexing it by its axes as declared. A stage with a
  // buffer of its own only (not the kernel's output, not computed at another's loop).
  template <class... Names>
  constexpr Schedule transform_layout(Name outermost, Names... rest) const noexcept {
    return transform_layout(Blocking{}, outermost, Name(rest)...);
  }
  // The same with one axis stored in blocks: the order names "<axis>.o", the block index,
  // where the blocks go, and ends with "<axis>.i", the position inside a block. NCHW to
  // NCHW16c: transform_layout(tir::block("c", 16), "n", "c.o", "h", "w", "c.i"); a packed
  // GEMM panel of B[k, j]: transform_layout(tir::block("j", 16), "j.o", "k", "j.i"). A
  // vectorized loop over the blocked axis stores (and its consumers load) whole vectors
  // where they lie in one block. pad(axis, factor) first fills the last block with zeros.
  template <class... Names>
  constexpr Schedule transform_layout(Blocking blocked, Name outermost, Names... rest) const noexcept {
    Primitive p = one(PrimitiveKind::transform_layout, outermost);
    const Name names[] = {Name(rest)..., Name()};
    for (std::size_t i = 0; i < sizeof...(rest); ++i) {
      // Past the capacity the count still grows, and lowering reports it.
      if (p.loop_count < kMaxLoopsPerPrimitive) p.loops[p.loop_count] = names[i];
      ++p.loop_count;
    }
    p.factor = blocked.factor;
    p.results[0] = blocked.axis;
    return with(p);
  }
  // The current reduction stage's axis `axis` (static extent) becomes axis.o * factor +
  // axis.i; a new stage "<stage>_rf" reduces over axis.o with axis.i as a spatial axis, and
  // the stage reduces its partial results over axis.i (tir/rfactor.hpp).
  constexpr Schedule rfactor(Name axis, std::int64_t factor) const noexcept {
    Primitive p = one(PrimitiveKind::rfactor, axis);
    p.factor = factor;
    return with(p);
  }
  // The current reduction stage initializes its outputs in a loop nest of its own, placed
  // before its first reduction loop, instead of testing for the first reduction step.
  constexpr Schedule decompose_reduction() const noexcept {
    return with(one(PrimitiveKind::decompose_reduction, current));
  }

  // The loop nest from `loop` inwards is replaced by a tensor intrinsic: for the gemm
  // pattern, `loop` is the reduction loop and the two loops inside it, in order, step the
  // output's rows and columns by one with the intrinsic's tile as their extents. Tiles cut
  // by a guarded tail, or operands that are not contiguous, run the loops as scheduled.
  constexpr Schedule tensorize(Name loop, Intrinsic intrinsic) const noexcept {
    Primitive p = one(PrimitiveKind::tensorize, loop);
    p.intrinsic = intrinsic;
    return with(p);
  }

  // The current stage is computed inside loop `loop` of its consumer `consumer`: at the start
  // of each iteration, over the region of it that the iteration reads (found at run time by
  // interval arithmetic on the consumer's indices), instead of all at once beforehand.
  constexpr Schedule compute_at(Name consumer, Name loop) const noexcept {
    Primitive p = one(PrimitiveKind::compute_at, loop);
    p.results[0] = consumer;
    return with(p);
  }
  // The current stage, which reads `producer` at its own axes, is computed inside loop `loop`
  // of the producer: at the end of each iteration, over the region the iteration produced.
  constexpr Schedule reverse_compute_at(Name producer, Name loop) const noexcept {
    Primitive p = one(PrimitiveKind::reverse_compute_at, loop);
    p.results[0] = producer;
    return with(p);
  }
  // The index of a stage's compute_at or reverse_compute_at primitive, or -1.
  constexpr int attachment(const Name& stage_name) const noexcept {
    for (int i = 0; i < count; ++i)
      if ((primitives[i].kind == PrimitiveKind::compute_at || primitives[i].kind == PrimitiveKind::reverse_compute_at) &&
          primitives[i].stage == stage_name)
        return i;
    return -1;
  }

  // Whether a stage has one of the two inline primitives.
  constexpr bool has(PrimitiveKind kind, const Name& stage_name) const noexcept {
    for (int i = 0; i < count; ++i)
      if (primitives[i].kind == kind && primitives[i].stage == stage_name) return true;
    return false;
  }

  // Splits `loop` into `loop.o` (outer) and `loop.i` (inner, extent `factor`).
  constexpr Schedule split(Name loop, std::int64_t factor, Tail tail = Tail::guard) const noexcept {
    return split(loop, factor, tail, loop + ".o", loop + ".i");
  }
  constexpr Schedule split(Name loop, std::int64_t factor, Tail tail, Name outer, Name inner) const noexcept {
    Primitive p = one(PrimitiveKind::split, loop);
    p.factor = factor;
    p.tail = tail;
    p.results[0] = outer;
    p.results[1] = inner;
    return with(p);
  }

  // Fuses `outer` with `inner`, the loop directly inside it, into one loop (named
  // `outer_inner` unless a name is given).
  constexpr Schedule fuse(Name outer, Name inner) const noexcept {
    return fuse(outer, inner, outer + "_" + inner);
  }
  constexpr Schedule fuse(Name outer, Name inner, Name fused) const noexcept {
    Primitive p = one(PrimitiveKind::fuse, outer);
    p.loops[1] = inner;
    p.loop_count = 2;
    p.results[0] = fused;
    return with(p);
  }

  // The named loops take the positions the named loops occupy, in the order given.
  template <class... Names>
  constexpr Schedule reorder(Name first, Names... rest) const noexcept {
    Primitive p = one(PrimitiveKind::reorder, first);
    for (Name n : {Name(rest)...}) {
      if (p.loop_count < kMaxLoopsPerPrimitive) p.loops[p.loop_count++] = n;
    }
    return with(p);
  }

  // split x and y, then reorder to x.o, y.o, x.i, y.i.
  constexpr Schedule tile(Name x, Name y, std::int64_t x_factor, std::int64_t y_factor,
                          Tail tail = Tail::guard) const noexcept {
    return split(x, x_factor, tail).split(y, y_factor, tail).reorder(x + ".o", y + ".o", x + ".i", y + ".i");
  }

  constexpr Schedule parallel(Name loop) const noexcept { return with(one(PrimitiveKind::parallel, loop)); }
  constexpr Schedule vectorize(Name loop) const noexcept { return with(one(PrimitiveKind::vectorize, loop)); }
  constexpr Schedule unroll(Name loop) const noexcept { return with(one(PrimitiveKind::unroll, loop)); }
  constexpr Schedule bind(Name loop, ThreadAxis axis) const noexcept {
    Primitive p = one(PrimitiveKind::bind, loop);
    p.thread_axis = axis;
    return with(p);
  }

 private:
  static constexpr Primitive one(PrimitiveKind kind, Name loop) noexcept {
    Primitive p;
    p.kind = kind;
    p.loops[0] = loop;
    p.loop_count = 1;
    return p;
  }
  constexpr Schedule with(Primitive p) const noexcept {
    p.stage = current;
    Schedule s = *this;
    if (s.count < kMaxPrimitives) s.primitives[s.count++] = p;
    else s.overflow = true;
    return s;
  }
};

// schedule("C").split("i", 32).parallel("i.o")...
constexpr Schedule schedule(Name stage) noexcept { return Schedule(stage); }

} // namespace kiln::tir
