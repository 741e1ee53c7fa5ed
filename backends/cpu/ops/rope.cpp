#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// Rotary position embedding (the arithmetic is rope_angles / rope_head in ops.h). x may be a
// strided view (the Q or K columns of a merged projection); the output is contiguous.
void op_rope(const OpCtx& c) {
  const TensorDesc& d = c.node->out;
  const int64_t n = d.shape[0], H = d.shape[1], D = d.shape[2];
  const OpAttrs& a = c.node->attrs;
  const float theta_scale = rope_theta_scale(a);
  const int32_t* pos = static_cast<const int32_t*>(c.in[1]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  float cosv[kMaxRopePairs], sinv[kMaxRopePairs];  // n_rot <= 2*kMaxRopePairs: checked in supports()
  for (int64_t t = b; t < e; ++t) {
    rope_angles(a, theta_scale, pos[t], cosv, sinv);
    const float* x = row_at(c.in[0], c.in_stride[0], t);
    for (int64_t h = 0; h < H; ++h) rope_head(a, cosv, sinv, x + h * D, o + (t * H + h) * D, D);
  }
}

}  // namespace ember::cpu
