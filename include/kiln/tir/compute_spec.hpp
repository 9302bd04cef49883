// kiln/tir/compute_spec.hpp: what lowering needs to know of a compute, read off its type:
// its axes with their static extents or symbol slots, and every symbolic extent
// (te::dim<"...">) the kernel binds at run time, outputs' and inputs' alike.
#pragma once

#include <cstdint>

#include "../core/name.hpp"
#include "../te/tensor.hpp"
#include "loop_program.hpp"

namespace kiln::tir {

inline constexpr int kMaxExtentNodes = 12;

struct AxisSpec {
  Name name;
  bool reduction = false;
  std::int64_t static_extent = -1;  // -1: symbolic
  int symbol = -1;                  // slot in ComputeSpec::symbols when named
  // A derived extent's arithmetic, operands before the nodes that use them, the root last;
  // its leaves are constants and symbol slots.
  IndexNode derived[kMaxExtentNodes] = {};
  int derived_count = 0;
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
  // The slot of a symbol that must already be known.
  constexpr int symbol_slot_of(const Name& n) const noexcept {
    for (int i = 0; i < symbol_count; ++i)
      if (symbols[i] == n) return i;
    return -1;
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
    else if constexpr (te::is_dim<E>::value) a.symbol = symbol_slot(E::name);
    else flatten<E>(a);
  }
  template <class E>
  constexpr void add_symbol_of() noexcept {
    if constexpr (te::is_dim<E>::value) {
      symbol_slot(E::name);
    } else if constexpr (te::is_derived<E>::value) {
      add_symbol_of<typename E::lhs>();
      add_symbol_of<typename E::rhs>();
    }
  }

 private:
  // Appends the nodes of extent E to a derived extent; returns the node of its value.
  template <class E>
  constexpr int flatten(AxisSpec& a) noexcept {
    IndexNode n;
    if constexpr (is_static_v<E>) {
      n = {IndexNode::constant, -1, -1, E::value};
    } else if constexpr (te::is_dim<E>::value) {
      n = {IndexNode::symbol, -1, -1, symbol_slot(E::name)};
    } else {
      const int l = flatten<typename E::lhs>(a);
      const int r = flatten<typename E::rhs>(a);
      constexpr IndexNode::Op op = [] {
        switch (E::op) {
          case te::ExtentOp::add: return IndexNode::add;
          case te::ExtentOp::sub: return IndexNode::sub;
          case te::ExtentOp::mul: return IndexNode::mul;
          case te::ExtentOp::floordiv: return IndexNode::floordiv;
          case te::ExtentOp::ceildiv: return IndexNode::ceildiv;
          case te::ExtentOp::min: return IndexNode::min;
        }
        return IndexNode::add;
      }();
      n = {op, l, r, 0};
    }
    if (a.derived_count == kMaxExtentNodes) {
      too_many = true;
      return 0;
    }
    a.derived[a.derived_count] = n;
    return a.derived_count++;
  }

 public:
};

namespace detail {
template <class... Es>
constexpr void add_symbols(ComputeSpec& spec, te::Extents<Es...>) noexcept {
  (spec.template add_symbol_of<Es>(), ...);
}
template <class... Stages, class... Inputs>
constexpr void add_kernel_symbols(ComputeSpec& spec, te::TypeList<Stages...>, te::TypeList<Inputs...>) noexcept {
  // Outputs and reductions first, then what only inputs use; the order is the slot order.
  auto stage_symbols = [&]<class S>(std::type_identity<S>) {
    add_symbols(spec, typename S::extents_type{});
    [&]<class... R>(te::TypeList<R...>) { (spec.template add_symbol_of<typename R::extent_type>(), ...); }(
        typename S::reduce_axes{});
  };
  (stage_symbols(std::type_identity<Stages>{}), ...);
  (add_symbols(spec, typename Inputs::extents_type{}), ...);
}
template <class C, class... Spatial, class... Reduce>
constexpr void add_axes(ComputeSpec& spec, te::TypeList<Spatial...>, te::TypeList<Reduce...>) noexcept {
  spec.stage = C::name;
  (spec.template add_axis<typename Spatial::extent_type>(Spatial::name, false), ...);
  (spec.template add_axis<typename Reduce::extent_type>(Reduce::name, true), ...);
  spec.spatial_count = static_cast<int>(sizeof...(Spatial));
}
} // namespace detail

// The spec of stage C of the kernel that ends with stage Last. Symbol slots are shared by
// every stage of the kernel, so one table of bound extents serves all of them.
template <class C, class Last = C>
constexpr ComputeSpec compute_spec() noexcept {
  ComputeSpec spec;
  detail::add_kernel_symbols(spec, typename Last::stages{}, typename Last::inputs{});
  detail::add_axes<C>(spec, typename C::spatial_axes{}, typename C::reduce_axes{});
  return spec;
}

} // namespace kiln::tir
