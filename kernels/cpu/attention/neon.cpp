// NEON variant of the attention primitives (any aarch64): element d still goes to lane
// d % (8 * accs), four lanes per register, fused multiply-adds and the scalar reduction
// order, so every result is bit-identical to the scalar one.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/fp16.h"

namespace ember::kernels {
namespace {

inline float32x4_t load_h4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

float qk_dot_neon(const float* q, const uint16_t* k, int64_t D, int accs) {
  const int n = 8 * accs;
  float32x4_t v[kAttnLanes / 4];
  for (float32x4_t& x : v) x = vdupq_n_f32(0.0f);
  int64_t d = 0;
  for (; d + 4 <= D; d += 4) {
    float32x4_t& a = v[(d % n) / 4];
    a = vfmaq_f32(a, vld1q_f32(q + d), load_h4(k + d));
  }
  float a[kAttnLanes];
  for (int i = 0; i < kAttnLanes / 4; ++i) vst1q_f32(a + 4 * i, v[i]);
  for (; d < D; ++d) a[d % n] = std::fma(q[d], fp16_to_f32(k[d]), a[d % n]);
  if (accs == 1) return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
  float x[8];
  for (int l = 0; l < 8; ++l) x[l] = (a[l] + a[16 + l]) + (a[8 + l] + a[24 + l]);
  const float t0 = x[0] + x[4], t1 = x[1] + x[5], t2 = x[2] + x[6], t3 = x[3] + x[7];
  return (t0 + t1) + (t2 + t3);
}

void pv_accumulate_neon(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D, int accs) {
  float* row = lanes + (j % (8 * accs)) * D;
  const float32x4_t pv = vdupq_n_f32(p);
  int64_t d = 0;
  for (; d + 4 <= D; d += 4) vst1q_f32(row + d, vfmaq_f32(vld1q_f32(row + d), pv, load_h4(v + d)));
  for (; d < D; ++d) row[d] = std::fma(p, fp16_to_f32(v[d]), row[d]);
}

// Four columns at a time; each column's lanes are reduced as the scalar reduce() does.
void pv_reduce_neon(const float* lanes, float* out, int64_t D, int accs) {
  auto L = [&](int l, int64_t d) { return vld1q_f32(lanes + l * D + d); };
  int64_t d = 0;
  for (; d + 4 <= D; d += 4) {
    float32x4_t r;
    if (accs == 1) {
      r = vaddq_f32(vaddq_f32(vaddq_f32(L(0, d), L(4, d)), vaddq_f32(L(2, d), L(6, d))),
                    vaddq_f32(vaddq_f32(L(1, d), L(5, d)), vaddq_f32(L(3, d), L(7, d))));
    } else {
      float32x4_t x[8];
      for (int l = 0; l < 8; ++l) x[l] = vaddq_f32(vaddq_f32(L(l, d), L(16 + l, d)), vaddq_f32(L(8 + l, d), L(24 + l, d)));
      const float32x4_t t0 = vaddq_f32(x[0], x[4]), t1 = vaddq_f32(x[1], x[5]);
      const float32x4_t t2 = vaddq_f32(x[2], x[6]), t3 = vaddq_f32(x[3], x[7]);
      r = vaddq_f32(vaddq_f32(t0, t1), vaddq_f32(t2, t3));
    }
    vst1q_f32(out + d, r);
  }
  for (; d < D; ++d) {
    const float* a = lanes + d;
    if (accs == 1) {
      out[d] = ((a[0] + a[4 * D]) + (a[2 * D] + a[6 * D])) + ((a[D] + a[5 * D]) + (a[3 * D] + a[7 * D]));
      continue;
    }
    float x[8];
    for (int l = 0; l < 8; ++l) x[l] = (a[l * D] + a[(16 + l) * D]) + (a[(8 + l) * D] + a[(24 + l) * D]);
    const float t0 = x[0] + x[4], t1 = x[1] + x[5], t2 = x[2] + x[6], t3 = x[3] + x[7];
    out[d] = (t0 + t1) + (t2 + t3);
  }
}

void tile_neon(const AttnTile& t) { attention_tile_per_query(t, attention_kernels_neon()); }

// Flash-decoding phases: the scalar ones (bit-identical to the NEON pieces; not vectorised yet).
void split_scores_neon(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, float* mx) {
  attention_kernels_scalar().split_scores(t, sh, j0, j1, mx);
}
void split_exp_neon(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, const float* mx) {
  attention_kernels_scalar().split_exp(t, sh, j0, j1, mx);
}
void split_pv_neon(const AttnTile& t, const AttnShared& sh, int r0, int r1) {
  attention_kernels_scalar().split_pv(t, sh, r0, r1);
}

}  // namespace

const AttentionKernels& attention_kernels_neon() {
  static const AttentionKernels k{"neon",          qk_dot_neon,    pv_accumulate_neon, pv_reduce_neon, tile_neon,
                                  split_scores_neon, split_exp_neon, split_pv_neon};
  return k;
}

}  // namespace ember::kernels

#endif  // __aarch64__
