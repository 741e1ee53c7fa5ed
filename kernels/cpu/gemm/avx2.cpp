// AVX2 + FMA + F16C multi-row dot products (compiled with those flags for this file only): the
// kernels of x86_rows.inc, and the pair-mode kernels (two weight rows per call). Per output row
// these perform the float operations of the single-row kernels in quant/avx2.cpp, in the same
// order (integer lane sums, one FMA per block into the row's own 8-lane accumulator, the same
// horizontal reduction, the q4_1 min term added last); only the weight block's decoding is
// shared across the rows. Shared helpers: kernels/cpu/x86/avx2_common.h.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"

#include <cassert>
#include <cmath>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

#define EMBER_X86(name) name##_avx2
#include "kernels/cpu/gemm/x86_rows.inc"
#undef EMBER_X86

namespace {

// Pair mode: two weight rows against R activation rows, with the activation scales already
// widened to f32 (block-major: ad[i * s_stride + r]). Per output, exactly q4_1_rows' float
// operations in its order; the min terms of all 2 x R outputs ride in the lanes of one vector
// (lane r: weight row 0, lane 4 + r: weight row 1), each lane the same fused multiply-add.
//
// Src says where the pair's blocks come from: two plain rows (w, w1) or one q4_1x2 row pair
// (pack.h, w); for block i it gives both rows' scales, mins (as [m0 x 4 | m1 x 4]) and nibbles.
struct Q4_1PlainPair {
  const BlockQ4_1* x0;
  const BlockQ4_1* x1;
  explicit Q4_1PlainPair(const DotRowsArgs& p)
      : x0(static_cast<const BlockQ4_1*>(p.w)), x1(static_cast<const BlockQ4_1*>(p.w1)) {}
  void prefetch(int64_t i) const {
    prefetch_ahead(x0 + i);
    prefetch_ahead(x1 + i);
  }
  void scales(int64_t i, float* dx0, float* dx1, __m256* mx) const {
    *dx0 = h2f(x0[i].d);
    *dx1 = h2f(x1[i].d);
    *mx = _mm256_set_m128(_mm_set1_ps(h2f(x1[i].m)), _mm_set1_ps(h2f(x0[i].m)));
  }
  void nibbles(int64_t i, __m256i* q0, __m256i* q1) const {
    *q0 = unpack_nibbles(x0[i].qs);
    *q1 = unpack_nibbles(x1[i].qs);
  }
};

struct Q4_1PackedPair {
  const BlockQ4_1x2* x;
  explicit Q4_1PackedPair(const DotRowsArgs& p) : x(static_cast<const BlockQ4_1x2*>(p.w)) {}
  void prefetch(int64_t i) const { prefetch_ahead(x + i); }
  void scales(int64_t i, float* dx0, float* dx1, __m256* mx) const {
    // [d0, d1, m0, m1], widened exactly as h2f widens each.
    const __m128 s = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[i].d)));
    *dx0 = _mm_cvtss_f32(s);
    *dx1 = _mm_cvtss_f32(_mm_movehdup_ps(s));
    *mx = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
  }
  void nibbles(int64_t i, __m256i* q0, __m256i* q1) const {
    *q0 = unpack_nibbles(x[i].qs[0]);
    *q1 = unpack_nibbles(x[i].qs[1]);
  }
};

template <class Src, int R>
void q4_1_pairs(const DotRowsArgs& p, int64_t r0) {
  static_assert(R >= 1 && R <= 4);
  const Src x(p);
  const BlockQ8_1* y0 = act_row<BlockQ8_1>(p, r0);
  const BlockQ8_1* y1 = act_row<BlockQ8_1>(p, r0 + (R > 1 ? 1 : 0));
  const BlockQ8_1* y2 = act_row<BlockQ8_1>(p, r0 + (R > 2 ? 2 : 0));
  const BlockQ8_1* y3 = act_row<BlockQ8_1>(p, r0 + (R > 3 ? 3 : 0));
  const float* ad = p.ad + r0;
  const float* as = p.as + r0;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
  __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  __m256 mins = a00;
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride, as += p.s_stride) {
    x.prefetch(i);
    float dx0, dx1;
    __m256 mx;
    x.scales(i, &dx0, &dx1, &mx);
    mins = _mm256_fmadd_ps(mx, _mm256_broadcast_ps(reinterpret_cast<const __m128*>(as)), mins);
    __m256i qx0, qx1;
    x.nibbles(i, &qx0, &qx1);
    {
      const __m256i ya = load32(y0[i].qs);
      a00 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[0]), dot_u8s8(qx0, ya), a00);
      a10 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[0]), dot_u8s8(qx1, ya), a10);
    }
    if (R > 1) {
      const __m256i ya = load32(y1[i].qs);
      a01 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[1]), dot_u8s8(qx0, ya), a01);
      a11 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[1]), dot_u8s8(qx1, ya), a11);
    }
    if (R > 2) {
      const __m256i ya = load32(y2[i].qs);
      a02 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[2]), dot_u8s8(qx0, ya), a02);
      a12 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[2]), dot_u8s8(qx1, ya), a12);
    }
    if (R > 3) {
      const __m256i ya = load32(y3[i].qs);
      a03 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[3]), dot_u8s8(qx0, ya), a03);
      a13 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[3]), dot_u8s8(qx1, ya), a13);
    }
  }
  alignas(32) float m[8];
  _mm256_store_ps(m, mins);
  float* y = p.y + r0 * p.y_stride;
  const __m256 acc0[4] = {a00, a01, a02, a03}, acc1[4] = {a10, a11, a12, a13};
  for (int r = 0; r < R; ++r) {
    y[r * p.y_stride] = hsum8(acc0[r]) + m[r];
    y[r * p.y_stride + 1] = hsum8(acc1[r]) + m[4 + r];
  }
}

