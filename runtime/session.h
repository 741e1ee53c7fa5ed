// A Session runs a Model on one backend: it owns the KV block pool and its BlockManager (the
// sequences living in it), and a small cache of prepared plans keyed by step shape (tokens,
// outputs), so a decode step reuses its plan and allocates nothing.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "ember/core/status.h"
#include "graph/passes/pipeline.h"
#include "runtime/kv/block_manager.h"
#include "runtime/kv/kv_pool.h"
#include "runtime/model/model.h"

namespace ember::runtime {

struct SessionOptions {
  int threads = 1;
  int32_t n_ctx = 0;         // most positions one sequence may hold;
                             // 0: min(4096, what the model was trained for)
  int32_t kv_blocks = 0;     // blocks in the KV pool (all sequences together);
                             // 0: enough for one sequence of n_ctx tokens
  int32_t block_size = 16;   // tokens per KV block
  int32_t n_batch = 512;     // most tokens evaluated in one step (longer prompts are chunked)
#include "graph/passes/pipeline.h"
  bool prefix_caching = false;  // keep full blocks for reuse by later prompts
  DType kv_type = DType::F16;   // K/V element type: F16, or Q8_0 (about half the memory)
  graph::PipelineOptions passes;  // the graph compiler's passes run on every step graph
  // Which device runs what (--device / --split). Kind::None: the whole graph on one backend.
  graph::PlacementPolicy placement;
};

// A device besides the CPU that a placement policy may use, by the name the policy calls it.
struct SessionDevice {
  std::string name;  // "opencl:0", "npu-ref:0"
  std::unique_ptr<Backend> backend;
};

// One token of a step: which sequence it extends, whether its logits are wanted, and its
// attention summation style (kStylePrompt / kStyleDecode; -1: prompt style when its sequence
// steps two or more tokens, else decode style — what a solo caller wants).
struct BatchToken {
  int32_t token;
  int32_t seq;
  bool logits;
  int8_t style = -1;
};

class Session {
 public:
  static Expected<std::unique_ptr<Session>> create(const Model& model, const SessionOptions& opts);
  // The same on a given backend (a plugin device, say) instead of a CPU backend of
  // opts.threads threads; the whole graph and the KV pool live on it.
  static Expected<std::unique_ptr<Session>> create(const Model& model, const SessionOptions& opts,
                                                   std::unique_ptr<Backend> backend);
  // Placed across devices by opts.placement: a CPU backend of opts.threads threads (the
  // fallback) and `devices`. Every step graph is placed and cut into per-device runs, each
  // prepared once on its device (plans cached per step shape as always); a layer's KV pool
  // lives on the device that runs its kv_write and attention. With Kind::None (or a
  // placement that leaves everything on the CPU) this is exactly create(model, opts).
  static Expected<std::unique_ptr<Session>> create(const Model& model, const SessionOptions& opts,
                                                   std::vector<SessionDevice> devices);

  const Model& model() const { return model_; }
  const SessionOptions& options() const { return opts_; }
  Backend& backend() { return *backend_; }
  // The devices steps run on ([0] is backend()) and, per layer, the one holding its KV pool.
  const std::vector<std::string>& device_names() const { return device_names_; }
  const std::vector<int>& kv_devices() const { return kv_device_; }
  KvPool& kv() { return *kv_; }
  BlockManager& blocks() { return *blocks_; }
  const BlockManager& blocks() const { return *blocks_; }

  // Sequences. Ids are small integers reused after free_sequence.
  int32_t new_sequence();
  // A copy-on-write fork of seq (shares all its blocks); -1 when seq does not exist.
  int32_t fork_sequence(int32_t seq);
  void free_sequence(int32_t seq);
  int32_t seq_len(int32_t seq) const;  // -1 when seq does not exist

  // One forward step over a ragged batch: every token is appended to its sequence at that
  // sequence's next position. Logits (n_vocab floats each) of the tokens with `logits` set are
  // written to *logits in batch order. At most n_batch tokens.
  Status step(std::span<const BatchToken> batch, std::vector<float>* logits);

  // Appends `tokens` to `seq` (chunked into steps of n_batch) and returns the logits of the
  // last token, or of every token when all_logits.
  Status eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits);

 private:
  Session(const Model& m, const SessionOptions& o) : model_(m), opts_(o) {}
  static Expected<std::unique_ptr<Session>> create_on(const Model& model, const SessionOptions& opts,
                                                      std::unique_ptr<Backend> backend,
                                                      std::vector<SessionDevice> devices);

  // One per-device run of a placed step graph, with its execution arguments bound once:
  // values crossing runs go through `staging` (host memory), the logits to the caller.
  struct PartPlan {
    int device = 0;
    std::unique_ptr<Plan> plan;
    ExecArgs args;        // inputs[0..2] are tokens, positions, out_rows (set each step)
    int logits_slot = -1; // args.outputs entry that receives the logits
  };
  struct CachedPlan {
    int64_t n_tokens, n_outputs;
    std::unique_ptr<Plan> plan;    // unplaced: the whole graph on backend_
    std::vector<PartPlan> parts;   // placed: the runs in order
    std::vector<std::vector<float>> staging;
  };
  Expected<CachedPlan*> cached_plan(int64_t n_tokens, int64_t n_outputs);
  Expected<OpGraph> compile(int64_t n_tokens, int64_t n_outputs);
  Status run_parts(CachedPlan& cp, std::vector<float>* logits);

  const Model& model_;
  SessionOptions opts_;
  std::unique_ptr<Backend> backend_;
  std::vector<std::unique_ptr<Backend>> extra_;  // placement's other devices, device_names_[1..]
  std::vector<std::string> device_names_;
  std::vector<Backend*> devices_;                // [0] = backend_
  std::vector<int> kv_device_;                   // per layer (empty: all on backend_)
  int32_t kv_blocks_ = 0;                        // (the pool's size while it is being placed)
  std::vector<std::vector<Buffer*>> kv_of_device_;  // per device: the kv buffers it holds, others null
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<BlockManager> blocks_;
  std::list<CachedPlan> plans_;  // most recently used first

  // Per-step staging, kept to avoid allocation on the decode path.
  std::vector<int32_t> tokens_, positions_, out_rows_, seq_of_token_, local_of_seq_, step_seqs_, old_len_;
  std::vector<int32_t> seq_tok_, seq_count_;
  std::vector<uint8_t> styles_, seq_sty_;
  std::vector<BlockCopy> copies_;
  KvLayout layout_;
  ExecArgs args_;
};

}  // namespace ember::runtime
