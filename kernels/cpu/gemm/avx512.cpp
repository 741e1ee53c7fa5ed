// AVX-512 (F, BW, VL, VNNI) multi-row dot products, compiled with those flags for this file only.
//
// - The kernels of x86_rows.inc with VNNI's vpdpbusd (bit-identical to their _avx2 twins).
// - Pair mode in zmm registers: the two weight rows of a pair share one 512-bit register, row 0
//   in the low 256 bits and row 1 in the high 256 bits, and each activation block is broadcast
//   to both halves. Each half is exactly the 8-lane chain of the row's single-row kernel (the
//   same integer lane sums, the same f32 scale product d_w * d_a, one FMA per block into its
//   own 8 lanes, the same horizontal reduction), so every output keeps its bits while one
//   vpdpbusd / cvt / mul / fma serves two outputs.
#if defined(__x86_64__)
// g++ 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which its
// -Wuninitialized reports at every inlined use (GCC bug 105593); nothing here reads one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"

#include <cassert>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"

#if !defined(__AVX512VNNI__) || !defined(__AVX512VL__) || !defined(__AVX512BW__)
#error "kernels/cpu/gemm/avx512.cpp needs -mavx512bw -mavx512vnni -mavx512vl"
#endif

namespace ember::kernels {

#define EMBER_X86(name) name##_avx512
#include "kernels/cpu/gemm/x86_rows.inc"
#undef EMBER_X86

namespace {

// 16 packed bytes of each of two rows -> [row 0 low nibbles, row 0 high nibbles, row 1 low,
// row 1 high] (128-bit lanes), i.e. unpack_nibbles of each row in one half.
inline __m512i unpack_nibbles2(const uint8_t* qs0, const uint8_t* qs1) {
  const __m256i raw = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(qs1), reinterpret_cast<const __m128i*>(qs0));
  const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
  // lanes [qs0, qs1, qs0 >> 4, qs1 >> 4] -> [qs0, qs0 >> 4, qs1, qs1 >> 4]
  return _mm512_and_si512(_mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
}

inline __m512i load32x2(const int8_t* p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

// [a x 8 | b x 8]
inline __m512 halves(float a, float b) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(a)), _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

// The two halves' 8-lane reductions, each as hsum8 does it.
inline void hsum8x2(__m512 v, float* lo, float* hi) {
  *lo = hsum8(_mm512_castps512_ps256(v));
  *hi = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// u8 x s8 in groups of 4 bytes -> 16 int32 lanes, as floats.
inline __m512 dot_u8s8_x2(__m512i u, __m512i s) {
  return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s));
}

// s8 x s8 with |x| precomputed: x's sign moved onto y (y negated where x < 0; where x == 0
// the product is 0 either way), as _mm256_sign_epi8 does in the 256-bit kernels.
inline __m512 dot_s8s8_x2(__m512i x_abs, __m512i x, __m512i y) {
  const __mmask64 neg = _mm512_movepi8_mask(x);
  return dot_u8s8_x2(x_abs, _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y));
}

// Where a q4_1 pair's blocks come from: two plain rows (w, w1), or one q4_1x2 row pair
// (pack.h, w). Each gives, for block i: both rows' scales as [d0 x 8 | d1 x 8], their mins as
// [m0 x 4 | m1 x 4], and their nibbles as unpack_nibbles2 arranges them.
struct Q4_1PlainPair {
  const BlockQ4_1* x0;
  const BlockQ4_1* x1;
  explicit Q4_1PlainPair(const DotRowsArgs& p)
      : x0(static_cast<const BlockQ4_1*>(p.w)), x1(static_cast<const BlockQ4_1*>(p.w1)) {}
  void prefetch(int64_t i) const {
    prefetch_ahead(x0 + i);
    prefetch_ahead(x1 + i);
  }
  void scales(int64_t i, __m512* dx, __m256* mx) const {
    *dx = halves(h2f(x0[i].d), h2f(x1[i].d));
    *mx = _mm256_set_m128(_mm_set1_ps(h2f(x1[i].m)), _mm_set1_ps(h2f(x0[i].m)));
  }
  __m512i nibbles(int64_t i) const { return unpack_nibbles2(x0[i].qs, x1[i].qs); }
};

