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

// Positions j, j+1, ... of a paged KvRows, walking the block table incrementally (no division
// per row). Only positions below the sequence's end may be reached: the table ends there.
struct RowWalk {
  const KvRows* r;
  int64_t blk, slot;
  const uint8_t* p;
  RowWalk(const KvRows& rows, int64_t j) : r(&rows), blk(j / rows.block), slot(j % rows.block), p(rows.row(j)) {}
  void advance(int64_t n) {
    slot += n;
    if (slot < r->block) {
      p += static_cast<size_t>(n) * r->slot_stride;
      return;
    }
    blk += slot / r->block;
    slot %= r->block;
    p = r->base + static_cast<size_t>(r->blocks[blk]) * r->block_stride + static_cast<size_t>(slot) * r->slot_stride;
  }
};

inline size_t kv_row_bytes(const AttnTile& t) {
  return t.elem == KvElem::kF16 ? static_cast<size_t>(t.D) * 2 : static_cast<size_t>(t.D / 32) * sizeof(BlockQ8_0);
}

// K/V rows of a long context come from memory, not cache: the kernels ask for the rows they
// will read a chunk ahead, so the loads overlap the arithmetic (hints never fault).
inline void prefetch_row(const uint8_t* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p), e = a + bytes - 1;
  for (uintptr_t l = a & ~uintptr_t{63}; l <= e; l += 64) _mm_prefetch(reinterpret_cast<const char*>(l), _MM_HINT_T0);
}

void prefetch_rows(const AttnTile& t, const KvRows& r, int64_t j0, int64_t j1) {
  if (j0 >= j1) return;
  const size_t bytes = kv_row_bytes(t);
  RowWalk w(r, j0);
  for (int64_t j = j0;;) {
    prefetch_row(w.p, bytes);
    if (++j >= j1) break;
    w.advance(1);
  }
}

// One K/V row as D f32 values. A q8_0 row becomes f16(d * q), the scalar path's
// dequantise-then-round (d * q is one f32 product, d exact in f32), so both element types
// feed the same loops.
inline void widen_row(const AttnTile& t, const uint8_t* row, float* dst) {
  const int64_t D = t.D;
  if (t.elem == KvElem::kF16) {
    const auto* h = reinterpret_cast<const uint16_t*>(row);
    for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(dst + d, load_h8(h + d));
    return;
  }
  for (int64_t b = 0; b < D / 32; ++b, row += sizeof(BlockQ8_0), dst += 32) {
    uint16_t dh;
    std::memcpy(&dh, row, 2);
    const __m256 scale = _mm256_set1_ps(_cvtsh_ss(dh));
    const uint8_t* qs = row + 2;
    for (int u = 0; u < 4; ++u) {
      const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8 * u)));
      _mm256_storeu_ps(dst + 8 * u, round_f16x8(_mm256_mul_ps(_mm256_cvtepi32_ps(q), scale)));
    }
  }
}

// Rows j0..j1-1 of K or V as f32 values, row-major [j1 - j0][D], prefetching the rows
// kAttnChunk further on that lie below pf_end.
void convert_rows(const AttnTile& t, const KvRows& r, int64_t j0, int64_t j1, float* dst, int64_t pf_end) {
  const size_t bytes = kv_row_bytes(t);
  const int64_t pf0 = j0 + kAttnChunk;
  RowWalk w(r, j0);
  if (pf0 < pf_end) {
    RowWalk pf(r, pf0);
    for (int64_t j = j0; j < j1; ++j, dst += t.D) {
      widen_row(t, w.p, dst);
      if (j + 1 < j1) w.advance(1);
      if (j + kAttnChunk < pf_end) {
        prefetch_row(pf.p, bytes);
        if (j + kAttnChunk + 1 < pf_end) pf.advance(1);
      }
    }
    return;
  }
  for (int64_t j = j0; j < j1; ++j, dst += t.D) {
    widen_row(t, w.p, dst);
    if (j + 1 < j1) w.advance(1);
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

// lanes[r][d] += p_j * v_j[d] for the lane rows r in [r0, r1) and the positions j in [j0, j1)
// with j % L == r, in increasing j: the order pv_accumulate gives them one position at a time,
// with each lane row's columns kept in registers NV * 8 at a time. j0 is a multiple of L; vf
// holds only the rows of those lane rows, group by group: position j's row is row
// ((j - j0) / L) * (r1 - r0) + (j % L - r0). p[j - j0] is position j's probability.
template <int NV>
void pv_columns(float* lanes, const float* p, const float* vf, int64_t D, int64_t d0, int L, int r0, int r1, int64_t j0,
                int64_t j1) {
  const int64_t step = static_cast<int64_t>(r1 - r0) * D;
  for (int r = r0; r < r1 && j0 + r < j1; ++r) {
    float* row = lanes + r * D + d0;
    __m256 acc[NV];
    for (int u = 0; u < NV; ++u) acc[u] = _mm256_loadu_ps(row + 8 * u);
    const float* v = vf + (r - r0) * D + d0;
    for (int64_t j = j0 + r; j < j1; j += L, v += step) {
      const __m256 pv = _mm256_set1_ps(p[j - j0]);
      for (int u = 0; u < NV; ++u) acc[u] = _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + 8 * u), acc[u]);
    }
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(row + 8 * u, acc[u]);
  }
}

