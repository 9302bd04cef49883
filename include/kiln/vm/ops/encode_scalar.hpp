// kiln/vm/ops/encode_scalar.hpp: a double attribute (pad's constant, resize's extrapolation
// value) as the bytes of one element of any dtype, for kernels that fill by copying bytes.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../../core/dtype.hpp"

namespace kiln::vm {

// Floating-point dtypes round; integers saturate at their range, NaN becoming 0; bool is
// value != 0.
inline void encode_scalar(DType dtype, double value, unsigned char (&out)[8]) noexcept {
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T v{};
    if constexpr (std::is_same_v<T, bool>) {
      v = value != 0.0;
    } else if constexpr (std::numeric_limits<T>::is_integer) {
      // The limits as doubles: 2^63 and 2^64 are exact, and the first values past the range.
      const double lo = static_cast<double>(std::numeric_limits<T>::min());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      v = std::isnan(value) ? T{0}
          : value <= lo     ? std::numeric_limits<T>::min()
          : value >= hi     ? std::numeric_limits<T>::max()
                            : static_cast<T>(value);
    } else {
      v = static_cast<T>(value);
    }
    std::memcpy(out, &v, sizeof(v));
  });
}

} // namespace kiln::vm
