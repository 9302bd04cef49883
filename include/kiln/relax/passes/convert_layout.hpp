// kiln/relax/passes/convert_layout.hpp: layout conversion for the CPU backend: 2-D
// convolutions run in the blocked NCHWc layout (infer_nchwc.hpp), and the ops around them
// follow into it, so that layout transforms sit only at the boundaries of blocked regions.
//
//   conv(x, W, B) with a constant f32 weight [k, c, r, s], groups 1, k >= block
//       -> conv_nchwc(to_nchwc(x), W packed [ceil(k/b), ceil(c/ib), r, s, ib, b], B packed [ceil(k/b), b])
//   the same, depthwise (groups == c == k, W [c, 1, r, s]), c >= block
//       -> conv_nchwc(to_nchwc(x) in block b, W packed [ceil(c/b), 1, r, s, 1, b], B packed)
//   elementwise ops (unary, binary, clip) whose operands are blocked, one-element, or constant
//   per channel ([1, c, 1, 1] or [c, 1, 1], packed here)        -> the same op on the blocked operands
//   global_average_pool / global_max_pool of a blocked value    -> reduce_mean / reduce_max over h, w
//   2-D max_pool / average_pool of a blocked value              -> the same pool over [n, cb, h, w, b]
//                                                                  with a window of 1 on the block
//   to_nchwc(from_nchwc(x)) with the same block                 -> x
//   anything else                                               -> from_nchwc of each blocked operand
//
// Each plain value keeps a blocked twin once one exists, and the plain value is only
// materialized (from_nchwc) when an op outside the layout reads it, so a residual block
// conv -> relu -> conv -> add(skip) -> relu is one transform in and one out. An op joins
// the blocked layout only when one of its operands exists blocked alone: an op on values
// that are plain anyway stays plain and costs no transform.
//
// A conv converts only with others: a region (convs joined through the ops that follow
// them into the layout) of fewer than min_region_convs of them stays NCHW, since one conv
// gains less from the blocked kernel than its two transforms cost.
//
// The output channel block is one SIMD vector (16 floats with AVX-512, 8 with AVX2). The
// input channel block of a plain value is that block too, or the channel count itself when
// it is smaller (an RGB image packs into one block of 3, not one of 16 with 13 zeros).
// Padding channels hold zeros, and an op joins a padded layout only when it keeps them
// zero (relu does, sigmoid does not; the padding value of a packed constant is chosen so
// that, say, x / c divides 0 by 1).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "../../backend/cpu/arch.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../runtime/tensor.hpp"
#include "../attributes.hpp"
#include "../infer_binding.hpp"
#include "../module.hpp"
#include "../op_kind.hpp"
#include "../reference_eval.hpp"
#include "dead_code.hpp"

