// SIMD variants of the dot products in quant.h, and the dispatch that picks one.
//
// Each weight type has an ordered list of candidates, best first; a candidate accepts when
// the CPU has its instruction set. The first that accepts runs; the scalar kernel in
// vec_dot.cpp is always last, and is the oracle every variant is tested against.
// EMBER_VERBOSE=1 prints, once per type, which kernel was chosen and why the others declined.
//
// The NEON variants (aarch64) keep exact integer block sums (vdotq_s32 where the CPU has the
// dot-product instructions, vmull_s8 otherwise) and differ from the scalar kernels only in the
// order of the f32 additions (legacy quants, floats) or not at all (q4_K, q5_K, q6_K: the scalar
// per-super-block float expression).
//
// The AVX2 variants keep llama.cpp's arithmetic structure (integer block sums in 8 lanes,
// one fused multiply-add per block into 8 f32 lane accumulators, then the same horizontal
// reduction), so their results are bit-identical to llama.cpp's on the same CPU.
#pragma once

#include <cstdint>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

struct VecDotCandidate {
  const char* isa;           // "avx2", "neon-dotprod", "neon", "scalar"
  bool (*cpu_has)();         // does this CPU run it?
  VecDotFn fn;
  // false: not the arithmetic llama.cpp's CPU build uses for the type (q4_1's block-sum order,
  // which the q4_1x16 matmul streams far faster); declined when EMBER_LLAMA_EXACT=1.
  bool llama_order = true;
};

// EMBER_LLAMA_EXACT=1 (read once): only llama.cpp's arithmetic, so logits match its x86 build
// bit for bit. Unset or 0: the faster orders are allowed where they exist.
bool llama_exact();

// Candidates for a weight type (best first, scalar last); count in *n. nullptr if none.
const VecDotCandidate* vec_dot_candidates(uint32_t type, int* n);
// The first candidate the CPU accepts; logs the choice when EMBER_VERBOSE is set.
VecDotFn select_vec_dot(uint32_t type);

