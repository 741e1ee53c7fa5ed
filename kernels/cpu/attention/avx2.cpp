// AVX2 + FMA + F16C attention kernels: x86_tile.inc on 8-lane registers, bit-identical to the
// scalar oracle.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {
#include "kernels/cpu/attention/x86_tile.inc"
}  // namespace

const AttentionKernels& attention_kernels_avx2() {
  static const AttentionKernels k{"avx2",         qk_dot_x86,    pv_accumulate_x86, pv_reduce_x86, tile_x86,
                                  split_scores_x86, split_exp_x86, split_pv_x86};
  return k;
}

}  // namespace ember::kernels
#endif
