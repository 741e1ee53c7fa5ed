// Builds the llama family (Llama 2/3, SmolLM2, Mistral-style GQA, Qwen2 with QKV bias) as an
// OpGraph for one step of `n_tokens` tokens. This graph is the only forward pass ember has.
#pragma once

#include <string>
#include <vector>

#include "backends/op.h"
#include "ember/core/status.h"
#include "graph/models/config.h"

namespace ember::graph {

struct WeightRef {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first (a GGUF [K, N] matrix is shape {N, K})
  const void* data = nullptr;
};

// Where the builder finds weights by GGUF tensor name.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const WeightRef* find(const std::string& name) const = 0;
};

struct StepShape {
  int64_t n_tokens = 1;    // tokens processed in this step (all sequences together)
  int64_t n_outputs = 1;   // rows whose logits are wanted ("out_rows" input)
  int64_t kv_blocks = 1;   // blocks in each layer's KV pool
  int64_t block_size = 16; // tokens per KV block
  DType kv_dtype = DType::F16;  // K/V element type: F16 or Q8_0
};

// Inputs of the built graph: "tokens" i32[n_tokens], "positions" i32[n_tokens],
// "out_rows" i32[n_outputs]. Output 0: logits f32[n_outputs, n_vocab].
Expected<OpGraph> build_llama(const ModelConfig& cfg, const WeightSource& weights, const StepShape& step);

}  // namespace ember::graph
