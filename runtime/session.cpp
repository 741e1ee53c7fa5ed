#include "runtime/session.h"

#include <algorithm>

#include "graph/partition.h"

namespace ember::runtime {

namespace {
constexpr size_t kMaxCachedPlans = 4;
}

Expected<std::unique_ptr<Session>> Session::create(const Model& model, const SessionOptions& opts) {
  return create(model, opts, std::vector<SessionDevice>{});
}

Expected<std::unique_ptr<Session>> Session::create(const Model& model, const SessionOptions& opts,
                                                   std::unique_ptr<Backend> backend) {
  if (opts.placement.kind != graph::PlacementPolicy::Kind::None)
    return Error("a placement policy (--device/--split) places over devices, not on one given backend");
  return create_on(model, opts, std::move(backend), {});
}

Expected<std::unique_ptr<Session>> Session::create(const Model& model, const SessionOptions& opts,
                                                   std::vector<SessionDevice> devices) {
  if (opts.placement.kind == graph::PlacementPolicy::Kind::None) return create_on(model, opts, nullptr, {});
  for (const std::string& name : opts.placement.named_devices()) {
    bool found = false;
    for (const SessionDevice& d : devices) found |= d.name == name;
    if (!found) {
      std::string present = "cpu";
      for (const SessionDevice& d : devices) present += ", " + d.name;
      return Error("unknown device '%s' (present: %s; see 'ember devices')", name.c_str(), present.c_str());
    }
  }
  for (const std::string& off : opts.passes.disabled)
    if (off == "place") return Error("--device/--split need the place pass, which --passes switched off");
  return create_on(model, opts, nullptr, std::move(devices));
}

Expected<std::unique_ptr<Session>> Session::create_on(const Model& model, const SessionOptions& opts,
                                                      std::unique_ptr<Backend> backend,
                                                      std::vector<SessionDevice> devices) {
  const graph::ModelConfig& c = model.config();
  SessionOptions o = opts;
  if (o.n_ctx == 0) o.n_ctx = static_cast<int32_t>(std::min<int64_t>(4096, c.n_ctx_train));
  if (o.n_ctx < 1) return Error("context size must be positive (got %d)", o.n_ctx);
  if (o.n_ctx > c.n_ctx_train)
    return Error("context size %d is larger than the %lld positions the model was trained for", o.n_ctx,
                 (long long)c.n_ctx_train);
  if (o.n_batch < 1) return Error("batch size must be positive (got %d)", o.n_batch);
  if (o.block_size < 1 || o.block_size > 1024) return Error("kv block size %d is out of range (1..1024)", o.block_size);
  if (o.kv_blocks < 0) return Error("kv pool size must not be negative (got %d blocks)", o.kv_blocks);
  if (o.kv_blocks == 0) o.kv_blocks = (o.n_ctx + o.block_size - 1) / o.block_size;
  std::unique_ptr<Session> s(new Session(model, o));
  CpuOptions cpu;
  cpu.threads = o.threads;
  if (backend) {
    s->backend_ = std::move(backend);
  } else {
    EMBER_ASSIGN_OR_RETURN(s->backend_, make_cpu_backend(cpu));
  }
  s->devices_.push_back(s->backend_.get());
  s->device_names_.push_back(o.placement.kind == graph::PlacementPolicy::Kind::None ? s->backend_->info().name : "cpu");
  for (SessionDevice& d : devices) {
    s->devices_.push_back(d.backend.get());
    s->device_names_.push_back(d.name);
    s->extra_.push_back(std::move(d.backend));
  }
  if (o.placement.kind == graph::PlacementPolicy::Kind::None) {
    EMBER_ASSIGN_OR_RETURN(s->kv_, KvPool::create(*s->backend_, c, o.block_size, o.kv_blocks, o.kv_type));
  } else {
    // Where each layer's KV pool lives: where the placement of a decode step puts the layer's
    // kv group (every later step graph is checked to agree).
    s->kv_blocks_ = o.kv_blocks;
    EMBER_ASSIGN_OR_RETURN(OpGraph g, s->compile(1, 1));
    s->kv_device_.assign(static_cast<size_t>(c.n_layer), 0);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].op == OpKind::KvCache && !g.placement.empty())
        s->kv_device_[g.nodes[i].attrs.layer] = g.placement.device[i];
    std::vector<Backend*> layer_backends;
    for (int d : s->kv_device_) layer_backends.push_back(s->devices_[d]);
    EMBER_ASSIGN_OR_RETURN(s->kv_, KvPool::create(layer_backends, c, o.block_size, o.kv_blocks, o.kv_type));
    s->kv_of_device_.assign(s->devices_.size(), std::vector<Buffer*>(s->kv_->buffers().size(), nullptr));
    for (size_t l = 0; l < s->kv_device_.size(); ++l)
      for (size_t w = 0; w < 2; ++w) s->kv_of_device_[s->kv_device_[l]][2 * l + w] = s->kv_->buffers()[2 * l + w];
  }
  s->blocks_ = std::make_unique<BlockManager>(o.kv_blocks, o.block_size, o.prefix_caching);
  s->layout_.block_size = o.block_size;
  return s;
}

