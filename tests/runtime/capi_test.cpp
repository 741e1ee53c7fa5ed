// The C API: every bad call gets a status code and a message (never a crash or a
// deadlock), callbacks may call back into the API, and a normal request streams to the end.
#include "ember/ember.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace {

const std::string& tiny_path() {
  static const std::string p = ember::test::data_path("models/tiny-llama-f32-gqa1.gguf");
  return p;
}

ember_engine* make_engine(int kv_blocks = 32) {
  ember_engine_options o;
  ember_engine_options_init(&o);
  o.n_ctx = 64;
  o.kv_blocks = kv_blocks;
  o.block_size = 4;
  ember_engine* e = nullptr;
  EXPECT_EQ(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_OK) << ember_last_error();
  return e;
}

void expect_fail(ember_status got, ember_status want, const std::string& msg_part) {
  EXPECT_EQ(got, want) << ember_last_error();
  EXPECT_NE(std::string(ember_last_error()).find(msg_part), std::string::npos) << ember_last_error();
}

TEST(CApi, VersionAndCreateErrors) {
  EXPECT_EQ(ember_api_version(), EMBER_API_VERSION_MAJOR * 1000 + EMBER_API_VERSION_MINOR);
  EXPECT_STRNE(ember_version(), "");
  ember_engine* e = nullptr;
  expect_fail(ember_engine_create(nullptr, nullptr, &e), EMBER_ERR_INVALID_ARGUMENT, "model_path");
  expect_fail(ember_engine_create(tiny_path().c_str(), nullptr, nullptr), EMBER_ERR_INVALID_ARGUMENT, "out is NULL");
  expect_fail(ember_engine_create("/nonexistent/model.gguf", nullptr, &e), EMBER_ERR_LOAD, "model.gguf");
  EXPECT_EQ(e, nullptr);
  ember_engine_options o;
  ember_engine_options_init(&o);
  o.kv_type = "q4_0";
  expect_fail(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_ERR_INVALID_ARGUMENT, "kv_type 'q4_0'");
  ember_engine_options_init(&o);
  o.backend = "npu:7";
  expect_fail(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_ERR_INVALID_ARGUMENT, "backend 'npu:7'");
  ember_engine_options_init(&o);
  o.struct_size = 0;
  expect_fail(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_ERR_INVALID_ARGUMENT, "struct_size");
  ember_engine_options_init(&o);
  o.threads = 0;
  expect_fail(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_ERR_INVALID_ARGUMENT, "threads");
  ember_engine_options_init(&o);
  o.n_ctx = 1 << 20;
  expect_fail(ember_engine_create(tiny_path().c_str(), &o, &e), EMBER_ERR_INVALID_ARGUMENT, "context size");
  EXPECT_EQ(ember_engine_destroy(nullptr), EMBER_OK);
}

TEST(CApi, BadRequestsGetStatusCodes) {
  ember_engine* e = make_engine();
  ASSERT_NE(e, nullptr);
  ember_request_params p;
  ember_request_params_init(&p);
  ember_request_id id = 0;
  expect_fail(ember_submit(nullptr, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "engine is NULL");
  expect_fail(ember_submit(e, nullptr, &id), EMBER_ERR_INVALID_ARGUMENT, "params is NULL");
  p.prompt = "hello";
  expect_fail(ember_submit(e, &p, nullptr), EMBER_ERR_INVALID_ARGUMENT, "id is NULL");
  p.prompt = nullptr;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "exactly one of");
  p.prompt = "";
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "prompt is empty");
  const int32_t toks[] = {1, 2, 3};
  p.prompt = "hello";
  p.tokens = toks;
  p.n_tokens = 3;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "exactly one of");
  p.prompt = nullptr;
  p.n = 0;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "n (samples per prompt)");
  p.n = 1;
  p.max_tokens = 1000;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_CAPACITY, "exceeds the context size");
  p.max_tokens = 60;  // fits the context (64) but 4 samples cannot fit the 32-block pool
  p.n = 4;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_CAPACITY, "the pool has only 32");
  p.n = 1;
  p.max_tokens = 4;
  p.top_p = 0;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "top-p");
  p.top_p = 1;
  p.n_stop = 1;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "stop is NULL");
  p.n_stop = 0;
  const int32_t bad[] = {1, -5};
  p.tokens = bad;
  p.n_tokens = 2;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "out of range");
  p.tokens = toks;
  p.n_tokens = 3;
  ember_chat_message m = {nullptr, "hi"};
  p.tokens = nullptr;
  p.n_tokens = 0;
  p.messages = &m;
  p.n_messages = 1;
  expect_fail(ember_submit(e, &p, &id), EMBER_ERR_INVALID_ARGUMENT, "NULL role");

  // Unknown and finished ids.
  expect_fail(ember_cancel(e, 999), EMBER_ERR_NOT_FOUND, "does not exist");
  ember_event ev[4];
  size_t n = 0;
  expect_fail(ember_poll(e, 999, ev, 4, &n), EMBER_ERR_NOT_FOUND, "does not exist");
  expect_fail(ember_poll(e, 999, nullptr, 4, &n), EMBER_ERR_INVALID_ARGUMENT, "events is NULL");
  expect_fail(ember_release(e, 999), EMBER_ERR_NOT_FOUND, "does not exist");
  ember_request_stats rs;
  expect_fail(ember_request_stats_get(e, 999, &rs), EMBER_ERR_NOT_FOUND, "does not exist");
  m.role = "user";
  ASSERT_EQ(ember_submit(e, &p, &id), EMBER_OK) << ember_last_error();
  expect_fail(ember_release(e, id), EMBER_ERR_STATE, "still running");
  ASSERT_EQ(ember_engine_run_until_idle(e), EMBER_OK) << ember_last_error();
  expect_fail(ember_cancel(e, id), EMBER_ERR_STATE, "already finished");
  size_t total = 0;
  bool finished = false;
  do {  // capacity 1: one event per call, the rest stay queued
    ASSERT_EQ(ember_poll(e, id, ev, 1, &n), EMBER_OK);
    total += n;
    if (n) finished = ev[0].finished;
  } while (n);
  EXPECT_EQ(total, 4u);
  EXPECT_TRUE(finished);
  ASSERT_EQ(ember_request_stats_get(e, id, &rs), EMBER_OK);
  EXPECT_EQ(rs.generated_tokens, 4);
  EXPECT_EQ(rs.finished, 1);
  EXPECT_EQ(ember_release(e, id), EMBER_OK);
  expect_fail(ember_poll(e, id, ev, 4, &n), EMBER_ERR_NOT_FOUND, "does not exist");
  ember_engine_stats es;
  ASSERT_EQ(ember_engine_stats_get(e, &es), EMBER_OK);
  EXPECT_EQ(es.kv_blocks_used, 0);
  EXPECT_EQ(es.kv_blocks_total, 32);
  EXPECT_EQ(ember_engine_destroy(e), EMBER_OK);
}

