#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// y = x · concat(w0, w1[, w2])ᵀ: the merged Q/K/V (or gate/up) projection. One activation
// quantisation and one pass over the threads instead of two or three; each output is the
// same dot product as in the separate matmuls (see matmul.cpp).
void op_matmul_cat(const OpCtx& c) {
  MatMulArgs m;
  m.n_weights = static_cast<int>(c.node->inputs.size()) - 1;
  for (int s = 0; s < m.n_weights; ++s) {
    m.w[s] = c.in[1 + s];
    m.w_desc[s] = c.in_desc[1 + s];
    m.w_layout[s] = c.in_layout[1 + s];
  }
  matmul_run(c, m);
}

}  // namespace ember::cpu
