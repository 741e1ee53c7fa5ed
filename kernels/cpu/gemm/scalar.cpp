// Scalar multi-row dot products: the scalar per-row kernel once per activation row. These are
// the fallback where no SIMD variant runs, and match the per-row path there bit for bit.
#include <cassert>

#include "kernels/cpu/gemm/gemm.h"
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
