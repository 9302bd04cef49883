// kiln/frontend/onnx/import_ops_signal.hpp: ONNX's signal-processing ops: the Hann, Hamming
// and Blackman windows (constants of the requested length), and DFT and STFT as matmuls with
// constant cosine and sine matrices (the transform length must be known at load time).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "import_graph.hpp"
#include "import_ops_elementwise.hpp"
#include "import_ops_nn.hpp"
#include "import_ops_shape.hpp"

namespace kiln::onnx::detail {

// A generalized cosine window: sum over k of (-1)^k a_k cos(2 pi k n / D), with D the size
// (periodic) or the size - 1 (symmetric).
template <int Terms>
Status convert_cosine_window(NodeContext& ctx, const double (&coefficients)[Terms]) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> size, ctx.constant_ints(0, "size"));
  if (size.size() != 1 || size[0] < 0) return ctx.invalid("size must be one non-negative integer");
  DType dtype = DType::f32;
  if (ctx.has_attr("output_datatype")) {
    KILN_ASSIGN_OR_RETURN(dtype, dtype_attr(ctx, "output_datatype"));
  }
  const std::int64_t n = size[0];
  const bool periodic = ctx.attr_int("periodic", 1) != 0;
  const double span = static_cast<double>(periodic ? n : n - 1);
  std::vector<double> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double v = 0.0;
    for (int k = 0; k < Terms; ++k) {
      const double term = coefficients[k] * std::cos(2.0 * std::numbers::pi * k * static_cast<double>(i) / span);
      v += k % 2 == 0 ? term : -term;
    }
    values[static_cast<std::size_t>(i)] = v;
  }
  KILN_ASSIGN_OR_RETURN(Tensor window, tensor_from(dtype, {n}, values));
  return ctx.set_output(0, ctx.constant(std::move(window)));
}

inline Status convert_hann_window(NodeContext& ctx) {
  static constexpr double kCoefficients[] = {0.5, 0.5};
  return convert_cosine_window(ctx, kCoefficients);
}
inline Status convert_hamming_window(NodeContext& ctx) {
  static constexpr double kCoefficients[] = {25.0 / 46.0, 21.0 / 46.0};
  return convert_cosine_window(ctx, kCoefficients);
}
inline Status convert_blackman_window(NodeContext& ctx) {
  static constexpr double kCoefficients[] = {0.42, 0.5, 0.08};
  return convert_cosine_window(ctx, kCoefficients);
}

// The discrete Fourier transform along `axis` of x [..., 1 or 2] (real, or real and
// imaginary parts last), as [..., 2]: X[k] = sum_n x[n] e^(-+2 pi i k n / N), over
// `length` samples (the signal cut or zero-padded to it), the first length / 2 + 1
// frequencies when `onesided`, divided by N when `inverse`.
inline Result<Var> fourier_transform(NodeContext& ctx, Var x, std::int64_t axis, std::optional<std::int64_t> length,
                                     bool inverse, bool onesided) {
  KILN_RETURN_IF_ERROR(ctx.status());
  relax::Builder& b = ctx.b();
  const relax::TensorType xt = ctx.type(x);
  const int rank = xt.rank;
  if (rank < 2 || !xt.dims[rank - 1].is_constant() || xt.dims[rank - 1].constant_value() < 1 ||
      xt.dims[rank - 1].constant_value() > 2)
    return ctx.invalid("the last dim must be 1 (real) or 2 (complex), got ", to_string(xt));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank - 1) return ctx.invalid("axis ", axis, " is out of range for ", to_string(xt));
  if (!xt.dims[axis].is_constant()) return ctx.unsupported("the signal length must be known at load time");
  const bool complex = xt.dims[rank - 1].constant_value() == 2;
  if (onesided && complex) return ctx.invalid("onesided needs a real input");
  const std::int64_t samples = xt.dims[axis].constant_value();
  const std::int64_t n = length.value_or(samples);
  if (n < 1) return ctx.invalid("the transform length must be positive, got ", n);
  const std::int64_t frequencies = onesided ? n / 2 + 1 : n;
  // Each part with the transformed axis last, cut or padded to n.
  relax::Ints perm;
  for (int a = 0; a < rank - 1; ++a)
    if (a != axis) perm.push_back(a);
  perm.push_back(axis);
  const auto part = [&](std::int64_t index) {
    Var v = b.squeeze(slice_axis(b, x, rank - 1, index, index + 1), {rank - 1});
    v = b.transpose(v, perm);
    if (n < samples) v = slice_axis(b, v, -1, 0, n);
    if (n > samples) {
      relax::PadAttrs pad;
      pad.axes = {-1};
      pad.pads = {0, n - samples};
      v = b.pad(v, pad);
    }
    return v;
  };
  const Var real = part(0);
  const Var imaginary = complex ? part(1) : Var{};
  // cos and sin of 2 pi k m / n, [n, frequencies].
  std::vector<double> cosines(static_cast<std::size_t>(n * frequencies)), sines(cosines.size());
  for (std::int64_t m = 0; m < n; ++m) {
    for (std::int64_t k = 0; k < frequencies; ++k) {
      const double angle = 2.0 * std::numbers::pi * static_cast<double>((k * m) % n) / static_cast<double>(n);
      cosines[static_cast<std::size_t>(m * frequencies + k)] = std::cos(angle);
      sines[static_cast<std::size_t>(m * frequencies + k)] = std::sin(angle);
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor cos_table, tensor_from(xt.dtype, {n, frequencies}, cosines));
  KILN_ASSIGN_OR_RETURN(Tensor sin_table, tensor_from(xt.dtype, {n, frequencies}, sines));
  const Var c = ctx.constant(std::move(cos_table));
  const Var s = ctx.constant(std::move(sin_table));
  // Forward e^(-i t): (a + ib)(cos t - i sin t); inverse e^(+i t): (a + ib)(cos t + i sin t).
  Var out_real = matmul_any(ctx, real, c);
  Var out_imaginary = b.neg(matmul_any(ctx, real, s));
  if (inverse) out_imaginary = matmul_any(ctx, real, s);
  if (imaginary.valid()) {
    const Var bc = matmul_any(ctx, imaginary, c);
    const Var bs = matmul_any(ctx, imaginary, s);
    out_real = inverse ? b.subtract(out_real, bs) : b.add(out_real, bs);
    out_imaginary = b.add(out_imaginary, bc);
  }
  if (inverse) {
    const Var scale = ctx.scalar(xt.dtype, 1.0 / static_cast<double>(n));
    out_real = b.multiply(out_real, scale);
    out_imaginary = b.multiply(out_imaginary, scale);
  }
  // Back to the input's axis order, real and imaginary parts last.
  relax::Ints back(perm);
  for (int a = 0; a < rank - 1; ++a) back[static_cast<int>(perm[a])] = a;
  const Var stacked = b.concat({b.unsqueeze(out_real, {-1}), b.unsqueeze(out_imaginary, {-1})}, -1);
  relax::Ints full = back;
  full.push_back(rank - 1);
  return b.transpose(stacked, full);
}

