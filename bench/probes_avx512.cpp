// Compiled with -mavx512f -mfma (bench/CMakeLists.txt); called only where the CPU has AVX-512F.
#include <immintrin.h>

#include "bench/probes.h"

namespace ember::bench {

float probe_fma_avx512(int64_t iters, float seed) {
  // As probe_fma_avx2, with 16-lane FMAs: 12 chains cover latency (4 cycles) x 2 ports.
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  __m512 acc[kProbeFmaPerIter];
  for (int k = 0; k < kProbeFmaPerIter; ++k) acc[k] = _mm512_set1_ps(seed + static_cast<float>(k));
  for (int64_t i = 0; i < iters; ++i) {
    for (int k = 0; k < kProbeFmaPerIter; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kProbeFmaPerIter; ++k) s = _mm512_add_ps(s, acc[k]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace ember::bench
