// kiln/backend/cpu/gemm.hpp: packed, cache-blocked f32 GEMM (C = alpha*A*B + beta*C) on the
// fma_block micro-kernel, single-threaded or over a kiln::ThreadPool.
//
// The loop nest follows Goto and van de Geijn's layering (as in BLIS):
//   jc over n by nc:     a kc x nc block of B, packed into NR-wide panels, stays in L2/L3
//     pc over k by kc:   (the packed B block is rebuilt per kc slice)
//       ic over m by mc: an mc x kc block of A, packed into MR-tall panels, stays in L2
//         jr over nc by NR, ir over mc by MR: fma_block on one panel pair, in registers.
// Packing makes every micro-kernel read sequential and aligned, zero-pads the edges (so
// edge blocks run the same kernel), and folds alpha into A for free.
//
// Threads: the output is cut into one rectangle of whole register blocks per thread, and
// each thread runs the serial nest on its rectangle with its own packing buffers. Nothing
// is shared and nothing synchronizes but the final join; the price is that the operand
// two rectangles share is packed twice, a few percent where threads pay off.
//
// No allocation per call: the packing buffers come from a caller's workspace
// (gemm_workspace_bytes tells how much), an Arena, or a GemmPlan that keeps one around.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../config.hpp"
#include "../../core/result.hpp"
#include "../../core/status.hpp"
#include "../../runtime/aligned_alloc.hpp"
#include "../../runtime/arena.hpp"
#include "../../runtime/tensor_view.hpp"
#include "../../runtime/thread_pool.hpp"
#include "arch.hpp"
#include "intrin/fma_block.hpp"

