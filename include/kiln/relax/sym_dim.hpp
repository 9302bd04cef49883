// kiln/relax/sym_dim.hpp: symbolic dimensions (`batch*seq + 1`), values usable in constant expressions.
//
// A static graph knows every dim as a constant and infers its shapes in the C++ compiler; a
// dynamic module knows some dims only as named symbols bound at run time. SymDim serves
// both: it keeps its whole expression in fixed-capacity arrays, so it is a literal type
// that the compiler can build, compare and print, and that a module evaluates once the
// symbols are bound.
//
// Every SymDim is kept in a canonical form, so that dims equal by ordinary algebra compare
// equal as values (`b*seq == seq*b`, `2*b + b == 3*b`): a sum
//     c0 + c1*m1 + c2*m2 + ...
// of monomials m (products of atoms, higher degree first, then in atom order) with nonzero
// integer coefficients, where an atom is a symbol or an operation the sum cannot absorb:
// floordiv, floormod, min or max of two sub-expressions. Division by a constant keeps only
// the part that does not divide evenly inside the atom (floordiv(4*s + 3, 2) = 2*s + 1).
//
// Symbols stand for dimensions: simplification assumes 0 <= symbol <= kMaxSymbolValue,
// and evaluation rejects bindings outside that range.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/extent.hpp"
#include "../core/name.hpp"
#include "../core/result.hpp"
#include "../core/status.hpp"
#include "fixed_string.hpp"

namespace kiln::relax {

// The answer to a question about dims that may not be known yet.
enum class Truth : std::uint8_t { no, yes, unknown };

// Why a SymDim holds no expression. A faulted dim stays faulted through arithmetic; shape
// inference and evaluation report the fault.
enum class DimFault : std::uint8_t {
  none,
  too_complex,       // the expression outgrew SymDim's fixed capacity
  division_by_zero,  // floordiv, floormod or ceildiv by a constant 0
  overflow,          // a constant outside int64_t
};

constexpr std::string_view to_string(DimFault fault) noexcept {
  switch (fault) {
    case DimFault::none: return "valid";
    case DimFault::too_complex: return "too complex";
    case DimFault::division_by_zero: return "division by zero";
    case DimFault::overflow: return "integer overflow";
  }
  return "?";
}

// The largest value a symbol can be bound to (2^48: far above any real dimension, far
// enough below int64_t that products of a few dims do not overflow in bounds).
inline constexpr std::int64_t kMaxSymbolValue = std::int64_t{1} << 48;

// A value bound to a symbol.
struct SymbolValue {
  Name symbol;
  std::int64_t value = 0;
};

// The values of the symbols a module's dims are expressed in: evaluate(dim, {{"batch", 2}}).
class Bindings {
 public:
  static constexpr int capacity = 16;

  constexpr Bindings() = default;
  constexpr Bindings(std::initializer_list<SymbolValue> values) noexcept {  // NOLINT: implicit
    for (const SymbolValue& v : values) bind(v.symbol, v.value);
  }

  // Binds `symbol`, or rebinds it; false (and overflow() true) when there is no room left.
  constexpr bool bind(const Name& symbol, std::int64_t value) noexcept {
    for (int i = 0; i < count_; ++i) {
      if (entries_[i].symbol == symbol) {
        entries_[i].value = value;
        return true;
      }
    }
    if (count_ == capacity) {
      overflow_ = true;
      return false;
    }
    entries_[count_++] = SymbolValue{symbol, value};
    return true;
  }

  constexpr std::optional<std::int64_t> find(const Name& symbol) const noexcept {
    for (int i = 0; i < count_; ++i)
      if (entries_[i].symbol == symbol) return entries_[i].value;
    return std::nullopt;
  }
  constexpr int size() const noexcept { return count_; }
  constexpr bool overflow() const noexcept { return overflow_; }
  constexpr const SymbolValue* begin() const noexcept { return entries_; }
  constexpr const SymbolValue* end() const noexcept { return entries_ + count_; }

