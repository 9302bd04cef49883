// kiln/vm/ops/linear.hpp: the CPU kernels of the linear-algebra ops of the dynamic-module VM:
// matmul, gemm, conv, conv_transpose and fused attention, all f32.
//
// Every product runs on kiln's packed GEMM (cpu::gemm_detail::gemm_strided), which takes
// arbitrary strides for both operands, so a transposed or broadcast operand costs nothing:
//   matmul:          one GEMM per batch (or one tall GEMM when the batch folds into rows).
//   gemm:            C broadcast (times beta) into the output, then one GEMM accumulates.
//   conv:            im2col into scratch, then one GEMM per image and group; a direct loop
//                    when every output channel reads one input channel (depthwise).
//                    1-D, 2-D and 3-D windows share one path: a lower-dimensional window
//                    is a 3-D one whose outer axes have extent 1.
//   conv_transpose:  one GEMM per image and group into a column buffer, then col2im.
//   attention:       per batch and block of query rows: S = q k^T (GEMM), masked softmax
//                    of S in scratch, O = S v (GEMM).
// Independent products (batches, images, groups, heads) run in parallel on the pool, each
// participant on its own slice of scratch; a single large product threads inside the GEMM.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>

#include <xsimd/xsimd.hpp>

#include "../../backend/cpu/gemm.hpp"
#include "../../core/status.hpp"
#include "../../relax/attributes.hpp"
#include "../../relax/module.hpp"
#include "../../relax/op_kind.hpp"
#include "../../runtime/thread_pool.hpp"
#include "../op_kernel.hpp"
#include "../slot.hpp"
#include "cpu_support.hpp"

namespace kiln::vm {
namespace linear_detail {

using relax::OpKind;
using Matrix = cpu::gemm_detail::ConstMatrix;

inline constexpr std::size_t kScratchAlign = 64;

constexpr std::size_t align_up(std::size_t bytes) noexcept {
  return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}
inline std::size_t float_bytes(std::int64_t count) noexcept {
  return align_up(static_cast<std::size_t>(count > 0 ? count : 0) * sizeof(float));
}
inline std::size_t gemm_bytes(std::int64_t m, std::int64_t n, std::int64_t k, int threads) noexcept {
  return align_up(cpu::gemm_workspace_bytes<cpu::native_arch>(m, n, k, threads));
}

inline float* as_floats(std::span<std::byte> piece) noexcept { return reinterpret_cast<float*>(piece.data()); }

// One row times a matrix, columns [j0, j1): c = alpha * a @ b + beta * c. B is read once,
// where a GEMM would first pack all of it (a classifier's weight, every run).
inline void row_times_matrix(std::int64_t j0, std::int64_t j1, std::int64_t k, float alpha, Matrix a, Matrix b,
                             float beta, float* c) noexcept {
  using Batch = xsimd::batch<float>;
  constexpr auto lanes = static_cast<std::int64_t>(Batch::size);
  const auto finish = [&](std::int64_t j, float sum) { c[j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * c[j]); };
  if (b.row_stride == 1) {
    // Column j of B is contiguous: a dot product per column.
    for (std::int64_t j = j0; j < j1; ++j) {
      const float* column = b.data + j * b.col_stride;
      Batch s0(0.0f), s1(0.0f);
      std::int64_t i = 0;
      if (a.col_stride == 1) {
        for (; i + 2 * lanes <= k; i += 2 * lanes) {
          s0 = xsimd::fma(Batch::load_unaligned(a.data + i), Batch::load_unaligned(column + i), s0);
          s1 = xsimd::fma(Batch::load_unaligned(a.data + i + lanes), Batch::load_unaligned(column + i + lanes), s1);
        }
      }
      float sum = xsimd::hadd(s0 + s1);
      for (; i < k; ++i) sum += a.data[i * a.col_stride] * column[i];
      finish(j, sum);
    }
    return;
  }
  // Rows of B are contiguous: accumulate a[i] * row i into a block of columns held in registers.
  constexpr std::int64_t kBlock = 8 * lanes;
  for (std::int64_t jb = j0; jb < j1; jb += kBlock) {
    const std::int64_t width = std::min(kBlock, j1 - jb);
    Batch sums[8];
    for (Batch& v : sums) v = Batch(0.0f);
    const std::int64_t vectors = width / lanes;
    float tail[kBlock] = {};
    for (std::int64_t i = 0; i < k; ++i) {
      const Batch ai(a.data[i * a.col_stride]);
      const float* row = b.data + i * b.row_stride + jb;
      for (std::int64_t v = 0; v < vectors; ++v) sums[v] = xsimd::fma(ai, Batch::load_unaligned(row + v * lanes), sums[v]);
      for (std::int64_t j = vectors * lanes; j < width; ++j) tail[j] += a.data[i * a.col_stride] * row[j];
    }
    alignas(64) float out[kBlock];
    for (std::int64_t v = 0; v < vectors; ++v) sums[v].store_aligned(out + v * lanes);
    for (std::int64_t j = 0; j < width; ++j) finish(jb + j, j < vectors * lanes ? out[j] : tail[j]);
  }
}

inline Status multiply(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, Matrix a, Matrix b, float beta,
                       float* c, std::int64_t ldc, std::span<std::byte> workspace, ThreadPool* pool) {
  if (m == 1 && (b.row_stride == 1 || b.col_stride == 1) && n > 0 && k > 0) {
    cpu_support::parallel_items(pool, n, 2 * k, [&](std::int64_t j0, std::int64_t j1) {
      row_times_matrix(j0, j1, k, alpha, a, b, beta, c);
    });
    return Status::success();
  }
  return cpu::gemm_detail::gemm_strided<cpu::native_arch>(m, n, k, alpha, a, b, beta, c, ldc, workspace.data(),
                                                          workspace.size(), pool);
}

inline Status scratch_too_small(OpKind op, std::size_t have) {
  return make_error(StatusCode::internal, relax::to_string(op), ": scratch of ", have,
                    " bytes is smaller than scratch_bytes asked for");
}

// Independent work items (batches, images) run either one at a time, each product threaded
// inside the GEMM, or side by side, one participant per thread with its own scratch. Side by
// side wins when there are enough items to go round or when each is too small to thread.
inline constexpr int kMaxParticipants = 64;

inline int participants_for(std::int64_t items, double flops_per_item, int threads) noexcept {
  threads = std::min(threads, kMaxParticipants);
  if (threads <= 1 || items <= 1) return 1;
  const bool enough_items = items >= threads;
  const bool small_items = flops_per_item < cpu::gemm_detail::kMinFlopsPerThread * 2.0;
  if (!enough_items && !small_items) return 1;
  return static_cast<int>(std::min<std::int64_t>(items, threads));
}

// Runs body(item, participant) for every item; participant p handles items p, p + P, ...
// so that each participant's scratch is used by one thread at a time.
template <class Body>
void for_each_item(ThreadPool* pool, int participants, std::int64_t items, Body&& body) {
  if (participants <= 1 || pool == nullptr) {
    for (std::int64_t item = 0; item < items; ++item) body(item, 0);
    return;
  }
  pool->parallel_for(0, participants, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p)
      for (std::int64_t item = p; item < items; item += participants) body(item, static_cast<int>(p));
  });
}

// The first failure of items that ran in parallel (each participant keeps its own).
struct FirstError {
  Status slots[kMaxParticipants];
  void record(int participant, Status s) {
    if (!s.ok() && slots[participant].ok()) slots[participant] = std::move(s);
  }
  Status take() {
    for (Status& s : slots)
      if (!s.ok()) return std::move(s);
    return Status::success();
  }
};

inline std::string_view op_name(OpKind op) noexcept { return relax::to_string(op); }

inline const relax::TensorType* input_type(const relax::Binding& b, const relax::Function& fn, std::size_t i) {
  if (i >= b.inputs.size() || b.inputs[i] == relax::kNoValue) return nullptr;
  return &fn.type(b.inputs[i]);
}

inline Status require_f32(OpKind op, std::string_view role, const relax::TensorType* t) {
  if (t == nullptr || t->dtype == DType::f32) return Status::success();
  return make_error(StatusCode::unsupported, op_name(op), ": ", role, " is ", to_string(t->dtype),
                    "; the CPU kernel computes f32 only");
}

inline Status require_inputs(OpKind op, const relax::Binding& b, std::size_t required) {
  if (b.inputs.size() < required || b.outputs.size() != 1)
    return make_error(StatusCode::invalid_argument, op_name(op), ": expects ", required, " inputs and one output");
  for (std::size_t i = 0; i < required; ++i)
    if (b.inputs[i] == relax::kNoValue)
      return make_error(StatusCode::invalid_argument, op_name(op), ": input ", i, " is required");
  return Status::success();
}

// Whether the output slot is the row-major buffer every kernel here writes.
inline Status require_contiguous_output(OpKind op, const Slot& out) {
  if (out.contiguous()) return Status::success();
  return make_error(StatusCode::internal, op_name(op), ": the output must be row-major contiguous");
}

// ---------------------------------------------------------------------------------------
// matmul

