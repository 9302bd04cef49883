// kiln/core/dtype.hpp: the element types kiln computes with, as a run-time enum and as C++ types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "bfloat16.hpp"
#include "float16.hpp"

namespace kiln {

enum class DType : std::uint8_t { f32, f64, f16, bf16, i8, u8, i16, u16, i32, u32, i64, u64, boolean };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i8,
                                       DType::u8,  DType::i16, DType::u16, DType::i32, DType::u32,
                                       DType::i64, DType::u64, DType::boolean};

constexpr std::size_t size_of(DType t) noexcept {
  switch (t) {
    case DType::f64: case DType::i64: case DType::u64: return 8;
    case DType::f32: case DType::i32: case DType::u32: return 4;
    case DType::f16: case DType::bf16: case DType::i16: case DType::u16: return 2;
    case DType::i8: case DType::u8: case DType::boolean: return 1;
  }
  return 0;
}

constexpr std::string_view to_string(DType t) noexcept {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i8: return "i8";
    case DType::u8: return "u8";
    case DType::i16: return "i16";
    case DType::u16: return "u16";
    case DType::i32: return "i32";
    case DType::u32: return "u32";
    case DType::i64: return "i64";
    case DType::u64: return "u64";
    case DType::boolean: return "bool";
  }
  return "?";
}

constexpr std::optional<DType> parse_dtype(std::string_view name) noexcept {
  for (DType t : kAllDTypes)
    if (to_string(t) == name) return t;
  return std::nullopt;
}

constexpr bool is_floating_point(DType t) noexcept {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}
constexpr bool is_integer(DType t) noexcept { return !is_floating_point(t) && t != DType::boolean; }
constexpr bool is_unsigned_integer(DType t) noexcept {
  return t == DType::u8 || t == DType::u16 || t == DType::u32 || t == DType::u64;
}
constexpr bool is_signed(DType t) noexcept { return !is_unsigned_integer(t) && t != DType::boolean; }

// C++ type -> DType. Only the types listed here are element types.
template <class T> struct dtype_of;
template <> struct dtype_of<float> : std::integral_constant<DType, DType::f32> {};
template <> struct dtype_of<double> : std::integral_constant<DType, DType::f64> {};
template <> struct dtype_of<f16> : std::integral_constant<DType, DType::f16> {};
template <> struct dtype_of<bf16> : std::integral_constant<DType, DType::bf16> {};
template <> struct dtype_of<std::int8_t> : std::integral_constant<DType, DType::i8> {};
template <> struct dtype_of<std::uint8_t> : std::integral_constant<DType, DType::u8> {};
template <> struct dtype_of<std::int16_t> : std::integral_constant<DType, DType::i16> {};
template <> struct dtype_of<std::uint16_t> : std::integral_constant<DType, DType::u16> {};
template <> struct dtype_of<std::int32_t> : std::integral_constant<DType, DType::i32> {};
template <> struct dtype_of<std::uint32_t> : std::integral_constant<DType, DType::u32> {};
template <> struct dtype_of<std::int64_t> : std::integral_constant<DType, DType::i64> {};
template <> struct dtype_of<std::uint64_t> : std::integral_constant<DType, DType::u64> {};
template <> struct dtype_of<bool> : std::integral_constant<DType, DType::boolean> {};

template <class T>
inline constexpr DType dtype_v = dtype_of<std::remove_cv_t<T>>::value;

template <class T>
concept Element = requires { dtype_of<std::remove_cv_t<T>>::value; };

// DType -> C++ type.
template <DType D> struct type_of;
template <> struct type_of<DType::f32> { using type = float; };
template <> struct type_of<DType::f64> { using type = double; };
template <> struct type_of<DType::f16> { using type = f16; };
template <> struct type_of<DType::bf16> { using type = bf16; };
template <> struct type_of<DType::i8> { using type = std::int8_t; };
template <> struct type_of<DType::u8> { using type = std::uint8_t; };
template <> struct type_of<DType::i16> { using type = std::int16_t; };
template <> struct type_of<DType::u16> { using type = std::uint16_t; };
template <> struct type_of<DType::i32> { using type = std::int32_t; };
template <> struct type_of<DType::u32> { using type = std::uint32_t; };
template <> struct type_of<DType::i64> { using type = std::int64_t; };
template <> struct type_of<DType::u64> { using type = std::uint64_t; };
template <> struct type_of<DType::boolean> { using type = bool; };

template <DType D>
using type_of_t = typename type_of<D>::type;

// Calls fn(T{}) with the C++ type of a run-time DType: the bridge from run-time dtypes
// to templated kernels.
template <class Fn>
constexpr decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    case DType::f16: return fn(f16{});
    case DType::bf16: return fn(bf16{});
    case DType::i8: return fn(std::int8_t{});
    case DType::u8: return fn(std::uint8_t{});
    case DType::i16: return fn(std::int16_t{});
    case DType::u16: return fn(std::uint16_t{});
    case DType::i32: return fn(std::int32_t{});
    case DType::u32: return fn(std::uint32_t{});
    case DType::i64: return fn(std::int64_t{});
    case DType::u64: return fn(std::uint64_t{});
    case DType::boolean: break;
  }
  return fn(bool{});
}

} // namespace kiln
