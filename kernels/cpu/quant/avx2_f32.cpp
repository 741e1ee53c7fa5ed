// AVX2 + FMA dot product for f32 weights (compiled with those flags for this file only).
//
// llama.cpp's x86 build hands f32 matmuls whose row length is a multiple of 8 (and whose weight
// row count is a multiple of 4) to its llamafile sgemm, which gives every output one 8-lane
// accumulator stepping by 8 and reduces it once at the end; other matmuls go to
// ggml_vec_dot_f32 (four accumulators stepping by 32, pairwise reduction, scalar tail: the _x4
// kernel; the f32 GEMM picks it by the weight's row count). Both orders are followed here, so results match llama.cpp's on the
// same CPU; the scalar twin is vec_dot_f32_f32_lanes (quant.h).
#if defined(__x86_64__)
#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {

float vec_dot_f32_f32_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  if (n % 8 == 0) {
    // Two interleaved chains would change the order: one accumulator, as the sgemm has.
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc);
    return hsum8(acc);
  }
  return vec_dot_f32_f32_x4_avx2(n, w, a);
}

float vec_dot_f32_f32_x4_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t np = n & ~int64_t{31};
  __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), s[j]);
  const __m256 v = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  r = _mm_hadd_ps(r, r);
  r = _mm_hadd_ps(r, r);
  float sum = _mm_cvtss_f32(r);
  for (int64_t i = np; i < n; ++i)
    sum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x[i]), _mm_set_ss(y[i]), _mm_set_ss(sum)));
  return sum;
}

}  // namespace ember::kernels
#endif
