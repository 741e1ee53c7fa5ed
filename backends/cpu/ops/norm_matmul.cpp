#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// y = (rms_norm(x) * norm) · concat(w0[, w1[, w2]])ᵀ: the norm applied inside the matmul's
// activation conversion (matmul.cpp), so the normalised rows are never written out and one
// op and one barrier fewer run. Each converted value is computed with the same float
// operations as rms_norm_mul (rms_scale, then (x * scale) * w), so the result is bit-identical.
void op_norm_matmul(const OpCtx& c) {
  MatMulArgs m;
  m.norm = static_cast<const float*>(c.in[1]);
  m.eps = c.node->attrs.eps;
  m.n_weights = static_cast<int>(c.node->inputs.size()) - 2;
  for (int s = 0; s < m.n_weights; ++s) {
    m.w[s] = c.in[2 + s];
    m.w_desc[s] = c.in_desc[2 + s];
    m.w_layout[s] = c.in_layout[2 + s];
  }
  matmul_run(c, m);
}

}  // namespace ember::cpu