 private:
  SymbolValue entries_[capacity] = {};
  int count_ = 0;
  bool overflow_ = false;
};

// Bounds of a dim; the int64_t extremes stand for "unbounded".
struct DimBounds {
  std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  std::int64_t hi = std::numeric_limits<std::int64_t>::max();
};

// Why a dim has no value under some bindings.
enum class EvalFailure : std::uint8_t {
  none,
  faulted,           // the dim itself is faulted (SymDim::fault() says why)
  unbound,           // a symbol it uses has no value
  out_of_range,      // a symbol is bound to a negative value or one above kMaxSymbolValue
  division_by_zero,  // a divisor evaluated to 0
  overflow,          // an intermediate value left int64_t
};

// The value of a dim under some bindings, or why there is none (`symbol` names the
// symbol for unbound and out_of_range).
struct DimValue {
  std::int64_t value = 0;
  EvalFailure failure = EvalFailure::none;
  Name symbol;
  constexpr bool ok() const noexcept { return failure == EvalFailure::none; }
};

namespace detail {
inline constexpr std::int64_t kNegInf = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kPosInf = std::numeric_limits<std::int64_t>::max();

// Interval arithmetic for bounds: the int64_t extremes absorb everything, and results that
// leave int64_t become one of them.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b, bool lower) noexcept {
  if (lower && (a == kNegInf || b == kNegInf)) return kNegInf;
  if (!lower && (a == kPosInf || b == kPosInf)) return kPosInf;
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return a < 0 ? kNegInf : kPosInf;
  return r;
}
constexpr std::int64_t saturating_mul(std::int64_t a, std::int64_t b) noexcept {
  if (a == 0 || b == 0) return 0;
  const bool negative = (a < 0) != (b < 0);
  std::int64_t r = 0;
  if (a == kNegInf || a == kPosInf || b == kNegInf || b == kPosInf || __builtin_mul_overflow(a, b, &r))
    return negative ? kNegInf : kPosInf;
  return r;
}
constexpr DimBounds scale_bounds(DimBounds b, std::int64_t k) noexcept {
  if (k >= 0) return {saturating_mul(b.lo, k), saturating_mul(b.hi, k)};
  return {saturating_mul(b.hi, k), saturating_mul(b.lo, k)};
}
constexpr DimBounds multiply_bounds(DimBounds a, DimBounds b) noexcept {
  const std::int64_t p[4] = {saturating_mul(a.lo, b.lo), saturating_mul(a.lo, b.hi), saturating_mul(a.hi, b.lo),
                             saturating_mul(a.hi, b.hi)};
  DimBounds out{p[0], p[0]};
  for (std::int64_t v : p) {
    if (v < out.lo) out.lo = v;
    if (v > out.hi) out.hi = v;
  }
  return out;
}
constexpr DimBounds add_bounds(DimBounds a, DimBounds b) noexcept {
  return {saturating_add(a.lo, b.lo, true), saturating_add(a.hi, b.hi, false)};
}
// floordiv of a bound by a positive constant; unbounded stays unbounded.
constexpr std::int64_t floordiv_bound(std::int64_t v, std::int64_t d) noexcept {
  return (v == kNegInf || v == kPosInf) ? v : kiln::floordiv(v, d);
}
} // namespace detail

class SymDim {
 public:
  // Capacities of the expression pool each SymDim carries.
  static constexpr int kMaxSymbols = 4;  // distinct symbol names
  static constexpr int kMaxAtoms = 6;    // distinct symbols and operations
  static constexpr int kMaxPolys = 4;    // the root sum and the operands of operations
  static constexpr int kMaxTerms = 4;    // non-constant terms of one sum
  static constexpr int kMaxDegree = 4;   // atoms in one monomial