namespace kiln::cpu {

// Cache blocking of the GEMM loop nest for one architecture. mr x nr is the micro-kernel's
// register block; mc x kc floats of packed A should sit in L2, kc x nr of packed B is
// what one micro-kernel call streams, kc x nc of packed B stays in L2/L3.
struct GemmBlocking {
  int mr;
  int nr;
  std::int64_t mc;  // multiple of mr
  std::int64_t kc;
  std::int64_t nc;  // multiple of nr
};

template <CpuArch Arch>
struct gemm_blocking {
  using kernel = intrin::default_fma_block<Arch>;
  static constexpr GemmBlocking value = [] {
    GemmBlocking b{kernel::mr, kernel::nr, 0, 0, 0};
    if constexpr (std::is_same_v<Arch, avx512>) {
      // Measured on Zen 5 (48 KiB L1D, 1 MiB L2 per core) at n = 256..2048 against mc
      // 48..288, kc 128..768, nc 1024..4096 (differences of a few percent, within noise
      // for most): 288 KiB of packed A in L2, a 128 KiB B panel streamed from L2 by each
      // block, C read and written once per 512 steps of k.
      b.mc = 144;
      b.kc = 512;
      b.nc = 2048;
    } else if constexpr (std::is_same_v<Arch, avx2>) {
      // Measured through the AVX2 path on the same Zen 5 (about 92% of its AVX2 peak;
      // mc 48..144, kc 256..512 within noise of each other); not tuned on an AVX2-only core.
      b.mc = 144;
      b.kc = 512;
      b.nc = 2048;
    } else {
      b.mc = 64;
      b.kc = 128;
      b.nc = 256;
    }
    return b;
  }();
  static_assert(value.mc % value.mr == 0 && value.nc % value.nr == 0, "gemm_blocking: mc, nc must be whole blocks");
};

template <CpuArch Arch>
inline constexpr GemmBlocking gemm_blocking_v = gemm_blocking<Arch>::value;

namespace gemm_detail {

inline constexpr std::size_t kAlign = 64;

constexpr std::int64_t round_up(std::int64_t x, std::int64_t to) noexcept { return (x + to - 1) / to * to; }
constexpr std::size_t align_bytes(std::size_t bytes) noexcept { return (bytes + kAlign - 1) / kAlign * kAlign; }

// A read-only matrix with arbitrary strides (so transposed operands are just strides).
struct ConstMatrix {
  const float* data;
  std::int64_t row_stride;
  std::int64_t col_stride;
  const float* at(std::int64_t i, std::int64_t j) const noexcept { return data + i * row_stride + j * col_stride; }
};

// How the output is cut into tiles: a grid of tiles_m x tiles_n rectangles of at most
// tile_m x tile_n (whole register blocks, except at the far edges).
struct Partition {
  std::int64_t tiles_m = 1;
  std::int64_t tiles_n = 1;
  std::int64_t tile_m = 0;
  std::int64_t tile_n = 0;
  std::int64_t count() const noexcept { return tiles_m * tiles_n; }
};

// The grid of `threads` tiles or fewer (fewer only when there are not that many register
// blocks) whose largest tile is cheapest: its block work plus packing both its operands.
// One tile per thread measured faster than several claimed dynamically, even for small
// products: tiles that stay on one core keep their operands in its L2.
template <CpuArch Arch>
Partition partition(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t threads) noexcept {
  constexpr GemmBlocking bl = gemm_blocking_v<Arch>;
  const std::int64_t panels_m = (m + bl.mr - 1) / bl.mr;
  const std::int64_t panels_n = (n + bl.nr - 1) / bl.nr;
  const std::int64_t want = std::min(threads, panels_m * panels_n);
  Partition best{1, 1, m, n};
  double best_cost = -1.0;
  for (std::int64_t tm = 1; tm <= threads && tm <= panels_m; ++tm) {
    for (std::int64_t tn = 1; tm * tn <= threads && tn <= panels_n; ++tn) {
      const std::int64_t pm = (panels_m + tm - 1) / tm;
      const std::int64_t pn = (panels_n + tn - 1) / tn;
      const Partition p{(panels_m + pm - 1) / pm, (panels_n + pn - 1) / pn, pm * bl.mr, pn * bl.nr};
      if (p.count() < want) continue;
      const double rows = static_cast<double>(p.tile_m);
      const double cols = static_cast<double>(p.tile_n);
      // Packing a float costs about as much as 8 of the kernel's multiply-adds.
      const double cost = (rows * cols + 8.0 * (rows + cols)) * static_cast<double>(k);
      if (best_cost < 0 || cost < best_cost * 0.999) {
        best_cost = cost;
        best = p;
      }
    }
  }
  best.tile_m = std::min(best.tile_m, m);
  best.tile_n = std::min(best.tile_n, n);
  return best;
}

// Below this many flops per thread a second thread costs more to wake than it saves.
inline constexpr double kMinFlopsPerThread = 2.0 * 64.0 * 64.0 * 64.0;

// Tiles and the number of threads (participants, each with its own packing buffers).
struct Schedule {
  Partition part;
  std::int64_t participants = 1;
};

template <CpuArch Arch>
Schedule schedule(std::int64_t m, std::int64_t n, std::int64_t k, int threads) noexcept {
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  std::int64_t t = threads < 1 ? 1 : threads;
  while (t > 1 && flops / static_cast<double>(t) < kMinFlopsPerThread) --t;
  if (t == 1) return Schedule{Partition{1, 1, m, n}, 1};
  Schedule s{partition<Arch>(m, n, k, t), t};
  s.participants = std::min(t, s.part.count());
  return s;
}

// Packing buffers of one participant for tiles of tile_m x tile_n (x k).
template <CpuArch Arch>
constexpr std::size_t a_buffer_floats(std::int64_t tile_m, std::int64_t k) noexcept {
  constexpr GemmBlocking bl = gemm_blocking_v<Arch>;
  return static_cast<std::size_t>(round_up(std::min(bl.mc, tile_m), bl.mr) * std::min(bl.kc, k));
}
template <CpuArch Arch>
constexpr std::size_t b_buffer_floats(std::int64_t tile_n, std::int64_t k) noexcept {
  constexpr GemmBlocking bl = gemm_blocking_v<Arch>;
  return static_cast<std::size_t>(round_up(std::min(bl.nc, tile_n), bl.nr) * std::min(bl.kc, k));
}
template <CpuArch Arch>
constexpr std::size_t participant_bytes(const Partition& p, std::int64_t k) noexcept {
  return align_bytes(a_buffer_floats<Arch>(p.tile_m, k) * sizeof(float)) +
         align_bytes(b_buffer_floats<Arch>(p.tile_n, k) * sizeof(float));
}
// Plus slack so that a workspace of any alignment can be aligned to 64 bytes.
template <CpuArch Arch>
constexpr std::size_t total_bytes(const Schedule& s, std::int64_t k) noexcept {
  if (k <= 0) return 0;
  return static_cast<std::size_t>(s.participants) * participant_bytes<Arch>(s.part, k) + kAlign;
}

} // namespace gemm_detail

// Packs rows [0, mc) x columns [0, kc) of `a` (scaled by alpha) into MR-row panels: panel r
// holds MR rows of kc floats each, rows beyond mc are zero.
template <int MR>
void pack_a(std::int64_t mc, std::int64_t kc, const float* a, std::int64_t row_stride, std::int64_t col_stride,
            float alpha, float* packed) noexcept {
  const auto row_bytes = static_cast<std::size_t>(kc) * sizeof(float);
  for (std::int64_t i0 = 0; i0 < mc; i0 += MR) {
    const std::int64_t rows = std::min<std::int64_t>(MR, mc - i0);
    const float* src = a + i0 * row_stride;
    for (std::int64_t i = 0; i < rows; ++i) {
      float* dst = packed + i * kc;
      const float* row = src + i * row_stride;
      if (col_stride == 1 && alpha == 1.0f) {
        std::memcpy(dst, row, row_bytes);
      } else if (col_stride == 1) {
        for (std::int64_t p = 0; p < kc; ++p) dst[p] = alpha * row[p];
      } else {
        for (std::int64_t p = 0; p < kc; ++p) dst[p] = alpha * row[p * col_stride];
      }
    }
    if (rows < MR) std::memset(packed + rows * kc, 0, static_cast<std::size_t>(MR - rows) * row_bytes);
    packed += MR * kc;
  }
}

// Packs rows [0, kc) x columns [0, nc) of `b` into NR-wide panels: panel c holds kc groups
// of NR floats, columns beyond nc are zero.
template <int NR>
void pack_b(std::int64_t kc, std::int64_t nc, const float* b, std::int64_t row_stride, std::int64_t col_stride,
            float* packed) noexcept {
  for (std::int64_t j0 = 0; j0 < nc; j0 += NR) {
    const std::int64_t cols = std::min<std::int64_t>(NR, nc - j0);
    const float* src = b + j0 * col_stride;
    if (cols == NR && col_stride == 1) {
      for (std::int64_t p = 0; p < kc; ++p) std::memcpy(packed + p * NR, src + p * row_stride, NR * sizeof(float));
    } else {
      for (std::int64_t p = 0; p < kc; ++p) {
        for (std::int64_t j = 0; j < cols; ++j) packed[p * NR + j] = src[p * row_stride + j * col_stride];
        for (std::int64_t j = cols; j < NR; ++j) packed[p * NR + j] = 0.0f;
      }
    }
    packed += NR * kc;
  }
}

namespace gemm_detail {

// C[0..m) x [0..n) *= beta, for a beta other than 0 and 1.
inline void scale_c(std::int64_t m, std::int64_t n, float beta, float* c, std::int64_t ldc) noexcept {
  for (std::int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (std::int64_t j = 0; j < n; ++j) row[j] *= beta;
  }
}

// The serial loop nest on one rectangle of C (unit column stride), with its own buffers.
template <CpuArch Arch>
void gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, ConstMatrix a, ConstMatrix b,
                 float beta, float* c, std::int64_t ldc, float* a_buf, float* b_buf) noexcept {
  using kernel = intrin::default_fma_block<Arch>;
  constexpr GemmBlocking bl = gemm_blocking_v<Arch>;
  constexpr int MR = kernel::mr;
  constexpr int NR = kernel::nr;

  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    if (beta == 0.0f) {
      for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    } else if (beta != 1.0f) {
      scale_c(m, n, beta, c, ldc);
    }
    return;
  }
  // A general beta scales C once up front; afterwards every k slice accumulates.
  if (beta != 0.0f && beta != 1.0f) scale_c(m, n, beta, c, ldc);
  const bool overwrite_first = beta == 0.0f;

