#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "ember/core/log.h"
#include "runtime/tokenizer/tokenizer.h"

namespace ember::runtime {

namespace {

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that
// much text must be held back, since the next token may complete the stop string.
size_t held_suffix(const std::string& text, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(text.size(), s.size() - 1); k > keep; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  return keep;
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "none";
    case FinishReason::Eos: return "eos";
    case FinishReason::Length: return "length";
    case FinishReason::Stop: return "stop";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "?";
}

struct Engine::Sample {
  int32_t seq = -1;               // -1: no KV (not admitted, preempted, or awaiting its fork)
  std::vector<int32_t> tokens;    // prompt + generated
  std::vector<uint8_t> styles;    // attention style of each token (see KvLayout::token_style)
  int32_t computed = 0;           // leading tokens whose K/V are in seq
  int32_t generated = 0;
  std::optional<Sampler> sampler;
  std::optional<tokenizer::StreamDecoder> decoder;
  std::string held;               // decoded text not yet released (could start a stop string)
  bool finished = false;
};

struct Engine::Request : std::enable_shared_from_this<Engine::Request> {
  int64_t id = 0;
  RequestParams params;
  EventCallback cb;
  std::vector<Sample> samples;
  int32_t prompt_len = 0;
  bool forked = false;            // samples 1..n-1 exist as sequences (or n == 1)
  bool admitted_once = false;
  int32_t unfinished = 0;
  double t_submit = 0;
  RequestStats sched;             // the scheduler's copy; published to `stats` after each step
  // (mu)
  RequestStats stats;
  std::deque<Event> queued;
  std::vector<Event> drained;     // what the last poll returned (keeps text alive for the C API)
  bool finished = false;
};

Expected<std::unique_ptr<Engine>> Engine::create(const Model& model, const EngineOptions& opts) {
  if (opts.max_running < 1) return Error("max running sequences must be at least 1 (got %d)", opts.max_running);
  std::unique_ptr<Engine> e(new Engine(model, opts));
  EMBER_ASSIGN_OR_RETURN(e->session_, Session::create(model, opts.session));
  e->opts_.session = e->session_->options();  // with the defaults filled in
  e->stats_.kv = e->session_->blocks().stats();
  return e;
}

Engine::~Engine() { stop(); }

Expected<int64_t> Engine::submit(const RequestParams& p, EventCallback on_event) {
  const SessionOptions& so = opts_.session;
  const int32_t n_vocab = static_cast<int32_t>(model_.config().n_vocab);
  if (p.prompt.empty()) return Error("the prompt is empty").with_code(ErrorCode::InvalidArgument);
  for (int32_t t : p.prompt)
    if (t < 0 || t >= n_vocab) return Error("prompt token id %d is out of range (vocabulary of %d)", t, n_vocab).with_code(ErrorCode::InvalidArgument);
  if (p.n < 1) return Error("n (samples per prompt) must be at least 1 (got %d)", p.n).with_code(ErrorCode::InvalidArgument);
  if (p.n > opts_.max_running)
    return Error("n = %d samples exceed the engine's limit of %d running sequences", p.n, opts_.max_running)
        .with_code(ErrorCode::Capacity);
  if (p.max_tokens < 1) return Error("max_tokens must be at least 1 (got %d)", p.max_tokens).with_code(ErrorCode::InvalidArgument);
  const int64_t longest = static_cast<int64_t>(p.prompt.size()) + p.max_tokens;
  if (longest > so.n_ctx)
    return Error("a prompt of %zu tokens plus max_tokens %d exceeds the context size %d", p.prompt.size(),
                 p.max_tokens, so.n_ctx)
        .with_code(ErrorCode::Capacity);
  const int64_t blocks = static_cast<int64_t>(p.n) * ((longest + so.block_size - 1) / so.block_size);
  if (blocks > so.kv_blocks)
    return Error("this request can need %lld KV blocks (%d samples of up to %lld tokens) but the pool has only %d",
                 (long long)blocks, p.n, (long long)longest, so.kv_blocks)
        .with_code(ErrorCode::Capacity);
  for (const std::string& s : p.stop)
    if (s.empty()) return Error("a stop string is empty").with_code(ErrorCode::InvalidArgument);
  if (Status v = p.sampling.validate(); !v.ok()) return std::move(v).with_code(ErrorCode::InvalidArgument);

  auto r = std::make_shared<Request>();
  r->params = p;
  r->cb = std::move(on_event);
  r->prompt_len = static_cast<int32_t>(p.prompt.size());
  r->forked = p.n == 1;
  r->unfinished = p.n;
  r->samples.resize(static_cast<size_t>(p.n));
  const uint8_t style = p.prompt.size() >= 2 ? kStylePrompt : kStyleDecode;
  for (int32_t i = 0; i < p.n; ++i) {
    Sample& s = r->samples[static_cast<size_t>(i)];
    SamplerParams sp = p.sampling;
    sp.seed = p.sampling.seed + static_cast<uint64_t>(i);
    EMBER_ASSIGN_OR_RETURN(Sampler smp, Sampler::create(sp));
    s.sampler.emplace(std::move(smp));
    for (int32_t t : p.prompt) s.sampler->accept(t);
    s.decoder.emplace(model_.tokenizer());
    s.tokens = p.prompt;
    s.styles.assign(p.prompt.size(), style);
  }
  r->sched.prompt_tokens = r->prompt_len;
  r->stats = r->sched;
  {
    std::lock_guard<std::mutex> lk(mu_);
    r->id = next_id_++;
    r->t_submit = now_ms();
    incoming_.push_back(r);
    requests_[r->id] = r;
    stats_.submitted++;
  }
  cv_.notify_all();
  return r->id;
}

Status Engine::cancel(int64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) return Error("request %lld does not exist", (long long)id).with_code(ErrorCode::NotFound);
    if (it->second->finished) return Error("request %lld has already finished", (long long)id).with_code(ErrorCode::State);
    cancel_.push_back(id);
  }
  cv_.notify_all();
  return Status::Ok();
}