namespace kiln::relax {

// The CPU backend's channel block: one vector of f32 (8 where no vector unit is compiled in).
inline constexpr std::int64_t kNativeNchwcBlock = cpu::native_arch::width >= 8 ? cpu::native_arch::width : 8;

struct ConvertLayoutOptions {
  std::int64_t block = kNativeNchwcBlock;  // output channels per block; convs with fewer stay NCHW
  // Convs that could run blocked convert only in regions (convs connected through ops that
  // follow them into the layout) of at least this many: a lone conv gains less from the
  // layout than its two transforms cost.
  int min_region_convs = 2;
};

namespace detail::nchwc {

// The blocked form of a plain [n, c, h, w] value: [n, ceil(c / block), h, w, block].
struct Twin {
  ValueId value = kNoValue;
  std::int64_t block = 0;
  std::int64_t channels = 0;
  bool exists() const noexcept { return value != kNoValue; }
  bool padded() const noexcept { return channels % block != 0; }
};

inline std::int64_t blocks_of(std::int64_t channels, std::int64_t block) { return (channels + block - 1) / block; }

// The channel count of a rank-4 f32 value, when it is a constant.
inline std::optional<std::int64_t> static_channels(const TensorType& t) {
  if (t.rank != 4 || t.dtype != DType::f32 || !t.dims[1].is_constant()) return std::nullopt;
  return t.dims[1].constant_value();
}

inline float element(const Tensor& t, std::initializer_list<std::int64_t> index) {
  std::int64_t offset = 0;
  int axis = 0;
  for (std::int64_t i : index) offset += i * t.stride(axis++);
  return t.data_as<float>()[offset];
}

inline Tensor filled(std::span<const std::int64_t> dims, float value) {
  Tensor t = Tensor::empty(DType::f32, dims).value();
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = value;
  return t;
}

// [k, c, r, s] -> [ceil(k / ob), ceil(c / ib), r, s, ib, ob] (OIHW{ib}i{ob}o), zero-padded.
inline Tensor pack_conv_weight(const Tensor& w, std::int64_t in_block, std::int64_t out_block) {
  const std::int64_t k = w.dim(0), c = w.dim(1), r = w.dim(2), s = w.dim(3);
  const std::int64_t kb = blocks_of(k, out_block), cb = blocks_of(c, in_block);
  const std::int64_t dims[] = {kb, cb, r, s, in_block, out_block};
  Tensor packed = filled(dims, 0.0f);
  float* out = packed.data_as<float>();
  for (std::int64_t f = 0; f < k; ++f)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t u = 0; u < r; ++u)
        for (std::int64_t v = 0; v < s; ++v)
          out[((((f / out_block * cb + ch / in_block) * r + u) * s + v) * in_block + ch % in_block) * out_block +
              f % out_block] = element(w, {f, ch, u, v});
  return packed;
}

// A per-channel constant ([c], [1, c, 1, 1] or [c, 1, 1]) with its channels in blocks:
// [ceil(c / b), b], [1, ceil(c / b), 1, 1, b] or [ceil(c / b), 1, 1, b], `padding` past c.
inline Tensor pack_channels(const Tensor& t, std::int64_t block, float padding) {
  const int axis = t.rank() == 4 ? 1 : 0;
  const std::int64_t c = t.dim(axis), cb = blocks_of(c, block);
  std::vector<std::int64_t> dims;
  for (int a = 0; a < t.rank(); ++a) dims.push_back(a == axis ? cb : t.dim(a));
  dims.push_back(block);
  Tensor packed = filled(dims, padding);
  for (std::int64_t ch = 0; ch < c; ++ch)
    packed.data_as<float>()[ch] = t.data_as<float>()[ch * t.stride(axis)];
  return packed;
}

// Whether `t` is a per-channel operand of a [n, channels, h, w] value: [1, c, 1, 1] or [c, 1, 1].
inline bool is_per_channel(const TensorType& t, std::int64_t channels) {
  const auto is = [&](int axis, std::int64_t v) { return t.dims[axis].is_constant(v); };
  if (t.rank == 4) return is(0, 1) && is(1, channels) && is(2, 1) && is(3, 1);
  if (t.rank == 3) return is(0, channels) && is(1, 1) && is(2, 1);
  return false;
}

inline bool is_one_element(const TensorType& t) { return t.element_count().is_constant(1); }

// Ops that compute each element from the elements at the same position (and broadcast
// operands), whatever the layout.
constexpr bool is_layout_agnostic(OpKind op) noexcept {
  const OpFamily family = op_info(op).family;
  return (family == OpFamily::unary && op != OpKind::logical_not) || family == OpFamily::binary || op == OpKind::clip;
}

// Whether a conv with this weight is depthwise: one filter per channel, groups the channel
// count (a multiplier of one).
inline bool is_depthwise(const ConvAttrs& attrs, const Tensor& weight, std::int64_t channels) {
  return attrs.groups > 1 && attrs.groups == channels && weight.dim(0) == channels && weight.dim(1) == 1;
}

// Whether `b` is a conv the blocked layout runs: 2-D, f32, groups 1 or depthwise, a
// constant weight (and bias) to pack at load time, and at least a block of output channels.
inline bool is_convertible_conv(const Function& fn, const Binding& b, std::int64_t block) {
  if (b.op != OpKind::conv || b.outputs.size() != 1) return false;
  const Tensor* weight = fn.constant_of(b.inputs[1]);
  const ValueId bias = b.inputs.size() > 2 ? b.inputs[2] : kNoValue;
  const Tensor* bias_tensor = bias == kNoValue ? nullptr : fn.constant_of(bias);
  const std::optional<std::int64_t> channels = static_channels(fn.type(b.inputs[0]));
  if (!weight || weight->dtype() != DType::f32 || weight->rank() != 4 || !channels) return false;
  const auto& attrs = std::get<ConvAttrs>(b.attrs);
  return (attrs.groups == 1 || is_depthwise(attrs, *weight, *channels)) && weight->dim(0) >= block &&
         (bias == kNoValue || (bias_tensor && bias_tensor->dtype() == DType::f32)) &&
         fn.type(b.outputs[0]).rank == 4;
}

// A 2-D max or average pool, which runs on a blocked value as a 3-D pool whose last axis
// (the block) has a window of one.
inline bool is_blockable_pool(const Binding& b) {
  if (b.op != OpKind::max_pool && b.op != OpKind::average_pool) return false;
  const auto& attrs = std::get<PoolAttrs>(b.attrs);
  return attrs.kernel_shape.size() == 2 && !attrs.kernel_shape.overflow;
}

// The convertible convs of regions of at least options.min_region_convs of them, by output
// value. A region joins the values that convertible convs, elementwise ops and global
// pools connect (constants and one-element operands aside): the values that could share
// one blocked layout.
inline std::vector<char> convs_worth_converting(const Function& fn, const ConvertLayoutOptions& options) {
  std::vector<ValueId> parent(fn.values.size());
  for (std::size_t i = 0; i < parent.size(); ++i) parent[i] = static_cast<ValueId>(i);
  const auto root = [&](ValueId v) {
    while (parent[static_cast<std::size_t>(v)] != v)
      v = parent[static_cast<std::size_t>(v)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(v)])];
    return v;
  };
  const auto join = [&](ValueId a, ValueId b) { parent[static_cast<std::size_t>(root(a))] = root(b); };
  std::vector<ValueId> convs;
  fn.for_each_binding([&](const Binding& b) {
    if (is_convertible_conv(fn, b, options.block)) {
      join(b.inputs[0], b.outputs[0]);
      convs.push_back(b.outputs[0]);
    } else if (b.op == OpKind::global_average_pool || b.op == OpKind::global_max_pool || is_blockable_pool(b)) {
      join(b.inputs[0], b.outputs[0]);
    } else if (is_layout_agnostic(b.op) && b.outputs.size() == 1) {
      for (ValueId in : b.inputs)
        if (in != kNoValue && !fn.constant_of(in) && !is_one_element(fn.type(in))) join(in, b.outputs[0]);
    }
  });
  std::vector<int> region_convs(fn.values.size(), 0);
  for (ValueId conv : convs) ++region_convs[static_cast<std::size_t>(root(conv))];
  std::vector<char> worth(fn.values.size(), 0);
  for (ValueId conv : convs)
    worth[static_cast<std::size_t>(conv)] = region_convs[static_cast<std::size_t>(root(conv))] >= options.min_region_convs;
  return worth;
}

