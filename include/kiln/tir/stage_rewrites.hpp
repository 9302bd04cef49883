// kiln/tir/stage_rewrites.hpp: the kernel as a schedule reshapes it before planning: the
// primitives that add stages (cache_read, cache_write(global), rfactor) rewrite the kernel's
// expression, in the order the schedule lists them. Backends and the printer plan the result.
#pragma once

#include <utility>

#include "cache.hpp"
#include "rfactor.hpp"
#include "schedule.hpp"

namespace kiln::tir {

// The kernel that `last` ends with the stages that the primitives of S add. Without such
// primitives it is `last` itself.
template <Schedule S, int I = 0, class Last>
constexpr auto rewrite_stages(const Last& last) noexcept {
  if constexpr (I >= S.count) {
    return last;
  } else {
    constexpr Primitive p = S.primitives[I];
    if constexpr (p.kind == PrimitiveKind::cache_read) {
      constexpr Name cache = cache_name(p.loops[0], p.scope);
      return rewrite_stages<S, I + 1>(detail::CacheReadOp<p.stage, p.loops[0], cache>{}.compute(last));
    } else if constexpr (p.kind == PrimitiveKind::cache_write && p.scope == Scope::global) {
      constexpr Name global = cache_name(p.stage, Scope::global);
      return rewrite_stages<S, I + 1>(detail::CacheWriteOp<p.stage, global>{}.compute(last));
    } else if constexpr (p.kind == PrimitiveKind::rfactor) {
      return rewrite_stages<S, I + 1>(detail::RfactorOp<p.stage, p.loops[0], p.factor>{}.compute(last));
    } else {
      return rewrite_stages<S, I + 1>(last);
    }
  }
}

template <Schedule S, class Last>
using rewritten_kernel_t = decltype(rewrite_stages<S>(std::declval<const Last&>()));

} // namespace kiln::tir