Status Engine::poll(int64_t id, std::vector<Event>* out, size_t max) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return Error("request %lld does not exist", (long long)id).with_code(ErrorCode::NotFound);
  Request& r = *it->second;
  if (r.cb) return Error("request %lld delivers its events by callback, not by polling", (long long)id)
        .with_code(ErrorCode::State);
  out->clear();
  r.drained.clear();
  while (!r.queued.empty() && r.drained.size() < max) {
    r.drained.push_back(std::move(r.queued.front()));
    r.queued.pop_front();
  }
  *out = r.drained;
  return Status::Ok();
}

Status Engine::wait(int64_t id, int64_t timeout_ms) {
  std::unique_lock<std::mutex> lk(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return Error("request %lld does not exist", (long long)id).with_code(ErrorCode::NotFound);
  std::shared_ptr<Request> r = it->second;
  if (!cv_.wait_for(lk, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)), [&] { return r->finished; }))
    return Error("request %lld did not finish within %lld ms", (long long)id, (long long)timeout_ms)
        .with_code(ErrorCode::State);
  return Status::Ok();
}

Expected<RequestStats> Engine::request_stats(int64_t id) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return Error("request %lld does not exist", (long long)id).with_code(ErrorCode::NotFound);
  return it->second->stats;
}

Status Engine::release(int64_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return Error("request %lld does not exist", (long long)id).with_code(ErrorCode::NotFound);
  if (!it->second->finished) return Error("request %lld is still running; cancel it first", (long long)id).with_code(ErrorCode::State);
  requests_.erase(it);
  return Status::Ok();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

bool Engine::has_work() const {
  std::lock_guard<std::mutex> lk(mu_);
  return !incoming_.empty() || !cancel_.empty() || stats_.waiting > 0 || stats_.running_requests > 0;
}

void Engine::admit_new() {
  std::vector<int64_t> cancels;
  {
    std::lock_guard<std::mutex> lk(mu_);
    while (!incoming_.empty()) {
      waiting_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
    cancels.swap(cancel_);
  }
  for (int64_t id : cancels) {
    auto match = [id](const std::shared_ptr<Request>& r) { return r->id == id; };
    std::shared_ptr<Request> r;
    if (auto it = std::find_if(waiting_.begin(), waiting_.end(), match); it != waiting_.end()) {
      r = *it;
      waiting_.erase(it);
    } else if (auto jt = std::find_if(running_.begin(), running_.end(), match); jt != running_.end()) {
      r = *jt;
      running_.erase(jt);
    }
    if (!r) continue;  // finished meanwhile
    std::vector<Event> events;
    for (Sample& s : r->samples)
      if (!s.finished) finish_sample(*r, s, FinishReason::Cancelled, &events);
    emit(*r, events);
    finished_now_.push_back(r);
  }
}

void Engine::preempt(Request& r) {
  for (Sample& s : r.samples) {
    if (s.seq >= 0) session_->free_sequence(s.seq);
    s.seq = -1;
    s.computed = 0;
  }
  r.sched.preemptions++;
  preemptions_++;
  auto it = std::find_if(running_.begin(), running_.end(), [&](const std::shared_ptr<Request>& p) { return p.get() == &r; });
  if (it != running_.end()) {
    waiting_.push_front(*it);  // first in line again: it arrived before everything waiting
    running_.erase(it);
  }
  // Its slots already in this step's batch go too.
  for (size_t k = slots_.size(); k-- > 0;)
    if (slots_[k].req == &r) {
      reserved_ -= slots_[k].blocks;
      budget_ += slots_[k].n;
      slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(k));
    }
}

void Engine::finish_sample(Request& r, Sample& s, FinishReason why, std::vector<Event>* events, Event* last) {
  if (s.finished) return;
  if (s.seq >= 0) session_->free_sequence(s.seq);
  s.seq = -1;
  s.finished = true;
  Event e;
  if (last) e = std::move(*last);
  e.request = r.id;
  e.index = static_cast<int32_t>(&s - r.samples.data());
  e.finished = true;
  e.reason = why;
  if (why != FinishReason::Stop) e.text += s.held + s.decoder->flush();
  s.held.clear();
  events->push_back(std::move(e));
  if (--r.unfinished == 0) r.sched.finished = true;
}

void Engine::emit(Request& r, std::vector<Event>& events) {
  for (Event& e : events) out_.push_back({r.shared_from_this(), std::move(e)});
  events.clear();
}

// Decodes first: every sequence with exactly its last sampled token to compute gets one slot.
// When the pool cannot take the token, the most recently admitted request is preempted
// (possibly this one, which then waits at the head of the queue).
void Engine::schedule_decodes() {
  BlockManager& bm = session_->blocks();
  for (size_t ri = 0; ri < running_.size(); ++ri) {
    Request* r = running_[ri].get();
    for (size_t si = 0; si < r->samples.size(); ++si) {
      Sample& s = r->samples[si];
      const int32_t pending = static_cast<int32_t>(s.tokens.size()) - s.computed;
      if (s.finished || s.seq < 0 || pending != 1 || s.generated == 0) continue;
      if (budget_ == 0) return;
      const int32_t need = bm.blocks_needed(s.seq, 1);
      while (need > bm.available() - reserved_) {
        Request* victim = running_.back().get();
        preempt(*victim);
        if (victim == r) return;  // r was the newest: nothing runs after it
      }
      slots_.push_back({r, static_cast<int32_t>(si), 1, true, need});
      reserved_ += need;
      budget_ -= 1;
    }
  }
}

// With prefix caching, a request whose first block equals that of a request still computing
// its prompt waits: admitted now it would compute the shared blocks a second time; a step
// later it finds them in the cache. (Checked on the first block only: shared system
// prompts, the case that matters, differ from other prompts there.)
bool Engine::shares_prefix_in_flight(const Request& r) const {
  const BlockManager& bm = session_->blocks();
  const size_t B = static_cast<size_t>(bm.block_size());
  if (!bm.prefix_caching() || r.admitted_once || r.samples[0].tokens.size() <= B) return false;
  const Sample& mine = r.samples[0];
  for (const auto& q : running_) {
    const Sample& s = q->samples[0];
    if (s.computed >= q->prompt_len || s.tokens.size() <= B) continue;
    if (std::equal(s.tokens.begin(), s.tokens.begin() + static_cast<std::ptrdiff_t>(B), mine.tokens.begin()) &&
        std::equal(s.styles.begin(), s.styles.begin() + static_cast<std::ptrdiff_t>(B), mine.styles.begin()))
      return true;
  }
  return false;
}

// Prompt chunks (and recomputation after preemption) in admission order, then new requests
// in arrival order while the budget, the running limit and the pool allow.
void Engine::schedule_prefills() {
  BlockManager& bm = session_->blocks();
  auto schedule_request = [&](Request* r) {
    for (size_t si = 0; si < r->samples.size() && budget_ > 0; ++si) {
      Sample& s = r->samples[si];
      const int32_t pending = static_cast<int32_t>(s.tokens.size()) - s.computed;
      if (s.finished || s.seq < 0 || pending <= 0 || (pending == 1 && s.generated > 0)) continue;
      const int32_t chunk = std::min(pending, budget_);
      const int32_t need = bm.blocks_needed(s.seq, chunk);
      if (need > bm.available() - reserved_) continue;  // wait for room; decodes free it
      slots_.push_back({r, static_cast<int32_t>(si), chunk, chunk == pending, need});
      reserved_ += need;
      budget_ -= chunk;
    }
  };
  for (auto& r : running_) schedule_request(r.get());

  int32_t running_seqs = 0;
  for (auto& r : running_) running_seqs += r->unfinished;
  while (!waiting_.empty() && budget_ > 0) {
    Request* r = waiting_.front().get();
    if (running_seqs + r->unfinished > opts_.max_running) break;
    if (shares_prefix_in_flight(*r)) break;  // its prefix will be cached after this step
    // Give each unfinished sample that needs one a sequence, adopting cached prefix blocks.
    int64_t need = 0;
    int32_t hits = 0;
    for (size_t si = 0; si < r->samples.size(); ++si) {
      Sample& s = r->samples[si];
      if (s.finished || (!r->forked && si > 0)) continue;
      s.seq = session_->new_sequence();
      s.computed = session_->blocks().match_prefix(s.seq, s.tokens, s.styles);
      hits += s.computed;
      need += bm.blocks_needed(s.seq, static_cast<int32_t>(s.tokens.size()) - s.computed);
    }
    if (need > bm.available() - reserved_) {  // not now: undo, keep FCFS order
      for (Sample& s : r->samples)
        if (s.seq >= 0) {
          session_->free_sequence(s.seq);
          s.seq = -1;
          s.computed = 0;
        }
      break;
    }
    if (!r->admitted_once) {
      r->admitted_once = true;
      r->sched.queue_ms = now_ms() - r->t_submit;
      r->sched.cached_tokens = hits;
    }
    prefix_tokens_admitted_ += r->prompt_len;
    prefix_tokens_hit_ += std::min(hits, r->prompt_len);
    running_seqs += r->unfinished;
    running_.push_back(waiting_.front());
    waiting_.pop_front();
    schedule_request(r);
  }
}

Status Engine::step(bool* did_work) {
  if (did_work) *did_work = false;
  if (stepping_.exchange(true))
    return Error("Engine::step is already running (called from a callback, or from two threads)")
        .with_code(ErrorCode::State);
  Status st = step_once(did_work);
  // Events go out after the state is consistent: callbacks without the lock (so they may
  // call back into submit/cancel/poll/stats), queued ones under it; a request is published
  // as finished only after its last event was delivered, so wait() returning means done.
  std::vector<std::pair<std::shared_ptr<Request>, Event>> out;
  out.swap(out_);
  for (auto& [r, e] : out)
    if (r->cb) r->cb(e);
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [r, e] : out)
      if (!r->cb) r->queued.push_back(e);
    publish_stats_locked();
  }
  cv_.notify_all();  // wait() and the loop
  if (did_work && !out.empty()) *did_work = true;
  stepping_ = false;
  return st;
}

