// tests/unit/test_float16.cpp: kiln::f16 against the compiler's _Float16 (where it has one) and a naive reference.
#include <kiln/core/float16.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

// g++ 12 has _Float16 on x86-64 (IEEE conversions, round to nearest even); clang 14 does not, and
// there the naive reference below is the only one.
#if defined(__FLT16_MANT_DIG__)
#define KILN_TEST_HAS_FLOAT16 1
#else
#define KILN_TEST_HAS_FLOAT16 0
#endif

namespace {

using kiln::f16;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint32_t bits_of(float x) { return std::bit_cast<std::uint32_t>(x); }
float float_of(std::uint32_t u) { return std::bit_cast<float>(u); }
bool is_nan_bits(std::uint16_t h) { return (h & 0x7fffu) > 0x7c00u; }

// Independent reference: all finite non-negative f16 values decoded by the textbook formula into a
// sorted table (pattern order is value order). Rounding finds the neighbours of |x| by binary
// search and compares |x| with their midpoint, which double holds exactly; a tie picks the even
// pattern. Rounding up to the entry past max (65536) means overflow to infinity.
class NaiveF16 {
 public:
  NaiveF16() {
    for (int p = 0; p < 0x7c00; ++p) {
      const int e = p >> 10, m = p & 0x3ff;
      values_.push_back(e == 0 ? std::ldexp(double(m), -24) : std::ldexp(double(1024 + m), e - 25));
    }
    values_.push_back(65536.0);
  }

  double value(int p) const { return values_[static_cast<std::size_t>(p)]; }  // 0 <= p <= 0x7c00

  std::uint16_t round(double x) const {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (std::isnan(x)) return sign | 0x7e00;
    const double a = std::fabs(x);
    if (a >= 65536.0) return sign | 0x7c00;
    // Binary search with values_[lo] <= a < values_[hi] (a raw loop: this runs millions of times
    // in unoptimized sanitizer builds).
    const double* v = values_.data();
    std::size_t lo = 0, hi = values_.size() - 1;
    while (hi - lo > 1) {
      const std::size_t m = (lo + hi) / 2;
      (v[m] <= a ? lo : hi) = m;
    }
    std::size_t pick = lo;
    if (v[lo] != a) {
      const double mid = (v[lo] + v[hi]) / 2;
      pick = a < mid ? lo : a > mid ? hi : (lo % 2 == 0 ? lo : hi);
    }
    return static_cast<std::uint16_t>(sign | pick);
  }

 private:
  std::vector<double> values_;
};

const NaiveF16& naive() {
  static const NaiveF16 table;
  return table;
}

#if KILN_TEST_HAS_FLOAT16
std::uint16_t hw_from_float(float x) { return std::bit_cast<std::uint16_t>(static_cast<_Float16>(x)); }
std::uint16_t hw_from_double(double x) { return std::bit_cast<std::uint16_t>(static_cast<_Float16>(x)); }
float hw_to_float(std::uint16_t h) { return static_cast<float>(std::bit_cast<_Float16>(h)); }
#endif

// Counts disagreements and reports the first few, so millions of samples cost one assertion.
class Mismatches {
 public:
  explicit Mismatches(const char* what) : what_(what) {}
  void add(std::uint64_t input, std::uint16_t got, std::uint16_t want, const char* ref) {
    if (++count_ > 8) return;
    const std::string msg = what_ + ": input " + hex(input) + " gave " + hex(got) + ", " + ref + " says " + hex(want);
    FAIL_CHECK(msg);
  }
  int count() const { return count_; }

