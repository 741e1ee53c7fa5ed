// The C API (include/ember/ember.h) over runtime::Engine. Every entry point validates its
// pointers, turns Status into a status code plus a thread-local message, and catches any
// exception (std::bad_alloc included) before it can cross into C.
#include "ember/ember.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/engine.h"
#include "runtime/tokenizer/chat.h"

using ember::ErrorCode;
using ember::Status;
namespace rt = ember::runtime;

struct ember_engine {
  std::unique_ptr<rt::Model> model;
  std::unique_ptr<rt::Engine> engine;
  std::mutex mu;  // guards polled
  std::unordered_map<int64_t, std::vector<rt::Event>> polled;  // keeps polled text alive
};

namespace {

thread_local std::string t_last_error;
thread_local int t_in_callback = 0;

ember_status fail(ember_status code, const std::string& msg) {
  t_last_error = msg;
  return code;
}

ember_status from(const Status& s, ember_status fallback = EMBER_ERR_INTERNAL) {
  if (s.ok()) return EMBER_OK;
  switch (s.code()) {
    case ErrorCode::InvalidArgument: return fail(EMBER_ERR_INVALID_ARGUMENT, s.message());
    case ErrorCode::NotFound: return fail(EMBER_ERR_NOT_FOUND, s.message());
    case ErrorCode::Capacity: return fail(EMBER_ERR_CAPACITY, s.message());
    case ErrorCode::State: return fail(EMBER_ERR_STATE, s.message());
    case ErrorCode::Unspecified: break;
  }
  return fail(fallback, s.message());
}

template <typename F>
ember_status guarded(const char* fn, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(EMBER_ERR_INTERNAL, std::string(fn) + ": unexpected failure: " + e.what());
  } catch (...) {
    return fail(EMBER_ERR_INTERNAL, std::string(fn) + ": unexpected failure");
  }
}

#define EMBER_CHECK_ARG(cond, msg) \
  if (!(cond)) return fail(EMBER_ERR_INVALID_ARGUMENT, msg)

#define EMBER_NOT_IN_CALLBACK(fn) \
  if (t_in_callback) return fail(EMBER_ERR_STATE, fn " cannot be called from an event callback")

ember_event to_c(const rt::Event& e) {
  ember_event c;
  c.request = e.request;
  c.index = e.index;
  c.token = e.token;
  c.text = e.text.c_str();
  c.text_len = e.text.size();
  c.finished = e.finished ? 1 : 0;
  c.reason = static_cast<ember_finish_reason>(static_cast<int>(e.reason));
  return c;
}

}  // namespace

