// Inner loops of attention over f16 K/V rows, summed in llama.cpp's order (see
// backends/cpu/ops/attention.cpp for why the order matters). A sum runs over `accs`
// accumulators of 8 lanes, accs = 1 or 4: element i -> accumulator (i % (8 * accs)) / 8,
// lane i % 8, fused multiply-add, then a fixed pairwise reduction:
//   accs = 4 (ggml's f16 dot):  x[l] = (a0 + a2) + (a1 + a3), then (x0+x4 + x1+x5) + (x2+x6 + x3+x7);
//   accs = 1 (tinyBLAS gemm):   (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
// The AVX2 variants are bit-identical to the scalar ones (same operations, same order).
#pragma once

#include <cstdint>

namespace ember::kernels {

inline constexpr int kAttnLanes = 32;  // the most lanes a sum uses: 4 accumulators x 8 lanes

struct AttentionKernels {
  const char* isa;
  // q (f32 values already rounded to f16) · k (f16), D elements.
  float (*qk_dot)(const float* q, const uint16_t* k, int64_t D, int accs);
  // lanes[(j % (8 * accs)) * D + d] += p * v[d] for d < D (fused), for position j.
  void (*pv_accumulate)(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D, int accs);
  // out[d] = reduction over the 8 * accs lanes of column d.
  void (*pv_reduce)(const float* lanes, float* out, int64_t D, int accs);
};

const AttentionKernels& attention_kernels_scalar();
#if defined(__x86_64__)
const AttentionKernels& attention_kernels_avx2();
#endif
// The best variant for this CPU (EMBER_VERBOSE=1 logs the choice).
const AttentionKernels& attention_kernels();

}  // namespace ember::kernels
