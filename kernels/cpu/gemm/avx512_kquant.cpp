// AVX-512 (F, BW, VL, VNNI) multi-row K-quant dot products, compiled with those flags for this
// file only: x86_kquant_rows.inc with vpdpwssd for the scaled integer sums, bit-identical to the
// _avx2 build of the same file.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/avx2_kquant.h"

#include <cassert>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/quant.h"

#if !defined(__AVX512VNNI__) || !defined(__AVX512VL__)
#error "kernels/cpu/gemm/avx512_kquant.cpp needs -mavx512vnni -mavx512vl"
#endif

namespace ember::kernels {

#define EMBER_X86(name) name##_avx512
#include "kernels/cpu/gemm/x86_kquant_rows.inc"
#undef EMBER_X86

}  // namespace ember::kernels
#endif