struct MatmulPlan {
  std::int64_t m = 0, n = 0, k = 0;
  int batch_rank = 0;
  std::int64_t batch_dims[kMaxRank] = {};
  std::int64_t a_batch_strides[kMaxRank] = {};  // 0 where A broadcasts
  std::int64_t b_batch_strides[kMaxRank] = {};
  std::int64_t batches = 1;
  Matrix a{nullptr, 0, 0};
  Matrix b{nullptr, 0, 0};
  bool folded = false;  // the batch runs as one GEMM of batches * m rows
  int participants = 1;
  std::size_t workspace_bytes = 0;  // per participant
};

inline Status plan_matmul(const OpCall& call, MatmulPlan& p) {
  const Slot& a = *call.input(0);
  const Slot& b = *call.input(1);
  const Slot& out = call.output();
  if (a.rank < 1 || b.rank < 1)
    return make_error(StatusCode::shape_mismatch, "matmul: operands must have rank 1 or more");
  p.k = a.dims[a.rank - 1];
  const std::int64_t k_b = b.dims[b.rank == 1 ? 0 : b.rank - 2];
  if (p.k != k_b)
    return make_error(StatusCode::shape_mismatch, "matmul: inner dimensions ", p.k, " and ", k_b, " differ");
  p.m = a.rank >= 2 ? a.dims[a.rank - 2] : 1;
  p.n = b.rank >= 2 ? b.dims[b.rank - 1] : 1;
  // A 1-D operand is a row (A) or a column (B) whose other stride is never used.
  p.a = Matrix{a.data_as<float>(), a.rank >= 2 ? a.strides[a.rank - 2] : 0, a.strides[a.rank - 1]};
  p.b = b.rank >= 2 ? Matrix{b.data_as<float>(), b.strides[b.rank - 2], b.strides[b.rank - 1]}
                    : Matrix{b.data_as<float>(), b.strides[0], 0};
  const int a_batch = a.rank > 2 ? a.rank - 2 : 0;
  const int b_batch = b.rank > 2 ? b.rank - 2 : 0;
  p.batch_rank = std::max(a_batch, b_batch);
  const int expected_rank = p.batch_rank + (a.rank >= 2 ? 1 : 0) + (b.rank >= 2 ? 1 : 0);
  if (out.rank != expected_rank)
    return make_error(StatusCode::shape_mismatch, "matmul: the output has rank ", out.rank, ", expected ",
                      expected_rank);
  p.batches = 1;
  for (int i = 0; i < p.batch_rank; ++i) {
    // Batch axes align at the right; a missing or size-1 axis broadcasts (stride 0).
    const int ia = i - (p.batch_rank - a_batch);
    const int ib = i - (p.batch_rank - b_batch);
    const std::int64_t da = ia >= 0 ? a.dims[ia] : 1;
    const std::int64_t db = ib >= 0 ? b.dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return make_error(StatusCode::shape_mismatch, "matmul: batch dimensions ", da, " and ", db,
                        " cannot be broadcast");
    const std::int64_t d = da == 1 ? db : da;
    if (out.dims[i] != d)
      return make_error(StatusCode::shape_mismatch, "matmul: output batch dimension ", i, " is ", out.dims[i],
                        ", expected ", d);
    p.batch_dims[i] = d;
    p.a_batch_strides[i] = ia >= 0 && da != 1 ? a.strides[ia] : 0;
    p.b_batch_strides[i] = ib >= 0 && db != 1 ? b.strides[ib] : 0;
    p.batches *= d;
  }
  if ((a.rank >= 2 && out.dims[p.batch_rank] != p.m) || (b.rank >= 2 && out.dims[out.rank - 1] != p.n))
    return make_error(StatusCode::shape_mismatch, "matmul: the output dims do not match the operands");

  // The batch folds into the rows when B is shared and A's rows are evenly spaced across it.
  bool shared_b = true;
  for (int i = 0; i < p.batch_rank; ++i) shared_b = shared_b && p.b_batch_strides[i] == 0;
  if (shared_b && p.batches > 1) {
    bool even = true;
    bool have_step = p.m > 1;
    std::int64_t row_step = p.a.row_stride;
    std::int64_t rows_inside = p.m;
    for (int i = p.batch_rank; i-- > 0;) {
      if (p.batch_dims[i] != 1) {
        if (!have_step) {
          row_step = p.a_batch_strides[i];
          have_step = true;
        }
        even = even && p.a_batch_strides[i] == row_step * rows_inside;
      }
      rows_inside *= p.batch_dims[i];
    }
    if (even) {
      p.folded = true;
      p.a.row_stride = row_step;
    }
  }
  const int threads = call.threads();
  if (p.folded) {
    p.participants = 1;
    p.workspace_bytes = gemm_bytes(p.batches * p.m, p.n, p.k, threads);
  } else {
    const double flops = 2.0 * static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
    p.participants = participants_for(p.batches, flops, threads);
    p.workspace_bytes = gemm_bytes(p.m, p.n, p.k, p.participants > 1 ? 1 : threads);
  }
  return Status::success();
}

inline Status matmul_supports(const relax::Binding& binding, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(require_inputs(OpKind::matmul, binding, 2));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::matmul, "input A", input_type(binding, fn, 0)));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::matmul, "input B", input_type(binding, fn, 1)));
  return Status::success();
}

inline std::size_t matmul_scratch(const OpCall& call) {
  MatmulPlan p;
  if (!plan_matmul(call, p).ok()) return 0;
  return static_cast<std::size_t>(p.participants) * p.workspace_bytes;
}

inline Status matmul_run(const OpCall& call) {
  MatmulPlan p;
  KILN_RETURN_IF_ERROR(plan_matmul(call, p));
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous_output(OpKind::matmul, out));
  if (static_cast<std::size_t>(p.participants) * p.workspace_bytes > call.scratch.size())
    return scratch_too_small(OpKind::matmul, call.scratch.size());
  float* c = out.data_as<float>();
  if (p.folded)
    return multiply(p.batches * p.m, p.n, p.k, 1.0f, p.a, p.b, 0.0f, c, p.n, call.scratch, call.pool);

  FirstError errors;
  for_each_item(call.pool, p.participants, p.batches, [&](std::int64_t batch, int participant) {
    // The batch index, digit by digit from the last axis, gives each operand's offset.
    std::int64_t rest = batch;
    std::int64_t a_offset = 0;
    std::int64_t b_offset = 0;
    for (int i = p.batch_rank; i-- > 0;) {
      const std::int64_t index = rest % p.batch_dims[i];
      rest /= p.batch_dims[i];
      a_offset += index * p.a_batch_strides[i];
      b_offset += index * p.b_batch_strides[i];
    }
    const std::span<std::byte> workspace =
        call.scratch.subspan(static_cast<std::size_t>(participant) * p.workspace_bytes, p.workspace_bytes);
    ThreadPool* inner_pool = p.participants > 1 ? nullptr : call.pool;
    errors.record(participant,
                  multiply(p.m, p.n, p.k, 1.0f, Matrix{p.a.data + a_offset, p.a.row_stride, p.a.col_stride},
                           Matrix{p.b.data + b_offset, p.b.row_stride, p.b.col_stride}, 0.0f, c + batch * p.m * p.n,
                           p.n, workspace, inner_pool));
  });
  return errors.take();
}

// ---------------------------------------------------------------------------------------
// gemm

struct GemmPlan {
  std::int64_t m = 0, n = 0, k = 0;
  Matrix a{nullptr, 0, 0};
  Matrix b{nullptr, 0, 0};
};

inline Status plan_gemm(const OpCall& call, GemmPlan& p) {
  const auto& attrs = call.attr<relax::GemmOpAttrs>();
  const Slot& a = *call.input(0);
  const Slot& b = *call.input(1);
  const Slot& out = call.output();
  if (a.rank != 2 || b.rank != 2 || out.rank != 2)
    return make_error(StatusCode::shape_mismatch, "gemm: A, B and the output must have rank 2");
  // op(A) = A^T is A read with its strides swapped.
  p.m = a.dims[attrs.trans_a ? 1 : 0];
  p.k = a.dims[attrs.trans_a ? 0 : 1];
  p.a = attrs.trans_a ? Matrix{a.data_as<float>(), a.strides[1], a.strides[0]}
                      : Matrix{a.data_as<float>(), a.strides[0], a.strides[1]};
  const std::int64_t k_b = b.dims[attrs.trans_b ? 1 : 0];
  p.n = b.dims[attrs.trans_b ? 0 : 1];
  p.b = attrs.trans_b ? Matrix{b.data_as<float>(), b.strides[1], b.strides[0]}
                      : Matrix{b.data_as<float>(), b.strides[0], b.strides[1]};
  if (p.k != k_b)
    return make_error(StatusCode::shape_mismatch, "gemm: inner dimensions ", p.k, " and ", k_b, " differ");
  if (out.dims[0] != p.m || out.dims[1] != p.n)
    return make_error(StatusCode::shape_mismatch, "gemm: the output is [", out.dims[0], ", ", out.dims[1],
                      "], expected [", p.m, ", ", p.n, "]");
  return Status::success();
}

