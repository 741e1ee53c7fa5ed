/* An example of embedding ember through its C API: one engine, its loop on a background
 * thread, and two requests streaming at the same time — one delivered by callback, one
 * polled by a client thread. Build: see tools/CMakeLists.txt (target ember_example_stream_two).
 *
 *   ember_example_stream_two MODEL.gguf
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/ember.h"

static int check(ember_status s, const char* what) {
  if (s != EMBER_OK) {
    fprintf(stderr, "stream_two: %s failed (%d): %s\n", what, (int)s, ember_last_error());
    return 0;
  }
  return 1;
}

/* Request A: events arrive on the engine's thread. */
struct collected {
  pthread_mutex_t mu;
  char text[4096];
  size_t len;
  int tokens;
  int done;
};

static void on_event(const ember_event* ev, void* user) {
  struct collected* c = (struct collected*)user;
  pthread_mutex_lock(&c->mu);
  if (c->len + ev->text_len < sizeof c->text) {
    memcpy(c->text + c->len, ev->text, ev->text_len);
    c->len += ev->text_len;
    c->text[c->len] = '\0';
  }
  if (ev->token >= 0) c->tokens++;
  if (ev->finished) c->done = 1;
  pthread_mutex_unlock(&c->mu);
  printf("[A] %.*s%s\n", (int)ev->text_len, ev->text, ev->finished ? "  <finished>" : "");
  fflush(stdout);
}

/* Request B: a client thread submits it and polls. */
struct poller {
  ember_engine* engine;
  int tokens;
  int ok;
};

static void* poll_thread(void* arg) {
  struct poller* p = (struct poller*)arg;
  ember_chat_message msgs[2] = {{"system", "You are a helpful AI assistant."},
                                {"user", "Name three colors of the rainbow."}};
  ember_request_params rp;
  ember_request_params_init(&rp);
  rp.messages = msgs;
  rp.n_messages = 2;
  rp.temperature = 0;
  rp.max_tokens = 24;
  ember_request_id id;
  if (!check(ember_submit(p->engine, &rp, &id), "ember_submit (B)")) return NULL;
  for (int finished = 0; !finished;) {
    ember_event ev[8];
    size_t n = 0;
    if (!check(ember_poll(p->engine, id, ev, 8, &n), "ember_poll")) return NULL;
    for (size_t i = 0; i < n; ++i) {
      printf("[B] %.*s%s\n", (int)ev[i].text_len, ev[i].text, ev[i].finished ? "  <finished>" : "");
      if (ev[i].token >= 0) p->tokens++;
      if (ev[i].finished) finished = 1;
    }
    if (n == 0) {  /* nothing yet: block until it finishes or 20 ms pass (EMBER_ERR_STATE) */
      ember_status w = ember_wait(p->engine, id, 20);
      if (w != EMBER_OK && w != EMBER_ERR_STATE && !check(w, "ember_wait")) return NULL;
    }
  }
  ember_request_stats st;
  if (check(ember_request_stats_get(p->engine, id, &st), "ember_request_stats_get"))
    printf("[B] %d prompt tokens, %d generated, ttft %.1f ms, %.1f tokens/s\n", st.prompt_tokens,
           st.generated_tokens, st.ttft_ms, st.tokens_per_second);
  p->ok = check(ember_release(p->engine, id), "ember_release");
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
    return 2;
  }
  printf("ember %s (C API %d)\n", ember_version(), ember_api_version());
  ember_engine_options o;
  ember_engine_options_init(&o);
  o.threads = 2;
  o.n_ctx = 512;
  ember_engine* e = NULL;
  if (!check(ember_engine_create(argv[1], &o, &e), "ember_engine_create")) return 1;
  if (!check(ember_engine_start(e), "ember_engine_start")) return 1;

  struct collected a;
  memset(&a, 0, sizeof a);
  pthread_mutex_init(&a.mu, NULL);
  ember_request_params rp;
  ember_request_params_init(&rp);
  rp.prompt = "The capital of France is";
  rp.temperature = 0;
  rp.max_tokens = 24;
  rp.on_event = on_event;
  rp.user_data = &a;
  ember_request_id ida;
  if (!check(ember_submit(e, &rp, &ida), "ember_submit (A)")) return 1;

  struct poller b = {e, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, poll_thread, &b);
  int waited = check(ember_wait(e, ida, 120000), "ember_wait (A)");
  pthread_join(th, NULL);

  ember_engine_stats es;
  if (check(ember_engine_stats_get(e, &es), "ember_engine_stats_get"))
    printf("engine: %lld steps, %lld tokens generated, KV blocks peak %d of %d, prefix hit rate %.2f\n",
           (long long)es.steps, (long long)es.tokens_generated, es.kv_blocks_peak_used, es.kv_blocks_total,
           es.prefix_cache_hit_rate);
  printf("[A] full text: %s\n", a.text);
  int ok = waited && a.done && a.tokens > 0 && b.ok && b.tokens > 0;
  if (!check(ember_engine_destroy(e), "ember_engine_destroy")) ok = 0;
  pthread_mutex_destroy(&a.mu);
  if (!ok) fprintf(stderr, "stream_two: a request did not complete\n");
  return ok ? 0 : 1;
}
