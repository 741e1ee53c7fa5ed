#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/vecmath/vecmath.h"

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

inline __m256 round_f16x8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

// Rows j0..j1-1 of K or V as f32 values, row-major [j1 - j0][D]. A q8_0 row becomes f16(d * q)
// (the scalar path's dequantise-then-round), so both element types feed the same loops.
void convert_rows(const AttnTile& t, const KvRows& r, int64_t j0, int64_t j1, float* dst, float* deq) {
  const int64_t D = t.D;
  // Walk the block table incrementally (no division per row).
  int64_t blk = j0 / r.block, slot = j0 % r.block;
  const uint8_t* src = r.row(j0);
  for (int64_t j = j0; j < j1; ++j, dst += D) {
    if (slot == r.block) {
      ++blk;
      slot = 0;
      src = r.base + static_cast<size_t>(r.blocks[blk]) * r.block_stride;
    }
    ++slot;
    const uint8_t* row = src;
    src += r.slot_stride;
    if (t.elem == KvElem::kF16) {
      const auto* h = reinterpret_cast<const uint16_t*>(row);
      for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(dst + d, load_h8(h + d));
    } else {
      dequantize_row_q8_0(row, deq, D);
      for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(dst + d, round_f16x8(_mm256_loadu_ps(deq + d)));
    }
  }
}

// Scores s[j] = (q · k_j) * scale for j in [j0, j1), k rows from kf (row j at kf + (j - j0) * D),
// with one 8-lane accumulator per score (tinyBLAS order); four positions at a time so four
// independent FMA chains are in flight. Returns the running max.
float scores_acc1(const float* q, const float* kf, int64_t D, int64_t j0, int64_t j1, float scale, float* s, float mx) {
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const float* k0 = kf + (j - j0) * D;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t d = 0; d < D; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + D + d), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * D + d), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * D + d), a3);
    }
    s[j] = reduce1(a0) * scale;
    s[j + 1] = reduce1(a1) * scale;
    s[j + 2] = reduce1(a2) * scale;
    s[j + 3] = reduce1(a3) * scale;
    for (int u = 0; u < 4; ++u) mx = s[j + u] > mx ? s[j + u] : mx;
  }
  for (; j < j1; ++j) {
    const float* k0 = kf + (j - j0) * D;
    __m256 a = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k0 + d), a);
    s[j] = reduce1(a) * scale;
    mx = s[j] > mx ? s[j] : mx;
  }
  return mx;
}

// The same with ggml's four accumulators (D a multiple of 32).
float scores_acc4(const float* q, const float* kf, int64_t D, int64_t j0, int64_t j1, float scale, float* s, float mx) {
  for (int64_t j = j0; j < j1; ++j) {
    const float* k0 = kf + (j - j0) * D;
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t d = 0; d < D; d += kAttnLanes)
      for (int r = 0; r < 4; ++r)
        a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8 * r), _mm256_loadu_ps(k0 + d + 8 * r), a[r]);
    s[j] = reduce4(a[0], a[1], a[2], a[3]) * scale;
    mx = s[j] > mx ? s[j] : mx;
  }
  return mx;
}

// lanes[r][d] += p_j * v_j[d] for the positions j in [j0, j1) with j % L == r, in increasing j:
// the order pv_accumulate gives them one position at a time, with each lane row's columns kept in
// registers NV * 8 at a time. vf holds the rows from j0 (j0 a multiple of L).
template <int NV>
void pv_columns(float* lanes, const float* p, const float* vf, int64_t D, int64_t d0, int L, int64_t j0, int64_t j1) {
  for (int r = 0; r < L && j0 + r < j1; ++r) {
    float* row = lanes + r * D + d0;
    __m256 acc[NV];
    for (int u = 0; u < NV; ++u) acc[u] = _mm256_loadu_ps(row + 8 * u);
    for (int64_t j = j0 + r; j < j1; j += L) {
      const __m256 pv = _mm256_set1_ps(p[j]);
      const float* v = vf + (j - j0) * D + d0;
      for (int u = 0; u < NV; ++u) acc[u] = _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + 8 * u), acc[u]);
    }
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(row + 8 * u, acc[u]);
  }
}

