#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/vecmath/vecmath.h"
#include "kernels/cpu/verbose.h"

namespace ember::kernels {
namespace {

inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void silu_mul_scalar(int64_t n, float* y, const float* g, const float* u) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const float x = g[i + l];
      y[i + l] = (x / (1.0f + exp8_lane(0.0f - x))) * u[i + l];
    }
  for (; i < n; ++i) y[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

float exp8_sum_scalar(float* v, float max) {
  for (int l = 0; l < 8; ++l) v[l] = exp8_lane(v[l] - max);
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

}  // namespace

float exp8_lane(float x) {
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float r = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = bits(z) << 23;
  const float scale = from_bits(e + bits(1.0f));
  const float r2 = r * r;
  const float p = std::fma(std::fma(std::fma(0x1.0e4020p-7f, r, 0x1.573e2ep-5f), r2,
                                    std::fma(0x1.555e66p-3f, r, 0x1.fffdb6p-2f)),
                           r2, 0x1.ffffecp-1f * r);
  if (!(std::fabs(n) > 126.0f)) return std::fma(p, scale, scale);
  // 2^n is out of float range: split it into s1 * s2 (s1 = 2^127 or 2^-125).
  const uint32_t neg = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = from_bits(neg + 0x7f000000u);
  const float s2 = from_bits(e - neg);
  if (std::fabs(n) > 192.0f) return s1 * s1;  // inf or 0
  return std::fma(s2, p, s2) * s1;
}

static void round_f16_scalar(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = fp16_to_f32(f32_to_fp16(v[i]));
}

const VecMathKernels& vecmath_kernels_scalar() {
  static const VecMathKernels k{"scalar", silu_mul_scalar, exp8_sum_scalar, exp8_sums_each<exp8_sum_scalar>,
                                round_f16_scalar};
  return k;
}

const VecMathKernels& vecmath_kernels() {
  static const VecMathKernels& chosen = [] {
    const bool verbose = dispatch_verbose();
#if defined(__x86_64__)
    if (cpu_features().x86_avx512_vnni()) {
      if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): avx512\n");
      return std::ref(vecmath_kernels_avx512());
    }
    if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): avx512 declined (the CPU lacks avx512 f/bw/vl/vnni)\n");
    if (cpu_features().x86_avx2_fma_f16c()) {
      if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): avx2\n");
      return std::ref(vecmath_kernels_avx2());
    }
    if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): avx2 declined (the CPU lacks avx2/fma/f16c)\n");
#elif defined(__aarch64__)
    if (cpu_features().neon) {
      if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): neon\n");
      return std::ref(vecmath_kernels_neon());
    }
    if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): neon declined (the CPU lacks it)\n");
#endif
    if (verbose) std::fprintf(stderr, "ember: vecmath (exp, silu): scalar\n");
    return std::ref(vecmath_kernels_scalar());
  }();
  return chosen;
}

}  // namespace ember::kernels
