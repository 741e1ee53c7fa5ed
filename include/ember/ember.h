/* ember.h — the C API through which serving layers embed ember.
 *
 * One engine = one loaded model + one KV block pool + one scheduler. Requests are submitted
 * from any thread; the engine batches them continuously and delivers tokens either to a
 * callback (called on the engine's thread) or into a queue the client polls.
 *
 *   ember_engine_options o;  ember_engine_options_init(&o);  o.threads = 4;
 *   ember_engine* e;         if (ember_engine_create("model.gguf", &o, &e) != EMBER_OK) ...
 *   ember_engine_start(e);                      // the engine loop on its own thread
 *   ember_request_params p;  ember_request_params_init(&p);  p.prompt = "Hello";
 *   ember_request_id id;     ember_submit(e, &p, &id);
 *   ... ember_poll(e, id, events, 16, &n) until an event has finished set (or use on_event)
 *   ember_engine_destroy(e);
 *
 * Rules:
 *  - Every function returns an ember_status; EMBER_OK is 0. On failure, ember_last_error()
 *    gives a one-line message for the calling thread. No C++ exception crosses this API.
 *  - All functions are thread-safe. Callbacks run on the thread that steps the engine with
 *    no lock held; they may call any function except ember_engine_step/run_until_idle/
 *    destroy/stop (which return EMBER_ERR_STATE from inside a callback).
 *  - Structs passed in carry struct_size (set by the *_init functions) so that later
 *    versions can add fields without breaking older callers.
 *  - Strings are UTF-8. Pointers inside events are valid during the callback, or until the
 *    next ember_poll / ember_release of that request.
 */
#ifndef EMBER_EMBER_H
#define EMBER_EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define EMBER_API __declspec(dllexport)
#else
#define EMBER_API __attribute__((visibility("default")))
#endif

/* Version of this header's API; ember_api_version() reports the library's. A library
 * accepts callers of the same major version. */
#define EMBER_API_VERSION_MAJOR 1
#define EMBER_API_VERSION_MINOR 0

typedef enum ember_status {
  EMBER_OK = 0,
  EMBER_ERR_INVALID_ARGUMENT = 1, /* a null pointer, a bad setting, an empty prompt, n = 0 ... */
  EMBER_ERR_NOT_FOUND = 2,        /* unknown request id */
  EMBER_ERR_LOAD = 3,             /* the model file could not be opened or is not supported */
  EMBER_ERR_CAPACITY = 4,         /* a request the context or the KV pool can never hold */
  EMBER_ERR_STATE = 5,            /* not allowed now: request already finished, re-entrant step ... */
  EMBER_ERR_INTERNAL = 6          /* a failure inside the engine; the message says what */
} ember_status;

typedef enum ember_finish_reason {
  EMBER_FINISH_NONE = 0,      /* not finished */
  EMBER_FINISH_EOS = 1,       /* the model ended its answer */
  EMBER_FINISH_LENGTH = 2,    /* max_tokens (or the context) reached */
  EMBER_FINISH_STOP = 3,      /* a stop string appeared (it is not part of the text) */
  EMBER_FINISH_CANCELLED = 4, /* ember_cancel */
  EMBER_FINISH_ERROR = 5      /* the engine failed this request; text holds the message */
} ember_finish_reason;

typedef struct ember_engine ember_engine;
typedef int64_t ember_request_id;

/* ember's version string, e.g. "0.3.0". Never null. */
EMBER_API const char* ember_version(void);
/* The library's API version as major * 1000 + minor. */
EMBER_API int ember_api_version(void);
/* The message of the last failed call on this thread ("" if none). Valid until the next
 * failing call on this thread. */
EMBER_API const char* ember_last_error(void);

typedef struct ember_engine_options {
  size_t struct_size;     /* sizeof(ember_engine_options); set by ember_engine_options_init */
  const char* backend;    /* "cpu" (the only backend of this version); NULL = "cpu" */
  int32_t threads;        /* compute threads; default 1 */
  int32_t n_ctx;          /* most tokens one sequence may hold; 0 = min(4096, model's) */
  int32_t kv_blocks;      /* KV pool size in blocks (all sequences together); 0 = use kv_bytes */
  uint64_t kv_bytes;      /* KV pool size in bytes when kv_blocks is 0; 0 = 256 MiB, raised
                             to hold at least one sequence of n_ctx tokens */
  int32_t block_size;     /* tokens per KV block; default 16 */
  const char* kv_type;    /* "f16" (default) or "q8_0" (about half the memory; head_dim % 32 == 0) */
  int32_t max_running;    /* most sequences running at once; default 16 */
  int32_t max_batch_tokens; /* per-step token budget (chunked prefill); default 512 */
  int32_t prefix_caching; /* nonzero: reuse KV blocks of shared prompt prefixes; default 1 */
} ember_engine_options;

/* Fills *o with the defaults above. */
EMBER_API ember_status ember_engine_options_init(ember_engine_options* o);

/* Loads a GGUF model and creates an engine (options may be NULL for the defaults). */
EMBER_API ember_status ember_engine_create(const char* model_path, const ember_engine_options* o,
                                           ember_engine** out);
/* Stops the loop (if started), cancels what is still running and frees everything.
 * NULL is accepted (EMBER_OK). Not from a callback. */