inline Status convert_dft(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var x, ctx.input(0));
  std::optional<std::int64_t> length;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> l, ctx.constant_ints(1, "dft_length"));
    if (l.size() != 1) return ctx.invalid("dft_length must have one element");
    length = l[0];
  }
  std::int64_t axis = ctx.attr_int("axis", 1);
  if (ctx.opset() >= 20) {
    axis = -2;
    if (ctx.has_input(2)) {
      KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> a, ctx.constant_ints(2, "axis"));
      if (a.size() != 1) return ctx.invalid("axis must have one element");
      axis = a[0];
    }
  }
  KILN_ASSIGN_OR_RETURN(const Var y, fourier_transform(ctx, x, axis, length, ctx.attr_int("inverse", 0) != 0,
                                                       ctx.attr_int("onesided", 0) != 0));
  return ctx.set_output(0, y);
}

// STFT: the DFT of frames of frame_length samples every frame_step samples, each multiplied
// by the window: signal [batch, length, 1 or 2] -> [batch, frames, frequencies, 2].
inline Status convert_stft(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const Var signal, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> step, ctx.constant_ints(1, "frame_step"));
  KILN_ASSIGN_OR_RETURN(const Var window, ctx.optional_input(2));
  KILN_RETURN_IF_ERROR(ctx.status());
  if (step.size() != 1 || step[0] < 1) return ctx.invalid("frame_step must be one positive integer");
  std::int64_t frame = 0;
  if (ctx.has_input(3)) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> l, ctx.constant_ints(3, "frame_length"));
    if (l.size() != 1) return ctx.invalid("frame_length must have one element");
    frame = l[0];
  } else if (window.valid() && ctx.type(window).dims[0].is_constant()) {
    frame = ctx.type(window).dims[0].constant_value();
  } else {
    return ctx.invalid("needs a window or a frame_length known at load time");
  }
  const relax::TensorType st = ctx.type(signal);
  if (st.rank != 3 || !st.dims[1].is_constant()) return ctx.unsupported("the signal must be [batch, length known at load time, 1 or 2]");
  const std::int64_t samples = st.dims[1].constant_value();
  if (frame < 1 || frame > samples) return ctx.invalid("frame_length ", frame, " does not fit a signal of ", samples);
  const std::int64_t frames = (samples - frame) / step[0] + 1;
  relax::Builder& b = ctx.b();
  std::vector<Var> parts;
  for (std::int64_t f = 0; f < frames; ++f)
    parts.push_back(b.unsqueeze(slice_axis(b, signal, 1, f * step[0], f * step[0] + frame), {1}));
  Var framed = parts.size() == 1 ? parts[0] : b.concat(parts, 1);  // [batch, frames, frame, 1 or 2]
  if (window.valid()) framed = b.multiply(framed, b.reshape(window, relax::Dims{1, 1, frame, 1}));
  KILN_ASSIGN_OR_RETURN(const Var y, fourier_transform(ctx, framed, 2, std::nullopt, false, ctx.attr_int("onesided", 1) != 0));
  return ctx.set_output(0, y);
}

