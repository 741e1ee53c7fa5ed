#include "backends/op.h"

namespace ember {

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::Input: return "input";
    case OpKind::Weight: return "weight";
    case OpKind::KvCache: return "kv_cache";
    case OpKind::Embedding: return "embedding";
    case OpKind::MatMul: return "matmul";
    case OpKind::Add: return "add";
    case OpKind::Mul: return "mul";
    case OpKind::RmsNorm: return "rms_norm";
    case OpKind::Rope: return "rope";
    case OpKind::KvWrite: return "kv_write";
    case OpKind::Attention: return "attention";
    case OpKind::Silu: return "silu";
    case OpKind::SiluMul: return "silu_mul";
    case OpKind::Softmax: return "softmax";
    case OpKind::GetRows: return "get_rows";
    case OpKind::Reshape: return "reshape";
    case OpKind::Permute: return "permute";
    case OpKind::Copy: return "copy";
    case OpKind::MatMulCat: return "matmul_cat";
    case OpKind::MatMulAdd: return "matmul_add";
    case OpKind::RmsNormMul: return "rms_norm_mul";
    case OpKind::NormMatMul: return "norm_matmul";
    case OpKind::Slice: return "slice";
    case OpKind::Transfer: return "transfer";
  }
  return "?";
}

bool is_view(const OpGraph& g, int i, int* of, uint64_t* byte_offset) {
  const Node& n = g.nodes[i];
  switch (n.op) {
    case OpKind::Reshape:
      *of = n.inputs[0];
      *byte_offset = 0;
      return true;
    case OpKind::KvWrite:
      *of = n.inputs[1];
      *byte_offset = 0;
      return true;
    case OpKind::Slice:
      if (n.out.rows() != 1) return false;
      *of = n.inputs[0];
      *byte_offset = static_cast<uint64_t>(n.attrs.begin) * sizeof(float);
      return true;
    default:
      return false;
  }
}

}  // namespace ember
