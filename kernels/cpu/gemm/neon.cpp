// NEON multi-row dot products for any aarch64 (vmull_s8 + vpadalq_s16); twins of the per-row
// *_neon kernels in quant/neon.cpp.
#if defined(__aarch64__)
#include "kernels/cpu/gemm/neon_rows.h"

namespace ember::kernels {
namespace {

inline int32x4_t dot_step_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
  return vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
}

}  // namespace

void vec_dot_rows_q4_0_q8_0_neon(const DotRowsArgs& p) { neon_rows<dot_step_plain, BlockQ4_0, BlockQ8_0, DecodeQ4_0, false>(p); }
void vec_dot_rows_q4_1_q8_1_neon(const DotRowsArgs& p) { neon_rows<dot_step_plain, BlockQ4_1, BlockQ8_1, DecodeQ4_1, true>(p); }
void vec_dot_rows_q8_0_q8_0_neon(const DotRowsArgs& p) { neon_rows<dot_step_plain, BlockQ8_0, BlockQ8_0, DecodeQ8_0, false>(p); }

}  // namespace ember::kernels
#endif