  for (std::int64_t jc = 0; jc < n; jc += bl.nc) {
    const std::int64_t nc = std::min(bl.nc, n - jc);
    for (std::int64_t pc = 0; pc < k; pc += bl.kc) {
      const std::int64_t kc = std::min(bl.kc, k - pc);
      const bool accumulate = !(overwrite_first && pc == 0);
      pack_b<NR>(kc, nc, b.at(pc, jc), b.row_stride, b.col_stride, b_buf);
      for (std::int64_t ic = 0; ic < m; ic += bl.mc) {
        const std::int64_t mc = std::min(bl.mc, m - ic);
        pack_a<MR>(mc, kc, a.at(ic, pc), a.row_stride, a.col_stride, alpha, a_buf);
        for (std::int64_t jr = 0; jr < nc; jr += NR) {
          const std::int64_t nr = std::min<std::int64_t>(NR, nc - jr);
          const float* pb = b_buf + jr * kc;
          for (std::int64_t ir = 0; ir < mc; ir += MR) {
            const std::int64_t mr = std::min<std::int64_t>(MR, mc - ir);
            const float* pa = a_buf + ir * kc;
            float* cb = c + (ic + ir) * ldc + jc + jr;
            if (KILN_LIKELY(mr == MR && nr == NR)) {
              kernel::run(kc, pa, pb, cb, ldc, accumulate);
            } else {
              kernel::run_edge(kc, pa, pb, cb, ldc, mr, nr, accumulate);
            }
          }
        }
      }
    }
  }
}