struct Reentry {
  ember_engine* e;
  ember_request_id self = 0;
  int events = 0;
  ember_status step = EMBER_OK, destroy = EMBER_OK, wait = EMBER_OK, cancel = EMBER_ERR_INTERNAL;
  ember_status submit = EMBER_ERR_INTERNAL;
  ember_request_id child = 0;
};

void reentrant_cb(const ember_event* ev, void* user) {
  auto* r = static_cast<Reentry*>(user);
  ++r->events;
  if (r->events == 1) {
    r->step = ember_engine_step(r->e, nullptr);
    r->destroy = ember_engine_destroy(r->e);
    r->wait = ember_wait(r->e, ev->request, 10);
    r->cancel = ember_cancel(r->e, r->self);
    ember_request_params p;
    ember_request_params_init(&p);
    p.prompt = "again";
    p.max_tokens = 3;
    r->submit = ember_submit(r->e, &p, &r->child);
  }
}

TEST(CApi, CallbacksThatCallBackIntoTheApi) {
  ember_engine* e = make_engine();
  ASSERT_NE(e, nullptr);
  Reentry r{e};
  ember_request_params p;
  ember_request_params_init(&p);
  p.prompt = "once upon a time";
  p.max_tokens = 20;
  p.ignore_eos = 1;
  p.on_event = reentrant_cb;
  p.user_data = &r;
  ASSERT_EQ(ember_submit(e, &p, &r.self), EMBER_OK) << ember_last_error();
  ASSERT_EQ(ember_engine_run_until_idle(e), EMBER_OK) << ember_last_error();
  EXPECT_EQ(r.step, EMBER_ERR_STATE);
  EXPECT_EQ(r.destroy, EMBER_ERR_STATE);
  EXPECT_EQ(r.wait, EMBER_ERR_STATE);
  EXPECT_EQ(r.cancel, EMBER_OK);
  EXPECT_EQ(r.submit, EMBER_OK);
  EXPECT_LT(r.events, 20) << "cancelled from its own callback";
  ember_event ev[1];
  size_t n = 0;
  EXPECT_EQ(ember_poll(e, r.self, ev, 1, &n), EMBER_ERR_STATE) << "a callback request is not polled";
  ember_request_stats rs;
  ASSERT_EQ(ember_request_stats_get(e, r.child, &rs), EMBER_OK);
  EXPECT_EQ(rs.finished, 1);
  EXPECT_EQ(ember_engine_destroy(e), EMBER_OK);
}

TEST(CApi, TheLoopThreadStreamsAndDestroyCancelsTheRest) {
  ember_engine* e = make_engine(64);
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(ember_engine_start(e), EMBER_OK);
  expect_fail(ember_engine_start(e), EMBER_ERR_STATE, "already running");
  expect_fail(ember_engine_run_until_idle(e), EMBER_ERR_STATE, "loop is running");
  ember_request_params p;
  ember_request_params_init(&p);
  p.prompt = "hello there";
  p.max_tokens = 12;
  p.ignore_eos = 1;
  ember_request_id a = 0, b = 0;
  ASSERT_EQ(ember_submit(e, &p, &a), EMBER_OK);
  p.max_tokens = 50;
  ASSERT_EQ(ember_submit(e, &p, &b), EMBER_OK);
  ASSERT_EQ(ember_wait(e, a, 60000), EMBER_OK) << ember_last_error();
  ember_event ev[64];
  size_t n = 0;
  ASSERT_EQ(ember_poll(e, a, ev, 64, &n), EMBER_OK);
  ASSERT_EQ(n, 12u);
  EXPECT_EQ(ev[11].reason, EMBER_FINISH_LENGTH);
  // b may still be running: destroy must stop the loop and free everything (ASan checks).
  EXPECT_EQ(ember_engine_destroy(e), EMBER_OK);
}

}  // namespace
