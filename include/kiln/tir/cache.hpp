// kiln/tir/cache.hpp: the primitives that add stages to a kernel. cache_read(tensor) gives
// the current stage a copy of a tensor it reads, the stage "<tensor>_<scope>", which a
// schedule can then place (compute_at) and shape like any stage: packing a panel of B per
// tile is cache_read("B") plus compute_at. cache_write(Scope::global) moves the current
// stage's computation into a new stage "<stage>_global" and leaves the stage as a copy of it.
// Both rewrite the kernel's expression before planning (tir/stage_rewrites.hpp); schedules
// name the new stages.
#pragma once

#include <tuple>
#include <type_traits>

#include "../core/name.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "rebuild.hpp"
#include "schedule.hpp"

namespace kiln::tir {

namespace detail {
// A compute named N that copies `source` (a placeholder or a stage) element by element.
template <Name N, class Source>
constexpr auto copy_of(const Source& source) noexcept {
  return te::compute<N>(typename Source::extents_type{}, [source](auto... axes) { return source(axes...); });
}

template <Name Consumer, Name Tensor, Name Cache>
struct CacheReadOp {
  template <class C>
  constexpr auto compute(const C& c) const noexcept {
    return rebuild_compute(c, *this);
  }
  template <Name Current, class L>
  constexpr auto load(const L& l) const noexcept {
    if constexpr (!(Current == Consumer)) {
      return l;
    } else if constexpr (requires { typename L::placeholder_type; }) {
      using Ph = typename L::placeholder_type;
      if constexpr (Ph::name == Tensor) return reread(copy_of<Cache>(Ph{}), l.indices);
      else return l;
    } else {
      if constexpr (L::stage_type::name == Tensor) return reread(copy_of<Cache>(l.source), l.indices);
      else return l;
    }
  }
  template <class CacheStage, class... Idx>
  static constexpr auto reread(const CacheStage& cache, const std::tuple<Idx...>& indices) noexcept {
    return te::StageLoad<CacheStage, Idx...>{{}, cache, indices};
  }
};

template <Name Stage, Name Global>
struct CacheWriteOp {
  template <class C>
  constexpr auto compute(const C& c) const noexcept {
    auto rebuilt = rebuild_compute(c, *this);
    if constexpr (C::name == Stage) {
      using Computed = te::Compute<Global, typename C::spatial_axes, decltype(rebuilt.body)>;
      const Computed computed{rebuilt.body};
      return [&]<class... Axes>(te::TypeList<Axes...>) {
        using Copy = te::StageLoad<Computed, Axes...>;
        return te::Compute<Stage, typename C::spatial_axes, Copy>{Copy{{}, computed, std::tuple<Axes...>{}}};
      }(typename C::spatial_axes{});
    } else {
      return rebuilt;
    }
  }
  template <Name Current, class L>
  constexpr auto load(const L& l) const noexcept {
    return l;
  }
};
} // namespace detail

} // namespace kiln::tir