template <CpuArch Arch>
Status gemm_strided(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, ConstMatrix a, ConstMatrix b,
                    float beta, float* c, std::int64_t ldc, void* workspace, std::size_t workspace_bytes,
                    ThreadPool* pool) {
  if (m < 0 || n < 0 || k < 0) {
    return make_error(StatusCode::invalid_argument, "gemm: negative extent in m=", m, ", n=", n, ", k=", k);
  }
  if (m == 0 || n == 0) return Status::success();

  // As many threads as the pool offers and the workspace has room for.
  int threads = pool != nullptr ? pool->size() : 1;
  Schedule sched = schedule<Arch>(m, n, k, threads);
  while (sched.participants > 1 && total_bytes<Arch>(sched, k) > workspace_bytes) {
    threads = static_cast<int>(sched.participants) - 1;
    sched = schedule<Arch>(m, n, k, threads);
  }
  const std::size_t need = total_bytes<Arch>(sched, k);
  if (need > 0 && (workspace == nullptr || workspace_bytes < need)) {
    return make_error(StatusCode::out_of_memory, "gemm: workspace of ", workspace_bytes, " bytes is too small for m=",
                      m, ", n=", n, ", k=", k, " (needs ", need, "; see gemm_workspace_bytes)");
  }

  const Partition part = sched.part;
  const std::size_t per_participant = participant_bytes<Arch>(part, k);
  const std::size_t a_bytes = align_bytes(a_buffer_floats<Arch>(part.tile_m, k) * sizeof(float));
  auto* base = static_cast<std::byte*>(workspace);
  if (base != nullptr) {
    const auto misalign = reinterpret_cast<std::uintptr_t>(base) % kAlign;
    if (misalign != 0) base += kAlign - misalign;
  }

  // Tile t of the grid, on the packing buffers of participant `slot`.
  auto run_tile = [&](std::int64_t t, std::int64_t slot) {
    const std::int64_t i0 = (t / part.tiles_n) * part.tile_m;
    const std::int64_t j0 = (t % part.tiles_n) * part.tile_n;
    const std::int64_t tm = std::min(part.tile_m, m - i0);
    const std::int64_t tn = std::min(part.tile_n, n - j0);
    if (tm <= 0 || tn <= 0) return;
    std::byte* mine = base == nullptr ? nullptr : base + static_cast<std::size_t>(slot) * per_participant;
    auto* a_buf = reinterpret_cast<float*>(mine);
    auto* b_buf = reinterpret_cast<float*>(mine == nullptr ? nullptr : mine + a_bytes);
    gemm_serial<Arch>(tm, tn, k, alpha, ConstMatrix{a.at(i0, 0), a.row_stride, a.col_stride},
                      ConstMatrix{b.at(0, j0), b.row_stride, b.col_stride}, beta, c + i0 * ldc + j0, ldc, a_buf, b_buf);
  };

  if (sched.participants == 1 || pool == nullptr) {
    for (std::int64_t t = 0; t < part.count(); ++t) run_tile(t, 0);
    return Status::success();
  }
  // One chunk per participant, each one tile with its own buffers. (The pool runs a chunk
  // whose worker is slow to wake on the caller, so a late worker delays nothing.)
  pool->parallel_for(0, sched.participants, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t slot = begin; slot < end; ++slot) {
      for (std::int64_t t = slot; t < part.count(); t += sched.participants) run_tile(t, slot);
    }
  });
  return Status::success();
}

} // namespace gemm_detail

