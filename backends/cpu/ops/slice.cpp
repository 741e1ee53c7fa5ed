#include <cstring>

#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// Columns [begin, begin + len) of x f32[M,N], copied row by row. A one-row slice is a view
// (is_view in backends/op.h) and never reaches this function.
void op_slice(const OpCtx& c) {
  const TensorDesc& in = *c.in_desc[0];
  const int64_t M = in.shape[0], N = in.shape[1], len = c.node->out.shape[1], begin = c.node->attrs.begin;
  const float* x = static_cast<const float*>(c.in[0]);
  float* o = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(M, c.ith, c.nth, &b, &e);
  for (int64_t r = b; r < e; ++r) std::memcpy(o + r * len, x + r * N + begin, sizeof(float) * len);
}

}  // namespace ember::cpu