void Engine::publish_stats_locked() {
  auto publish = [&](Request& r) {
    r.stats = r.sched;
    if (r.sched.finished && !r.finished) {
      r.finished = true;
      r.stats.total_ms = r.sched.total_ms = now_ms() - r.t_submit;
      stats_.finished++;
    }
  };
  for (auto& r : running_) publish(*r);
  for (auto& r : waiting_) publish(*r);
  for (auto& r : finished_now_) publish(*r);
  finished_now_.clear();
  stats_.waiting = static_cast<int32_t>(waiting_.size() + incoming_.size());
  stats_.running_requests = static_cast<int32_t>(running_.size());
  int32_t seqs = 0;
  for (auto& r : running_)
    for (const Sample& s : r->samples) seqs += s.seq >= 0;
  stats_.running_seqs = seqs;
  stats_.preemptions = preemptions_;
  stats_.kv = session_->blocks().stats();
  stats_.peak_kv_blocks_used = std::max(stats_.peak_kv_blocks_used, stats_.kv.used);
  stats_.prefix_hit_rate = prefix_tokens_admitted_ ? static_cast<double>(prefix_tokens_hit_) / prefix_tokens_admitted_ : 0;
  stats_.kv_waste = waste_time_ > 0 ? waste_weighted_ / waste_time_ : 0;
  stats_.steps = steps_;
  stats_.prompt_tokens_computed = prompt_tokens_computed_;
  stats_.tokens_generated = tokens_generated_;
}

