#include "runtime/session.h"

#include <algorithm>

namespace ember::runtime {

namespace {
constexpr size_t kMaxCachedPlans = 4;
}

Expected<std::unique_ptr<Session>> Session::create(const Model& model, const SessionOptions& opts) {
  const graph::ModelConfig& c = model.config();
  SessionOptions o = opts;
  if (o.n_ctx == 0) o.n_ctx = static_cast<int32_t>(std::min<int64_t>(4096, c.n_ctx_train));
  if (o.n_ctx < 1) return Error("context size must be positive (got %d)", o.n_ctx);
  if (o.n_ctx > c.n_ctx_train)
    return Error("context size %d is larger than the %lld positions the model was trained for", o.n_ctx,
                 (long long)c.n_ctx_train);
  if (o.n_batch < 1) return Error("batch size must be positive (got %d)", o.n_batch);
  std::unique_ptr<Session> s(new Session(model, o));
  CpuOptions cpu;
  cpu.threads = o.threads;
  EMBER_ASSIGN_OR_RETURN(s->backend_, make_cpu_backend(cpu));
  const int32_t blocks = (o.n_ctx + o.block_size - 1) / std::max(o.block_size, 1);
  EMBER_ASSIGN_OR_RETURN(s->kv_, KvPool::create(*s->backend_, c, o.block_size, blocks));
  s->layout_.block_size = o.block_size;
  return s;
}

int32_t Session::new_sequence() {
  for (size_t i = 0; i < seq_live_.size(); ++i)
    if (!seq_live_[i]) {
      seq_live_[i] = true;
      return static_cast<int32_t>(i);
    }
  seqs_.emplace_back();
  seq_live_.push_back(true);
  return static_cast<int32_t>(seqs_.size() - 1);
}

void Session::free_sequence(int32_t seq) {
  if (seq < 0 || static_cast<size_t>(seq) >= seqs_.size() || !seq_live_[seq]) return;
  kv_->release(seqs_[seq]);
  seq_live_[seq] = false;
}

int32_t Session::seq_len(int32_t seq) const {
  if (seq < 0 || static_cast<size_t>(seq) >= seqs_.size() || !seq_live_[seq]) return -1;
  return seqs_[seq].n_tokens;
}

Expected<Plan*> Session::plan_for(int64_t n_tokens, int64_t n_outputs) {
  for (auto it = plans_.begin(); it != plans_.end(); ++it)
    if (it->n_tokens == n_tokens && it->n_outputs == n_outputs) {
      plans_.splice(plans_.begin(), plans_, it);
      return plans_.front().plan.get();
    }
  graph::StepShape shape;
  shape.n_tokens = n_tokens;
  shape.n_outputs = n_outputs;
  shape.kv_blocks = kv_->n_blocks();
  shape.block_size = kv_->block_size();
  EMBER_ASSIGN_OR_RETURN(OpGraph g, graph::build_llama(model_.config(), model_, shape));
  graph::PassContext pass_ctx;
  pass_ctx.backend = backend_.get();
  EMBER_RETURN_IF_ERROR(graph::run_pipeline(g, pass_ctx, opts_.passes));
  EMBER_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, backend_->prepare(g));
  plans_.push_front({n_tokens, n_outputs, std::move(plan)});
  if (plans_.size() > kMaxCachedPlans) plans_.pop_back();
  return plans_.front().plan.get();
}

