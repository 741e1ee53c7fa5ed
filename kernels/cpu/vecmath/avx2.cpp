// AVX2 + FMA variant of kernels/cpu/vecmath (compiled with -mavx2 -mfma for this file only).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {

inline __m256 exp8(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 hi = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f));
  const __m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f));
  const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(hi, r2, lo), r2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), r));
  const __m256 normal = _mm256_fmadd_ps(p, scale, scale);
  if (_mm256_movemask_ps(big) == 0) return normal;
  const __m256i neg = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(neg, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, neg));
  const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, p, s2), s1);
  const __m256 mid = _mm256_blendv_ps(normal, scaled, big);
  return _mm256_blendv_ps(mid, _mm256_mul_ps(s1, s1), huge);
}

void silu_mul_avx2(int64_t n, float* y, const float* g, const float* u) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) y[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

float exp8_sum_avx2(float* v, float max) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(v), _mm256_set1_ps(max)));
  _mm256_storeu_ps(v, e);
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(e, 1), _mm256_castps256_ps128(e));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

static void round_f16_avx2(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(v + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < n; ++i) v[i] = _cvtsh_ss(_cvtss_sh(v[i], _MM_FROUND_TO_NEAREST_INT));
}

const VecMathKernels& vecmath_kernels_avx2() {
  static const VecMathKernels k{"avx2", silu_mul_avx2, exp8_sum_avx2, exp8_sums_each<exp8_sum_avx2>, round_f16_avx2};
  return k;
}

}  // namespace ember::kernels

#endif  // __x86_64__
