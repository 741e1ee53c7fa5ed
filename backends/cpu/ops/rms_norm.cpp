#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// Squares in f32 summed in double, as llama.cpp does, so long rows lose no precision.
void op_rms_norm(const OpCtx& c) {
  const TensorDesc& d = c.node->out;
  const int64_t N = d.dim(-1), rows = d.rows();
  const float eps = c.node->attrs.eps;
  const float* x = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(rows, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) {
    const float* xr = x + r * N;
    const float scale = rms_scale(xr, N, eps);
    for (int64_t i = 0; i < N; ++i) o[r * N + i] = xr[i] * scale;
  }
}

void op_softmax(const OpCtx& c) {
  const TensorDesc& d = c.node->out;
  const int64_t N = d.dim(-1), rows = d.rows();
  const float* x = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(rows, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) {
    const float* xr = x + r * N;
    float* orow = o + r * N;
    float mx = -INFINITY;
    for (int64_t i = 0; i < N; ++i) mx = xr[i] > mx ? xr[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) {
      orow[i] = std::exp(xr[i] - mx);
      sum += orow[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < N; ++i) orow[i] *= inv;
  }
}

}  // namespace ember::cpu
