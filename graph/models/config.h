// Hyperparameters of a llama-family model, independent of where they were read from.
#pragma once

#include <cstdint>
#include <string>

namespace ember::graph {

enum class RopeLayout {
  Normal,  // rotate adjacent pairs (x[2i], x[2i+1]) — llama.cpp's LLAMA_ROPE_TYPE_NORM
  NeoX,    // rotate halves (x[i], x[i + n_rot/2]) — GPT-NeoX / Qwen2
};

struct ModelConfig {
  std::string arch;           // "llama", "qwen2", ...
  std::string name;           // general.name, for display
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;       // per-head K/Q/V width
  int64_t n_rot = 0;          // rotated dimensions per head (<= head_dim)
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  RopeLayout rope_layout = RopeLayout::Normal;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;  // no output.weight: logits use token_embd
  bool qkv_bias = false;

  int64_t gqa_ratio() const { return n_head_kv ? n_head / n_head_kv : 0; }
};

}  // namespace ember::graph