inline Status gemm_supports(const relax::Binding& binding, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(require_inputs(OpKind::gemm, binding, 2));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::gemm, "input A", input_type(binding, fn, 0)));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::gemm, "input B", input_type(binding, fn, 1)));
  const relax::TensorType* c = input_type(binding, fn, 2);
  KILN_RETURN_IF_ERROR(require_f32(OpKind::gemm, "input C", c));
  if (c != nullptr && c->rank > 2)
    return make_error(StatusCode::unsupported, "gemm: input C must have rank 2 or less, got ", to_string(*c));
  return Status::success();
}

inline std::size_t gemm_scratch(const OpCall& call) {
  GemmPlan p;
  if (!plan_gemm(call, p).ok()) return 0;
  return gemm_bytes(p.m, p.n, p.k, call.threads());
}

inline Status gemm_run(const OpCall& call) {
  GemmPlan p;
  KILN_RETURN_IF_ERROR(plan_gemm(call, p));
  const auto& attrs = call.attr<relax::GemmOpAttrs>();
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous_output(OpKind::gemm, out));
  float* y = out.data_as<float>();
  const Slot* c = call.input(2);
  float beta = 0.0f;
  if (c != nullptr && attrs.beta != 0.0 && p.m > 0 && p.n > 0) {
    // C broadcast to [m, n] (aligned at the right), scaled by beta; the GEMM adds to it.
    if (c->rank > 2) return make_error(StatusCode::shape_mismatch, "gemm: input C must have rank 2 or less");
    std::int64_t c_dims[2] = {1, 1};
    std::int64_t c_strides[2] = {0, 0};
    for (int i = 0; i < c->rank; ++i) {
      const int axis = 2 - c->rank + i;
      c_dims[axis] = c->dims[i];
      c_strides[axis] = c->dims[i] == 1 ? 0 : c->strides[i];
    }
    if ((c_dims[0] != 1 && c_dims[0] != p.m) || (c_dims[1] != 1 && c_dims[1] != p.n))
      return make_error(StatusCode::shape_mismatch, "gemm: input C [", c_dims[0], ", ", c_dims[1],
                        "] does not broadcast to [", p.m, ", ", p.n, "]");
    const float scale = static_cast<float>(attrs.beta);
    const float* cd = c->data_as<float>();
    for (std::int64_t i = 0; i < p.m; ++i)
      for (std::int64_t j = 0; j < p.n; ++j) y[i * p.n + j] = scale * cd[i * c_strides[0] + j * c_strides[1]];
    beta = 1.0f;
  }
  if (gemm_bytes(p.m, p.n, p.k, 1) > call.scratch.size()) return scratch_too_small(OpKind::gemm, call.scratch.size());
  return multiply(p.m, p.n, p.k, static_cast<float>(attrs.alpha), p.a, p.b, beta, y, p.n, call.scratch, call.pool);
}

// ---------------------------------------------------------------------------------------
// conv and conv_transpose share the geometry of a 1-D, 2-D or 3-D window over NCW, NCHW or
// NCDHW.

constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept { return (a + b - 1) / b; }  // a >= 0

// Output positions o in [0, out) whose tap lands inside [0, in): o * stride + offset in [0, in).
struct Range {
  std::int64_t begin = 0;
  std::int64_t end = 0;
};
constexpr Range inside(std::int64_t offset, std::int64_t stride, std::int64_t in, std::int64_t out) noexcept {
  const std::int64_t begin = offset >= 0 ? 0 : ceil_div(-offset, stride);
  const std::int64_t last = in - 1 - offset;  // o * stride <= last
  const std::int64_t end = last < 0 ? 0 : last / stride + 1;
  return Range{std::min(begin, out), std::clamp(end, std::min(begin, out), out)};
}

struct Axis {
  std::int64_t in = 1;       // input extent
  std::int64_t out = 1;      // output extent
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;
  std::int64_t in_stride = 0;  // of the input slot, in elements
};

struct WindowGeometry {
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t groups = 1;
  std::int64_t in_per_group = 0;
  std::int64_t out_per_group = 0;
  // Depth, height, width: a 2-D op runs as 3-D with d of extent 1, a 1-D op with d and h.
  Axis d;
  Axis h;
  Axis w;
  std::int64_t x_batch_stride = 0;
  std::int64_t x_channel_stride = 0;
  std::int64_t taps() const noexcept { return d.kernel * h.kernel * w.kernel; }
  // A "plane" is every spatial position of one channel; a "slice" one depth of it.
  std::int64_t in_plane() const noexcept { return d.in * h.in * w.in; }
  std::int64_t out_plane() const noexcept { return d.out * h.out * w.out; }
  std::int64_t in_slice() const noexcept { return h.in * w.in; }
  std::int64_t out_slice() const noexcept { return h.out * w.out; }
  // Spatial axis i of an op with `spatial` of them (1 to 3), counted from the outermost.
  Axis& spatial_axis(int spatial, int i) noexcept {
    Axis* axes[3] = {&d, &h, &w};
    return *axes[3 - spatial + i];
  }
  // Whether the input's spatial positions of one channel are packed row-major.
  bool packed_input() const noexcept {
    return (w.in == 1 || w.in_stride == 1) && (h.in == 1 || h.in_stride == w.in) &&
           (d.in == 1 || d.in_stride == h.in * w.in);
  }
};

// The window lists hold one value per spatial axis (pads two); inference checked them, but a
// kernel reads them by index, so it does not trust that.
inline Status check_window_lists(OpKind op, int spatial, const relax::Ints& strides, const relax::Ints& pads,
                                 const relax::Ints& dilations) {
  const auto fits = [](const relax::Ints& list, int expected) {
    return !list.overflow && (list.empty() || list.size() == expected);
  };
  if (!fits(strides, spatial) || !fits(dilations, spatial) || !fits(pads, 2 * spatial))
    return make_error(StatusCode::invalid_argument, op_name(op), ": strides, dilations and pads must hold ", spatial,
                      ", ", spatial, " and ", 2 * spatial, " values for a ", spatial, "-D window");
  return Status::success();
}
inline Status check_output_padding(int spatial, const relax::ConvTransposeAttrs& attrs) {
  const relax::Ints& list = attrs.output_padding;
  if (list.overflow || (!list.empty() && list.size() != spatial))
    return make_error(StatusCode::invalid_argument, "conv_transpose: output_padding must hold ", spatial, " values");
  return Status::success();
}

// Reads the window attributes of spatial axis `i` (of `spatial`) into `axis`.
inline void read_window(const relax::Ints& strides, const relax::Ints& pads, const relax::Ints& dilations, int spatial,
                        int i, Axis& axis, std::int64_t& pad_end) {
  axis.stride = strides.empty() ? 1 : strides[i];
  axis.dilation = dilations.empty() ? 1 : dilations[i];
  axis.pad_begin = pads.empty() ? 0 : pads[i];
  pad_end = pads.empty() ? 0 : pads[spatial + i];
}

// Fills batch, channels and the spatial axes common to conv and conv_transpose.
inline Status read_operands(OpKind op, const OpCall& call, WindowGeometry& g, int& spatial) {
  const Slot& x = *call.input(0);
  const Slot& weight = *call.input(1);
  const Slot& out = call.output();
  if (x.rank < 3 || x.rank > 5 || weight.rank != x.rank || out.rank != x.rank)
    return make_error(StatusCode::unsupported, op_name(op),
                      ": only 1-D, 2-D and 3-D windows (input, weight and output of rank 3 to 5) are supported");
  spatial = x.rank - 2;
  g.batch = x.dims[0];
  g.in_channels = x.dims[1];
  g.out_channels = out.dims[1];
  g.x_batch_stride = x.strides[0];
  g.x_channel_stride = x.strides[1];
  if (out.dims[0] != g.batch)
    return make_error(StatusCode::shape_mismatch, op_name(op), ": output batch ", out.dims[0], ", input batch ",
                      g.batch);
  for (int i = 0; i < spatial; ++i) {
    Axis& a = g.spatial_axis(spatial, i);
    a.in = x.dims[2 + i];
    a.out = out.dims[2 + i];
    a.kernel = weight.dims[2 + i];
    a.in_stride = x.strides[2 + i];
  }
  // The weight is read as a plain matrix: its rows must be packed.
  std::int64_t expect = 1;
  for (int i = weight.rank; i-- > 1;) {
    if (weight.dims[i] != 1 && weight.strides[i] != expect)
      return make_error(StatusCode::unsupported, op_name(op), ": the weight's inner dimensions must be contiguous");
    expect *= weight.dims[i];
  }
  return Status::success();
}

inline Status check_bias(OpKind op, const Slot* bias, std::int64_t channels) {
  if (bias == nullptr) return Status::success();
  if (bias->rank != 1 || bias->dims[0] != channels)
    return make_error(StatusCode::shape_mismatch, op_name(op), ": the bias must be [", channels, "]");
  return Status::success();
}

