#include <cmath>
#include <cstring>

#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"

namespace ember::cpu {

// Causal attention through the paged KV pool. Token t of sequence s at position p attends to
// positions 0..p of s, reading each K/V row from its block (no gather into a contiguous copy).
// GQA: query head h uses kv head h / (H / Hkv). q is rounded to f16 before q·k, as llama.cpp
// does for an f16 cache; scores and the softmax are f32; the
// probabilities are rounded to f16 (as llama.cpp's f16 V product does) and V accumulates in f32.
size_t attention_thread_scratch_bytes(const TensorDesc& q, const TensorDesc& cache) {
  const int64_t max_ctx = cache.shape[0] * cache.shape[1];
  return static_cast<size_t>(max_ctx) * sizeof(float) + static_cast<size_t>(q.shape[2]) * 2 * sizeof(float);
}

void op_attention(const OpCtx& c) {
  const TensorDesc& q = *c.in_desc[0];
  const TensorDesc& cache = *c.in_desc[1];
  const int64_t n = q.shape[0], H = q.shape[1], D = q.shape[2];
  const int64_t B = cache.shape[1], Hkv = cache.shape[2];
  const int64_t group = H / Hkv;
  const float scale = c.node->attrs.scale;
  const KvLayout& kv = *c.kv;
  const float* qp = static_cast<const float*>(c.in[0]);
  const uint16_t* kp = static_cast<const uint16_t*>(c.in[1]);
  const uint16_t* vp = static_cast<const uint16_t*>(c.in[2]);
  float* out = static_cast<float*>(c.out);
  float* scores = reinterpret_cast<float*>(c.thread_scratch);
  float* qf = scores + cache.shape[0] * B;
  float* acc = qf + D;

  int64_t b, e;
  split_range(n * H, c.ith, c.nth, &b, &e);
  for (int64_t th = b; th < e; ++th) {
    const int64_t t = th / H, h = th % H, kvh = h / group;
    const int32_t s = kv.seq_of_token[t], p = kv.positions[t];
    const int32_t* blocks = kv.seq_blocks[s];
    for (int64_t d = 0; d < D; ++d) qf[d] = kernels::fp16_to_f32(kernels::f32_to_fp16(qp[(t * H + h) * D + d]));
    float mx = -INFINITY;
    for (int32_t j = 0; j <= p; ++j) {
      const uint16_t* kr = kp + ((static_cast<int64_t>(blocks[j / B]) * B + j % B) * Hkv + kvh) * D;
      float dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += qf[d] * kernels::fp16_to_f32(kr[d]);
      scores[j] = dot * scale;
      mx = scores[j] > mx ? scores[j] : mx;
    }
    double sum = 0;
    for (int32_t j = 0; j <= p; ++j) {
      scores[j] = std::exp(scores[j] - mx);
      sum += scores[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    std::memset(acc, 0, sizeof(float) * D);
    for (int32_t j = 0; j <= p; ++j) {
      const uint16_t* vr = vp + ((static_cast<int64_t>(blocks[j / B]) * B + j % B) * Hkv + kvh) * D;
      // llama.cpp multiplies V by the probabilities converted to f16.
      const float w = kernels::fp16_to_f32(kernels::f32_to_fp16(scores[j] * inv));
      for (int64_t d = 0; d < D; ++d) acc[d] += w * kernels::fp16_to_f32(vr[d]);
    }
    std::memcpy(out + (t * H + h) * D, acc, sizeof(float) * D);
  }
}

}  // namespace ember::cpu
