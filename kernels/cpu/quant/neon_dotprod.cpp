// NEON dot products with the armv8.2 dot-product instructions (vdotq_s32: four 8-bit products
// summed into each 32-bit lane); compiled with -march=armv8.2-a+dotprod+fp16 for this file only.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>

#include "kernels/cpu/quant/neon_impl.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

inline int32x4_t dot_step_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

}  // namespace

// The block-sum order (quant.h): each block's exact integer sum, then the scalar kernel's FMAs.
float vec_dot_q4_1_q8_1_bs_dotprod(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8x16_t q = vld1q_u8(x[i].qs);
    const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
    const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
    const int isum = vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs)), hi, vld1q_s8(y[i].qs + 16)));
    const float d = neon_h2f(x[i].d) * neon_h2f(y[i].d);
    acc = std::fma(d, static_cast<float>(isum), acc);
    acc = std::fma(neon_h2f(x[i].m), neon_h2f(y[i].s), acc);
  }
  return acc;
}

float vec_dot_q8_0_q8_0_bs_dotprod(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int32x4_t s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs)), vld1q_s8(x[i].qs + 16),
                                  vld1q_s8(y[i].qs + 16));
    const float d = neon_h2f(x[i].d) * neon_h2f(y[i].d);
    acc = std::fma(d, static_cast<float>(vaddvq_s32(s)), acc);
  }
  return acc;
}

float vec_dot_q4_0_q8_0_dotprod(int64_t n, const void* w, const void* a) { return neon_q4_0_q8_0<dot_step_sdot>(n, w, a); }
float vec_dot_q4_1_q8_1_dotprod(int64_t n, const void* w, const void* a) { return neon_q4_1_q8_1<dot_step_sdot>(n, w, a); }
float vec_dot_q8_0_q8_0_dotprod(int64_t n, const void* w, const void* a) { return neon_q8_0_q8_0<dot_step_sdot>(n, w, a); }
float vec_dot_q5_0_q8_0_dotprod(int64_t n, const void* w, const void* a) { return neon_q5_0_q8_0<dot_step_sdot>(n, w, a); }
float vec_dot_q5_1_q8_1_dotprod(int64_t n, const void* w, const void* a) { return neon_q5_1_q8_1<dot_step_sdot>(n, w, a); }
float vec_dot_q4_K_q8_K_dotprod(int64_t n, const void* w, const void* a) { return neon_q4_K_q8_K<dot_step_sdot>(n, w, a); }
float vec_dot_q5_K_q8_K_dotprod(int64_t n, const void* w, const void* a) { return neon_q5_K_q8_K<dot_step_sdot>(n, w, a); }
float vec_dot_q6_K_q8_K_dotprod(int64_t n, const void* w, const void* a) { return neon_q6_K_q8_K<dot_step_sdot>(n, w, a); }

}  // namespace ember::kernels
#endif
