#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::cpu {

// Rows of the (possibly quantised) table dequantised to f32. Ids were range-checked by the
// runtime before execution.
void op_embedding(const OpCtx& c) {
  const TensorDesc& table = *c.in_desc[0];
  const int64_t E = table.shape[1], n = c.node->out.shape[0];
  const kernels::QuantTypeKernels* k = kernels::find_quant_kernels(static_cast<uint32_t>(table.dtype));
  const size_t row_bytes = dtype_row_bytes(table.dtype, E);
  const int32_t* ids = static_cast<const int32_t*>(c.in[1]);
  float* out = static_cast<float*>(c.out);
  int64_t b, e;
  split_range(n, c.ith, c.nth, &b, &e);
  if (c.in_layout[0] == WeightLayout::Q8_0x16) {  // a table tied to a q8_0x16 output head
    for (int64_t r = b; r < e; ++r) kernels::dequantize_q8_0x16_row(c.in[0], ids[r], E, out + r * E);
    return;
  }
  for (int64_t r = b; r < e; ++r)
    k->dequantize(static_cast<const uint8_t*>(c.in[0]) + row_bytes * ids[r], out + r * E, E);
}

}  // namespace ember::cpu
