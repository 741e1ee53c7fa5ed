// ggml/GGUF block formats: layouts, scalar dequantisation, activation quantisation and the
// weight-row x activation-row dot products the CPU matmul is built from.
//
// Layouts are the published GGUF ones (little-endian; every f16 field is IEEE binary16 bits).
// All functions take raw pointers, never allocate, and assert their preconditions: n is a
// multiple of the type's block size, and src/dst hold whole blocks.
//
// Activation numerics: the matmul quantises its f32 activations the way llama.cpp's x86 CPU
// backend does (AVX/AVX2 path), so that ember and the reference see the same int8 activations:
//   q8_0 / q8_1: d = amax/127, q = round_half_even(x * (127/amax)); q8_1 adds s = f16(d*sum(q)).
//   q8_K:        d = 1/iscale with iscale = -127/max (max = signed value of largest |x|),
//                q = min(127, round_half_even(iscale*x)), bsums = sums of 16-element groups.
// ggml's portable reference (quantize_row_q8_{0,1}_ref, used when ggml has no SIMD path and by
// gguf-py) instead computes id = 1/d and rounds half away from zero; it is provided as the
// *_ref variants. The two differ only on rare ties / one-ulp differences of the multiplier.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::kernels {

// ggml type ids (the same numbers as in GGUF tensor infos).
inline constexpr uint32_t kTypeF32 = 0;
inline constexpr uint32_t kTypeF16 = 1;
inline constexpr uint32_t kTypeQ4_0 = 2;
inline constexpr uint32_t kTypeQ4_1 = 3;
inline constexpr uint32_t kTypeQ5_0 = 6;
inline constexpr uint32_t kTypeQ5_1 = 7;
inline constexpr uint32_t kTypeQ8_0 = 8;
inline constexpr uint32_t kTypeQ8_1 = 9;
inline constexpr uint32_t kTypeQ4_K = 12;
inline constexpr uint32_t kTypeQ5_K = 13;
inline constexpr uint32_t kTypeQ6_K = 14;
inline constexpr uint32_t kTypeQ8_K = 15;
inline constexpr uint32_t kTypeBF16 = 30;

inline constexpr int kQK = 32;    // elements per block of the legacy quants
inline constexpr int kQK_K = 256;  // elements per K-quant super-block

// ---- block layouts --------------------------------------------------------------------------
// x = d * (q - 8), q in 0..15; element j in low nibble of qs[j], element j+16 in high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// x = d * q + m, q in 0..15, same nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
// x = d * (q - 16), q = nibble (as Q4_0) | bit j of little-endian u32 qh << 4.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q + m, q as Q5_0 without the offset.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
// x = d * q; s = d * sum(q) (both f16).
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};
// 8 sub-blocks of 32; sub-block j: x = d*sc[j]*q - dmin*m[j], q in 0..15.
// 6-bit sc/m packed in 12 bytes: for j < 4, sc = scales[j] & 63, m = scales[j+4] & 63;
// for j >= 4, sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4,
//             m  = (scales[j+4] >> 4) | (scales[j] >> 6) << 4.
// qs: 4 chunks of 32 bytes; chunk c holds sub-block 2c in low nibbles, 2c+1 in high nibbles.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
// As Q4_K with a fifth bit: element l of sub-block j has its high bit at qh[l] bit j.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
// 16 groups of 16; x = d * scales[g] * (q - 32), q 6 bits. Per half h (128 elements), with
// l in 0..31: element 32*k + l of the half takes low bits from ql[64h + 32*(k&1) + l] (low nibble
// for k < 2, high for k >= 2) and high bits from (qh[32h + l] >> 2k) & 3; group = 8h + 2k + l/16.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
// Activation super-block for K-quant dot products: x = d * q; bsums[g] = sum of q[16g..16g+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block.
inline void unpack_k_scale_min(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// ---- dequantisation: n elements from src (whole blocks) to f32 -------------------------------
void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);
void dequantize_row_q4_K(const void* src, float* dst, int64_t n);
void dequantize_row_q5_K(const void* src, float* dst, int64_t n);
void dequantize_row_q6_K(const void* src, float* dst, int64_t n);
void dequantize_row_q8_K(const void* src, float* dst, int64_t n);

// ---- activation quantisation: n f32 values to whole blocks (see numerics note above) ---------
void quantize_row_f32(const float* src, void* dst, int64_t n);   // plain copy
void quantize_row_f16(const float* src, void* dst, int64_t n);   // round to nearest even
void quantize_row_bf16(const float* src, void* dst, int64_t n);  // round to nearest even
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void quantize_row_q8_1(const float* src, void* dst, int64_t n);
void quantize_row_q8_K(const float* src, void* dst, int64_t n);
void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n);
void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n);

