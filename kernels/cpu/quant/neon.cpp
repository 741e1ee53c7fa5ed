// NEON dot products and activation quantisers for any aarch64 (baseline armv8-a: no dotprod;
// 8-bit products by vmull_s8, pairwise-widened into 32-bit lanes by vpadalq_s16).
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/neon_impl.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

inline int32x4_t dot_step_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

}  // namespace

float vec_dot_q4_0_q8_0_neon(int64_t n, const void* w, const void* a) { return neon_q4_0_q8_0<dot_step_plain>(n, w, a); }
float vec_dot_q4_1_q8_1_neon(int64_t n, const void* w, const void* a) { return neon_q4_1_q8_1<dot_step_plain>(n, w, a); }
float vec_dot_q8_0_q8_0_neon(int64_t n, const void* w, const void* a) { return neon_q8_0_q8_0<dot_step_plain>(n, w, a); }
float vec_dot_q5_0_q8_0_neon(int64_t n, const void* w, const void* a) { return neon_q5_0_q8_0<dot_step_plain>(n, w, a); }
float vec_dot_q5_1_q8_1_neon(int64_t n, const void* w, const void* a) { return neon_q5_1_q8_1<dot_step_plain>(n, w, a); }
float vec_dot_q4_K_q8_K_neon(int64_t n, const void* w, const void* a) { return neon_q4_K_q8_K<dot_step_plain>(n, w, a); }
float vec_dot_q5_K_q8_K_neon(int64_t n, const void* w, const void* a) { return neon_q5_K_q8_K<dot_step_plain>(n, w, a); }
float vec_dot_q6_K_q8_K_neon(int64_t n, const void* w, const void* a) { return neon_q6_K_q8_K<dot_step_plain>(n, w, a); }

// Floats: four accumulators of four lanes over 16 elements, fused multiply-adds, scalar tail.
namespace {

template <float32x4_t (*Load)(const void*, int64_t)>
float dot_floats(int64_t n, const void* w, const void* a, float (*one)(const void*, int64_t)) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], Load(w, i + 4 * k), Load(a, i + 4 * k));
  for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], Load(w, i), Load(a, i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) s += one(w, i) * one(a, i);
  return s;
}

inline float32x4_t load_f32(const void* p, int64_t i) { return vld1q_f32(static_cast<const float*>(p) + i); }
inline float32x4_t load_f16(const void* p, int64_t i) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(p) + i)));
}
inline float32x4_t load_bf16(const void* p, int64_t i) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(p) + i), 16));
}
inline float one_f32(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
inline float one_f16(const void* p, int64_t i) { return fp16_to_f32(static_cast<const uint16_t*>(p)[i]); }
inline float one_bf16(const void* p, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(p)[i]); }

}  // namespace

float vec_dot_f32_f32_neon(int64_t n, const void* w, const void* a) { return dot_floats<load_f32>(n, w, a, one_f32); }
float vec_dot_f16_f16_neon(int64_t n, const void* w, const void* a) { return dot_floats<load_f16>(n, w, a, one_f16); }
float vec_dot_bf16_bf16_neon(int64_t n, const void* w, const void* a) { return dot_floats<load_bf16>(n, w, a, one_bf16); }

// Activation quantisers: the scalar ones' operations lane by lane (max of |x|, d = amax / 127,
// id = 127 / amax, x * id rounded to nearest even, truncated to int8), so byte-identical.
namespace {

inline float quantize_block32(const float* x, int8_t* qs, int* sum) {
  float32x4_t v[8];
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int k = 0; k < 8; ++k) {
    v[k] = vld1q_f32(x + 4 * k);
    m = vmaxnmq_f32(m, vabsq_f32(v[k]));
  }
  const float amax = vmaxnmvq_f32(m);
  const float32x4_t id = vdupq_n_f32(amax != 0.0f ? 127.0f / amax : 0.0f);
  int32x4_t s = vdupq_n_s32(0);
  for (int k = 0; k < 8; k += 2) {
    const int32x4_t q0 = vcvtnq_s32_f32(vmulq_f32(v[k], id));
    const int32x4_t q1 = vcvtnq_s32_f32(vmulq_f32(v[k + 1], id));
    s = vaddq_s32(s, vaddq_s32(q0, q1));
    const int16x8_t h = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
    vst1_s8(qs + 4 * k, vmovn_s16(h));
  }
  if (sum) *sum = vaddvq_s32(s);
  return amax;
}

}  // namespace

void quantize_row_q8_0_neon(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float amax = quantize_block32(src, y[i].qs, nullptr);
    y[i].d = f32_to_fp16(amax / 127.0f);
  }
}

void quantize_row_q8_1_neon(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    int sum = 0;
    const float amax = quantize_block32(src, y[i].qs, &sum);
    const float d = amax / 127.0f;
    y[i].d = f32_to_fp16(d);
    y[i].s = f32_to_fp16(d * static_cast<float>(sum));
  }
}

}  // namespace ember::kernels
#endif