// What a padding channel of an operand holds, and what the op makes of them; nullopt when
// the evaluator does not know the op.
inline std::optional<double> padding_result(OpKind op, std::span<const double> padding) {
  if (op == OpKind::clip) {  // x, then the bounds (infinite where absent)
    double v = padding[0];
    if (padding.size() > 1 && v < padding[1]) v = padding[1];
    if (padding.size() > 2 && v > padding[2]) v = padding[2];
    return v;
  }
  if (padding.size() == 1) return unary_real(op, padding[0]);
  return binary_real(op, padding[0], padding[1]);
}

// Rewrites one function; values keep their ids, new ones are appended.
class LayoutRewriter {
 public:
  LayoutRewriter(Function& fn, const ConvertLayoutOptions& options)
      : fn_(fn), options_(options), convert_(convs_worth_converting(fn, options)) {
    grow();
  }

  Status run() {
    for (const ValueId p : fn_.params) defined_[static_cast<std::size_t>(p)] = 1;
    for (std::size_t i = 0; i < fn_.values.size(); ++i)
      if (fn_.values[i].kind == ValueKind::constant) defined_[i] = 1;
    std::vector<Block> blocks = std::move(fn_.blocks);
    fn_.blocks.clear();
    for (Block& block : blocks) {
      fn_.blocks.push_back(Block{block.dataflow, {}});
      for (Binding& b : block.bindings) {
        for (ValueId& in : b.inputs) in = resolve(in);
        KILN_ASSIGN_OR_RETURN(const bool rewritten, rewrite(b));
        if (rewritten) continue;
        for (ValueId in : b.inputs) KILN_RETURN_IF_ERROR(need_plain(in));
        for (ValueId out : b.outputs) defined_[static_cast<std::size_t>(out)] = 1;
        current().push_back(std::move(b));
      }
    }
    // Outputs leave the function plain.
    fn_.blocks.push_back(Block{true, {}});
    for (ValueId& out : fn_.outputs) {
      out = resolve(out);
      KILN_RETURN_IF_ERROR(need_plain(out));
    }
    return {};
  }

