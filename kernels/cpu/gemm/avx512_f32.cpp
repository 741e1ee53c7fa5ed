// AVX-512 f32 GEMM (gemm_f32.h), compiled with the avx512*.cpp flags for this file only.
//
// The order is gemm_f32_avx2's (vec_dot_f32_f32_avx2 per output: one 8-lane accumulator
// stepping K by 8, one hsum8), so a zmm register holds TWO outputs' chains: the low 256 bits
// those of activation row 2p, the high 256 those of row 2p + 1, against the same weight row.
// A weight row's 8 elements are broadcast to both halves and a pair's 8 + 8 elements come as one
// 64-byte load from a packed stream (8 activation rows interleaved by 8), so one vfmadd231ps
// steps two chains exactly as two ymm FMAs would. Tile: 6 weight rows x 4 pairs (8 activation
// rows): 24 accumulators, 6 broadcasts and 1 pair vector (31 of 32 zmm), 10 loads per 24 FMAs.
// Blocking as the AVX2 kernel: weight rows in blocks that stay in L2 (~768 KiB) while every
// group of 8 activation rows passes; the group is packed one K chunk at a time so that the
// stream stays in L1, and between chunks the accumulators wait in memory (the same additions in
// the same order). Software prefetch (into L2) spread over the tile calls fetches the next
// weight block and the next activation group meanwhile: the benchmark's weights are cold, and
// without it the first pass over every block waited on memory (about 15% at M = 128).
// At the end each half is reduced with hsum8's additions, 8 accumulators per shuffle tree.
// K % 8 != 0, weights outside sgemm order (another order) and decode (M < 4: memory-bound, 4
// weight rows x M in ymm) run gemm_f32_avx2.
#if defined(__x86_64__)
// g++ 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which its
// -Wuninitialized reports at every inlined use (GCC bug 105593); nothing here reads one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <array>
#include <utility>

#include "kernels/cpu/x86/avx2_common.h"
#include "kernels/cpu/gemm/gemm_f32.h"

namespace ember::kernels {
namespace {

// Activation rows per group (pairs x 2) and weight rows per tile.
constexpr int kPairs = 4;
constexpr int kTileRows = 6;
// Weight rows per block: about kBlockBytes (a multiple of kTileRows, at most kMaxBlockRows), so
// that the block and the next one, prefetched meanwhile, stay in L2 (2 MiB here; 768 KiB beat
// 512 KiB by ~5% at K = 1024 and 1536, M = 512, 1024, and tied elsewhere); larger
// blocks pack each group of activation rows fewer times.
constexpr int64_t kBlockBytes = 768 << 10;
constexpr int64_t kMaxBlockRows = 240;
// K in one pass up to kOnePass (8 packed rows x 768 floats = 24 KiB of L1, 48 KiB here), else in
// equal chunks of at most kMaxChunk (16 KiB packed, beside the weight rows' lines also where
// those alias: K = 1024 puts rows 4 KiB apart in the same L1 sets). Measured on the model's
// shapes: K = 576 in one pass beat 2 x 288 by ~5%, K = 1536 in 3 x 512 beat 2 x 768 by ~3%
// and one pass by ~8%.
constexpr int64_t kOnePass = 768;
constexpr int64_t kMaxChunk = 512;

inline __m512 broadcast8(const float* p) {
  return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p))));
}