// MelWeightMatrix: triangular filters of num_mel_bins mel bands over the dft_length / 2 + 1
// frequency bins, a constant computed as ONNX's reference does it (band edges evenly spaced
// in mel, mel = 2595 log10(1 + hz / 700), mapped to bins by floor((dft_length + 1) hz /
// sample_rate)).
inline Status convert_mel_weight_matrix(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const std::vector<double> bands_value, ctx.constant_reals(0, "num_mel_bins"));
  KILN_ASSIGN_OR_RETURN(const std::vector<double> dft_value, ctx.constant_reals(1, "dft_length"));
  KILN_ASSIGN_OR_RETURN(const std::vector<double> rate_value, ctx.constant_reals(2, "sample_rate"));
  KILN_ASSIGN_OR_RETURN(const std::vector<double> lower_value, ctx.constant_reals(3, "lower_edge_hertz"));
  KILN_ASSIGN_OR_RETURN(const std::vector<double> upper_value, ctx.constant_reals(4, "upper_edge_hertz"));
  for (const auto* v : {&bands_value, &dft_value, &rate_value, &lower_value, &upper_value})
    if (v->size() != 1) return ctx.invalid("every input must be a scalar");
  const auto bands = static_cast<std::int64_t>(bands_value[0]);
  const auto dft_length = static_cast<std::int64_t>(dft_value[0]);
  const double sample_rate = rate_value[0];
  if (bands < 1 || dft_length < 1 || !(sample_rate > 0)) return ctx.invalid("num_mel_bins, dft_length and sample_rate must be positive");
  DType dtype = DType::f32;
  if (ctx.has_attr("output_datatype")) {
    KILN_ASSIGN_OR_RETURN(dtype, dtype_attr(ctx, "output_datatype"));
  }
  // The edges in mel are computed in f32, as the reference's float32 inputs make them.
  const auto to_mel = [](double hz) {
    return static_cast<double>(2595.0f * std::log10(1.0f + static_cast<float>(hz) / 700.0f));
  };
  const double low_mel = to_mel(lower_value[0]);
  const double step = static_cast<double>(static_cast<float>(to_mel(upper_value[0]) - low_mel) / static_cast<float>(bands + 2));
  std::vector<std::int64_t> edges(static_cast<std::size_t>(bands + 2));
  for (std::int64_t i = 0; i < bands + 2; ++i) {
    const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * step + low_mel) / 2595.0) - 1.0);
    edges[static_cast<std::size_t>(i)] =
        static_cast<std::int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / sample_rate));
  }
  const std::int64_t bins = dft_length / 2 + 1;
  std::vector<double> weights(static_cast<std::size_t>(bins * bands), 0.0);
  const auto at = [&](std::int64_t bin, std::int64_t band) -> double* {
    if (bin < 0 || bin >= bins) return nullptr;
    return &weights[static_cast<std::size_t>(bin * bands + band)];
  };
  for (std::int64_t band = 0; band < bands; ++band) {
    const std::int64_t left = edges[static_cast<std::size_t>(band)];
    const std::int64_t center = edges[static_cast<std::size_t>(band + 1)];
    const std::int64_t right = edges[static_cast<std::size_t>(band + 2)];
    if (center == left) {
      if (double* w = at(center, band)) *w = 1.0;
    } else {
      for (std::int64_t j = left; j <= center; ++j)
        if (double* w = at(j, band)) *w = static_cast<double>(j - left) / static_cast<double>(center - left);
    }
    for (std::int64_t j = center; j < right; ++j)
      if (double* w = at(j, band)) *w = static_cast<double>(right - j) / static_cast<double>(right - center);
  }
  KILN_ASSIGN_OR_RETURN(Tensor matrix, tensor_from(dtype, {bins, bands}, weights));
  return ctx.set_output(0, ctx.constant(std::move(matrix)));
}

inline constexpr ConverterEntry kSignalConverters[] = {
    {"MelWeightMatrix", convert_mel_weight_matrix},
    {"DFT", convert_dft},
    {"STFT", convert_stft},
    {"HannWindow", convert_hann_window},
    {"HammingWindow", convert_hamming_window},
    {"BlackmanWindow", convert_blackman_window},
};

} // namespace kiln::onnx::detail
