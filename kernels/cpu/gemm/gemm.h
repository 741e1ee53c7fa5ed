// Multi-row dot products for the CPU matmul's prefill path: one weight row against several
// activation rows, so a weight block is decoded (nibbles unpacked, scales widened) once for all
// of them instead of once per row.
//
// Exactness contract: output r is bit-identical to the single-row dot product the quant
// dispatch picks on the same CPU (simd.h), i.e. vec_dot(n, w, a + r * a_stride). Each output
// keeps its own accumulator and sees exactly the same float operations in the same order;
// only the integer decoding of the weight block is shared. So switching between the two
// paths never changes a result bit.
//
// Two exceptions, because llama.cpp has them (x86 AVX2 build): it computes some activation rows
// of a batch with another kernel than single rows, adding in another order. A candidate that
// follows one computes those rows as `batched_as` and the others as `same_as`; `batched_when`
// says which rows (vec_dot_rows_twin below is the rule, and what the tests check):
//   kGroupsOf4: q4_K weights it repacks compute the rows in complete groups of 4 (rows 0 ..
//     rows - rows % 4) with its GEMM, the rest one by one with its GEMV. Groups are counted from
//     the call's first row: the matmul calls with rows = 4 from row 0, then once for the rest.
//   kBatchOf8: q6_K weights (not repacked on x86) go to its tiled K-quant matmul when the whole
//     matmul has at least 8 activation rows (DotRowsArgs::batch_rows), else to its vec_dot.
// For every other candidate batched_when is kNever and batched_as == same_as. Callers that
// split a matmul into calls must set batch_rows and start each call at a multiple of 4.
//
// Each weight type has an ordered list of candidates, best first, and a scalar one last that
// simply loops the scalar per-row dot product. EMBER_VERBOSE=1 logs the choice once per type.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

// One weight row against `rows` activation rows.
struct DotRowsArgs {
  int64_t n = 0;             // elements per row, a multiple of the weight block size
  const void* w = nullptr;   // [n] one weight row (whole blocks)
  const uint8_t* a = nullptr;  // [rows][a_stride bytes] activation rows in the weight's act type
  size_t a_stride = 0;       // bytes between activation rows (>= the row's size)
  int64_t rows = 0;          // activation rows, >= 1 (any count; groups of 4, or 8, inside)
  float* y = nullptr;        // y[r * y_stride] = dot(w, activation row r)
  int64_t y_stride = 0;      // floats between outputs of successive activation rows
  int64_t batch_rows = 0;    // activation rows of the whole matmul this call is part of (0: rows)
  // Pair mode (only for a candidate with `pairs`): a second weight row w1, whose outputs go
  // to y[r * y_stride + 1], and the activation blocks' f16 scale (and q8_1 sum) already
  // widened to f32, block-major: ad[i * s_stride + r] for block i of row r (as likewise,
  // q8_1 only), s_stride >= rows + 3 (a kernel may load four rows' values at once).
  // The results are those of two single-row calls; only loads and conversions are shared.
  const void* w1 = nullptr;
  const float* ad = nullptr;
  const float* as = nullptr;
  int64_t s_stride = 0;
};

using VecDotRowsFn = void (*)(const DotRowsArgs& p);

enum class Batched { kNever, kGroupsOf4, kBatchOf8 };

struct VecDotRowsCandidate {
  const char* isa;     // "avx512", "avx2", "scalar" (the per-row candidate's name in quant/simd.h)
  bool (*cpu_has)();   // does this CPU run it?
  VecDotRowsFn fn;
  VecDotFn same_as;    // the per-row dot product whose results it reproduces bit for bit
  VecDotFn batched_as; // the same for the rows batched_when names (see above)
  Batched batched_when;
  VecDotRowsFn pairs = nullptr;  // the same arithmetic in pair mode (see DotRowsArgs), if any
  // Pair mode over a row pair in the candidate's packed weight layout (pack.h; q4_1: q4_1x2):
  // p.w is the pair (q4_1x2_pair), p.w1 unused; the results are those of `pairs` on the
  // plain rows. nullptr: the candidate reads only plain weights.
  VecDotRowsFn packed_pairs = nullptr;
};

// The per-row dot product that output r (0-based) of a call with `rows` rows, part of a matmul
// of batch_rows rows (0: rows), must reproduce bit for bit.
VecDotFn vec_dot_rows_twin(const VecDotRowsCandidate& c, int64_t r, int64_t rows, int64_t batch_rows);

