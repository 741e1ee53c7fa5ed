// NEON dot-product bodies shared by neon.cpp (baseline armv8-a: vmull_s8 + vpadalq) and
// neon_dotprod.cpp (armv8.2-a+dotprod: vdotq_s32). Each file instantiates them with its own
// 16-byte signed dot step. Everything here has internal linkage, so a copy compiled with the
// dotprod flags can never be picked by the linker for a baseline caller.
//
// Integer sums are exact, as in the scalar kernels; only the order of the f32 additions
// differs (legacy quants: four f32 lanes per accumulator). The K-quants keep the scalar
// kernels' per-super-block float expressions.
#pragma once

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {

using DotStep = int32x4_t (*)(int32x4_t acc, int8x16_t a, int8x16_t b);

inline float neon_h2f(uint16_t h) {
  __fp16 v;
  std::memcpy(&v, &h, sizeof v);
  return static_cast<float>(v);
}

inline void neon_k_scale_min(const uint8_t* scales, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
    *m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

template <DotStep Dot>
inline float32x4_t q4_0_block(const BlockQ4_0& x, const BlockQ8_0& y, float32x4_t acc) {
  const uint8x16_t q = vld1q_u8(x.qs);
  const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
  const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
  const int32x4_t s = Dot(Dot(vdupq_n_s32(0), lo, vld1q_s8(y.qs)), hi, vld1q_s8(y.qs + 16));
  return vfmaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(x.d) * neon_h2f(y.d));
}

template <DotStep Dot>
float neon_q4_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK;
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    acc0 = q4_0_block<Dot>(x[i], y[i], acc0);
    acc1 = q4_0_block<Dot>(x[i + 1], y[i + 1], acc1);
  }
  if (i < nb) acc0 = q4_0_block<Dot>(x[i], y[i], acc0);
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

template <DotStep Dot>
inline float32x4_t q4_1_block(const BlockQ4_1& x, const BlockQ8_1& y, float32x4_t acc) {
  const uint8x16_t q = vld1q_u8(x.qs);
  const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
  const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
  const int32x4_t s = Dot(Dot(vdupq_n_s32(0), lo, vld1q_s8(y.qs)), hi, vld1q_s8(y.qs + 16));
  return vfmaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(x.d) * neon_h2f(y.d));
}

template <DotStep Dot>
float neon_q4_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  const int64_t nb = n / kQK;
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  float mins = 0.0f;
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    acc0 = q4_1_block<Dot>(x[i], y[i], acc0);
    acc1 = q4_1_block<Dot>(x[i + 1], y[i + 1], acc1);
    mins += neon_h2f(x[i].m) * neon_h2f(y[i].s);
    mins += neon_h2f(x[i + 1].m) * neon_h2f(y[i + 1].s);
  }
  if (i < nb) {
    acc0 = q4_1_block<Dot>(x[i], y[i], acc0);
    mins += neon_h2f(x[i].m) * neon_h2f(y[i].s);
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1)) + mins;
}

template <DotStep Dot>
inline float32x4_t q8_0_block(const BlockQ8_0& x, const BlockQ8_0& y, float32x4_t acc) {
  const int32x4_t s =
      Dot(Dot(vdupq_n_s32(0), vld1q_s8(x.qs), vld1q_s8(y.qs)), vld1q_s8(x.qs + 16), vld1q_s8(y.qs + 16));
  return vfmaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(x.d) * neon_h2f(y.d));
}

template <DotStep Dot>
float neon_q8_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK;
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    acc0 = q8_0_block<Dot>(x[i], y[i], acc0);
    acc1 = q8_0_block<Dot>(x[i + 1], y[i + 1], acc1);
  }
  if (i < nb) acc0 = q8_0_block<Dot>(x[i], y[i], acc0);
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

// q5_0 / q5_1: the fifth bit of element j is bit j of the little-endian qh; bytes 0-1 of qh
// cover elements 0..15 (the low nibbles), bytes 2-3 elements 16..31 (the high nibbles).
inline void q5_split(const uint8_t* qs, const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
  static const uint8_t kBits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bits = vld1q_u8(kBits), b4 = vdupq_n_u8(0x10);
  const uint8x16_t h01 = vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bits);
  const uint8x16_t h23 = vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bits);
  const uint8x16_t q = vld1q_u8(qs);
  *lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), vandq_u8(h01, b4));
  *hi = vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(h23, b4));
}

template <DotStep Dot>
inline float32x4_t q5_0_block(const BlockQ5_0& x, const BlockQ8_0& y, float32x4_t acc) {
  uint8x16_t lo, hi;
  q5_split(x.qs, x.qh, &lo, &hi);
  const int8x16_t l = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8(16));
  const int8x16_t h = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8(16));
  const int32x4_t s = Dot(Dot(vdupq_n_s32(0), l, vld1q_s8(y.qs)), h, vld1q_s8(y.qs + 16));
  return vfmaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(x.d) * neon_h2f(y.d));
}