int32_t Session::new_sequence() { return blocks_->create_seq(); }
int32_t Session::fork_sequence(int32_t seq) { return blocks_->fork(seq); }
void Session::free_sequence(int32_t seq) { blocks_->free_seq(seq); }
int32_t Session::seq_len(int32_t seq) const { return blocks_->length(seq); }

Expected<OpGraph> Session::compile(int64_t n_tokens, int64_t n_outputs) {
  graph::StepShape shape;
  shape.n_tokens = n_tokens;
  shape.n_outputs = n_outputs;
  shape.kv_blocks = kv_ ? kv_->n_blocks() : kv_blocks_;
  shape.block_size = opts_.block_size;
  shape.kv_dtype = opts_.kv_type;
  EMBER_ASSIGN_OR_RETURN(OpGraph g, graph::build_llama(model_.config(), model_, shape));
  graph::PassContext pass_ctx;
  pass_ctx.backend = backend_.get();
  pass_ctx.weights = &model_.weight_store();
  if (opts_.placement.kind != graph::PlacementPolicy::Kind::None) {
    pass_ctx.placement = opts_.placement;
    for (size_t d = 0; d < devices_.size(); ++d) pass_ctx.devices.push_back({device_names_[d], devices_[d]});
  }
  EMBER_RETURN_IF_ERROR(graph::run_pipeline(g, pass_ctx, opts_.passes));
  return g;
}

Expected<Session::CachedPlan*> Session::cached_plan(int64_t n_tokens, int64_t n_outputs) {
  for (auto it = plans_.begin(); it != plans_.end(); ++it)
    if (it->n_tokens == n_tokens && it->n_outputs == n_outputs) {
      plans_.splice(plans_.begin(), plans_, it);
      return &plans_.front();
    }
  EMBER_ASSIGN_OR_RETURN(OpGraph g, compile(n_tokens, n_outputs));
  CachedPlan cp{n_tokens, n_outputs, nullptr, {}, {}};
  if (g.placement.empty()) {
    EMBER_ASSIGN_OR_RETURN(cp.plan, backend_->prepare(g));
  } else {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].op == OpKind::KvCache && g.placement.device[i] != kv_device_[g.nodes[i].attrs.layer])
        return Error("placement put layer %d's kv cache on %s for a step of %lld tokens, but its pool is on %s",
                     g.nodes[i].attrs.layer, device_names_[g.placement.device[i]].c_str(), (long long)n_tokens,
                     device_names_[kv_device_[g.nodes[i].attrs.layer]].c_str());
    EMBER_ASSIGN_OR_RETURN(std::vector<graph::Partition> parts,
                           graph::partition_graph(g, !g.memory.empty(), g.memory.alignment));
    // Host staging for every value that crosses runs, allocated once per plan.
    std::vector<int> staged;
    for (const graph::Partition& p : parts)
      for (int v : p.reads)
        if (std::find(staged.begin(), staged.end(), v) == staged.end()) staged.push_back(v);
    cp.staging.resize(staged.size());
    for (size_t k = 0; k < staged.size(); ++k) cp.staging[k].resize((g.nodes[staged[k]].out.bytes() + 3) / 4);
    auto staging_of = [&](int v) -> float* {
      const size_t k = std::find(staged.begin(), staged.end(), v) - staged.begin();
      return k < staged.size() ? cp.staging[k].data() : nullptr;
    };
    for (graph::Partition& p : parts) {
      PartPlan pp;
      pp.device = p.device;
      EMBER_ASSIGN_OR_RETURN(pp.plan, devices_[p.device]->prepare(p.graph));
      pp.args.inputs = {{"tokens", nullptr}, {"positions", nullptr}, {"out_rows", nullptr}};
      for (int v : p.reads) pp.args.inputs.push_back({graph::xfer_input_name(v), staging_of(v)});
      for (size_t k = 0; k < p.yields.size(); ++k) {
        const int v = p.yields[k];
        const bool is_logits = std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end() &&
                               pp.logits_slot < 0;
        if (is_logits) pp.logits_slot = static_cast<int>(k);
        float* dst = is_logits ? nullptr : staging_of(v);
        if (!is_logits && !dst) return Error("placement: value %d leaves a run but no run reads it", v);
        pp.args.outputs.push_back(dst);
      }
      pp.args.kv = kv_of_device_[p.device];
      cp.parts.push_back(std::move(pp));
    }
  }
  plans_.push_front(std::move(cp));
  if (plans_.size() > kMaxCachedPlans) plans_.pop_back();
  return &plans_.front();
}