// conv's pads for one axis, and a check that the output extent agrees with them.
inline Status resolve_conv_axis(relax::AutoPad auto_pad, std::int64_t pad_end, Axis& a) {
  if (a.stride < 1 || a.dilation < 1 || a.kernel < 1)
    return make_error(StatusCode::invalid_argument, "conv: strides, dilations and kernel extents must be positive");
  const std::int64_t span = a.dilation * (a.kernel - 1) + 1;
  std::int64_t expected = 0;
  switch (auto_pad) {
    case relax::AutoPad::explicit_pads: {
      const std::int64_t room = a.in + a.pad_begin + pad_end - span;
      expected = room < 0 ? 0 : room / a.stride + 1;
      break;
    }
    case relax::AutoPad::valid: {
      a.pad_begin = 0;
      const std::int64_t room = a.in - span;
      expected = room < 0 ? 0 : room / a.stride + 1;
      break;
    }
    case relax::AutoPad::same_upper:
    case relax::AutoPad::same_lower: {
      expected = ceil_div(a.in, a.stride);
      const std::int64_t total = std::max<std::int64_t>(0, (expected - 1) * a.stride + span - a.in);
      a.pad_begin = auto_pad == relax::AutoPad::same_upper ? total / 2 : total - total / 2;
      break;
    }
  }
  if (a.out != expected)
    return make_error(StatusCode::shape_mismatch, "conv: an output extent is ", a.out, ", the window gives ", expected);
  return Status::success();
}

inline Status plan_conv_geometry(const OpCall& call, WindowGeometry& g) {
  const auto& attrs = call.attr<relax::ConvAttrs>();
  int spatial = 0;
  KILN_RETURN_IF_ERROR(read_operands(OpKind::conv, call, g, spatial));
  const Slot& weight = *call.input(1);
  g.groups = attrs.groups;
  if (g.groups < 1 || g.in_channels % g.groups != 0 || g.out_channels % g.groups != 0 ||
      weight.dims[0] != g.out_channels || weight.dims[1] * g.groups != g.in_channels)
    return make_error(StatusCode::shape_mismatch, "conv: channels ", g.in_channels, " -> ", g.out_channels,
                      " do not match the weight and ", g.groups, " groups");
  g.in_per_group = g.in_channels / g.groups;
  g.out_per_group = g.out_channels / g.groups;
  KILN_RETURN_IF_ERROR(check_window_lists(OpKind::conv, spatial, attrs.strides, attrs.pads, attrs.dilations));
  for (int i = 0; i < spatial; ++i) {
    Axis& a = g.spatial_axis(spatial, i);
    std::int64_t pad_end = 0;
    read_window(attrs.strides, attrs.pads, attrs.dilations, spatial, i, a, pad_end);
    KILN_RETURN_IF_ERROR(resolve_conv_axis(attrs.auto_pad, pad_end, a));
  }
  return check_bias(OpKind::conv, call.input(2), g.out_channels);
}

// A 1x1 window with unit stride over packed planes needs no im2col: the input is the matrix.
inline bool is_pointwise(const WindowGeometry& g) noexcept {
  for (const Axis* a : {&g.d, &g.h, &g.w})
    if (a->kernel != 1 || a->stride != 1 || a->pad_begin != 0 || a->out != a->in) return false;
  return g.packed_input();
}

// Every output channel reads a single input channel: a direct loop beats im2col + GEMM.
inline bool is_depthwise(const WindowGeometry& g) noexcept { return g.in_per_group == 1 && g.groups > 1; }

// A 1-D or 2-D depthwise window over one channel reads a staged copy of the channel's plane:
// the rows the windows read, zero-padded, each split into `stride` phases (phase q holds the
// padded columns q, q + stride, ...), so that every tap of a run of output columns reads
// consecutive elements whatever the stride. A row of outputs then runs one vector of
// columns at a time with every tap summed in registers, narrow rows (7 or 14 columns)
// included, and its last vector stores only the columns that exist.
struct DepthwiseStage {
  std::int64_t rows = 0;          // padded rows the windows read
  std::int64_t phases = 1;        // the stride along a row
  std::int64_t phase_length = 0;  // elements of one phase of a row, a vector of zeros past its end
  std::int64_t floats() const noexcept { return rows * phases * phase_length; }
};

inline bool stages_depthwise(const WindowGeometry& g) noexcept {
  return g.d.in == 1 && g.d.out == 1 && g.d.kernel == 1 && g.d.pad_begin == 0;
}

inline DepthwiseStage depthwise_stage(const WindowGeometry& g) noexcept {
  constexpr auto kLanes = static_cast<std::int64_t>(xsimd::batch<float>::size);
  DepthwiseStage st;
  st.rows = (g.h.out - 1) * g.h.stride + (g.h.kernel - 1) * g.h.dilation + 1;
  st.phases = g.w.stride;
  const std::int64_t columns = (g.w.out - 1) * g.w.stride + (g.w.kernel - 1) * g.w.dilation + 1;
  st.phase_length = ceil_div(columns, g.w.stride) + kLanes;
  return st;
}

// Copies the part of one channel the windows read into `stage`, zeros in the padding.
inline void stage_channel(const WindowGeometry& g, const DepthwiseStage& st, const float* x_channel,
                          float* stage) noexcept {
  const Axis &h = g.h, &w = g.w;
  const std::int64_t length = st.phase_length;
  for (std::int64_t r = 0; r < st.rows; ++r) {
    const std::int64_t ih = r - h.pad_begin;
    float* row = stage + r * st.phases * length;
    if (ih < 0 || ih >= h.in) {
      std::fill(row, row + st.phases * length, 0.0f);
      continue;
    }
    const float* in_row = x_channel + ih * h.in_stride;
    for (std::int64_t q = 0; q < st.phases; ++q) {
      // Phase q holds input columns q + t * stride - pad: those of t in [first, end) exist.
      float* dst = row + q * length;
      const std::int64_t offset = q - w.pad_begin;
      const Range inside_row = inside(offset, w.stride, w.in, length);
      std::fill(dst, dst + inside_row.begin, 0.0f);
      if (inside_row.begin < inside_row.end) {
        const float* src = in_row + (offset + inside_row.begin * w.stride) * w.in_stride;
        const std::int64_t step = w.stride * w.in_stride;
        if (step == 1) {
          std::copy(src, src + (inside_row.end - inside_row.begin), dst + inside_row.begin);
        } else {
          for (std::int64_t t = inside_row.begin; t < inside_row.end; ++t, src += step) dst[t] = *src;
        }
      }
      std::fill(dst + inside_row.end, dst + length, 0.0f);
    }
  }
}

// One output channel from its staged input.
inline void depthwise_staged(const WindowGeometry& g, const DepthwiseStage& st, const float* stage,
                             const float* weights, float bias, float* out_plane) noexcept {
  using Batch = xsimd::batch<float>;
  constexpr auto kLanes = static_cast<std::int64_t>(Batch::size);
  const Axis &h = g.h, &w = g.w;
  // Where each tap of a row reads, from the start of the row's stage: its phase and shift.
  constexpr std::int64_t kMaxColumns = 16;
  std::int64_t column[kMaxColumns];
  const auto column_of = [&](std::int64_t j) {
    const std::int64_t c = j * w.dilation;
    return (c % st.phases) * st.phase_length + c / st.phases;
  };
  for (std::int64_t j = 0; j < std::min(w.kernel, kMaxColumns); ++j) column[j] = column_of(j);
  const std::int64_t row_elements = st.phases * st.phase_length;
  for (std::int64_t oh = 0; oh < h.out; ++oh) {
    float* out_row = out_plane + oh * w.out;
    for (std::int64_t ow = 0; ow < w.out; ow += kLanes) {
      Batch sum(bias);
      for (std::int64_t i = 0; i < h.kernel; ++i) {
        const float* src = stage + (oh * h.stride + i * h.dilation) * row_elements + ow;
        const float* weight_row = weights + i * w.kernel;
        for (std::int64_t j = 0; j < w.kernel; ++j) {
          const std::int64_t at = j < kMaxColumns ? column[j] : column_of(j);
          sum = xsimd::fma(Batch(weight_row[j]), Batch::load_unaligned(src + at), sum);
        }
      }
      const std::int64_t n = std::min(kLanes, w.out - ow);
      if (n == kLanes) {
        sum.store_unaligned(out_row + ow);
      } else {
        alignas(64) float lanes[Batch::size];
        sum.store_aligned(lanes);
        for (std::int64_t l = 0; l < n; ++l) out_row[ow + l] = lanes[l];
      }
    }
  }
}

struct ConvPlan {
  WindowGeometry g;
  bool pointwise = false;
  bool depthwise = false;
  int participants = 1;
  std::size_t columns_bytes = 0;    // per participant
  std::size_t workspace_bytes = 0;  // per participant
  std::size_t total() const noexcept {
    return static_cast<std::size_t>(participants) * (columns_bytes + workspace_bytes);
  }
};

inline Status plan_conv(const OpCall& call, ConvPlan& p) {
  KILN_RETURN_IF_ERROR(plan_conv_geometry(call, p.g));
  const WindowGeometry& g = p.g;
  p.depthwise = is_depthwise(g);
  p.pointwise = !p.depthwise && is_pointwise(g);
  if (p.depthwise) {
    // Channels run in parallel, each participant staging its channels in its own scratch.
    if (!stages_depthwise(g) || g.out_plane() == 0) return Status::success();
    const double flops = 2.0 * static_cast<double>(g.taps()) * static_cast<double>(g.out_plane());
    p.participants = participants_for(g.batch * g.out_channels, flops, call.threads());
    p.workspace_bytes = float_bytes(depthwise_stage(g).floats());
    return Status::success();
  }
  const std::int64_t rows = g.in_per_group * g.taps();
  const std::int64_t items = g.batch * g.groups;
  const double flops = 2.0 * static_cast<double>(g.out_per_group) * static_cast<double>(rows) *
                       static_cast<double>(g.out_plane());
  const int threads = call.threads();
  p.participants = participants_for(items, flops, threads);
  p.columns_bytes = p.pointwise ? 0 : float_bytes(rows * g.out_plane());
  p.workspace_bytes = gemm_bytes(g.out_per_group, g.out_plane(), rows, p.participants > 1 ? 1 : threads);
  return Status::success();
}