// hsum8 of the two halves of four accumulators at once, each addition with the operands
// hsum8 has (hi + lo, then r0 + r2 and r1 + r3, then s0 + s1): lanes 0..3 of the result are
// those of the low halves of a, b, c, d, lanes 8..11 those of the high halves.
inline __m512 hsum8x4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const auto fold = [](__m512 v) { return _mm512_add_ps(_mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)), v); };
  a = fold(a);
  b = fold(b);
  c = fold(c);
  d = fold(d);
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_ps(c, d, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Eight accumulators at once (the full tile's reduction, fewer shuffles than two hsum8x4):
// v[0..7] = a b c d e f g h. Returns the four 128-bit chunks [aL cL eL gL], [aH cH eH gH],
// [bL dL fL hL], [bH dH fH hH] (xL: hsum8 of x's low half, xH of its high half), each addition
// again with hsum8's operands.
inline __m512 hsum8x8(const __m512* v) {
  // [xL, xH, yL, yH] folded (hi + lo) for the pairs (a, b), (c, d), (e, f), (g, h)
  __m512 f[4];
  for (int i = 0; i < 4; ++i)
    f[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)));
  const __m512 g0 = _mm512_add_ps(_mm512_shuffle_ps(f[0], f[1], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(f[0], f[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 g1 = _mm512_add_ps(_mm512_shuffle_ps(f[2], f[3], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(f[2], f[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(g0, g1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(g0, g1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// RW weight rows (w, stride ws) against P pairs of packed activation rows (a: per step of 8
// elements, kPairs * 16 floats, pair p at p * 16); ra valid activation rows (2P - 1 or 2P).
// acc_mem: the tile's P x RW accumulators (16 floats each) between K chunks. Prefetches
// [pf, pf_end) into L2, a line per step of K (one conditional prefetch per step measured ~4%
// faster in the loop than a counted loop of them).
template <int RW, int P>
void tile(int64_t k, const float* w, int64_t ws, const float* a, float* y, int64_t ys, int ra, float* acc_mem, bool first,
          bool last, const char* pf, const char* pf_end) {
  __m512 acc[P][RW];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int j = 0; j < RW; ++j) acc[p][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(acc_mem + (p * RW + j) * 16);
  for (int64_t l = 0; l < k; l += 8) {
    if (pf < pf_end) {
      _mm_prefetch(pf, _MM_HINT_T1);
      pf += 64;
    }
    __m512 wv[RW];
#pragma GCC unroll 8
    for (int j = 0; j < RW; ++j) wv[j] = broadcast8(w + j * ws + l);
    const float* ap = a + l / 8 * (kPairs * 16);
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      const __m512 av = _mm512_load_ps(ap + p * 16);
#pragma GCC unroll 8
      for (int j = 0; j < RW; ++j) acc[p][j] = _mm512_fmadd_ps(wv[j], av, acc[p][j]);
    }
  }
  if constexpr (RW == 6 && P == 4) {
    if (last && ra == 8) {
      // The full tile: weights 0..3 of pairs (0, 1) and of pairs (2, 3), rows 4q .. 4q + 3, 4
      // outputs each, in two hsum8x8.
#pragma GCC unroll 2
      for (int q = 0; q < 2; ++q) {
        const __m512 v[8] = {acc[2 * q][0], acc[2 * q + 1][0], acc[2 * q][1], acc[2 * q + 1][1],
                             acc[2 * q][2], acc[2 * q + 1][2], acc[2 * q][3], acc[2 * q + 1][3]};
        const __m512 s = hsum8x8(v);
        float* yq = y + 4 * q * ys;
        _mm_storeu_ps(yq, _mm512_castps512_ps128(s));
        _mm_storeu_ps(yq + ys, _mm512_extractf32x4_ps(s, 1));
        _mm_storeu_ps(yq + 2 * ys, _mm512_extractf32x4_ps(s, 2));
        _mm_storeu_ps(yq + 3 * ys, _mm512_extractf32x4_ps(s, 3));
      }
      // Weights 4, 5 of every pair: chunks [rows 0, 2], [1, 3], [4, 6], [5, 7], 2 outputs each.
      const __m512 v[8] = {acc[0][4], acc[2][4], acc[0][5], acc[2][5], acc[1][4], acc[3][4], acc[1][5], acc[3][5]};
      const __m512 s = hsum8x8(v);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m128 x = c == 0 ? _mm512_castps512_ps128(s) : c == 1 ? _mm512_extractf32x4_ps(s, 1)
                         : c == 2 ? _mm512_extractf32x4_ps(s, 2) : _mm512_extractf32x4_ps(s, 3);
        const int r = (c & 1) + (c & 2) * 2;  // chunk c holds rows r and r + 2
        _mm_storel_pi(reinterpret_cast<__m64*>(y + r * ys + 4), x);
        _mm_storeh_pi(reinterpret_cast<__m64*>(y + (r + 2) * ys + 4), x);
      }
      return;
    }
  }
  if (last) {
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
      for (int j = 0; j < RW; j += 4) {
        const int n = RW - j < 4 ? RW - j : 4;
        const __m512 s = hsum8x4(acc[p][j], acc[p][n > 1 ? j + 1 : j], acc[p][n > 2 ? j + 2 : j], acc[p][n > 3 ? j + 3 : j]);
        const __mmask8 mask = static_cast<__mmask8>((1u << n) - 1);
        _mm_mask_storeu_ps(y + 2 * p * ys + j, mask, _mm512_castps512_ps128(s));
        if (2 * p + 1 < ra) _mm_mask_storeu_ps(y + (2 * p + 1) * ys + j, mask, _mm512_extractf32x4_ps(s, 2));
      }
    }
  } else {
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
      for (int j = 0; j < RW; ++j) _mm512_store_ps(acc_mem + (p * RW + j) * 16, acc[p][j]);
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int, float*, bool, bool, const char*,
                        const char*);

template <int RW, size_t... P>
constexpr std::array<TileFn, kPairs> tiles_of(std::index_sequence<P...>) {
  return {tile<RW, static_cast<int>(P) + 1>...};
}
template <size_t... RW>
constexpr std::array<std::array<TileFn, kPairs>, kTileRows> all_tiles(std::index_sequence<RW...>) {
  return {tiles_of<static_cast<int>(RW) + 1>(std::make_index_sequence<kPairs>())...};
}
// kTiles[rw - 1][pairs - 1]
constexpr auto kTiles = all_tiles(std::make_index_sequence<kTileRows>());

}  // namespace

void gemm_f32_avx512(const GemmF32Args& p) {
  if (p.k % 8 != 0 || !p.sgemm_order || p.m < 4) {
    gemm_f32_avx2(p);
    return;
  }
  if (p.n == 0) return;
  const int64_t chunks = p.k <= kOnePass ? 1 : (p.k + kMaxChunk - 1) / kMaxChunk;
  const int64_t kc = (p.k / 8 + chunks - 1) / chunks * 8;
  int64_t block = kBlockBytes / (p.k * 4) / kTileRows * kTileRows;
  block = block < kTileRows ? kTileRows : block > kMaxBlockRows ? kMaxBlockRows : block;
  const int64_t blocks = (p.n + block - 1) / block;  // equal blocks (in whole tiles)
  block = ((p.n + blocks - 1) / blocks + kTileRows - 1) / kTileRows * kTileRows;
  alignas(64) float acc[kMaxBlockRows * kPairs * 16];
  alignas(64) float pack[kPairs * 2 * (kOnePass > kMaxChunk ? kOnePass : kMaxChunk)];  // 8 activation rows of one K chunk, interleaved by 8
  const int64_t groups = (p.m + 2 * kPairs - 1) / (2 * kPairs);
  for (int64_t j0 = 0; j0 < p.n; j0 += block) {
    const int64_t j1 = j0 + block < p.n ? j0 + block : p.n;
    // While the activation rows pass over this block, the next one is fetched into L2, spread
    // over every tile call (the first pass over a block otherwise waits on memory).
    const int64_t j2 = j1 + block < p.n ? j1 + block : p.n;
    const char* pf = reinterpret_cast<const char*>(p.w + j1 * p.w_stride);
    const char* pf_end = j2 > j1 ? reinterpret_cast<const char*>(p.w + (j2 - 1) * p.w_stride + p.k) : pf;
    const int64_t calls = groups * chunks * ((j1 - j0 + kTileRows - 1) / kTileRows);  // tile calls over the block
    const int64_t pf_per_call = ((pf_end - pf) / 64 + calls) / calls;
    const int64_t tiles = (j1 - j0 + kTileRows - 1) / kTileRows;
    for (int64_t i = 0; i < p.m; i += 2 * kPairs) {
      const int ra = p.m - i < 2 * kPairs ? static_cast<int>(p.m - i) : 2 * kPairs;
      const int pairs = (ra + 1) / 2;
      const float* a = p.a + i * p.a_stride;
      float* y = p.y + i * p.y_stride;
      // The next group's activation rows, fetched into L2 between the tile calls (where all M
      // rows do not stay in L2 beside the blocks, they would come from L3 at every pack).
      const int64_t next = p.m - i - ra < 2 * kPairs ? p.m - i - ra : 2 * kPairs;
      const char* apf = reinterpret_cast<const char*>(a + ra * p.a_stride);
      const char* apf_end = next > 0 ? reinterpret_cast<const char*>(a + (ra + next - 1) * p.a_stride + p.k) : apf;
      const int64_t apf_per_call = ((apf_end - apf) / 64 + chunks * tiles) / (chunks * tiles);
      for (int64_t l = 0; l < p.k; l += kc) {
        const int64_t len = p.k - l < kc ? p.k - l : kc;
        for (int64_t e = 0; e < len; e += 8) {
          float* dst = pack + e * (kPairs * 2);
          for (int r = 0; r < ra; ++r) _mm256_store_ps(dst + r * 8, _mm256_loadu_ps(a + r * p.a_stride + l + e));
          if (ra % 2) _mm256_store_ps(dst + ra * 8, _mm256_setzero_ps());
        }
        for (int64_t j = j0; j < j1; j += kTileRows) {
          const int rw = j1 - j < kTileRows ? static_cast<int>(j1 - j) : kTileRows;
          const char* pf_next = pf + pf_per_call * 64 < pf_end ? pf + pf_per_call * 64 : pf_end;
          // More lines than steps (fewer than 3 groups of activation rows): the rest at once.
          const char* pf_tile = pf + len / 8 * 64 < pf_next ? pf + len / 8 * 64 : pf_next;
          for (const char* q = pf_tile; q < pf_next; q += 64) _mm_prefetch(q, _MM_HINT_T1);
          kTiles[rw - 1][pairs - 1](len, p.w + j * p.w_stride + l, p.w_stride, pack, y + j, p.y_stride, ra,
                                    acc + (j - j0) * kPairs * 16, l == 0, l + len == p.k, pf, pf_tile);
          pf = pf_next;
          for (int64_t q = 0; q < apf_per_call && apf < apf_end; ++q, apf += 64) _mm_prefetch(apf, _MM_HINT_T1);
        }
      }
    }
  }
}

}  // namespace ember::kernels
#endif
