#include "backends/op.h"

namespace ember {

const char* layout_name(WeightLayout l) {
  switch (l) {
    case WeightLayout::Plain: return "plain";
    case WeightLayout::Q4_1x2: return "q4_1x2";
    case WeightLayout::Q4_1x16: return "q4_1x16";
    case WeightLayout::Q8_0x16: return "q8_0x16";
  }
  return "?";
}

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
    case OpKind::KvWriteRope: return "kv_write_rope";
    case OpKind::AttentionRope: return "attention_rope";
    case OpKind::Transfer: return "transfer";
  }
  return "?";
}

namespace {

uint64_t contiguous_row_bytes(const TensorDesc& d) {
  return d.rank ? static_cast<uint64_t>(d.bytes() / d.shape[0]) : static_cast<uint64_t>(d.bytes());
}

bool is_output(const OpGraph& g, int i) {
  for (int o : g.outputs)
    if (o == i) return true;
  return false;
}

// Whether every reader of node i reads it through a row stride (and something reads it).
bool all_readers_take_row_stride(const OpGraph& g, int i) {
  if (is_output(g, i)) return false;
  bool read = false;
  for (size_t j = static_cast<size_t>(i) + 1; j < g.nodes.size(); ++j) {
    const Node& r = g.nodes[j];
    for (size_t k = 0; k < r.inputs.size(); ++k) {
      if (r.inputs[k] != i) continue;
      if (!reads_row_stride(g, static_cast<int>(j), static_cast<int>(k))) return false;
      read = true;
    }
  }
  return read;
}

}  // namespace

bool reads_row_stride(const OpGraph& g, int reader, int k) {
  const Node& n = g.nodes[reader];
  switch (n.op) {
    case OpKind::Rope:
    case OpKind::KvWrite:
    case OpKind::KvWriteRope:
    case OpKind::Attention:
    case OpKind::AttentionRope:
      return k == 0;
    case OpKind::Reshape: {
      const TensorDesc& in = g.nodes[n.inputs[0]].out;
      return n.out.rank >= 1 && in.rank >= 1 && n.out.shape[0] == in.shape[0] &&
             all_readers_take_row_stride(g, reader);
    }
    default:
      return false;
  }
}

bool is_view(const OpGraph& g, int i, int* of, uint64_t* byte_offset) {
  const Node& n = g.nodes[i];
  switch (n.op) {
    case OpKind::Reshape:
      *of = n.inputs[0];
      *byte_offset = 0;
      return true;
    case OpKind::KvWrite:
    case OpKind::KvWriteRope:
      *of = n.inputs[1];
      *byte_offset = 0;
      return true;
    case OpKind::Slice:
      if (n.out.rows() != 1 && !all_readers_take_row_stride(g, i)) return false;
      *of = n.inputs[0];
      *byte_offset = static_cast<uint64_t>(n.attrs.begin) * sizeof(float);
      return true;
    default:
      return false;
  }
}

uint64_t row_stride_bytes(const OpGraph& g, int i) {
  const Node& n = g.nodes[i];
  int of = -1;
  uint64_t at = 0;
  if (n.op == OpKind::Slice && n.out.rows() != 1 && is_view(g, i, &of, &at))
    return contiguous_row_bytes(g.nodes[of].out);
  if (n.op == OpKind::Reshape) {
    const TensorDesc& in = g.nodes[n.inputs[0]].out;
    const uint64_t s = row_stride_bytes(g, n.inputs[0]);
    // A strided input is reshaped only with its outermost dimension kept (reads_row_stride).
    if (s != contiguous_row_bytes(in) && n.out.rank >= 1 && in.rank >= 1 && n.out.shape[0] == in.shape[0]) return s;
  }
  return contiguous_row_bytes(n.out);
}

}  // namespace ember
