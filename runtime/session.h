// A Session runs a Model on one backend: it owns the KV block pool, the sequences living in
// it, and a small cache of prepared plans keyed by step shape (tokens, outputs), so a decode
// step reuses its plan and allocates nothing.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "ember/core/status.h"
#include "graph/passes/pipeline.h"
#include "runtime/kv/kv_pool.h"
#include "runtime/model/model.h"

namespace ember::runtime {

struct SessionOptions {
  int threads = 1;
  int32_t n_ctx = 0;         // positions the KV pool can hold (all sequences together);
                             // 0: min(4096, what the model was trained for)
  int32_t block_size = 16;   // tokens per KV block
  int32_t n_batch = 512;     // most tokens evaluated in one step (longer prompts are chunked)
  graph::PipelineOptions passes;  // the graph compiler's passes run on every step graph
};

// One token of a step: which sequence it extends and whether its logits are wanted.
struct BatchToken {
  int32_t token;
  int32_t seq;
  bool logits;
};

class Session {
 public:
  static Expected<std::unique_ptr<Session>> create(const Model& model, const SessionOptions& opts);

  const Model& model() const { return model_; }
  const SessionOptions& options() const { return opts_; }
  Backend& backend() { return *backend_; }
  KvPool& kv() { return *kv_; }

  // Sequences. Ids are small integers reused after free_sequence.
  int32_t new_sequence();
  void free_sequence(int32_t seq);
  int32_t seq_len(int32_t seq) const;

  // One forward step over a ragged batch: every token is appended to its sequence at that
  // sequence's next position. Logits (n_vocab floats each) of the tokens with `logits` set are
  // written to *logits in batch order. At most n_batch tokens.
  Status step(std::span<const BatchToken> batch, std::vector<float>* logits);

  // Appends `tokens` to `seq` (chunked into steps of n_batch) and returns the logits of the
  // last token, or of every token when all_logits.
  Status eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits);

 private:
  Session(const Model& m, const SessionOptions& o) : model_(m), opts_(o) {}
  Expected<Plan*> plan_for(int64_t n_tokens, int64_t n_outputs);

  struct CachedPlan {
    int64_t n_tokens, n_outputs;
    std::unique_ptr<Plan> plan;
  };

  const Model& model_;
  SessionOptions opts_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<KvPool> kv_;
  std::vector<SeqBlocks> seqs_;
  std::vector<bool> seq_live_;
  std::list<CachedPlan> plans_;  // most recently used first

  // Per-step staging, kept to avoid allocation on the decode path.
  std::vector<int32_t> tokens_, positions_, out_rows_, seq_of_token_, seq_map_;
  KvLayout layout_;
  ExecArgs args_;
};

}  // namespace ember::runtime
