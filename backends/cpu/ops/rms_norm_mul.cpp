#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// rms_norm(x) * w in one pass over each row: the same float operations in the same order as
// op_rms_norm followed by op_mul ((x * scale) rounded to f32, then times w), so the result
// is bit-identical to the unfused pair.
void op_rms_norm_mul(const OpCtx& c) {
  const TensorDesc& d = c.node->out;
  const int64_t N = d.dim(-1), rows = d.rows();
  const float eps = c.node->attrs.eps;
  const float* x = static_cast<const float*>(c.in[0]);
  const float* w = static_cast<const float*>(c.in[1]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(rows, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) {
    const float* xr = x + r * N;
    const float scale = rms_scale(xr, N, eps);
    for (int64_t i = 0; i < N; ++i) {
      const float normed = xr[i] * scale;
      o[r * N + i] = normed * w[i];
    }
  }
}

}  // namespace ember::cpu
