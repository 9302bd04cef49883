// The dynamic module's CPU kernels for elementwise ops (kiln/vm/ops/elementwise.hpp) against
// naive loops written here: every unary op, binary ops with NumPy broadcasting, comparisons,
// logic, where, clip and cast, in f32 (the tensor-expression path, short rows, long rows on
// a thread pool) and other dtypes, with empty and size-1 extents, and the errors that name
// what a kernel does not support.
#include <doctest/doctest.h>

#include "test_data.hpp"

#include <kiln/relax/builder.hpp>
#include <kiln/vm/ops/elementwise.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace kiln;
using relax::OpKind;

namespace {

using kiln::test::at;

// A test tensor: row-major elements of one dtype.
struct Operand {
  DType dtype = DType::f32;
  std::vector<std::int64_t> dims;
  std::vector<std::byte> bytes;

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (std::int64_t d : dims) n *= d;
    return n;
  }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
  // Element i as a double, whatever the dtype.
  double value(std::int64_t i) const {
    return visit_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) return double(float(as<T>()[i]));
      else return static_cast<double>(as<T>()[i]);
    });
  }
};

template <class T>
Operand make_operand(std::vector<std::int64_t> dims, const std::vector<T>& values) {
  Operand o;
  o.dtype = dtype_v<T>;
  o.dims = std::move(dims);
  REQUIRE(static_cast<std::int64_t>(values.size()) == o.elements());
  o.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(o.bytes.data(), values.data(), o.bytes.size());
  return o;
}

// n smooth signed floats (see test_data.hpp), converted to T.
template <class T>
std::vector<T> filled(std::int64_t n, float phase, float scale = 3.0f) {
  const std::vector<float> base = kiln::test::pattern(at(n), phase, scale);
  std::vector<T> v(base.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_same_v<T, bool>) v[i] = base[i] > 0.0f;
    else if constexpr (std::is_integral_v<T>) v[i] = static_cast<T>(std::lround(base[i] * 10.0f));
    else v[i] = T(base[i]);
  }
  return v;
}

relax::TensorType type_of(const Operand& o) {
  relax::TensorType t;
  t.dtype = o.dtype;
  for (std::int64_t d : o.dims) t.push_back(d);
  return t;
}

vm::Slot slot_of(const Operand& o) {
  vm::Slot s;
  s.data = const_cast<std::byte*>(o.bytes.data());
  s.dtype = o.dtype;
  s.set_shape(o.dims);
  return s;
}

// A module holding one binding of `op` over parameters of the operands' types (null: an
// absent optional input).
relax::Module single_op(OpKind op, const std::vector<const Operand*>& inputs, relax::Attrs attrs = relax::NoAttrs{}) {
  relax::Builder b;
  std::vector<relax::Var> vars;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    vars.push_back(inputs[i] ? b.input("x" + std::to_string(i), type_of(*inputs[i])) : relax::Var{});
  const relax::Var y = b.emit(op, std::span<const relax::Var>(vars), std::move(attrs));
  Result<relax::Module> m = b.finish({y});
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  return std::move(*m);
}

// Runs the binding's CPU kernel as the VM would (supports, scratch_bytes, run); the output
// takes the binding's static type.
Status run_module(const relax::Module& m, const std::vector<const Operand*>& inputs, Operand& out,
                  ThreadPool* pool = nullptr) {
  const relax::Function& fn = m.main();
  const relax::Binding& binding = fn.blocks.front().bindings.front();
  const vm::OpKernel* kernel = vm::cpu_elementwise_kernel(binding.op);
  if (kernel == nullptr) return make_error(StatusCode::not_found, "no elementwise kernel");
  KILN_RETURN_IF_ERROR(kernel->supports(binding, fn));
  const relax::TensorType& type = fn.type(binding.outputs.front());
  out = Operand{};
  out.dtype = type.dtype;
  for (int i = 0; i < type.rank; ++i) out.dims.push_back(type.dims[i].constant_value());
  out.bytes.assign(static_cast<std::size_t>(out.elements()) * size_of(out.dtype), std::byte{0x5a});
  std::vector<vm::Slot> slots;
  for (const Operand* in : inputs) slots.push_back(in ? slot_of(*in) : vm::Slot{});
  std::vector<const vm::Slot*> in_ptrs;
  for (std::size_t i = 0; i < inputs.size(); ++i) in_ptrs.push_back(inputs[i] ? &slots[i] : nullptr);
  const vm::Slot out_slot = slot_of(out);
  const vm::Slot* out_ptrs[] = {&out_slot};
  vm::OpCall call;
  call.op = binding.op;
  call.attrs = &binding.attrs;
  call.inputs = in_ptrs;
  call.outputs = out_ptrs;
  call.pool = pool;
  if (kernel->scratch_bytes != nullptr) CHECK(kernel->scratch_bytes(call) == 0);
  return kernel->run(call);
}

