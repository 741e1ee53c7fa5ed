// AVX2 + FMA + F16C multi-row dot products (compiled with those flags for this file only).
// Per output row these perform the float operations of the single-row kernels in
// quant/avx2.cpp, in the same order (integer lane sums, one FMA per block into the row's own
// 8-lane accumulator, the same horizontal reduction, the q4_1 min term added last); only the
// weight block's decoding is shared across the rows. Shared helpers: kernels/cpu/x86/avx2_common.h.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"

#include <cassert>
#include <cmath>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {




// s8*s8 with x's magnitude precomputed once per weight block: |x| as unsigned, x's sign on y.
inline __m256 dot_s8s8(__m256i x_abs, __m256i x, __m256i y) {
  return dot_u8s8(x_abs, _mm256_sign_epi8(y, x));
}


inline __m256i load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Activation block i of row r.
template <typename B>
inline const B* act_row(const DotRowsArgs& p, int64_t r) {
  return reinterpret_cast<const B*>(p.a + static_cast<size_t>(r) * p.a_stride);
}

template <int R>
void q4_0_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_0*>(p.w);
  const BlockQ8_0* y[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_set1_ps(dx * h2f(y[r][i].d));
      acc[r] = _mm256_fmadd_ps(d, dot_s8s8(ax, qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]);
}

// Twin of quant's vec_dot_q4_0_q8_0_x8_avx2 (llama.cpp's repacked q4_0 arithmetic): each
// block's whole integer sum, scaled and added with one scalar FMA per row.
template <int R>
void q4_0_x8_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_0*>(p.w);
  const BlockQ8_0* y[R];
  float acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = 0.0f;
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256i prod = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(load32(y[r][i].qs), qx)),
                                             _mm256_set1_epi16(1));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(prod), _mm256_extracti128_si256(prod, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      acc[r] = std::fma(static_cast<float>(_mm_cvtsi128_si32(s4)), dx * h2f(y[r][i].d), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = acc[r];
}

template <int R>
void q4_1_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ4_1*>(p.w);
  const BlockQ8_1* y[R];
  __m256 acc[R];
  float mins[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_1>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
    mins[r] = 0.0f;
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d), mx = h2f(x[i].m);
    const __m256 vdx = _mm256_set1_ps(dx);
    const __m256i qx = unpack_nibbles(x[i].qs);
    for (int r = 0; r < R; ++r) {
      mins[r] += mx * h2f(y[r][i].s);
      const __m256 d = _mm256_mul_ps(vdx, _mm256_set1_ps(h2f(y[r][i].d)));
      acc[r] = _mm256_fmadd_ps(d, dot_u8s8(qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]) + mins[r];
}

template <int R>
void q8_0_rows(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const BlockQ8_0*>(p.w);
  const BlockQ8_0* y[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    y[r] = act_row<BlockQ8_0>(p, r0 + r);
    acc[r] = _mm256_setzero_ps();
  }
  const int64_t nb = p.n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float dx = h2f(x[i].d);
    const __m256i qx = load32(x[i].qs);
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_set1_ps(dx * h2f(y[r][i].d));
      acc[r] = _mm256_fmadd_ps(d, dot_s8s8(ax, qx, load32(y[r][i].qs)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) p.y[(r0 + r) * p.y_stride] = hsum8(acc[r]);
}

// Groups of 4 rows, then one call for the 1..3 left over.
template <template <int> class K>
void run_rows(const DotRowsArgs& p) {
  assert(p.rows >= 1 && p.n % kQK == 0);
  int64_t r = 0;
  for (; r + 4 <= p.rows; r += 4) K<4>::run(p, r);
  switch (p.rows - r) {
    case 3: K<3>::run(p, r); break;
    case 2: K<2>::run(p, r); break;
    case 1: K<1>::run(p, r); break;
    default: break;
  }
}

template <int R> struct Q4_0 { static void run(const DotRowsArgs& p, int64_t r0) { q4_0_rows<R>(p, r0); } };
template <int R> struct Q4_0x8 { static void run(const DotRowsArgs& p, int64_t r0) { q4_0_x8_rows<R>(p, r0); } };
template <int R> struct Q4_1 { static void run(const DotRowsArgs& p, int64_t r0) { q4_1_rows<R>(p, r0); } };
template <int R> struct Q8_0 { static void run(const DotRowsArgs& p, int64_t r0) { q8_0_rows<R>(p, r0); } };

}  // namespace

void vec_dot_rows_q4_0_q8_0_avx2(const DotRowsArgs& p) { run_rows<Q4_0>(p); }
void vec_dot_rows_q4_0_q8_0_x8_avx2(const DotRowsArgs& p) { run_rows<Q4_0x8>(p); }
void vec_dot_rows_q4_1_q8_1_avx2(const DotRowsArgs& p) { run_rows<Q4_1>(p); }
void vec_dot_rows_q8_0_q8_0_avx2(const DotRowsArgs& p) { run_rows<Q8_0>(p); }

}  // namespace ember::kernels
#endif
