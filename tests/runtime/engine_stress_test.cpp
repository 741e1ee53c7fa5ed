// Thread safety: 8 client threads submit, poll, cancel, query and release at random against
// one engine whose loop runs on its own thread, through the C API. Built and run under
// ThreadSanitizer by .ci/run (the tsan preset); here it also checks that every request ends
// exactly once per sample and the KV pool is empty afterwards.
#include "ember/ember.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "support/test_support.h"

namespace {

std::atomic<int> g_callback_finishes{0};

void count_finish(const ember_event* ev, void*) {
  if (ev->finished) g_callback_finishes.fetch_add(1);
}

TEST(EngineStress, EightClientsSubmitAndCancelAtRandom) {
  const std::string path = ember::test::data_path("models/tiny-llama-q8_0-gqa2.gguf");
  ember_engine_options o;
  ember_engine_options_init(&o);
  o.threads = 2;
  o.n_ctx = 64;
  o.kv_blocks = 48;  // small: preemption happens too
  o.block_size = 4;
  o.max_running = 12;
  o.max_batch_tokens = 48;
  ember_engine* e = nullptr;
  ASSERT_EQ(ember_engine_create(path.c_str(), &o, &e), EMBER_OK) << ember_last_error();
  ASSERT_EQ(ember_engine_start(e), EMBER_OK);

  constexpr int kClients = 8, kOpsPerClient = 60;
  std::atomic<int> submitted{0}, callback_samples{0}, failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      std::mt19937 rng(1000 + c);
      std::vector<ember_request_id> mine;    // polled requests not yet released
      std::vector<int> samples_of;           // their n
      std::vector<int> finishes;             // finished events seen per request
      auto fail = [&](const char* what) {
        ADD_FAILURE() << "client " << c << ": " << what << ": " << ember_last_error();
        failures.fetch_add(1);
      };
      for (int op = 0; op < kOpsPerClient; ++op) {
        const int r = static_cast<int>(rng() % 100);
        if (r < 35) {
          ember_request_params p;
          ember_request_params_init(&p);
          int32_t toks[24];
          const size_t len = 1 + rng() % 20;
          for (size_t i = 0; i < len; ++i) toks[i] = static_cast<int32_t>(rng() % 200);
          p.tokens = toks;
          p.n_tokens = len;
          p.max_tokens = 1 + static_cast<int32_t>(rng() % 16);
          p.n = 1 + static_cast<int32_t>(rng() % 2);
          p.seed = rng();
          p.ignore_eos = 1;
          const bool cb = rng() % 3 == 0;
          if (cb) p.on_event = count_finish;
          ember_request_id id;
          if (ember_submit(e, &p, &id) != EMBER_OK) {
            fail("submit");
            continue;
          }
          submitted.fetch_add(1);
          if (cb) {
            callback_samples.fetch_add(p.n);
          } else {
            mine.push_back(id);
            samples_of.push_back(p.n);
            finishes.push_back(0);
          }
        } else if (r < 50 && !mine.empty()) {
          const size_t k = rng() % mine.size();
          ember_status s = ember_cancel(e, mine[k]);
          if (s != EMBER_OK && s != EMBER_ERR_STATE) fail("cancel");
        } else if (r < 80 && !mine.empty()) {
          const size_t k = rng() % mine.size();
          ember_event ev[8];
          size_t n = 0;
          if (ember_poll(e, mine[k], ev, 8, &n) != EMBER_OK) fail("poll");
          for (size_t i = 0; i < n; ++i) finishes[k] += ev[i].finished;
        } else if (r < 90) {
          ember_engine_stats es;
          if (ember_engine_stats_get(e, &es) != EMBER_OK) fail("stats");
        } else if (!mine.empty()) {
          const size_t k = rng() % mine.size();
          ember_request_stats rs;
          if (ember_request_stats_get(e, mine[k], &rs) != EMBER_OK) fail("request stats");
        }
        if (rng() % 4 == 0) std::this_thread::yield();
      }
      // Drain: every polled request ends, with one final event per sample; then release it.
      for (size_t k = 0; k < mine.size(); ++k) {
        if (ember_wait(e, mine[k], 120000) != EMBER_OK) fail("wait");
        ember_event ev[16];
        size_t n = 0;
        do {
          if (ember_poll(e, mine[k], ev, 16, &n) != EMBER_OK) fail("poll");
          for (size_t i = 0; i < n; ++i) finishes[k] += ev[i].finished;
        } while (n);
        EXPECT_EQ(finishes[k], samples_of[k]) << "client " << c << " request " << mine[k];
        if (ember_release(e, mine[k]) != EMBER_OK) fail("release");
      }
    });
  for (auto& t : clients) t.join();
  // Callback requests: wait until the engine has nothing left.
  ember_engine_stats es{};
  for (int i = 0; i < 12000; ++i) {
    ASSERT_EQ(ember_engine_stats_get(e, &es), EMBER_OK);
    if (es.finished == es.submitted && es.waiting == 0 && es.running_requests == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(es.finished, submitted.load());
  EXPECT_EQ(g_callback_finishes.load(), callback_samples.load());
  EXPECT_EQ(es.kv_blocks_used, 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ember_engine_destroy(e), EMBER_OK);
}

}  // namespace
