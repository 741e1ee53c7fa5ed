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
size_t attention_thread_scratch_bytes(const TensorDesc& q, const TensorDesc& cache) {
  const int64_t max_ctx = cache.shape[0] * cache.shape[1];
  // scores, q, lanes; then for a q8_0 cache one row dequantised to f32 and to f16.
  return (static_cast<size_t>(max_ctx) + static_cast<size_t>(q.shape[2]) * (2 + kernels::kAttnLanes)) * sizeof(float) +
         static_cast<size_t>(q.shape[2]) * sizeof(uint16_t);
}

namespace {

inline float round_f16(float x) { return kernels::fp16_to_f32(kernels::f32_to_fp16(x)); }

}  // namespace

// q rows may be strided (the Q columns of a merged projection). With rope set, q is rotated
// as it is loaded (attention_rope): rope_head (ops.h) writes the floats op_rope would have
// written, and they are rounded to f16 as a roped q would be. The angles are computed once per
// token a thread meets (heads of one token usually follow each other in its share).
static void attention_run(const OpCtx& c, bool rope) {
  const TensorDesc& q = *c.in_desc[0];
  const TensorDesc& cache = *c.in_desc[1];
  const int64_t n = q.shape[0], H = q.shape[1], D = q.shape[2];
  const int64_t B = cache.shape[1], Hkv = cache.shape[2];
  const int64_t group = H / Hkv;
  const float scale = c.node->attrs.scale;
  const KvLayout& kv = *c.kv;
  const uint8_t* kp = static_cast<const uint8_t*>(c.in[1]);
  const uint8_t* vp = static_cast<const uint8_t*>(c.in[2]);
  const bool q8 = cache.dtype == DType::Q8_0;
  const size_t row_bytes = dtype_row_bytes(cache.dtype, D);  // one head of one token
  float* out = static_cast<float*>(c.out);
  float* scores = reinterpret_cast<float*>(c.thread_scratch);
  float* qf = scores + cache.shape[0] * B;
  float* lanes = qf + D;  // [kAttnLanes][D]
  float* deq = lanes + kernels::kAttnLanes * D;                 // [D] (q8_0 cache)
  uint16_t* deq16 = reinterpret_cast<uint16_t*>(deq + D);       // [D] (q8_0 cache)
  const kernels::AttentionKernels& k = kernels::attention_kernels();
  const kernels::VecMathKernels& vm = kernels::vecmath_kernels();
  const OpAttrs& a = c.node->attrs;
  const float theta_scale = rope ? rope_theta_scale(a) : 0.0f;
  const int32_t* rope_pos = rope ? static_cast<const int32_t*>(c.in[3]) : nullptr;
  float cosv[kMaxRopePairs], sinv[kMaxRopePairs];  // n_rot <= 2*kMaxRopePairs: checked in supports()
  int64_t angles_of = -1;                            // the token cosv/sinv belong to

  // (token, head) pairs are dealt round-robin: a causal token's cost grows with its position,
  // so contiguous ranges would leave the thread with the early tokens idle.
  for (int64_t th = c.ith; th < n * H; th += c.nth) {
    const int64_t t = th / H, h = th % H, kvh = h / group;
    const int32_t s = kv.seq_of_token[t], p = kv.positions[t];
    const int32_t* blocks = kv.seq_blocks[s];
    // The summation llama.cpp would use for this token: tinyBLAS for a prompt token, ggml's
    // f16 dot for a generated one (tinyBLAS declines dot lengths that are not a multiple of 8).
    const bool prompt_style = kv.token_style == nullptr || kv.token_style[t] == kStylePrompt;
    const int accs = prompt_style && D % 8 == 0 ? 1 : 4;
    // An f16 row of K or V; a q8_0 row is expanded into deq16 first (values d * q, rounded
    // to f16, so the same dot kernels run on both).
    auto row = [&](const uint8_t* pool, int32_t j) -> const uint16_t* {
      const uint8_t* r = pool + static_cast<size_t>((static_cast<int64_t>(blocks[j / B]) * B + j % B) * Hkv + kvh) * row_bytes;
      if (!q8) return reinterpret_cast<const uint16_t*>(r);
      kernels::dequantize_row_q8_0(r, deq, D);
      kernels::f32_to_fp16_row(deq, deq16, D);
      return deq16;
    };
    const float* qrow = row_at(c.in[0], c.in_stride[0], t) + h * D;
    if (rope) {
      if (angles_of != t) {
        rope_angles(a, theta_scale, rope_pos[t], cosv, sinv);
        angles_of = t;
      }
      rope_head(a, cosv, sinv, qrow, qf, D);
      for (int64_t d = 0; d < D; ++d) qf[d] = round_f16(qf[d]);
    } else {
      for (int64_t d = 0; d < D; ++d) qf[d] = round_f16(qrow[d]);
    }

    float mx = -INFINITY;
    for (int32_t j = 0; j <= p; ++j) {
      scores[j] = k.qk_dot(qf, row(kp, j), D, accs) * scale;
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
    for (int32_t j = 0; j <= p; ++j) scores[j] = round_f16(scores[j] * inv);

    std::memset(lanes, 0, sizeof(float) * 8 * accs * D);
    for (int32_t j = 0; j <= p; ++j) k.pv_accumulate(lanes, j, scores[j], row(vp, j), D, accs);
    k.pv_reduce(lanes, out + (t * H + h) * D, D, accs);
  }
}

void op_attention(const OpCtx& c) { attention_run(c, false); }
void op_attention_rope(const OpCtx& c) { attention_run(c, true); }

}  // namespace ember::cpu
