// NEON dot products with the armv8.2 dot-product instructions (vdotq_s32: four 8-bit products
// summed into each 32-bit lane); compiled with -march=armv8.2-a+dotprod+fp16 for this file only.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/cpu/quant/neon_impl.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

inline int32x4_t dot_step_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

}  // namespace

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
