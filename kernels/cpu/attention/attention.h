// Inner loops of attention over f16 K/V rows, summed in llama.cpp's order (see
// backends/cpu/ops/attention.cpp for why the order matters): 8 lanes x 4 accumulators,
// element i -> accumulator (i % 32) / 8, lane i % 8, fused multiply-add, pairwise reduction.
// The AVX2 variants are bit-identical to the scalar ones (same operations, same order).
#pragma once

#include <cstdint>

namespace ember::kernels {

inline constexpr int kAttnLanes = 32;  // 4 accumulators x 8 lanes

struct AttentionKernels {
  const char* isa;
  // q (f32 values already rounded to f16) · k (f16), D elements.
  float (*qk_dot)(const float* q, const uint16_t* k, int64_t D);
  // lanes[(j % 32) * D + d] += p * v[d] for d < D (fused), for position j.
  void (*pv_accumulate)(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D);
  // out[d] = pairwise reduction over the 32 lanes of column d.
  void (*pv_reduce)(const float* lanes, float* out, int64_t D);
};

const AttentionKernels& attention_kernels_scalar();
#if defined(__x86_64__)
const AttentionKernels& attention_kernels_avx2();
#endif
// The best variant for this CPU (EMBER_VERBOSE=1 logs the choice).
const AttentionKernels& attention_kernels();

}  // namespace ember::kernels
