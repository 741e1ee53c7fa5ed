// Small AVX2 helpers shared by the avx2*.cpp and avx512*.cpp kernel files, and ONLY by them:
// everything here has internal linkage (an anonymous namespace), so each file gets its own copy
// compiled with its own flags. A helper with external linkage shared with a baseline file could
// be emitted from an AVX2 object and then run on a CPU without AVX2.
//
// In files compiled with AVX-512 VNNI (+VL), dot_u8s8 is one vpdpbusd instead of
// vpmaddubsw + vpmaddwd: the same integers in the same lanes (lane j sums the products of bytes
// 4j..4j+3; maddubs cannot saturate on our operands, |u| <= 128 and |s| <= 127 give at most
// 2 * 128 * 127 < 32767 per pair), so every kernel built on it computes the same bits.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/cpu/x86/avx2_common.h is for files compiled with -mavx2 -mfma -mf16c (or AVX-512)"
#endif

#include <immintrin.h>

#include <cstdint>

namespace ember::kernels {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Weight rows stream from memory once per decode step. On the machines we measured, the hardware
// prefetcher alone kept one thread's dot product at a third of the read bandwidth: cold-memory
// q4_1 rows ran at 2.1 GB/s against 6.3 GB/s with this hint 2 KiB ahead of the block being read
// (kernels then stay compute-bound, as in cache). A hint never faults, so running past the end
// of a weight is harmless.
inline constexpr int kPrefetchBytes = 2048;
inline void prefetch_ahead(const void* p) { _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0); }
// The same for a block of `bytes` (a K-quant super-block spans several lines): every line of it.
template <typename B>
inline void prefetch_block_ahead(const B* p) {
  for (size_t o = 0; o < sizeof(B); o += 64) prefetch_ahead(reinterpret_cast<const char*>(p) + o);
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 packed bytes -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// u8*s8 products summed in groups of 4 adjacent bytes -> 8 int32 lanes.
inline __m256i dot_u8s8_i32(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// The same as floats.
inline __m256 dot_u8s8(__m256i u, __m256i s) { return _mm256_cvtepi32_ps(dot_u8s8_i32(u, s)); }

// Same for s8*s8: move x's sign onto y so maddubs sees |x| as unsigned.
inline __m256 dot_s8s8(__m256i x, __m256i y) { return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }

// c + a*b rounded once.
inline float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// Integer lane sums: (v0 + v2) + (v1 + v3), and the 8-lane form over the two halves.
inline int hsum4_i32(__m128i v) {
  v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
  return _mm_cvtsi128_si32(_mm_add_epi32(v, _mm_shuffle_epi32(v, 1)));
}
inline int hsum8_i32(__m256i v) {
  return hsum4_i32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

// (l0+l4 + l2+l6) + (l1+l5 + l3+l7), the reduction llama.cpp's AVX2 code uses.
inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

}  // namespace
}  // namespace ember::kernels
