#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/attention/attention.h"

namespace ember::kernels {
namespace {

inline __m256 load_h8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// x[l] = (a0 + a2) + (a1 + a3) lane-wise, then (x0+x4 + x1+x5) + (x2+x6 + x3+x7).
inline float reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 x = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 h = _mm_hadd_ps(t, t);
  return _mm_cvtss_f32(_mm_hadd_ps(h, h));
}

// (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
inline float reduce1(__m256 a) {
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_add_ss(u, _mm_movehdup_ps(u)));
}

float qk_dot_avx2(const float* q, const uint16_t* k, int64_t D, int accs) {
  if (D % (8 * accs) != 0) return attention_kernels_scalar().qk_dot(q, k, D, accs);
  if (accs == 1) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load_h8(k + d), a);
    return reduce1(a);
  }
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t d = 0; d < D; d += kAttnLanes)
    for (int r = 0; r < 4; ++r) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8 * r), load_h8(k + d + 8 * r), a[r]);
  return reduce4(a[0], a[1], a[2], a[3]);
}

void pv_accumulate_avx2(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D, int accs) {
  if (D % 8 != 0) return attention_kernels_scalar().pv_accumulate(lanes, j, p, v, D, accs);
  float* row = lanes + (j % (8 * accs)) * D;
  const __m256 pv = _mm256_set1_ps(p);
  for (int64_t d = 0; d < D; d += 8)
    _mm256_storeu_ps(row + d, _mm256_fmadd_ps(pv, load_h8(v + d), _mm256_loadu_ps(row + d)));
}

void pv_reduce_avx2(const float* lanes, float* out, int64_t D, int accs) {
  if (D % 8 != 0) return attention_kernels_scalar().pv_reduce(lanes, out, D, accs);
  // Column d of lane l is lanes[l * D + d]; vectorise over d, keeping the scalar order.
  auto at = [&](int l, int64_t d) { return _mm256_loadu_ps(lanes + l * D + d); };
  for (int64_t d = 0; d < D; d += 8) {
    if (accs == 1) {
      const __m256 t0 = _mm256_add_ps(at(0, d), at(4, d)), t1 = _mm256_add_ps(at(1, d), at(5, d));
      const __m256 t2 = _mm256_add_ps(at(2, d), at(6, d)), t3 = _mm256_add_ps(at(3, d), at(7, d));
      _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
      continue;
    }
    __m256 x[8];
    for (int l = 0; l < 8; ++l)
      x[l] = _mm256_add_ps(_mm256_add_ps(at(l, d), at(16 + l, d)), _mm256_add_ps(at(8 + l, d), at(24 + l, d)));
    const __m256 t0 = _mm256_add_ps(x[0], x[4]), t1 = _mm256_add_ps(x[1], x[5]);
    const __m256 t2 = _mm256_add_ps(x[2], x[6]), t3 = _mm256_add_ps(x[3], x[7]);
    _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));
  }
}

}  // namespace

const AttentionKernels& attention_kernels_avx2() {
  static const AttentionKernels k{"avx2", qk_dot_avx2, pv_accumulate_avx2, pv_reduce_avx2};
  return k;
}

}  // namespace ember::kernels
#endif