extern "C" {

const char* ember_version(void) { return "0.1.0"; }
int ember_api_version(void) { return EMBER_API_VERSION_MAJOR * 1000 + EMBER_API_VERSION_MINOR; }
const char* ember_last_error(void) { return t_last_error.c_str(); }

ember_status ember_engine_options_init(ember_engine_options* o) {
  EMBER_CHECK_ARG(o, "ember_engine_options_init: options is NULL");
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->threads = 1;
  o->block_size = 16;
  o->max_running = 16;
  o->max_batch_tokens = 512;
  o->prefix_caching = 1;
  return EMBER_OK;
}

ember_status ember_engine_create(const char* model_path, const ember_engine_options* opts, ember_engine** out) {
  return guarded("ember_engine_create", [&]() -> ember_status {
    EMBER_CHECK_ARG(out, "ember_engine_create: out is NULL");
    *out = nullptr;
    EMBER_CHECK_ARG(model_path && *model_path, "ember_engine_create: model_path is NULL or empty");
    ember_engine_options o;
    ember_engine_options_init(&o);
    if (opts) {
      EMBER_CHECK_ARG(opts->struct_size >= sizeof(size_t) && opts->struct_size <= sizeof o,
                      "ember_engine_create: options.struct_size is not set (use ember_engine_options_init)");
      std::memcpy(&o, opts, opts->struct_size);
    }
    if (o.backend && std::strcmp(o.backend, "cpu") != 0)
      return fail(EMBER_ERR_INVALID_ARGUMENT, std::string("backend '") + o.backend + "' is not available (this build has: cpu)");
    ember::DType kv_type = ember::DType::F16;
    if (o.kv_type && std::strcmp(o.kv_type, "q8_0") == 0) kv_type = ember::DType::Q8_0;
    else if (o.kv_type && std::strcmp(o.kv_type, "f16") != 0)
      return fail(EMBER_ERR_INVALID_ARGUMENT, std::string("kv_type '") + o.kv_type + "' is not supported (f16 or q8_0)");
    EMBER_CHECK_ARG(o.threads >= 1 && o.threads <= 1024, "threads must be between 1 and 1024");
    EMBER_CHECK_ARG(o.block_size >= 1 && o.block_size <= 1024, "block_size must be between 1 and 1024");
    EMBER_CHECK_ARG(o.max_running >= 1, "max_running must be at least 1");
    EMBER_CHECK_ARG(o.max_batch_tokens >= 1, "max_batch_tokens must be at least 1");
    EMBER_CHECK_ARG(o.n_ctx >= 0 && o.kv_blocks >= 0, "n_ctx and kv_blocks must not be negative");

    auto model = rt::Model::load(model_path);
    if (!model.ok()) return fail(EMBER_ERR_LOAD, model.message());
    const auto& c = (*model)->config();
    rt::EngineOptions eo;
    eo.session.threads = o.threads;
    eo.session.n_ctx = o.n_ctx;
    eo.session.block_size = o.block_size;
    eo.session.n_batch = o.max_batch_tokens;
    eo.session.prefix_caching = o.prefix_caching != 0;
    eo.session.kv_type = kv_type;
    eo.max_running = o.max_running;
    int64_t blocks = o.kv_blocks;
    if (blocks == 0) {
      const uint64_t per_block =
          static_cast<uint64_t>(c.n_layer) * 2 * o.block_size * c.n_head_kv * ember::dtype_row_bytes(kv_type, c.head_dim);
      const uint64_t bytes = o.kv_bytes ? o.kv_bytes : (256ull << 20);
      blocks = static_cast<int64_t>(bytes / per_block);
      const int64_t n_ctx = o.n_ctx ? o.n_ctx : std::min<int64_t>(4096, c.n_ctx_train);
      if (!o.kv_bytes) blocks = std::max<int64_t>(blocks, (n_ctx + o.block_size - 1) / o.block_size);
      if (blocks < 1) return fail(EMBER_ERR_INVALID_ARGUMENT, "kv_bytes is smaller than one KV block");
    }
    EMBER_CHECK_ARG(blocks <= (1 << 24), "the KV pool is too large");
    eo.session.kv_blocks = static_cast<int32_t>(blocks);
    auto engine = rt::Engine::create(**model, eo);
    if (!engine.ok()) return from(engine.status(), EMBER_ERR_INVALID_ARGUMENT);
    auto* e = new ember_engine;
    e->model = std::move(model).value();
    e->engine = std::move(engine).value();
    *out = e;
    return EMBER_OK;
  });
}

ember_status ember_engine_destroy(ember_engine* e) {
  EMBER_NOT_IN_CALLBACK("ember_engine_destroy");
  return guarded("ember_engine_destroy", [&]() -> ember_status {
    if (!e) return EMBER_OK;
    e->engine->stop();
    e->engine.reset();
    delete e;
    return EMBER_OK;
  });
}

ember_status ember_engine_start(ember_engine* e) {
  EMBER_CHECK_ARG(e, "ember_engine_start: engine is NULL");
  return guarded("ember_engine_start", [&] { return from(e->engine->start()); });
}

ember_status ember_engine_stop(ember_engine* e) {
  EMBER_CHECK_ARG(e, "ember_engine_stop: engine is NULL");
  EMBER_NOT_IN_CALLBACK("ember_engine_stop");
  return guarded("ember_engine_stop", [&] {
    e->engine->stop();
    return EMBER_OK;
  });
}

ember_status ember_engine_step(ember_engine* e, int* did_work) {
  EMBER_CHECK_ARG(e, "ember_engine_step: engine is NULL");
  EMBER_NOT_IN_CALLBACK("ember_engine_step");
  return guarded("ember_engine_step", [&] {
    bool w = false;
    ember_status s = from(e->engine->step(&w));
    if (did_work) *did_work = w ? 1 : 0;
    return s;
  });
}

ember_status ember_engine_run_until_idle(ember_engine* e) {
  EMBER_CHECK_ARG(e, "ember_engine_run_until_idle: engine is NULL");
  EMBER_NOT_IN_CALLBACK("ember_engine_run_until_idle");
  return guarded("ember_engine_run_until_idle", [&] { return from(e->engine->run_until_idle()); });
}

ember_status ember_request_params_init(ember_request_params* p) {
  EMBER_CHECK_ARG(p, "ember_request_params_init: params is NULL");
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  rt::SamplerParams d;
  p->temperature = d.temperature;
  p->top_k = d.top_k;
  p->top_p = d.top_p;
  p->min_p = d.min_p;
  p->repeat_penalty = d.repeat_penalty;
  p->frequency_penalty = d.frequency_penalty;
  p->presence_penalty = d.presence_penalty;
  p->penalty_window = d.penalty_window;
  p->n = 1;
  p->max_tokens = 128;
  return EMBER_OK;
}

ember_status ember_submit(ember_engine* e, const ember_request_params* pp, ember_request_id* id) {
  return guarded("ember_submit", [&]() -> ember_status {
    EMBER_CHECK_ARG(e, "ember_submit: engine is NULL");
    EMBER_CHECK_ARG(pp, "ember_submit: params is NULL");
    EMBER_CHECK_ARG(id, "ember_submit: id is NULL");
    EMBER_CHECK_ARG(pp->struct_size >= sizeof(size_t) && pp->struct_size <= sizeof(ember_request_params),
                    "ember_submit: params.struct_size is not set (use ember_request_params_init)");
    ember_request_params p;
    ember_request_params_init(&p);
    std::memcpy(&p, pp, pp->struct_size);
    const int kinds = (p.prompt != nullptr) + (p.tokens != nullptr || p.n_tokens > 0) + (p.messages != nullptr || p.n_messages > 0);
    EMBER_CHECK_ARG(kinds == 1, "ember_submit: give exactly one of prompt, tokens or messages");
    EMBER_CHECK_ARG(p.n_stop == 0 || p.stop, "ember_submit: n_stop > 0 but stop is NULL");
    rt::RequestParams r;
    const auto& tok = e->model->tokenizer();
    if (p.prompt) {
      EMBER_CHECK_ARG(*p.prompt, "ember_submit: the prompt is empty");
      r.prompt = tok.encode(p.prompt);
    } else if (p.tokens || p.n_tokens) {
      EMBER_CHECK_ARG(p.tokens && p.n_tokens > 0, "ember_submit: tokens is NULL or n_tokens is 0");
      r.prompt.assign(p.tokens, p.tokens + p.n_tokens);
    } else {
      EMBER_CHECK_ARG(p.messages && p.n_messages > 0, "ember_submit: messages is NULL or n_messages is 0");
      std::vector<ember::tokenizer::ChatMessage> msgs;
      for (size_t i = 0; i < p.n_messages; ++i) {
        EMBER_CHECK_ARG(p.messages[i].role && p.messages[i].content, "ember_submit: a chat message has a NULL role or content");
        msgs.push_back({p.messages[i].role, p.messages[i].content});
      }
      auto tmpl = ember::tokenizer::ChatTemplate::from_template(tok.chat_template());
      if (!tmpl.ok()) return fail(EMBER_ERR_INVALID_ARGUMENT, tmpl.message());
      ember::tokenizer::EncodeOptions eo;
      eo.parse_special = true;
      r.prompt = tok.encode(tmpl->format_chat(msgs, true), eo);
    }
    r.sampling.temperature = p.temperature;
    r.sampling.top_k = p.top_k;
    r.sampling.top_p = p.top_p;
    r.sampling.min_p = p.min_p;
    r.sampling.repeat_penalty = p.repeat_penalty;
    r.sampling.frequency_penalty = p.frequency_penalty;
    r.sampling.presence_penalty = p.presence_penalty;
    r.sampling.penalty_window = p.penalty_window;
    r.sampling.seed = p.seed;
    r.n = p.n;
    r.max_tokens = p.max_tokens;
    r.ignore_eos = p.ignore_eos != 0;
    for (size_t i = 0; i < p.n_stop; ++i) {
      EMBER_CHECK_ARG(p.stop[i], "ember_submit: a stop string is NULL");
      r.stop.emplace_back(p.stop[i]);
    }
    rt::EventCallback cb;
    if (p.on_event) {
      ember_event_callback fn = p.on_event;
      void* user = p.user_data;
      cb = [fn, user](const rt::Event& ev) {
        ember_event c = to_c(ev);
        ++t_in_callback;
        fn(&c, user);
        --t_in_callback;
      };
    }
    auto got = e->engine->submit(r, std::move(cb));
    if (!got.ok()) return from(got.status(), EMBER_ERR_INVALID_ARGUMENT);
    *id = *got;
    return EMBER_OK;
  });
}

ember_status ember_cancel(ember_engine* e, ember_request_id id) {
  EMBER_CHECK_ARG(e, "ember_cancel: engine is NULL");
  return guarded("ember_cancel", [&] { return from(e->engine->cancel(id)); });
}

ember_status ember_poll(ember_engine* e, ember_request_id id, ember_event* events, size_t capacity, size_t* n) {
  return guarded("ember_poll", [&]() -> ember_status {
    EMBER_CHECK_ARG(e, "ember_poll: engine is NULL");
    EMBER_CHECK_ARG(n, "ember_poll: n is NULL");
    *n = 0;
    EMBER_CHECK_ARG(events || capacity == 0, "ember_poll: events is NULL");
    std::lock_guard<std::mutex> lk(e->mu);
    std::vector<rt::Event>& keep = e->polled[id];
    Status s = e->engine->poll(id, &keep, capacity);
    if (!s.ok()) {
      e->polled.erase(id);
      return from(s);
    }
    for (size_t i = 0; i < keep.size(); ++i) events[i] = to_c(keep[i]);
    *n = keep.size();
    return EMBER_OK;
  });
}

ember_status ember_wait(ember_engine* e, ember_request_id id, int64_t timeout_ms) {
  EMBER_CHECK_ARG(e, "ember_wait: engine is NULL");
  EMBER_NOT_IN_CALLBACK("ember_wait");
  return guarded("ember_wait", [&] { return from(e->engine->wait(id, timeout_ms)); });
}

ember_status ember_release(ember_engine* e, ember_request_id id) {
  EMBER_CHECK_ARG(e, "ember_release: engine is NULL");
  return guarded("ember_release", [&]() -> ember_status {
    Status s = e->engine->release(id);
    if (s.ok()) {
      std::lock_guard<std::mutex> lk(e->mu);
      e->polled.erase(id);
    }
    return from(s);
  });
}

ember_status ember_request_stats_get(ember_engine* e, ember_request_id id, ember_request_stats* out) {
  EMBER_CHECK_ARG(e, "ember_request_stats_get: engine is NULL");
  EMBER_CHECK_ARG(out, "ember_request_stats_get: out is NULL");
  return guarded("ember_request_stats_get", [&]() -> ember_status {
    auto st = e->engine->request_stats(id);
    if (!st.ok()) return from(st.status());
    out->prompt_tokens = st->prompt_tokens;
    out->cached_tokens = st->cached_tokens;
    out->generated_tokens = st->generated;
    out->preemptions = st->preemptions;
    out->queue_ms = st->queue_ms;
    out->ttft_ms = st->ttft_ms;
    out->total_ms = st->total_ms;
    const double gen_ms = st->total_ms - st->ttft_ms;
    out->tokens_per_second = st->finished && gen_ms > 0 ? 1000.0 * st->generated / gen_ms : 0;
    out->finished = st->finished ? 1 : 0;
    return EMBER_OK;
  });
}

ember_status ember_engine_stats_get(ember_engine* e, ember_engine_stats* out) {
  EMBER_CHECK_ARG(e, "ember_engine_stats_get: engine is NULL");
  EMBER_CHECK_ARG(out, "ember_engine_stats_get: out is NULL");
  return guarded("ember_engine_stats_get", [&]() -> ember_status {
    rt::EngineStats s = e->engine->stats();
    out->waiting = s.waiting;
    out->running_requests = s.running_requests;
    out->running_sequences = s.running_seqs;
    out->submitted = s.submitted;
    out->finished = s.finished;
    out->steps = s.steps;
    out->preemptions = s.preemptions;
    out->prompt_tokens_computed = s.prompt_tokens_computed;
    out->tokens_generated = s.tokens_generated;
    out->kv_blocks_total = s.kv.total;
    out->kv_blocks_used = s.kv.used;
    out->kv_blocks_cached = s.kv.cached;
    out->kv_blocks_free = s.kv.free;
    out->kv_blocks_peak_used = s.peak_kv_blocks_used;
    out->prefix_cache_hit_rate = s.prefix_hit_rate;
    out->kv_waste = s.kv_waste;
    return EMBER_OK;
  });
}

}  // extern "C"
