#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::cpu {

// Causal attention through the paged KV pool. Token t of sequence s at position p attends to
// positions 0..p of s, reading each K/V row from its block (no gather into a contiguous copy).
// GQA: query head h uses kv head h / (H / Hkv).
//
// Numerics follow llama.cpp's (non-flash) CPU attention operation for operation, because
// q8 activation quantisation downstream turns one-ulp differences here into visibly
// different logits a few layers later:
//  - q is rounded to f16; q·k and p·v are FMA sums of 8-lane accumulators, whose number
//    depends on the step as in llama.cpp: a sequence stepping one token (decode) goes
//    through ggml's f16 dot, 4 accumulators (element i -> accumulator (i % 32) / 8,
//    lane i % 8); a sequence stepping two or more tokens goes through llamafile's tinyBLAS
//    gemm, one accumulator (element i -> lane i % 8), for each of its tokens. Checked
//    against llama.cpp's dumped kq/kqv, bit for bit. The runtime marks each token with the
//    style it would have had alone (KvLayout::token_style), so a token's result is the same
//    whatever else shares its step: batched, chunked and recomputed sequences match solo runs;
//  - scores are scaled, exp'd against the row max with llama.cpp's 8-lane exp (kernels/cpu/
//    vecmath), and summed in f32 per 8-position chunk (reduced (l0+l4 + l2+l6) +
//    (l1+l5 + l3+l7)) into a double;
//  - probabilities are multiplied by (float)(1/sum) and rounded to f16 before the V product.
//
// The arithmetic lives in the kernels (kernels/cpu/attention): this op groups queries into
// tiles that read the same K/V rows — the query heads of one kv head for up to kTileTokens
// consecutive tokens of one sequence with the same style — so each K/V row is loaded and
// widened to f32 once per tile instead of once per query. A single token of a sequence (a
// decoding one) takes all its query heads in one tile over every kv head side by side
// (AttnTile::heads), so the tile reads whole slots, one contiguous stream per block, rather
// than a slice of every slot per kv head. A tile computes every query exactly as alone, so the
// grouping changes no bit.
namespace {


// Tokens per tile for a GQA group: about 16 queries per tile.
int64_t tile_tokens(int64_t group) { return group >= 16 ? 1 : 16 / group; }
int64_t tile_heads(int64_t group) { return group < kernels::kAttnMaxTile ? group : kernels::kAttnMaxTile; }

// Whether a lone token's tile may take every kv head (all its query heads fit one tile).
bool all_heads_tiles(const TensorDesc& q, const TensorDesc& cache) {
  return cache.shape[2] > 1 && q.shape[1] <= kernels::kAttnMaxTile;
}

// The most queries in a tile.
int tile_queries(const TensorDesc& q, const TensorDesc& cache) {
  const int64_t group = q.shape[1] / cache.shape[2];
  const int64_t nq = tile_tokens(group) * tile_heads(group);
  return static_cast<int>(all_heads_tiles(q, cache) ? std::max<int64_t>(nq, q.shape[1]) : nq);
}

struct TileScratch {
  size_t q_floats, tile_floats;
};

TileScratch tile_scratch(const TensorDesc& q, const TensorDesc& cache) {
  const int64_t max_ctx = cache.shape[0] * cache.shape[1];
  const int nq = tile_queries(q, cache);
  const int heads = all_heads_tiles(q, cache) ? static_cast<int>(cache.shape[2]) : 1;
  return {static_cast<size_t>(nq) * static_cast<size_t>(q.shape[2]),
          kernels::attention_tile_scratch_floats(nq, max_ctx, q.shape[2], heads)};
}

}  // namespace

size_t attention_thread_scratch_bytes(const TensorDesc& q, const TensorDesc& cache) {
  const TileScratch ts = tile_scratch(q, cache);
  return (ts.q_floats + ts.tile_floats) * sizeof(float) + 64;
}

namespace {

// Flash-decoding runs the items of up to split_batch() tiles through each phase between the
// same barriers (a single decoding sequence: all its kv heads): three barriers per batch.
int64_t split_batch(const TensorDesc& q, const TensorDesc& cache, int nth) {
  const int64_t group = q.shape[1] / cache.shape[2];
  const int64_t per_run = cache.shape[2] * ((group + tile_heads(group) - 1) / tile_heads(group));
  return std::max<int64_t>(1, std::min<int64_t>(per_run, 2 * static_cast<int64_t>(nth) - 1));
}

}  // namespace