 private:
  std::vector<Binding>& current() { return fn_.blocks.back().bindings; }

  void grow() {
    twin_.resize(fn_.values.size());
    defined_.resize(fn_.values.size(), 0);
    alias_.resize(fn_.values.size(), kNoValue);
  }
  ValueId resolve(ValueId id) const {
    if (id == kNoValue || alias_[static_cast<std::size_t>(id)] == kNoValue) return id;
    return alias_[static_cast<std::size_t>(id)];
  }
  Twin& twin(ValueId id) { return twin_[static_cast<std::size_t>(id)]; }
  bool defined(ValueId id) const { return defined_[static_cast<std::size_t>(id)] != 0; }
  // A value that exists only in the blocked layout so far.
  bool blocked_only(ValueId id) { return id != kNoValue && !defined(id) && twin(id).exists(); }

  // Appends `op(inputs)` and returns its one output, a new value.
  Result<ValueId> emit(OpKind op, std::vector<ValueId> inputs, Attrs attrs) {
    Binding b;
    b.op = op;
    b.inputs = std::move(inputs);
    b.attrs = std::move(attrs);
    KILN_ASSIGN_OR_RETURN(std::vector<TensorType> types, infer_types(fn_, b));
    Value v;
    v.type = types.front();
    const ValueId out = fn_.add_value(std::move(v));
    grow();
    defined_[static_cast<std::size_t>(out)] = 1;
    b.outputs = {out};
    current().push_back(std::move(b));
    return out;
  }
  ValueId add_constant(Tensor t) {
    const TensorType type = type_of(t).value();
    const ValueId id = fn_.add_constant(std::move(t), type);
    grow();
    defined_[static_cast<std::size_t>(id)] = 1;
    return id;
  }

  // Makes sure the plain value `id` is defined: from its twin when it lives only blocked.
  Status need_plain(ValueId id) {
    if (id == kNoValue || defined(id)) return {};
    const Twin t = twin(id);
    if (!t.exists()) return make_error(StatusCode::internal, "convert_layout: value ", id, " is never defined");
    Binding b;
    b.op = OpKind::from_nchwc;
    b.inputs = {t.value};
    b.attrs = ChannelsAttrs{t.channels};
    b.outputs = {id};
    defined_[static_cast<std::size_t>(id)] = 1;
    current().push_back(std::move(b));
    return {};
  }

  // The blocked form of a plain value of `channels` channels, made when there is none.
  Result<ValueId> need_blocked(ValueId id, std::int64_t block, std::int64_t channels) {
    if (twin(id).exists() && twin(id).block == block) return twin(id).value;
    KILN_RETURN_IF_ERROR(need_plain(id));
    KILN_ASSIGN_OR_RETURN(const ValueId blocked, emit(OpKind::to_nchwc, {id}, BlockAttrs{block}));
    twin(id) = Twin{blocked, block, channels};
    return blocked;
  }

  // The block a conv reads a plain input of `channels` channels in.
  std::int64_t input_block(ValueId x, std::int64_t channels) {
    if (twin(x).exists()) return twin(x).block;
    return channels < options_.block ? channels : options_.block;
  }

  Result<bool> rewrite(const Binding& b) {
    switch (b.op) {
      case OpKind::conv: return rewrite_conv(b);
      case OpKind::global_average_pool:
      case OpKind::global_max_pool: return rewrite_global_pool(b);
      case OpKind::max_pool:
      case OpKind::average_pool: return rewrite_window_pool(b);
      case OpKind::from_nchwc: return record_from_nchwc(b);
      case OpKind::to_nchwc: return fold_to_nchwc(b);
      default: return is_layout_agnostic(b.op) ? rewrite_elementwise(b) : Result<bool>(false);
    }
  }