// The channel and tap (k, i, j) of a row of the im2col (or col2im) matrix, stepped from row to
// row without a division.
struct TapCounter {
  std::int64_t channel = 0, k = 0, i = 0, j = 0;
  TapCounter(const WindowGeometry& g, std::int64_t row) noexcept {
    const std::int64_t slice_taps = g.h.kernel * g.w.kernel;
    channel = row / g.taps();
    k = (row % g.taps()) / slice_taps;
    i = (row % slice_taps) / g.w.kernel;
    j = row % g.w.kernel;
  }
  void next(const WindowGeometry& g) noexcept {
    if (++j < g.w.kernel) return;
    j = 0;
    if (++i < g.h.kernel) return;
    i = 0;
    if (++k < g.d.kernel) return;
    k = 0;
    ++channel;
  }
};

// Rows [row_begin, row_end) of the im2col matrix of one image and group: row (c, k, i, j)
// holds, for every output position, the input under tap (k, i, j) of channel c, or 0 in the
// padding.
inline void im2col_rows(const WindowGeometry& g, const float* x_group, float* columns, std::int64_t row_begin,
                        std::int64_t row_end) noexcept {
  const std::int64_t plane = g.out_plane();
  const std::int64_t slice = g.out_slice();
  TapCounter tap(g, row_begin);
  for (std::int64_t row = row_begin; row < row_end; ++row, tap.next(g)) {
    const std::int64_t k = tap.k, i = tap.i, j = tap.j;
    const float* channel = x_group + tap.channel * g.x_channel_stride;
    const std::int64_t w_offset = j * g.w.dilation - g.w.pad_begin;
    const Range cols = inside(w_offset, g.w.stride, g.w.in, g.w.out);
    for (std::int64_t od = 0; od < g.d.out; ++od) {
      float* dst = columns + row * plane + od * slice;
      const std::int64_t id = od * g.d.stride + k * g.d.dilation - g.d.pad_begin;
      if (id < 0 || id >= g.d.in) {
        std::fill(dst, dst + slice, 0.0f);
        continue;
      }
      const float* in_slice = channel + id * g.d.in_stride;
      for (std::int64_t oh = 0; oh < g.h.out; ++oh) {
        float* out_row = dst + oh * g.w.out;
        const std::int64_t ih = oh * g.h.stride + i * g.h.dilation - g.h.pad_begin;
        if (ih < 0 || ih >= g.h.in) {
          std::fill(out_row, out_row + g.w.out, 0.0f);
          continue;
        }
        const float* in_row = in_slice + ih * g.h.in_stride;
        std::fill(out_row, out_row + cols.begin, 0.0f);
        if (g.w.stride == 1 && g.w.in_stride == 1) {
          if (cols.end > cols.begin)
            std::memcpy(out_row + cols.begin, in_row + cols.begin + w_offset,
                        static_cast<std::size_t>(cols.end - cols.begin) * sizeof(float));
        } else {
          for (std::int64_t ow = cols.begin; ow < cols.end; ++ow)
            out_row[ow] = in_row[(ow * g.w.stride + w_offset) * g.w.in_stride];
        }
        std::fill(out_row + cols.end, out_row + g.w.out, 0.0f);
      }
    }
  }
}

inline void add_bias(const float* bias, float* out, std::int64_t channels, std::int64_t plane) noexcept {
  if (bias == nullptr) return;
  for (std::int64_t c = 0; c < channels; ++c) {
    const float b = bias[c];
    float* row = out + c * plane;
    for (std::int64_t i = 0; i < plane; ++i) row[i] += b;
  }
}

// Output depth slice `od` of one depthwise channel (a 1-D or 2-D window has the one slice),
// row by row. With unit stride along the row, the columns where every tap is inside the input
// (all but a pad's width at each end) take all the taps in one vectorized pass that keeps the
// sums in registers; the other columns add tap by tap, skipping taps that fall in the padding.
// kDepth is false for 1-D and 2-D windows: their depth loop then compiles away, which keeps
// the inner loops as tight as before 3-D existed.
template <bool kDepth>
void depthwise_slice(const WindowGeometry& g, const float* x_channel, const float* weights, float bias,
                     std::int64_t od, float* out_slice) noexcept {
  using Batch = xsimd::batch<float>;
  constexpr auto kLanes = static_cast<std::int64_t>(Batch::size);
  const Axis& a = g.w;
  Range interior{0, 0};
  if (a.stride == 1 && a.in_stride == 1) {
    interior = Range{0, a.out};
    for (std::int64_t j = 0; j < a.kernel; ++j) {
      const Range r = inside(j * a.dilation - a.pad_begin, 1, a.in, a.out);
      interior.begin = std::max(interior.begin, r.begin);
      interior.end = std::min(interior.end, r.end);
    }
    if (interior.end <= interior.begin) interior = Range{0, 0};
  }
  // The kernel depths whose input slice exists.
  const std::int64_t front = kDepth ? od * g.d.stride - g.d.pad_begin : 0;
  const Range depths = kDepth ? inside(front, g.d.dilation, g.d.in, g.d.kernel) : Range{0, 1};
  for (std::int64_t oh = 0; oh < g.h.out; ++oh) {
    float* out_row = out_slice + oh * a.out;
    // The kernel rows whose input row exists.
    const std::int64_t top = oh * g.h.stride - g.h.pad_begin;
    const Range rows = inside(top, g.h.dilation, g.h.in, g.h.kernel);
    const auto in_row_of = [&](std::int64_t k, std::int64_t i) {
      const float* slice = kDepth ? x_channel + (front + k * g.d.dilation) * g.d.in_stride : x_channel;
      return slice + (top + i * g.h.dilation) * g.h.in_stride;
    };
    const auto weight_row_of = [&](std::int64_t k, std::int64_t i) {
      return weights + ((kDepth ? k * g.h.kernel : 0) + i) * a.kernel;
    };
    // Interior columns: every tap reads in_row[ow - pad + j * dilation], inside the row.
    const auto interior_vector = [&](std::int64_t ow) {
      Batch sum(bias);
      for (std::int64_t k = depths.begin; k < depths.end; ++k)
        for (std::int64_t i = rows.begin; i < rows.end; ++i) {
          const float* src = in_row_of(k, i) + ow - a.pad_begin;
          const float* w = weight_row_of(k, i);
          for (std::int64_t j = 0; j < a.kernel; ++j)
            sum = xsimd::fma(Batch(w[j]), Batch::load_unaligned(src + j * a.dilation), sum);
        }
      sum.store_unaligned(out_row + ow);
    };
    const std::int64_t width = interior.end - interior.begin;
    if (width >= kLanes) {
      std::int64_t ow = interior.begin;
      for (; ow + kLanes <= interior.end; ow += kLanes) interior_vector(ow);
      // The last partial vector overlaps the previous one; it writes the same sums again.
      if (ow < interior.end) interior_vector(interior.end - kLanes);
    } else {
      for (std::int64_t ow = interior.begin; ow < interior.end; ++ow) {
        float sum = bias;
        for (std::int64_t k = depths.begin; k < depths.end; ++k)
          for (std::int64_t i = rows.begin; i < rows.end; ++i) {
            const float* src = in_row_of(k, i) + ow - a.pad_begin;
            const float* w = weight_row_of(k, i);
            for (std::int64_t j = 0; j < a.kernel; ++j) sum += w[j] * src[j * a.dilation];
          }
        out_row[ow] = sum;
      }
    }
    const auto edge_column = [&](std::int64_t ow) {
      float sum = bias;
      for (std::int64_t k = depths.begin; k < depths.end; ++k)
        for (std::int64_t i = rows.begin; i < rows.end; ++i) {
          const float* in_row = in_row_of(k, i);
          const float* w = weight_row_of(k, i);
          for (std::int64_t j = 0; j < a.kernel; ++j) {
            const std::int64_t iw = ow * a.stride + j * a.dilation - a.pad_begin;
            if (iw >= 0 && iw < a.in) sum += w[j] * in_row[iw * a.in_stride];
          }
        }
      out_row[ow] = sum;
    };
    for (std::int64_t ow = 0; ow < interior.begin; ++ow) edge_column(ow);
    for (std::int64_t ow = interior.end; ow < a.out; ++ow) edge_column(ow);
  }
}

