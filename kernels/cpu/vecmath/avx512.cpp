// AVX-512 (F, BW, VL, VNNI) + FMA variant of kernels/cpu/vecmath, compiled with those flags for
// this file only: avx2.cpp's exp8 on 16 lanes (masks for its compares and blends), operation for
// operation, so every lane's bits are the AVX2 variant's (tests/kernels/simd_test.cpp).
#if defined(__x86_64__)
// g++ 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which its
// -Wuninitialized reports at every inlined use (GCC bug 105593); nothing here reads one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {

inline __m512 exp16(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512i e = _mm512_slli_epi32(_mm512_castps_si512(z), 23);
  const __m512 scale = _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  const __m512 abs_n = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(n), _mm512_set1_epi32(0x7fffffff)));
  const __mmask16 big = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(126.0f), _CMP_GT_OQ);
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), r, _mm512_set1_ps(0x1.573e2ep-5f));
  const __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), r, _mm512_set1_ps(0x1.fffdb6p-2f));
  const __m512 p = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, r2, lo), r2, _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), r));
  const __m512 normal = _mm512_fmadd_ps(p, scale, scale);
  if (big == 0) return normal;
  const __mmask16 le = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512i neg = _mm512_maskz_mov_epi32(le, _mm512_set1_epi32(static_cast<int>(0x82000000u)));
  const __m512 s1 = _mm512_castsi512_ps(_mm512_add_epi32(neg, _mm512_set1_epi32(0x7f000000)));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_sub_epi32(e, neg));
  const __mmask16 huge = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  const __m512 scaled = _mm512_mul_ps(_mm512_fmadd_ps(s2, p, s2), s1);
  const __m512 mid = _mm512_mask_blend_ps(big, normal, scaled);
  return _mm512_mask_blend_ps(huge, mid, _mm512_mul_ps(s1, s1));
}

// silu(g) * u on the lanes of mask m (elementwise: a lane's bits do not depend on the others).
inline void silu_mul16(float* y, const float* g, const float* u, __mmask16 m) {
  const __m512 x = _mm512_maskz_loadu_ps(m, g);
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  const __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  _mm512_mask_storeu_ps(y, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u)));
}

void silu_mul_avx512(int64_t n, float* y, const float* g, const float* u) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) silu_mul16(y + i, g + i, u + i, 0xffff);
  if (i + 8 <= n) {
    silu_mul16(y + i, g + i, u + i, 0x00ff);
    i += 8;
  }
  for (; i < n; ++i) y[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

// exp8_sum's reduction of one group's eight lanes: ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
inline float sum8(__m256 e) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(e, 1), _mm256_castps256_ps128(e));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 high8(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

float exp8_sum_avx512(float* v, float max) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(0x00ff, v), _mm512_set1_ps(max)));
  _mm512_mask_storeu_ps(v, 0x00ff, e);
  return sum8(_mm512_castps512_ps256(e));
}

void exp8_sums_avx512(float* v, int64_t groups, float max, float* sums) {
  const __m512 m = _mm512_set1_ps(max);
  int64_t g = 0;
  for (; g + 2 <= groups; g += 2) {
    float* p = v + 8 * g;
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p), m));
    _mm512_storeu_ps(p, e);
    sums[g] = sum8(_mm512_castps512_ps256(e));
    sums[g + 1] = sum8(high8(e));
  }
  if (g < groups) sums[g] = exp8_sum_avx512(v + 8 * g, max);
}

}  // namespace

static void round_f16_avx512(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(v + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < n; ++i) v[i] = _cvtsh_ss(_cvtss_sh(v[i], _MM_FROUND_TO_NEAREST_INT));
}

const VecMathKernels& vecmath_kernels_avx512() {
  static const VecMathKernels k{"avx512", silu_mul_avx512, exp8_sum_avx512, exp8_sums_avx512, round_f16_avx512};
  return k;
}

}  // namespace ember::kernels

#endif  // __x86_64__
