// NEON multi-row dot products shared by gemm/neon.cpp (vmull_s8) and gemm/neon_dotprod.cpp
// (vdotq_s32): a weight block's nibbles are unpacked once for up to four activation rows, and
// each row keeps the accumulators of the per-row NEON kernel (quant/neon_impl.h: two f32x4
// accumulators by block parity, the q4_1 mins in block order), so every output is bit-identical
// to that per-row dot product (gemm.h's contract). Internal linkage, as neon_impl.h.
#pragma once

#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/neon_impl.h"

namespace ember::kernels {
namespace {

struct DecodeQ4_0 {
  static void run(const BlockQ4_0& x, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t q = vld1q_u8(x.qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
  }
};
struct DecodeQ4_1 {
  static void run(const BlockQ4_1& x, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t q = vld1q_u8(x.qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
  }
};
struct DecodeQ8_0 {
  static void run(const BlockQ8_0& x, int8x16_t* lo, int8x16_t* hi) {
    *lo = vld1q_s8(x.qs);
    *hi = vld1q_s8(x.qs + 16);
  }
};

template <DotStep Dot, typename WB, typename AB, typename Decode, bool kMins, int R>
void neon_rows_group(const DotRowsArgs& p, int64_t r0) {
  const auto* x = static_cast<const WB*>(p.w);
  const int64_t nb = p.n / kQK;
  const AB* y[R];
  float32x4_t acc[R][2];
  float mins[R];
  for (int r = 0; r < R; ++r) {
    y[r] = reinterpret_cast<const AB*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    mins[r] = 0.0f;
  }
  for (int64_t i = 0; i < nb; ++i) {
    int8x16_t lo, hi;
    Decode::run(x[i], &lo, &hi);
    const float dx = neon_h2f(x[i].d);
    for (int r = 0; r < R; ++r) {
      const int32x4_t s = Dot(Dot(vdupq_n_s32(0), lo, vld1q_s8(y[r][i].qs)), hi, vld1q_s8(y[r][i].qs + 16));
      acc[r][i & 1] = vfmaq_n_f32(acc[r][i & 1], vcvtq_f32_s32(s), dx * neon_h2f(y[r][i].d));
      if constexpr (kMins) mins[r] += neon_h2f(x[i].m) * neon_h2f(y[r][i].s);
    }
  }
  for (int r = 0; r < R; ++r) {
    float v = vaddvq_f32(vaddq_f32(acc[r][0], acc[r][1]));
    if constexpr (kMins) v = v + mins[r];
    p.y[(r0 + r) * p.y_stride] = v;
  }
}

template <DotStep Dot, typename WB, typename AB, typename Decode, bool kMins>
void neon_rows(const DotRowsArgs& p) {
  int64_t r0 = 0;
  for (; r0 + 4 <= p.rows; r0 += 4) neon_rows_group<Dot, WB, AB, Decode, kMins, 4>(p, r0);
  switch (p.rows - r0) {
    case 3: neon_rows_group<Dot, WB, AB, Decode, kMins, 3>(p, r0); break;
    case 2: neon_rows_group<Dot, WB, AB, Decode, kMins, 2>(p, r0); break;
    case 1: neon_rows_group<Dot, WB, AB, Decode, kMins, 1>(p, r0); break;
    default: break;
  }
}

}  // namespace
}  // namespace ember::kernels
#endif