// Bytes of workspace gemm() needs for an m x n x k product on up to `threads` threads
// (any alignment; it aligns internally). A workspace sized for T threads also serves any
// smaller pool, and a larger pool with fewer threads than it has.
template <CpuArch Arch = native_arch>
std::size_t gemm_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k, int threads = 1) noexcept {
  if (m <= 0 || n <= 0 || k <= 0) return 0;
  return gemm_detail::total_bytes<Arch>(gemm_detail::schedule<Arch>(m, n, k, threads), k);
}

// C = alpha * A * B + beta * C for row-major A (m x k, leading dimension lda), B (k x n,
// ldb) and C (m x n, ldc). beta == 0 overwrites C without reading it. Runs on `pool` when
// given (as many of its threads as the workspace was sized for), else on the caller.
template <CpuArch Arch = native_arch>
Status gemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
            const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, void* workspace,
            std::size_t workspace_bytes, ThreadPool* pool = nullptr) {
  if (lda < std::max<std::int64_t>(k, 1) || ldb < std::max<std::int64_t>(n, 1) || ldc < std::max<std::int64_t>(n, 1)) {
    return make_error(StatusCode::invalid_argument, "gemm: leading dimensions lda=", lda, ", ldb=", ldb,
                      ", ldc=", ldc, " are smaller than the rows they hold (k=", k, ", n=", n, ")");
  }
  return gemm_detail::gemm_strided<Arch>(m, n, k, alpha, {a, lda, 1}, {b, ldb, 1}, beta, c, ldc, workspace,
                                         workspace_bytes, pool);
}

// The same with the workspace taken from (and returned to) an arena.
template <CpuArch Arch = native_arch>
Status gemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
            const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, Arena& arena,
            ThreadPool* pool = nullptr) {
  const int threads = pool != nullptr ? pool->size() : 1;
  const std::size_t bytes = gemm_workspace_bytes<Arch>(m, n, k, threads);
  const Arena::Marker mark = arena.mark();
  void* ws = bytes == 0 ? nullptr : arena.allocate(bytes, gemm_detail::kAlign);
  if (bytes != 0 && ws == nullptr) {
    return make_error(StatusCode::out_of_memory, "gemm: arena has ", arena.remaining(), " bytes left, needs ", bytes);
  }
  Status s = gemm<Arch>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ws, bytes, pool);
  arena.rewind(mark);
  return s;
}

namespace gemm_detail {

template <class V>
concept FloatMatrixView = requires {
  typename std::remove_cvref_t<V>::value_type;
  requires std::is_same_v<typename std::remove_cvref_t<V>::value_type, float>;
  requires std::remove_cvref_t<V>::rank == 2;
};

template <class V>
concept MutableFloatMatrixView =
    FloatMatrixView<V> && std::is_same_v<typename std::remove_cvref_t<V>::element_type, float>;

template <class E1, class E2>
constexpr void static_check_equal() {
  if constexpr (is_static_v<E1> && is_static_v<E2>) {
    static_assert(E1::value == E2::value, "gemm: static extents of A, B and C do not agree");
  }
}

// Shapes as the views have them: A is m x k, B is k x n, C is m x n; a message naming all
// extents when they do not agree.
template <class VA, class VB, class VC>
Status check_shapes(const VA& a, const VB& b, const VC& c) {
  static_check_equal<decltype(a.template extent<1>()), decltype(b.template extent<0>())>();
  static_check_equal<decltype(a.template extent<0>()), decltype(c.template extent<0>())>();
  static_check_equal<decltype(b.template extent<1>()), decltype(c.template extent<1>())>();
  const std::int64_t am = a.template extent<0>(), ak = a.template extent<1>();
  const std::int64_t bk = b.template extent<0>(), bn = b.template extent<1>();
  const std::int64_t cm = c.template extent<0>(), cn = c.template extent<1>();
  if (ak != bk || am != cm || bn != cn) {
    return make_error(StatusCode::shape_mismatch, "gemm: A is ", am, " x ", ak, ", B is ", bk, " x ", bn,
                      ", C is ", cm, " x ", cn, "; expected A m x k, B k x n, C m x n");
  }
  if (static_cast<std::int64_t>(c.template stride<1>()) != 1 && cn > 1) {
    return make_error(StatusCode::unsupported, "gemm: C must have unit column stride, not ",
                      static_cast<std::int64_t>(c.template stride<1>()));
  }
  return Status::success();
}

template <class V>
ConstMatrix as_const_matrix(const V& v) noexcept {
  return ConstMatrix{v.data(), static_cast<std::int64_t>(v.template stride<0>()),
                     static_cast<std::int64_t>(v.template stride<1>())};
}

} // namespace gemm_detail