void tile_avx2(const AttnTile& t) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().tile(t);
  const int L = 8 * t.accs;
  const VecMathKernels& vm = vecmath_kernels();
  float* kf = t.scratch + static_cast<size_t>(t.nq) * t.score_stride;
  float* vf = kf + kAttnChunk * D;
  float* deq = vf + kAttnChunk * D;
  float* lanes = deq + D;  // [nq][L][D]
  int32_t pmax = 0;
  for (int i = 0; i < t.nq; ++i) pmax = std::max(pmax, t.last[i]);
  float mx[kAttnMaxTile];
  for (int i = 0; i < t.nq; ++i) mx[i] = -INFINITY;

  // Scores, a chunk of K rows at a time (converted once for every query of the tile).
  for (int64_t j0 = 0; j0 <= pmax; j0 += kAttnChunk) {
    const int64_t j1 = std::min<int64_t>(j0 + kAttnChunk, pmax + 1);
    convert_rows(t, t.k, j0, j1, kf, deq);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < j0) continue;
      const int64_t je = std::min<int64_t>(j1, t.last[i] + 1);
      float* s = t.scratch + static_cast<size_t>(i) * t.score_stride;
      mx[i] = t.accs == 1 ? scores_acc1(t.q + i * D, kf, D, j0, je, t.scale, s, mx[i])
                          : scores_acc4(t.q + i * D, kf, D, j0, je, t.scale, s, mx[i]);
    }
  }
  // Softmax per query, exactly as the scalar path.
  for (int i = 0; i < t.nq; ++i) {
    float* s = t.scratch + static_cast<size_t>(i) * t.score_stride;
    const int32_t p = t.last[i];
    double sum = 0;
    for (int32_t j0 = 0; j0 <= p; j0 += 8) {
      if (j0 + 8 <= p + 1) {
        sum += static_cast<double>(vm.exp8_sum(s + j0, mx[i]));
        continue;
      }
      float v[8];
      for (int l = 0; l < 8; ++l) v[l] = j0 + l <= p ? s[j0 + l] : -INFINITY;
      sum += static_cast<double>(vm.exp8_sum(v, mx[i]));
      for (int l = 0; l < 8 && j0 + l <= p; ++l) s[j0 + l] = v[l];
    }
    const float inv = static_cast<float>(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    int32_t j = 0;
    for (; j + 8 <= p + 1; j += 8) _mm256_storeu_ps(s + j, round_f16x8(_mm256_mul_ps(_mm256_loadu_ps(s + j), vinv)));
    for (; j <= p; ++j) {
      float x[8] = {s[j] * inv};
      _mm256_storeu_ps(x, round_f16x8(_mm256_loadu_ps(x)));
      s[j] = x[0];
    }
  }
  // p · V, a chunk of V rows at a time.
  std::memset(lanes, 0, sizeof(float) * static_cast<size_t>(t.nq) * L * D);
  for (int64_t j0 = 0; j0 <= pmax; j0 += kAttnChunk) {
    const int64_t j1 = std::min<int64_t>(j0 + kAttnChunk, pmax + 1);
    convert_rows(t, t.v, j0, j1, vf, deq);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < j0) continue;
      const int64_t je = std::min<int64_t>(j1, t.last[i] + 1);
      const float* p = t.scratch + static_cast<size_t>(i) * t.score_stride;
      float* li = lanes + static_cast<size_t>(i) * L * D;
      int64_t d0 = 0;
      for (; d0 + 32 <= D; d0 += 32) pv_columns<4>(li, p, vf, D, d0, L, j0, je);
      switch ((D - d0) / 8) {
        case 3: pv_columns<3>(li, p, vf, D, d0, L, j0, je); break;
        case 2: pv_columns<2>(li, p, vf, D, d0, L, j0, je); break;
        case 1: pv_columns<1>(li, p, vf, D, d0, L, j0, je); break;
        default: break;
      }
    }
  }
  for (int i = 0; i < t.nq; ++i) pv_reduce_avx2(lanes + static_cast<size_t>(i) * L * D, t.out[i], D, t.accs);
}

