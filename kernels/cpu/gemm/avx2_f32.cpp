// AVX2 + FMA f32 GEMM (gemm_f32.h), compiled with those flags for this file only.
//
// Each output keeps one 8-lane accumulator that steps K by 8 and is reduced once by hsum8:
// exactly vec_dot_f32_f32_avx2's order, so a tile of RW weight rows x RA activation rows just
// runs RW*RA such chains side by side. The 3 x 4 prefill tile fills the 16 ymm registers (12
// accumulators, 3 weight vectors, 1 activation vector) and needs 7 loads per 12 FMAs; weight
// rows are taken in blocks that stay in L2 while every group of 4 activation rows (in L1)
// passes over them. Decode (M < 4) runs 4 weight rows x M so that 4..12 independent chains
// hide the FMA latency while the weights stream.
#if defined(__x86_64__)
#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/gemm/gemm_f32.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

template <int RW, int RA>
void tile(int64_t k, const float* w, int64_t ws, const float* a, int64_t as, float* y, int64_t ys) {
  __m256 acc[RA][RW];
#pragma GCC unroll 4
  for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < RW; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t l = 0; l < k; l += 8) {
    __m256 wv[RW];
#pragma GCC unroll 4
    for (int j = 0; j < RW; ++j) wv[j] = _mm256_loadu_ps(w + j * ws + l);
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i) {
      const __m256 av = _mm256_loadu_ps(a + i * as + l);
#pragma GCC unroll 4
      for (int j = 0; j < RW; ++j) acc[i][j] = _mm256_fmadd_ps(wv[j], av, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < RW; ++j) y[i * ys + j] = hsum8(acc[i][j]);
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);

// kTiles[rw - 1][ra - 1]
constexpr TileFn kTiles[4][4] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>, tile<2, 4>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>, tile<3, 4>},
    {tile<4, 1>, tile<4, 2>, tile<4, 3>, nullptr},
};

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
      kTiles[rw - 1][ra - 1](p.k, p.w + j * p.w_stride, p.w_stride, p.a, p.a_stride, p.y + j, p.y_stride);
    }
    return;
  }
  // Weight rows per block: about 128 KiB of them, a multiple of the tile's 3.
  int64_t nb = (int64_t{128} << 10) / (p.k * 4);
  nb = nb < 3 ? 3 : nb - nb % 3;
  for (int64_t j0 = 0; j0 < p.n; j0 += nb) {
    const int64_t j1 = j0 + nb < p.n ? j0 + nb : p.n;
    for (int64_t i = 0; i < p.m; i += 4) {
      const int ra = p.m - i < 4 ? static_cast<int>(p.m - i) : 4;
      const float* a = p.a + i * p.a_stride;
      float* y = p.y + i * p.y_stride;
      for (int64_t j = j0; j < j1; j += 3) {
        const int rw = j1 - j < 3 ? static_cast<int>(j1 - j) : 3;
        kTiles[rw - 1][ra - 1](p.k, p.w + j * p.w_stride, p.w_stride, a, p.a_stride, y + j, p.y_stride);
      }
    }
  }
}

}  // namespace ember::kernels
#endif