void pv_window(float* lanes, const float* p, const float* vf, int64_t D, int L, int r0, int r1, int64_t j0, int64_t j1) {
  int64_t d0 = 0;
  for (; d0 + 64 <= D; d0 += 64) pv_columns<8>(lanes, p, vf, D, d0, L, r0, r1, j0, j1);
  switch ((D - d0) / 8) {
    case 7: pv_columns<7>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 6: pv_columns<6>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 5: pv_columns<5>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 4: pv_columns<4>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 3: pv_columns<3>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 2: pv_columns<2>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    case 1: pv_columns<1>(lanes, p, vf, D, d0, L, r0, r1, j0, j1); break;
    default: break;
  }
}

// Positions of V widened at a time by the p·V loops (the K chunk's scratch and the V chunk's
// together): a window holds 128 / L positions of each lane row.
constexpr int64_t kPvWindow = 2 * kAttnChunk;

void tile_avx2(const AttnTile& t) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().tile(t);
  const int L = 8 * t.accs;
  const VecMathKernels& vm = vecmath_kernels();
  float* kf = t.scratch + static_cast<size_t>(t.nq) * t.score_stride;
  float* vf = kf;  // [kPvWindow][D]: the K chunk and V chunk of the scratch
  float* lanes = kf + (kPvWindow + 1) * D;  // [nq][L][D]
  int32_t pmax = 0;
  for (int i = 0; i < t.nq; ++i) pmax = std::max(pmax, t.last[i]);
  const int64_t n = pmax + 1;
  float mx[kAttnMaxTile];
  for (int i = 0; i < t.nq; ++i) mx[i] = -INFINITY;

  // Scores, a chunk of K rows at a time (converted once for every query of the tile).
  prefetch_rows(t, t.k, 0, std::min<int64_t>(kAttnChunk, n));
  for (int64_t j0 = 0; j0 < n; j0 += kAttnChunk) {
    const int64_t j1 = std::min<int64_t>(j0 + kAttnChunk, n);
    convert_rows(t, t.k, j0, j1, kf, n);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < j0) continue;
      const int64_t je = std::min<int64_t>(j1, t.last[i] + 1);
      float* s = t.scratch + static_cast<size_t>(i) * t.score_stride;
      mx[i] = t.accs == 1 ? scores_acc1(t.q + i * D, kf, D, j0, je, t.scale, s, mx[i])
                          : scores_acc4(t.q + i * D, kf, D, j0, je, t.scale, s, mx[i]);
    }
  }
  // The first V rows arrive while the softmax runs.
  prefetch_rows(t, t.v, 0, std::min<int64_t>(kAttnChunk, n));
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
  // p · V, a window of V rows at a time.
  std::memset(lanes, 0, sizeof(float) * static_cast<size_t>(t.nq) * L * D);
  for (int64_t j0 = 0; j0 < n; j0 += kPvWindow) {
    const int64_t j1 = std::min<int64_t>(j0 + kPvWindow, n);
    convert_rows(t, t.v, j0, j1, vf, n);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < j0) continue;
      const int64_t je = std::min<int64_t>(j1, t.last[i] + 1);
      const float* p = t.scratch + static_cast<size_t>(i) * t.score_stride + j0;
      pv_window(lanes + static_cast<size_t>(i) * L * D, p, vf, D, L, 0, L, j0, je);
    }
  }
  for (int i = 0; i < t.nq; ++i) pv_reduce_avx2(lanes + static_cast<size_t>(i) * L * D, t.out[i], D, t.accs);
}

// Flash-decoding phases (attention.h). t.scratch: [kPvWindow][D] K or V rows, then [D].
void split_scores_avx2(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, float* mx) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().split_scores(t, sh, j0, j1, mx);
  float* kf = t.scratch;
  int64_t end = j0;  // rows any query of the tile reads in [j0, j1)
  for (int i = 0; i < t.nq; ++i) end = std::max<int64_t>(end, std::min<int64_t>(j1, t.last[i] + 1));
  prefetch_rows(t, t.k, j0, std::min<int64_t>(j0 + kAttnChunk, end));
  for (int64_t c0 = j0; c0 < end; c0 += kAttnChunk) {
    const int64_t c1 = std::min<int64_t>(c0 + kAttnChunk, end);
    convert_rows(t, t.k, c0, c1, kf, end);
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < c0) continue;
      const int64_t je = std::min<int64_t>(c1, t.last[i] + 1);
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

