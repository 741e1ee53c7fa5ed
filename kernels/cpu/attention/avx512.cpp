// AVX-512 (F, BW, VL, VNNI) + FMA + F16C attention kernels, compiled with those flags for this
// file only: x86_tile.inc with EMBER_ATTN_ZMM, whose q·k scores and p·V lane rows step two of
// the scalar order's 8-lane accumulators per 16-lane FMA, bit-identical to the scalar oracle
// and to the AVX2 kernels.
#if defined(__x86_64__)
// g++ 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which its
// -Wuninitialized reports at every inlined use (GCC bug 105593); nothing here reads one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/vecmath/vecmath.h"

#if !defined(__AVX512F__) || !defined(__AVX512VL__)
#error "kernels/cpu/attention/avx512.cpp needs -mavx512f -mavx512vl"
#endif

#define EMBER_ATTN_ZMM 1

namespace ember::kernels {
namespace {
#include "kernels/cpu/attention/x86_tile.inc"
}  // namespace

const AttentionKernels& attention_kernels_avx512() {
  static const AttentionKernels k{"avx512",       qk_dot_x86,    pv_accumulate_x86, pv_reduce_x86, tile_x86,
                                  split_scores_x86, split_exp_x86, split_pv_x86};
  return k;
}

}  // namespace ember::kernels
#endif