// The flat index of the input element that output element `flat` reads under broadcasting.
std::int64_t source_index(const std::vector<std::int64_t>& out_dims, const std::vector<std::int64_t>& in_dims,
                          std::int64_t flat) {
  std::int64_t index = 0, stride = 1;
  const std::size_t shift = out_dims.size() - in_dims.size();
  for (std::size_t a = out_dims.size(); a-- > 0;) {
    const std::int64_t i = flat % out_dims[a];
    flat /= out_dims[a];
    if (a < shift) continue;
    const std::int64_t d = in_dims[a - shift];
    if (d != 1) index += i * stride;
    stride *= d;
  }
  return index;
}

double reference_unary(OpKind op, double x) {
  switch (op) {
    case OpKind::identity: return x;
    case OpKind::neg: return -x;
    case OpKind::abs: return std::fabs(x);
    case OpKind::sign: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case OpKind::relu: return x > 0 ? x : 0.0;
    case OpKind::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case OpKind::tanh: return std::tanh(x);
    case OpKind::exp: return std::exp(x);
    case OpKind::log: return std::log(x);
    case OpKind::sqrt: return std::sqrt(x);
    case OpKind::rsqrt: return 1.0 / std::sqrt(x);
    case OpKind::reciprocal: return 1.0 / x;
    case OpKind::floor: return std::floor(x);
    case OpKind::ceil: return std::ceil(x);
    case OpKind::round: {  // halves to even, by hand
      const double f = std::floor(x), diff = x - f;
      if (diff > 0.5) return f + 1;
      if (diff < 0.5) return f;
      return std::fmod(f, 2.0) == 0.0 ? f : f + 1;
    }
    case OpKind::sin: return std::sin(x);
    case OpKind::cos: return std::cos(x);
    case OpKind::tan: return std::tan(x);
    case OpKind::asin: return std::asin(x);
    case OpKind::acos: return std::acos(x);
    case OpKind::atan: return std::atan(x);
    case OpKind::sinh: return std::sinh(x);
    case OpKind::cosh: return std::cosh(x);
    case OpKind::asinh: return std::asinh(x);
    case OpKind::acosh: return std::acosh(x);
    case OpKind::atanh: return std::atanh(x);
    case OpKind::erf: return std::erf(x);
    case OpKind::gelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case OpKind::silu: return x / (1.0 + std::exp(-x));
    default: FAIL("not a unary op"); return 0;
  }
}

double reference_binary(OpKind op, double a, double b) {
  switch (op) {
    case OpKind::add: return a + b;
    case OpKind::subtract: return a - b;
    case OpKind::multiply: return a * b;
    case OpKind::divide: return a / b;
    case OpKind::power: return std::pow(a, b);
    case OpKind::maximum: return a > b ? a : b;
    case OpKind::minimum: return a < b ? a : b;
    case OpKind::mod: return std::fmod(a, b);
    case OpKind::equal: return a == b;
    case OpKind::not_equal: return a != b;
    case OpKind::less: return a < b;
    case OpKind::less_equal: return a <= b;
    case OpKind::greater: return a > b;
    case OpKind::greater_equal: return a >= b;
    case OpKind::logical_and: return (a != 0) && (b != 0);
    case OpKind::logical_or: return (a != 0) || (b != 0);
    case OpKind::logical_xor: return (a != 0) != (b != 0);
    default: FAIL("not a binary op"); return 0;
  }
}

