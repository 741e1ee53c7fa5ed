#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/verbose.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {

// Reduction of the 8 * accs lane values a[l * stride] in llama.cpp's order.
inline float reduce(const float* a, int64_t stride, int accs) {
  if (accs == 1) {
    return ((a[0] + a[4 * stride]) + (a[2 * stride] + a[6 * stride])) +
           ((a[stride] + a[5 * stride]) + (a[3 * stride] + a[7 * stride]));
  }
  float x[8];
  for (int l = 0; l < 8; ++l)
    x[l] = (a[l * stride] + a[(16 + l) * stride]) + (a[(8 + l) * stride] + a[(24 + l) * stride]);
  const float t0 = x[0] + x[4], t1 = x[1] + x[5], t2 = x[2] + x[6], t3 = x[3] + x[7];
  return (t0 + t1) + (t2 + t3);
}

float qk_dot_scalar(const float* q, const uint16_t* k, int64_t D, int accs) {
  const int n = 8 * accs;
  float lanes[kAttnLanes];
  std::memset(lanes, 0, sizeof lanes);
  for (int64_t d = 0; d < D; ++d) lanes[d % n] = std::fma(q[d], fp16_to_f32(k[d]), lanes[d % n]);
  return reduce(lanes, 1, accs);
}

void pv_accumulate_scalar(float* lanes, int64_t j, float p, const uint16_t* v, int64_t D, int accs) {
  float* row = lanes + (j % (8 * accs)) * D;
  for (int64_t d = 0; d < D; ++d) row[d] = std::fma(p, fp16_to_f32(v[d]), row[d]);
}

void pv_reduce_scalar(const float* lanes, float* out, int64_t D, int accs) {
  for (int64_t d = 0; d < D; ++d) out[d] = reduce(lanes + d, D, accs);
}

}  // namespace

// The oracle's loop: each query alone, position by position, through the given primitives.
void attention_tile_per_query(const AttnTile& t, const AttentionKernels& k) {
  const int64_t D = t.D;
  float* lanes = t.scratch + static_cast<size_t>(t.nq) * t.score_stride;  // [kAttnLanes][D]
  float* deq = lanes + kAttnLanes * D;                                   // [D] (q8_0)
  uint16_t* deq16 = reinterpret_cast<uint16_t*>(deq + D);                // [D] (q8_0)
  const VecMathKernels& vm = vecmath_kernels();
  auto row = [&](const KvRows& r, int64_t j) -> const uint16_t* {
    if (t.elem == KvElem::kF16) return reinterpret_cast<const uint16_t*>(r.row(j));
    dequantize_row_q8_0(r.row(j), deq, D);
    f32_to_fp16_row(deq, deq16, D);
    return deq16;
  };
  for (int i = 0; i < t.nq; ++i) {
    const float* q = t.q + i * D;
    float* scores = t.scratch + static_cast<size_t>(i) * t.score_stride;
    const int32_t p = t.last[i];
    const KvRows kr = query_rows(t.k, t, i), vr = query_rows(t.v, t, i);
    float mx = -INFINITY;
    for (int32_t j = 0; j <= p; ++j) {
      scores[j] = k.qk_dot(q, row(kr, j), D, t.accs) * t.scale;
      mx = scores[j] > mx ? scores[j] : mx;
    }
    double sum = 0;
    for (int32_t j0 = 0; j0 <= p; j0 += 8) {
      // Masked (future) positions enter as -inf and leave as exactly 0, as in llama.cpp.
      float v[8];
      for (int l = 0; l < 8; ++l) v[l] = j0 + l <= p ? scores[j0 + l] : -INFINITY;
      sum += static_cast<double>(vm.exp8_sum(v, mx));
      for (int l = 0; l < 8 && j0 + l <= p; ++l) scores[j0 + l] = v[l];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int32_t j = 0; j <= p; ++j) scores[j] = fp16_to_f32(f32_to_fp16(scores[j] * inv));
    std::memset(lanes, 0, sizeof(float) * 8 * t.accs * D);
    for (int32_t j = 0; j <= p; ++j) k.pv_accumulate(lanes, j, scores[j], row(vr, j), D, t.accs);
    k.pv_reduce(lanes, t.out[i], D, t.accs);
  }
}

