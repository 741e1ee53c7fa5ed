// Building, checking and printing OpGraphs (the IR lives in backends/op.h so backends can
// read it; this floor owns how it is made and transformed).
#pragma once

#include <string>
#include <vector>

#include "backends/op.h"
#include "ember/core/status.h"

namespace ember::graph {

// Infers the output descriptor of `node` from its op, inputs and attributes, checking shapes
// and dtypes. The error names the node's label and op.
Expected<TensorDesc> infer(const OpGraph& g, const Node& node);

// Re-checks every node (topological order, inferred shapes equal the stored ones).
Status verify(const OpGraph& g);

// One node per line: `%5 = matmul %3, %4 : f32[7,576]  # blk.0.attn_q`. Stable for tests.
std::string print(const OpGraph& g);

TensorDesc make_desc(DType dtype, std::initializer_list<int64_t> shape);
std::string desc_string(const TensorDesc& d);

class Builder;

// A handle on a node being built; cheap to copy (value semantics).
class Value {
 public:
  Value() = default;
  Value(Builder* b, int id) : b_(b), id_(id) {}
  int id() const { return id_; }
  bool valid() const { return b_ && id_ >= 0; }
  const TensorDesc& desc() const;

 private:
  Builder* b_ = nullptr;
  int id_ = -1;
};

// Appends nodes, verifying each as it is created. The first error is kept (later ops on an
// invalid value are skipped) and reported by finish().
class Builder {
 public:
  // Label applied to nodes created from now on ("blk.3.attn_q").
  void set_label(std::string label) { label_ = std::move(label); }

  Value input(const std::string& name, DType dtype, std::initializer_list<int64_t> shape);
  Value weight(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const void* data);
  // A layer's K or V pool; dtype F16 or Q8_0 (head_dim a multiple of 32).
  Value kv_cache(int layer, int which, int64_t n_blocks, int64_t block_size, int64_t n_kv_head,
                 int64_t head_dim, DType dtype = DType::F16);
  Value embedding(Value table, Value ids);
  Value matmul(Value x, Value w);
  Value add(Value a, Value b);
  Value mul(Value a, Value b);
  Value rms_norm(Value x, float eps);
  Value rope(Value x, Value positions, int n_rot, RopeMode mode, float base, float freq_scale);
  Value kv_write(Value x, Value cache);
  Value attention(Value q, Value k_cache, Value v_cache, float scale);
  Value silu(Value x);
  Value silu_mul(Value gate, Value up);
  Value softmax(Value x);
  Value get_rows(Value x, Value rows);
  Value reshape(Value x, std::initializer_list<int64_t> shape);
  Value permute(Value x, std::array<int, 4> perm);
  Value copy(Value x, DType dtype);
  // Fused and merged forms (normally made by graph/passes/, built directly in pass tests).
  Value matmul_cat(Value x, std::initializer_list<Value> ws);
  Value matmul_add(Value x, Value w, Value r);
  Value silu_mul_halves(Value gu);  // silu_mul of the two halves of one [M,2F] input
  Value norm_matmul(Value x, Value norm, std::initializer_list<Value> ws, float eps);
  Value rms_norm_mul(Value x, Value w, float eps);
  Value slice(Value x, int64_t begin, int64_t len);
  void output(Value v);

  Expected<OpGraph> finish();
  const OpGraph& graph() const { return g_; }

 private:
  friend class Value;
  Value add_node(Node n);
  bool usable(std::initializer_list<Value> vs);

  OpGraph g_;
  std::string label_;
  Status error_;
};

}  // namespace ember::graph
