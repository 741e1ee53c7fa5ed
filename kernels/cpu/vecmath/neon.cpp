// NEON variant of kernels/cpu/vecmath (any aarch64): the 8 lanes as two 4-lane halves, every
// step the same fused or plain IEEE operation as the scalar emulation, so bit-identical to it.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>

#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {

inline float32x4_t exp4(float32x4_t x) {
  const float32x4_t shift = vdupq_n_f32(0x1.8p23f);
  const float32x4_t z = vfmaq_f32(shift, x, vdupq_n_f32(0x1.715476p+0f));
  const float32x4_t n = vsubq_f32(z, shift);
  const float32x4_t r = vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f)), n, vdupq_n_f32(0x1.7f7d1cp-20f));
  const uint32x4_t e = vshlq_n_u32(vreinterpretq_u32_f32(z), 23);
  const float32x4_t scale = vreinterpretq_f32_u32(vaddq_u32(e, vdupq_n_u32(0x3f800000u)));
  const float32x4_t abs_n = vabsq_f32(n);
  const uint32x4_t big = vcgtq_f32(abs_n, vdupq_n_f32(126.0f));
  const float32x4_t r2 = vmulq_f32(r, r);
  const float32x4_t hi = vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), r);
  const float32x4_t lo = vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), r);
  const float32x4_t p = vfmaq_f32(vmulq_f32(vdupq_n_f32(0x1.ffffecp-1f), r), vfmaq_f32(lo, hi, r2), r2);
  const float32x4_t normal = vfmaq_f32(scale, p, scale);
  if (vmaxvq_u32(big) == 0) return normal;
  const uint32x4_t neg = vandq_u32(vclezq_f32(n), vdupq_n_u32(0x82000000u));
  const float32x4_t s1 = vreinterpretq_f32_u32(vaddq_u32(neg, vdupq_n_u32(0x7f000000u)));
  const float32x4_t s2 = vreinterpretq_f32_u32(vsubq_u32(e, neg));
  const uint32x4_t huge = vcgtq_f32(abs_n, vdupq_n_f32(192.0f));
  const float32x4_t scaled = vmulq_f32(vfmaq_f32(s2, s2, p), s1);
  const float32x4_t mid = vbslq_f32(big, scaled, normal);
  return vbslq_f32(huge, vmulq_f32(s1, s1), mid);
}

void silu_mul_neon(int64_t n, float* y, const float* g, const float* u) {
  const int64_t blocks = n - n % 8;  // whole blocks of 8 take exp8, as in the scalar kernel
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i < blocks; i += 4) {
    const float32x4_t x = vld1q_f32(g + i);
    const float32x4_t e = exp4(vsubq_f32(vdupq_n_f32(0.0f), x));
    vst1q_f32(y + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(u + i)));
  }
  for (; i < n; ++i) y[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

float exp8_sum_neon(float* v, float max) {
  const float32x4_t m = vdupq_n_f32(max);
  const float32x4_t a = exp4(vsubq_f32(vld1q_f32(v), m));
  const float32x4_t b = exp4(vsubq_f32(vld1q_f32(v + 4), m));
  vst1q_f32(v, a);
  vst1q_f32(v + 4, b);
  const float32x4_t s = vaddq_f32(a, b);                                  // v0+v4, v1+v5, v2+v6, v3+v7
  const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));     // (v0+v4)+(v2+v6), (v1+v5)+(v3+v7)
  return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

}  // namespace

static void round_f16_neon(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(v + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(v + i))));
  for (; i < n; ++i) {
    const float32x4_t x = vdupq_n_f32(v[i]);
    v[i] = vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(x)), 0);
  }
}

const VecMathKernels& vecmath_kernels_neon() {
  static const VecMathKernels k{"neon", silu_mul_neon, exp8_sum_neon, exp8_sums_each<exp8_sum_neon>, round_f16_neon};
  return k;
}

}  // namespace ember::kernels

#endif  // __aarch64__
