// f32 matmul for f32 weights: y[i][j] = dot(weight row j, activation row i) for a block of
// weight rows against a block of activation rows, both row-major along K.
//
// Exactness contract (as gemm.h): every output is bit-identical to the per-row dot product the
// quant dispatch picks for f32 (vec_dot_f32_f32_avx2 on AVX2 CPUs: one 8-lane accumulator per
// output stepping K by 8, one fixed horizontal reduction). A register tile only runs several
// such accumulators side by side, so neither M nor the tiling ever changes a bit. K not a
// multiple of 8, or a weight whose row count is not a multiple of 4 (sgemm_order = false), runs
// per-row dot products in ggml_vec_dot_f32's order (no tiling), as llama.cpp does.
//
// Candidates best first, scalar last; the first that this CPU runs and whose same_as is the
// per-row dot product in use is chosen once (EMBER_VERBOSE=1 logs it).
#pragma once

#include <cstdint>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

struct GemmF32Args {
  int64_t k = 0;              // elements per row
  const float* w = nullptr;   // [n][w_stride] weight rows
  int64_t w_stride = 0;       // floats between weight rows (>= k)
  int64_t n = 0;              // weight rows (outputs per activation row), >= 0
  const float* a = nullptr;   // [m][a_stride] activation rows
  int64_t a_stride = 0;       // floats between activation rows (>= k)
  int64_t m = 0;              // activation rows, >= 0
  float* y = nullptr;         // y[i * y_stride + j], i < m, j < n
  int64_t y_stride = 0;       // floats between outputs of successive activation rows
  // false: the weight's whole row count is not a multiple of 4, where llama.cpp's sgemm
  // declines and its ggml_vec_dot_f32 runs (four accumulators): every output is then
  // vec_dot_f32_f32_x4_avx2 (scalar candidates ignore it).
  bool sgemm_order = true;
};

using GemmF32Fn = void (*)(const GemmF32Args& p);

struct GemmF32Candidate {
  const char* isa;    // "avx512", "avx2", "scalar"
  bool (*cpu_has)();  // does this CPU run it?
  GemmF32Fn fn;
  VecDotFn same_as;   // the per-row dot product it reproduces bit for bit
};

// Candidates (best first, scalar last); count in *n.
const GemmF32Candidate* gemm_f32_candidates(int* n);
// The chosen kernel (see above); nullptr where none reproduces the per-row dot product in use.
GemmF32Fn find_gemm_f32();

// Scalar: vec_dot_f32_f32 per output (the scalar dispatch's dot product).
void gemm_f32(const GemmF32Args& p);
// Scalar twin of gemm_f32_avx2 (the oracle of its tests, not dispatched): vec_dot_f32_f32_lanes
// per output (vec_dot_f32_f32_x4_lanes where sgemm_order is false).
void gemm_f32_lanes(const GemmF32Args& p);
#if defined(__x86_64__)
// AVX2 + FMA: register tiles of 3 weight rows x 4 activation rows (4 x 1..3 for M < 4),
// weight rows blocked to stay in L2 while the activation rows pass.
void gemm_f32_avx2(const GemmF32Args& p);
// AVX-512 F/BW/VL/VNNI + FMA: the same outputs bit for bit (vec_dot_f32_f32_avx2 per output,
// vec_dot_f32_f32_x4_avx2 where sgemm_order is false), two outputs' 8-lane chains per zmm
// (activation rows 2p and 2p + 1 in its halves): tiles of 6 weight rows x 8 activation rows.
// K % 8 != 0, sgemm_order false and M < 4 run gemm_f32_avx2.
void gemm_f32_avx512(const GemmF32Args& p);
#endif

}  // namespace ember::kernels