// conv and conv_transpose take the same operands: f32 input, weight and optional bias, with
// one to three spatial axes.
template <class Attrs>
Status window_op_supports(OpKind op, const relax::Binding& binding, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(require_inputs(op, binding, 2));
  const relax::TensorType* x = input_type(binding, fn, 0);
  KILN_RETURN_IF_ERROR(require_f32(op, "the input", x));
  KILN_RETURN_IF_ERROR(require_f32(op, "the weight", input_type(binding, fn, 1)));
  KILN_RETURN_IF_ERROR(require_f32(op, "the bias", input_type(binding, fn, 2)));
  const std::string_view name = relax::to_string(op);
  if (x->rank < 3 || x->rank > 5)
    return make_error(StatusCode::unsupported, name, ": ", x->rank - 2,
                      "-D windows are not supported (1-D to 3-D: input of rank 3 to 5), got ", to_string(*x));
  const relax::TensorType* weight = input_type(binding, fn, 1);
  if (weight->rank != x->rank)
    return make_error(StatusCode::unsupported, name, ": the weight must have the input's rank ", x->rank, ", got ",
                      to_string(*weight));
  const Attrs* attrs = std::get_if<Attrs>(&binding.attrs);
  if (attrs == nullptr)
    return make_error(StatusCode::invalid_argument, name, ": the binding holds another op's attributes");
  const int spatial = x->rank - 2;
  KILN_RETURN_IF_ERROR(check_window_lists(op, spatial, attrs->strides, attrs->pads, attrs->dilations));
  if constexpr (std::is_same_v<Attrs, relax::ConvTransposeAttrs>) return check_output_padding(spatial, *attrs);
  return Status::success();
}

inline Status conv_supports(const relax::Binding& binding, const relax::Function& fn) {
  return window_op_supports<relax::ConvAttrs>(OpKind::conv, binding, fn);
}

inline std::size_t conv_scratch(const OpCall& call) {
  ConvPlan p;
  if (!plan_conv(call, p).ok()) return 0;
  return p.total();
}

inline Status conv_run(const OpCall& call) {
  ConvPlan p;
  KILN_RETURN_IF_ERROR(plan_conv(call, p));
  const WindowGeometry& g = p.g;
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous_output(OpKind::conv, out));
  const float* x = call.input(0)->data_as<float>();
  const float* weight = call.input(1)->data_as<float>();
  const float* bias = call.input(2) != nullptr ? call.input(2)->data_as<float>() : nullptr;
  float* y = out.data_as<float>();
  const std::int64_t plane = g.out_plane();
  const std::int64_t taps = g.taps();
  const std::int64_t weight_row = call.input(1)->strides[0];
  if (g.batch == 0 || g.out_channels == 0 || plane == 0) return Status::success();

  if (p.depthwise && stages_depthwise(g)) {
    if (p.total() > call.scratch.size()) return scratch_too_small(OpKind::conv, call.scratch.size());
    const DepthwiseStage st = depthwise_stage(g);
    for_each_item(call.pool, p.participants, g.batch * g.out_channels, [&](std::int64_t item, int participant) {
      const std::int64_t n = item / g.out_channels;
      const std::int64_t m = item % g.out_channels;
      const std::int64_t c = m / g.out_per_group;  // the one input channel of m's group
      float* stage = as_floats(call.scratch.subspan(static_cast<std::size_t>(participant) * p.workspace_bytes,
                                                    p.workspace_bytes));
      stage_channel(g, st, x + n * g.x_batch_stride + c * g.x_channel_stride, stage);
      depthwise_staged(g, st, stage, weight + m * weight_row, bias != nullptr ? bias[m] : 0.0f, y + item * plane);
    });
    return Status::success();
  }
  if (p.depthwise) {
    const std::int64_t slice = g.out_slice();
    const bool has_depth = call.input(0)->rank == 5;
    const auto run_planes = [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t item = begin; item < end; ++item) {
        const std::int64_t n = item / g.out_channels;
        const std::int64_t m = item % g.out_channels;
        const std::int64_t c = m / g.out_per_group;  // the one input channel of m's group
        const float* x_channel = x + n * g.x_batch_stride + c * g.x_channel_stride;
        const float bias_m = bias != nullptr ? bias[m] : 0.0f;
        float* y_plane = y + item * plane;
        if (!has_depth) {
          depthwise_slice<false>(g, x_channel, weight + m * weight_row, bias_m, 0, y_plane);
          continue;
        }
        for (std::int64_t od = 0; od < g.d.out; ++od)
          depthwise_slice<true>(g, x_channel, weight + m * weight_row, bias_m, od, y_plane + od * slice);
      }
    };
    const std::int64_t planes = g.batch * g.out_channels;
    if (call.pool != nullptr) {
      const std::int64_t grain = std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, plane * taps));
      call.pool->parallel_for(0, planes, run_planes, grain);
    } else {
      run_planes(0, planes);
    }
    return Status::success();
  }

  if (p.total() > call.scratch.size()) return scratch_too_small(OpKind::conv, call.scratch.size());
  const std::int64_t rows = g.in_per_group * taps;
  const std::int64_t weight_group_stride = g.out_per_group * weight_row;
  FirstError errors;
  for_each_item(call.pool, p.participants, g.batch * g.groups, [&](std::int64_t item, int participant) {
    const std::int64_t n = item / g.groups;
    const std::int64_t group = item % g.groups;
    const std::span<std::byte> mine =
        call.scratch.subspan(static_cast<std::size_t>(participant) * (p.columns_bytes + p.workspace_bytes),
                             p.columns_bytes + p.workspace_bytes);
    const float* x_group = x + n * g.x_batch_stride + group * g.in_per_group * g.x_channel_stride;
    ThreadPool* inner_pool = p.participants > 1 ? nullptr : call.pool;
    Matrix columns{x_group, g.x_channel_stride, 1};
    if (!p.pointwise) {
      float* buffer = as_floats(mine.first(p.columns_bytes));
      if (inner_pool != nullptr) {
        inner_pool->parallel_for(
            0, rows, [&](std::int64_t begin, std::int64_t end) { im2col_rows(g, x_group, buffer, begin, end); },
            std::max<std::int64_t>(1, 4096 / plane));
      } else {
        im2col_rows(g, x_group, buffer, 0, rows);
      }
      columns = Matrix{buffer, plane, 1};
    }
    float* y_group = y + (n * g.out_channels + group * g.out_per_group) * plane;
    errors.record(participant, multiply(g.out_per_group, plane, rows, 1.0f,
                                        Matrix{weight + group * weight_group_stride, weight_row, 1}, columns, 0.0f,
                                        y_group, plane, mine.subspan(p.columns_bytes), inner_pool));
    add_bias(bias != nullptr ? bias + group * g.out_per_group : nullptr, y_group, g.out_per_group, plane);
  });
  return errors.take();
}

// ---------------------------------------------------------------------------------------
// conv_transpose

// ONNX's rule for the pads of a transposed window whose output extent is fixed (by
// output_shape or auto_pad): the extra pad goes to the end for same_upper, else the begin.
inline Status resolve_transpose_axis(const relax::ConvTransposeAttrs& attrs, bool fixed_output,
                                     std::int64_t output_padding, std::int64_t pad_end, Axis& a) {
  if (a.stride < 1 || a.dilation < 1 || a.kernel < 1)
    return make_error(StatusCode::invalid_argument,
                      "conv_transpose: strides, dilations and kernel extents must be positive");
  const std::int64_t full = a.stride * (a.in - 1) + output_padding + a.dilation * (a.kernel - 1) + 1;
  if (fixed_output) {
    const std::int64_t total = full - a.out;
    a.pad_begin = attrs.auto_pad == relax::AutoPad::same_upper ? total / 2 : total - total / 2;
    return Status::success();
  }
  if (attrs.auto_pad == relax::AutoPad::valid) a.pad_begin = pad_end = 0;
  const std::int64_t expected = full - a.pad_begin - pad_end;
  if (a.out != expected)
    return make_error(StatusCode::shape_mismatch, "conv_transpose: an output extent is ", a.out, ", the window gives ",
                      expected);
  return Status::success();
}

struct TransposePlan {
  WindowGeometry g;  // in/out as the transposed op sees them: x is [n, c, in...], y [n, m, out...]
  int participants = 1;
  std::size_t columns_bytes = 0;
  std::size_t workspace_bytes = 0;
  std::size_t total() const noexcept {
    return static_cast<std::size_t>(participants) * (columns_bytes + workspace_bytes);
  }
};

