#include <algorithm>
#include <cmath>

#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/vecmath/vecmath.h"

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
// silu(g) * u row by row through the vecmath kernel (llama.cpp's SwiGLU arithmetic). Two
// inputs: g and u of the same shape; one input [M, 2F] (the merged gate/up matmul): gate is
// the left half of each row, up the right. The kernel treats every aligned block of 8 alike,
// so a row may be split across threads at multiples of 8 without changing a bit; decode (one
// row) then keeps both threads busy.
void op_silu_mul(const OpCtx& c) {
  const int64_t N = c.node->out.dim(-1), rows = c.node->out.rows();
  const bool merged = c.node->inputs.size() == 1;
  const float* g = static_cast<const float*>(c.in[0]);
  const float* u = merged ? g + N : static_cast<const float*>(c.in[1]);
  const int64_t in_stride = merged ? 2 * N : N;
  float* o = static_cast<float*>(c.out);
  const auto& k = kernels::vecmath_kernels();
  const int64_t blocks = (N + 7) / 8;  // per row; the last may be a partial tail
  int64_t b, e;
  split_range(rows * blocks, c.ith, c.nth, &b, &e);
  while (b < e) {
    const int64_t r = b / blocks, first = b % blocks;
    const int64_t last = std::min(blocks, first + (e - b));
    const int64_t i0 = first * 8, i1 = std::min(N, last * 8);
    k.silu_mul(i1 - i0, o + r * N + i0, g + r * in_stride + i0, u + r * in_stride + i0);
    b += last - first;
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