template <DotStep Dot>
float neon_q5_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK;
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    acc0 = q5_0_block<Dot>(x[i], y[i], acc0);
    acc1 = q5_0_block<Dot>(x[i + 1], y[i + 1], acc1);
  }
  if (i < nb) acc0 = q5_0_block<Dot>(x[i], y[i], acc0);
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

template <DotStep Dot>
float neon_q5_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float32x4_t acc = vdupq_n_f32(0.0f);
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8x16_t lo, hi;
    q5_split(x[i].qs, x[i].qh, &lo, &hi);
    const int32x4_t s = Dot(Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), vld1q_s8(y[i].qs)), vreinterpretq_s8_u8(hi),
                            vld1q_s8(y[i].qs + 16));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), neon_h2f(x[i].d) * neon_h2f(y[i].d));
    mins += neon_h2f(x[i].m) * neon_h2f(y[i].s);
  }
  return vaddvq_f32(acc) + mins;
}

// The K-quants: exact integer sums per super-block, then the scalar kernels' float expression.
template <DotStep Dot>
float neon_q4_K_q8_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0, msum = 0;
    const uint8_t* q = x[i].qs;
    const int8_t* q8 = y[i].qs;
    for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
      const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
      const int32x4_t lo = Dot(Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(q8)),
                               vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(q8 + 16));
      const int32x4_t hi = Dot(Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(q8 + 32)),
                               vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(q8 + 48));
      int sc0, m0, sc1, m1;
      neon_k_scale_min(x[i].scales, 2 * c, &sc0, &m0);
      neon_k_scale_min(x[i].scales, 2 * c + 1, &sc1, &m1);
      isum += sc0 * vaddvq_s32(lo) + sc1 * vaddvq_s32(hi);
      msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) + m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
    }
    const float d = neon_h2f(x[i].d) * y[i].d;
    const float dmin = neon_h2f(x[i].dmin) * y[i].d;
    acc += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return acc;
}

template <DotStep Dot>
float neon_q5_K_q8_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f), b4 = vdupq_n_u8(0x10);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0, msum = 0;
    const uint8_t* q = x[i].qs;
    const int8_t* q8 = y[i].qs;
    const uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
    for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
      const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
      const uint8x16_t bl = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * c))), bh = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * c)));
      const int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, bl), b4)));
      const int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, bl), b4)));
      const int8x16_t u0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, bh), b4)));
      const int8x16_t u1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, bh), b4)));
      const int32x4_t lo = Dot(Dot(vdupq_n_s32(0), l0, vld1q_s8(q8)), l1, vld1q_s8(q8 + 16));
      const int32x4_t hi = Dot(Dot(vdupq_n_s32(0), u0, vld1q_s8(q8 + 32)), u1, vld1q_s8(q8 + 48));
      int sc0, m0, sc1, m1;
      neon_k_scale_min(x[i].scales, 2 * c, &sc0, &m0);
      neon_k_scale_min(x[i].scales, 2 * c + 1, &sc1, &m1);
      isum += sc0 * vaddvq_s32(lo) + sc1 * vaddvq_s32(hi);
      msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) + m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
    }
    const float d = neon_h2f(x[i].d) * y[i].d;
    const float dmin = neon_h2f(x[i].dmin) * y[i].d;
    acc += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return acc;
}

template <DotStep Dot>
float neon_q6_K_q8_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
  const int8x16_t off = vdupq_n_s8(32);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      const int8_t* sc = x[i].scales + 8 * h;
      const int8_t* q8 = y[i].qs + 128 * h;
      for (int g = 0; g < 2; ++g) {
        const int l = 16 * g;
        const uint8x16_t la = vld1q_u8(ql + l), lb = vld1q_u8(ql + l + 32), hb = vld1q_u8(qh + l);
        const uint8x16_t u[4] = {
            vorrq_u8(vandq_u8(la, m4), vshlq_n_u8(vandq_u8(hb, m3), 4)),
            vorrq_u8(vandq_u8(lb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4)),
            vorrq_u8(vshrq_n_u8(la, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4)),
            vorrq_u8(vshrq_n_u8(lb, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
        };
        for (int k = 0; k < 4; ++k) {
          const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(u[k]), off);
          isum += sc[g + 2 * k] * vaddvq_s32(Dot(vdupq_n_s32(0), v, vld1q_s8(q8 + 32 * k + l)));
        }
      }
    }
    acc += neon_h2f(x[i].d) * y[i].d * static_cast<float>(isum);
  }
  return acc;
}

}  // namespace
}  // namespace ember::kernels
#endif