// Every output element against fn(flat index), within a relative tolerance.
template <class Fn>
void check_elements(const Operand& out, double tolerance, Fn&& expected) {
  for (std::int64_t i = 0; i < out.elements(); ++i) {
    const double want = expected(i), got = out.value(i);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
      continue;
    }
    INFO("element ", i, ": got ", got, ", want ", want);
    CHECK(std::fabs(got - want) <= tolerance * (1.0 + std::fabs(want)));
  }
}

// Runs a binary-like op over two operands and compares with the reference.
void check_binary(OpKind op, const Operand& a, const Operand& b, double tolerance, ThreadPool* pool = nullptr) {
  const relax::Module m = single_op(op, {&a, &b});
  Operand out;
  const Status s = run_module(m, {&a, &b}, out, pool);
  INFO(relax::to_string(op), " ", s.to_string());
  REQUIRE(s.ok());
  check_elements(out, tolerance, [&](std::int64_t i) {
    return reference_binary(op, a.value(source_index(out.dims, a.dims, i)), b.value(source_index(out.dims, b.dims, i)));
  });
}

constexpr OpKind kFloatUnaryOps[] = {
    OpKind::identity, OpKind::neg, OpKind::abs,  OpKind::sign,  OpKind::relu, OpKind::sigmoid, OpKind::tanh,
    OpKind::exp,      OpKind::log, OpKind::sqrt, OpKind::rsqrt, OpKind::reciprocal, OpKind::floor, OpKind::ceil,
    OpKind::round,    OpKind::sin, OpKind::cos,  OpKind::tan,   OpKind::asin, OpKind::acos, OpKind::atan,
    OpKind::sinh,     OpKind::cosh, OpKind::asinh, OpKind::acosh, OpKind::atanh, OpKind::erf, OpKind::gelu,
    OpKind::silu};

constexpr OpKind kArithmeticOps[] = {OpKind::add,     OpKind::subtract, OpKind::multiply, OpKind::divide,
                                     OpKind::power,   OpKind::maximum,  OpKind::minimum,  OpKind::mod};

// Values with exact halves (rounding) and zeros among smooth ones; positive for the ops
// whose domain is positive.
std::vector<float> unary_inputs(OpKind op, std::int64_t n) {
  std::vector<float> v = filled<float>(n, 0.4f);
  const float halves[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 0.0f, -3.5f};
  for (std::size_t i = 0; i < v.size() && i < std::size(halves); ++i) v[i] = halves[i];
  const bool positive = op == OpKind::log || op == OpKind::sqrt || op == OpKind::rsqrt || op == OpKind::reciprocal;
  if (positive)
    for (float& x : v) x = std::fabs(x) + 0.25f;
  // asin, acos and atanh take (-1, 1); acosh takes [1, inf).
  if (op == OpKind::asin || op == OpKind::acos || op == OpKind::atanh)
    for (float& x : v) x = x / (std::fabs(x) + 1.0f);
  if (op == OpKind::acosh)
    for (float& x : v) x = std::fabs(x) + 1.0f;
  return v;
}

} // namespace

TEST_CASE("vm elementwise: every f32 unary op, short and long rows, empty and size-1 extents") {
  ThreadPool pool(3);
  const std::vector<std::vector<std::int64_t>> shapes = {{3, 17}, {1}, {17}, {0, 3}, {1, 1, 5}, {4, 16411}};
  for (OpKind op : kFloatUnaryOps) {
    for (const auto& dims : shapes) {
      std::int64_t n = 1;
      for (std::int64_t d : dims) n *= d;
      const Operand x = make_operand(dims, unary_inputs(op, n));
      const relax::Module m = single_op(op, {&x});
      Operand out;
      const Status s = run_module(m, {&x}, out, &pool);
      INFO(relax::to_string(op), " over ", n, " elements: ", s.to_string());
      REQUIRE(s.ok());
      REQUIRE(out.dims == dims);
      check_elements(out, 2e-6, [&](std::int64_t i) { return reference_unary(op, double(x.as<float>()[i])); });
    }
  }
}

