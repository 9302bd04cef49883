// tests/unit/test_bfloat16.cpp: kiln::bf16 against a naive, independently written rounding reference.
#include <kiln/core/bfloat16.hpp>
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

namespace {

using kiln::bf16;

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
bool is_nan_bits(std::uint16_t h) { return (h & 0x7fffu) > 0x7f80u; }

// Independent reference (g++ 12 has no bf16 type to compare with): all finite non-negative bf16
// values decoded by the textbook formula into a sorted table (pattern order is value order).
// Rounding finds the neighbours of |x| by binary search and compares |x| with their midpoint,
// which is exact in double (9 significant bits); a tie picks the even pattern. Rounding up to the
// entry past max (2^128) means overflow to infinity. T is double, or long double for int64 inputs.
class NaiveBF16 {
 public:
  NaiveBF16() {
    for (int p = 0; p < 0x7f80; ++p) {
      const int e = p >> 7, m = p & 0x7f;
      values_.push_back(e == 0 ? std::ldexp(double(m), -133) : std::ldexp(double(128 + m), e - 134));
    }
    values_.push_back(0x1p128);
  }

  double value(int p) const { return values_[static_cast<std::size_t>(p)]; }  // 0 <= p <= 0x7f80

  template <class T>
  std::uint16_t round(T x) const {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (std::isnan(x)) return sign | 0x7fc0;
    const T a = std::fabs(x);
    if (a >= T(0x1p128)) return sign | 0x7f80;
    // Binary search with values_[lo] <= a < values_[hi] (a raw loop: this runs millions of times
    // in unoptimized sanitizer builds).
    const double* v = values_.data();
    std::size_t lo = 0, hi = values_.size() - 1;
    while (hi - lo > 1) {
      const std::size_t m = (lo + hi) / 2;
      (T(v[m]) <= a ? lo : hi) = m;
    }
    std::size_t pick = lo;
    if (T(v[lo]) != a) {
      const T mid = (T(v[lo]) + T(v[hi])) / 2;
      pick = a < mid ? lo : a > mid ? hi : (lo % 2 == 0 ? lo : hi);
    }
    return static_cast<std::uint16_t>(sign | pick);
  }

 private:
  std::vector<double> values_;
};

const NaiveBF16& naive() {
  static const NaiveBF16 table;
  return table;
}

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
  if (is_nan_bits(want)) return is_nan_bits(got) && (got & 0x8000u) == (want & 0x8000u) && (got & 0x0040u) != 0;
  return got == want;
}

// The sign of a NaN that arithmetic produces is unspecified.
bool agrees_any_nan(std::uint16_t got, std::uint16_t want) {
  return is_nan_bits(want) ? is_nan_bits(got) : got == want;
}

void check_float(std::uint32_t xb, Mismatches& bad) {
  const float x = float_of(xb);
  const std::uint16_t got = bf16(x).bits;
  const std::uint16_t want = naive().round(double(x));
  if (!agrees(got, want)) bad.add(xb, got, want, "naive");
}

void check_double(double x, Mismatches& bad) {
  const std::uint16_t got = bf16(x).bits;
  const std::uint16_t want = naive().round(x);
  if (!agrees(got, want)) bad.add(std::bit_cast<std::uint64_t>(x), got, want, "naive");
}

// Signed-magnitude order of non-NaN patterns, with +0 and -0 equal: an ordering independent of float.
int order_key(std::uint16_t h) { return (h & 0x8000u) ? -int(h & 0x7fffu) : int(h); }

} // namespace

// --- compile-time checks ------------------------------------------------------------------------