struct Q4_1PackedPair {
  const BlockQ4_1x2* x;
  explicit Q4_1PackedPair(const DotRowsArgs& p) : x(static_cast<const BlockQ4_1x2*>(p.w)) {}
  void prefetch(int64_t i) const { prefetch_ahead(x + i); }
  void scales(int64_t i, __m512* dx, __m256* mx) const {
    // [d0, d1, m0, m1], widened exactly as h2f widens each.
    const __m128 s = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[i].d)));
    *dx = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), _mm512_castps128_ps512(s));
    *mx = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
  }
  __m512i nibbles(int64_t i) const {
    // [qs0 | qs1] -> [qs0, qs0, qs1, qs1] -> the second copy of each shifted down by 4.
    const __m512i v = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3),
                                               _mm512_castsi256_si512(load32(x[i].qs[0])));
    const __m512i shift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
                                            0x0004000400040004);
    return _mm512_and_si512(_mm512_srlv_epi16(v, shift), _mm512_set1_epi8(0x0f));
  }
};

// q4_1 pair mode (the AVX2 kernel's contract, gemm.h), up to 8 activation rows per pass over
// the pair's blocks (32 zmm registers hold 8 accumulators, where the AVX2 kernel stops at 4):
// the min terms of all 2 x R outputs in two 8-lane vectors (rows 0..3 and 4..7; lane r: weight
// row 0, lane 4 + r: weight row 1), each lane the AVX2 pair kernel's fused multiply-add.
template <class Src, int R>
void q4_1_pairs(const DotRowsArgs& p, int64_t r0) {
  static_assert(R >= 1 && R <= 8);
  const Src x(p);
  // Named accumulators, not an array: g++ keeps an array of them in memory across iterations.
  const BlockQ8_1* y0 = act_row<BlockQ8_1>(p, r0);
  const BlockQ8_1* y1 = act_row<BlockQ8_1>(p, r0 + (R > 1 ? 1 : 0));
  const BlockQ8_1* y2 = act_row<BlockQ8_1>(p, r0 + (R > 2 ? 2 : 0));
  const BlockQ8_1* y3 = act_row<BlockQ8_1>(p, r0 + (R > 3 ? 3 : 0));
  const BlockQ8_1* y4 = act_row<BlockQ8_1>(p, r0 + (R > 4 ? 4 : 0));
  const BlockQ8_1* y5 = act_row<BlockQ8_1>(p, r0 + (R > 5 ? 5 : 0));
  const BlockQ8_1* y6 = act_row<BlockQ8_1>(p, r0 + (R > 6 ? 6 : 0));
  const BlockQ8_1* y7 = act_row<BlockQ8_1>(p, r0 + (R > 7 ? 7 : 0));
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const float* ad = p.ad + r0;
  const float* as = p.as + r0;
  __m256 mins_lo = _mm256_setzero_ps(), mins_hi = mins_lo;
  const int64_t nb = p.n / kQK;
#define EMBER_Q4_1_ROW(k)                                                                                 \
  if (R > k) a##k = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(ad[k])), dot_u8s8_x2(qx, load32x2(y##k[i].qs)), a##k)
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride, as += p.s_stride) {
    x.prefetch(i);
    __m512 dx;
    __m256 mx;
    x.scales(i, &dx, &mx);
    mins_lo = _mm256_fmadd_ps(mx, _mm256_broadcast_ps(reinterpret_cast<const __m128*>(as)), mins_lo);
    if (R > 4) mins_hi = _mm256_fmadd_ps(mx, _mm256_broadcast_ps(reinterpret_cast<const __m128*>(as + 4)), mins_hi);
    const __m512i qx = x.nibbles(i);
    EMBER_Q4_1_ROW(0);
    EMBER_Q4_1_ROW(1);
    EMBER_Q4_1_ROW(2);
    EMBER_Q4_1_ROW(3);
    EMBER_Q4_1_ROW(4);
    EMBER_Q4_1_ROW(5);
    EMBER_Q4_1_ROW(6);
    EMBER_Q4_1_ROW(7);
  }
