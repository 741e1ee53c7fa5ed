// AVX2 + FMA + F16C dot products (compiled with those flags for this file only): the q4_0,
// q4_1 and q8_0 kernels of x86_dots.inc, and the q8_0 / q8_1 activation quantisers.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/quant/simd.h"
#include "kernels/cpu/x86/avx2_common.h"

namespace ember::kernels {

#define EMBER_X86(name) name##_avx2
#include "kernels/cpu/quant/x86_dots.inc"
#undef EMBER_X86

namespace {

// One block of 32: the largest magnitude, and the values times 127 / amax rounded to nearest
// even (as the scalar quantiser's nearbyint), packed to int8 in element order. Returns amax;
// *sum (when asked) gets the sum of the 32 integers.
inline float quantize_block32(const float* x, int8_t* qs, int* sum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const float amax = _mm_cvtss_f32(h);
  const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  __m256i q[4];
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (sum) {
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    *sum = _mm_cvtsi128_si32(t);
  }
  // packs work within 128-bit lanes: (0,1) and (2,3) interleave by lane, then fix the order.
  const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
  const __m256i b = _mm256_packs_epi16(p01, p23);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return amax;
}

inline uint16_t f2h(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }

}  // namespace

void quantize_row_q8_0_avx2(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float amax = quantize_block32(src, y[i].qs, nullptr);
    y[i].d = f2h(amax / 127.0f);
  }
}

void quantize_row_q8_1_avx2(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    int sum = 0;
    const float amax = quantize_block32(src, y[i].qs, &sum);
    const float d = amax / 127.0f;
    y[i].d = f2h(d);
    y[i].s = f2h(d * static_cast<float>(sum));
  }
}

}  // namespace ember::kernels
#endif
