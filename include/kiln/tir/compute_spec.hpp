// kiln/tir/compute_spec.hpp: what lowering needs to know of a compute, read off its type:
// its axes with their static extents or symbol slots, and every symbolic extent
// (te::dim<"...">) the kernel binds at run time, outputs' and inputs' alike.
#pragma once

#include <cstdint>

#include "../core/name.hpp"
#include "../te/tensor.hpp"
#include "loop_program.hpp"

namespace kiln::tir {

struct AxisSpec {
  Name name;
  bool reduction = false;
  std::int64_t static_extent = -1;  // -1: symbolic
  int symbol = -1;                  // slot in ComputeSpec::symbols when symbolic
};

struct ComputeSpec {
  Name stage;
  AxisSpec axes[kMaxAxes] = {};
  int axis_count = 0;
  int spatial_count = 0;
  Name symbols[kMaxSymbols] = {};
  int symbol_count = 0;
  bool too_many = false;  // more axes or symbols than a loop program holds

  constexpr int symbol_slot(const Name& n) noexcept {
    for (int i = 0; i < symbol_count; ++i)
      if (symbols[i] == n) return i;
    if (symbol_count == kMaxSymbols) {
      too_many = true;
      return -1;
    }
    symbols[symbol_count] = n;
    return symbol_count++;
  }
  template <class E>
  constexpr void add_axis(Name name, bool reduction) noexcept {
    if (axis_count == kMaxAxes) {
      too_many = true;
      return;
    }
    AxisSpec& a = axes[axis_count++];
    a.name = name;
    a.reduction = reduction;
    if constexpr (is_static_v<E>) a.static_extent = E::value;
    else a.symbol = symbol_slot(E::name);
  }
  template <class E>
  constexpr void add_symbol_of() noexcept {
    if constexpr (te::is_dim<E>::value) symbol_slot(E::name);
  }
};

namespace detail {
template <class C, class... Spatial, class... Reduce, class... Inputs>
constexpr ComputeSpec make_spec(te::TypeList<Spatial...>, te::TypeList<Reduce...>, te::TypeList<Inputs...>) noexcept {
  ComputeSpec spec;
  spec.stage = C::name;
  (spec.template add_axis<typename Spatial::extent_type>(Spatial::name, false), ...);
  (spec.template add_axis<typename Reduce::extent_type>(Reduce::name, true), ...);
  spec.spatial_count = static_cast<int>(sizeof...(Spatial));
  // Symbols that only inputs use are bound (and checked) at run time too.
  ([&]<class... Es>(te::Extents<Es...>) { (spec.template add_symbol_of<Es>(), ...); }(
       typename Inputs::extents_type{}),
   ...);
  return spec;
}
} // namespace detail

template <class C>
constexpr ComputeSpec compute_spec() noexcept {
  return detail::make_spec<C>(typename C::spatial_axes{}, typename C::reduce_axes{}, typename C::inputs{});
}

} // namespace kiln::tir
