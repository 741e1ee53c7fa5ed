// Scalar multi-row dot products: the scalar per-row kernel once per activation row. These are
// the fallback where no SIMD variant runs, and match the per-row path there bit for bit.
#include <cassert>
#include <cmath>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {
namespace {

void loop_rows(const DotRowsArgs& p, VecDotFn dot) {
  assert(p.rows >= 1);
  for (int64_t r = 0; r < p.rows; ++r)
    p.y[r * p.y_stride] = dot(p.n, p.w, p.a + static_cast<size_t>(r) * p.a_stride);
}

void loop_pairs(const DotRowsArgs& p, VecDotFn dot) {
  assert(p.rows >= 1 && p.w1 != nullptr);
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint8_t* a = p.a + static_cast<size_t>(r) * p.a_stride;
    p.y[r * p.y_stride] = dot(p.n, p.w, a);
    p.y[r * p.y_stride + 1] = dot(p.n, p.w1, a);
  }
}

}  // namespace

void vec_dot_pairs_q4_1_q8_1(const DotRowsArgs& p) { loop_pairs(p, vec_dot_q4_1_q8_1); }
void vec_dot_pairs_q8_0_q8_0(const DotRowsArgs& p) { loop_pairs(p, vec_dot_q8_0_q8_0); }

void vec_dot_rows_q4_0_q8_0(const DotRowsArgs& p) { loop_rows(p, vec_dot_q4_0_q8_0); }
void vec_dot_rows_q4_1_q8_1(const DotRowsArgs& p) { loop_rows(p, vec_dot_q4_1_q8_1); }
void vec_dot_rows_q8_0_q8_0(const DotRowsArgs& p) { loop_rows(p, vec_dot_q8_0_q8_0); }
void vec_dot_rows_q4_K_q8_K(const DotRowsArgs& p) { loop_rows(p, vec_dot_q4_K_q8_K); }

void vec_dot_rows_q6_K_q8_K(const DotRowsArgs& p) { loop_rows(p, vec_dot_q6_K_q8_K); }

void vec_dot_rows_q6_K_q8_K_tiled(const DotRowsArgs& p) {
  loop_rows(p, (p.batch_rows > 0 ? p.batch_rows : p.rows) >= 8 ? vec_dot_q6_K_q8_K_tiled : vec_dot_q6_K_q8_K);
}

void vec_dot_rows_q4_K_q8_K_x8(const DotRowsArgs& p) {
  assert(p.rows >= 1);
  const int64_t grouped = p.rows - p.rows % 4;
  for (int64_t r = 0; r < p.rows; ++r)
    p.y[r * p.y_stride] = (r < grouped ? vec_dot_q4_K_q8_K_x8_gemm : vec_dot_q4_K_q8_K_x8)(
        p.n, p.w, p.a + static_cast<size_t>(r) * p.a_stride);
}

}  // namespace ember::kernels

namespace ember::kernels {

void gemm_q4_1x16_q8_1(const GemmX16Args& p) {
  assert(p.k % kQK == 0 && p.rows >= 1);
  const int64_t nb = p.k / kQK;
  const auto* w = static_cast<const BlockQ4_1x16*>(p.w);
  for (int64_t g = 0; g < p.groups; ++g, w += nb) {
    for (int64_t r = 0; r < p.rows; ++r) {
      const auto* y = reinterpret_cast<const BlockQ8_1*>(p.a + static_cast<size_t>(r) * p.a_stride);
      for (int j = 0; j < 16; ++j) {
        float acc = 0.0f;
        for (int64_t i = 0; i < nb; ++i) {
          int isum = 0;
          for (int t = 0; t < 4; ++t)
            for (int b = 0; b < 4; ++b) {
              const int q = w[i].qs[t][j][b];
              isum += (q & 0x0f) * y[i].qs[4 * t + b] + (q >> 4) * y[i].qs[16 + 4 * t + b];
            }
          const float d = fp16_to_f32(w[i].d[j]) * fp16_to_f32(y[i].d);
          acc = std::fma(d, static_cast<float>(isum), acc);
          acc = std::fma(fp16_to_f32(w[i].m[j]), fp16_to_f32(y[i].s), acc);
        }
        p.y[r * p.y_stride + 16 * g + j] = acc;
      }
    }
  }
}

}  // namespace ember::kernels

namespace ember::kernels {

void gemm_q8_0x16_q8_0(const GemmX16Args& p) {
  assert(p.k % kQK == 0 && p.rows >= 1);
  const int64_t nb = p.k / kQK;
  const auto* w = static_cast<const BlockQ8_0x16*>(p.w);
  for (int64_t g = 0; g < p.groups; ++g, w += nb) {
    for (int64_t r = 0; r < p.rows; ++r) {
      const auto* y = reinterpret_cast<const BlockQ8_0*>(p.a + static_cast<size_t>(r) * p.a_stride);
      for (int j = 0; j < 16; ++j) {
        float acc = 0.0f;
        for (int64_t i = 0; i < nb; ++i) {
          int isum = 0;
          for (int t = 0; t < 8; ++t)
            for (int b = 0; b < 4; ++b) isum += w[i].qs[t][j][b] * y[i].qs[4 * t + b];
          acc = std::fma(fp16_to_f32(w[i].d[j]) * fp16_to_f32(y[i].d), static_cast<float>(isum), acc);
        }
        p.y[r * p.y_stride + 16 * g + j] = acc;
      }
    }
  }
}

}  // namespace ember::kernels
