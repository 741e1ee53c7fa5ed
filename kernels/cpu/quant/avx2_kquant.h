// K-quant helpers shared by the AVX2 kernel files of kernels/cpu/quant and kernels/cpu/gemm,
// and ONLY by them: internal linkage, as kernels/cpu/x86/avx2_common.h (include that first).
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/cpu/quant/avx2_kquant.h is for files compiled with -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {

// u8*s8 in pairs, then each pair-sum times a 16-bit scale, pairs of those summed -> 8 int32 lanes.
inline __m256i dot_u8s8_scaled(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

// acc + dot_u8s8_scaled(u, s, scale16): with AVX-512 VNNI (VL) one vpdpwssd does the multiply
// by the scale and the accumulation (the same integers; nothing can overflow here).
inline __m256i acc_u8s8_scaled(__m256i acc, __m256i u, __m256i s, __m256i scale16) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), scale16);
#else
  return _mm256_add_epi32(acc, dot_u8s8_scaled(u, s, scale16));
#endif
}

// (a0 + a2) + (a1 + a3).
inline float hsum4(__m128 a) {
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
}


// The 6-bit scales and mins of the 8 sub-blocks of a q4_K/q5_K super-block.
inline void k_scales_mins(const uint8_t* s, int sc[8], int m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
    sc[j + 4] = (s[j + 8] & 0x0f) | (s[j] >> 6) << 4;
    m[j + 4] = (s[j + 8] >> 4) | (s[j + 4] >> 6) << 4;
  }
}

// Mins term of a K-quant super-block per pair of sub-blocks t (0..3):
// m[2t] * (q8 sum of sub-block 2t) + m[2t+1] * (q8 sum of sub-block 2t+1).
inline __m128i k_min_products(const int m[8], const int16_t* bsums) {
  int p[4];
  for (int t = 0; t < 4; ++t) {
    const int s0 = bsums[4 * t] + bsums[4 * t + 1], s1 = bsums[4 * t + 2] + bsums[4 * t + 3];
    p[t] = m[2 * t] * s0 + m[2 * t + 1] * s1;
  }
  return _mm_setr_epi32(p[0], p[1], p[2], p[3]);
}


// sc[j] * (q . q8) of a q4_K super-block, lane t holding elements 4t..4t+3 of every 32-run.
inline __m256i q4_K_scaled_sums(const BlockQ4_K& x, const BlockQ8_K& y, const int sc[8]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i sumi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {  // 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high)
    const __m256i q = load32(x.qs + 32 * c);
    const __m256i lo = _mm256_and_si256(q, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    sumi = acc_u8s8_scaled(sumi, lo, load32(y.qs + 64 * c), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c])));
    sumi = acc_u8s8_scaled(sumi, hi, load32(y.qs + 64 * c + 32), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1])));
  }
  return sumi;
}

// The four lane sums of v[0..3], in that order.
inline __m128i hsum8_i32_x4(const __m256i v[4]) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// A q4_K super-block's weights as u8 vectors: lo[c] = sub-block 2c, hi[c] = sub-block 2c+1, and
// their scales as 16-bit vectors (decoded once, then dotted with any number of q8_K rows).
struct Q4KDecoded {
  __m256i lo[4], hi[4], s_lo[4], s_hi[4];
};

inline void q4_K_decode(const BlockQ4_K& x, const int sc[8], Q4KDecoded* o) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int c = 0; c < 4; ++c) {
    const __m256i q = load32(x.qs + 32 * c);
    o->lo[c] = _mm256_and_si256(q, low4);
    o->hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    o->s_lo[c] = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]));
    o->s_hi[c] = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]));
  }
}

// Per pair of sub-blocks c: sc[2c] * (q . q8 of sub-block 2c) + sc[2c+1] * (the same for 2c+1).
inline __m128i q4_K_pair_sums(const Q4KDecoded& x, const int8_t* q8) {
  __m256i v[4];
  for (int c = 0; c < 4; ++c)
    v[c] = acc_u8s8_scaled(dot_u8s8_scaled(x.lo[c], load32(q8 + 64 * c), x.s_lo[c]), x.hi[c], load32(q8 + 64 * c + 32),
                           x.s_hi[c]);
  return hsum8_i32_x4(v);
}

// A q6_K super-block's 6-bit weights as u8 vectors, q[h][k] = elements 128h + 32k .. +31, and
// their scales (groups 8h+2k and 8h+2k+1 in the two 128-bit halves) as 16-bit vectors.
struct Q6KDecoded {
  __m256i q[2][4], scale[2][4], sc16;
};

inline void q6_K_decode(const BlockQ6_K& x, Q6KDecoded* o) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i low2 = _mm256_set1_epi8(3);
  o->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
  for (int h = 0; h < 2; ++h) {  // 128 elements each
    const __m256i ql0 = load32(x.ql + 64 * h);
    const __m256i ql1 = load32(x.ql + 64 * h + 32);
    const __m256i qh = load32(x.qh + 32 * h);
    const __m256i lows[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                             _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)};
    for (int k = 0; k < 4; ++k) {
      const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), low2), 4);
      o->q[h][k] = _mm256_or_si256(lows[k], hb);
      const int g = 8 * h + 2 * k;
      o->scale[h][k] = _mm256_setr_m128i(_mm_set1_epi16(x.scales[g]), _mm_set1_epi16(x.scales[g + 1]));
    }
  }
}

// sum over groups of scale * (q - 32) . q8 in llama.cpp's AVX2 lanes (lane t: elements 4t..4t+3
// of every 32-run, minus 32 * (sc[2t]*bsums[2t] + sc[2t+1]*bsums[2t+1]) for the offset).
inline __m256i q6_K_lane_sums(const Q6KDecoded& x, const BlockQ8_K& y) {
  const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load32(y.bsums), x.sc16), 5);
  __m256i sumi = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      sumi = acc_u8s8_scaled(sumi, x.q[h][k], load32(y.qs + 128 * h + 32 * k), x.scale[h][k]);
  return _mm256_sub_epi32(sumi, offset);
}

}  // namespace
}  // namespace ember::kernels