// The rows of lane rows [r0, r1) among positions [w0, w1) (w0 a multiple of L), in the order
// pv_columns reads them: group by group of L positions, r0..r1-1 within each.
class LaneWalk {
 public:
  LaneWalk(const KvRows& rows, int L, int r0, int r1, int64_t w0, int64_t w1)
      : L_(L), r0_(r0), r1_(r1), w1_(w1), g_(w0), j_(w0 + r0), e_(std::min<int64_t>(w0 + r1, w1)),
        w_(rows, w0 + r0 < w1 ? w0 + r0 : 0) {}
  bool done() const { return j_ >= e_; }
  const uint8_t* row() const { return w_.p; }
  void next() {
    if (j_ + 1 < e_) {
      ++j_;
      w_.advance(1);
      return;
    }
    const int64_t nj = g_ + L_ + r0_;
    if (nj >= w1_) {
      j_ = e_;
      return;
    }
    w_.advance(nj - j_);
    g_ += L_;
    j_ = nj;
    e_ = std::min<int64_t>(g_ + r1_, w1_);
  }

 private:
  int L_, r0_, r1_;
  int64_t w1_, g_, j_, e_;
  RowWalk w_;
};

// Position-major: the thread walks the context once, a window at a time, widening only its lane
// rows' V rows (prefetching the next window's), and runs each lane row's chain through the window.
void split_pv_avx2(const AttnTile& t, const AttnShared& sh, int r0, int r1) {
  const int64_t D = t.D;
  if (D % (8 * t.accs) != 0) return attention_kernels_scalar().split_pv(t, sh, r0, r1);
  const int L = 8 * t.accs;
  float* vf = t.scratch;
  const size_t bytes = kv_row_bytes(t);
  int32_t pmax = 0;
  float inv[kAttnMaxTile];
  for (int i = 0; i < t.nq; ++i) {
    const int32_t p = t.last[i];
    pmax = std::max(pmax, p);
    double sum = 0;
    for (int64_t g = 0; g <= p / 8; ++g) sum += static_cast<double>(sh.csum[i * sh.csum_stride + g]);
    inv[i] = static_cast<float>(1.0 / sum);
    float* lanes = sh.lanes + static_cast<size_t>(i) * L * D;
    std::memset(lanes + r0 * D, 0, sizeof(float) * static_cast<size_t>(r1 - r0) * D);
  }
  const int64_t n = pmax + 1;
  // A window holds kPvWindow / L groups of (r1 - r0) rows; the next window's rows are asked
  // for one per row widened.
  for (LaneWalk pf(t.v, L, r0, r1, 0, std::min<int64_t>(kPvWindow, n)); !pf.done(); pf.next())
    prefetch_row(pf.row(), bytes);
  alignas(32) float pw[kPvWindow];
  for (int64_t w0 = 0; w0 < n; w0 += kPvWindow) {
    const int64_t w1 = std::min<int64_t>(w0 + kPvWindow, n);
    float* dst = vf;
    LaneWalk pf(t.v, L, r0, r1, w1, std::min<int64_t>(w1 + kPvWindow, n));
    for (LaneWalk cur(t.v, L, r0, r1, w0, w1); !cur.done(); cur.next(), dst += D) {
      widen_row(t, cur.row(), dst);
      if (!pf.done()) {
        prefetch_row(pf.row(), bytes);
        pf.next();
      }
    }
    for (int i = 0; i < t.nq; ++i) {
      if (t.last[i] < w0) continue;
      const int64_t je = std::min<int64_t>(w1, t.last[i] + 1);
      const float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
      const __m256 vinv = _mm256_set1_ps(inv[i]);
      int64_t j = w0;
      for (; j + 8 <= je; j += 8)
        _mm256_storeu_ps(pw + (j - w0), round_f16x8(_mm256_mul_ps(_mm256_loadu_ps(s + j), vinv)));
      for (; j < je; ++j) {
        float x[8] = {s[j] * inv[i]};
        _mm256_storeu_ps(x, round_f16x8(_mm256_loadu_ps(x)));
        pw[j - w0] = x[0];
      }
      pv_window(sh.lanes + static_cast<size_t>(i) * L * D, pw, vf, D, L, r0, r1, w0, je);
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