#if defined(__x86_64__)
float vec_dot_q4_0_q8_0_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_avx2(int64_t n, const void* w, const void* a);
// Activation quantisers, bit-identical to quantize_row_q8_0 / quantize_row_q8_1 (quant.h).
void quantize_row_q8_0_avx2(const float* src, void* dst, int64_t n);
void quantize_row_q8_1_avx2(const float* src, void* dst, int64_t n);
// q4_0 as llama.cpp's AVX2 build computes it for weights it repacks 8 rows at a time (every
// matmul whose row count is a multiple of 8): one f32 accumulator, one fused multiply-add of
// each block's integer sum.
float vec_dot_q4_0_q8_0_x8_avx2(int64_t n, const void* w, const void* a);
// avx512.cpp (AVX-512 F/BW/VL/VNNI): the four kernels above with vpdpbusd, bit-identical to
// their _avx2 twins (x86_dots.inc).
float vec_dot_q4_0_q8_0_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q4_0_q8_0_x8_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1_avx512(int64_t n, const void* w, const void* a);
// q4_1 in the block-sum order (quant.h): bit-identical to vec_dot_q4_1_q8_1_bs and to each other.
float vec_dot_q4_1_q8_1_bs_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1_bs_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_bs_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_bs_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_avx512(int64_t n, const void* w, const void* a);
// The K-quant kernels of x86_kquant.inc with VNNI (vpdpwssd), bit-identical to their _avx2 twins.
float vec_dot_q4_K_q8_K_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_x8_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_x8_gemm_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q5_K_q8_K_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K_avx512(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K_tiled_avx512(int64_t n, const void* w, const void* a);
// avx2_more.cpp
float vec_dot_q5_0_q8_0_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q5_1_q8_1_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_avx2(int64_t n, const void* w, const void* a);
// q4_K as llama.cpp's AVX2 build computes it for weights it repacks 8 rows at a time (every
// matmul whose row count is a multiple of 8): one integer sum per super-block and row, scaled
// by d and dmin into two f32 accumulators, subtracted at the end.
float vec_dot_q4_K_q8_K_x8_avx2(int64_t n, const void* w, const void* a);
// The same weights as llama.cpp's repacked GEMM computes a row inside a complete group of 4
// activation rows: one fused multiply-add per 64 elements (quant.h, vec_dot_q4_K_q8_K_x8_gemm).
// Not a dispatch candidate: the multi-row kernels (kernels/cpu/gemm) use it for those rows.
float vec_dot_q4_K_q8_K_x8_gemm_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q5_K_q8_K_avx2(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K_avx2(int64_t n, const void* w, const void* a);
// q6_K in the order of llama.cpp's tiled matmul (batches of 8 rows or more; quant.h). Not a
// dispatch candidate: the multi-row kernels (kernels/cpu/gemm) use it for such batches.
float vec_dot_q6_K_q8_K_tiled_avx2(int64_t n, const void* w, const void* a);
float vec_dot_f16_f16_avx2(int64_t n, const void* w, const void* a);
// avx2_f32.cpp: f32 weights, in llama.cpp's order for them (its llamafile sgemm when n % 8 == 0:
// one 8-lane accumulator per output; else its ggml_vec_dot_f32: four; quant.h,
// vec_dot_f32_f32_lanes). The f32 GEMM of kernels/cpu/gemm (gemm_f32.h) reproduces it.
float vec_dot_f32_f32_avx2(int64_t n, const void* w, const void* a);
// ggml_vec_dot_f32's order at any n: llama.cpp's for weights whose row count is not a multiple
// of 4 (its sgemm declines them). Not a dispatch candidate: the f32 GEMM uses it for them.
float vec_dot_f32_f32_x4_avx2(int64_t n, const void* w, const void* a);
float vec_dot_bf16_bf16_avx2(int64_t n, const void* w, const void* a);
// f16/bf16 in llama.cpp's sgemm order when n % 8 == 0 (one 8-lane accumulator, hsum8), else
// the _x4 order below; _x4: ggml's vec_dot_f16 / vec_dot_bf16 order at any n (four
// accumulators by 32, tail added in double), for weights whose row count is not a multiple of 4.
float vec_dot_f16_f16_x4_avx2(int64_t n, const void* w, const void* a);
float vec_dot_bf16_bf16_x4_avx2(int64_t n, const void* w, const void* a);
// Four weight rows w[0..3] against one activation row: out[r] is exactly
// vec_dot_f16_f16_avx2(n, w[r], a) (bf16 likewise), n % 8 == 0. For decode GEMVs, where one
// row at a time would wait on its single FMA chain.
void vec_dot4_f16_f16_avx2(int64_t n, const void* const* w, const void* a, float* out);
void vec_dot4_bf16_bf16_avx2(int64_t n, const void* const* w, const void* a, float* out);
#endif
// The four-row twin of a per-row dot product (the one above for the dot product the dispatch
// picked for f16 / bf16), or nullptr: then rows are done one at a time.
using VecDot4Fn = void (*)(int64_t n, const void* const* w, const void* a, float* out);
VecDot4Fn vec_dot4_for(VecDotFn per_row);
// The dot product the matmul uses for a weight of `rows` rows: the dispatched one, except that
// f32/f16/bf16 weights whose row count is not a multiple of 4 take the _x4 order (llama.cpp's
// sgemm declines them). nullptr where the type has none.
VecDotFn vec_dot_for_weight(uint32_t type, int64_t rows);
#if defined(__x86_64__)
#endif

#if defined(__aarch64__)
// neon.cpp: any aarch64 (baseline armv8-a; 8-bit products by vmull_s8 + vpadalq_s16).
float vec_dot_q4_0_q8_0_neon(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1_neon(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_neon(int64_t n, const void* w, const void* a);
float vec_dot_q5_0_q8_0_neon(int64_t n, const void* w, const void* a);
float vec_dot_q5_1_q8_1_neon(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_neon(int64_t n, const void* w, const void* a);
float vec_dot_q5_K_q8_K_neon(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K_neon(int64_t n, const void* w, const void* a);
float vec_dot_f32_f32_neon(int64_t n, const void* w, const void* a);
float vec_dot_f16_f16_neon(int64_t n, const void* w, const void* a);
float vec_dot_bf16_bf16_neon(int64_t n, const void* w, const void* a);
// Activation quantisers, byte-identical to quantize_row_q8_0 / quantize_row_q8_1 (quant.h).
void quantize_row_q8_0_neon(const float* src, void* dst, int64_t n);
void quantize_row_q8_1_neon(const float* src, void* dst, int64_t n);
// neon_dotprod.cpp: CPUs with the armv8.2 dot-product instructions (HWCAP_ASIMDDP; vdotq_s32).
float vec_dot_q4_0_q8_0_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_dotprod(int64_t n, const void* w, const void* a);
// The block-sum order (quant.h), bit-identical to vec_dot_q4_1_q8_1_bs / vec_dot_q8_0_q8_0_bs.
float vec_dot_q4_1_q8_1_bs_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0_bs_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q5_0_q8_0_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q5_1_q8_1_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q5_K_q8_K_dotprod(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K_dotprod(int64_t n, const void* w, const void* a);
#endif

}  // namespace ember::kernels