// Flash-decoding's shared arrays: every thread's running maxes, then AttnShared's, per tile of
// a batch.
size_t attention_scratch_bytes(const TensorDesc& q, const TensorDesc& cache, int nth) {
  const int nq = tile_queries(q, cache);
  const size_t batch = static_cast<size_t>(split_batch(q, cache, nth));
  return batch * (static_cast<size_t>(nth) * kernels::kAttnMaxTile +
                  kernels::attention_shared_floats(nq, cache.shape[0] * cache.shape[1], q.shape[2])) *
             sizeof(float) + 64;
}

// Below this many positions a tile is not worth splitting across threads (bench_attention on a
// 2-vCPU AVX2 machine: the split and the round-robin tiles tie at 1024 positions, the split is
// slower at 512 and about 10% faster at 4096 and 16384).
constexpr int32_t kSplitMinPositions = 1024;

// q rows may be strided (the Q columns of a merged projection). With rope set, q is rotated
// as it is loaded (attention_rope): rope_head (ops.h) writes the floats op_rope would have
// written, and they are rounded to f16 as a roped q would be; the angles are computed once per
// token of a tile.
static void attention_run(const OpCtx& c, bool rope) {
  const TensorDesc& q = *c.in_desc[0];
  const TensorDesc& cache = *c.in_desc[1];
  const int64_t n = q.shape[0], H = q.shape[1], D = q.shape[2];
  const int64_t B = cache.shape[1], Hkv = cache.shape[2];
  const int64_t group = H / Hkv;
  const KvLayout& kv = *c.kv;
  const size_t row_bytes = dtype_row_bytes(cache.dtype, D);  // one head of one token
  float* out = static_cast<float*>(c.out);
  const TileScratch ts = tile_scratch(q, cache);
  float* qtile = reinterpret_cast<float*>(c.thread_scratch);
  float* tile_scratch_f = qtile + ts.q_floats;
  const kernels::AttentionKernels& k = kernels::attention_kernels();
  const kernels::VecMathKernels& vm = kernels::vecmath_kernels();
  const int64_t tq = tile_tokens(group), th = tile_heads(group);
  const OpAttrs& a = c.node->attrs;
  const float theta_scale = rope ? rope_theta_scale(a) : 0.0f;
  const int32_t* rope_pos = rope ? static_cast<const int32_t*>(c.in[3]) : nullptr;
  float cosv[kMaxRopePairs], sinv[kMaxRopePairs];  // n_rot <= 2*kMaxRopePairs: checked in supports()

  kernels::AttnTile tile;
  tile.D = D;
  tile.q = qtile;
  tile.scale = c.node->attrs.scale;
  tile.elem = cache.dtype == DType::Q8_0 ? kernels::KvElem::kQ8_0 : kernels::KvElem::kF16;
  tile.scratch = tile_scratch_f;
  tile.score_stride = cache.shape[0] * B;
  int32_t last[kernels::kAttnMaxTile], qhead[kernels::kAttnMaxTile];
  float* outs[kernels::kAttnMaxTile];
  tile.last = last;
  tile.out = outs;
  tile.head = qhead;
  for (kernels::KvRows* r : {&tile.k, &tile.v}) {
    r->block = B;
    r->slot_stride = static_cast<size_t>(Hkv) * row_bytes;
    r->block_stride = static_cast<size_t>(B) * r->slot_stride;
  }

  int32_t max_pos = 0;
  for (int64_t t = 0; t < n; ++t) max_pos = std::max(max_pos, kv.positions[t]);
  // Lone tokens take every kv head in one tile where that leaves enough tiles for the threads
  // (or the tiles split across them anyway: flash-decoding at long context). kvh = -1 marks
  // such an item.
  bool all_heads = all_heads_tiles(q, cache);

  // The work items: (token run chunk, kv head, head chunk), in one fixed enumeration that
  // every thread walks. fn(item, seq, t0, t1, kvh, h0, h1, accs).
  auto for_each_item = [&](auto&& fn) {
    int64_t item = 0;
    for (int64_t t0 = 0; t0 < n;) {
      // The summation llama.cpp would use for this token: tinyBLAS for a prompt token, ggml's
      // f16 dot for a generated one (tinyBLAS declines dot lengths that are not a multiple of 8).
      auto accs_of = [&](int64_t t) {
        const bool prompt_style = kv.token_style == nullptr || kv.token_style[t] == kStylePrompt;
        return prompt_style && D % 8 == 0 ? 1 : 4;
      };
      const int32_t s = kv.seq_of_token[t0];
      const int accs = accs_of(t0);
      int64_t t1 = t0 + 1;
      while (t1 < n && t1 - t0 < tq && kv.seq_of_token[t1] == s && accs_of(t1) == accs) ++t1;
      if (all_heads && t1 == t0 + 1) {
        fn(item++, s, t0, t1, int64_t{-1}, int64_t{0}, H, accs);
        t0 = t1;
        continue;
      }
      for (int64_t kvh = 0; kvh < Hkv; ++kvh)
        for (int64_t h0 = kvh * group; h0 < (kvh + 1) * group; h0 += th, ++item)
          fn(item, s, t0, t1, kvh, h0, std::min(h0 + th, (kvh + 1) * group), accs);
      t0 = t1;
    }
    return item;
  };
  auto fill_tile = [&](int32_t s, int64_t t0, int64_t t1, int64_t kvh, int64_t h0, int64_t h1, int accs) {
    int nq = 0;
    for (int64_t t = t0; t < t1; ++t) {
      if (rope) rope_angles(a, theta_scale, rope_pos[t], cosv, sinv);
      for (int64_t h = h0; h < h1; ++h, ++nq) {
        const float* src = row_at(c.in[0], c.in_stride[0], t) + h * D;
        float* dst = qtile + nq * D;
        if (rope) rope_head(a, cosv, sinv, src, dst, D);
        else std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(D));
        vm.round_f16(dst, D);
        last[nq] = kv.positions[t];
        outs[nq] = out + (t * H + h) * D;
        qhead[nq] = kvh < 0 ? static_cast<int32_t>(h / group) : 0;
      }
    }
    tile.nq = nq;
    tile.accs = accs;
    tile.heads = kvh < 0 ? static_cast<int>(Hkv) : 1;
    const size_t head_off = kvh < 0 ? 0 : static_cast<size_t>(kvh) * row_bytes;
    tile.k.base = static_cast<const uint8_t*>(c.in[1]) + head_off;
    tile.v.base = static_cast<const uint8_t*>(c.in[2]) + head_off;
    tile.k.blocks = tile.v.blocks = kv.seq_blocks[s];
  };

  int64_t n_items = for_each_item([](auto...) {});
  if (all_heads && c.nth > 1 && n_items < 2 * c.nth && max_pos < kSplitMinPositions) {
    all_heads = false;  // too few tiles to share out, too short to split: per kv head
    n_items = for_each_item([](auto...) {});
  }

  if (c.nth == 1 || n_items >= 2 * c.nth || max_pos < kSplitMinPositions) {
    // Items dealt round-robin: a causal token's cost grows with its position, so contiguous
    // ranges would leave the thread with the early tokens idle.
    // Each tile is told the first K rows of this thread's next one (AttnTile::next_k, a
    // prefetch hint), so a run of short tiles keeps the memory busy across tile boundaries:
    // items are run one behind the walk.
    struct Item {
      int32_t s;
      int64_t t0, t1, kvh, h0, h1;
      int accs;
    };
    Item prev{};
    bool have_prev = false;
    int64_t prefetched = 0;  // K rows of prev's tile its predecessor asked for
    auto run = [&](const Item& it, const Item* next) {
      fill_tile(it.s, it.t0, it.t1, it.kvh, it.h0, it.h1, it.accs);
      tile.prefetched_k_rows = prefetched;
      tile.next_k = kernels::KvRows{};
      tile.next_k_rows = prefetched = 0;
      if (next && (next->kvh < 0) == (it.kvh < 0)) {  // rows of the same width
        int32_t pmax = 0;
        for (int64_t t = next->t0; t < next->t1; ++t) pmax = std::max(pmax, kv.positions[t]);
        tile.next_k = tile.k;
        tile.next_k.base = static_cast<const uint8_t*>(c.in[1]) + (next->kvh < 0 ? 0 : static_cast<size_t>(next->kvh) * row_bytes);
        tile.next_k.blocks = kv.seq_blocks[next->s];
        tile.next_k_rows = prefetched = std::min<int64_t>(kernels::kAttnChunk, pmax + 1);
      }
      k.tile(tile);
    };
    for_each_item([&](int64_t item, int32_t s, int64_t t0, int64_t t1, int64_t kvh, int64_t h0, int64_t h1, int accs) {
      if (item % c.nth != c.ith) return;
      const Item cur{s, t0, t1, kvh, h0, h1, accs};
      if (have_prev) run(prev, &cur);
      prev = cur;
      have_prev = true;
    });
    if (have_prev) run(prev, nullptr);
    return;
  }

  // Flash-decoding: fewer items than about two per thread and long contexts (a single
  // sequence decoding): every thread works on every item, splitting positions, then lane rows
  // (kernels/cpu/attention/attention.h, AttnShared), with a barrier between the phases. The
  // items go through the phases in batches (each item with its own shared arrays), so the
  // barriers are per batch, not per item; each item's tile is filled again in each phase (the
  // same values: q's rounding and rope are deterministic).
  const int64_t batch = split_batch(*c.in_desc[0], cache, c.nth);
  const int64_t nq_max = tile_queries(q, cache);
  float* maxes = reinterpret_cast<float*>(c.scratch);  // [batch][nth][kAttnMaxTile]
  float* shared0 = maxes + static_cast<size_t>(batch * c.nth) * kernels::kAttnMaxTile;
  const size_t shared_floats = kernels::attention_shared_floats(static_cast<int>(nq_max), tile.score_stride, D);
  auto shared_of = [&](int64_t b) {
    kernels::AttnShared sh;
    sh.scores = shared0 + static_cast<size_t>(b) * shared_floats;
    sh.csum = sh.scores + static_cast<size_t>(nq_max) * tile.score_stride;
    sh.csum_stride = tile.score_stride / 8 + 1;
    sh.lanes = sh.csum + static_cast<size_t>(nq_max) * sh.csum_stride;
    return sh;
  };
  auto positions_of = [&](int64_t* j0, int64_t* j1) {  // this thread's positions of the filled tile
    int32_t pmax = 0;
    for (int i = 0; i < tile.nq; ++i) pmax = std::max(pmax, last[i]);
    const int64_t chunks = pmax / kernels::kAttnChunk + 1;
    int64_t cb, ce;
    split_range(chunks, c.ith, c.nth, &cb, &ce);
    *j0 = cb * kernels::kAttnChunk;
    *j1 = std::min<int64_t>(ce * kernels::kAttnChunk, pmax + 1);
  };
  for (int64_t b0 = 0; b0 < n_items; b0 += batch) {
    const int64_t b1 = std::min(b0 + batch, n_items);
    auto each = [&](auto&& phase) {
      for_each_item([&](int64_t item, int32_t s, int64_t t0, int64_t t1, int64_t kvh, int64_t h0, int64_t h1, int accs) {
        if (item < b0 || item >= b1) return;
        fill_tile(s, t0, t1, kvh, h0, h1, accs);
        phase(item - b0, shared_of(item - b0));
      });
    };
    each([&](int64_t b, const kernels::AttnShared& sh) {
      int64_t j0, j1;
      positions_of(&j0, &j1);
      float* mine = maxes + static_cast<size_t>(b * c.nth + c.ith) * kernels::kAttnMaxTile;
      for (int i = 0; i < tile.nq; ++i) mine[i] = -INFINITY;
      if (j0 < j1) k.split_scores(tile, sh, j0, j1, mine);
    });
    c.pool->barrier();
    each([&](int64_t b, const kernels::AttnShared& sh) {
      int64_t j0, j1;
      positions_of(&j0, &j1);
      float mx[kernels::kAttnMaxTile];
      for (int i = 0; i < tile.nq; ++i) {
        mx[i] = -INFINITY;
        for (int th_ = 0; th_ < c.nth; ++th_) {
          const float m = maxes[static_cast<size_t>(b * c.nth + th_) * kernels::kAttnMaxTile + i];
          mx[i] = m > mx[i] ? m : mx[i];
        }
      }
      if (j0 < j1) k.split_exp(tile, sh, j0, j1, mx);
    });
    c.pool->barrier();
    each([&](int64_t, const kernels::AttnShared& sh) {
      int64_t rb, re;
      split_range(8 * tile.accs, c.ith, c.nth, &rb, &re);
      if (rb < re) k.split_pv(tile, sh, static_cast<int>(rb), static_cast<int>(re));
    });
    c.pool->barrier();
    each([&](int64_t, const kernels::AttnShared& sh) {
      const int L = 8 * tile.accs;
      for (int i = c.ith; i < tile.nq; i += c.nth)
        k.pv_reduce(sh.lanes + static_cast<size_t>(i) * L * D, outs[i], D, tile.accs);
    });
    // The next batch reuses the shared arrays: every thread must be done reading them.
    if (b1 < n_items) c.pool->barrier();
  }
}

void op_attention(const OpCtx& c) { attention_run(c, false); }
void op_attention_rope(const OpCtx& c) { attention_run(c, true); }

}  // namespace ember::cpu
