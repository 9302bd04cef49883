// control_flow_references.hpp: what the control-flow tests of both ways to run a graph share:
// the naive reference of their accumulating loop, and the user kernel they call (a matmul
// built from kiln's tensor expressions).
#pragma once

#include <kiln/backend/cpu/kernel.hpp>
#include <kiln/vm/slot.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace kiln::test::control_flow {

// The loop both tests build: per iteration k, while `active`: x = x / 2 + k / 4 and
// total += x; then active = max(total) < limit. The values freeze once active is false.
struct LoopResult {
  std::vector<float> total, x;
  bool active = true;
  int iterations = 0;  // the iterations that ran before the condition stopped them
};
inline LoopResult loop_reference(std::vector<float> x, std::int64_t trips, float limit) {
  LoopResult r;
  r.total = x;
  for (std::int64_t k = 0; k < trips && r.active; ++k) {
    float peak = -std::numeric_limits<float>::infinity();
    for (std::size_t e = 0; e < x.size(); ++e) {
      x[e] = x[e] * 0.5f + static_cast<float>(k) * 0.25f;
      r.total[e] += x[e];
      peak = std::max(peak, r.total[e]);
    }
    r.active = peak < limit;
    ++r.iterations;
  }
  r.x = std::move(x);
  return r;
}

// C = A @ B with every extent dynamic, j split by 16 and vectorized (a guarded tail): a
// kernel of kiln's tensor expressions with the signature of a user kernel.
inline constexpr auto kA = te::placeholder<float, "A">(te::dim<"m">, te::dim<"k">);
inline constexpr auto kB = te::placeholder<float, "B">(te::dim<"k">, te::dim<"n">);
inline constexpr auto kR = te::reduce_axis<"r">(te::dim<"k">);
inline const auto kC = te::compute<"C", "i", "j">(te::extents(te::dim<"m">, te::dim<"n">),
                                                  [](auto i, auto j) { return te::sum(kA(i, kR) * kB(kR, j), kR); });
inline constexpr auto kMatmulSchedule =
    tir::schedule("C").split("j", 16).reorder("i", "r", "j.o", "j.i").vectorize("j.i");

inline Status run_te_matmul(std::span<const vm::Slot* const> inputs, std::span<const vm::Slot* const> outputs) {
  static const auto kernel = cpu::build<kMatmulSchedule>(kC);
  const vm::Slot& a = *inputs[0];
  const vm::Slot& b = *inputs[1];
  const vm::Slot& c = *outputs[0];
  return kernel.run(nullptr, make_view(a.data_as<float>(), shape(a.dims[0], a.dims[1])),
                    make_view(b.data_as<float>(), shape(b.dims[0], b.dims[1])),
                    make_view(c.data_as<float>(), shape(c.dims[0], c.dims[1])));
}

} // namespace kiln::test::control_flow
