#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::cpu {

// Stores each token's K or V rows (f32[n, Hkv, D]) as f16 (or q8_0: D / 32 blocks per head)
// into its slot of the block pool: block = block table of its sequence at pos / block_size,
// slot = pos % block_size. The output aliases the cache buffer.
void op_kv_write(const OpCtx& c) {
  const TensorDesc& x = *c.in_desc[0];
  const TensorDesc& cache = *c.in_desc[1];
  const int64_t n = x.shape[0], row = x.shape[1] * x.shape[2];
  const int64_t B = cache.shape[1];
  const KvLayout& kv = *c.kv;
  const float* src = static_cast<const float*>(c.in[0]);
  uint8_t* dst = static_cast<uint8_t*>(c.out);
  const bool q8 = cache.dtype == DType::Q8_0;
  const size_t row_bytes = dtype_row_bytes(cache.dtype, row);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  for (int64_t t = b; t < e; ++t) {
    const int32_t s = kv.seq_of_token[t], p = kv.positions[t];
    const int64_t block = kv.seq_blocks[s][p / B];
    uint8_t* slot = dst + static_cast<size_t>(block * B + p % B) * row_bytes;
    if (q8) kernels::quantize_row_q8_0(src + t * row, slot, row);
    else kernels::f32_to_fp16_row(src + t * row, reinterpret_cast<uint16_t*>(slot), row);
  }
}

}  // namespace ember::cpu