Status Engine::step_once(bool* did_work) {
  admit_new();
  slots_.clear();
  reserved_ = 0;
  budget_ = opts_.session.n_batch;
  schedule_decodes();
  schedule_prefills();
  // Safety net: running requests that cannot move (each waiting for blocks another holds)
  // would spin forever. Admission and decode-time preemption should make this unreachable;
  // if it happens anyway, the newest request yields its blocks and the step is retried.
  while (slots_.empty() && running_.size() > 1) {
    preempt(*running_.back());
    schedule_decodes();
    schedule_prefills();
  }
  retire_finished();
  if (slots_.empty()) return Status::Ok();

  batch_.clear();
  for (const Slot& sl : slots_) {
    Sample& s = sl.req->samples[static_cast<size_t>(sl.sample)];
    for (int32_t k = 0; k < sl.n; ++k) {
      const size_t i = static_cast<size_t>(s.computed + k);
      batch_.push_back({s.tokens[i], s.seq, sl.wants_logits && k + 1 == sl.n, static_cast<int8_t>(s.styles[i])});
    }
  }
  const double t0 = now_ms();
  Status st = session_->step(batch_, &logits_);
  const double dt = now_ms() - t0;
  if (did_work) *did_work = true;
  steps_++;
  if (!st.ok()) {
    // Nothing was computed; the requests in this batch cannot be trusted to go on.
    for (const Slot& sl : slots_) {
      std::vector<Event> events;
      for (Sample& s : sl.req->samples) finish_sample(*sl.req, s, FinishReason::Error, &events);
      if (!events.empty()) events.back().text = st.message();
      emit(*sl.req, events);
    }
    retire_finished();
    return st;
  }

  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  const tokenizer::Tokenizer& tok = model_.tokenizer();
  size_t row = 0;
  std::vector<Event> events;
  for (const Slot& sl : slots_) {
    Request& r = *sl.req;
    Sample& s0 = r.samples[static_cast<size_t>(sl.sample)];
    prompt_tokens_computed_ += std::max(0, std::min(s0.computed + sl.n, r.prompt_len) - s0.computed);
    s0.computed += sl.n;
    if (!sl.wants_logits) continue;
    std::span<const float> logits(logits_.data() + row * n_vocab, n_vocab);
    ++row;
    // The prompt is done: the other samples fork it (copy-on-write) and sample from the same logits.
    std::vector<Sample*> who{&s0};
    if (!r.forked) {
      r.forked = true;
      for (size_t i = 1; i < r.samples.size(); ++i) {
        Sample& f = r.samples[i];
        if (f.finished) continue;
        f.seq = session_->fork_sequence(s0.seq);
        f.computed = s0.computed;
        who.push_back(&f);
      }
    }
    for (Sample* sp : who) {
      Sample& s = *sp;
      const int32_t id = s.sampler->sample(logits);
      s.sampler->accept(id);
      s.tokens.push_back(id);
      s.styles.push_back(kStyleDecode);
      s.generated++;
      r.sched.generated++;
      tokens_generated_++;
      if (r.sched.ttft_ms == 0) r.sched.ttft_ms = now_ms() - r.t_submit;
      Event e;
      e.token = id;
      if (tok.is_eog(id) && !r.params.ignore_eos) {
        finish_sample(r, s, FinishReason::Eos, &events, &e);
        continue;
      }
      s.held += s.decoder->push(id);
      size_t cut = std::string::npos;
      for (const std::string& stop : r.params.stop) cut = std::min(cut, s.held.find(stop));
      if (cut != std::string::npos) {
        e.text = s.held.substr(0, cut);
        s.held.clear();
        finish_sample(r, s, FinishReason::Stop, &events, &e);
        continue;
      }
      const size_t keep = held_suffix(s.held, r.params.stop);
      e.text = s.held.substr(0, s.held.size() - keep);
      s.held.erase(0, s.held.size() - keep);
      if (s.generated >= r.params.max_tokens || static_cast<int32_t>(s.tokens.size()) >= opts_.session.n_ctx) {
        finish_sample(r, s, FinishReason::Length, &events, &e);
        continue;
      }
      e.request = r.id;
      e.index = static_cast<int32_t>(sp - r.samples.data());
      events.push_back(std::move(e));
    }
    emit(r, events);
  }
  // KV waste over this step's duration: slots allocated to running sequences but not filled.
  const BlockManager& bm = session_->blocks();
  int64_t unfilled = 0;
  for (auto& rp : running_)
    for (const Sample& s : rp->samples)
      if (s.seq >= 0) unfilled += static_cast<int64_t>(bm.table(s.seq).size()) * bm.block_size() - bm.length(s.seq);
  const int64_t allocated = static_cast<int64_t>(bm.stats().used) * bm.block_size();
  if (allocated > 0) {
    waste_weighted_ += dt * static_cast<double>(std::min(unfilled, allocated)) / static_cast<double>(allocated);
    waste_time_ += dt;
  }
  retire_finished();
  return Status::Ok();
}

