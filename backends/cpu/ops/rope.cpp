#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// Rotary position embedding. Pair i (0 <= i < n_rot/2) of a head turns by
// pos * freq_scale * base^(-2i/n_rot). The angle is built by repeated multiplication in f32,
// the way llama.cpp computes its cache, so both engines see the same angles.
// Normal layout pairs (2i, 2i+1); NeoX pairs (i, i + n_rot/2).
void op_rope(const OpCtx& c) {
  const TensorDesc& d = c.node->out;
  const int64_t n = d.shape[0], H = d.shape[1], D = d.shape[2];
  const OpAttrs& a = c.node->attrs;
  const int n_rot = a.rope_n_rot;
  const float theta_scale = std::pow(a.rope_base, -2.0f / static_cast<float>(n_rot));
  const float* x = static_cast<const float*>(c.in[0]);
  const int32_t* pos = static_cast<const int32_t*>(c.in[1]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  float cosv[kMaxRopePairs], sinv[kMaxRopePairs];  // n_rot <= 2*kMaxRopePairs: checked in supports()
  for (int64_t t = b; t < e; ++t) {
    float theta = static_cast<float>(pos[t]);
    for (int i = 0; i < n_rot / 2; ++i) {
      const float th = a.rope_freq_scale * theta;
      cosv[i] = std::cos(th);
      sinv[i] = std::sin(th);
      theta *= theta_scale;
    }
    for (int64_t h = 0; h < H; ++h) {
      const float* xr = x + (t * H + h) * D;
      float* orow = o + (t * H + h) * D;
      for (int i = 0; i < n_rot / 2; ++i) {
        const int64_t i0 = a.rope_mode == RopeMode::NeoX ? i : 2 * i;
        const int64_t i1 = a.rope_mode == RopeMode::NeoX ? i + n_rot / 2 : 2 * i + 1;
        const float x0 = xr[i0], x1 = xr[i1];
        // Fused as llama.cpp's build (-march=native) fuses them.
        orow[i0] = std::fma(x0, cosv[i], -(x1 * sinv[i]));
        orow[i1] = std::fma(x0, sinv[i], x1 * cosv[i]);
      }
      for (int64_t i = n_rot; i < D; ++i) orow[i] = xr[i];
    }
  }
}

}  // namespace ember::cpu
