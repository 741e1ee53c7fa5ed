#include <cstring>

#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"

namespace ember::cpu {

void op_get_rows(const OpCtx& c) {
  const int64_t m = c.node->out.shape[0], E = c.node->out.shape[1];
  const float* x = static_cast<const float*>(c.in[0]);
  const int32_t* rows = static_cast<const int32_t*>(c.in[1]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(m, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) std::memcpy(o + r * E, x + rows[r] * E, sizeof(float) * E);
}

// out[i0,i1,i2,i3] = in[...] with out axis k taken from input axis perm[k].
void op_permute(const OpCtx& c) {
  const TensorDesc& in = *c.in_desc[0];
  const TensorDesc& out = c.node->out;
  const int r = in.rank;
  int64_t in_stride[4] = {1, 1, 1, 1};
  for (int k = r - 2; k >= 0; --k) in_stride[k] = in_stride[k + 1] * in.shape[k + 1];
  int64_t shape[4] = {1, 1, 1, 1}, stride[4] = {0, 0, 0, 0};
  for (int k = 0; k < r; ++k) {
    shape[4 - r + k] = out.shape[k];
    stride[4 - r + k] = in_stride[c.node->attrs.perm[k]];
  }
  const float* x = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  const int64_t outer = shape[0] * shape[1] * shape[2];
  int64_t b, e;
  split_range(outer, c.ith, c.nth, &b, &e);
  for (int64_t idx = b; idx < e; ++idx) {
    const int64_t i2 = idx % shape[2], i1 = (idx / shape[2]) % shape[1], i0 = idx / (shape[1] * shape[2]);
    const float* src = x + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
    float* dst = o + idx * shape[3];
    for (int64_t i3 = 0; i3 < shape[3]; ++i3) dst[i3] = src[i3 * stride[3]];
  }
}

void op_copy(const OpCtx& c) {
  const TensorDesc& in = *c.in_desc[0];
  const DType to = c.node->out.dtype;
  const int64_t n = in.numel();
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  if (in.dtype == to) {
    const size_t es = in.dtype == DType::F32 ? 4 : 2;
    std::memcpy(static_cast<uint8_t*>(c.out) + b * es, static_cast<const uint8_t*>(c.in[0]) + b * es, (e - b) * es);
  } else if (to == DType::F16) {
    kernels::f32_to_fp16_row(static_cast<const float*>(c.in[0]) + b, static_cast<uint16_t*>(c.out) + b, e - b);
  } else {
    kernels::fp16_to_f32_row(static_cast<const uint16_t*>(c.in[0]) + b, static_cast<float*>(c.out) + b, e - b);
  }
}

}  // namespace ember::cpu