#undef EMBER_Q4_1_ROW
  alignas(32) float m[16];
  _mm256_store_ps(m, mins_lo);
  _mm256_store_ps(m + 8, mins_hi);
  float* out = p.y + r0 * p.y_stride;
  const __m512 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
  for (int r = 0; r < R; ++r) {
    const float* mr = m + (r < 4 ? 0 : 8);
    float s0, s1;
    hsum8x2(acc[r], &s0, &s1);
    out[r * p.y_stride] = s0 + mr[r % 4];
    out[r * p.y_stride + 1] = s1 + mr[4 + r % 4];
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
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  const float* ad = p.ad + r0;
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride) {
    prefetch_ahead(x0 + i);
    prefetch_ahead(x1 + i);
    const __m512 dx = halves(h2f(x0[i].d), h2f(x1[i].d));
    const __m512i qx = _mm512_inserti64x4(_mm512_castsi256_si512(load32(x0[i].qs)), load32(x1[i].qs), 1);
    const __m512i ax = _mm512_abs_epi8(qx);
    a0 = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(ad[0])), dot_s8s8_x2(ax, qx, load32x2(y0[i].qs)), a0);
    if (R > 1) a1 = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(ad[1])), dot_s8s8_x2(ax, qx, load32x2(y1[i].qs)), a1);
    if (R > 2) a2 = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(ad[2])), dot_s8s8_x2(ax, qx, load32x2(y2[i].qs)), a2);
    if (R > 3) a3 = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(ad[3])), dot_s8s8_x2(ax, qx, load32x2(y3[i].qs)), a3);
  }
  float* out = p.y + r0 * p.y_stride;
  const __m512 acc[4] = {a0, a1, a2, a3};
  for (int r = 0; r < R; ++r) hsum8x2(acc[r], &out[r * p.y_stride], &out[r * p.y_stride + 1]);
}

// Groups of 8 rows, then one call for the 1..7 left over.
template <template <int> class K>
void run_rows8(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK == 0);
  int64_t r = 0;
  for (; r + 8 <= p.rows; r += 8) K<8>::run(p, r);
  switch (p.rows - r) {
    case 7: K<7>::run(p, r); break;
    case 6: K<6>::run(p, r); break;
    case 5: K<5>::run(p, r); break;
    case 4: K<4>::run(p, r); break;
    case 3: K<3>::run(p, r); break;
    case 2: K<2>::run(p, r); break;
    case 1: K<1>::run(p, r); break;
    default: break;
  }
}

template <int R> struct Q4_1Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_pairs<Q4_1PlainPair, R>(p, r0); } };
template <int R> struct Q4_1x2Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_pairs<Q4_1PackedPair, R>(p, r0); } };
template <int R> struct Q8_0Pairs { static void run(const DotRowsArgs& p, int64_t r0) { q8_0_pairs<R>(p, r0); } };

}  // namespace

void vec_dot_pairs_q4_1_q8_1_avx512(const DotRowsArgs& p) { run_rows8<Q4_1Pairs>(p); }
void vec_dot_pairs_q4_1x2_q8_1_avx512(const DotRowsArgs& p) { run_rows8<Q4_1x2Pairs>(p); }
void vec_dot_pairs_q8_0_q8_0_avx512(const DotRowsArgs& p) { run_rows<Q8_0Pairs>(p); }

}  // namespace ember::kernels
#endif
