// The serving engine: many requests over one Session, continuously batched.
//
// Each step (Engine::step) the scheduler
//   1. takes in new submissions and cancellations (both may arrive from any thread);
//   2. schedules every decoding sequence first (one token each), preempting the most recently
//      admitted request when the KV pool has no block for a decode;
//   3. fills the rest of the step's token budget (n_batch) with prompt chunks: first requests
//      already admitted, then waiting requests in arrival order (FCFS, no overtaking), each
//      admitted only when the pool can hold the rest of its prompt after prefix matching and
//      the running-sequence limit allows all of its n samples;
//   4. runs one forward pass over that ragged batch and samples each sequence whose tokens
//      are all computed; a request with n > 1 forks its prompt's sequence (copy-on-write)
//      when the prompt is done, and every fork samples with its own seed (seed + index);
//   5. stops sequences on end-of-generation, max_tokens or a stop string, and delivers
//      events (by callback on the engine thread, or queued for polling).
//
// A preempted request loses its KV blocks (cached full blocks may survive in the prefix
// cache) and is recomputed later from its prompt and the tokens it has generated; since
// each token keeps its attention style (KvLayout::token_style) the recomputed K/V and
// every later token are exactly what they would have been.
//
// Threads: submit/cancel/poll/stats may be called from any thread at any time; step() from
// one thread at a time (or start() runs a loop thread). Callbacks run on the stepping
// thread with no lock held, so they may call submit/cancel/poll/stats.
#pragma once

#include <atomic>
#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ember/core/status.h"
#include "runtime/model/model.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace ember::runtime {

struct EngineOptions {
  SessionOptions session;       // threads, n_ctx (per sequence), kv_blocks, block_size,
                                // n_batch (the per-step token budget), prefix_caching
  int32_t max_running = 64;     // most sequences decoding or prefilling at once
};

enum class FinishReason : int { None = 0, Eos = 1, Length = 2, Stop = 3, Cancelled = 4, Error = 5 };
const char* finish_reason_name(FinishReason r);

struct RequestParams {
  std::vector<int32_t> prompt;     // token ids (already tokenized, BOS included if wanted)
  SamplerParams sampling;          // sample i uses seed sampling.seed + i
  int32_t n = 1;                   // independent samples sharing the prompt
  int32_t max_tokens = 128;        // per sample, the end-of-generation token included
  std::vector<std::string> stop;   // stop strings (not included in the output text)
  bool ignore_eos = false;
};

struct Event {
  int64_t request = 0;
  int32_t index = 0;            // which of the n samples
  int32_t token = -1;           // the sampled token; -1 for a final event without one
  std::string text;             // text released by this token (held back near a stop string)
  bool finished = false;        // last event of this sample
  FinishReason reason = FinishReason::None;
};
using EventCallback = std::function<void(const Event&)>;

struct RequestStats {
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;    // prompt tokens served by the prefix cache (first admission)
  int32_t generated = 0;        // tokens sampled, all samples together
  int32_t preemptions = 0;
  double queue_ms = 0;          // submit -> first admission
  double ttft_ms = 0;           // submit -> first token (0 until then)
  double total_ms = 0;          // submit -> finish (0 until then)
  bool finished = false;
};

struct EngineStats {
  int32_t waiting = 0, running_requests = 0, running_seqs = 0;
  int64_t submitted = 0, finished = 0, steps = 0, preemptions = 0;
  int64_t prompt_tokens_computed = 0, tokens_generated = 0;
  BlockStats kv;
  double prefix_hit_rate = 0;   // prompt tokens served from cache / prompt tokens admitted
  double kv_waste = 0;          // time-averaged unfilled / allocated slots of used blocks
  int32_t peak_kv_blocks_used = 0;
};

class Engine {
 public:
  static Expected<std::unique_ptr<Engine>> create(const Model& model, const EngineOptions& opts);
  ~Engine();

  const Model& model() const { return model_; }
  const EngineOptions& options() const { return opts_; }

  // Thread-safe. Validates the request (n >= 1, max_tokens >= 1, a non-empty prompt of valid
  // ids, a length the context and the pool can ever hold, sampling settings) and queues it.
  Expected<int64_t> submit(const RequestParams& params, EventCallback on_event = nullptr);
  // Thread-safe. Errors for an unknown or already-finished request.
  Status cancel(int64_t id);
  // Thread-safe. Moves up to `max` queued events of a request (submitted without a callback)
  // to *out; the rest stay queued.
  Status poll(int64_t id, std::vector<Event>* out, size_t max = SIZE_MAX);
  // Thread-safe. Blocks until the request finished (needs another thread stepping).
  Status wait(int64_t id, int64_t timeout_ms);
  Expected<RequestStats> request_stats(int64_t id) const;
  // Forgets a finished request (its stats and any unpolled events).
  Status release(int64_t id);
  EngineStats stats() const;

  // One scheduler iteration; *did_work says whether anything ran. Not re-entrant: calling it
  // from a callback (or while start()'s loop runs) is an error.
  Status step(bool* did_work = nullptr);
  // Steps until no request is waiting or running.
  Status run_until_idle();
  // Runs step() on a background thread until stop() (or destruction).
  Status start();
  void stop();
  bool has_work() const;

 private:
  struct Sample;
  struct Request;
  Engine(const Model& m, const EngineOptions& o) : model_(m), opts_(o) {}

  Status step_once(bool* did_work);  // step() without the re-entrancy guard and event delivery
  void admit_new();
  void preempt(Request& r);
  // Ends a sample; its final event is *last (the token that ended it) or a new one.
  void finish_sample(Request& r, Sample& s, FinishReason why, std::vector<Event>* events, Event* last = nullptr);
  void emit(Request& r, std::vector<Event>& events);
  void schedule_decodes();
  void schedule_prefills();
  void retire_finished();
  bool shares_prefix_in_flight(const Request& r) const;
  void publish_stats_locked();

  const Model& model_;
  EngineOptions opts_;
  std::unique_ptr<Session> session_;

  mutable std::mutex mu_;                  // guards everything below marked (mu)
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> incoming_;                  // (mu)
  std::unordered_map<int64_t, std::shared_ptr<Request>> requests_; // (mu)
  std::vector<int64_t> cancel_;                                    // (mu)
  int64_t next_id_ = 1;                                            // (mu)
  EngineStats stats_;                                              // (mu)
  bool stop_ = false;                                              // (mu)

  // Scheduler state: only the stepping thread touches these.
  std::deque<std::shared_ptr<Request>> waiting_;
  std::vector<std::shared_ptr<Request>> running_;  // admission order
  std::vector<BatchToken> batch_;
  std::vector<std::shared_ptr<Request>> finished_now_;  // to publish once more
  struct Slot {
    Request* req;
    int32_t sample;
    int32_t n;          // tokens of this sample in the step
    bool wants_logits;  // the chunk ends the sample's pending tokens
    int32_t blocks;     // KV blocks it takes
  };
  std::vector<Slot> slots_;
  int32_t budget_ = 0, reserved_ = 0;
  std::vector<float> logits_;
  std::vector<std::pair<std::shared_ptr<Request>, Event>> out_;
  double waste_weighted_ = 0, waste_time_ = 0;
  int64_t preemptions_ = 0, steps_ = 0, prompt_tokens_computed_ = 0, tokens_generated_ = 0;
  int64_t prefix_tokens_admitted_ = 0, prefix_tokens_hit_ = 0;

  std::atomic<bool> stepping_{false};
  std::thread loop_;
  bool loop_running_ = false;
};

}  // namespace ember::runtime