TEST_CASE("vm elementwise: unary ops on f64, f16, bf16, integers and bool") {
  for (OpKind op : {OpKind::exp, OpKind::round, OpKind::gelu, OpKind::neg, OpKind::sin, OpKind::rsqrt}) {
    const std::vector<float> base = unary_inputs(op, 3 * 17);
    std::vector<double> d(base.begin(), base.end());
    std::vector<f16> h;
    std::vector<bf16> bh;
    for (float v : base) {
      h.push_back(f16(v));
      bh.push_back(bf16(v));
    }
    for (const Operand& x : {make_operand({3, 17}, d), make_operand({3, 17}, h), make_operand({3, 17}, bh)}) {
      const relax::Module m = single_op(op, {&x});
      Operand out;
      REQUIRE(run_module(m, {&x}, out).ok());
      CHECK(out.dtype == x.dtype);
      // 16-bit floats compute in f32 and round once at the end.
      const double tolerance = x.dtype == DType::f64 ? 1e-12 : (x.dtype == DType::f16 ? 2e-3 : 1e-2);
      check_elements(out, tolerance, [&](std::int64_t i) { return reference_unary(op, x.value(i)); });
    }
  }
  // Integers wrap: the negation of the lowest value is itself.
  const std::vector<std::int32_t> ints = {-7, 0, 5, std::numeric_limits<std::int32_t>::min(), 1, -1};
  const Operand xi = make_operand({2, 3}, ints);
  for (OpKind op : {OpKind::identity, OpKind::neg, OpKind::abs, OpKind::sign, OpKind::relu}) {
    Operand out;
    REQUIRE(run_module(single_op(op, {&xi}), {&xi}, out).ok());
    const std::int32_t* y = out.as<std::int32_t>();
    for (std::size_t i = 0; i < ints.size(); ++i) {
      const std::int64_t v = ints[i];
      std::int64_t want = 0;
      if (op == OpKind::identity) want = v;
      else if (op == OpKind::neg || op == OpKind::abs) want = (op == OpKind::abs && v >= 0) ? v : -v;
      else if (op == OpKind::sign) want = v > 0 ? 1 : (v < 0 ? -1 : 0);
      else want = v > 0 ? v : 0;
      if (want == std::int64_t{1} << 31) want = std::numeric_limits<std::int32_t>::min();
      CHECK(y[i] == want);
    }
  }
  const Operand xu = make_operand({4}, std::vector<std::uint8_t>{0, 1, 200, 255});
  Operand neg_u;
  REQUIRE(run_module(single_op(OpKind::neg, {&xu}), {&xu}, neg_u).ok());
  CHECK(neg_u.as<std::uint8_t>()[1] == 255);
  CHECK(neg_u.as<std::uint8_t>()[2] == 56);
  Operand flags;
  flags.dtype = DType::boolean;
  flags.dims = {5};
  const bool values[] = {true, false, false, true, true};
  flags.bytes.resize(5);
  std::memcpy(flags.bytes.data(), values, 5);
  Operand not_out;
  REQUIRE(run_module(single_op(OpKind::logical_not, {&flags}), {&flags}, not_out).ok());
  for (int i = 0; i < 5; ++i) CHECK(not_out.as<bool>()[i] == !values[i]);
}

TEST_CASE("vm elementwise: f32 binary ops with broadcasting, on one thread and on a pool") {
  ThreadPool pool(4);
  struct Shapes {
    std::vector<std::int64_t> a, b;
  };
  const std::vector<Shapes> cases = {
      {{3, 17}, {3, 17}},       // same shape: one row
      {{3, 1, 17}, {4, 1}},     // both broadcast, across ranks
      {{17}, {}},               // a scalar second operand
      {{}, {3, 17}},            // a scalar first operand
      {{1}, {3, 17}},           // a size-1 first operand
      {{3, 17}, {3, 1}},        // the second fixed along each row
      {{1, 3, 1}, {3, 1, 17}},  // size-1 dims on both sides
      {{0, 17}, {17}},          // empty
      {{5, 2, 3}, {2, 1}},      // short rows: the scalar loop
      {{2, 40000}, {2, 1}},     // few long rows: cut into pieces for the pool
      {{64, 1031}, {1031}},     // many rows on the pool
  };
  for (OpKind op : kArithmeticOps) {
    for (const Shapes& s : cases) {
      std::int64_t na = 1, nb = 1;
      for (std::int64_t d : s.a) na *= d;
      for (std::int64_t d : s.b) nb *= d;
      std::vector<float> va = filled<float>(na, 0.3f), vb = filled<float>(nb, 1.1f);
      if (op == OpKind::power)
        for (float& v : va) v = std::fabs(v) + 0.5f;  // a real power of a positive base
      if (op == OpKind::divide || op == OpKind::mod)
        for (float& v : vb) v = v < 0 ? v - 0.5f : v + 0.5f;  // away from 0
      INFO(relax::to_string(op), " of ", na, " and ", nb, " elements");
      const bool large = na * nb > 1000;
      check_binary(op, make_operand(s.a, va), make_operand(s.b, vb), 2e-6, large ? &pool : nullptr);
    }
  }
}