// Flash-decoding phases (attention.h). t.scratch: [kAttnChunk][D] K rows, then [D] for a q8_0
// row, then [D] for one widened V row.
void split_scores_avx2(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, float* mx) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().split_scores(t, sh, j0, j1, mx);
  float* kf = t.scratch;
  float* deq = kf + kAttnChunk * D;
  for (int64_t c0 = j0; c0 < j1; c0 += kAttnChunk) {
    const int64_t c1 = std::min<int64_t>(c0 + kAttnChunk, j1);
    int64_t need = c0;  // rows any query of the tile reads in this chunk
    for (int i = 0; i < t.nq; ++i) need = std::max<int64_t>(need, std::min<int64_t>(c1, t.last[i] + 1));
    if (need == c0) continue;
    convert_rows(t, t.k, c0, need, kf, deq);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < c0) continue;
      const int64_t je = std::min<int64_t>(need, t.last[i] + 1);
      float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
      // The chunk's rows start at kf; scores_acc* index them from c0.
      mx[i] = t.accs == 1 ? scores_acc1(t.q + i * D, kf, D, c0, je, t.scale, s, mx[i])
                          : scores_acc4(t.q + i * D, kf, D, c0, je, t.scale, s, mx[i]);
    }
  }
}

// The exponentials are vecmath's (already AVX2 where the CPU has it): the scalar phase serves.
void split_exp_avx2(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, const float* mx) {
  attention_kernels_scalar().split_exp(t, sh, j0, j1, mx);
}

inline float round_f16_1(float x) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT))); }

void split_pv_avx2(const AttnTile& t, const AttnShared& sh, int r0, int r1) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().split_pv(t, sh, r0, r1);
  const int L = 8 * t.accs;
  float* deq = t.scratch + kAttnChunk * D;
  float* vrow = deq + D;
  for (int i = 0; i < t.nq; ++i) {
    const int32_t p = t.last[i];
    double sum = 0;
    for (int64_t g = 0; g <= p / 8; ++g) sum += static_cast<double>(sh.csum[i * sh.csum_stride + g]);
    const float inv = static_cast<float>(1.0 / sum);
    const float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
    float* lanes = sh.lanes + static_cast<size_t>(i) * L * D;
    for (int r = r0; r < r1; ++r) {
      float* out = lanes + r * D;
      for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(out + d, _mm256_setzero_ps());
      for (int64_t j = r; j <= p; j += L) {
        const __m256 pv = _mm256_set1_ps(round_f16_1(s[j] * inv));
        const uint8_t* src = t.v.row(j);
        if (t.elem == KvElem::kF16) {
          const auto* h = reinterpret_cast<const uint16_t*>(src);
          for (int64_t d = 0; d < D; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pv, load_h8(h + d), _mm256_loadu_ps(out + d)));
        } else {
          dequantize_row_q8_0(src, deq, D);
          for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(vrow + d, round_f16x8(_mm256_loadu_ps(deq + d)));
          for (int64_t d = 0; d < D; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pv, _mm256_loadu_ps(vrow + d), _mm256_loadu_ps(out + d)));
        }
      }
    }
  }
}

}  // namespace

const AttentionKernels& attention_kernels_avx2() {
  static const AttentionKernels k{"avx2",         qk_dot_avx2,    pv_accumulate_avx2, pv_reduce_avx2, tile_avx2,
                                  split_scores_avx2, split_exp_avx2, split_pv_avx2};
  return k;
}

}  // namespace ember::kernels
#endif
