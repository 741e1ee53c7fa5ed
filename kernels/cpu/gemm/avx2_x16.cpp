// The x16 matmuls (gemm.h, pack.h) with AVX2. q4_1x16: each 16-row group as two halves of 8 rows, one
// ymm lane per row. vpmaddubsw on the low and the high nibbles (each int16 at most 2 * 15 * 128
// in magnitude, so their sum cannot saturate) and vpmaddwd give the rows' exact integer block
// sums; the scaling is the scalar oracle's, so the bits are those of gemm_q4_1x16_q8_1 and of
// the AVX-512 kernel.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"

namespace ember::kernels {
namespace {

constexpr int kAhead = 2048;

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

template <int R>
void tile(const BlockQ4_1x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, int half, float* y) {
  const BlockQ8_1* act[R];
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_1*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = _mm256_setzero_ps();
  }
  const float* ad = p.ad + r0;
  const float* as = p.as + r0;
  const __m256i low = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride, as += p.s_stride) {
    if (half == 0) {
      const char* ahead = reinterpret_cast<const char*>(w + i) + kAhead;
#pragma GCC unroll 5
      for (int l = 0; l < 5; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    }
    __m256i s[R];
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qs[t][8 * half]));
      const __m256i lo = _mm256_and_si256(v, low);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i x = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(act[r][i].qs + 4 * t)),
                                           _mm256_maddubs_epi16(hi, bcast4(act[r][i].qs + 16 + 4 * t)));
        const __m256i x32 = _mm256_madd_epi16(x, ones);
        s[r] = t == 0 ? x32 : _mm256_add_epi32(s[r], x32);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].d + 8 * half)));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].m + 8 * half)));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(ad[r]));
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s[r]), acc[r]);
      acc[r] = _mm256_fmadd_ps(mw, _mm256_set1_ps(as[r]), acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + (r0 + r) * p.y_stride + 8 * half, acc[r]);
}

// q8_0x16: |w| as vpmaddubsw's unsigned operand and w's sign moved onto the activation (as the
// per-row kernels do; activations are never -128), so each int16 pair sum is at most
// 2 * 128 * 127 and cannot saturate.
template <int R>
void tile_q8(const BlockQ8_0x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, int half, float* y) {
  const BlockQ8_0* act[R];
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_0*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = _mm256_setzero_ps();
  }
  const float* ad = p.ad + r0;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride) {
    if (half == 0) {
      const char* ahead = reinterpret_cast<const char*>(w + i) + kAhead;
#pragma GCC unroll 9
      for (int l = 0; l < 9; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    }
    __m256i s[R];
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qs[t][8 * half]));
      const __m256i ax = _mm256_sign_epi8(v, v);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i x = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(bcast4(act[r][i].qs + 4 * t), v)), ones);
        s[r] = t == 0 ? x : _mm256_add_epi32(s[r], x);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].d + 8 * half)));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(ad[r])), _mm256_cvtepi32_ps(s[r]), acc[r]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + (r0 + r) * p.y_stride + 8 * half, acc[r]);
}

template <int R> struct Q4_1Tile {
  static void run(const void* w, int64_t nb, const GemmX16Args& p, int64_t r0, int half, float* y) {
    tile<R>(static_cast<const BlockQ4_1x16*>(w), nb, p, r0, half, y);
  }
};
template <int R> struct Q8_0Tile {
  static void run(const void* w, int64_t nb, const GemmX16Args& p, int64_t r0, int half, float* y) {
    tile_q8<R>(static_cast<const BlockQ8_0x16*>(w), nb, p, r0, half, y);
  }
};

// Each group as two halves of 8 rows; every activation row over each half, 4 at a time.
template <template <int> class T>
void run_groups(const GemmX16Args& p, size_t block_bytes) {
  assert(p.k % kQK == 0 && p.rows >= 1 && p.s_stride >= p.rows);
  const int64_t nb = p.k / kQK;
  const auto* w = static_cast<const uint8_t*>(p.w);
  for (int64_t g = 0; g < p.groups; ++g, w += nb * block_bytes) {
    float* y = p.y + 16 * g;
    for (int half = 0; half < 2; ++half) {
      int64_t r = 0;
      for (; r + 4 <= p.rows; r += 4) T<4>::run(w, nb, p, r, half, y);
      switch (p.rows - r) {
        case 3: T<3>::run(w, nb, p, r, half, y); break;
        case 2: T<2>::run(w, nb, p, r, half, y); break;
        case 1: T<1>::run(w, nb, p, r, half, y); break;
        default: break;
      }
    }
  }
}

}  // namespace

void gemm_q4_1x16_q8_1_avx2(const GemmX16Args& p) { run_groups<Q4_1Tile>(p, sizeof(BlockQ4_1x16)); }
void gemm_q8_0x16_q8_0_avx2(const GemmX16Args& p) { run_groups<Q8_0Tile>(p, sizeof(BlockQ8_0x16)); }

}  // namespace ember::kernels
#endif
