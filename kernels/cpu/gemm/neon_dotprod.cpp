// NEON multi-row dot products with the armv8.2 dot-product instructions (vdotq_s32); twins of
// the per-row *_dotprod kernels in quant/neon_dotprod.cpp. Compiled for armv8.2-a+dotprod.
#if defined(__aarch64__)
#include "kernels/cpu/gemm/neon_rows.h"

namespace ember::kernels {
namespace {

inline int32x4_t dot_step_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

}  // namespace

void vec_dot_rows_q4_0_q8_0_dotprod(const DotRowsArgs& p) { neon_rows<dot_step_sdot, BlockQ4_0, BlockQ8_0, DecodeQ4_0, false>(p); }
void vec_dot_rows_q4_1_q8_1_dotprod(const DotRowsArgs& p) { neon_rows<dot_step_sdot, BlockQ4_1, BlockQ8_1, DecodeQ4_1, true>(p); }
void vec_dot_rows_q8_0_q8_0_dotprod(const DotRowsArgs& p) { neon_rows<dot_step_sdot, BlockQ8_0, BlockQ8_0, DecodeQ8_0, false>(p); }

}  // namespace ember::kernels
#endif
