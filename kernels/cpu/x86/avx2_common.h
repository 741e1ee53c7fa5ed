// Small AVX2 helpers shared by the avx2*.cpp kernel files, and ONLY by them: everything here
// has internal linkage (an anonymous namespace), so each AVX2 file gets its own copy compiled
// with its own flags. A helper with external linkage shared with a baseline file could be
// emitted from an AVX2 object and then run on a CPU without AVX2.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/cpu/x86/avx2_common.h is for files compiled with -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>

#include <cstdint>

namespace ember::kernels {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

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
inline __m256 dot_s8s8(__m256i x, __m256i y) { return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }

// (l0+l4 + l2+l6) + (l1+l5 + l3+l7), the reduction llama.cpp's AVX2 code uses.
inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

}  // namespace
}  // namespace ember::kernels