// On 2-D views (static or dynamic extents, any strides for A and B, unit column stride
// for C): C = alpha * A * B + beta * C.
template <CpuArch Arch = native_arch, gemm_detail::FloatMatrixView VA, gemm_detail::FloatMatrixView VB,
          gemm_detail::MutableFloatMatrixView VC>
Status gemm(const VA& a, const VB& b, const VC& c, void* workspace, std::size_t workspace_bytes,
            ThreadPool* pool = nullptr, float alpha = 1.0f, float beta = 0.0f) {
  KILN_RETURN_IF_ERROR(gemm_detail::check_shapes(a, b, c));
  return gemm_detail::gemm_strided<Arch>(a.template extent<0>(), b.template extent<1>(), a.template extent<1>(), alpha,
                                         gemm_detail::as_const_matrix(a), gemm_detail::as_const_matrix(b), beta,
                                         c.data(), static_cast<std::int64_t>(c.template stride<0>()), workspace,
                                         workspace_bytes, pool);
}

// Owns a GEMM workspace and reuses it: it grows only when a call needs more than any
// call before it (reserve() up front to keep even the first call allocation-free). One
// plan serves one caller at a time; concurrent callers need a plan each.
template <CpuArch Arch = native_arch>
class GemmPlan {
 public:
  GemmPlan() noexcept = default;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;
  GemmPlan(GemmPlan&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  GemmPlan& operator=(GemmPlan&& other) noexcept {
    if (this != &other) {
      aligned_free(data_);
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~GemmPlan() { aligned_free(data_); }

  // A plan with room for products up to m x n x k on `threads` threads.
  static Result<GemmPlan> create(std::int64_t m, std::int64_t n, std::int64_t k, int threads = 1) {
    GemmPlan plan;
    KILN_RETURN_IF_ERROR(plan.reserve(m, n, k, threads));
    return plan;
  }

  Status reserve(std::int64_t m, std::int64_t n, std::int64_t k, int threads = 1) {
    return reserve_bytes(gemm_workspace_bytes<Arch>(m, n, k, threads));
  }

  std::size_t capacity() const noexcept { return bytes_; }

  Status run(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
             const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, ThreadPool* pool = nullptr) {
    KILN_RETURN_IF_ERROR(reserve(m, n, k, pool != nullptr ? pool->size() : 1));
    return gemm<Arch>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, data_, bytes_, pool);
  }

  template <gemm_detail::FloatMatrixView VA, gemm_detail::FloatMatrixView VB, gemm_detail::MutableFloatMatrixView VC>
  Status run(const VA& a, const VB& b, const VC& c, ThreadPool* pool = nullptr, float alpha = 1.0f,
             float beta = 0.0f) {
    KILN_RETURN_IF_ERROR(gemm_detail::check_shapes(a, b, c));
    KILN_RETURN_IF_ERROR(reserve(a.template extent<0>(), b.template extent<1>(), a.template extent<1>(),
                                 pool != nullptr ? pool->size() : 1));
    return gemm<Arch>(a, b, c, data_, bytes_, pool, alpha, beta);
  }

 private:
  Status reserve_bytes(std::size_t bytes) {
    if (bytes <= bytes_) return Status::success();
    void* fresh = aligned_alloc_bytes(bytes, gemm_detail::kAlign);
    if (fresh == nullptr) {
      return make_error(StatusCode::out_of_memory, "GemmPlan: cannot allocate a workspace of ", bytes, " bytes");
    }
    aligned_free(data_);
    data_ = fresh;
    bytes_ = bytes;
    return Status::success();
  }

  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

} // namespace kiln::cpu
