// Weight layouts that the multi-row kernels stream better than the file's, made once at load
// by the graph compiler's prepare-weights pass (graph/passes/prepare_weights.cpp) through the
// backend; the model file is never modified.
//
// q4_1x2: the rows of a q4_1 weight in pairs (2j, 2j+1). Block i of a pair holds both rows'
// block i: their f16 scales and mins side by side, then row 2j's 16 nibble bytes and row
// 2j+1's. Same size as the two plain blocks (40 bytes). What it buys the pair-mode kernels,
// which read two rows at once (gemm.h): one 8-byte load and one f16 conversion give both rows'
// d and m (instead of four scalar loads and conversions), and one 32-byte load both rows'
// nibbles; one weight stream instead of two for the prefetcher. The arithmetic, and so every
// result bit, is that of the plain layout. An odd last row stays a plain q4_1 row after the
// pairs.
//
// q4_1x16: the rows of a q4_1 weight in groups of 16 (rows a multiple of 16), block-interleaved
// for integer dot products with one output row per 32-bit lane. Block i of a group holds the 16
// rows' f16 scales, then their mins, then their nibbles as qs[t][row][4 bytes] = bytes 4t..4t+3
// of that row's plain block, t = 0..3. One 64-byte load of qs[t] gives a 16-lane register
// whose lane j holds elements 4t..4t+3 of row j (low nibbles) and 16+4t..16+4t+3 (high
// nibbles), so `vpdpbusd` against 4 activation bytes broadcast to every lane advances all 16
// rows' block sums at once, and one f32 multiply-add per block scales 16 outputs. The
// arithmetic is the block-sum order of gemm.h (not llama.cpp's 8-lane order); same size as plain.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

struct BlockQ4_1x2 {
  uint16_t d[2];  // row 2j's block scale, row 2j+1's
  uint16_t m[2];  // their mins
  uint8_t qs[2][kQK / 2];
};
static_assert(sizeof(BlockQ4_1x2) == 2 * sizeof(BlockQ4_1));

struct BlockQ4_1x16 {
  uint16_t d[16];  // each row's block scale
  uint16_t m[16];  // each row's block min
  uint8_t qs[4][16][4];
};
static_assert(sizeof(BlockQ4_1x16) == 16 * sizeof(BlockQ4_1));

// Rearranges a plain [rows, k] q4_1 weight (rows a multiple of 16, k of 32) into q4_1x16.
void pack_q4_1x16(const void* src, int64_t rows, int64_t k, void* dst);
// Where row group g (rows 16g .. 16g+15) starts in a q4_1x16 weight.
inline const uint8_t* q4_1x16_group(const void* packed, int64_t g, int64_t k) {
  return static_cast<const uint8_t*>(packed) + static_cast<size_t>(g) * 16 * static_cast<size_t>(k / kQK) * sizeof(BlockQ4_1);
}

// q8_0x16: the same for q8_0 (rows a multiple of 16): block i of a group holds the 16 rows' f16
// scales, then qs[t][row][4 bytes] = bytes 4t..4t+3 of that row's block, t = 0..7 (signed, as
// in the file). The embedding reads a row of it back (dequantize_q8_0x16_row), so a table tied
// to the output head is stored once, in this layout.
struct BlockQ8_0x16 {
  uint16_t d[16];
  int8_t qs[8][16][4];
};
static_assert(sizeof(BlockQ8_0x16) == 16 * sizeof(BlockQ8_0));

void pack_q8_0x16(const void* src, int64_t rows, int64_t k, void* dst);
inline const uint8_t* q8_0x16_group(const void* packed, int64_t g, int64_t k) {
  return static_cast<const uint8_t*>(packed) + static_cast<size_t>(g) * 16 * static_cast<size_t>(k / kQK) * sizeof(BlockQ8_0);
}
// Row r of a [rows, k] q8_0x16 weight, dequantised to f32 as the plain row would be.
void dequantize_q8_0x16_row(const void* packed, int64_t r, int64_t k, float* dst);

// Bytes of a [rows, k] q4_1 weight in q4_1x2 (the same as plain).
size_t q4_1x2_bytes(int64_t rows, int64_t k);
// Rearranges a plain [rows, k] q4_1 weight (k a multiple of 32) into q4_1x2 at dst.
void pack_q4_1x2(const void* src, int64_t rows, int64_t k, void* dst);
// Where row pair j (rows 2j, 2j+1) starts in a q4_1x2 weight; for an odd last row (j = rows / 2)
// its plain q4_1 row.
inline const uint8_t* q4_1x2_pair(const void* packed, int64_t j, int64_t k) {
  return static_cast<const uint8_t*>(packed) + static_cast<size_t>(j) * 2 * static_cast<size_t>(k / kQK) * sizeof(BlockQ4_1);
}

}  // namespace ember::kernels
