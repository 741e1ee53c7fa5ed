// AVX2 + FMA + F16C multi-row K-quant dot products in llama.cpp's batched arithmetic (compiled
// with those flags for this file only); the weight super-block is decoded once for all rows.
// q4_K (repacked by llama.cpp): each output row has two f32 accumulators (sums, mins); rows in
// a complete group of 4 take one fused multiply-add per 64 elements
// (vec_dot_q4_K_q8_K_x8_gemm_avx2), the 1..3 rows after the last group one per super-block
// (vec_dot_q4_K_q8_K_x8_avx2).
// q6_K: a matmul of 8 rows or more as llama.cpp's tiled matmul (vec_dot_q6_K_q8_K_tiled_avx2),
// smaller ones as its vec_dot (vec_dot_q6_K_q8_K_avx2, 8 f32 lanes per row).
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/avx2_kquant.h"

#include <cassert>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {

template <int R, bool kGroup>
void q4_K_x8_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_K*>(p.w);
  const BlockQ8_K* y[R];
  float acc[R], acc_m[R];
  for (int r = 0; r < R; ++r) {
    y[r] = reinterpret_cast<const BlockQ8_K*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = 0.0f;
    acc_m[r] = 0.0f;
  }
  const int64_t nb = p.n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    int sc[8], m[8];
    k_scales_mins(x[i].scales, sc, m);
    Q4KDecoded dec;
    q4_K_decode(x[i], sc, &dec);
    const float dx = h2f(x[i].d), mx = h2f(x[i].dmin);
    for (int r = 0; r < R; ++r) {
      const BlockQ8_K& yb = y[r][i];
      const __m128i sums = q4_K_pair_sums(dec, yb.qs);
      const __m128i mins = k_min_products(m, yb.bsums);
      const float d = dx * yb.d, dmin = mx * yb.d;
      if constexpr (kGroup) {
        int s[4], mm[4];
        _mm_storeu_si128(reinterpret_cast<__m128i*>(s), sums);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(mm), mins);
        for (int c = 0; c < 4; ++c) {
          acc[r] = fma1(static_cast<float>(s[c]), d, acc[r]);
          acc_m[r] = fma1(static_cast<float>(mm[c]), dmin, acc_m[r]);
        }
      } else {
        acc[r] = fma1(static_cast<float>(hsum4_i32(sums)), d, acc[r]);
        acc_m[r] = fma1(static_cast<float>(hsum4_i32(mins)), dmin, acc_m[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = acc[r] - acc_m[r];
}

template <int R, bool kTiled>
void q6_K_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ6_K*>(p.w);
  const BlockQ8_K* y[R];
  float acc[R];
  __m256 acc8[R];
  for (int r = 0; r < R; ++r) {
    y[r] = reinterpret_cast<const BlockQ8_K*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r] = 0.0f;
    acc8[r] = _mm256_setzero_ps();
  }
  const int64_t nb = p.n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    Q6KDecoded dec;
    q6_K_decode(x[i], &dec);
    const float dx = h2f(x[i].d);
    for (int r = 0; r < R; ++r) {
      const BlockQ8_K& yb = y[r][i];
      const __m256i sums = q6_K_lane_sums(dec, yb);
      if constexpr (kTiled) {
        const float t = dx * static_cast<float>(hsum8_i32(sums));
        acc[r] = fma1(t, yb.d, acc[r]);
      } else {
        acc8[r] = _mm256_fmadd_ps(_mm256_set1_ps(yb.d * dx), _mm256_cvtepi32_ps(sums), acc8[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = kTiled ? acc[r] : hsum8(acc8[r]);
}

template <bool kTiled>
void q6_K_run(const DotRowsArgs& p) {
  int64_t r = 0;
  for (; r + 4 <= p.rows; r += 4) q6_K_rows<4, kTiled>(p, r);
  switch (p.rows - r) {
    case 3: q6_K_rows<3, kTiled>(p, r); break;
    case 2: q6_K_rows<2, kTiled>(p, r); break;
    case 1: q6_K_rows<1, kTiled>(p, r); break;
    default: break;
  }
}

}  // namespace

void vec_dot_rows_q6_K_q8_K_avx2(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK_K == 0);
  if ((p.batch_rows > 0 ? p.batch_rows : p.rows) >= 8) {
    q6_K_run<true>(p);
  } else {
    q6_K_run<false>(p);
  }
}

void vec_dot_rows_q4_K_q8_K_x8_avx2(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK_K == 0);
  int64_t r = 0;
  for (; r + 4 <= p.rows; r += 4) q4_K_x8_rows<4, true>(p, r);
  switch (p.rows - r) {
    case 3: q4_K_x8_rows<3, false>(p, r); break;
    case 2: q4_K_x8_rows<2, false>(p, r); break;
    case 1: q4_K_x8_rows<1, false>(p, r); break;
    default: break;
  }
}

}  // namespace ember::kernels
#endif