  // The constant 0.
  constexpr SymDim() noexcept = default;
  // A constant; implicit, so that dims can be written {batch, 3, 224, 224}.
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  constexpr SymDim(I value) noexcept {  // NOLINT(google-explicit-constructor)
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (value > static_cast<I>(detail::kPosInf)) {
        fault_ = DimFault::overflow;
        return;
      }
    }
    polys_[0].constant = static_cast<std::int64_t>(value);
  }

  static constexpr SymDim symbol(const Name& name) noexcept {
    SymDim d;
    d.symbols_[0] = name;
    d.symbol_count_ = 1;
    d.atoms_[0] = Atom{};
    d.atom_count_ = 1;
    d.polys_[0] = atom_poly(0);
    return d;
  }
  static constexpr SymDim faulted(DimFault fault) noexcept {
    SymDim d;
    d.fault_ = fault;
    return d;
  }

  constexpr bool valid() const noexcept { return fault_ == DimFault::none; }
  constexpr DimFault fault() const noexcept { return fault_; }
  constexpr bool is_constant() const noexcept { return valid() && root().term_count == 0; }
  constexpr bool is_constant(std::int64_t value) const noexcept { return is_constant() && root().constant == value; }
  // The value of a constant dim; 0 for any other.
  constexpr std::int64_t constant_value() const noexcept { return is_constant() ? root().constant : 0; }
  constexpr std::optional<std::int64_t> as_constant() const noexcept {
    if (!is_constant()) return std::nullopt;
    return root().constant;
  }
  // Whether the dim is exactly one symbol.
  constexpr bool is_symbol() const noexcept {
    const Poly& p = root();
    return valid() && p.constant == 0 && p.term_count == 1 && p.terms[0].coef == 1 && p.terms[0].degree == 1 &&
           atoms_[p.terms[0].factors[0]].kind == AtomKind::symbol;
  }

  // The symbols the dim depends on, in canonical order.
  constexpr int symbol_count() const noexcept { return symbol_count_; }
  constexpr const Name& symbol_at(int i) const noexcept { return symbols_[i]; }

  // Bounds that hold for every binding of the symbols.
  constexpr DimBounds bounds() const noexcept {
    if (!valid()) return {};
    return poly_bounds(root());
  }

  // Writes the expression (`batch*seq + 1`) to a sink with append(char) and append(string_view).
  template <class Sink>
  constexpr void print(Sink& out) const {
    if (!valid()) {
      out.append('<');
      out.append(to_string(fault_));
      out.append('>');
      return;
    }
    print_poly(out, root());
  }

  friend constexpr SymDim operator+(const SymDim& a, const SymDim& b) noexcept { return arith(a, b, Arith::add); }
  friend constexpr SymDim operator-(const SymDim& a, const SymDim& b) noexcept { return arith(a, b, Arith::sub); }
  friend constexpr SymDim operator*(const SymDim& a, const SymDim& b) noexcept { return arith(a, b, Arith::mul); }
  friend constexpr SymDim operator-(const SymDim& a) noexcept { return arith(SymDim(0), a, Arith::sub); }
  constexpr SymDim& operator+=(const SymDim& b) noexcept { return *this = *this + b; }
  constexpr SymDim& operator-=(const SymDim& b) noexcept { return *this = *this - b; }
  constexpr SymDim& operator*=(const SymDim& b) noexcept { return *this = *this * b; }

  // Division and remainder rounding towards negative infinity, as kiln::floordiv does.
  friend constexpr SymDim floordiv(const SymDim& a, const SymDim& b) noexcept { return divide(a, b, AtomKind::floordiv); }
  friend constexpr SymDim floormod(const SymDim& a, const SymDim& b) noexcept { return divide(a, b, AtomKind::floormod); }
  friend constexpr SymDim ceildiv(const SymDim& a, const SymDim& b) noexcept {
    return divide(a + b - SymDim(1), b, AtomKind::floordiv);
  }
  friend constexpr SymDim min(const SymDim& a, const SymDim& b) noexcept { return extremum(a, b, AtomKind::min); }
  friend constexpr SymDim max(const SymDim& a, const SymDim& b) noexcept { return extremum(a, b, AtomKind::max); }

  // Structural equality of canonical forms: true means equal for every binding; false means
  // only that simplification did not show it (prove_equal answers the question with bounds).
  friend constexpr bool operator==(const SymDim& a, const SymDim& b) noexcept {
    if (a.fault_ != b.fault_) return false;
    return !a.valid() || compare_polys(a, a.root(), b, b.root()) == 0;
  }

  friend constexpr DimValue evaluate_dim(const SymDim& d, const Bindings& bindings) noexcept {
    DimValue out;
    if (!d.valid()) {
      out.failure = EvalFailure::faulted;
      return out;
    }
    out.value = d.eval_poly(d.root(), bindings, out);
    if (!out.ok()) out.value = 0;
    return out;
  }

 private:
  static constexpr std::uint8_t kConstantOperand = 0xFF;

  enum class AtomKind : std::uint8_t { symbol, floordiv, floormod, min, max };
  enum class Arith : std::uint8_t { add, sub, mul };

  // coef * factors[0] * ... * factors[degree - 1]; factors index atoms_, in canonical order.
  struct Term {
    std::int64_t coef = 0;
    std::uint8_t factors[kMaxDegree] = {};
    std::uint8_t degree = 0;
  };
  // constant + terms[0] + ...; terms in canonical order, no two with the same monomial.
  struct Poly {
    std::int64_t constant = 0;
    Term terms[kMaxTerms] = {};
    std::uint8_t term_count = 0;
  };
  // A symbol (symbols_[symbol]) or an operation on polys_[lhs] and polys_[rhs], where rhs
  // kConstantOperand means the constant rhs_constant.
  struct Atom {
    AtomKind kind = AtomKind::symbol;
    std::uint8_t symbol = 0;
    std::uint8_t lhs = 0;
    std::uint8_t rhs = kConstantOperand;
    std::int64_t rhs_constant = 0;
  };

  // polys_[0] is the dim itself. Atoms and operand polys are unique (interned), so within
  // one SymDim equal atoms have equal indices.
  Poly polys_[kMaxPolys] = {};
  Atom atoms_[kMaxAtoms] = {};
  Name symbols_[kMaxSymbols] = {};
  std::uint8_t poly_count_ = 1;
  std::uint8_t atom_count_ = 0;
  std::uint8_t symbol_count_ = 0;
  DimFault fault_ = DimFault::none;

  static constexpr std::uint8_t u8(int v) noexcept { return static_cast<std::uint8_t>(v); }
  constexpr const Poly& root() const noexcept { return polys_[0]; }
  constexpr void fail(DimFault f) noexcept {
    if (fault_ == DimFault::none) fault_ = f;
  }

  static constexpr Poly atom_poly(int atom) noexcept {
    Poly p;
    p.term_count = 1;
    p.terms[0].coef = 1;
    p.terms[0].degree = 1;
    p.terms[0].factors[0] = u8(atom);
    return p;
  }

  // ---- the canonical order -----------------------------------------------------------------
  static constexpr int order(std::int64_t a, std::int64_t b) noexcept { return a < b ? -1 : (a > b ? 1 : 0); }

  static constexpr int compare_atoms(const SymDim& a, int i, const SymDim& b, int j) noexcept {
    if (&a == &b && i == j) return 0;
    const Atom& x = a.atoms_[i];
    const Atom& y = b.atoms_[j];
    if (x.kind != y.kind) return x.kind < y.kind ? -1 : 1;
    if (x.kind == AtomKind::symbol) {
      const int c = a.symbols_[x.symbol].view().compare(b.symbols_[y.symbol].view());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (const int c = compare_polys(a, a.polys_[x.lhs], b, b.polys_[y.lhs])) return c;
    const bool x_constant = x.rhs == kConstantOperand;
    const bool y_constant = y.rhs == kConstantOperand;
    if (x_constant != y_constant) return x_constant ? -1 : 1;
    if (x_constant) return order(x.rhs_constant, y.rhs_constant);
    return compare_polys(a, a.polys_[x.rhs], b, b.polys_[y.rhs]);
  }

  // Higher degree first, then atom by atom.
  static constexpr int compare_monomials(const SymDim& a, const Term& x, const SymDim& b, const Term& y) noexcept {
    if (x.degree != y.degree) return x.degree > y.degree ? -1 : 1;
    for (int k = 0; k < x.degree; ++k)
      if (const int c = compare_atoms(a, x.factors[k], b, y.factors[k])) return c;
    return 0;
  }

  static constexpr int compare_polys(const SymDim& a, const Poly& p, const SymDim& b, const Poly& q) noexcept {
    if (p.term_count != q.term_count) return p.term_count < q.term_count ? -1 : 1;
    for (int t = 0; t < p.term_count; ++t) {
      if (const int c = compare_monomials(a, p.terms[t], b, q.terms[t])) return c;
      if (const int c = order(p.terms[t].coef, q.terms[t].coef)) return c;
    }
    return order(p.constant, q.constant);
  }

  // ---- the pool: interning and copying between dims ----------------------------------------
  constexpr int intern_symbol(const Name& name) noexcept {
    for (int i = 0; i < symbol_count_; ++i)
      if (symbols_[i] == name) return i;
    if (symbol_count_ == kMaxSymbols) return -1;
    symbols_[symbol_count_] = name;
    return symbol_count_++;
  }
  constexpr int intern_atom(const Atom& atom) noexcept {
    for (int i = 0; i < atom_count_; ++i) {
      const Atom& a = atoms_[i];
      if (a.kind == atom.kind && a.symbol == atom.symbol && a.lhs == atom.lhs && a.rhs == atom.rhs &&
          a.rhs_constant == atom.rhs_constant)
        return i;
    }
    if (atom_count_ == kMaxAtoms) return -1;
    atoms_[atom_count_] = atom;
    return atom_count_++;
  }
  constexpr int intern_poly(const Poly& p) noexcept {
    for (int i = 1; i < poly_count_; ++i)
      if (compare_polys(*this, polys_[i], *this, p) == 0) return i;
    if (poly_count_ == kMaxPolys) return -1;
    polys_[poly_count_] = p;
    return poly_count_++;
  }

  // Copies atom `index` of `src`, and what it refers to, into this pool; -1 when full.
  constexpr int import_atom(const SymDim& src, int index) noexcept {
    const Atom& from = src.atoms_[index];
    Atom atom;
    atom.kind = from.kind;
    if (from.kind == AtomKind::symbol) {
      const int s = intern_symbol(src.symbols_[from.symbol]);
      if (s < 0) return -1;
      atom.symbol = u8(s);
    } else {
      const int lhs = import_operand(src, from.lhs);
      if (lhs < 0) return -1;
      atom.lhs = u8(lhs);
      if (from.rhs == kConstantOperand) {
        atom.rhs_constant = from.rhs_constant;
      } else {
        const int rhs = import_operand(src, from.rhs);
        if (rhs < 0) return -1;
        atom.rhs = u8(rhs);
      }
    }
    return intern_atom(atom);
  }
  constexpr int import_operand(const SymDim& src, int poly) noexcept {
    Poly p;
    if (!import_poly(src, src.polys_[poly], p)) return -1;
    return intern_poly(p);
  }
  // `from`, a poly of `src`, as a poly over this pool's atoms. Atom order is structural, so
  // the copy is canonical as it stands.
  constexpr bool import_poly(const SymDim& src, const Poly& from, Poly& to) noexcept {
    Poly p;
    p.constant = from.constant;
    p.term_count = from.term_count;
    for (int t = 0; t < from.term_count; ++t) {
      p.terms[t].coef = from.terms[t].coef;
      p.terms[t].degree = from.terms[t].degree;
      for (int k = 0; k < from.terms[t].degree; ++k) {
        const int a = import_atom(src, from.terms[t].factors[k]);
        if (a < 0) return false;
        p.terms[t].factors[k] = u8(a);
      }
    }
    to = p;
    return true;
  }

  // An operand of an operation, as a poly of this (result) dim's pool.
  constexpr Poly take(const SymDim& operand) noexcept {
    Poly p;
    if (!import_poly(operand, operand.root(), p)) fail(DimFault::too_complex);
    return p;
  }
  // The dim whose value is `p`, a poly of this pool, without the pool entries p does not
  // reach. Copying only what the root reaches also makes the layout canonical.
  constexpr SymDim finish(const Poly& p) const noexcept {
    if (!valid()) return faulted(fault_);
    SymDim out;
    if (!out.import_poly(*this, p, out.polys_[0])) return faulted(DimFault::too_complex);
    return out;
  }

  // ---- sums of monomials -----------------------------------------------------------------
  constexpr std::int64_t checked_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) fail(DimFault::overflow);
    return r;
  }
  constexpr std::int64_t checked_mul(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) fail(DimFault::overflow);
    return r;
  }

  static constexpr bool same_monomial(const Term& x, const Term& y) noexcept {
    if (x.degree != y.degree) return false;
    for (int k = 0; k < x.degree; ++k)
      if (x.factors[k] != y.factors[k]) return false;
    return true;
  }

  // p += coef * monomial, combining like terms and keeping the canonical order.
  constexpr void add_term(Poly& p, std::int64_t coef, const Term& monomial) noexcept {
    if (coef == 0) return;
    for (int i = 0; i < p.term_count; ++i) {
      if (!same_monomial(p.terms[i], monomial)) continue;
      const std::int64_t sum = checked_add(p.terms[i].coef, coef);
      if (sum != 0) {
        p.terms[i].coef = sum;
        return;
      }
      for (int j = i; j + 1 < p.term_count; ++j) p.terms[j] = p.terms[j + 1];
      p.term_count = u8(p.term_count - 1);
      p.terms[p.term_count] = Term{};
      return;
    }
    if (p.term_count == kMaxTerms) {
      fail(DimFault::too_complex);
      return;
    }
    int at = 0;
    while (at < p.term_count && compare_monomials(*this, p.terms[at], *this, monomial) < 0) ++at;
    for (int j = p.term_count; j > at; --j) p.terms[j] = p.terms[j - 1];
    p.terms[at] = monomial;
    p.terms[at].coef = coef;
    p.term_count = u8(p.term_count + 1);
  }

  constexpr Poly add_polys(const Poly& a, const Poly& b) noexcept {
    Poly out = a;
    out.constant = checked_add(a.constant, b.constant);
    for (int t = 0; t < b.term_count; ++t) add_term(out, b.terms[t].coef, b.terms[t]);
    return out;
  }
  constexpr Poly scale_poly(const Poly& p, std::int64_t k) noexcept {
    Poly out;
    if (k == 0) return out;
    out = p;
    out.constant = checked_mul(p.constant, k);
    for (int t = 0; t < p.term_count; ++t) out.terms[t].coef = checked_mul(p.terms[t].coef, k);
    return out;
  }
  // The product of two monomials, factors merged in canonical order.
  constexpr Term merge_monomials(const Term& x, const Term& y) noexcept {
    Term m;
    int i = 0;
    int j = 0;
    while (i < x.degree || j < y.degree) {
      const bool take_x = j >= y.degree || (i < x.degree && compare_atoms(*this, x.factors[i], *this, y.factors[j]) <= 0);
      m.factors[m.degree] = take_x ? x.factors[i++] : y.factors[j++];
      m.degree = u8(m.degree + 1);
    }
    return m;
  }
  constexpr Poly multiply_polys(const Poly& a, const Poly& b) noexcept {
    Poly out;
    out.constant = checked_mul(a.constant, b.constant);
    for (int t = 0; t < a.term_count; ++t) add_term(out, checked_mul(a.terms[t].coef, b.constant), a.terms[t]);
    for (int t = 0; t < b.term_count; ++t) add_term(out, checked_mul(a.constant, b.terms[t].coef), b.terms[t]);
    for (int s = 0; s < a.term_count; ++s) {
      for (int t = 0; t < b.term_count; ++t) {
        if (a.terms[s].degree + b.terms[t].degree > kMaxDegree) {
          fail(DimFault::too_complex);
          return out;
        }
        add_term(out, checked_mul(a.terms[s].coef, b.terms[t].coef), merge_monomials(a.terms[s], b.terms[t]));
      }
    }
    return out;
  }
  // q = a / b when b is a single monomial that divides every term of a exactly.
  constexpr bool divide_exactly(const Poly& a, const Poly& b, Poly& q) noexcept {
    if (b.constant != 0 || b.term_count != 1 || a.constant != 0) return false;
    const Term& d = b.terms[0];
    Poly out;
    for (int t = 0; t < a.term_count; ++t) {
      const Term& x = a.terms[t];
      if (x.coef % d.coef != 0 || (x.coef == detail::kNegInf && d.coef == -1)) return false;
      // Both factor lists are in canonical order: remove d's factors from x's in one pass.
      Term rest;
      int k = 0;
      for (int i = 0; i < x.degree; ++i) {
        if (k < d.degree && x.factors[i] == d.factors[k]) {
          ++k;
        } else {
          rest.factors[rest.degree] = x.factors[i];
          rest.degree = u8(rest.degree + 1);
        }
      }
      if (k != d.degree) return false;
      if (rest.degree == 0) out.constant = checked_add(out.constant, x.coef / d.coef);
      else add_term(out, x.coef / d.coef, rest);
    }
    q = out;
    return true;
  }

  // The poly `1 * kind(lhs, rhs)`, with rhs a poly or (rhs == nullptr) the constant
  // rhs_constant; the atom and its operands are interned in this pool.
  constexpr Poly make_atom(AtomKind kind, const Poly& lhs, const Poly* rhs, std::int64_t rhs_constant) noexcept {
    Atom atom;
    atom.kind = kind;
    const int l = intern_poly(lhs);
    const int r = rhs ? intern_poly(*rhs) : int{kConstantOperand};
    if (l < 0 || r < 0) {
      fail(DimFault::too_complex);
      return Poly{};
    }
    atom.lhs = u8(l);
    atom.rhs = u8(r);
    atom.rhs_constant = rhs ? 0 : rhs_constant;
    const int a = intern_atom(atom);
    if (a < 0) {
      fail(DimFault::too_complex);
      return Poly{};
    }
    return atom_poly(a);
  }

  // ---- operations ------------------------------------------------------------------------
  static constexpr SymDim arith(const SymDim& a, const SymDim& b, Arith op) noexcept {
    if (!a.valid()) return faulted(a.fault_);
    if (!b.valid()) return faulted(b.fault_);
    if (a.is_constant() && b.is_constant()) {  // the static-graph path: no pool work
      std::int64_t r = 0;
      const std::int64_t x = a.root().constant;
      const std::int64_t y = b.root().constant;
      const bool overflow = op == Arith::add   ? __builtin_add_overflow(x, y, &r)
                            : op == Arith::sub ? __builtin_sub_overflow(x, y, &r)
                                               : __builtin_mul_overflow(x, y, &r);
      return overflow ? faulted(DimFault::overflow) : SymDim(r);
    }
    SymDim r;
    const Poly pa = r.take(a);
    const Poly pb = r.take(b);
    switch (op) {
      case Arith::add: return r.finish(r.add_polys(pa, pb));
      case Arith::sub: return r.finish(r.add_polys(pa, r.scale_poly(pb, -1)));
      case Arith::mul: return r.finish(r.multiply_polys(pa, pb));
    }
    return faulted(DimFault::too_complex);
  }

  // floordiv (kind == floordiv) or floormod (kind == floormod).
  static constexpr SymDim divide(const SymDim& a, const SymDim& b, AtomKind kind) noexcept {
    if (!a.valid()) return faulted(a.fault_);
    if (!b.valid()) return faulted(b.fault_);
    if (b.is_constant()) return divide_by_constant(a, b.root().constant, kind);
    SymDim r;
    const Poly pa = r.take(a);
    const Poly pb = r.take(b);
    if (pa.term_count == 0 && pa.constant == 0) return SymDim(0);
    if (compare_polys(r, pa, r, pb) == 0) return SymDim(kind == AtomKind::floordiv ? 1 : 0);
    Poly quotient;
    if (r.divide_exactly(pa, pb, quotient)) return kind == AtomKind::floordiv ? r.finish(quotient) : SymDim(0);
    return r.finish(r.make_atom(kind, pa, &pb, 0));
  }

  static constexpr SymDim divide_by_constant(const SymDim& a, std::int64_t c, AtomKind kind) noexcept {
    if (c == 0) return faulted(DimFault::division_by_zero);
    if (a.is_constant()) {
      const std::int64_t v = a.root().constant;
      if (c == -1 && v == detail::kNegInf) return faulted(DimFault::overflow);
      return kind == AtomKind::floordiv ? SymDim(kiln::floordiv(v, c)) : SymDim(kiln::floormod(v, c));
    }
    if (c < 0) {
      // floordiv(a, c) == floordiv(-a, -c); floormod(a, c) == -floormod(-a, -c).
      if (c == detail::kNegInf) return faulted(DimFault::overflow);
      const SymDim r = divide_by_constant(-a, -c, kind);
      return kind == AtomKind::floordiv ? r : -r;
    }
    if (c == 1) return kind == AtomKind::floordiv ? a : SymDim(0);

    // a == c * quotient + remainder, every coefficient of the remainder in [0, c).
    SymDim r;
    const Poly p = r.take(a);
    Poly quotient;
    Poly remainder;
    quotient.constant = kiln::floordiv(p.constant, c);
    remainder.constant = kiln::floormod(p.constant, c);
    for (int t = 0; t < p.term_count; ++t) {
      r.add_term(quotient, kiln::floordiv(p.terms[t].coef, c), p.terms[t]);
      r.add_term(remainder, kiln::floormod(p.terms[t].coef, c), p.terms[t]);
    }
    const DimBounds rb = r.poly_bounds(remainder);
    if (kind == AtomKind::floormod) {
      if (remainder.term_count == 0 || (rb.lo >= 0 && rb.hi < c)) return r.finish(remainder);
      return r.finish(r.make_atom(AtomKind::floormod, remainder, nullptr, c));
    }
    // floordiv(c*q + rem, c) == q + floordiv(rem, c), and floordiv(rem, c) is constant when
    // the bounds of rem fall in one multiple of c (always so when rem is a constant in [0, c)).
    if (remainder.term_count == 0) return r.finish(quotient);
    if (rb.lo != detail::kNegInf && rb.hi != detail::kPosInf && kiln::floordiv(rb.lo, c) == kiln::floordiv(rb.hi, c)) {
      quotient.constant = r.checked_add(quotient.constant, kiln::floordiv(rb.lo, c));
      return r.finish(quotient);
    }
    // floordiv(floordiv(x, d) + k, c) == floordiv(x + k*d, d*c) for positive c and d: nested
    // strided windows (pooling after a strided conv) collapse into one division.
    const Term& only = remainder.terms[0];
    if (remainder.term_count == 1 && only.coef == 1 && only.degree == 1) {
      const Atom& inner = r.atoms_[only.factors[0]];
      std::int64_t dc = 0;
      std::int64_t kd = 0;
      if (inner.kind == AtomKind::floordiv && inner.rhs == kConstantOperand &&
          !__builtin_mul_overflow(inner.rhs_constant, c, &dc) &&
          !__builtin_mul_overflow(remainder.constant, inner.rhs_constant, &kd)) {
        const SymDim x = r.finish(r.polys_[inner.lhs]);
        return r.finish(quotient) + divide_by_constant(x + SymDim(kd), dc, AtomKind::floordiv);
      }
    }
    return r.finish(r.add_polys(quotient, r.make_atom(AtomKind::floordiv, remainder, nullptr, c)));
  }

  static constexpr SymDim extremum(const SymDim& a, const SymDim& b, AtomKind kind) noexcept {
    if (!a.valid()) return faulted(a.fault_);
    if (!b.valid()) return faulted(b.fault_);
    if (a.is_constant() && b.is_constant()) {
      const bool a_smaller = a.root().constant < b.root().constant;
      return (kind == AtomKind::min) == a_smaller ? a : b;
    }
    const SymDim difference = a - b;
    if (difference.valid()) {
      const DimBounds range = difference.bounds();
      if (range.lo >= 0) return kind == AtomKind::min ? b : a;
      if (range.hi <= 0) return kind == AtomKind::min ? a : b;
    }
    SymDim r;
    Poly pa = r.take(a);
    Poly pb = r.take(b);
    // min and max commute: a constant operand goes right, otherwise the smaller poly left.
    const bool a_constant = pa.term_count == 0;
    const bool b_constant = pb.term_count == 0;
    if (a_constant || (!b_constant && compare_polys(r, pa, r, pb) > 0)) {
      const Poly t = pa;
      pa = pb;
      pb = t;
    }
    if (pb.term_count == 0) return r.finish(r.make_atom(kind, pa, nullptr, pb.constant));
    return r.finish(r.make_atom(kind, pa, &pb, 0));
  }

  // ---- bounds ----------------------------------------------------------------------------
  constexpr DimBounds operand_bounds(const Atom& a) const noexcept {
    if (a.rhs == kConstantOperand) return {a.rhs_constant, a.rhs_constant};
    return poly_bounds(polys_[a.rhs]);
  }

  constexpr DimBounds atom_bounds(int index) const noexcept {
    const Atom& a = atoms_[index];
    if (a.kind == AtomKind::symbol) return {0, kMaxSymbolValue};
    const DimBounds l = poly_bounds(polys_[a.lhs]);
    const DimBounds r = operand_bounds(a);
    switch (a.kind) {
      case AtomKind::floordiv:
        if (a.rhs == kConstantOperand && a.rhs_constant > 0)
          return {detail::floordiv_bound(l.lo, a.rhs_constant), detail::floordiv_bound(l.hi, a.rhs_constant)};
        if (l.lo >= 0 && r.lo >= 1) return {0, l.hi};
        return {};
      case AtomKind::floormod: {
        if (r.lo < 1) return {};
        const std::int64_t hi = r.hi == detail::kPosInf ? detail::kPosInf : r.hi - 1;
        if (l.lo >= 0 && l.hi <= hi) return l;
        return {0, hi};
      }
      case AtomKind::min: return {l.lo < r.lo ? l.lo : r.lo, l.hi < r.hi ? l.hi : r.hi};
      case AtomKind::max: return {l.lo > r.lo ? l.lo : r.lo, l.hi > r.hi ? l.hi : r.hi};
      case AtomKind::symbol: break;
    }
    return {};
  }

  // For x*floordiv(u + k1, d) - x*floordiv(u + k2, d): the bounds of the difference, which
  // are much tighter than those of the two terms apart.
  constexpr bool floordiv_difference(const Term& x, const Term& y, DimBounds& out) const noexcept {
    if (x.degree != 1 || y.degree != 1 || x.coef != -y.coef) return false;
    const Atom& a = atoms_[x.factors[0]];
    const Atom& b = atoms_[y.factors[0]];
    if (a.kind != AtomKind::floordiv || b.kind != AtomKind::floordiv || a.rhs != kConstantOperand ||
        b.rhs != kConstantOperand || a.rhs_constant != b.rhs_constant || a.rhs_constant <= 0)
      return false;
    const Poly& u = polys_[a.lhs];
    const Poly& v = polys_[b.lhs];
    if (u.term_count != v.term_count) return false;
    for (int t = 0; t < u.term_count; ++t)
      if (!same_monomial(u.terms[t], v.terms[t]) || u.terms[t].coef != v.terms[t].coef) return false;
    std::int64_t delta = 0;
    if (__builtin_sub_overflow(u.constant, v.constant, &delta)) return false;
    const std::int64_t d = a.rhs_constant;
    const DimBounds difference{kiln::floordiv(delta, d), kiln::floordiv(delta, d) + (kiln::floormod(delta, d) != 0 ? 1 : 0)};
    out = detail::scale_bounds(difference, x.coef);
    return true;
  }

  constexpr DimBounds poly_bounds(const Poly& p) const noexcept {
    DimBounds out{p.constant, p.constant};
    bool paired[kMaxTerms] = {};
    for (int i = 0; i < p.term_count; ++i) {
      for (int j = i + 1; j < p.term_count && !paired[i]; ++j) {
        DimBounds diff;
        if (!paired[j] && floordiv_difference(p.terms[i], p.terms[j], diff)) {
          paired[i] = paired[j] = true;
          out = detail::add_bounds(out, diff);
        }
      }
    }
    for (int t = 0; t < p.term_count; ++t) {
      if (paired[t]) continue;
      DimBounds product{1, 1};
      for (int k = 0; k < p.terms[t].degree; ++k)
        product = detail::multiply_bounds(product, atom_bounds(p.terms[t].factors[k]));
      out = detail::add_bounds(out, detail::scale_bounds(product, p.terms[t].coef));
    }
    return out;
  }

  // ---- evaluation ------------------------------------------------------------------------
  static constexpr std::int64_t failed(DimValue& out, EvalFailure why) noexcept {
    if (out.ok()) out.failure = why;
    return 0;
  }

  constexpr std::int64_t eval_atom(int index, const Bindings& bindings, DimValue& out) const noexcept {
    const Atom& a = atoms_[index];
    if (a.kind == AtomKind::symbol) {
      const std::optional<std::int64_t> bound = bindings.find(symbols_[a.symbol]);
      if (!bound || *bound < 0 || *bound > kMaxSymbolValue) {
        out.symbol = symbols_[a.symbol];
        return failed(out, bound ? EvalFailure::out_of_range : EvalFailure::unbound);
      }
      return *bound;
    }
    const std::int64_t l = eval_poly(polys_[a.lhs], bindings, out);
    const std::int64_t r = a.rhs == kConstantOperand ? a.rhs_constant : eval_poly(polys_[a.rhs], bindings, out);
    if (!out.ok()) return 0;
    switch (a.kind) {
      case AtomKind::floordiv:
      case AtomKind::floormod:
        if (r == 0) return failed(out, EvalFailure::division_by_zero);
        if (r == -1 && l == detail::kNegInf) return failed(out, EvalFailure::overflow);
        return a.kind == AtomKind::floordiv ? kiln::floordiv(l, r) : kiln::floormod(l, r);
      case AtomKind::min: return l < r ? l : r;
      case AtomKind::max: return l > r ? l : r;
      case AtomKind::symbol: break;
    }
    return 0;
  }

  constexpr std::int64_t eval_poly(const Poly& p, const Bindings& bindings, DimValue& out) const noexcept {
    std::int64_t sum = p.constant;
    for (int t = 0; t < p.term_count && out.ok(); ++t) {
      std::int64_t product = p.terms[t].coef;
      for (int k = 0; k < p.terms[t].degree && out.ok(); ++k) {
        const std::int64_t v = eval_atom(p.terms[t].factors[k], bindings, out);
        if (__builtin_mul_overflow(product, v, &product)) return failed(out, EvalFailure::overflow);
      }
      if (__builtin_add_overflow(sum, product, &sum)) return failed(out, EvalFailure::overflow);
    }
    return out.ok() ? sum : 0;
  }

  // ---- printing --------------------------------------------------------------------------
  template <class Sink>
  constexpr void print_atom(Sink& out, int index) const {
    const Atom& a = atoms_[index];
    switch (a.kind) {
      case AtomKind::symbol: out.append(symbols_[a.symbol].view()); return;
      case AtomKind::floordiv: out.append("floordiv("); break;
      case AtomKind::floormod: out.append("floormod("); break;
      case AtomKind::min: out.append("min("); break;
      case AtomKind::max: out.append("max("); break;
    }
    print_poly(out, polys_[a.lhs]);
    out.append(", ");
    if (a.rhs == kConstantOperand) append_decimal(out, a.rhs_constant);
    else print_poly(out, polys_[a.rhs]);
    out.append(')');
  }

  template <class Sink>
  constexpr void print_poly(Sink& out, const Poly& p) const {
    for (int t = 0; t < p.term_count; ++t) {
      const Term& term = p.terms[t];
      if (t == 0) {
        if (term.coef < 0) out.append('-');
      } else {
        out.append(term.coef < 0 ? std::string_view(" - ") : std::string_view(" + "));
      }
      if (term.coef != 1 && term.coef != -1) {
        append_unsigned(out, magnitude_of(term.coef));
        out.append('*');
      }
      for (int k = 0; k < term.degree; ++k) {
        if (k > 0) out.append('*');
        print_atom(out, term.factors[k]);
      }
    }
    if (p.term_count == 0) {
      append_decimal(out, p.constant);
    } else if (p.constant != 0) {
      out.append(p.constant < 0 ? std::string_view(" - ") : std::string_view(" + "));
      append_unsigned(out, magnitude_of(p.constant));
    }
  }
};

