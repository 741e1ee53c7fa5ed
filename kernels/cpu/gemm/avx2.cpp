// AVX2 + FMA + F16C multi-row dot products (compiled with those flags for this file only).
// Per output row these perform the float operations of the single-row kernels in
// quant/avx2.cpp, in the same order (integer lane sums, one FMA per block into the row's own
// 8-lane accumulator, the same horizontal reduction, the q4_1 min term added last); only the
// weight block's decoding is shared across the rows. Shared helpers: kernels/cpu/x86/avx2_common.h.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"

#include <cassert>
#include <cmath>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {




// s8*s8 with x's magnitude precomputed once per weight block: |x| as unsigned, x's sign on y.
inline __m256 dot_s8s8(__m256i x_abs, __m256i x, __m256i y) {
  return dot_u8s8(x_abs, _mm256_sign_epi8(y, x));
}


inline __m256i load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Activation block i of row r.
template <typename B>
inline const B* act_row(const DotRowsArgs& p, int64_t r) {
  return reinterpret_cast<const B*>(p.a + static_cast<size_t>(r) * p.a_stride);
}

template <int R>
void q4_0_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_0*>(p.w);
  const BlockQ8_0* y[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_set1_ps(dx * h2f(y[r][i].d));
      acc[r] = _mm256_fmadd_ps(d, dot_s8s8(ax, qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]);
}

// Twin of quant's vec_dot_q4_0_q8_0_x8_avx2 (llama.cpp's repacked q4_0 arithmetic): each
// block's whole integer sum, scaled and added with one scalar FMA per row.
template <int R>
void q4_0_x8_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_0*>(p.w);
  const BlockQ8_0* y[R];
  float acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = 0.0f;
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256i prod = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(load32(y[r][i].qs), qx)),
                                             _mm256_set1_epi16(1));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(prod), _mm256_extracti128_si256(prod, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      acc[r] = std::fma(static_cast<float>(_mm_cvtsi128_si32(s4)), dx * h2f(y[r][i].d), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = acc[r];
}

template <int R>
void q4_1_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_1*>(p.w);
  const BlockQ8_1* y[R];
  __m256 acc[R];
  float mins[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_1>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
    mins[r] = 0.0f;
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d), mx = h2f(x[i].m);
    const __m256 vdx = _mm256_set1_ps(dx);
    const __m256i qx = unpack_nibbles(x[i].qs);
    for (int r = 0; r < R; ++r) {
      mins[r] += mx * h2f(y[r][i].s);
      const __m256 d = _mm256_mul_ps(vdx, _mm256_set1_ps(h2f(y[r][i].d)));
      acc[r] = _mm256_fmadd_ps(d, dot_u8s8(qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]) + mins[r];
}

template <int R>
void q8_0_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ8_0*>(p.w);
  const BlockQ8_0* y[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = load32(x[i].qs);
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_set1_ps(dx * h2f(y[r][i].d));
      acc[r] = _mm256_fmadd_ps(d, dot_s8s8(ax, qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]);
}

// Pair mode: two weight rows against R activation rows, with the activation scales already
// widened to f32 (block-major: ad[i * s_stride + r]). Per output, exactly q4_1_rows' float
// operations in its order; the min terms of all 2 x R outputs ride in the lanes of one vector
// (lane r: weight row 0, lane 4 + r: weight row 1), each lane the same fused multiply-add.
template <int R>
void q4_1_pairs(const DotRowsArgs& p, int64_t r0) {
  static_assert(R >= 1 && R <= 4);
  const auto* x0 = static_cast<const BlockQ4_1*>(p.w);
  const auto* x1 = static_cast<const BlockQ4_1*>(p.w1);
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
    const float dx0 = h2f(x0[i].d), dx1 = h2f(x1[i].d);
    const __m256 mx = _mm256_set_m128(_mm_set1_ps(h2f(x1[i].m)), _mm_set1_ps(h2f(x0[i].m)));
    mins = _mm256_fmadd_ps(mx, _mm256_broadcast_ps(reinterpret_cast<const __m128*>(as)), mins);
    const __m256i qx0 = unpack_nibbles(x0[i].qs), qx1 = unpack_nibbles(x1[i].qs);
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

// Groups of 4 rows, then one call for the 1..3 left over.
template <template <int> class K>
void run_rows(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK == 0);
  int64_t r = 0;
  for (; r + 4 <= p.rows; r += 4) K<4>::run(p, r);
  switch (p.rows - r) {
    case 3: K<3>::run(p, r); break;
    case 2: K<2>::run(p, r); break;
    case 1: K<1>::run(p, r); break;
    default: break;
  }
}

// Groups of 3 rows (for kernels whose 2 x 4 register tile would spill), then the 1..2 left.
template <template <int> class K>
void run_rows3(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK == 0);
  int64_t r = 0;
  for (; r + 3 <= p.rows; r += 3) K<3>::run(p, r);
  switch (p.rows - r) {
    case 2: K<2>::run(p, r); break;
    case 1: K<1>::run(p, r); break;
    default: break;
  }
}

template <int R> struct Q4_0 { static void run(const DotRowsArgs& p, int64_t r0) { q4_0_rows<R>(p, r0); } };
template <int R> struct Q4_0x8 { static void run(const DotRowsArgs& p, int64_t r0) { q4_0_x8_rows<R>(p, r0); } };
template <int R> struct Q4_1 { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_rows<R>(p, r0); } };
template <int R> struct Q4_1Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_pairs<R>(p, r0); } };
template <int R> struct Q8_0Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q8_0_pairs<R>(p, r0); } };
template <int R> struct Q8_0 { static void run(const DotRowsArgs& p, int64_t r0) { q8_0_rows<R>(p, r0); } };

}  // namespace

void vec_dot_rows_q4_0_q8_0_avx2(const DotRowsArgs& p) { run_rows<Q4_0>(p); }
void vec_dot_rows_q4_0_q8_0_x8_avx2(const DotRowsArgs& p) { run_rows<Q4_0x8>(p); }
void vec_dot_rows_q4_1_q8_1_avx2(const DotRowsArgs& p) { run_rows<Q4_1>(p); }
void vec_dot_rows_q8_0_q8_0_avx2(const DotRowsArgs& p) { run_rows<Q8_0>(p); }
void vec_dot_pairs_q4_1_q8_1_avx2(const DotRowsArgs& p) { run_rows<Q4_1Pairs>(p); }
void vec_dot_pairs_q8_0_q8_0_avx2(const DotRowsArgs& p) { run_rows3<Q8_0Pairs>(p); }

}  // namespace ember::kernels
#endif
