#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::cpu {
namespace {

// Stores one token's row of Hkv*D floats into its slot of the block pool: block = block table
// of its sequence at pos / block_size, slot = pos % block_size; f16, or q8_0 (D / 32 blocks
// per head).
inline void store_row(const KvLayout& kv, const TensorDesc& cache, uint8_t* pool, int64_t t, const float* src,
                      int64_t row) {
  const int64_t B = cache.shape[1];
  const int32_t s = kv.seq_of_token[t], p = kv.positions[t];
  const int64_t block = kv.seq_blocks[s][p / B];
  uint8_t* slot = pool + static_cast<size_t>(block * B + p % B) * dtype_row_bytes(cache.dtype, row);
  if (cache.dtype == DType::Q8_0) kernels::quantize_row_q8_0(src, slot, row);
  else kernels::f32_to_fp16_row(src, reinterpret_cast<uint16_t*>(slot), row);
}

}  // namespace

// Stores each token's K or V rows (f32[n, Hkv, D], rows possibly strided: the K or V columns
// of a merged projection) into the block pool. The output aliases the cache buffer.
void op_kv_write(const OpCtx& c) {
  const TensorDesc& x = *c.in_desc[0];
  const int64_t n = x.shape[0], row = x.shape[1] * x.shape[2];
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  for (int64_t t = b; t < e; ++t)
    store_row(*c.kv, *c.in_desc[1], static_cast<uint8_t*>(c.out), t, row_at(c.in[0], c.in_stride[0], t), row);
}

size_t kv_write_rope_thread_scratch_bytes(const TensorDesc& x) {
  return static_cast<size_t>(x.shape[1] * x.shape[2]) * sizeof(float);
}

// rope then kv_write in one pass: each token's K heads are rotated into this thread's scratch
// row (the floats op_rope would have written) and stored from there, so the pool receives the
// same bytes as the two ops give.
void op_kv_write_rope(const OpCtx& c) {
  const TensorDesc& x = *c.in_desc[0];
  const int64_t n = x.shape[0], H = x.shape[1], D = x.shape[2];
  const OpAttrs& a = c.node->attrs;
  const float theta_scale = rope_theta_scale(a);
  const int32_t* pos = static_cast<const int32_t*>(c.in[2]);
  float* rotated = reinterpret_cast<float*>(c.thread_scratch);  // [H*D]
  float cosv[kMaxRopePairs], sinv[kMaxRopePairs];  // n_rot <= 2*kMaxRopePairs: checked in supports()
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  for (int64_t t = b; t < e; ++t) {
    rope_angles(a, theta_scale, pos[t], cosv, sinv);
    const float* src = row_at(c.in[0], c.in_stride[0], t);
    for (int64_t h = 0; h < H; ++h) rope_head(a, cosv, sinv, src + h * D, rotated + h * D, D);
    store_row(*c.kv, *c.in_desc[1], static_cast<uint8_t*>(c.out), t, rotated, H * D);
  }
}

}  // namespace ember::cpu