Status Session::run_parts(CachedPlan& cp, std::vector<float>* logits) {
  for (PartPlan& pp : cp.parts) {
    ExecArgs& a = pp.args;
    a.inputs[0].data = tokens_.data();
    a.inputs[1].data = positions_.data();
    a.inputs[2].data = out_rows_.data();
    a.kv_layout = &layout_;
    if (pp.logits_slot >= 0) a.outputs[pp.logits_slot] = logits->data();
    Backend& be = *devices_[pp.device];
    EMBER_RETURN_IF_ERROR(be.execute(*pp.plan, a));
    // The next run reads what this one left in host memory.
    EMBER_RETURN_IF_ERROR(be.queue().synchronize());
  }
  return Status::Ok();
}

Status Session::step(std::span<const BatchToken> batch, std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(batch.size());
  if (n == 0) return Error("empty batch");
  if (n > opts_.n_batch) return Error("batch of %lld tokens exceeds n_batch %d", (long long)n, opts_.n_batch);
  const int32_t n_vocab = static_cast<int32_t>(model_.config().n_vocab);
  BlockManager& bm = *blocks_;

  // Validate everything before touching the KV pool; number the step's sequences locally.
  step_seqs_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[t];
    if (bt.token < 0 || bt.token >= n_vocab)
      return Error("token id %d is out of range (vocabulary of %d)", bt.token, n_vocab);
    if (!bm.is_live(bt.seq)) return Error("sequence %d does not exist", bt.seq);
    if (bt.style > 1) return Error("token style %d is not a style", bt.style);
    if (static_cast<size_t>(bt.seq) >= local_of_seq_.size()) local_of_seq_.resize(bt.seq + 1, -1);
    if (local_of_seq_[bt.seq] < 0) {
      local_of_seq_[bt.seq] = static_cast<int32_t>(step_seqs_.size());
      step_seqs_.push_back(bt.seq);
    }
  }
  const size_t n_seqs = step_seqs_.size();
  old_len_.assign(n_seqs, 0);
  layout_.seq_blocks.assign(n_seqs, nullptr);
  layout_.seq_n_blocks.assign(n_seqs, 0);
  // Each sequence's tokens in batch order; positions continue from its current length.
  tokens_.clear();
  positions_.clear();
  out_rows_.clear();
  seq_of_token_.clear();
  styles_.clear();
  std::vector<int32_t>& count = seq_count_;  // tokens per local sequence
  count.assign(n_seqs, 0);
  for (int64_t t = 0; t < n; ++t) count[local_of_seq_[batch[t].seq]]++;
  int64_t need_blocks = 0;
  for (size_t i = 0; i < n_seqs; ++i) {
    const int32_t seq = step_seqs_[i];
    old_len_[i] = bm.length(seq);
    if (static_cast<int64_t>(old_len_[i]) + count[i] > opts_.n_ctx) {
      for (int32_t sq : step_seqs_) local_of_seq_[sq] = -1;
      return Error("sequence %d would reach %lld tokens, beyond the context size %d", seq,
                   (long long)old_len_[i] + count[i], opts_.n_ctx);
    }
    need_blocks += bm.blocks_needed(seq, count[i]);
  }
  if (need_blocks > bm.available()) {
    for (int32_t sq : step_seqs_) local_of_seq_[sq] = -1;
    return Error("kv cache is full: this step needs %lld more blocks of %d tokens, %d are available",
                 (long long)need_blocks, bm.block_size(), bm.available());
  }
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[t];
    const int32_t local = local_of_seq_[bt.seq];
    uint8_t style = bt.style >= 0 ? static_cast<uint8_t>(bt.style) : count[local] >= 2 ? kStylePrompt : kStyleDecode;
    tokens_.push_back(bt.token);
    seq_of_token_.push_back(local);
    styles_.push_back(style);
    positions_.push_back(old_len_[local]++);
  }
  // Record the tokens in the block manager (all fit: checked above), then copy-on-write.
  copies_.clear();
  for (size_t i = 0; i < n_seqs; ++i) {
    seq_tok_.clear();
    seq_sty_.clear();
    for (int64_t t = 0; t < n; ++t)
      if (seq_of_token_[t] == static_cast<int32_t>(i)) {
        seq_tok_.push_back(tokens_[t]);
        seq_sty_.push_back(styles_[t]);
      }
    old_len_[i] -= count[i];
    Status st = bm.append(step_seqs_[i], seq_tok_, seq_sty_, &copies_);
    if (!st.ok()) {  // cannot happen after the check above; undo anyway
      for (size_t j = 0; j < i; ++j) bm.truncate(step_seqs_[j], old_len_[j]);
      for (int32_t sq : step_seqs_) local_of_seq_[sq] = -1;
      return st;
    }
  }
  for (int32_t sq : step_seqs_) local_of_seq_[sq] = -1;
  auto undo = [&] {
    for (size_t j = 0; j < n_seqs; ++j) bm.truncate(step_seqs_[j], old_len_[j]);
  };
  for (const BlockCopy& c : copies_) {
    Status st = kv_->copy_block(c.src, c.dst);
    if (!st.ok()) {
      undo();
      return st;
    }
  }
  for (size_t i = 0; i < n_seqs; ++i) {
    const std::vector<int32_t>& table = bm.table(step_seqs_[i]);
    layout_.seq_blocks[i] = table.data();
    layout_.seq_n_blocks[i] = static_cast<int32_t>(table.size());
  }
  out_rows_.clear();
  for (int64_t t = 0; t < n; ++t)
    if (batch[t].logits) out_rows_.push_back(static_cast<int32_t>(t));
  const bool any = !out_rows_.empty();
  if (!any) out_rows_.push_back(static_cast<int32_t>(n - 1));  // the graph always yields one row
  layout_.seq_of_token = seq_of_token_.data();
  layout_.positions = positions_.data();
  layout_.token_style = styles_.data();
  layout_.n_tokens = static_cast<int>(n);

  auto plan = cached_plan(n, static_cast<int64_t>(out_rows_.size()));
  if (!plan.ok()) {
    undo();
    return plan.status();
  }
  logits->resize(out_rows_.size() * static_cast<size_t>(n_vocab));
  if (!(*plan)->parts.empty()) {
    Status st = run_parts(**plan, logits);
    if (!st.ok()) {
      undo();
      return st;
    }
    for (int32_t sq : step_seqs_) bm.commit(sq);
    if (!any) logits->clear();
    return Status::Ok();
  }
  // Filled in place: after the first step, assignments reuse capacity (no allocation).
  ExecArgs& args = args_;
  args.inputs.resize(3);
  args.inputs[0] = {"tokens", tokens_.data()};
  args.inputs[1] = {"positions", positions_.data()};
  args.inputs[2] = {"out_rows", out_rows_.data()};
  args.kv = kv_->buffers();
  args.kv_layout = &layout_;
  args.outputs.assign(1, logits->data());
  Status st = backend_->execute(*(*plan)->plan, args);
  if (st.ok()) st = backend_->queue().synchronize();
  if (!st.ok()) {
    undo();
    return st;
  }
  for (int32_t sq : step_seqs_) bm.commit(sq);
  if (!any) logits->clear();
  return Status::Ok();
}

Status Session::eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) {
  if (tokens.empty()) return Error("nothing to evaluate");
  logits->clear();
  std::vector<BatchToken> batch;
  std::vector<float> chunk_logits;
  // A prompt of two or more tokens is prompt-style throughout, however it is chunked.
  const int8_t style = tokens.size() >= 2 ? kStylePrompt : kStyleDecode;
  for (size_t start = 0; start < tokens.size(); start += opts_.n_batch) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(opts_.n_batch));
    batch.clear();
    for (size_t i = start; i < end; ++i)
      batch.push_back({tokens[i], seq, all_logits || i + 1 == tokens.size(), style});
    EMBER_RETURN_IF_ERROR(step(batch, &chunk_logits));
    logits->insert(logits->end(), chunk_logits.begin(), chunk_logits.end());
  }
  return Status::Ok();
}

}  // namespace ember::runtime