  Result<bool> rewrite_conv(const Binding& b) {
    const auto& attrs = std::get<ConvAttrs>(b.attrs);
    if (!convert_[static_cast<std::size_t>(b.outputs[0])]) return false;
    const ValueId x = b.inputs[0];
    const ValueId bias_id = b.inputs.size() > 2 ? b.inputs[2] : kNoValue;
    const Tensor* weight = fn_.constant_of(b.inputs[1]);
    const Tensor* bias = bias_id == kNoValue ? nullptr : fn_.constant_of(bias_id);
    const std::optional<std::int64_t> channels = static_channels(fn_.type(x));
    // Packed now: adding constants moves the ones `weight` and `bias` point at.
    Tensor packed_bias = bias ? pack_channels(*bias, options_.block, 0.0f) : Tensor();
    const std::int64_t out_channels = weight->dim(0);
    // A depthwise conv reads each channel where it writes it: the input in the output's block.
    const bool depthwise = is_depthwise(attrs, *weight, *channels);
    const std::int64_t in_block = depthwise ? options_.block : input_block(x, *channels);
    Tensor packed_weight = pack_conv_weight(*weight, depthwise ? 1 : in_block, options_.block);
    KILN_ASSIGN_OR_RETURN(const ValueId blocked_x, need_blocked(x, in_block, *channels));
    std::vector<ValueId> inputs{blocked_x, add_constant(std::move(packed_weight))};
    if (packed_bias.defined()) inputs.push_back(add_constant(std::move(packed_bias)));
    KILN_ASSIGN_OR_RETURN(const ValueId y, emit(OpKind::conv_nchwc, std::move(inputs), attrs));
    twin(b.outputs[0]) = Twin{y, options_.block, out_channels};
    return true;
  }

  // An elementwise op joins the blocked layout when an operand lives only blocked and every
  // other operand is blocked too (in the same block), one element, or constant per channel.
  Result<bool> rewrite_elementwise(const Binding& b) {
    if (b.outputs.size() != 1) return false;
    const ValueId out = b.outputs[0];
    const TensorType out_type = fn_.type(out);
    if (out_type.dtype != DType::f32 || out_type.rank != 4) return false;
    Twin layout;
    for (ValueId in : b.inputs)
      if (blocked_only(in)) layout = twin(in);
    if (!layout.exists()) return false;
    std::vector<double> padding;
    std::vector<ValueId> inputs;
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
      const ValueId in = b.inputs[i];
      if (in == kNoValue) {  // clip without a bound: the padding is not clipped that way
        inputs.push_back(kNoValue);
        padding.push_back(i == 1 ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
        continue;
      }
      const TensorType& type = fn_.type(in);
      const Tensor* constant = fn_.constant_of(in);
      if (twin(in).exists()) {
        if (twin(in).block != layout.block || !(type == out_type)) return false;
        inputs.push_back(twin(in).value);
        padding.push_back(0.0);
      } else if (is_one_element(type) && type.rank <= 4) {
        if (layout.padded() && !constant) return false;  // its value decides what the padding becomes
        inputs.push_back(in);
        padding.push_back(constant ? load_real(*constant, 0) : 0.0);
      } else if (constant && type.dtype == DType::f32 && is_per_channel(type, layout.channels)) {
        // A divisor or exponent pads with 1, so that the padding of x / c and x ^ c stays 0.
        const bool second = i == 1 && (b.op == OpKind::divide || b.op == OpKind::power);
        const float fill = second ? 1.0f : 0.0f;
        inputs.push_back(add_constant(pack_channels(*constant, layout.block, fill)));
        padding.push_back(fill);
      } else {
        return false;
      }
    }
    if (layout.padded()) {
      const std::optional<double> result = padding_result(b.op, padding);
      if (!result || *result != 0.0) return false;
    }
    KILN_ASSIGN_OR_RETURN(const ValueId y, emit(b.op, std::move(inputs), b.attrs));
    twin(out) = Twin{y, layout.block, layout.channels};
    return true;
  }

  // The mean (or max) over h and w of a blocked value is its blocked global pool.
  Result<bool> rewrite_global_pool(const Binding& b) {
    const ValueId x = b.inputs[0];
    if (!blocked_only(x) || fn_.type(x).rank != 4) return false;
    const Twin layout = twin(x);
    const OpKind reduce = b.op == OpKind::global_average_pool ? OpKind::reduce_mean : OpKind::reduce_max;
    KILN_ASSIGN_OR_RETURN(const ValueId y, emit(reduce, {layout.value}, ReduceAttrs{.axes = {2, 3}}));
    twin(b.outputs[0]) = Twin{y, layout.block, layout.channels};
    return true;
  }

