// kiln/tir/rfactor.hpp: rfactor(axis, factor) splits a reduction in two stages. The reduction
// axis k becomes k.o * factor + k.i; the new stage "<stage>_rf" keeps k.i as a spatial axis
// and reduces over k.o (and the other reduction axes), and the stage then reduces the
// partial results over k.i. The partial results are independent, so k.i can be vectorized
// or run in parallel, which a reduction loop cannot. The factored axis needs a static extent
// (the extent of k.o is derived from it); a factor that does not divide it guards the last
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
  // The static extent of the reduction axis named Axis, or -1 (absent or dynamic).
  static constexpr std::int64_t extent = [] {
    std::int64_t e = -1;
    auto one = [&]<class A>(std::type_identity<A>) {
      if constexpr (is_static_v<typename A::extent_type>)
        if (A::name == Axis) e = A::extent_type::value;
    };
    (one(std::type_identity<RAxes>{}), ...);
    return e;
  }();
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
    constexpr std::int64_t K = Found::extent;
    if constexpr (K < 0) {
      return c;  // nothing to factor; check_stages reports it
    } else {
      using Outer = te::ReduceAxis<outer_name, Int<(K + Factor - 1) / Factor>>;
      using InnerSpatial = te::SpatialAxis<inner_name, Int<Factor>>;
      using InnerReduce = te::ReduceAxis<inner_name, Int<Factor>>;
      const auto k = Outer{} * Factor + InnerSpatial{};
      te::Substitution<std::tuple<std::remove_const_t<decltype(k)>>, Axis> rename{std::make_tuple(k)};
      const auto body = te::substitute(reduce.body, rename);
      using T = typename te::Reduce<R, B, RAxes...>::value_type;
      const auto partial_body = [&] {
        if constexpr (K % Factor == 0) return body;
        else return te::if_then_else(k < K, body, R::template identity<T>());
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
