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