// A dim that is the symbol `name`: sym("batch").
constexpr SymDim sym(const Name& name) noexcept { return SymDim::symbol(name); }

// a == b for every binding (yes), for none (no), or not known.
constexpr Truth prove_equal(const SymDim& a, const SymDim& b) noexcept {
  if (!a.valid() || !b.valid()) return Truth::unknown;
  if (a == b) return Truth::yes;
  const SymDim diff = a - b;
  if (!diff.valid()) return Truth::unknown;
  const DimBounds range = diff.bounds();
  if (range.lo > 0 || range.hi < 0) return Truth::no;
  if (range.lo == 0 && range.hi == 0) return Truth::yes;
  return Truth::unknown;
}

// a <= b for every binding (yes), for none (no), or not known.
constexpr Truth prove_less_equal(const SymDim& a, const SymDim& b) noexcept {
  if (!a.valid() || !b.valid()) return Truth::unknown;
  const SymDim diff = b - a;
  if (!diff.valid()) return Truth::unknown;
  const DimBounds range = diff.bounds();
  if (range.lo >= 0) return Truth::yes;
  if (range.hi < 0) return Truth::no;
  return Truth::unknown;
}

// a < b for every binding (yes), for none (no), or not known.
constexpr Truth prove_less(const SymDim& a, const SymDim& b) noexcept {
  return prove_less_equal(a + SymDim(1), b);
}

