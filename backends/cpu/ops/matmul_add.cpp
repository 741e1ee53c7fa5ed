#include "backends/cpu/ops/ops.h"

namespace ember::cpu {

// y = x · wᵀ + r: the residual add (or a bias, r of one row) as the matmul's epilogue, saving
// one pass over the activations and one barrier.
void op_matmul_add(const OpCtx& c) {
  MatMulArgs m;
  m.w[0] = c.in[1];
  m.w_desc[0] = c.in_desc[1];
  m.w_layout[0] = c.in_layout[1];
  m.n_weights = 1;
  m.addend = static_cast<const float*>(c.in[2]);
  m.addend_is_row = c.in_desc[2]->rank == 1;
  matmul_run(c, m);
}

}  // namespace ember::cpu
