// Inner loops of attention over f16 K/V rows, summed in llama.cpp's order (see
// backends/cpu/ops/attention.cpp for why the order matters). A sum runs over `accs`
// accumulators of 8 lanes, accs = 1 or 4: element i -> accumulator (i % (8 * accs)) / 8,
// lane i % 8, fused multiply-add, then a fixed pairwise reduction:
//   accs = 4 (ggml's f16 dot):  x[l] = (a0 + a2) + (a1 + a3), then (x0+x4 + x1+x5) + (x2+x6 + x3+x7);
//   accs = 1 (tinyBLAS gemm):   (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
// The AVX2 and NEON variants are bit-identical to the scalar ones (same operations, same order).
#pragma once

#include <cstdint>

namespace ember::kernels {

inline constexpr int kAttnLanes = 32;  // the most lanes a sum uses: 4 accumulators x 8 lanes

// K or V rows of one kv head of one sequence, stored in paged blocks: position j is at
// base + blocks[j / block] * block_stride + (j % block) * slot_stride.
struct KvRows {
  const uint8_t* base = nullptr;
  const int32_t* blocks = nullptr;
  int64_t block = 0;
  size_t block_stride = 0, slot_stride = 0;
  const uint8_t* row(int64_t j) const {
    return base + static_cast<size_t>(blocks[j / block]) * block_stride + static_cast<size_t>(j % block) * slot_stride;
  }
};

enum class KvElem : uint8_t { kF16, kQ8_0 };  // q8_0 rows are read as f16(d * q), as f16 rows

// A tile of queries that read the same K/V rows: the query heads of one kv head (GQA) for a
// run of tokens of one sequence, or (heads > 1) the query heads of `heads` kv heads that lie
// side by side in each slot, so that a tile reads whole slots (at decode, one contiguous
// stream per block instead of a slice of every slot per kv head). Query i uses kv head
// head[i] (0 .. heads - 1 from the one k/v point at). Query i attends causally to positions 0..last[i], and is
// computed exactly as the per-query loops above would compute it alone (same operations,
// same order), with `accs` accumulators for every query of the tile:
//   s_j = qk_dot(q_i, k_j) * scale; m = max s; e_j = exp8(s_j - m), summed per 8 positions
//   into a double (exp8_sum, -inf beyond last); p_j = f16(e_j * (float)(1 / sum));
//   out_i = pv_reduce of pv_accumulate(p_j, v_j) over j in order.
struct AttnTile {
  int64_t D = 0;
  int nq = 0;                   // 1 .. kAttnMaxTile
  int accs = 1;                 // 1 or 4
  const float* q = nullptr;     // [nq][D], values already rounded to f16
  const int32_t* last = nullptr;  // [nq]
  float scale = 1.0f;
  KvRows k, v;
  KvElem elem = KvElem::kF16;
  int heads = 1;                  // kv heads in each row read: heads * D elements, contiguous
  const int32_t* head = nullptr;  // [nq] query i's kv head, < heads; nullptr: all 0
  float* const* out = nullptr;  // out[i]: D floats
  float* scratch = nullptr;     // attention_tile_scratch_floats(nq, score_stride, D) floats
  int64_t score_stride = 0;     // > every last[i]
  // A hint, no effect on any value: the K rows the caller's next tile reads first (positions
  // [0, next_k_rows) of next_k, rows of the same heads). A SIMD tile asks for them while its
  // own p·V runs, so a run of short tiles (many sequences decoding) keeps the memory busy
  // between tiles; the next tile then skips asking for the first next_k_rows again
  // (prefetched_k_rows).
  KvRows next_k;
  int64_t next_k_rows = 0;
  int64_t prefetched_k_rows = 0;
};

inline int query_head(const AttnTile& t, int i) { return t.head ? t.head[i] : 0; }

// Bytes of one kv head's row (D elements; a q8_0 block is an f16 scale and 32 quants) and the
// rows of query i's kv head alone.
inline size_t kv_head_bytes(const AttnTile& t) {
  return t.elem == KvElem::kF16 ? static_cast<size_t>(t.D) * 2 : static_cast<size_t>(t.D / 32) * 34;
}
inline KvRows query_rows(const KvRows& r, const AttnTile& t, int i) {
  KvRows h = r;
  h.base += static_cast<size_t>(query_head(t, i)) * kv_head_bytes(t);
  return h;
}

inline constexpr int kAttnMaxTile = 32;
inline constexpr int64_t kAttnChunk = 64;  // positions converted to f32 at a time

// Floats of the widened K/V rows a SIMD tile keeps: 2 * kAttnChunk positions of its kv heads
// (and a q8_0 row's room).
inline size_t attention_widen_floats(int64_t D, int heads) {
  return static_cast<size_t>(2 * kAttnChunk + 1) * static_cast<size_t>(heads) * static_cast<size_t>(D);
}

inline size_t attention_tile_scratch_floats(int nq, int64_t score_stride, int64_t D, int heads = 1) {
  return static_cast<size_t>(nq) * static_cast<size_t>(score_stride) +          // scores
         attention_widen_floats(D, heads) +                                      // K, V chunk; a q8_0 row
         static_cast<size_t>(nq) * kAttnLanes * static_cast<size_t>(D);         // lanes
}

// Flash-decoding: one tile evaluated by several threads together, for decode at long context
// where there are fewer tiles than threads. Bit-identical to tile(): the threads split the
// positions for the scores and the exponentials (each score and each per-8 exponential sum is
// independent), then the lane rows of the p·V sum (lane row r of the scalar order is its own
// FMA chain over the positions j = r mod 8*accs, in increasing j), and every thread sums the
// per-8 sums into the same double in the same order. The caller runs the phases with a
// barrier between each:
//   split_scores  positions [j0, j1) (j0 a multiple of kAttnChunk), running max per query
//   split_exp     the same positions: e_j in place and the per-8 sums; mx = the global max
//   split_pv      lane rows [r0, r1) of every query
//   pv_reduce     per query, out of its lane rows
struct AttnShared {
  float* scores = nullptr;  // [nq][t.score_stride]
  float* csum = nullptr;    // [nq][csum_stride] per-8 sums of the exponentials
  int64_t csum_stride = 0;  // > every last[i] / 8
  float* lanes = nullptr;   // [nq][8 * accs][D]
};

inline size_t attention_shared_floats(int nq, int64_t score_stride, int64_t D) {
  return static_cast<size_t>(nq) * (static_cast<size_t>(score_stride) + static_cast<size_t>(score_stride / 8 + 1) +
                                    kAttnLanes * static_cast<size_t>(D));
}

struct AttentionKernels {
  const char* isa;
  // q (f32 values already rounded to f16) · k (f16), D elements.
  float (*qk_dot)(const float* q, const uint16_t* k, int64_t D, int accs);
  // lanes[(j % (8 * accs)) * D + d] += p * v[d] for d < D (fused), for position j.
  void (*pv_accumulate)(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D, int accs);
  // out[d] = reduction over the 8 * accs lanes of column d.
  void (*pv_reduce)(const float* lanes, float* out, int64_t D, int accs);
  // A whole tile (see AttnTile); bit-identical to the scalar per-query loops.
  void (*tile)(const AttnTile& t);
  // Flash-decoding phases (see AttnShared); t.scratch is this thread's own work space
  // (attention_tile_scratch_floats(0, 0, D, heads) floats suffice).
  void (*split_scores)(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, float* mx);
  void (*split_exp)(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, const float* mx);
  void (*split_pv)(const AttnTile& t, const AttnShared& sh, int r0, int r1);
};

const AttentionKernels& attention_kernels_scalar();
#if defined(__x86_64__)
const AttentionKernels& attention_kernels_avx2();
// The same on 16-lane registers where the CPU has AVX-512 F/BW/VL/VNNI (bit-identical).
const AttentionKernels& attention_kernels_avx512();
#endif
#if defined(__aarch64__)
// NEON primitives (four lanes at a time, same operations and order as the scalar ones); its
// tile is the per-query loop below run on them.
const AttentionKernels& attention_kernels_neon();
#endif
// The scalar oracle's tile loop (each query alone, position by position) run on k's
// qk_dot / pv_accumulate / pv_reduce.
void attention_tile_per_query(const AttnTile& t, const AttentionKernels& k);
// The best variant for this CPU (EMBER_VERBOSE=1 logs the choice).
const AttentionKernels& attention_kernels();

}  // namespace ember::kernels
