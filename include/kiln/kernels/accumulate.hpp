// kiln/kernels/accumulate.hpp: the type a kernel accumulates in for a given input type:
// f32 for f32, f16 and bf16 inputs; i32 for 8-bit integers; the type itself otherwise.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../core/dtype.hpp"

namespace kiln::kernels {

template <class In>
using accumulator_t =
    std::conditional_t<std::is_same_v<In, f16> || std::is_same_v<In, bf16>, float,
                       std::conditional_t<std::is_same_v<In, std::int8_t> || std::is_same_v<In, std::uint8_t>,
                                          std::int32_t, In>>;

} // namespace kiln::kernels