 private:
  std::string what_;
  int count_ = 0;
};

// Converted NaNs must stay NaN, quiet, and keep their sign; otherwise bits must match exactly.
bool agrees(std::uint16_t got, std::uint16_t want) {
  if (is_nan_bits(want)) return is_nan_bits(got) && (got & 0x8000u) == (want & 0x8000u) && (got & 0x0200u) != 0;
  return got == want;
}

// The sign of a NaN that arithmetic produces is unspecified.
bool agrees_any_nan(std::uint16_t got, std::uint16_t want) {
  return is_nan_bits(want) ? is_nan_bits(got) : got == want;
}

void check_float(std::uint32_t xb, Mismatches& bad) {
  const float x = float_of(xb);
  const std::uint16_t got = f16(x).bits;
  const std::uint16_t want = naive().round(x);
  if (!agrees(got, want)) bad.add(xb, got, want, "naive");
#if KILN_TEST_HAS_FLOAT16
  const std::uint16_t hw = hw_from_float(x);
  if (is_nan_bits(hw) ? !is_nan_bits(got) : got != hw) bad.add(xb, got, hw, "_Float16");
#endif
}

void check_double(double x, Mismatches& bad) {
  const std::uint16_t got = f16(x).bits;
  const std::uint16_t want = naive().round(x);
  if (!agrees(got, want)) bad.add(std::bit_cast<std::uint64_t>(x), got, want, "naive");
#if KILN_TEST_HAS_FLOAT16
  const std::uint16_t hw = hw_from_double(x);
  if (is_nan_bits(hw) ? !is_nan_bits(got) : got != hw) bad.add(std::bit_cast<std::uint64_t>(x), got, hw, "_Float16");
#endif
}

// Signed-magnitude order of non-NaN patterns, with +0 and -0 equal: an ordering independent of float.
int order_key(std::uint16_t h) { return (h & 0x8000u) ? -int(h & 0x7fffu) : int(h); }

} // namespace

// --- compile-time checks ------------------------------------------------------------------------

static_assert(sizeof(f16) == 2 && alignof(f16) == 2);
static_assert(std::is_trivially_copyable_v<f16> && std::is_standard_layout_v<f16>);
static_assert(!std::is_convertible_v<float, f16> && std::is_convertible_v<f16, float>);
static_assert(float(f16(1.5f)) == 1.5f);
static_assert(f16(1.0).bits == 0x3c00 && f16(-2.0f).bits == 0xc000 && f16(0).bits == 0);
static_assert(f16(65519.99f).bits == 0x7bff && f16(65520.0f).bits == 0x7c00);
static_assert(f16(0x1p-25f).bits == 0x0000 && f16(0x1.000002p-25f).bits == 0x0001);
static_assert(float(f16::denorm_min()) == 0x1p-24f && float(f16::max()) == 65504.0f);
static_assert(kiln::isnan(f16(std::numeric_limits<float>::quiet_NaN())));
static_assert(kiln::isinf(f16(1e6f)) && kiln::isfinite(f16(1e4f)) && kiln::signbit(f16(-0.0f)));
static_assert(f16(1.5f) + f16(2.25f) == f16(3.75f) && f16(3.0f) / f16(2.0f) == f16(1.5f));
static_assert((-f16(2.0f)).bits == 0xc000 && f16(0.0f) == f16(-0.0f));
static_assert(f16::quiet_nan() != f16::quiet_nan());
static_assert([] {
  f16 h(1.0f);
  h += f16(2.0f);
  h *= f16(4.0f);
  h -= f16(2.0f);
  h /= f16(5.0f);
  return h == f16(2.0f);
}());
static_assert(std::numeric_limits<f16>::is_specialized && std::numeric_limits<f16>::digits == 11);

// --- conversions --------------------------------------------------------------------------------