// The chosen candidate's pair-mode kernel for a type (nullptr: none; use the single-row one).
VecDotRowsFn find_vec_dot_rows_pairs(uint32_t type);
// The chosen candidate's packed pair-mode kernel (nullptr: it wants plain weights).
VecDotRowsFn find_vec_dot_rows_packed_pairs(uint32_t type);

// Candidates for a weight type id (best first, scalar last); count in *n. nullptr if none.
const VecDotRowsCandidate* vec_dot_rows_candidates(uint32_t type, int* n);
// The first candidate that this CPU runs and that reproduces the per-row dot product the quant
// dispatch picked (same_as == find_quant_kernels(type)->vec_dot); chosen once per type and
// logged when EMBER_VERBOSE is set. nullptr when there is none: callers then loop that per-row
// dot product, so the two paths never disagree.
VecDotRowsFn find_vec_dot_rows(uint32_t type);

// Scalar: the scalar per-row dot product (quant.h) once per activation row.
void vec_dot_rows_q4_0_q8_0(const DotRowsArgs& p);
void vec_dot_rows_q4_1_q8_1(const DotRowsArgs& p);
void vec_dot_rows_q8_0_q8_0(const DotRowsArgs& p);
void vec_dot_rows_q4_K_q8_K(const DotRowsArgs& p);
// Scalar twin of vec_dot_rows_q4_K_q8_K_x8_avx2 (the oracle of its tests, not dispatched): rows
// in complete groups of 4 by vec_dot_q4_K_q8_K_x8_gemm, the rest by vec_dot_q4_K_q8_K_x8.
void vec_dot_rows_q4_K_q8_K_x8(const DotRowsArgs& p);
void vec_dot_rows_q6_K_q8_K(const DotRowsArgs& p);
// Scalar twin of vec_dot_rows_q6_K_q8_K_avx2 (not dispatched): batch_rows >= 8 by
// vec_dot_q6_K_q8_K_tiled, else vec_dot_q6_K_q8_K.
void vec_dot_rows_q6_K_q8_K_tiled(const DotRowsArgs& p);