TEST_CASE("vm elementwise: integer arithmetic wraps and divides safely") {
  const std::vector<std::int32_t> a = {7, -7, 7, -7, 5, std::numeric_limits<std::int32_t>::min(), 9, 2};
  const std::vector<std::int32_t> b = {2, 2, -2, -2, 0, -1, 3, 0};
  const Operand xa = make_operand({8}, a), xb = make_operand({8}, b);
  auto run_i32 = [&](OpKind op) {
    Operand out;
    REQUIRE(run_module(single_op(op, {&xa, &xb}), {&xa, &xb}, out).ok());
    return std::vector<std::int32_t>(out.as<std::int32_t>(), out.as<std::int32_t>() + 8);
  };
  // Truncating division; by zero gives 0; lowest / -1 wraps to lowest.
  CHECK(run_i32(OpKind::divide) ==
        std::vector<std::int32_t>{3, -3, -3, 3, 0, std::numeric_limits<std::int32_t>::min(), 3, 0});
  // Modulo takes the divisor's sign.
  CHECK(run_i32(OpKind::mod) == std::vector<std::int32_t>{1, 1, -1, -1, 0, 0, 0, 0});
  CHECK(run_i32(OpKind::power) == std::vector<std::int32_t>{49, 49, 0, 0, 1, 0, 729, 1});
  CHECK(run_i32(OpKind::add)[5] == std::numeric_limits<std::int32_t>::max());
  // i64, i8 and u8 with broadcasting, against the same reference in double.
  for (DType dtype : {DType::i64, DType::i8, DType::u8, DType::i16}) {
    for (OpKind op : {OpKind::add, OpKind::subtract, OpKind::multiply, OpKind::maximum, OpKind::minimum}) {
      visit_dtype(dtype, [&](auto zero) {
        using T = decltype(zero);
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          std::vector<T> va(3 * 17), vb(17);
          for (std::size_t i = 0; i < va.size(); ++i) va[i] = static_cast<T>((i * 7) % 11);
          for (std::size_t i = 0; i < vb.size(); ++i) vb[i] = static_cast<T>((i * 5) % 9);
          const Operand x = make_operand({3, 17}, va), y = make_operand({17}, vb);
          const relax::Module m = single_op(op, {&x, &y});
          Operand out;
          REQUIRE(run_module(m, {&x, &y}, out).ok());
          check_elements(out, 0.0, [&](std::int64_t i) {
            const double want = reference_binary(op, x.value(i), y.value(i % 17));
            // Wrap the reference as the element type does.
            return static_cast<double>(static_cast<T>(static_cast<std::int64_t>(want)));
          });
        }
      });
    }
  }
}

TEST_CASE("vm elementwise: comparisons and logic give bool, with broadcasting") {
  const Operand a = make_operand({3, 17}, filled<float>(51, 0.2f));
  std::vector<float> vb = filled<float>(17, 0.9f);
  vb[3] = a.as<float>()[3];  // some equal elements
  const Operand b = make_operand({17}, vb);
  for (OpKind op : {OpKind::equal, OpKind::not_equal, OpKind::less, OpKind::less_equal, OpKind::greater,
                    OpKind::greater_equal}) {
    check_binary(op, a, b, 0.0);
    check_binary(op, make_operand({3, 1}, filled<std::int64_t>(3, 0.5f)), make_operand({1, 17}, filled<std::int64_t>(17, 0.1f)), 0.0);
  }
  Operand p, q;
  p.dtype = q.dtype = DType::boolean;
  p.dims = {3, 1};
  q.dims = {17};
  for (int i = 0; i < 3; ++i) p.bytes.push_back(std::byte(i % 2));
  for (int i = 0; i < 17; ++i) q.bytes.push_back(std::byte((i / 2) % 2));
  for (OpKind op : {OpKind::logical_and, OpKind::logical_or, OpKind::logical_xor, OpKind::equal, OpKind::less})
    check_binary(op, p, q, 0.0);
}

