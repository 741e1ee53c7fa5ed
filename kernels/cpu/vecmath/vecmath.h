// Vectorised transcendental loops whose results must equal llama.cpp's x86 build bit for bit
// (see docs/architecture.md, "Numerics"): an 8-lane exp and the SwiGLU product built on it.
//
// exp8 is the classic range-reduced polynomial exp: n = round(x * log2 e) by the 1.5 * 2^23
// shift trick, r = x - n * ln2 (ln2 split in two parts), exp(r) ~ 1 + r + c2 r^2 + ... + c5 r^5
// evaluated as an Estrin pair, scaled by 2^n built in the exponent bits, with a slower path
// when |n| > 126 (scale split in two factors) and > 192 (overflow to inf / underflow to 0).
// Its constants are the published ones of Arm's optimized-routines expf; llama.cpp uses the
// same function (ggml_v_expf), which is why ember uses it: libm's expf differs in the last
// bit for a few inputs, and those bits move whole q8 blocks a few layers later.
//
// The scalar variant emulates the eight lanes one at a time with std::fma and bit casts and
// is bit-identical to the AVX2 one (tests/kernels/simd_test.cpp checks it).
#pragma once

#include <cstdint>

namespace ember::kernels {

struct VecMathKernels {
  const char* isa;
  // y[i] = silu(g[i]) * u[i] for i < n, silu(x) = x / (1 + exp(-x)): blocks of 8 with exp8,
  // the n % 8 tail with libm's expf (as llama.cpp's ggml_vec_swiglu_f32 does).
  void (*silu_mul)(int64_t n, float* y, const float* g, const float* u);
  // v[i] = exp8(v[i] - max) for i < 8; returns ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
  float (*exp8_sum)(float* v, float max);
  // exp8_sum over `groups` consecutive groups of 8: sums[g] = exp8_sum(v + 8 * g, max).
  void (*exp8_sums)(float* v, int64_t groups, float max, float* sums);
  // v[i] = f16(v[i]) widened back, round to nearest even (IEEE; f32_to_fp16 / fp16_to_f32 of
  // kernels/cpu/fp16.h for every finite or infinite value).
  void (*round_f16)(float* v, int64_t n);
};

// exp8_sums one group at a time through an exp8_sum (the variants without a wider loop).
template <float (*F)(float*, float)>
void exp8_sums_each(float* v, int64_t groups, float max, float* sums) {
  for (int64_t g = 0; g < groups; ++g) sums[g] = F(v + 8 * g, max);
}

const VecMathKernels& vecmath_kernels_scalar();
#if defined(__x86_64__)
const VecMathKernels& vecmath_kernels_avx2();
// 16 lanes where the CPU has AVX-512 F/BW/VL/VNNI: the same operations lane by lane, so
// bit-identical to the AVX2 variant (two groups of 8 per register in exp8_sums).
const VecMathKernels& vecmath_kernels_avx512();
#endif
#if defined(__aarch64__)
// Two 4-lane halves per block of 8; bit-identical to the scalar emulation as well.
const VecMathKernels& vecmath_kernels_neon();
#endif
// The best variant for this CPU (EMBER_VERBOSE=1 logs the choice).
const VecMathKernels& vecmath_kernels();

// One lane of exp8, for tests and scalar tails.
float exp8_lane(float x);

}  // namespace ember::kernels