  // A 2-D pool of a blocked value pools [n, cb, h, w, b] with a window of one on b. A max
  // pool's windows over padding alone would give -inf in the padding channels (and NaN in
  // the next conv), so it joins a padded layout only when it pads nothing.
  Result<bool> rewrite_window_pool(const Binding& b) {
    const ValueId x = b.inputs[0];
    if (!is_blockable_pool(b) || !blocked_only(x) || fn_.type(x).rank != 4) return false;
    const Twin layout = twin(x);
    const auto& attrs = std::get<PoolAttrs>(b.attrs);
    const auto extended = [](const Ints& list, std::int64_t last) {
      Ints out;
      for (std::int64_t v : list) out.push_back(v);
      out.push_back(last);
      return out;
    };
    if (b.op == OpKind::max_pool && layout.padded()) {
      bool unpadded = attrs.auto_pad != AutoPad::same_upper && attrs.auto_pad != AutoPad::same_lower && !attrs.ceil_mode;
      for (std::int64_t pad : attrs.pads) unpadded = unpadded && pad == 0;
      if (!unpadded) return false;
    }
    PoolAttrs blocked = attrs;
    blocked.kernel_shape = extended(attrs.kernel_shape, 1);
    if (!attrs.strides.empty()) blocked.strides = extended(attrs.strides, 1);
    if (!attrs.dilations.empty()) blocked.dilations = extended(attrs.dilations, 1);
    if (!attrs.pads.empty()) blocked.pads = Ints{attrs.pads[0], attrs.pads[1], 0, attrs.pads[2], attrs.pads[3], 0};
    KILN_ASSIGN_OR_RETURN(const ValueId y, emit(b.op, {layout.value}, blocked));
    twin(b.outputs[0]) = Twin{y, layout.block, layout.channels};
    return true;
  }

  // from_nchwc(x): its output is x's plain twin, materialized only when needed.
  Result<bool> record_from_nchwc(const Binding& b) {
    const TensorType& x = fn_.type(b.inputs[0]);
    if (x.rank != 5 || !x.dims[4].is_constant()) return false;
    twin(b.outputs[0]) = Twin{b.inputs[0], x.dims[4].constant_value(), std::get<ChannelsAttrs>(b.attrs).channels};
    return true;
  }

  // to_nchwc(v) of a value whose blocked form exists in that block is that form.
  Result<bool> fold_to_nchwc(const Binding& b) {
    const ValueId v = b.inputs[0];
    const std::int64_t block = std::get<BlockAttrs>(b.attrs).block;
    if (twin(v).exists() && twin(v).block == block) {
      alias_[static_cast<std::size_t>(b.outputs[0])] = twin(v).value;
      return true;
    }
    const std::optional<std::int64_t> channels = static_channels(fn_.type(v));
    if (!channels) return false;
    KILN_RETURN_IF_ERROR(need_plain(v));
    twin(v) = Twin{b.outputs[0], block, *channels};
    defined_[static_cast<std::size_t>(b.outputs[0])] = 1;
    current().push_back(b);
    return true;
  }

  Function& fn_;
  ConvertLayoutOptions options_;
  std::vector<char> convert_;    // by conv output, from the values as they were: convert it
  std::vector<Twin> twin_;       // by plain value: its blocked form
  std::vector<char> defined_;    // by value: defined in the rewritten function so far
  std::vector<ValueId> alias_;   // by value: the value that replaces it
};

} // namespace detail::nchwc

inline Status convert_layout(Function& fn, const ConvertLayoutOptions& options = {}) {
  if (options.block < 1)
    return make_error(StatusCode::invalid_argument, "convert_layout: the block must be positive, got ", options.block);
  KILN_RETURN_IF_ERROR(detail::nchwc::LayoutRewriter(fn, options).run());
  // The plain weights the packed ones replace.
  eliminate_dead_code(fn);
  return {};
}

inline Status convert_layout(Module& module, const ConvertLayoutOptions& options = {}) {
  for (Function& fn : module.functions) KILN_RETURN_IF_ERROR(convert_layout(fn, options));
  return {};
}

} // namespace kiln::relax
