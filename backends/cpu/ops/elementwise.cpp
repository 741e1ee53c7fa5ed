#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {
namespace {

// Applies f over out = f(a, b) where b is either a's shape or one row broadcast over a's rows.
template <typename F>
void binary(const OpCtx& c, F f) {
  const TensorDesc& a = *c.in_desc[0];
  const TensorDesc& bd = *c.in_desc[1];
  const int64_t N = a.dim(-1), rows = a.rows();
  const bool bcast = bd.numel() != a.numel();
  const float* pa = static_cast<const float*>(c.in[0]);
  const float* pb = static_cast<const float*>(c.in[1]);
  float* po = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(rows, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) {
    const float* ra = pa + r * N;
    const float* rb = bcast ? pb : pb + r * N;
    float* ro = po + r * N;
    for (int64_t i = 0; i < N; ++i) ro[i] = f(ra[i], rb[i]);
  }
}

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

void op_add(const OpCtx& c) { binary(c, [](float x, float y) { return x + y; }); }
void op_mul(const OpCtx& c) { binary(c, [](float x, float y) { return x * y; }); }
void op_silu_mul(const OpCtx& c) {
  if (c.node->inputs.size() == 2) {
    binary(c, [](float g, float u) { return silu(g) * u; });
    return;
  }
  // One input [M,2F] (the merged gate/up matmul): gate is the left half of each row, up the right.
  const int64_t F = c.node->out.dim(-1), rows = c.node->out.rows();
  const float* gu = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(rows, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) {
    const float* g = gu + r * 2 * F;
    const float* u = g + F;
    float* orow = o + r * F;
    for (int64_t i = 0; i < F; ++i) orow[i] = silu(g[i]) * u[i];
  }
}

void op_silu(const OpCtx& c) {
  const int64_t n = c.node->out.numel();
  const float* x = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  for (int64_t i = b; i < e; ++i) o[i] = silu(x[i]);
}

}  // namespace ember::cpu
