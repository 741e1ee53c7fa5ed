// AVX2 + FMA + F16C multi-row K-quant dot products in llama.cpp's batched arithmetic (compiled
// with those flags for this file only): the AVX2 build of x86_kquant_rows.inc.
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/quant/avx2_kquant.h"

#include <cassert>

#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

#define EMBER_X86(name) name##_avx2
#include "kernels/cpu/gemm/x86_kquant_rows.inc"
#undef EMBER_X86

}  // namespace ember::kernels
#endif
