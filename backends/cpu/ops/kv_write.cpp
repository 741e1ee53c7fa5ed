#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"

namespace ember::cpu {

// Stores each token's K or V rows (f32[n, Hkv, D]) as f16 into its slot of the block pool:
// block = block table of its sequence at pos / block_size, slot = pos % block_size.
// The output aliases the cache buffer.
void op_kv_write(const OpCtx& c) {
  const TensorDesc& x = *c.in_desc[0];
  const TensorDesc& cache = *c.in_desc[1];
  const int64_t n = x.shape[0], row = x.shape[1] * x.shape[2];
  const int64_t B = cache.shape[1];
  const KvLayout& kv = *c.kv;
  const float* src = static_cast<const float*>(c.in[0]);
  uint16_t* dst = static_cast<uint16_t*>(c.out);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  for (int64_t t = b; t < e; ++t) {
    const int32_t s = kv.seq_of_token[t], p = kv.positions[t];
    const int64_t block = kv.seq_blocks[s][p / B];
    uint16_t* slot = dst + (block * B + p % B) * row;
    kernels::f32_to_fp16_row(src + t * row, slot, row);
  }
}

}  // namespace ember::cpu
