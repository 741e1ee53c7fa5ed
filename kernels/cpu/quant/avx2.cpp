// AVX2 + FMA + F16C dot products (compiled with those flags for this file only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

// Local on purpose: an inline helper shared with baseline files could be emitted from this
// AVX2 file and then run on a CPU without AVX2.
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 16 packed bytes -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Sums of adjacent u8*s8 products, reduced to 8 int32 lanes, as floats.
inline __m256 dot_u8s8(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), pairs));
}

// Same for s8*s8: move x's sign onto y so maddubs sees |x| as unsigned.
inline __m256 dot_s8s8(__m256i x, __m256i y) {
  return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline __m256i load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

}  // namespace

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