namespace {

void tile_scalar(const AttnTile& t) { attention_tile_per_query(t, attention_kernels_scalar()); }

// Flash-decoding phases, position by position as tile_scalar.
const uint16_t* row_f16(const AttnTile& t, const KvRows& r, int64_t j, float* deq) {
  if (t.elem == KvElem::kF16) return reinterpret_cast<const uint16_t*>(r.row(j));
  uint16_t* deq16 = reinterpret_cast<uint16_t*>(deq + t.D);
  dequantize_row_q8_0(r.row(j), deq, t.D);
  f32_to_fp16_row(deq, deq16, t.D);
  return deq16;
}

void split_scores_scalar(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, float* mx) {
  for (int i = 0; i < t.nq; ++i) {
    float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
    const int64_t je = std::min<int64_t>(j1, t.last[i] + 1);
    const KvRows kr = query_rows(t.k, t, i);
    for (int64_t j = j0; j < je; ++j) {
      s[j] = qk_dot_scalar(t.q + i * t.D, row_f16(t, kr, j, t.scratch), t.D, t.accs) * t.scale;
      mx[i] = s[j] > mx[i] ? s[j] : mx[i];
    }
  }
}

void split_exp_scalar(const AttnTile& t, const AttnShared& sh, int64_t j0, int64_t j1, const float* mx) {
  const VecMathKernels& vm = vecmath_kernels();
  for (int i = 0; i < t.nq; ++i) {
    float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
    const int32_t p = t.last[i];
    for (int64_t g = j0; g < j1 && g <= p; g += 8) {
      float v[8];
      for (int l = 0; l < 8; ++l) v[l] = g + l <= p ? s[g + l] : -INFINITY;
      sh.csum[i * sh.csum_stride + g / 8] = vm.exp8_sum(v, mx[i]);
      for (int l = 0; l < 8 && g + l <= p; ++l) s[g + l] = v[l];
    }
  }
}

void split_pv_scalar(const AttnTile& t, const AttnShared& sh, int r0, int r1) {
  const int64_t D = t.D;
  const int L = 8 * t.accs;
  for (int i = 0; i < t.nq; ++i) {
    const int32_t p = t.last[i];
    double sum = 0;
    for (int64_t g = 0; g <= p / 8; ++g) sum += static_cast<double>(sh.csum[i * sh.csum_stride + g]);
    const float inv = static_cast<float>(1.0 / sum);
    const float* s = sh.scores + static_cast<size_t>(i) * t.score_stride;
    float* lanes = sh.lanes + static_cast<size_t>(i) * L * D;
    const KvRows vr = query_rows(t.v, t, i);
    for (int r = r0; r < r1; ++r) {
      std::memset(lanes + r * D, 0, sizeof(float) * D);
      for (int64_t j = r; j <= p; j += L)
        pv_accumulate_scalar(lanes, j, fp16_to_f32(f32_to_fp16(s[j] * inv)), row_f16(t, vr, j, t.scratch), D, t.accs);
    }
  }
}

}  // namespace

const AttentionKernels& attention_kernels_scalar() {
  static const AttentionKernels k{"scalar",      qk_dot_scalar,       pv_accumulate_scalar, pv_reduce_scalar, tile_scalar,
                                  split_scores_scalar, split_exp_scalar, split_pv_scalar};
  return k;
}

const AttentionKernels& attention_kernels() {
  static const AttentionKernels& chosen = [] {
    const bool verbose = dispatch_verbose();
#if defined(__x86_64__)
    if (cpu_features().x86_avx512_vnni()) {
      if (verbose) std::fprintf(stderr, "ember: attention: avx512\n");
      return std::ref(attention_kernels_avx512());
    }
    if (verbose) std::fprintf(stderr, "ember: attention: avx512 declined (the CPU lacks avx512 f/bw/vl/vnni)\n");
    if (cpu_features().x86_avx2_fma_f16c()) {
      if (verbose) std::fprintf(stderr, "ember: attention: avx2\n");
      return std::ref(attention_kernels_avx2());
    }
    if (verbose) std::fprintf(stderr, "ember: attention: avx2 declined (the CPU lacks avx2/fma/f16c)\n");
#elif defined(__aarch64__)
    if (cpu_features().neon) {
      if (verbose) std::fprintf(stderr, "ember: attention: neon\n");
      return std::ref(attention_kernels_neon());
    }
    if (verbose) std::fprintf(stderr, "ember: attention: neon declined (the CPU lacks it)\n");
#endif
    if (verbose) std::fprintf(stderr, "ember: attention: scalar\n");
    return std::ref(attention_kernels_scalar());
  }();
  return chosen;
}

}  // namespace ember::kernels