void Engine::retire_finished() {
  for (size_t i = running_.size(); i-- > 0;)
    if (running_[i]->unfinished == 0) {
      finished_now_.push_back(running_[i]);
      running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  for (size_t i = waiting_.size(); i-- > 0;)
    if (waiting_[i]->unfinished == 0) {
      finished_now_.push_back(waiting_[i]);
      waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    }
}

Status Engine::run_until_idle() {
  if (loop_running_) return Error("the engine loop is running; use poll or callbacks").with_code(ErrorCode::State);
  for (;;) {
    bool worked = false;
    EMBER_RETURN_IF_ERROR(step(&worked));
    if (!worked && !has_work()) return Status::Ok();
  }
}

Status Engine::start() {
  if (loop_running_) return Error("the engine loop is already running").with_code(ErrorCode::State);
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = false;
  }
  loop_running_ = true;
  loop_ = std::thread([this] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] {
          return stop_ || !incoming_.empty() || !cancel_.empty() || stats_.waiting > 0 || stats_.running_requests > 0;
        });
        if (stop_) return;
      }
      bool worked = false;
      Status st = step(&worked);
      if (!st.ok()) warn("engine step failed: %s", st.message().c_str());
    }
  });
  return Status::Ok();
}

void Engine::stop() {
  if (!loop_running_) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  loop_.join();
  loop_running_ = false;
}

}  // namespace ember::runtime
