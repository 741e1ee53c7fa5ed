// Token sampling: a chain of transforms over the logits, then a choice.
//
// Order (fixed, documented): penalties (repetition, frequency, presence over the last
// `penalty_window` tokens) -> top-k -> top-p -> min-p -> temperature -> draw.
// temperature == 0 means greedy: the highest logit after penalties wins (ties: lowest id).
// The draw uses a seeded mt19937_64 and the softmax of the surviving logits, so the same seed
// and settings give the same tokens.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "ember/core/status.h"

namespace ember::runtime {

struct SamplerParams {
  float temperature = 0.8f;     // 0 = greedy; must be >= 0
  int32_t top_k = 40;           // 0 = off; else keep the k highest
  float top_p = 0.95f;          // in (0, 1]; 1 = off
  float min_p = 0.05f;          // in [0, 1); 0 = off; drop tokens below min_p * p(max)
  float repeat_penalty = 1.0f;  // > 0; 1 = off (llama.cpp's: divide positive, multiply negative logits)
  float frequency_penalty = 0;  // subtract count * frequency_penalty
  float presence_penalty = 0;   // subtract presence_penalty once if present
  int32_t penalty_window = 64;  // last N tokens the penalties look at (>= 0)
  uint64_t seed = 0;

  // Checks ranges; the message names the bad setting and its value.
  Status validate() const;
};

class Sampler {
 public:
  static Expected<Sampler> create(const SamplerParams& p);

  // Picks the next token from `logits` (n_vocab floats).
  int32_t sample(std::span<const float> logits);
  // Records a token (prompt or generated) for the penalty window.
  void accept(int32_t token);
  void reset_history() { history_.clear(); }

  // The candidates that survive the chain, with probabilities (for tests).
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  std::vector<Candidate> candidates(std::span<const float> logits);

 private:
  explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
  void apply_chain(std::span<const float> logits);

  SamplerParams p_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;
  std::vector<Candidate> cand_;
  std::vector<float> penalized_;  // the logits with the penalties applied (when some are on)
};

}  // namespace ember::runtime