#if defined(__x86_64__)
// AVX2 + FMA + F16C; bit-identical to the *_avx2 dot products in simd.h.
void vec_dot_rows_q4_0_q8_0_avx2(const DotRowsArgs& p);
void vec_dot_rows_q4_0_q8_0_x8_avx2(const DotRowsArgs& p);
void vec_dot_rows_q4_1_q8_1_avx2(const DotRowsArgs& p);
void vec_dot_rows_q8_0_q8_0_avx2(const DotRowsArgs& p);
void vec_dot_pairs_q4_1_q8_1_avx2(const DotRowsArgs& p);
void vec_dot_pairs_q8_0_q8_0_avx2(const DotRowsArgs& p);
// avx512.cpp (AVX-512 F/BW/VL/VNNI): the rows kernels above with vpdpbusd, bit-identical to the
// _avx512 per-row dot products (hence to the _avx2 ones); pair mode with both weight rows in
// one zmm register (one half each).
void vec_dot_rows_q4_0_q8_0_avx512(const DotRowsArgs& p);
void vec_dot_rows_q4_0_q8_0_x8_avx512(const DotRowsArgs& p);
void vec_dot_rows_q4_1_q8_1_avx512(const DotRowsArgs& p);
void vec_dot_rows_q8_0_q8_0_avx512(const DotRowsArgs& p);
void vec_dot_pairs_q4_1_q8_1_avx512(const DotRowsArgs& p);
void vec_dot_pairs_q8_0_q8_0_avx512(const DotRowsArgs& p);
// Pair mode over q4_1x2 row pairs (pack.h), AVX2 and AVX-512.
void vec_dot_pairs_q4_1x2_q8_1_avx2(const DotRowsArgs& p);
void vec_dot_pairs_q4_1x2_q8_1_avx512(const DotRowsArgs& p);
// avx2_kquant.cpp: llama.cpp's repacked q4_K arithmetic, GEMM for complete groups of 4 rows and
// GEMV for the rest; q6_K as its tiled matmul (batch_rows >= 8) or its vec_dot (see above).
void vec_dot_rows_q4_K_q8_K_x8_avx2(const DotRowsArgs& p);
void vec_dot_rows_q6_K_q8_K_avx2(const DotRowsArgs& p);
// avx512_kquant.cpp: the same with VNNI's vpdpwssd, bit-identical to the _avx2 ones.
void vec_dot_rows_q4_K_q8_K_x8_avx512(const DotRowsArgs& p);
void vec_dot_rows_q6_K_q8_K_avx512(const DotRowsArgs& p);
#endif
#if defined(__aarch64__)
// NEON (neon.cpp, any aarch64) and dot-product (neon_dotprod.cpp) twins of the per-row
// *_neon / *_dotprod kernels in quant/simd.h: nibbles unpacked once for up to 4 rows.
void vec_dot_rows_q4_0_q8_0_neon(const DotRowsArgs& p);
void vec_dot_rows_q4_1_q8_1_neon(const DotRowsArgs& p);
void vec_dot_rows_q8_0_q8_0_neon(const DotRowsArgs& p);
void vec_dot_rows_q4_0_q8_0_dotprod(const DotRowsArgs& p);
void vec_dot_rows_q4_1_q8_1_dotprod(const DotRowsArgs& p);
void vec_dot_rows_q8_0_q8_0_dotprod(const DotRowsArgs& p);
#endif
// The x16 matmuls: q4_1x16 weights (pack.h) against q8_1 activation rows, q8_0x16 against
// q8_0, in the block-sum order: for each output, acc = 0, then per block i:
// acc = fma(d_w * d_a, float(integer block sum), acc) (q4_1: then acc = fma(m_w, s_a, acc)).
// That is the order of vec_dot_q4_1_q8_1_bs / vec_dot_q8_0_q8_0_bs (quant.h); the integer sums
// are exact in any order, so scalar, AVX2 and AVX-512 give the same bits, at every M. It is not
// llama.cpp's order for these types (8 f32 lanes per output, reduced at the end): the quant
// dispatch picks it unless EMBER_LLAMA_EXACT=1 (quant/simd.h).
struct GemmX16Args {
  int64_t k = 0;                 // elements per row (a multiple of 32)
  const void* w = nullptr;       // the first row group (q4_1x16_group)
  int64_t groups = 0;            // row groups of 16 to compute
  const uint8_t* a = nullptr;    // [rows][a_stride bytes] q8_1 activation rows
  size_t a_stride = 0;
  int64_t rows = 0;              // activation rows, >= 1
  const float* ad = nullptr;     // widened activation scales and sums, as in DotRowsArgs
  const float* as = nullptr;
  int64_t s_stride = 0;          // >= rows
  float* y = nullptr;            // y[r * y_stride + 16 g + j] = output row j of group g
  int64_t y_stride = 0;
  // q8_0 only: 128 * (sum of the activation block's 32 values), block-major like ad. The
  // AVX-512 kernel feeds vpdpbusd the weights + 128 as unsigned bytes and subtracts this.
  const int32_t* asum = nullptr;
};
using GemmX16Fn = void (*)(const GemmX16Args& p);
void gemm_q4_1x16_q8_1(const GemmX16Args& p);  // scalar: the oracles
void gemm_q8_0x16_q8_0(const GemmX16Args& p);
#if defined(__x86_64__)
void gemm_q4_1x16_q8_1_avx2(const GemmX16Args& p);
void gemm_q4_1x16_q8_1_avx512(const GemmX16Args& p);
void gemm_q8_0x16_q8_0_avx2(const GemmX16Args& p);
void gemm_q8_0x16_q8_0_avx512(const GemmX16Args& p);
#endif
#if defined(__aarch64__)
// neon_dotprod_x16.cpp (armv8.2 dot product): four rows per register, vdotq_laneq_s32 against
// the activation's 4-byte groups in place (no broadcast).
void gemm_q4_1x16_q8_1_dotprod(const GemmX16Args& p);
void gemm_q8_0x16_q8_0_dotprod(const GemmX16Args& p);
#endif
struct GemmX16Candidate {
  const char* isa;
  bool (*cpu_has)();
  GemmX16Fn fn;
};
// Candidates for kTypeQ4_1 or kTypeQ8_0 (best first, scalar last); nullptr for other types.
const GemmX16Candidate* gemm_x16_candidates(uint32_t type, int* n);
// The first candidate this CPU runs, where the type's dot product in use is the block-sum order
// (so both paths agree bit for bit); nullptr otherwise. Logged once per type with EMBER_VERBOSE.
GemmX16Fn find_gemm_x16(uint32_t type);

// Pair mode, scalar: the scalar per-row dot product for both weight rows.
void vec_dot_pairs_q4_1_q8_1(const DotRowsArgs& p);
void vec_dot_pairs_q8_0_q8_0(const DotRowsArgs& p);

}  // namespace ember::kernels