template <int R>
void q8_0_pairs(const DotRowsArgs& p, int64_t r0) {
  static_assert(R >= 1 && R <= 4);
  const auto* x0 = static_cast<const BlockQ8_0*>(p.w);
  const auto* x1 = static_cast<const BlockQ8_0*>(p.w1);
  const BlockQ8_0* y0 = act_row<BlockQ8_0>(p, r0);
  const BlockQ8_0* y1 = act_row<BlockQ8_0>(p, r0 + (R > 1 ? 1 : 0));
  const BlockQ8_0* y2 = act_row<BlockQ8_0>(p, r0 + (R > 2 ? 2 : 0));
  const BlockQ8_0* y3 = act_row<BlockQ8_0>(p, r0 + (R > 3 ? 3 : 0));
  const float* ad = p.ad + r0;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
  __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride) {
    prefetch_ahead(x0 + i);
    prefetch_ahead(x1 + i);
    const float dx0 = h2f(x0[i].d), dx1 = h2f(x1[i].d);
    const __m256i qx0 = load32(x0[i].qs), qx1 = load32(x1[i].qs);
    const __m256i ax0 = _mm256_sign_epi8(qx0, qx0), ax1 = _mm256_sign_epi8(qx1, qx1);
    {
      const __m256i ya = load32(y0[i].qs);
      a00 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[0]), dot_s8s8(ax0, qx0, ya), a00);
      a10 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[0]), dot_s8s8(ax1, qx1, ya), a10);
    }
    if (R > 1) {
      const __m256i ya = load32(y1[i].qs);
      a01 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[1]), dot_s8s8(ax0, qx0, ya), a01);
      a11 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[1]), dot_s8s8(ax1, qx1, ya), a11);
    }
    if (R > 2) {
      const __m256i ya = load32(y2[i].qs);
      a02 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[2]), dot_s8s8(ax0, qx0, ya), a02);
      a12 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[2]), dot_s8s8(ax1, qx1, ya), a12);
    }
    if (R > 3) {
      const __m256i ya = load32(y3[i].qs);
      a03 = _mm256_fmadd_ps(_mm256_set1_ps(dx0 * ad[3]), dot_s8s8(ax0, qx0, ya), a03);
      a13 = _mm256_fmadd_ps(_mm256_set1_ps(dx1 * ad[3]), dot_s8s8(ax1, qx1, ya), a13);
    }
  }
  float* y = p.y + r0 * p.y_stride;
  const __m256 acc0[4] = {a00, a01, a02, a03}, acc1[4] = {a10, a11, a12, a13};
  for (int r = 0; r < R; ++r) {
    y[r * p.y_stride] = hsum8(acc0[r]);
    y[r * p.y_stride + 1] = hsum8(acc1[r]);
  }
}

template <int R> struct Q4_1Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_pairs<Q4_1PlainPair, R>(p, r0); } };
template <int R> struct Q4_1x2Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_pairs<Q4_1PackedPair, R>(p, r0); } };
template <int R> struct Q8_0Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q8_0_pairs<R>(p, r0); } };

}  // namespace

void vec_dot_pairs_q4_1_q8_1_avx2(const DotRowsArgs& p) { run_rows<Q4_1Pairs>(p); }
void vec_dot_pairs_q4_1x2_q8_1_avx2(const DotRowsArgs& p) { run_rows<Q4_1x2Pairs>(p); }
void vec_dot_pairs_q8_0_q8_0_avx2(const DotRowsArgs& p) { run_rows3<Q8_0Pairs>(p); }

}  // namespace ember::kernels
#endif
