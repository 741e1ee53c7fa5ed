// AVX-512 (F, BW, VL, VNNI) + FMA + F16C dot products, compiled with those flags for this file
// only: the kernels of x86_dots.inc with VNNI's vpdpbusd for the integer block sums, and the
// K-quant kernels of x86_kquant.inc with vpdpwssd for the scaled sums, each bit-identical to its
// _avx2 twin (see those files). The wide pair-mode matmul kernels that
// put two weight rows in one zmm register are in kernels/cpu/gemm/avx512.cpp.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/quant/simd.h"
#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/avx2_kquant.h"

#if !defined(__AVX512VNNI__) || !defined(__AVX512VL__)
#error "kernels/cpu/quant/avx512.cpp needs -mavx512vnni -mavx512vl"
#endif

namespace ember::kernels {

#define EMBER_X86(name) name##_avx512
#include "kernels/cpu/quant/x86_dots.inc"
#include "kernels/cpu/quant/x86_kquant.inc"
#undef EMBER_X86

}  // namespace ember::kernels
#endif
