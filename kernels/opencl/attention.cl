// The paged KV cache: pools of [n_blocks, B, Hkv, D] f16. Token t belongs to sequence
// tok_seq[t] at position tok_pos[t]; sequence s's block table is tables[tbl_off[s] ..].

// One item per (token, element of its Hkv·D row): stores x as f16 into the token's slot.
__kernel void kv_write(__global const float* x, __global half* pool, __global const int* tok_seq,
                       __global const int* tok_pos, __global const int* tbl_off, __global const int* tables,
                       int row, int B) {
  const long i = get_global_id(0);
  const int t = i / row, e = i % row;
  const int p = tok_pos[t];
  const long block = tables[tbl_off[tok_seq[t]] + p / B];
  vstore_half(x[i], (block * B + p % B) * row + e, pool);
}

// One item per (token, query head): causal attention over positions 0..p of the token's
// sequence, reading K and V through the block table. `scores` holds max_ctx floats per item.
// GQA: head h reads kv head h / (H / Hkv).
__kernel void attention(__global const float* q, __global const half* kp, __global const half* vp,
                        __global float* out, __global float* scores, __global const int* tok_seq,
                        __global const int* tok_pos, __global const int* tbl_off, __global const int* tables,
                        int H, int Hkv, int D, int B, int max_ctx, float scale) {
  const int t = get_global_id(0) / H, h = get_global_id(0) % H, kvh = h / (H / Hkv);
  const int p = tok_pos[t];
  __global const int* tbl = tables + tbl_off[tok_seq[t]];
  __global const float* qr = q + ((long)t * H + h) * D;
  __global float* sc = scores + (long)get_global_id(0) * max_ctx;
  float mx = -INFINITY;
  for (int j = 0; j <= p; ++j) {
    const long base = (((long)tbl[j / B] * B + j % B) * Hkv + kvh) * D;
    float s = 0;
    for (int d = 0; d < D; ++d) s += qr[d] * vload_half(base + d, kp);
    s *= scale;
    sc[j] = s;
    mx = fmax(mx, s);
  }
  float sum = 0;
  for (int j = 0; j <= p; ++j) {
    sc[j] = exp(sc[j] - mx);
    sum += sc[j];
  }
  const float inv = 1.0f / sum;
  __global float* o = out + ((long)t * H + h) * D;
  for (int d = 0; d < D; ++d) o[d] = 0;
  for (int j = 0; j <= p; ++j) {
    const long base = (((long)tbl[j / B] * B + j % B) * Hkv + kvh) * D;
    const float w = sc[j] * inv;
    for (int d = 0; d < D; ++d) o[d] += w * vload_half(base + d, vp);
  }
}
