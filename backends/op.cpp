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
  }
  return "?";
}

}  // namespace ember
