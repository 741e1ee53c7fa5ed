// AVX2 + FMA f32 GEMM (gemm_f32.h), compiled with those flags for this file only.
//
// Each output keeps one 8-lane accumulator that steps K by 8 and is reduced once by hsum8:
// exactly vec_dot_f32_f32_avx2's order, so a tile of RW weight rows x RA activation rows just
// runs RW*RA such chains side by side. The 3 x 4 prefill tile fills the 16 ymm registers (12
// accumulators, 3 weight vectors, 1 activation vector) and needs 7 loads per 12 FMAs; weight
// rows are taken in blocks that stay in L2 while every group of 4 activation rows, packed into
// one stream (8 elements of each row in turn, so one sequential read instead of 4 rows that may
// alias in L1), passes over them; K beyond 4096 goes in chunks (the 8-lane accumulators wait in
// memory between chunks: the same additions in the same order). Decode (M < 4) runs 4 weight rows x M,
// so that 4..12 independent chains hide the FMA latency while the weights stream.
#if defined(__x86_64__)
#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/gemm/gemm_f32.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

// acc: this tile's RA x RW partial accumulators between K chunks (chunk 0 starts from zero, the
// last chunk reduces into y instead of storing them back), so a chunked K adds in exactly the
// order of one pass.
// Activation row i's elements l..l+7 at a + i * as + l * ak / 8 (ak = 8: plain rows; packed
// groups of 4 rows interleaved by 8 have as = 8, ak = 32).
template <int RW, int RA>
void tile(int64_t k, const float* w, int64_t ws, const float* a, int64_t as, int64_t ak, float* y, int64_t ys,
          __m256* acc_mem, bool first, bool last) {
  __m256 acc[RA][RW];
#pragma GCC unroll 4
  for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < RW; ++j) acc[i][j] = first ? _mm256_setzero_ps() : acc_mem[i * RW + j];
  for (int64_t l = 0; l < k; l += 8) {
    __m256 wv[RW];
#pragma GCC unroll 4
    for (int j = 0; j < RW; ++j) wv[j] = _mm256_loadu_ps(w + j * ws + l);
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i) {
      const __m256 av = _mm256_loadu_ps(a + i * as + l / 8 * ak);
#pragma GCC unroll 4
      for (int j = 0; j < RW; ++j) acc[i][j] = _mm256_fmadd_ps(wv[j], av, acc[i][j]);
    }
  }
  if (last) {
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RW; ++j) y[i * ys + j] = hsum8(acc[i][j]);
  } else {
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RW; ++j) acc_mem[i * RW + j] = acc[i][j];
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, __m256*, bool, bool);

// kTiles[rw - 1][ra - 1]
constexpr TileFn kTiles[4][4] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>, tile<2, 4>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>, tile<3, 4>},
    {tile<4, 1>, tile<4, 2>, tile<4, 3>, nullptr},
};

// Weight rows per block (a multiple of the tile's 3): 48 rows (108-288 KiB on the model's
// shapes) stay in L2 while every packed group of 4 activation rows passes over them.
constexpr int64_t kBlockRows = 48;
// K chunk and the packed activation group's reach: longer rows go in chunks (measured on the
// model's shapes: chunking K = 576..1536 to stay in L1 was slower than one pass).
constexpr int64_t kMaxChunk = 4096;

}  // namespace

void gemm_f32_avx2(const GemmF32Args& p) {
  if (p.k % 8 != 0 || !p.sgemm_order) {  // another order (gemm_f32.h): per-row dot products
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j)
        p.y[i * p.y_stride + j] = vec_dot_f32_f32_x4_avx2(p.k, p.w + j * p.w_stride, p.a + i * p.a_stride);
    return;
  }
  if (p.m < 4) {
    if (p.m == 0) return;
    const int ra = static_cast<int>(p.m);
    for (int64_t j = 0; j < p.n; j += 4) {
      const int rw = p.n - j < 4 ? static_cast<int>(p.n - j) : 4;
      kTiles[rw - 1][ra - 1](p.k, p.w + j * p.w_stride, p.w_stride, p.a, p.a_stride, 8, p.y + j, p.y_stride, nullptr, true,
                             true);
    }
    return;
  }
  // K in equal chunks of at most kMaxChunk (multiples of 8); the accumulators of a block's
  // tiles wait in acc between chunks.
  const int64_t chunks = (p.k + kMaxChunk - 1) / kMaxChunk;
  const int64_t kc = (p.k / 8 + chunks - 1) / chunks * 8;
  alignas(32) __m256 acc[kBlockRows * 4];
  alignas(32) float pack[4 * kMaxChunk];  // a group of 4 activation rows, interleaved by 8
  const bool packed = p.k <= kMaxChunk;
  for (int64_t j0 = 0; j0 < p.n; j0 += kBlockRows) {
    const int64_t j1 = j0 + kBlockRows < p.n ? j0 + kBlockRows : p.n;
    for (int64_t i = 0; i < p.m; i += 4) {
      const int ra = p.m - i < 4 ? static_cast<int>(p.m - i) : 4;
      const float* a = p.a + i * p.a_stride;
      int64_t as = p.a_stride, ak = 8;
      if (packed) {
        for (int64_t l = 0; l < p.k; l += 8)
          for (int r = 0; r < ra; ++r) _mm256_store_ps(pack + l * 4 + r * 8, _mm256_loadu_ps(a + r * p.a_stride + l));
        a = pack;
        as = 8;
        ak = 32;
      }
      float* y = p.y + i * p.y_stride;
      for (int64_t l = 0; l < p.k; l += kc) {
        const int64_t len = p.k - l < kc ? p.k - l : kc;
        for (int64_t j = j0; j < j1; j += 3) {
          const int rw = j1 - j < 3 ? static_cast<int>(j1 - j) : 3;
          kTiles[rw - 1][ra - 1](len, p.w + j * p.w_stride + l, p.w_stride, a + l / 8 * ak, as, ak, y + j, p.y_stride,
                                 acc + (j - j0) * 4, l == 0, l + len == p.k);
        }
      }
    }
  }
}

}  // namespace ember::kernels
#endif