EMBER_API ember_status ember_engine_destroy(ember_engine* e);

/* Runs the engine loop on a background thread until ember_engine_stop / destroy. */
EMBER_API ember_status ember_engine_start(ember_engine* e);
EMBER_API ember_status ember_engine_stop(ember_engine* e);
/* Or drive it yourself: one scheduler step (*did_work, if not NULL, says whether anything
 * ran), or steps until nothing is waiting or running. Not while the loop runs. */
EMBER_API ember_status ember_engine_step(ember_engine* e, int* did_work);
EMBER_API ember_status ember_engine_run_until_idle(ember_engine* e);

typedef struct ember_event {
  ember_request_id request;
  int32_t index;          /* which of the request's n samples */
  int32_t token;          /* the sampled token id, or -1 for a final event without one */
  const char* text;       /* UTF-8 text this token released (may be empty, never NULL) */
  size_t text_len;
  int32_t finished;       /* nonzero on the last event of this sample */
  ember_finish_reason reason;
} ember_event;

typedef void (*ember_event_callback)(const ember_event* event, void* user_data);

typedef struct ember_chat_message {
  const char* role;     /* "system", "user" or "assistant" */
  const char* content;
} ember_chat_message;

typedef struct ember_request_params {
  size_t struct_size;   /* set by ember_request_params_init */
  /* The prompt: exactly one of these three. */
  const char* prompt;                   /* text (BOS added as the model asks) */
  const int32_t* tokens;                /* or token ids, used as they are */
  size_t n_tokens;
  const ember_chat_message* messages;   /* or a conversation: the model's chat template is
                                           applied and the assistant's turn opened */
  size_t n_messages;
  /* Sampling (see ember's sampler: penalties -> top-k -> top-p -> min-p -> temperature). */
  float temperature;       /* 0 = greedy; default 0.8 */
  int32_t top_k;           /* default 40; 0 = off */
  float top_p;             /* default 0.95; 1 = off */
  float min_p;             /* default 0.05; 0 = off */
  float repeat_penalty;    /* default 1 = off */
  float frequency_penalty; /* default 0 */
  float presence_penalty;  /* default 0 */
  int32_t penalty_window;  /* default 64 */
  uint64_t seed;           /* sample i uses seed + i */
  int32_t n;               /* samples from this prompt (sharing its KV); default 1 */
  int32_t max_tokens;      /* per sample; default 128 */
  const char* const* stop; /* stop strings; the output ends before the first one found */
  size_t n_stop;
  int32_t ignore_eos;      /* nonzero: keep going past end-of-generation tokens */
  /* Delivery: a callback, or NULL to poll with ember_poll. */
  ember_event_callback on_event;
  void* user_data;
} ember_request_params;

EMBER_API ember_status ember_request_params_init(ember_request_params* p);

/* Validates and queues a request; *id identifies it from then on. */
EMBER_API ember_status ember_submit(ember_engine* e, const ember_request_params* p, ember_request_id* id);
/* Cancels a waiting or running request (its samples end with EMBER_FINISH_CANCELLED).
 * EMBER_ERR_NOT_FOUND for an unknown id, EMBER_ERR_STATE for a finished one. */
EMBER_API ember_status ember_cancel(ember_engine* e, ember_request_id id);
/* Copies up to `capacity` queued events of a polling request into events[] and sets *n.
 * Events not copied stay queued for the next call. */
EMBER_API ember_status ember_poll(ember_engine* e, ember_request_id id, ember_event* events, size_t capacity,
                                  size_t* n);
/* Blocks until the request has finished or timeout_ms passed (EMBER_ERR_STATE on timeout);
 * needs the loop (ember_engine_start) or another thread stepping. */
EMBER_API ember_status ember_wait(ember_engine* e, ember_request_id id, int64_t timeout_ms);
/* Forgets a finished request (its stats and unpolled events). */
EMBER_API ember_status ember_release(ember_engine* e, ember_request_id id);

typedef struct ember_request_stats {
  int32_t prompt_tokens;
  int32_t cached_tokens;     /* prompt tokens served by the prefix cache */
  int32_t generated_tokens;  /* all samples together */
  int32_t preemptions;
  double queue_ms;           /* submit -> admitted */
  double ttft_ms;            /* submit -> first token */
  double total_ms;           /* submit -> finished (0 while running) */
  double tokens_per_second;  /* generated_tokens / (total_ms - ttft_ms), once finished */
  int32_t finished;
} ember_request_stats;

typedef struct ember_engine_stats {
  int32_t waiting, running_requests, running_sequences;
  int64_t submitted, finished, steps, preemptions;
  int64_t prompt_tokens_computed, tokens_generated;
  int32_t kv_blocks_total, kv_blocks_used, kv_blocks_cached, kv_blocks_free, kv_blocks_peak_used;
  double prefix_cache_hit_rate; /* prompt tokens served from cache / prompt tokens admitted */
  double kv_waste;              /* time-averaged unfilled share of the used blocks' slots */
} ember_engine_stats;

EMBER_API ember_status ember_request_stats_get(ember_engine* e, ember_request_id id, ember_request_stats* out);
EMBER_API ember_status ember_engine_stats_get(ember_engine* e, ember_engine_stats* out);

#ifdef __cplusplus
}
#endif

#endif /* EMBER_EMBER_H */
