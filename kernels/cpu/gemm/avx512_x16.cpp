// The x16 matmuls (gemm.h, pack.h) with AVX-512 VNNI. q4_1x16: one zmm lane per weight row of a
// 16-row group. Per block and activation row, eight vpdpbusd (the 4-byte groups of the
// activation broadcast to every lane) give the 16 rows' exact integer sums; then one multiply
// and two fused multiply-adds scale all 16 outputs, in the block-sum order of the scalar oracle
// gemm_q4_1x16_q8_1. Up to 8 activation rows meet each unpacked weight block.
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"

#if !defined(__AVX512VNNI__) || !defined(__AVX512BW__)
#error "kernels/cpu/gemm/avx512_x16.cpp needs -mavx512bw -mavx512vnni"
#endif

namespace ember::kernels {
namespace {

// Weight blocks are asked for this far ahead of the one being read (a group's blocks and the
// next group's follow each other in memory): about 6 blocks, as prefetch_ahead does for rows.
constexpr int kAhead = 2048;

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

template <int R>
void tile(const BlockQ4_1x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
  const BlockQ8_1* act[R];
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_1*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = _mm512_setzero_ps();
  }
  const float* ad = p.ad + r0;
  const float* as = p.as + r0;
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride, as += p.s_stride) {
    const char* ahead = reinterpret_cast<const char*>(w + i) + kAhead;
#pragma GCC unroll 5
    for (int l = 0; l < 5; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    __m512i s0[R], s1[R];
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const __m512i v = _mm512_loadu_si512(w[i].qs[t]);
      const __m512i lo = _mm512_and_si512(v, low);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i a0 = bcast4(act[r][i].qs + 4 * t), a1 = bcast4(act[r][i].qs + 16 + 4 * t);
        s0[r] = _mm512_dpbusd_epi32(t == 0 ? _mm512_setzero_si512() : s0[r], lo, a0);
        s1[r] = _mm512_dpbusd_epi32(t == 0 ? _mm512_setzero_si512() : s1[r], hi, a1);
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].d)));
    const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].m)));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ad[r]));
      acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])), acc[r]);
      acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(as[r]), acc[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + (r0 + r) * p.y_stride, acc[r]);
}

// q8_0x16: the weights' signed bytes + 128 (one xor per 64 bytes, shared by every activation
// row) are vpdpbusd's unsigned operand; subtracting 128 * (the activation block's sum) leaves
// the exact signed sum. Two chains of four per block and row.
template <int R>
void tile_q8(const BlockQ8_0x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
  const BlockQ8_0* act[R];
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_0*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = _mm512_setzero_ps();
  }
  const float* ad = p.ad + r0;
  const int32_t* asum = p.asum + r0;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = 0; i < nb; ++i, ad += p.s_stride, asum += p.s_stride) {
    const char* ahead = reinterpret_cast<const char*>(w + i) + kAhead;
#pragma GCC unroll 9
    for (int l = 0; l < 9; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    __m512i s0[R], s1[R];
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
      const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(w[i].qs[t]), bias);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i a = bcast4(act[r][i].qs + 4 * t);
        if (t % 2 == 0) s0[r] = _mm512_dpbusd_epi32(t == 0 ? _mm512_setzero_si512() : s0[r], u, a);
        else s1[r] = _mm512_dpbusd_epi32(t == 1 ? _mm512_setzero_si512() : s1[r], u, a);
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].d)));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i isum = _mm512_sub_epi32(_mm512_add_epi32(s0[r], s1[r]), _mm512_set1_epi32(asum[r]));
      acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(ad[r])), _mm512_cvtepi32_ps(isum), acc[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + (r0 + r) * p.y_stride, acc[r]);
}

template <int R> struct Q4_1Tile {
  static void run(const void* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
    tile<R>(static_cast<const BlockQ4_1x16*>(w), nb, p, r0, y);
  }
};
template <int R> struct Q8_0Tile {
  static void run(const void* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
    tile_q8<R>(static_cast<const BlockQ8_0x16*>(w), nb, p, r0, y);
  }
};

// Every activation row over each group, 8 at a time, then the 1..7 left.
template <template <int> class T>
void run_groups(const GemmX16Args& p, size_t block_bytes) {
  assert(p.k % kQK == 0 && p.rows >= 1 && p.s_stride >= p.rows);
  const int64_t nb = p.k / kQK;
  const auto* w = static_cast<const uint8_t*>(p.w);
  for (int64_t g = 0; g < p.groups; ++g, w += nb * block_bytes) {
    float* y = p.y + 16 * g;
    int64_t r = 0;
    for (; r + 8 <= p.rows; r += 8) T<8>::run(w, nb, p, r, y);
    switch (p.rows - r) {
      case 7: T<7>::run(w, nb, p, r, y); break;
      case 6: T<6>::run(w, nb, p, r, y); break;
      case 5: T<5>::run(w, nb, p, r, y); break;
      case 4: T<4>::run(w, nb, p, r, y); break;
      case 3: T<3>::run(w, nb, p, r, y); break;
      case 2: T<2>::run(w, nb, p, r, y); break;
      case 1: T<1>::run(w, nb, p, r, y); break;
      default: break;
    }
  }
}

}  // namespace

void gemm_q4_1x16_q8_1_avx512(const GemmX16Args& p) { run_groups<Q4_1Tile>(p, sizeof(BlockQ4_1x16)); }
void gemm_q8_0x16_q8_0_avx512(const GemmX16Args& p) { run_groups<Q8_0Tile>(p, sizeof(BlockQ8_0x16)); }

}  // namespace ember::kernels
#endif
