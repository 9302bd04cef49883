// kiln/backend/vulkan/spirv/numbers.hpp: the numbers of the SPIR-V specification (and of its
// GLSL.std.450 instruction set) that kiln's shader emitter uses. Only what kiln emits is here.
#pragma once

#include <cstdint>

namespace kiln::vulkan::spirv {

inline constexpr std::uint32_t kMagic = 0x07230203;
// SPIR-V 1.3, what Vulkan 1.1 consumes: storage buffers are core, and an entry point lists
// only its Input and Output variables.
inline constexpr std::uint32_t kVersion = 0x00010300;
// The generator word: zero in the tool field, as for a tool without a registered number.
inline constexpr std::uint32_t kGenerator = 0;

enum class Op : std::uint16_t {
  name = 5,
  extension = 10,
  member_name = 6,
  ext_inst_import = 11,
  ext_inst = 12,
  memory_model = 14,
  entry_point = 15,
  execution_mode = 16,
  capability = 17,
  type_void = 19,
  type_bool = 20,
  type_int = 21,
  type_float = 22,
  type_vector = 23,
  type_array = 28,
  type_runtime_array = 29,
  type_struct = 30,
  type_pointer = 32,
  type_function = 33,
  constant_true = 41,
  constant_false = 42,
  constant = 43,
  function = 54,
  function_end = 56,
  variable = 59,
  load = 61,
  store = 62,
  access_chain = 65,
  decorate = 71,
  member_decorate = 72,
  composite_extract = 81,
  convert_f_to_s = 110,
  convert_s_to_f = 111,
  u_convert = 113,
  s_convert = 114,
  f_convert = 115,
  bitcast = 124,
  s_negate = 126,
  f_negate = 127,
  i_add = 128,
  f_add = 129,
  i_sub = 130,
  f_sub = 131,
  i_mul = 132,
  f_mul = 133,
  s_div = 135,
  f_div = 136,
  u_mod = 137,
  s_rem = 138,
  logical_equal = 164,
  logical_not_equal = 165,
  logical_or = 166,
  logical_and = 167,
  logical_not = 168,
  select = 169,
  i_equal = 170,
  i_not_equal = 171,
  s_greater_than = 173,
  s_greater_than_equal = 175,
  s_less_than = 177,
  s_less_than_equal = 179,
  f_ord_equal = 180,
  f_unord_not_equal = 183,
  f_ord_less_than = 184,
  f_ord_greater_than = 186,
  f_ord_less_than_equal = 188,
  f_ord_greater_than_equal = 190,
  shift_right_logical = 194,
  bitwise_and = 199,
  control_barrier = 224,
  loop_merge = 246,
  selection_merge = 247,
  label = 248,
  branch = 249,
  branch_conditional = 250,
  return_ = 253,
};

namespace capability {
inline constexpr std::uint32_t shader = 1;
inline constexpr std::uint32_t float64 = 10;
inline constexpr std::uint32_t int64 = 11;
inline constexpr std::uint32_t storage_buffer_16bit_access = 4433;  // core in SPIR-V 1.3
inline constexpr std::uint32_t storage_buffer_8bit_access = 4448;   // SPV_KHR_8bit_storage
}
namespace addressing {
inline constexpr std::uint32_t logical = 0;
}
namespace memory_model {
inline constexpr std::uint32_t glsl450 = 1;
}
namespace execution_model {
inline constexpr std::uint32_t gl_compute = 5;
}
namespace execution_mode {
inline constexpr std::uint32_t local_size = 17;
}
namespace storage {
inline constexpr std::uint32_t input = 1;
inline constexpr std::uint32_t workgroup = 4;
inline constexpr std::uint32_t function = 7;
inline constexpr std::uint32_t push_constant = 9;
inline constexpr std::uint32_t storage_buffer = 12;
}
// Scopes and memory semantics of barriers.
namespace scope {
inline constexpr std::uint32_t workgroup = 2;
}
namespace memory_semantics {
inline constexpr std::uint32_t acquire_release = 0x8;
inline constexpr std::uint32_t workgroup_memory = 0x100;
}
namespace decoration {
inline constexpr std::uint32_t block = 2;
inline constexpr std::uint32_t array_stride = 6;
inline constexpr std::uint32_t built_in = 11;
inline constexpr std::uint32_t non_writable = 24;
inline constexpr std::uint32_t binding = 33;
inline constexpr std::uint32_t descriptor_set = 34;
inline constexpr std::uint32_t offset = 35;
}
namespace built_in {
inline constexpr std::uint32_t num_workgroups = 24;
inline constexpr std::uint32_t workgroup_id = 26;
inline constexpr std::uint32_t local_invocation_id = 27;
}
namespace loop_control {
inline constexpr std::uint32_t none = 0;
inline constexpr std::uint32_t unroll = 1;
}
inline constexpr std::uint32_t kNoControl = 0;  // selection, function and memory-access masks

// GLSL.std.450 extended instructions.
namespace glsl {
inline constexpr std::uint32_t round_even = 2;
inline constexpr std::uint32_t f_abs = 4;
inline constexpr std::uint32_t s_abs = 5;
inline constexpr std::uint32_t floor = 8;
inline constexpr std::uint32_t ceil = 9;
inline constexpr std::uint32_t trunc = 3;
inline constexpr std::uint32_t sin = 13;
inline constexpr std::uint32_t cos = 14;
inline constexpr std::uint32_t tan = 15;
inline constexpr std::uint32_t asin = 16;
inline constexpr std::uint32_t acos = 17;
inline constexpr std::uint32_t atan = 18;
inline constexpr std::uint32_t sinh = 19;
inline constexpr std::uint32_t cosh = 20;
inline constexpr std::uint32_t tanh = 21;
inline constexpr std::uint32_t asinh = 22;
inline constexpr std::uint32_t acosh = 23;
inline constexpr std::uint32_t atanh = 24;
inline constexpr std::uint32_t pow = 26;
inline constexpr std::uint32_t exp = 27;
inline constexpr std::uint32_t log = 28;
inline constexpr std::uint32_t exp2 = 29;
inline constexpr std::uint32_t log2 = 30;
inline constexpr std::uint32_t sqrt = 31;
inline constexpr std::uint32_t inverse_sqrt = 32;
inline constexpr std::uint32_t frexp = 51;
inline constexpr std::uint32_t ldexp = 53;
}

} // namespace kiln::vulkan::spirv