Status Session::step(std::span<const BatchToken> batch, std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(batch.size());
  if (n == 0) return Error("empty batch");
  if (n > opts_.n_batch) return Error("batch of %lld tokens exceeds n_batch %d", (long long)n, opts_.n_batch);
  const int32_t n_vocab = static_cast<int32_t>(model_.config().n_vocab);
  tokens_.clear();
  positions_.clear();
  out_rows_.clear();
  seq_of_token_.clear();
  seq_map_.clear();
  layout_.seq_blocks.clear();
  layout_.seq_n_blocks.clear();
  layout_.seq_step_tokens.assign(seqs_.size(), 0);

  // Validate everything before touching the KV pool.
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[t];
    if (bt.token < 0 || bt.token >= n_vocab)
      return Error("token id %d is out of range (vocabulary of %d)", bt.token, n_vocab);
    if (bt.seq < 0 || static_cast<size_t>(bt.seq) >= seqs_.size() || !seq_live_[bt.seq])
      return Error("sequence %d does not exist", bt.seq);
  }
  // Positions: each sequence continues from its current length, in batch order.
  std::vector<int32_t>& next = seq_map_;  // reused as per-sequence next position
  next.assign(seqs_.size(), -1);
  for (int64_t t = 0; t < n; ++t) {
    int32_t s = batch[t].seq;
    if (next[s] < 0) next[s] = seqs_[s].n_tokens;
    positions_.push_back(next[s]++);
    layout_.seq_step_tokens[s]++;
  }
  for (size_t s = 0; s < seqs_.size(); ++s)
    if (next[s] >= 0 && next[s] > opts_.n_ctx)
      return Error("sequence %zu would reach %d tokens, beyond the context size %d", s, next[s], opts_.n_ctx);
  for (size_t s = 0; s < seqs_.size(); ++s)
    if (next[s] >= 0) {
      Status st = kv_->reserve(seqs_[s], next[s]);
      if (!st.ok()) return st;
    }
  for (int64_t t = 0; t < n; ++t) {
    tokens_.push_back(batch[t].token);
    seq_of_token_.push_back(batch[t].seq);
    if (batch[t].logits) out_rows_.push_back(static_cast<int32_t>(t));
  }
  if (out_rows_.empty()) out_rows_.push_back(static_cast<int32_t>(n - 1));  // the graph always yields one row
  for (size_t s = 0; s < seqs_.size(); ++s) {
    layout_.seq_blocks.push_back(seqs_[s].blocks.data());
    layout_.seq_n_blocks.push_back(static_cast<int32_t>(seqs_[s].blocks.size()));
  }
  layout_.seq_of_token = seq_of_token_.data();
  layout_.positions = positions_.data();

  EMBER_ASSIGN_OR_RETURN(Plan* plan, plan_for(n, static_cast<int64_t>(out_rows_.size())));
  size_t want = out_rows_.size() * static_cast<size_t>(n_vocab);
  logits->resize(want);
  // Filled in place: after the first step, assignments reuse capacity (no allocation).
  ExecArgs& args = args_;
  args.inputs.resize(3);
  args.inputs[0] = {"tokens", tokens_.data()};
  args.inputs[1] = {"positions", positions_.data()};
  args.inputs[2] = {"out_rows", out_rows_.data()};
  args.kv = kv_->buffers();
  args.kv_layout = &layout_;
  args.outputs.assign(1, logits->data());
  EMBER_RETURN_IF_ERROR(backend_->execute(*plan, args));
  EMBER_RETURN_IF_ERROR(backend_->queue().synchronize());
  for (size_t s = 0; s < seqs_.size(); ++s)
    if (next[s] >= 0) seqs_[s].n_tokens = next[s];
  bool any = false;
  for (const BatchToken& bt : batch) any |= bt.logits;
  if (!any) logits->clear();
  return Status::Ok();
}

Status Session::eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) {
  if (tokens.empty()) return Error("nothing to evaluate");
  logits->clear();
  std::vector<BatchToken> batch;
  std::vector<float> chunk_logits;
  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  for (size_t start = 0; start < tokens.size(); start += opts_.n_batch) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(opts_.n_batch));
    batch.clear();
    for (size_t i = start; i < end; ++i) batch.push_back({tokens[i], seq, all_logits || i + 1 == tokens.size()});
    EMBER_RETURN_IF_ERROR(step(batch, &chunk_logits));
    logits->insert(logits->end(), chunk_logits.begin(), chunk_logits.end());
  }
  (void)n_vocab;
  return Status::Ok();
}

}  // namespace ember::runtime
