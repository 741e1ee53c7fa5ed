// AVX2 + FMA + F16C dot products (compiled with those flags for this file only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/quant/simd.h"
#include "kernels/cpu/x86/avx2_common.h"

namespace ember::kernels {
float vec_dot_q4_0_q8_0_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    acc = _mm256_fmadd_ps(d, dot_s8s8(qx, load32(y[i].qs)), acc);
  }
  return hsum8(acc);
}

float vec_dot_q4_1_q8_1_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / kQK;
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d), dy = h2f(y[i].d);
    mins += h2f(x[i].m) * h2f(y[i].s);
    const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dx), _mm256_set1_ps(dy));
    acc = _mm256_fmadd_ps(d, dot_u8s8(unpack_nibbles(x[i].qs), load32(y[i].qs)), acc);
  }
  return hsum8(acc) + mins;
}

float vec_dot_q8_0_q8_0_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    acc = _mm256_fmadd_ps(d, dot_s8s8(load32(x[i].qs), load32(y[i].qs)), acc);
  }
  return hsum8(acc);
}

}  // namespace ember::kernels
#endif
