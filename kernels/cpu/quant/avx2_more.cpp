// AVX2 + FMA + F16C dot products for q5_0, q5_1, the K-quants, f16 and bf16, and the repacked-
// weight arithmetic of q4_0 / q4_K (compiled with those flags for this file only).
//
// As in avx2.cpp, each kernel reproduces the floating-point operations of llama.cpp's x86 AVX2
// build in the same order, so that results are bit-identical to it on the same CPU: integer sums
// land in the same 8 int32 lanes, are converted per lane, fused-multiply-added with the block
// scale into 8 f32 lanes, and reduced the same way. Scalar side sums (mins of q4_1-style types)
// are fused multiply-adds because llama.cpp's build contracts them; the f16/bf16 tails add in
// double as ggml does. Integer parts may be computed in any order: they are exact.
//
// The *_x8 variants follow instead the kernels llama.cpp runs on the weights its AVX2 build
// repacks 8 rows at a time (q4_0, q4_K; every matmul whose row count is a multiple of 8): there
// each row has a single f32 accumulator (two for q4_K: sums and mins), and each block's whole
// integer sum is converted and fused-multiply-added with d_w * d_a. q4_K's batched form
// (*_x8_gemm: rows in complete groups of 4) does that per 64 elements instead (quant.h).
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/avx2_kquant.h"

#include <cstring>

#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

inline float bf2f(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}



// Bit j of the little-endian 32-bit qh -> byte j: 0xff where set, 0 where clear.
inline __m256i bits_to_bytes(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // byte j takes source byte j/8, then keeps only bit j%8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i pick = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, pick), pick);
}


}  // namespace

float vec_dot_q5_0_q8_0_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    // q - 16 as int8: the nibble with 0xf0 or'ed in where the fifth bit is clear.
    const __m256i off = _mm256_andnot_si256(bits_to_bytes(x[i].qh), _mm256_set1_epi8(static_cast<char>(0xf0)));
    const __m256i qx = _mm256_or_si256(unpack_nibbles(x[i].qs), off);
    acc = _mm256_fmadd_ps(d, dot_s8s8(qx, load32(y[i].qs)), acc);
  }
  return hsum8(acc);
}

float vec_dot_q5_1_q8_1_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    mins = fma1(h2f(x[i].m), h2f(y[i].s), mins);
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    const __m256i hi = _mm256_and_si256(bits_to_bytes(x[i].qh), _mm256_set1_epi8(0x10));
    const __m256i qx = _mm256_or_si256(unpack_nibbles(x[i].qs), hi);
    acc = _mm256_fmadd_ps(dot_u8s8(qx, load32(y[i].qs)), d, acc);
  }
  return hsum8(acc) + mins;
}

#define EMBER_X86(name) name##_avx2
#include "kernels/cpu/quant/x86_kquant.inc"
#undef EMBER_X86

// f16 and bf16 weights: llama.cpp's llamafile sgemm takes them (activations converted to the
// weight type first) when n % 8 == 0 and the weight's row count is a multiple of 4: one 8-lane
// accumulator per output, widened loads, one hsum8. Otherwise ggml's vec_dot (the _x4 kernels).
float vec_dot_f16_f16_avx2(int64_t n, const void* w, const void* a) {
  if (n % 8 != 0) return vec_dot_f16_f16_x4_avx2(n, w, a);
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))),
                          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i))), acc);
  return hsum8(acc);
}

float vec_dot_f16_f16_x4_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  const int64_t np = n & ~int64_t{31};
  __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j) {
      const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 8 * j)));
      const __m256 vy = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i + 8 * j)));
      s[j] = _mm256_fmadd_ps(vx, vy, s[j]);
    }
  const __m256 v = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  r = _mm_hadd_ps(r, r);
  r = _mm_hadd_ps(r, r);
  double sum = _mm_cvtss_f32(r);
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(h2f(x[i]) * h2f(y[i]));
  return static_cast<float>(sum);
}

namespace {
inline __m256 load_bf16x8(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
}  // namespace

float vec_dot_bf16_bf16_avx2(int64_t n, const void* w, const void* a) {
  if (n % 8 != 0) return vec_dot_bf16_bf16_x4_avx2(n, w, a);
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), acc);
  return hsum8(acc);
}

namespace {
inline __m256 load_f16x8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Four weight rows against one activation row, each output in vec_dot_f16_f16_avx2's (or the
// bf16 one's) order: one 8-lane chain per row, hsum8 at the end. The four chains run side by
// side, so the loop is bound by loads and conversions rather than by one chain's FMA latency.
template <__m256 (*Load)(const uint16_t*)>
void dot4_sgemm_order(int64_t n, const void* const* w, const void* a, float* out) {
  const auto* y = static_cast<const uint16_t*>(a);
  const auto* x0 = static_cast<const uint16_t*>(w[0]);
  const auto* x1 = static_cast<const uint16_t*>(w[1]);
  const auto* x2 = static_cast<const uint16_t*>(w[2]);
  const auto* x3 = static_cast<const uint16_t*>(w[3]);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < n; i += 8) {
    if (i % 32 == 0) {  // one hint per 64-byte line of each row
      prefetch_ahead(x0 + i);
      prefetch_ahead(x1 + i);
      prefetch_ahead(x2 + i);
      prefetch_ahead(x3 + i);
    }
    const __m256 vy = Load(y + i);
    a0 = _mm256_fmadd_ps(Load(x0 + i), vy, a0);
    a1 = _mm256_fmadd_ps(Load(x1 + i), vy, a1);
    a2 = _mm256_fmadd_ps(Load(x2 + i), vy, a2);
    a3 = _mm256_fmadd_ps(Load(x3 + i), vy, a3);
  }
  out[0] = hsum8(a0);
  out[1] = hsum8(a1);
  out[2] = hsum8(a2);
  out[3] = hsum8(a3);
}
}  // namespace

void vec_dot4_f16_f16_avx2(int64_t n, const void* const* w, const void* a, float* out) {
  dot4_sgemm_order<load_f16x8>(n, w, a, out);
}
void vec_dot4_bf16_bf16_avx2(int64_t n, const void* const* w, const void* a, float* out) {
  dot4_sgemm_order<load_bf16x8>(n, w, a, out);
}

float vec_dot_bf16_bf16_x4_avx2(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  const auto load = load_bf16x8;
  const int64_t np = n & ~int64_t{31};
  __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j) s[j] = _mm256_fmadd_ps(load(x + i + 8 * j), load(y + i + 8 * j), s[j]);
  double sum = hsum8(_mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3])));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(bf2f(x[i]) * bf2f(y[i]));
  return static_cast<float>(sum);
}

}  // namespace ember::kernels
#endif