// The value of a dim under `bindings`, or nullopt (evaluate() says why).
constexpr std::optional<std::int64_t> try_evaluate(const SymDim& d, const Bindings& bindings) noexcept {
  const DimValue v = evaluate_dim(d, bindings);
  if (!v.ok()) return std::nullopt;
  return v.value;
}

template <std::size_t N>
constexpr void append_piece(FixedString<N>& out, const SymDim& d) noexcept {
  d.print(out);
}

namespace detail {
// Lets SymDim::print write to a std::string.
struct StringSink {
  std::string& text;
  void append(char c) { text.push_back(c); }
  void append(std::string_view s) { text.append(s); }
};
} // namespace detail

// "batch*seq + 1"
inline std::string to_string(const SymDim& d) {
  std::string text;
  detail::StringSink sink{text};
  d.print(sink);
  return text;
}

// The value of `d` once its symbols are bound, or an error naming the unbound symbol, the
// division by zero or the overflow.
inline Result<std::int64_t> evaluate(const SymDim& d, const Bindings& bindings) {
  const DimValue v = evaluate_dim(d, bindings);
  switch (v.failure) {
    case EvalFailure::none: return v.value;
    case EvalFailure::faulted:
      return make_error(StatusCode::invalid_argument, "cannot evaluate a dimension: its expression is ",
                        to_string(d.fault()));
    case EvalFailure::unbound:
      return make_error(StatusCode::not_found, "symbol '", v.symbol.view(), "' is not bound in ", to_string(d));
    case EvalFailure::out_of_range:
      return make_error(StatusCode::out_of_range, "symbol '", v.symbol.view(), "' is bound to ",
                        *bindings.find(v.symbol), ", outside the dimension range [0, ", kMaxSymbolValue,
                        "]");
    case EvalFailure::division_by_zero:
      return make_error(StatusCode::invalid_argument, "division by zero evaluating ", to_string(d));
    case EvalFailure::overflow:
      return make_error(StatusCode::out_of_range, "integer overflow evaluating ", to_string(d));
  }
  return make_error(StatusCode::internal, "evaluate: unknown failure");
}

} // namespace kiln::relax