// ---- dot products: n elements of a weight row w against an activation row a ------------------
// a is in the weight type's activation type (QuantTypeKernels::act_type). Integer sums inside a
// block, one float scaling per block (per sub-block for K-quants), f32 accumulation.
float vec_dot_f32_f32(int64_t n, const void* w, const void* a);
// Scalar twin of vec_dot_f32_f32_avx2 (simd.h), in its exact order: n % 8 == 0, one 8-lane
// accumulator stepping by 8 (fused multiply-adds), reduced as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7));
// otherwise four 8-lane accumulators stepping by 32, (s0+s2)+(s1+s3), halves added, two
// pairwise horizontal adds, then the tail one fused multiply-add at a time.
float vec_dot_f32_f32_lanes(int64_t n, const void* w, const void* a);
// Scalar twin of vec_dot_f32_f32_x4_avx2: the second order above (four accumulators) at any n.
float vec_dot_f32_f32_x4_lanes(int64_t n, const void* w, const void* a);
float vec_dot_f16_f16(int64_t n, const void* w, const void* a);
float vec_dot_bf16_bf16(int64_t n, const void* w, const void* a);
float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a);
float vec_dot_q4_1_q8_1(int64_t n, const void* w, const void* a);
float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a);
float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* a);
float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a);
float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a);
float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a);

// q4_K in the float order of llama.cpp's x86 build for the weights it repacks 8 rows at a time
// (AVX2, row count a multiple of 8). Each row keeps two f32 accumulators, one for the scaled
// sums and one for the mins, and returns sums - mins; what differs is how often they are
// updated. These scalar forms are the oracles of the AVX2 kernels of the same names (simd.h).
//   _x8:      an activation row on its own (llama.cpp's GEMV: decode steps, and the last
//             rows % 4 rows of a batch): one fused multiply-add of each super-block's whole
//             integer sum with d_w * d_a (and of its mins sum with dmin_w * d_a).
//   _x8_gemm: a row inside a complete group of 4 activation rows (llama.cpp's GEMM: rows
//             0 .. rows - rows % 4 of a batch): one fused multiply-add per 64 elements (a pair
//             of sub-blocks), four per super-block, for the sums and the mins alike.
float vec_dot_q4_K_q8_K_x8(int64_t n, const void* w, const void* a);
float vec_dot_q4_K_q8_K_x8_gemm(int64_t n, const void* w, const void* a);

// q4_1 in the block-sum order (not llama.cpp's): one f32 accumulator; per block i,
// acc = fma(d_w * d_a, float(isum_i), acc), then acc = fma(m_w, s_a, acc). The oracle of the
// _bs SIMD kernels (simd.h) and of the q4_1x16 matmul (kernels/cpu/gemm/gemm.h), which all
// return exactly these bits.
float vec_dot_q4_1_q8_1_bs(int64_t n, const void* w, const void* a);
// q8_0 in the block-sum order: acc = fma(d_w * d_a, float(isum_i), acc) per block (the q8_0x16
// matmul's arithmetic).
float vec_dot_q8_0_q8_0_bs(int64_t n, const void* w, const void* a);

// q6_K as llama.cpp's x86 build computes a matmul of at least 8 activation rows (its tiled
// K-quant matmul, ggml-cpu/tiled, on by default; fewer rows go to its vec_dot): per
// super-block t = d_w * (float)isum rounded, then acc = fma(t, d_a, acc), one f32 accumulator.
// The scalar oracle of vec_dot_q6_K_q8_K_tiled_avx2 (simd.h).
float vec_dot_q6_K_q8_K_tiled(int64_t n, const void* w, const void* a);

// ---- dispatch table ---------------------------------------------------------------------------
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

struct QuantTypeKernels {
  uint32_t type;              // ggml type id
  const char* name;           // "q4_1", ...
  int64_t block_elems;        // elements per block (1 for f32/f16/bf16)
  size_t block_bytes;         // bytes per block
  DequantizeRowFn dequantize;
  uint32_t act_type;          // type the activation row must be in for vec_dot
  QuantizeRowFn quantize_act; // f32 -> act_type (the act type's own quantiser)
  VecDotFn vec_dot;           // nullptr where the type is never a matmul weight (q8_1, q8_K)
};

// The kernels for a ggml type id, or nullptr when the type is not supported here.
const QuantTypeKernels* find_quant_kernels(uint32_t type);

// Bytes taken by n elements of a supported type (n a multiple of its block size).
size_t quant_row_bytes(const QuantTypeKernels& k, int64_t n);

}  // namespace ember::kernels