TEST_CASE("f16 -> float is exact for all 65536 patterns") {
  Mismatches bad("f16->float");
  for (std::uint32_t p = 0; p <= 0xffff; ++p) {
    const auto h = f16::from_bits(static_cast<std::uint16_t>(p));
    const std::uint32_t got = bits_of(float(h));
    const std::uint32_t sign = (p & 0x8000u) << 16, mag = p & 0x7fffu;
    std::uint32_t want;
    if (mag >= 0x7c00u)  // inf, or NaN with the payload moved to the top of the float mantissa
      want = sign | 0x7f800000u | ((mag & 0x3ffu) << 13);
    else
      want = sign | bits_of(static_cast<float>(naive().value(static_cast<int>(mag))));
    if (got != want) bad.add(p, static_cast<std::uint16_t>(got >> 16), static_cast<std::uint16_t>(want >> 16), "decode");
#if KILN_TEST_HAS_FLOAT16
    const float hw = hw_to_float(static_cast<std::uint16_t>(p));
    if (std::isnan(hw) ? !std::isnan(float(h)) : bits_of(hw) != got) bad.add(p, 0, 0, "_Float16");
#endif
    // Classification agrees with the float value.
    const float f = float(h);
    if (kiln::isnan(h) != std::isnan(f) || kiln::isinf(h) != std::isinf(f) || kiln::isfinite(h) != std::isfinite(f) ||
        kiln::signbit(h) != std::signbit(f))
      bad.add(p, 0, 0, "classification");
    // Round trip: exact except that a signalling NaN comes back quiet.
    const std::uint16_t back = f16(f).bits;
    const std::uint16_t back_want = kiln::isnan(h) ? static_cast<std::uint16_t>(p | 0x0200u) : static_cast<std::uint16_t>(p);
    if (back != back_want) bad.add(p, back, back_want, "round trip");
    // Unary minus flips the sign bit and nothing else.
    if ((-h).bits != (p ^ 0x8000u)) bad.add(p, (-h).bits, static_cast<std::uint16_t>(p ^ 0x8000u), "negation");
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("float -> f16 around every f16 value and every midpoint") {
  Mismatches bad("float->f16 boundaries");
  for (int p = 0; p <= 0x7c00; ++p) {
    const double v = naive().value(p);
    const std::uint32_t vb = bits_of(static_cast<float>(v));
    std::uint32_t centres[2] = {vb, vb};
    // The midpoint to the next value (65520 for p == max) has 12 significant bits: exact in float.
    if (p < 0x7c00) centres[1] = bits_of(static_cast<float>((v + naive().value(p + 1)) / 2));
    for (std::uint32_t c : centres)
      for (std::uint32_t d = 0; d <= 6; ++d)
        for (std::uint32_t sign : {0u, 0x80000000u}) check_float(sign | ((c + d - 3) & 0x7fffffffu), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("double -> f16 rounds once, not via float") {
  Mismatches bad("double->f16 boundaries");
  int differs_from_via_float = 0;
  for (int p = 0; p < 0x7c00; ++p) {
    const double mid = (naive().value(p) + naive().value(p + 1)) / 2;
    // Just above and below a midpoint by far less than a float ulp: via float they would become
    // an exact tie and round to even, which is wrong for half of them.
    for (double x : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e9), mid * (1 + 0x1p-40), mid * (1 - 0x1p-40)})
      for (double s : {1.0, -1.0}) {
        check_double(s * x, bad);
        if (f16(s * x).bits != f16(static_cast<float>(s * x)).bits) ++differs_from_via_float;
      }
  }
  CHECK(bad.count() == 0);
  CHECK(differs_from_via_float > 0);  // the cases above do exercise the difference
}

TEST_CASE("float -> f16 on pseudo-random floats") {
  Mismatches bad("float->f16 random");
  std::uint64_t state = 0x6b696c6e66313621u;
  for (int i = 0; i < (1 << 20); ++i) {
    const std::uint64_t r = splitmix64(state);
    check_float(static_cast<std::uint32_t>(r), bad);  // any pattern: NaNs, huge, tiny, float subnormals
    // Exponents 2^-27 .. 2^16, where f16 rounding actually happens.
    const auto exp = static_cast<std::uint32_t>(100 + (r >> 32) % 44);
    check_float(static_cast<std::uint32_t>((r >> 32) & 0x807fffffu) | (exp << 23), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("double -> f16 on pseudo-random doubles") {
  Mismatches bad("double->f16 random");
  std::uint64_t state = 0x64626c3266313621u;
  for (int i = 0; i < (1 << 18); ++i) {
    const std::uint64_t r = splitmix64(state);
    check_double(std::bit_cast<double>(r), bad);
    const std::uint64_t exp = 1023 - 27 + (r >> 11) % 44;
    check_double(std::bit_cast<double>((r & 0x800fffffffffffffu) | (exp << 52)), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("f16 conversion edge cases") {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float x;
    std::uint16_t want;
  };
  const Case cases[] = {
      {0.0f, 0x0000}, {-0.0f, 0x8000}, {inf, 0x7c00}, {-inf, 0xfc00}, {1.0f, 0x3c00}, {-1.5f, 0xbe00},
      // Overflow: 65520 is the tie between max (odd) and 2^16, so it and everything above is inf.
      {65504.0f, 0x7bff}, {65519.99f, 0x7bff}, {float_of(0x477fefffu), 0x7bff}, {65520.0f, 0x7c00},
      {-65520.0f, 0xfc00}, {1e10f, 0x7c00}, {std::numeric_limits<float>::max(), 0x7c00},
      // Subnormals and underflow.
      {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001}, {-0x1p-24f, 0x8001}, {0x1p-25f, 0x0000}, {-0x1p-25f, 0x8000},
      {float_of(0x33000001u), 0x0001}, {0x1.8p-24f, 0x0002}, {0x1.4p-23f, 0x0002}, {0x1.cp-23f, 0x0004},
      {0x1p-26f, 0x0000}, {std::numeric_limits<float>::denorm_min(), 0x0000}, {-1e-45f, 0x8000},
      {1023 * 0x1p-24f, 0x03ff}, {1023.5f * 0x1p-24f, 0x0400}, {std::nextafter(1023.5f * 0x1p-24f, 0.0f), 0x03ff},
      // Ties to even at several exponents.
      {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 3 * 0x1p-11f, 0x3c02}, {0.5f + 0x1p-12f, 0x3800}, {1024.5f, 0x6400},
      {1025.5f, 0x6402}, {2049.0f, 0x6800}, {2051.0f, 0x6802}, {-2049.0f, 0xe800}, {32784.0f, 0x7800},
      {std::nextafter(1.0f + 0x1p-11f, 2.0f), 0x3c01}, {std::nextafter(2049.0f, 0.0f), 0x6800},
      // NaN: quiet, sign kept, top payload bits kept, never inf.
      {float_of(0x7fc00000u), 0x7e00}, {float_of(0xffc00000u), 0xfe00}, {float_of(0x7f800001u), 0x7e00},
      {float_of(0xff800001u), 0xfe00}, {float_of(0x7fa00000u), 0x7f00}, {float_of(0xff802000u), 0xfe01},
      {float_of(0x7fffffffu), 0x7fff},
  };
  for (const Case& c : cases) {
    CAPTURE(hex(bits_of(c.x)));
    CHECK(hex(f16(c.x).bits) == hex(c.want));
  }

  struct DCase {
    double x;
    std::uint16_t want;
  };
  const DCase dcases[] = {
      {65520.0, 0x7c00}, {65519.999999, 0x7bff}, {0x1p-25, 0x0000}, {std::nextafter(0x1p-25, 1.0), 0x0001},
      {-0x1p-25, 0x8000}, {std::numeric_limits<double>::min(), 0x0000}, {std::numeric_limits<double>::denorm_min(), 0},
      {1e300, 0x7c00}, {-1e300, 0xfc00}, {std::numeric_limits<double>::infinity(), 0x7c00}, {-0.0, 0x8000},
      {1.0 + 0x1p-11 + 0x1p-40, 0x3c01},  // via float this would be the tie 1 + 2^-11 and round to 0x3c00
      {1.0 + 0x1p-11 - 0x1p-40, 0x3c00}, {1023.5 * 0x1p-24, 0x0400}, {0x1.8p-25 , 0x0001},
      {std::bit_cast<double>(0x7ff0000000000001u), 0x7e00}, {std::bit_cast<double>(0xfff8000000000000u), 0xfe00},
      {std::bit_cast<double>(0x7ff4000000000000u), 0x7f00},
  };
  for (const DCase& c : dcases) {
    CAPTURE(hex(std::bit_cast<std::uint64_t>(c.x)));
    CHECK(hex(f16(c.x).bits) == hex(c.want));
  }
}

TEST_CASE("f16 from integers") {
  CHECK(f16(0).bits == 0x0000);
  CHECK(f16(1).bits == 0x3c00);
  CHECK(f16(-1).bits == 0xbc00);
  CHECK(f16(true).bits == 0x3c00);
  CHECK(float(f16(std::uint8_t{255})) == 255.0f);
  CHECK(float(f16(std::int16_t{-2049})) == -2048.0f);  // tie to even
  CHECK(float(f16(2051u)) == 2052.0f);
  CHECK(f16(65519).bits == 0x7bff);
  CHECK(f16(65520L).bits == 0x7c00);
  CHECK(f16((1LL << 24) + 1).bits == 0x7c00);
  CHECK(f16(std::numeric_limits<std::int64_t>::max()).bits == 0x7c00);
  CHECK(f16(std::numeric_limits<std::int64_t>::min()).bits == 0xfc00);
  CHECK(f16(std::numeric_limits<std::uint64_t>::max()).bits == 0x7c00);
  for (int i = -70000; i <= 70000; ++i) {
    if (f16(i).bits != naive().round(i)) {
      FAIL_CHECK("f16(int) " << i);
      break;
    }
  }
}

// --- comparisons and arithmetic -----------------------------------------------------------------

TEST_CASE("f16 comparisons follow IEEE semantics") {
  const f16 nan = f16::quiet_nan(), zero(0.0f), neg_zero(-0.0f), one(1.0f);
  CHECK_FALSE(nan == nan);
  CHECK(nan != nan);
  CHECK_FALSE(nan < one);
  CHECK_FALSE(nan <= one);
  CHECK_FALSE(nan > one);
  CHECK_FALSE(nan >= one);
  CHECK_FALSE(one == nan);
  CHECK(zero == neg_zero);
  CHECK_FALSE(zero < neg_zero);
  CHECK(zero <= neg_zero);
  CHECK(-f16::infinity() < f16::lowest());
  CHECK(f16::max() < f16::infinity());
  CHECK(f16::denorm_min() > zero);

  // Random pairs against an order computed from the bits alone.
  std::uint64_t state = 0x636d7066313621u;
  int bad = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t r = splitmix64(state);
    const auto a = f16::from_bits(static_cast<std::uint16_t>(r)), b = f16::from_bits(static_cast<std::uint16_t>(r >> 16));
    const auto c = f16::from_bits(static_cast<std::uint16_t>((r >> 32 & 0x8000u) | (a.bits & 0x7fffu)));  // often equal magnitude
    for (const f16& y : {b, c}) {
      const bool any_nan = kiln::isnan(a) || kiln::isnan(y);
      const int ka = order_key(a.bits), ky = order_key(y.bits);
      const bool ok = (a == y) == (!any_nan && ka == ky) && (a != y) == (any_nan || ka != ky) &&
                      (a < y) == (!any_nan && ka < ky) && (a <= y) == (!any_nan && ka <= ky) &&
                      (a > y) == (!any_nan && ka > ky) && (a >= y) == (!any_nan && ka >= ky);
      if (!ok && ++bad <= 8) FAIL_CHECK("compare " << hex(a.bits) << " with " << hex(y.bits));
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("f16 arithmetic is correctly rounded") {
  // Sums, differences and products of two f16 values are exact in double; quotients are rounded
  // once to 53 bits, which is harmless before rounding to 11. The naive reference then rounds once.
  std::uint64_t state = 0x61726974683136u;
  Mismatches bad("f16 arithmetic");
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t r = splitmix64(state);
    const auto a = f16::from_bits(static_cast<std::uint16_t>(r)), b = f16::from_bits(static_cast<std::uint16_t>(r >> 16));
    const double x = float(a), y = float(b);
    const std::uint64_t in = r & 0xffffffffu;
    if (!agrees_any_nan((a + b).bits, naive().round(x + y))) bad.add(in, (a + b).bits, naive().round(x + y), "+");
    if (!agrees_any_nan((a - b).bits, naive().round(x - y))) bad.add(in, (a - b).bits, naive().round(x - y), "-");
    if (!agrees_any_nan((a * b).bits, naive().round(x * y))) bad.add(in, (a * b).bits, naive().round(x * y), "*");
    if (!agrees_any_nan((a / b).bits, naive().round(x / y))) bad.add(in, (a / b).bits, naive().round(x / y), "/");
    f16 s = a, d = a, m = a, q = a;
    s += b;
    d -= b;
    m *= b;
    q /= b;
    // (Which NaN payload wins may depend on the order in which the compiler emits the operands.)
    if (!agrees_any_nan(s.bits, (a + b).bits) || !agrees_any_nan(d.bits, (a - b).bits) ||
        !agrees_any_nan(m.bits, (a * b).bits) || !agrees_any_nan(q.bits, (a / b).bits))
      bad.add(in, 0, 0, "compound assignment");
  }
  CHECK(bad.count() == 0);
  CHECK((f16(1.0f) + f16(0x1p-11f)).bits == 0x3c00);  // tie, to even
  CHECK((f16(1.0f) + f16(0x1.8p-11f)).bits == 0x3c01);
  CHECK(f16(2048.0f) + f16(1.0f) == f16(2048.0f));
  CHECK(f16(0.1f) * f16(10.0f) == f16(1.0f));
  CHECK(float(+f16(3.0f)) == 3.0f);
  CHECK(kiln::isnan(f16::infinity() - f16::infinity()));
  CHECK(kiln::isinf(f16::max() + f16::max()));
  CHECK(kiln::isinf(f16(1.0f) / f16(0.0f)));
}

// --- limits -------------------------------------------------------------------------------------

TEST_CASE("numeric_limits<f16>") {
  using L = std::numeric_limits<f16>;
  CHECK(L::is_specialized);
  CHECK(L::is_signed);
  CHECK_FALSE(L::is_integer);
  CHECK(L::has_infinity);
  CHECK(L::has_quiet_NaN);
  CHECK(L::has_signaling_NaN);
  CHECK(L::has_denorm == std::denorm_present);
  CHECK(L::round_style == std::round_to_nearest);
  CHECK(L::is_iec559);
  CHECK(L::radix == 2);
  CHECK(L::digits == 11);
  CHECK(float(L::max()) == 65504.0f);
  CHECK(float(L::lowest()) == -65504.0f);
  CHECK(float(L::min()) == 0x1p-14f);
  CHECK(float(L::denorm_min()) == 0x1p-24f);
  CHECK(float(L::epsilon()) == 0x1p-10f);
  CHECK(float(L::round_error()) == 0.5f);
  CHECK(std::isinf(float(L::infinity())));
  CHECK(float(L::infinity()) > 0);
  CHECK(std::isnan(float(L::quiet_NaN())));
  CHECK(std::isnan(float(L::signaling_NaN())));
  CHECK((L::quiet_NaN().bits & 0x0200u) != 0);
  CHECK((L::signaling_NaN().bits & 0x0200u) == 0);
  // The definitions of the members, checked against the values.
  CHECK(float(f16::from_bits(0x3c01)) - 1.0f == float(L::epsilon()));
  CHECK(float(L::min()) == std::ldexp(1.0f, L::min_exponent - 1));
  CHECK(float(L::max()) < std::ldexp(1.0f, L::max_exponent));
  CHECK(float(L::max()) >= std::ldexp(1.0f, L::max_exponent - 1));
  CHECK(std::pow(10.0, L::max_exponent10) <= float(L::max()));
  CHECK(std::pow(10.0, L::max_exponent10 + 1) > float(L::max()));
  CHECK(std::pow(10.0, L::min_exponent10) >= float(L::min()));
  CHECK(std::pow(10.0, L::min_exponent10 - 1) < float(L::min()));
#if KILN_TEST_HAS_FLOAT16
  CHECK(L::digits == __FLT16_MANT_DIG__);
  CHECK(L::digits10 == __FLT16_DIG__);
  CHECK(L::max_digits10 == __FLT16_DECIMAL_DIG__);
  CHECK(L::min_exponent == __FLT16_MIN_EXP__);
  CHECK(L::max_exponent == __FLT16_MAX_EXP__);
  CHECK(L::min_exponent10 == __FLT16_MIN_10_EXP__);
  CHECK(L::max_exponent10 == __FLT16_MAX_10_EXP__);
#else
  CHECK(L::digits10 == 3);
  CHECK(L::max_digits10 == 5);
#endif
}