inline Status plan_conv_transpose(const OpCall& call, TransposePlan& p) {
  const auto& attrs = call.attr<relax::ConvTransposeAttrs>();
  WindowGeometry& g = p.g;
  int spatial = 0;
  KILN_RETURN_IF_ERROR(read_operands(OpKind::conv_transpose, call, g, spatial));
  const Slot& weight = *call.input(1);
  g.groups = attrs.groups;
  if (g.groups < 1 || g.in_channels % g.groups != 0 || weight.dims[0] != g.in_channels ||
      weight.dims[1] * g.groups != g.out_channels)
    return make_error(StatusCode::shape_mismatch, "conv_transpose: channels ", g.in_channels, " -> ", g.out_channels,
                      " do not match the weight and ", g.groups, " groups");
  g.in_per_group = g.in_channels / g.groups;
  g.out_per_group = g.out_channels / g.groups;
  const bool fixed_output = !attrs.output_shape.empty() || attrs.auto_pad == relax::AutoPad::same_upper ||
                            attrs.auto_pad == relax::AutoPad::same_lower;
  KILN_RETURN_IF_ERROR(
      check_window_lists(OpKind::conv_transpose, spatial, attrs.strides, attrs.pads, attrs.dilations));
  KILN_RETURN_IF_ERROR(check_output_padding(spatial, attrs));
  for (int i = 0; i < spatial; ++i) {
    Axis& a = g.spatial_axis(spatial, i);
    std::int64_t pad_end = 0;
    read_window(attrs.strides, attrs.pads, attrs.dilations, spatial, i, a, pad_end);
    const std::int64_t output_padding = attrs.output_padding.empty() ? 0 : attrs.output_padding[i];
    KILN_RETURN_IF_ERROR(resolve_transpose_axis(attrs, fixed_output, output_padding, pad_end, a));
  }
  // The input planes are the GEMM's B operand: they must be packed.
  if (!g.packed_input())
    return make_error(StatusCode::unsupported, "conv_transpose: the input's spatial dimensions must be contiguous");
  KILN_RETURN_IF_ERROR(check_bias(OpKind::conv_transpose, call.input(2), g.out_channels));
  const std::int64_t rows = g.out_per_group * g.taps();
  const double flops = 2.0 * static_cast<double>(rows) * static_cast<double>(g.in_per_group) *
                       static_cast<double>(g.in_plane());
  const int threads = call.threads();
  p.participants = participants_for(g.batch * g.groups, flops, threads);
  p.columns_bytes = float_bytes(rows * g.in_plane());
  p.workspace_bytes = gemm_bytes(rows, g.in_plane(), g.in_per_group, p.participants > 1 ? 1 : threads);
  return Status::success();
}

// Scatters the column matrix (row (m, k, i, j) over input positions) into the output planes
// of one image and group, which start zeroed.
inline void col2im(const WindowGeometry& g, const float* columns, float* y_group) noexcept {
  const std::int64_t in_plane = g.in_plane();
  const std::int64_t out_plane = g.out_plane();
  const std::int64_t in_slice = g.in_slice();
  const std::int64_t out_slice = g.out_slice();
  TapCounter tap(g, 0);
  for (std::int64_t row = 0; row < g.out_per_group * g.taps(); ++row, tap.next(g)) {
    const std::int64_t m = tap.channel, k = tap.k, i = tap.i, j = tap.j;
    // Input position iw lands on output column iw * stride + offset.
    const std::int64_t w_offset = j * g.w.dilation - g.w.pad_begin;
    const Range cols = inside(w_offset, g.w.stride, g.w.out, g.w.in);
    for (std::int64_t id = 0; id < g.d.in; ++id) {
      const std::int64_t od = id * g.d.stride + k * g.d.dilation - g.d.pad_begin;
      if (od < 0 || od >= g.d.out) continue;
      const float* src = columns + row * in_plane + id * in_slice;
      float* dst = y_group + m * out_plane + od * out_slice;
      for (std::int64_t ih = 0; ih < g.h.in; ++ih) {
        const std::int64_t oh = ih * g.h.stride + i * g.h.dilation - g.h.pad_begin;
        if (oh < 0 || oh >= g.h.out) continue;
        const float* src_row = src + ih * g.w.in;
        float* dst_row = dst + oh * g.w.out;
        for (std::int64_t iw = cols.begin; iw < cols.end; ++iw) dst_row[iw * g.w.stride + w_offset] += src_row[iw];
      }
    }
  }
}

inline Status conv_transpose_supports(const relax::Binding& binding, const relax::Function& fn) {
  return window_op_supports<relax::ConvTransposeAttrs>(OpKind::conv_transpose, binding, fn);
}

inline std::size_t conv_transpose_scratch(const OpCall& call) {
  TransposePlan p;
  if (!plan_conv_transpose(call, p).ok()) return 0;
  return p.total();
}

inline Status conv_transpose_run(const OpCall& call) {
  TransposePlan p;
  KILN_RETURN_IF_ERROR(plan_conv_transpose(call, p));
  const WindowGeometry& g = p.g;
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous_output(OpKind::conv_transpose, out));
  if (p.total() > call.scratch.size()) return scratch_too_small(OpKind::conv_transpose, call.scratch.size());
  const float* x = call.input(0)->data_as<float>();
  const float* weight = call.input(1)->data_as<float>();
  const float* bias = call.input(2) != nullptr ? call.input(2)->data_as<float>() : nullptr;
  float* y = out.data_as<float>();
  const std::int64_t out_plane = g.out_plane();
  const std::int64_t rows = g.out_per_group * g.taps();
  const std::int64_t weight_row = call.input(1)->strides[0];
  if (g.batch == 0 || g.out_channels == 0 || out_plane == 0) return Status::success();
  FirstError errors;
  for_each_item(call.pool, p.participants, g.batch * g.groups, [&](std::int64_t item, int participant) {
    const std::int64_t n = item / g.groups;
    const std::int64_t group = item % g.groups;
    const std::span<std::byte> mine =
        call.scratch.subspan(static_cast<std::size_t>(participant) * (p.columns_bytes + p.workspace_bytes),
                             p.columns_bytes + p.workspace_bytes);
    float* columns = as_floats(mine.first(p.columns_bytes));
    const float* x_group = x + n * g.x_batch_stride + group * g.in_per_group * g.x_channel_stride;
    // The group's weight is [c/g, rows] row-major; its transpose is the same memory read
    // with the strides swapped.
    const float* w_group = weight + group * g.in_per_group * weight_row;
    ThreadPool* inner_pool = p.participants > 1 ? nullptr : call.pool;
    Status s = multiply(rows, g.in_plane(), g.in_per_group, 1.0f, Matrix{w_group, 1, weight_row},
                        Matrix{x_group, g.x_channel_stride, 1}, 0.0f, columns, g.in_plane(),
                        mine.subspan(p.columns_bytes), inner_pool);
    float* y_group = y + (n * g.out_channels + group * g.out_per_group) * out_plane;
    std::fill(y_group, y_group + g.out_per_group * out_plane, 0.0f);
    if (s.ok() && g.in_per_group > 0) col2im(g, columns, y_group);
    add_bias(bias != nullptr ? bias + group * g.out_per_group : nullptr, y_group, g.out_per_group, out_plane);
    errors.record(participant, std::move(s));
  });
  return errors.take();
}

// ---------------------------------------------------------------------------------------
// attention

struct AttentionPlan {
  int lead_rank = 0;  // the batch and head axes
  std::int64_t lead_dims[kMaxRank] = {};
  std::int64_t q_lead[kMaxRank] = {};  // strides per leading axis, 0 where broadcast
  std::int64_t k_lead[kMaxRank] = {};
  std::int64_t v_lead[kMaxRank] = {};
  std::int64_t mask_lead[kMaxRank] = {};
  std::int64_t mask_row = 0;  // mask strides along s and t (0 where broadcast)
  std::int64_t mask_col = 0;
  std::int64_t items = 1;
  std::int64_t s = 0, t = 0, d = 0, dv = 0;
  float scale = 1.0f;
  std::int64_t row_block = 1;    // query rows per work unit
  std::int64_t blocks_per_item = 1;
  int participants = 1;
  std::size_t scores_bytes = 0;  // per participant
  std::size_t workspace_bytes = 0;
  std::size_t total() const noexcept {
    return static_cast<std::size_t>(participants) * (scores_bytes + workspace_bytes);
  }
};