TEST_CASE("vm elementwise: where broadcasts the condition and both branches") {
  Operand condition;
  condition.dtype = DType::boolean;
  condition.dims = {3, 1, 17};
  for (int i = 0; i < 51; ++i) condition.bytes.push_back(std::byte((i * 7) % 3 == 0));
  const Operand x = make_operand({4, 1}, filled<float>(4, 0.1f));
  const Operand y = make_operand({17}, filled<float>(17, 0.6f));
  Operand out;
  REQUIRE(run_module(single_op(OpKind::where, {&condition, &x, &y}), {&condition, &x, &y}, out).ok());
  REQUIRE(out.dims == std::vector<std::int64_t>{3, 4, 17});
  check_elements(out, 0.0, [&](std::int64_t i) {
    const bool c = condition.value(source_index(out.dims, condition.dims, i)) != 0;
    return c ? x.value(source_index(out.dims, x.dims, i)) : y.value(source_index(out.dims, y.dims, i));
  });
  const Operand xi = make_operand({3, 4, 17}, filled<std::int64_t>(204, 0.3f));
  const Operand yi = make_operand({}, std::vector<std::int64_t>{-99});
  REQUIRE(run_module(single_op(OpKind::where, {&condition, &xi, &yi}), {&condition, &xi, &yi}, out).ok());
  check_elements(out, 0.0, [&](std::int64_t i) {
    return condition.value(source_index(out.dims, condition.dims, i)) != 0 ? xi.value(i) : -99.0;
  });
}

TEST_CASE("vm elementwise: clip with both, one or no bounds") {
  const Operand lo = make_operand({}, std::vector<float>{-1.0f});
  const Operand hi = make_operand({1}, std::vector<float>{0.5f});
  for (std::int64_t n : {std::int64_t{5}, std::int64_t{3 * 17}, std::int64_t{0}}) {
    const Operand x = make_operand({n}, filled<float>(n, 0.7f));
    struct Bounds {
      const Operand* lo;
      const Operand* hi;
    };
    for (Bounds bounds : {Bounds{&lo, &hi}, Bounds{&lo, nullptr}, Bounds{nullptr, &hi}, Bounds{nullptr, nullptr}}) {
      const std::vector<const Operand*> inputs = {&x, bounds.lo, bounds.hi};
      Operand out;
      REQUIRE(run_module(single_op(OpKind::clip, inputs), inputs, out).ok());
      check_elements(out, 0.0, [&](std::int64_t i) {
        double v = x.value(i);
        if (bounds.lo) v = std::max(v, -1.0);
        if (bounds.hi) v = std::min(v, 0.5);
        return v;
      });
    }
  }
  const Operand xi = make_operand({2, 9}, filled<std::int32_t>(18, 0.2f));
  const Operand loi = make_operand({}, std::vector<std::int32_t>{-5});
  const Operand hii = make_operand({}, std::vector<std::int32_t>{12});
  Operand out;
  REQUIRE(run_module(single_op(OpKind::clip, {&xi, &loi, &hii}), {&xi, &loi, &hii}, out).ok());
  check_elements(out, 0.0, [&](std::int64_t i) { return std::min(std::max(xi.value(i), -5.0), 12.0); });
}

