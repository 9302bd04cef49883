// kiln/tir/rfactor.hpp: rfactor(axis, factor) splits a reduction in two stages. The reduction
// axis k becomes k.o * factor + k.i; the new stage "<stage>_rf" keeps k.i as a spatial axis
// and reduces over k.o (and the other reduction axes), and the stage then reduces the
// partial results over k.i. The partial results are independent, so k.i can be vectorized
// or run in parallel, which a reduction loop cannot. k.o runs over ceildiv(K, factor) chunks
// (a derived extent when K is not static); a factor that does not divide K guards the last
// chunk with the reducer's identity.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>

#include "../core/extent.hpp"
#include "../core/name.hpp"
#include "../te/inline.hpp"
#include "../te/tensor.hpp"
#include "rebuild.hpp"
#include "schedule.hpp"

namespace kiln::tir {

namespace detail {
template <Name Axis, class... RAxes>
struct factored_axis {
  static constexpr bool found = (... || (RAxes::name == Axis));
  // The extent of the reduction axis named Axis (Int<0> when absent).
  using extent_type = typename decltype([] {
    if constexpr (found) {
      using Matches = te::concat_t<std::conditional_t<RAxes::name == Axis, te::TypeList<typename RAxes::extent_type>, te::TypeList<>>...>;
      return std::type_identity<std::tuple_element_t<0, typename te::tuple_of<Matches>::type>>{};
    } else {
      return std::type_identity<Int<0>>{};
    }
  }())::type;
  // The other reduction axes, in order.
  using others = te::concat_t<std::conditional_t<RAxes::name == Axis, te::TypeList<>, te::TypeList<RAxes>>...>;
};

template <Name Stage, Name Axis, std::int64_t Factor>
struct RfactorOp {
  static constexpr Name outer_name = Axis + ".o";
  static constexpr Name inner_name = Axis + ".i";

  template <class C>
  constexpr auto compute(const C& c) const noexcept {
    auto rebuilt = rebuild_compute(c, *this);
    if constexpr (C::name == Stage && C::is_reduction && Factor > 0) return factor(rebuilt, rebuilt.body);
    else return rebuilt;
  }
  template <Name Current, class L>
  constexpr auto load(const L& l) const noexcept {
    return l;
  }

 private:
  template <class C, class R, class B, class... RAxes>
  static constexpr auto factor(const C& c, const te::Reduce<R, B, RAxes...>& reduce) noexcept {
    using Found = factored_axis<Axis, RAxes...>;
    if constexpr (!Found::found) {
      return c;  // nothing to factor; check_stages reports it
    } else {
      // k.o runs over ceildiv(K, factor) chunks: static, or derived from K's symbols.
      using K = typename Found::extent_type;
      using Outer = te::ReduceAxis<outer_name, decltype(ceildiv(K{}, Int<Factor>{}))>;
      using InnerSpatial = te::SpatialAxis<inner_name, Int<Factor>>;
      using InnerReduce = te::ReduceAxis<inner_name, Int<Factor>>;
      const auto k = Outer{} * Factor + InnerSpatial{};
      te::Substitution<std::tuple<std::remove_const_t<decltype(k)>>, Axis> rename{std::make_tuple(k)};
      const auto body = te::substitute(reduce.body, rename);
      using T = typename te::Reduce<R, B, RAxes...>::value_type;
      constexpr bool divides = [] {
        if constexpr (is_static_v<K>) return K::value % Factor == 0;
        else return false;
      }();
      const auto partial_body = [&] {
        if constexpr (divides) return body;
        else return te::if_then_else(k < te::extent_of(K{}), body, R::template identity<T>());
      }();
      using PartialBody = std::remove_const_t<decltype(partial_body)>;
      const auto partial_reduce = [&]<class... Others>(te::TypeList<Others...>) {
        return te::Reduce<R, PartialBody, Others..., Outer>{{}, partial_body};
      }(typename Found::others{});
      return [&]<class... Spatial>(te::TypeList<Spatial...>) {
        using Partial = te::Compute<rfactor_name(Stage), te::TypeList<Spatial..., InnerSpatial>,
                                    std::remove_const_t<decltype(partial_reduce)>>;
        using Read = te::StageLoad<Partial, Spatial..., InnerReduce>;
        using Final = te::Reduce<R, Read, InnerReduce>;
        const Partial partial{partial_reduce};
        return te::Compute<Stage, te::TypeList<Spatial...>, Final>{
            Final{{}, Read{{}, partial, std::tuple<Spatial..., InnerReduce>{}}}};
      }(typename C::spatial_axes{});
    }
  }
};
} // namespace detail

} // namespace kiln::tir