inline Status plan_attention(const OpCall& call, AttentionPlan& p) {
  const Slot& q = *call.input(0);
  const Slot& k = *call.input(1);
  const Slot& v = *call.input(2);
  const Slot* mask = call.input(3);
  const Slot& out = call.output();
  const int r = q.rank;
  if (r < 2 || k.rank != r || v.rank != r || out.rank != r)
    return make_error(StatusCode::shape_mismatch, "attention: q, k, v and the output must share one rank of 2 or more");
  p.s = q.dims[r - 2];
  p.d = q.dims[r - 1];
  p.t = k.dims[r - 2];
  p.dv = v.dims[r - 1];
  if (k.dims[r - 1] != p.d || v.dims[r - 2] != p.t || out.dims[r - 2] != p.s || out.dims[r - 1] != p.dv)
    return make_error(StatusCode::shape_mismatch, "attention: the extents of q, k, v and the output disagree");
  p.lead_rank = r - 2;
  p.items = 1;
  for (int i = 0; i < p.lead_rank; ++i) {
    const std::int64_t d = out.dims[i];
    for (const Slot* operand : {&q, &k, &v})
      if (operand->dims[i] != d && operand->dims[i] != 1)
        return make_error(StatusCode::shape_mismatch, "attention: leading dimension ", i, " of an operand is ",
                          operand->dims[i], ", the output's ", d);
    p.lead_dims[i] = d;
    p.q_lead[i] = q.dims[i] == 1 ? 0 : q.strides[i];
    p.k_lead[i] = k.dims[i] == 1 ? 0 : k.strides[i];
    p.v_lead[i] = v.dims[i] == 1 ? 0 : v.strides[i];
    p.items *= d;
  }
  if (mask != nullptr) {
    // The mask aligns at the right with the scores [lead..., s, t].
    if (mask->rank > r) return make_error(StatusCode::shape_mismatch, "attention: the mask has rank above the scores'");
    const auto mask_stride = [&](int score_axis, std::int64_t extent) -> std::int64_t {
      const int axis = score_axis - (r - mask->rank);
      if (axis < 0 || mask->dims[axis] == 1) return 0;
      if (mask->dims[axis] != extent) return -1;
      return mask->strides[axis];
    };
    for (int i = 0; i < p.lead_rank; ++i) {
      p.mask_lead[i] = mask_stride(i, p.lead_dims[i]);
      if (p.mask_lead[i] < 0) return make_error(StatusCode::shape_mismatch, "attention: the mask does not broadcast");
    }
    p.mask_row = mask_stride(r - 2, p.s);
    p.mask_col = mask_stride(r - 1, p.t);
    if (p.mask_row < 0 || p.mask_col < 0)
      return make_error(StatusCode::shape_mismatch, "attention: the mask does not broadcast to the scores");
  }
  const double scale = call.attr<relax::AttentionAttrs>().scale;
  p.scale = scale != 0.0 ? static_cast<float>(scale)
                         : (p.d > 0 ? 1.0f / std::sqrt(static_cast<float>(p.d)) : 1.0f);
  // Query rows are independent: when there are fewer (batch, head) items than threads, each
  // item's rows are cut into blocks so that every thread gets work.
  const int threads = call.threads();
  p.blocks_per_item = 1;
  if (threads > 1 && p.items < threads && p.s > 1)
    p.blocks_per_item = std::min<std::int64_t>(p.s, ceil_div(threads, std::max<std::int64_t>(p.items, 1)));
  p.row_block = std::max<std::int64_t>(1, ceil_div(p.s, p.blocks_per_item));
  p.blocks_per_item = std::max<std::int64_t>(1, ceil_div(p.s, p.row_block));
  const std::int64_t units = p.items * p.blocks_per_item;
  p.participants =
      static_cast<int>(std::clamp<std::int64_t>(std::min<std::int64_t>(units, threads), 1, kMaxParticipants));
  p.scores_bytes = float_bytes(p.row_block * p.t);
  p.workspace_bytes = std::max(gemm_bytes(p.row_block, p.t, p.d, 1), gemm_bytes(p.row_block, p.dv, p.t, 1));
  return Status::success();
}

// Softmax of one row of scores in place, over the keys the row may see (the others become
// 0). A row that sees no key at all comes out all 0 rather than NaN.
inline void softmax_row(float* row, std::int64_t visible) noexcept {
  float top = -std::numeric_limits<float>::infinity();
  for (std::int64_t j = 0; j < visible; ++j) top = std::max(top, row[j]);
  if (top == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + visible, 0.0f);
    return;
  }
  float sum = 0.0f;
  for (std::int64_t j = 0; j < visible; ++j) {
    row[j] = std::exp(row[j] - top);
    sum += row[j];
  }
  const float inverse = 1.0f / sum;
  for (std::int64_t j = 0; j < visible; ++j) row[j] *= inverse;
}

inline Status attention_supports(const relax::Binding& binding, const relax::Function& fn) {
  KILN_RETURN_IF_ERROR(require_inputs(OpKind::attention, binding, 3));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::attention, "the query", input_type(binding, fn, 0)));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::attention, "the key", input_type(binding, fn, 1)));
  KILN_RETURN_IF_ERROR(require_f32(OpKind::attention, "the value", input_type(binding, fn, 2)));
  const relax::TensorType* mask = input_type(binding, fn, 3);
  if (mask != nullptr && mask->dtype != DType::f32 && mask->dtype != DType::boolean)
    return make_error(StatusCode::unsupported, "attention: the mask must be f32 or bool, got ", to_string(mask->dtype));
  if (input_type(binding, fn, 0)->rank < 2)
    return make_error(StatusCode::unsupported, "attention: the query must have rank 2 or more");
  return Status::success();
}

inline std::size_t attention_scratch(const OpCall& call) {
  AttentionPlan p;
  if (!plan_attention(call, p).ok()) return 0;
  return p.total();
}

inline Status attention_run(const OpCall& call) {
  AttentionPlan p;
  KILN_RETURN_IF_ERROR(plan_attention(call, p));
  const Slot& out = call.output();
  KILN_RETURN_IF_ERROR(require_contiguous_output(OpKind::attention, out));
  if (p.total() > call.scratch.size()) return scratch_too_small(OpKind::attention, call.scratch.size());
  const Slot& q = *call.input(0);
  const Slot& k = *call.input(1);
  const Slot& v = *call.input(2);
  const Slot* mask = call.input(3);
  const bool causal = call.attr<relax::AttentionAttrs>().causal;
  const int r = q.rank;
  float* y = out.data_as<float>();
  if (p.items == 0 || p.s == 0 || p.dv == 0) return Status::success();

  FirstError errors;
  for_each_item(call.pool, p.participants, p.items * p.blocks_per_item, [&](std::int64_t unit, int participant) {
    const std::int64_t item = unit / p.blocks_per_item;
    const std::int64_t row0 = (unit % p.blocks_per_item) * p.row_block;
    const std::int64_t rows = std::min(p.row_block, p.s - row0);
    if (rows <= 0) return;
    std::int64_t rest = item;
    std::int64_t q_off = 0, k_off = 0, v_off = 0, mask_off = 0;
    for (int i = p.lead_rank; i-- > 0;) {
      const std::int64_t index = rest % p.lead_dims[i];
      rest /= p.lead_dims[i];
      q_off += index * p.q_lead[i];
      k_off += index * p.k_lead[i];
      v_off += index * p.v_lead[i];
      mask_off += index * p.mask_lead[i];
    }
    const std::span<std::byte> mine =
        call.scratch.subspan(static_cast<std::size_t>(participant) * (p.scores_bytes + p.workspace_bytes),
                             p.scores_bytes + p.workspace_bytes);
    float* scores = as_floats(mine.first(p.scores_bytes));
    const std::span<std::byte> workspace = mine.subspan(p.scores_bytes);
    float* y_rows = y + (item * p.s + row0) * p.dv;
    if (p.t == 0) {  // no keys: every row attends to nothing
      std::fill(y_rows, y_rows + rows * p.dv, 0.0f);
      return;
    }
    // S = scale * q k^T: k^T is k read with its strides swapped.
    const float* q_rows = q.data_as<float>() + q_off + row0 * q.strides[r - 2];
    Status s = multiply(rows, p.t, p.d, p.scale, Matrix{q_rows, q.strides[r - 2], q.strides[r - 1]},
                        Matrix{k.data_as<float>() + k_off, k.strides[r - 1], k.strides[r - 2]}, 0.0f, scores, p.t,
                        workspace, nullptr);
    if (!s.ok()) {
      errors.record(participant, std::move(s));
      return;
    }
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < rows; ++i) {
      float* row = scores + i * p.t;
      const std::int64_t query = row0 + i;
      if (mask != nullptr) {
        const std::int64_t base = mask_off + query * p.mask_row;
        if (mask->dtype == DType::boolean) {
          const bool* m = mask->data_as<bool>() + base;
          for (std::int64_t j = 0; j < p.t; ++j)
            if (!m[j * p.mask_col]) row[j] = kNegInf;
        } else {
          const float* m = mask->data_as<float>() + base;
          for (std::int64_t j = 0; j < p.t; ++j) row[j] += m[j * p.mask_col];
        }
      }
      // Causal: query i sees keys 0..i (the mask's upper-left alignment, as ONNX states it).
      const std::int64_t visible = causal ? std::min(p.t, query + 1) : p.t;
      softmax_row(row, visible);
      std::fill(row + visible, row + p.t, 0.0f);
    }
    // O = P v.
    errors.record(participant, multiply(rows, p.dv, p.t, 1.0f, Matrix{scores, p.t, 1},
                                        Matrix{v.data_as<float>() + v_off, v.strides[r - 2], v.strides[r - 1]}, 0.0f,
                                        y_rows, p.dv, workspace, nullptr));
  });
  return errors.take();
}

inline constexpr OpKernel kMatmul{&matmul_supports, &matmul_scratch, &matmul_run};
inline constexpr OpKernel kGemm{&gemm_supports, &gemm_scratch, &gemm_run};
inline constexpr OpKernel kConv{&conv_supports, &conv_scratch, &conv_run};
inline constexpr OpKernel kConvTranspose{&conv_transpose_supports, &conv_transpose_scratch, &conv_transpose_run};
inline constexpr OpKernel kAttention{&attention_supports, &attention_scratch, &attention_run};

} // namespace linear_detail

// The CPU kernel of a linear-algebra op (matmul, gemm, conv, conv_transpose, attention), or
// null for an op of another family.
inline const OpKernel* cpu_linear_kernel(relax::OpKind op) {
  switch (op) {
    case relax::OpKind::matmul: return &linear_detail::kMatmul;
    case relax::OpKind::gemm: return &linear_detail::kGemm;
    case relax::OpKind::conv: return &linear_detail::kConv;
    case relax::OpKind::conv_transpose: return &linear_detail::kConvTranspose;
    case relax::OpKind::attention: return &linear_detail::kAttention;
    default: return nullptr;
  }
}

} // namespace kiln::vm