TEST_CASE("vm elementwise: cast truncates, saturates and converts between the core dtypes") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Operand x = make_operand({8}, std::vector<float>{1.9f, -1.9f, 0.0f, 3e9f, -3e9f, nan, 300.5f, -0.25f});
  auto cast_to = [&](const Operand& in, DType to) {
    Operand out;
    const Status s = run_module(single_op(OpKind::cast, {&in}, relax::CastAttrs{to}), {&in}, out);
    INFO(s.to_string());
    REQUIRE(s.ok());
    CHECK(out.dtype == to);
    return out;
  };
  const Operand i32 = cast_to(x, DType::i32);
  const std::int32_t want_i32[] = {1, -1, 0, std::numeric_limits<std::int32_t>::max(),
                                   std::numeric_limits<std::int32_t>::min(), 0, 300, 0};
  for (int i = 0; i < 8; ++i) CHECK(i32.as<std::int32_t>()[i] == want_i32[i]);
  const Operand u8 = cast_to(x, DType::u8);
  const std::uint8_t want_u8[] = {1, 0, 0, 255, 0, 0, 255, 0};
  for (int i = 0; i < 8; ++i) CHECK(u8.as<std::uint8_t>()[i] == want_u8[i]);
  const Operand flags = cast_to(x, DType::boolean);
  const bool want_flags[] = {true, true, false, true, true, true, true, true};
  for (int i = 0; i < 8; ++i) CHECK(flags.as<bool>()[i] == want_flags[i]);
  const Operand back = cast_to(flags, DType::f32);
  for (int i = 0; i < 8; ++i) CHECK(back.as<float>()[i] == (want_flags[i] ? 1.0f : 0.0f));
  // Wider and narrower types over a larger, broadcast-free tensor.
  const Operand wide = make_operand({3, 17}, filled<std::int64_t>(51, 0.4f, 30.0f));
  const Operand halves = cast_to(wide, DType::f16);
  const Operand bhalves = cast_to(wide, DType::bf16);
  const Operand narrow = cast_to(wide, DType::i8);
  const Operand doubles = cast_to(cast_to(x, DType::f64), DType::f32);
  for (std::int64_t i = 0; i < 51; ++i) {
    CHECK(halves.value(i) == doctest::Approx(wide.value(i)).epsilon(1e-3));
    CHECK(bhalves.value(i) == doctest::Approx(wide.value(i)).epsilon(1e-2));
    CHECK(narrow.value(i) == double(static_cast<std::int8_t>(wide.as<std::int64_t>()[i])));
  }
  for (int i = 0; i < 8; ++i) {
    if (std::isnan(x.as<float>()[i])) CHECK(std::isnan(doubles.as<float>()[i]));
    else CHECK(doubles.as<float>()[i] == x.as<float>()[i]);
  }
}

TEST_CASE("vm elementwise: unsupported bindings and mismatched slots are errors that name the op") {
  CHECK(vm::cpu_elementwise_kernel(OpKind::matmul) == nullptr);
  CHECK(vm::cpu_elementwise_kernel(OpKind::softmax) == nullptr);
  CHECK(vm::cpu_elementwise_kernel(OpKind::cast) != nullptr);
  const Operand x = make_operand({3}, filled<float>(3, 0.1f));
  // A binding whose input type was rewritten to one the op does not take.
  relax::Module m = single_op(OpKind::exp, {&x});
  relax::Function& fn = m.main();
  fn.value(fn.params[0]).type.dtype = DType::i32;
  fn.value(fn.blocks[0].bindings[0].outputs[0]).type.dtype = DType::i32;
  const vm::OpKernel* kernel = vm::cpu_elementwise_kernel(OpKind::exp);
  Status s = kernel->supports(fn.blocks[0].bindings[0], fn);
  CHECK(s.code() == StatusCode::unsupported);
  CHECK(s.message().find("exp") != std::string::npos);
  CHECK(s.message().find("i32") != std::string::npos);
  // Mixed dtypes in a binary op.
  relax::Module add = single_op(OpKind::add, {&x, &x});
  relax::Function& add_fn = add.main();
  add_fn.value(add_fn.params[1]).type.dtype = DType::f64;
  s = vm::cpu_elementwise_kernel(OpKind::add)->supports(add_fn.blocks[0].bindings[0], add_fn);
  CHECK(!s.ok());
  CHECK(s.message().find("add") != std::string::npos);
  // Run-time slots that do not broadcast to the output.
  const Operand wrong = make_operand({4}, filled<float>(4, 0.2f));
  Operand out;
  s = run_module(single_op(OpKind::add, {&x, &x}), {&x, &wrong}, out);
  CHECK(s.code() == StatusCode::shape_mismatch);
  CHECK(s.message().find("add") != std::string::npos);
}