static_assert(sizeof(bf16) == 2 && alignof(bf16) == 2);
static_assert(std::is_trivially_copyable_v<bf16> && std::is_standard_layout_v<bf16>);
static_assert(!std::is_convertible_v<float, bf16> && std::is_convertible_v<bf16, float>);
static_assert(float(bf16(1.5f)) == 1.5f);
static_assert(bf16(1.0).bits == 0x3f80 && bf16(-2.0f).bits == 0xc000 && bf16(0).bits == 0);
static_assert(bf16(std::bit_cast<float>(0x7f800001u)).bits == 0x7fc0);  // a NaN, not inf
static_assert(bf16(std::numeric_limits<float>::max()).bits == 0x7f80);
static_assert(bf16(1.0f + 0x1p-8f).bits == 0x3f80 && bf16(1.0f + 3 * 0x1p-8f).bits == 0x3f82);
static_assert(bf16(1.0 + 0x1p-8 + 0x1p-40).bits == 0x3f81);  // double: no double rounding
static_assert(bf16(std::int64_t{(1LL << 60) + (1LL << 52) + 1}).bits == 0x5d81);
static_assert(float(bf16::denorm_min()) == 0x1p-133f && float(bf16::max()) == 0x1.fep127f);
static_assert(kiln::isnan(bf16(std::numeric_limits<float>::quiet_NaN())));
static_assert(kiln::isinf(bf16(1e39)) && kiln::isfinite(bf16(1e38f)) && kiln::signbit(bf16(-0.0f)));
static_assert(bf16(1.5f) + bf16(2.25f) == bf16(3.75f) && bf16(3.0f) / bf16(2.0f) == bf16(1.5f));
static_assert((-bf16(2.0f)).bits == 0xc000 && bf16(0.0f) == bf16(-0.0f));
static_assert(bf16::quiet_nan() != bf16::quiet_nan());
static_assert([] {
  bf16 h(1.0f);
  h += bf16(2.0f);
  h *= bf16(4.0f);
  h -= bf16(2.0f);
  h /= bf16(5.0f);
  return h == bf16(2.0f);
}());
static_assert(std::numeric_limits<bf16>::is_specialized && std::numeric_limits<bf16>::digits == 8);

// --- conversions --------------------------------------------------------------------------------

