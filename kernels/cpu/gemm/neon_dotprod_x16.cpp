// The x16 matmuls (gemm.h, pack.h) with the armv8.2 dot-product instructions (compiled with
// -march=armv8.2-a+dotprod for this file only). A 16-row group is four int32x4 registers, one
// lane per row; vdotq_laneq_s32 multiplies each row's 4 weight bytes of group t with the
// activation's bytes 4t..4t+3, taken in place from the loaded activation register. The exact
// block sums are then scaled in the scalar oracle's order (gemm_q4_1x16_q8_1,
// gemm_q8_0x16_q8_0), so every output has its bits. Two activation rows per pass over a block
// (32 registers hold their sums, accumulators and the block's unpacked weights).
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cassert>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"

namespace ember::kernels {
namespace {

// 16 f16 values -> four float32x4.
inline void widen16(const uint16_t* h, float32x4_t* out) {
  const float16x8_t a = vreinterpretq_f16_u16(vld1q_u16(h)), b = vreinterpretq_f16_u16(vld1q_u16(h + 8));
  out[0] = vcvt_f32_f16(vget_low_f16(a));
  out[1] = vcvt_f32_f16(vget_high_f16(a));
  out[2] = vcvt_f32_f16(vget_low_f16(b));
  out[3] = vcvt_f32_f16(vget_high_f16(b));
}

inline float h2f(uint16_t h) {
  __fp16 v;
  std::memcpy(&v, &h, sizeof v);
  return static_cast<float>(v);
}

// s[g] += rows 4g..4g+3 of w (group t of the block) times the activation's group t, where
// `a` holds the activation's 16 bytes that contain group t at lane t % 4.
template <int Lane>
inline void dot4(int32x4_t* s, const int8x16_t* w, int8x16_t a) {
  for (int g = 0; g < 4; ++g) s[g] = vdotq_laneq_s32(s[g], w[g], a, Lane);
}

template <int R>
void tile_q4_1(const BlockQ4_1x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
  const BlockQ8_1* act[R];
  float32x4_t acc[R][4];
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_1*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    for (int g = 0; g < 4; ++g) acc[r][g] = vdupq_n_f32(0.0f);
  }
  for (int64_t i = 0; i < nb; ++i) {
    int32x4_t s[R][4];
    int8x16_t a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      for (int g = 0; g < 4; ++g) s[r][g] = vdupq_n_s32(0);
      a0[r] = vld1q_s8(act[r][i].qs);
      a1[r] = vld1q_s8(act[r][i].qs + 16);
    }
    auto step = [&](auto lane, int t) {
      int8x16_t lo[4], hi[4];
      for (int g = 0; g < 4; ++g) {
        const uint8x16_t v = vld1q_u8(w[i].qs[t][4 * g]);
        lo[g] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f)));
        hi[g] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
      }
      for (int r = 0; r < R; ++r) {
        dot4<decltype(lane)::value>(s[r], lo, a0[r]);  // elements 4t..4t+3
        dot4<decltype(lane)::value>(s[r], hi, a1[r]);  // elements 16+4t..16+4t+3
      }
    };
    step(std::integral_constant<int, 0>{}, 0);
    step(std::integral_constant<int, 1>{}, 1);
    step(std::integral_constant<int, 2>{}, 2);
    step(std::integral_constant<int, 3>{}, 3);
    float32x4_t dw[4], mw[4];
    widen16(w[i].d, dw);
    widen16(w[i].m, mw);
    for (int r = 0; r < R; ++r) {
      const float da = h2f(act[r][i].d), sa = h2f(act[r][i].s);
      for (int g = 0; g < 4; ++g) {
        const float32x4_t d = vmulq_n_f32(dw[g], da);
        acc[r][g] = vfmaq_f32(acc[r][g], d, vcvtq_f32_s32(s[r][g]));
        acc[r][g] = vfmaq_n_f32(acc[r][g], mw[g], sa);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < 4; ++g) vst1q_f32(y + (r0 + r) * p.y_stride + 4 * g, acc[r][g]);
}

template <int R>
void tile_q8_0(const BlockQ8_0x16* w, int64_t nb, const GemmX16Args& p, int64_t r0, float* y) {
  const BlockQ8_0* act[R];
  float32x4_t acc[R][4];
  for (int r = 0; r < R; ++r) {
    act[r] = reinterpret_cast<const BlockQ8_0*>(p.a + static_cast<size_t>(r0 + r) * p.a_stride);
    for (int g = 0; g < 4; ++g) acc[r][g] = vdupq_n_f32(0.0f);
  }
  for (int64_t i = 0; i < nb; ++i) {
    int32x4_t s[R][4];
    int8x16_t a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      for (int g = 0; g < 4; ++g) s[r][g] = vdupq_n_s32(0);
      a0[r] = vld1q_s8(act[r][i].qs);
      a1[r] = vld1q_s8(act[r][i].qs + 16);
    }
    auto step = [&](auto lane, int t) {
      int8x16_t lo[4], hi[4];  // groups t (elements 4t..) and t + 4 (16 + 4t..)
      for (int g = 0; g < 4; ++g) {
        lo[g] = vld1q_s8(w[i].qs[t][4 * g]);
        hi[g] = vld1q_s8(w[i].qs[t + 4][4 * g]);
      }
      for (int r = 0; r < R; ++r) {
        dot4<decltype(lane)::value>(s[r], lo, a0[r]);
        dot4<decltype(lane)::value>(s[r], hi, a1[r]);
      }
    };
    step(std::integral_constant<int, 0>{}, 0);
    step(std::integral_constant<int, 1>{}, 1);
    step(std::integral_constant<int, 2>{}, 2);
    step(std::integral_constant<int, 3>{}, 3);
    float32x4_t dw[4];
    widen16(w[i].d, dw);
    for (int r = 0; r < R; ++r) {
      const float da = h2f(act[r][i].d);
      for (int g = 0; g < 4; ++g) acc[r][g] = vfmaq_f32(acc[r][g], vmulq_n_f32(dw[g], da), vcvtq_f32_s32(s[r][g]));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < 4; ++g) vst1q_f32(y + (r0 + r) * p.y_stride + 4 * g, acc[r][g]);
}

template <class Block, void (*T1)(const Block*, int64_t, const GemmX16Args&, int64_t, float*),
          void (*T2)(const Block*, int64_t, const GemmX16Args&, int64_t, float*)>
void run_groups(const GemmX16Args& p) {
  assert(p.k % kQK == 0 && p.rows >= 1);
  const int64_t nb = p.k / kQK;
  const auto* w = static_cast<const Block*>(p.w);
  for (int64_t g = 0; g < p.groups; ++g, w += nb) {
    float* y = p.y + 16 * g;
    int64_t r = 0;
    for (; r + 2 <= p.rows; r += 2) T2(w, nb, p, r, y);
    if (r < p.rows) T1(w, nb, p, r, y);
  }
}

}  // namespace

void gemm_q4_1x16_q8_1_dotprod(const GemmX16Args& p) { run_groups<BlockQ4_1x16, tile_q4_1<1>, tile_q4_1<2>>(p); }
void gemm_q8_0x16_q8_0_dotprod(const GemmX16Args& p) { run_groups<BlockQ8_0x16, tile_q8_0<1>, tile_q8_0<2>>(p); }

}  // namespace ember::kernels
#endif