TEST_CASE("bf16 -> float is exact for all 65536 patterns") {
  Mismatches bad("bf16->float");
  for (std::uint32_t p = 0; p <= 0xffff; ++p) {
    const auto h = bf16::from_bits(static_cast<std::uint16_t>(p));
    const float f = float(h);
    const std::uint32_t sign = (p & 0x8000u) << 16, mag = p & 0x7fffu;
    std::uint32_t want;
    if (mag >= 0x7f80u)  // inf, or NaN with its payload
      want = sign | 0x7f800000u | ((mag & 0x7fu) << 16);
    else
      want = sign | bits_of(static_cast<float>(naive().value(static_cast<int>(mag))));
    if (bits_of(f) != want) bad.add(p, static_cast<std::uint16_t>(bits_of(f) >> 16), static_cast<std::uint16_t>(want >> 16), "decode");
    if (kiln::isnan(h) != std::isnan(f) || kiln::isinf(h) != std::isinf(f) || kiln::isfinite(h) != std::isfinite(f) ||
        kiln::signbit(h) != std::signbit(f))
      bad.add(p, 0, 0, "classification");
    // Round trip, through float and through double: exact except that a signalling NaN comes back quiet.
    const auto back_want = static_cast<std::uint16_t>(kiln::isnan(h) ? p | 0x0040u : p);
    if (bf16(f).bits != back_want) bad.add(p, bf16(f).bits, back_want, "round trip");
    if (bf16(double(f)).bits != back_want) bad.add(p, bf16(double(f)).bits, back_want, "round trip via double");
    if ((-h).bits != (p ^ 0x8000u)) bad.add(p, (-h).bits, static_cast<std::uint16_t>(p ^ 0x8000u), "negation");
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("float -> bf16 around every bf16 value and every midpoint") {
  Mismatches bad("float->bf16 boundaries");
  for (int p = 0; p <= 0x7f80; ++p) {
    const double v = naive().value(p);
    const std::uint32_t vb = bits_of(static_cast<float>(v));  // p == 0x7f80: 2^128 -> inf
    std::uint32_t centres[2] = {vb, vb};
    if (p < 0x7f80) centres[1] = bits_of(static_cast<float>((v + naive().value(p + 1)) / 2));  // exact
    for (std::uint32_t c : centres)
      for (std::uint32_t d = 0; d <= 6; ++d)
        for (std::uint32_t sign : {0u, 0x80000000u}) check_float(sign | ((c + d - 3) & 0x7fffffffu), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("double -> bf16 rounds once, not via float") {
  Mismatches bad("double->bf16 boundaries");
  int differs_from_via_float = 0;
  for (int p = 0; p < 0x7f80; ++p) {
    const double mid = (naive().value(p) + naive().value(p + 1)) / 2;
    for (double x : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e300), mid * (1 + 0x1p-40), mid * (1 - 0x1p-40)})
      for (double s : {1.0, -1.0}) {
        check_double(s * x, bad);
        if (bf16(s * x).bits != bf16(static_cast<float>(s * x)).bits) ++differs_from_via_float;
      }
  }
  CHECK(bad.count() == 0);
  CHECK(differs_from_via_float > 0);  // the cases above do exercise the difference
}

TEST_CASE("float -> bf16 on pseudo-random floats") {
  Mismatches bad("float->bf16 random");
  std::uint64_t state = 0x6b696c6e62663136u;
  for (int i = 0; i < (1 << 20); ++i) {
    const std::uint64_t r = splitmix64(state);
    check_float(static_cast<std::uint32_t>(r), bad);  // any pattern, every exponent
    // Float subnormals and the top binades, where carries cross into the exponent or to inf.
    const std::uint32_t exps[4] = {0, 1, 253, 254};
    check_float(static_cast<std::uint32_t>((r >> 32) & 0x807fffffu) | (exps[(r >> 40) % 4] << 23), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("double -> bf16 on pseudo-random doubles") {
  Mismatches bad("double->bf16 random");
  std::uint64_t state = 0x64626c6266313621u;
  for (int i = 0; i < (1 << 18); ++i) {
    const std::uint64_t r = splitmix64(state);
    check_double(std::bit_cast<double>(r), bad);
    const std::uint64_t exp = 1023 - 136 + (r >> 11) % 266;  // 2^-136 .. 2^129
    check_double(std::bit_cast<double>((r & 0x800fffffffffffffu) | (exp << 52)), bad);
  }
  CHECK(bad.count() == 0);
}

TEST_CASE("bf16 conversion edge cases") {
  const float inf = std::numeric_limits<float>::infinity();
  const float fmax = std::numeric_limits<float>::max();
  struct Case {
    float x;
    std::uint16_t want;
  };
  const Case cases[] = {
      {0.0f, 0x0000}, {-0.0f, 0x8000}, {inf, 0x7f80}, {-inf, 0xff80}, {1.0f, 0x3f80}, {-1.5f, 0xbfc0},
      // NaN: truncating these would give inf (or lose the NaN); the result stays a quiet NaN with its sign.
      {float_of(0x7f800001u), 0x7fc0}, {float_of(0xff800001u), 0xffc0}, {float_of(0x7f80ffffu), 0x7fc0},
      {float_of(0x7fc00000u), 0x7fc0}, {float_of(0xffc00000u), 0xffc0}, {float_of(0x7fa00000u), 0x7fe0},
      {float_of(0x7fffffffu), 0x7fff}, {float_of(0xff810000u), 0xffc1},
      // Overflow: the midpoint above max (odd mantissa) ties to inf; just below it stays max.
      {fmax, 0x7f80}, {-fmax, 0xff80}, {float_of(0x7f7f8000u), 0x7f80}, {float_of(0x7f7f7fffu), 0x7f7f},
      {float_of(0x7f7f0000u), 0x7f7f}, {float_of(0x7f7e8000u), 0x7f7e},
      // Ties to even at several exponents.
      {1.0f + 0x1p-8f, 0x3f80}, {1.0f + 3 * 0x1p-8f, 0x3f82}, {float_of(0x3f808001u), 0x3f81},
      {float_of(0x3f807fffu), 0x3f80}, {257.0f, 0x4380}, {259.0f, 0x4382}, {-257.0f, 0xc380},
      {float_of(0x00008000u), 0x0000}, {float_of(0x00018000u), 0x0002}, {float_of(0x80008000u), 0x8000},
      // Subnormals, and rounding up out of them into the smallest normal.
      {std::numeric_limits<float>::denorm_min(), 0x0000}, {0x1p-133f, 0x0001}, {0x1p-134f, 0x0000},
      {float_of(0x00008001u), 0x0001}, {float_of(0x007fffffu), 0x0080}, {float_of(0x007f7fffu), 0x007f},
      {std::numeric_limits<float>::min(), 0x0080},
  };
  for (const Case& c : cases) {
    CAPTURE(hex(bits_of(c.x)));
    CHECK(hex(bf16(c.x).bits) == hex(c.want));
  }

  struct DCase {
    double x;
    std::uint16_t want;
  };
  const DCase dcases[] = {
      {0x1.ffp127, 0x7f80}, {std::nextafter(0x1.ffp127, 0.0), 0x7f7f}, {1e300, 0x7f80}, {-1e300, 0xff80},
      {double(std::numeric_limits<float>::max()), 0x7f80}, {std::numeric_limits<double>::max(), 0x7f80},
      {std::numeric_limits<double>::infinity(), 0x7f80}, {-0.0, 0x8000},
      {0x1p-134, 0x0000}, {std::nextafter(0x1p-134, 1.0), 0x0001}, {-0x1p-134, 0x8000}, {0x1.8p-133, 0x0002},
      {std::numeric_limits<double>::min(), 0x0000}, {std::numeric_limits<double>::denorm_min(), 0x0000},
      {1e-300, 0x0000}, {127.5 * 0x1p-133, 0x0080}, {std::nextafter(0x1p-126 - 0x1p-134, 0.0), 0x007f},
      {1.0 + 0x1p-8 + 0x1p-40, 0x3f81},  // via float this is the tie 1 + 2^-8, which rounds to 0x3f80
      {1.0 + 0x1p-8 - 0x1p-40, 0x3f80}, {1.0 + 0x1p-8, 0x3f80},
      {std::bit_cast<double>(0x7ff0000000000001u), 0x7fc0}, {std::bit_cast<double>(0xfff8000000000000u), 0xffc0},
      {std::bit_cast<double>(0x7ff4000000000000u), 0x7fe0},
  };
  for (const DCase& c : dcases) {
    CAPTURE(hex(std::bit_cast<std::uint64_t>(c.x)));
    CHECK(hex(bf16(c.x).bits) == hex(c.want));
  }
}

TEST_CASE("bf16 from integers") {
  CHECK(bf16(0).bits == 0x0000);
  CHECK(bf16(1).bits == 0x3f80);
  CHECK(bf16(-1).bits == 0xbf80);
  CHECK(bf16(true).bits == 0x3f80);
  CHECK(float(bf16(std::uint8_t{255})) == 255.0f);  // 8 significant bits: exact
  CHECK(float(bf16(257)) == 256.0f);  // tie to even
  CHECK(float(bf16(259u)) == 260.0f);
  // 2^60 + 2^52 is the tie between 2^60 and 2^60 + 2^53; + 1 breaks it, but double(x) loses the + 1.
  CHECK(bf16(std::int64_t{(1LL << 60) + (1LL << 52)}).bits == 0x5d80);
  CHECK(bf16(std::int64_t{(1LL << 60) + (1LL << 52) + 1}).bits == 0x5d81);
  CHECK(bf16(std::int64_t{-(1LL << 60) - (1LL << 52) - 1}).bits == 0xdd81);
  CHECK(bf16(std::uint64_t{(1ULL << 63) + (1ULL << 55) + 1}).bits == 0x5f01);
  CHECK(bf16(std::numeric_limits<std::int64_t>::min()).bits == 0xdf00);
  CHECK(bf16(std::numeric_limits<std::int64_t>::max()).bits == 0x5f00);
  CHECK(bf16(std::numeric_limits<std::uint64_t>::max()).bits == 0x5f80);

  std::uint64_t state = 0x696e74626631360u;
  int bad = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t r = splitmix64(state);
    const auto i32 = static_cast<std::int32_t>(r >> (r % 32));  // every magnitude
    if (bf16(i32).bits != naive().round(double(i32)) && ++bad <= 8) FAIL_CHECK("bf16(int32) " << i32);
    // long double holds every int64 exactly on x86-64; elsewhere skip the 64-bit sweep.
    if constexpr (std::numeric_limits<long double>::digits >= 64) {
      const auto i64 = static_cast<std::int64_t>(r >> (r % 64));
      const auto u64 = r >> (r >> 58);
      if (bf16(i64).bits != naive().round(static_cast<long double>(i64)) && ++bad <= 8) FAIL_CHECK("bf16(int64) " << i64);
      if (bf16(u64).bits != naive().round(static_cast<long double>(u64)) && ++bad <= 8) FAIL_CHECK("bf16(uint64) " << u64);
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("bf16 and f16 convert into each other through float") {
  // Each direction is one rounding of an exact float.
  CHECK(kiln::f16(bf16(1.5f)).bits == 0x3e00);
  CHECK(bf16(kiln::f16(1.5f)).bits == 0x3fc0);
  CHECK(kiln::isinf(kiln::f16(bf16(1e5f))));
  CHECK(bf16(kiln::f16(1.0f + 0x1p-9f)).bits == 0x3f80);
  CHECK(bf16(kiln::f16(1.0f + 0x1p-8f)).bits == 0x3f80);  // tie in bf16, to even
  CHECK(bf16(kiln::f16(1.0f + 3 * 0x1p-8f)).bits == 0x3f82);
}

// --- comparisons and arithmetic -----------------------------------------------------------------

TEST_CASE("bf16 comparisons follow IEEE semantics") {
  const bf16 nan = bf16::quiet_nan(), zero(0.0f), neg_zero(-0.0f), one(1.0f);
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
  CHECK(-bf16::infinity() < bf16::lowest());
  CHECK(bf16::max() < bf16::infinity());
  CHECK(bf16::denorm_min() > zero);

  std::uint64_t state = 0x636d706266313621u;
  int bad = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t r = splitmix64(state);
    const auto a = bf16::from_bits(static_cast<std::uint16_t>(r)), b = bf16::from_bits(static_cast<std::uint16_t>(r >> 16));
    const auto c = bf16::from_bits(static_cast<std::uint16_t>((r >> 32 & 0x8000u) | (a.bits & 0x7fffu)));
    for (const bf16& y : {b, c}) {
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

TEST_CASE("bf16 arithmetic is correctly rounded") {
  // Products of two bf16 values are exact in double; sums, differences and quotients are rounded
  // once to 53 bits, which is harmless before rounding to 8 (53 >= 2 * 8 + 2). The naive reference
  // then rounds once.
  std::uint64_t state = 0x6172697462663136u;
  Mismatches bad("bf16 arithmetic");
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t r = splitmix64(state);
    auto a = bf16::from_bits(static_cast<std::uint16_t>(r)), b = bf16::from_bits(static_cast<std::uint16_t>(r >> 16));
    if (i % 2 == 0)  // half of the pairs with nearby exponents, so that sums do not just return the larger
      b = bf16::from_bits(static_cast<std::uint16_t>((b.bits & 0x807fu) | ((a.bits + (r >> 32) % 2048 - 1024) & 0x7f80u)));
    const double x = float(a), y = float(b);
    const std::uint64_t in = r & 0xffffffffu;
    if (!agrees_any_nan((a + b).bits, naive().round(x + y))) bad.add(in, (a + b).bits, naive().round(x + y), "+");
    if (!agrees_any_nan((a - b).bits, naive().round(x - y))) bad.add(in, (a - b).bits, naive().round(x - y), "-");
    if (!agrees_any_nan((a * b).bits, naive().round(x * y))) bad.add(in, (a * b).bits, naive().round(x * y), "*");
    if (!agrees_any_nan((a / b).bits, naive().round(x / y))) bad.add(in, (a / b).bits, naive().round(x / y), "/");
    bf16 s = a, d = a, m = a, q = a;
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
  CHECK((bf16(1.0f) + bf16(0x1p-8f)).bits == 0x3f80);  // tie, to even
  CHECK((bf16(1.0f) + bf16(0x1.8p-8f)).bits == 0x3f81);
  CHECK(bf16(256.0f) + bf16(1.0f) == bf16(256.0f));
  CHECK(float(+bf16(3.0f)) == 3.0f);
  CHECK(kiln::isnan(bf16::infinity() - bf16::infinity()));
  CHECK(kiln::isinf(bf16::max() + bf16::max()));
  CHECK(kiln::isinf(bf16(1.0f) / bf16(0.0f)));
}

// --- limits -------------------------------------------------------------------------------------

TEST_CASE("numeric_limits<bf16>") {
  using L = std::numeric_limits<bf16>;
  using F = std::numeric_limits<float>;
  CHECK(L::is_specialized);
  CHECK(L::is_signed);
  CHECK_FALSE(L::is_integer);
  CHECK(L::has_infinity);
  CHECK(L::has_quiet_NaN);
  CHECK(L::has_signaling_NaN);
  CHECK(L::has_denorm == std::denorm_present);
  CHECK(L::round_style == std::round_to_nearest);
  CHECK_FALSE(L::is_iec559);
  CHECK(L::radix == 2);
  CHECK(L::digits == 8);
  CHECK(L::digits10 == 2);
  CHECK(L::max_digits10 == 4);
  // Same exponent range as float.
  CHECK(L::min_exponent == F::min_exponent);
  CHECK(L::max_exponent == F::max_exponent);
  CHECK(L::min_exponent10 == F::min_exponent10);
  CHECK(L::max_exponent10 == F::max_exponent10);
  CHECK(float(L::min()) == F::min());
  CHECK(float(L::max()) == 0x1.fep127f);
  CHECK(float(L::lowest()) == -0x1.fep127f);
  CHECK(float(L::denorm_min()) == 0x1p-133f);
  CHECK(float(L::epsilon()) == 0x1p-7f);
  CHECK(float(L::round_error()) == 0.5f);
  CHECK(std::isinf(float(L::infinity())));
  CHECK(float(L::infinity()) > 0);
  CHECK(std::isnan(float(L::quiet_NaN())));
  CHECK(std::isnan(float(L::signaling_NaN())));
  CHECK((L::quiet_NaN().bits & 0x0040u) != 0);
  CHECK((L::signaling_NaN().bits & 0x0040u) == 0);
  CHECK(float(bf16::from_bits(0x3f81)) - 1.0f == float(L::epsilon()));
  CHECK(std::floor((L::digits - 1) * std::log10(2.0)) == L::digits10);
  CHECK(std::ceil(1 + L::digits * std::log10(2.0)) == L::max_digits10);
}
