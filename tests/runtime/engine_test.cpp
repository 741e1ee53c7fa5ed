// The serving engine: continuous batching must not change a single token. Every request
// in a batch gets exactly the tokens it gets alone (the same Session code path as
// `ember run`), also with chunked prefill, prefix caching, preemption by a tiny KV pool and
// n > 1 forks under copy-on-write; and bad requests are errors, never crashes.
#include "runtime/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/generate.h"
#include "support/test_support.h"

namespace ember::runtime {
namespace {

std::unique_ptr<Model> load(const std::string& path) {
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? std::move(m).value() : nullptr;
}

SamplerParams greedy() {
  SamplerParams p;
  p.temperature = 0;
  return p;
}

// The reference: one request alone, through generate() on a fresh session.
std::vector<int32_t> solo(const Model& m, const std::vector<int32_t>& prompt, int32_t max_tokens,
                          const SamplerParams& sp, int32_t n_batch = 512, DType kv_type = DType::F16) {
  SessionOptions o;
  o.threads = 2;
  o.kv_type = kv_type;
  o.n_ctx = static_cast<int32_t>(prompt.size()) + max_tokens + 1;
  o.n_batch = n_batch;
  auto s = Session::create(m, o);
  EXPECT_TRUE(s.ok()) << s.message();
  auto smp = Sampler::create(sp);
  EXPECT_TRUE(smp.ok());
  std::vector<int32_t> out;
  const int32_t seq = (*s)->new_sequence();
  GenerationStats st;
  Status g = generate(**s, seq, prompt, max_tokens, *smp, [&](int32_t id) { out.push_back(id); return true; }, &st);
  EXPECT_TRUE(g.ok()) << g.message();
  return out;
}

struct Outcome {
  std::map<std::pair<int64_t, int32_t>, std::vector<int32_t>> tokens;  // (request, sample) -> tokens
  std::map<int64_t, int64_t> ids;                                     // submit order -> id
  EngineStats stats;
  std::vector<int32_t> of(int64_t request, int32_t sample) { return tokens[{request, sample}]; }
};

// Runs every request through one engine (polling), returning each sample's non-EOG tokens.
Outcome batched(const Model& m, const EngineOptions& eo, const std::vector<RequestParams>& reqs) {
  Outcome o;
  auto e = Engine::create(m, eo);
  EXPECT_TRUE(e.ok()) << e.message();
  if (!e.ok()) return o;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto id = (*e)->submit(reqs[i]);
    EXPECT_TRUE(id.ok()) << id.message();
    o.ids[static_cast<int64_t>(i)] = *id;
  }
  Status st = (*e)->run_until_idle();
  EXPECT_TRUE(st.ok()) << st.message();
  for (auto& [i, id] : o.ids) {
    std::vector<Event> ev;
    EXPECT_TRUE((*e)->poll(id, &ev).ok());
    int finished = 0;
    for (const Event& x : ev) {
      if (x.token >= 0 && !m.tokenizer().is_eog(x.token)) o.tokens[{i, x.index}].push_back(x.token);
      finished += x.finished;
      EXPECT_NE(x.reason, FinishReason::Error) << x.text;
    }
    EXPECT_EQ(finished, reqs[static_cast<size_t>(i)].n) << "every sample finishes exactly once";
  }
  o.stats = (*e)->stats();
  EXPECT_EQ(o.stats.kv.used, 0) << "every block is returned when all requests finish";
  return o;
}

std::vector<std::string> sixteen_prompts() {
  return {"The capital of France is",
          "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
          "请用一句话介绍长城。",
          "Once upon a time, in a small village by the sea, there lived an old fisherman who",
          "The three primary colors are",
          "Write a haiku about autumn leaves.",
          "Q: What is 17 times 23?\nA:",
          "#include <stdio.h>\nint main(void) {\n",
          "Photosynthesis is the process by which",
          "A patient presents with fever and a persistent cough. The first step is",
          "List three prime numbers:",
          "The quick brown fox",
          "In machine learning, overfitting means",
          "SELECT name, age FROM users WHERE",
          "Translate to French: Good morning, how are you?",
          "The history of the Roman Empire began when Augustus became the first emperor. Over the "
          "following centuries the empire expanded across Europe, North Africa and the Middle East, "
          "building roads, aqueducts and cities, and its legal system shaped later European law. "
          "Historians still debate why the western half declined, pointing to"};
}

std::vector<int32_t> encode(const Model& m, const std::string& text) {
  tokenizer::EncodeOptions eo;
  return m.tokenizer().encode(text, eo);
}

// -- default model ---------------------------------------------------------------------------

class EngineSmolLM2_135M : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = load(test::default_model_path()).release(); }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static Model* model_;
};
Model* EngineSmolLM2_135M::model_ = nullptr;

constexpr int32_t kGen = 24;

TEST_F(EngineSmolLM2_135M, SixteenPromptsBatchedEqualEachAlone) {
  ASSERT_NE(model_, nullptr);
  std::vector<RequestParams> reqs;
  for (const std::string& p : sixteen_prompts()) {
    RequestParams r;
    r.prompt = encode(*model_, p);
    r.sampling = greedy();
    r.max_tokens = kGen;
    reqs.push_back(r);
  }
  EngineOptions eo;
  eo.session.threads = 2;
  eo.session.n_ctx = 256;
  eo.session.kv_blocks = 16 * 8;
  eo.session.n_batch = 64;  // prompts are chunked and share steps with decodes
  Outcome got = batched(*model_, eo, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(got.of(static_cast<int64_t>(i), 0), solo(*model_, reqs[i].prompt, kGen, greedy()))
        << "prompt " << i << ": " << sixteen_prompts()[i];
  EXPECT_GT(got.stats.steps, 0);
  EXPECT_EQ(got.stats.preemptions, 0);
}

TEST_F(EngineSmolLM2_135M, PrefixCachingAndPreemptionDoNotChangeTokens) {
  ASSERT_NE(model_, nullptr);
  // Chat prompts sharing a long system message: the shared blocks are computed once.
  const std::string system =
      "<|im_start|>system\nYou are a careful clinical documentation assistant. Answer briefly, "
      "use plain words, never invent facts, and say when you are unsure.<|im_end|>\n";
  tokenizer::EncodeOptions special;
  special.parse_special = true;
  std::vector<RequestParams> reqs;
  const auto prompts = sixteen_prompts();
  for (size_t i = 0; i < 8; ++i) {
    RequestParams r;
    r.prompt = model_->tokenizer().encode(system + "<|im_start|>user\n" + prompts[i] +
                                              "<|im_end|>\n<|im_start|>assistant\n", special);
    r.sampling = greedy();
    r.max_tokens = kGen;
    reqs.push_back(r);
  }
  std::vector<std::vector<int32_t>> want;
  for (const RequestParams& r : reqs) want.push_back(solo(*model_, r.prompt, kGen, greedy()));

  EngineOptions eo;
  eo.session.threads = 2;
  eo.session.n_ctx = 256;
  eo.session.kv_blocks = 64;
  eo.session.n_batch = 96;
  eo.session.prefix_caching = true;
  Outcome cached = batched(*model_, eo, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(cached.of(static_cast<int64_t>(i), 0), want[i]) << "prefix caching, prompt " << i;
  EXPECT_GT(cached.stats.prefix_hit_rate, 0.3) << "the shared system prompt should be served from cache";

  // A pool far too small for all of them at once: requests are preempted and recomputed.
  eo.session.prefix_caching = false;
  eo.session.kv_blocks = 12;
  eo.session.block_size = 8;
  Outcome tight = batched(*model_, eo, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(tight.of(static_cast<int64_t>(i), 0), want[i]) << "preemption, prompt " << i;
  EXPECT_GT(tight.stats.preemptions, 0) << "the pool was meant to force preemption";
}

// The q8_0 KV cache stores K and V with 8-bit blocks: logits move a little, greedy choices
// almost never. Teacher-forced on f16's greedy continuation of a chat prompt.
TEST_F(EngineSmolLM2_135M, Q8_0KvCacheStaysCloseToF16) {
  ASSERT_NE(model_, nullptr);
  tokenizer::EncodeOptions special;
  special.parse_special = true;
  const std::vector<int32_t> prompt = model_->tokenizer().encode(
      "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>user\nExplain what a "
      "stethoscope is used for.<|im_end|>\n<|im_start|>assistant\n", special);
  const std::vector<int32_t> cont = solo(*model_, prompt, 48, greedy());
  ASSERT_GE(cont.size(), 16u);
  std::vector<std::vector<float>> lg[2];
  double bytes[2] = {0, 0};
  for (int which = 0; which < 2; ++which) {
    SessionOptions o;
    o.threads = 2;
    o.n_ctx = 256;
    o.kv_type = which ? DType::Q8_0 : DType::F16;
    auto s = Session::create(*model_, o);
    ASSERT_TRUE(s.ok()) << s.message();
    const int32_t seq = (*s)->new_sequence();
    std::vector<float> logits;
    ASSERT_TRUE((*s)->eval(seq, prompt, false, &logits).ok());
    lg[which].push_back(logits);
    for (size_t k = 0; k + 1 < cont.size(); ++k) {
      ASSERT_TRUE((*s)->eval(seq, std::span<const int32_t>(&cont[k], 1), false, &logits).ok());
      lg[which].push_back(logits);
    }
    bytes[which] = static_cast<double>((*s)->kv().bytes());
  }
  EXPECT_NEAR(bytes[1] / bytes[0], 34.0 / 64.0, 1e-6) << "q8_0: 34 bytes per 32 values against f16's 64";
  size_t same = 0;
  float worst = 0;
  for (size_t k = 0; k < lg[0].size(); ++k) {
    const auto& a = lg[0][k];
    const auto& b = lg[1][k];
    same += std::max_element(a.begin(), a.end()) - a.begin() == std::max_element(b.begin(), b.end()) - b.begin();
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  std::printf("[ kv q8_0 ] %zu of %zu greedy choices equal to f16's, largest |logit diff| %.3f\n", same, lg[0].size(), worst);
  EXPECT_GE(same * 10, lg[0].size() * 9);
  EXPECT_LT(worst, 2.0f);
}

TEST_F(EngineSmolLM2_135M, ForksEqualIndependentRunsWithTheSameSeeds) {
  ASSERT_NE(model_, nullptr);
  RequestParams r;
  r.prompt = encode(*model_, "Here is a short story about a robot who learns to paint:");
  r.sampling.temperature = 0.9f;
  r.sampling.seed = 1234;
  r.n = 4;
  r.max_tokens = kGen;
  EngineOptions eo;
  eo.session.threads = 2;
  eo.session.n_ctx = 128;
  eo.session.kv_blocks = 64;
  Outcome got = batched(*model_, eo, {r});
  std::set<std::vector<int32_t>> distinct;
  for (int32_t i = 0; i < 4; ++i) {
    SamplerParams sp = r.sampling;
    sp.seed = r.sampling.seed + static_cast<uint64_t>(i);
    EXPECT_EQ(got.of(0, i), solo(*model_, r.prompt, kGen, sp)) << "fork " << i;
    distinct.insert(got.of(0, i));
  }
  EXPECT_GT(distinct.size(), 1u) << "different seeds should give different samples";
}

// -- tiny model: fast enough for the sanitizer builds ----------------------------------------

std::vector<RequestParams> tiny_requests(const Model& m, int count, int n_forks) {
  std::vector<RequestParams> reqs;
  for (int i = 0; i < count; ++i) {
    RequestParams r;
    r.prompt.clear();
    for (int k = 0; k < 3 + (i * 7) % 29; ++k) r.prompt.push_back((i * 31 + k * 17) % static_cast<int>(m.config().n_vocab));
    if (i % 3 == 0)  // a shared head for the prefix cache
      r.prompt.insert(r.prompt.begin(), {5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
    r.sampling = greedy();
    if (i % 4 == 1) {
      r.sampling.temperature = 1.0f;
      r.sampling.seed = 77 + static_cast<uint64_t>(i);
      r.n = n_forks;
    }
    r.max_tokens = 8 + i % 9;
    r.ignore_eos = true;
    reqs.push_back(r);
  }
  return reqs;
}

TEST(EngineTiny, BatchingPrefixCachingPreemptionAndForksMatchSoloRuns) {
  auto m = load(test::data_path("models/tiny-llama-q8_0-gqa2.gguf"));
  ASSERT_TRUE(m);
  const auto reqs = tiny_requests(*m, 16, 3);
  // Solo references (ignore_eos: generate() would stop at EOG; the engine is told not to,
  // so compare only requests whose solo run did not hit it).
  std::vector<std::vector<std::vector<int32_t>>> want;
  for (const RequestParams& r : reqs) {
    want.emplace_back();
    for (int32_t i = 0; i < r.n; ++i) {
      SamplerParams sp = r.sampling;
      sp.seed += static_cast<uint64_t>(i);
      want.back().push_back(solo(*m, r.prompt, r.max_tokens, sp));
    }
  }
  struct Config {
    const char* name;
    int32_t blocks, block_size, n_batch;
    bool prefix;
    bool expect_preemption;
  };
  for (const Config& c : {Config{"roomy", 256, 16, 512, false, false}, Config{"chunked", 256, 4, 16, false, false},
                          Config{"prefix", 256, 4, 40, true, false}, Config{"tight", 24, 4, 64, true, true},
                          Config{"tight-noprefix", 18, 8, 32, false, true}}) {
    SCOPED_TRACE(c.name);
    EngineOptions eo;
    eo.session.threads = 2;
    eo.session.n_ctx = 64;
    eo.session.kv_blocks = c.blocks;
    eo.session.block_size = c.block_size;
    eo.session.n_batch = c.n_batch;
    eo.session.prefix_caching = c.prefix;
    Outcome got = batched(*m, eo, reqs);
    for (size_t i = 0; i < reqs.size(); ++i)
      for (int32_t k = 0; k < reqs[i].n; ++k) {
        const auto& w = want[i][static_cast<size_t>(k)];
        if (static_cast<int32_t>(w.size()) < reqs[i].max_tokens) continue;  // solo hit EOG
        EXPECT_EQ(got.of(static_cast<int64_t>(i), k), w) << "request " << i << " sample " << k;
      }
    if (c.expect_preemption) {
      EXPECT_GT(got.stats.preemptions, 0);
    }
    if (c.prefix) {
      EXPECT_GT(got.stats.prefix_hit_rate, 0);
    }
  }
}

TEST(EngineTiny, Q8_0KvCacheBatchedEqualsSolo) {
  auto m = load(test::data_path("models/tiny-llama-q8_0-gqa2.gguf"));
  ASSERT_TRUE(m);
  if (m->config().head_dim % 32 != 0) {
    SessionOptions o;
    o.kv_type = DType::Q8_0;
    auto s = Session::create(*m, o);
    ASSERT_FALSE(s.ok()) << "a q8_0 cache needs head_dim % 32 == 0";
    EXPECT_NE(s.message().find("multiple of 32"), std::string::npos) << s.message();
    return;
  }
  const auto reqs = tiny_requests(*m, 8, 2);
  EngineOptions eo;
  eo.session.threads = 2;
  eo.session.n_ctx = 64;
  eo.session.kv_blocks = 40;
  eo.session.block_size = 4;
  eo.session.n_batch = 24;
  eo.session.kv_type = DType::Q8_0;
  Outcome got = batched(*m, eo, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    for (int32_t k = 0; k < reqs[i].n; ++k) {
      SamplerParams sp = reqs[i].sampling;
      sp.seed += static_cast<uint64_t>(k);
      const auto w = solo(*m, reqs[i].prompt, reqs[i].max_tokens, sp, 512, DType::Q8_0);
      if (static_cast<int32_t>(w.size()) < reqs[i].max_tokens) continue;
      EXPECT_EQ(got.of(static_cast<int64_t>(i), k), w) << "request " << i << " sample " << k;
    }
}

TEST(EngineTiny, StopStringsMaxTokensAndCancellation) {
  auto m = load(test::data_path("models/tiny-llama-f32-gqa1.gguf"));
  ASSERT_TRUE(m);
  EngineOptions eo;
  eo.session.n_ctx = 64;
  eo.session.kv_blocks = 64;
  auto e = Engine::create(*m, eo);
  ASSERT_TRUE(e.ok()) << e.message();
  Engine& en = **e;
  RequestParams r;
  r.prompt = {1, 2, 3, 4};
  r.sampling = greedy();
  r.max_tokens = 20;
  r.ignore_eos = true;
  // First learn the text it generates, then stop on a piece of it.
  auto id = en.submit(r);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(en.run_until_idle().ok());
  std::vector<Event> ev;
  ASSERT_TRUE(en.poll(*id, &ev).ok());
  std::string text;
  int tokens = 0;
  for (const Event& x : ev) {
    text += x.text;
    tokens += x.token >= 0;
  }
  EXPECT_EQ(tokens, 20);
  EXPECT_EQ(ev.back().reason, FinishReason::Length);
  ASSERT_GE(text.size(), 6u);
  const std::string stop = text.substr(text.size() / 2, 3);
  r.stop = {stop};
  auto id2 = en.submit(r);
  ASSERT_TRUE(id2.ok());
  ASSERT_TRUE(en.run_until_idle().ok());
  ASSERT_TRUE(en.poll(*id2, &ev).ok());
  std::string text2;
  for (const Event& x : ev) text2 += x.text;
  EXPECT_EQ(ev.back().reason, FinishReason::Stop);
  EXPECT_EQ(text2, text.substr(0, text.find(stop))) << "output ends right before the stop string";

  // Cancel a queued request: one final event, reason cancelled; cancelling again is an error.
  r.stop.clear();
  auto id3 = en.submit(r);
  ASSERT_TRUE(id3.ok());
  ASSERT_TRUE(en.cancel(*id3).ok());
  ASSERT_TRUE(en.run_until_idle().ok());
  ASSERT_TRUE(en.poll(*id3, &ev).ok());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, FinishReason::Cancelled);
  Status again = en.cancel(*id3);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("already finished"), std::string::npos) << again.message();
  EXPECT_EQ(en.stats().kv.used, 0);
}

TEST(EngineTiny, BadRequestsAreErrors) {
  auto m = load(test::data_path("models/tiny-llama-f32-gqa1.gguf"));
  ASSERT_TRUE(m);
  EngineOptions eo;
  eo.session.n_ctx = 64;
  eo.session.kv_blocks = 8;
  eo.session.block_size = 4;
  auto e = Engine::create(*m, eo);
  ASSERT_TRUE(e.ok());
  Engine& en = **e;
  auto expect = [](const Status& s, const std::string& what) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  RequestParams r;
  r.sampling = greedy();
  expect(en.submit(r).status(), "the prompt is empty");
  r.prompt = {1, 2, 99999};
  expect(en.submit(r).status(), "out of range");
  r.prompt = {1, 2, 3};
  r.n = 0;
  expect(en.submit(r).status(), "n (samples per prompt) must be at least 1");
  r.n = 1;
  r.max_tokens = 0;
  expect(en.submit(r).status(), "max_tokens must be at least 1");
  r.max_tokens = 1000;
  expect(en.submit(r).status(), "exceeds the context size");
  r.max_tokens = 40;  // 43 tokens = 11 blocks of 4 > 8 in the pool
  expect(en.submit(r).status(), "the pool has only 8");
  r.max_tokens = 4;
  r.sampling.temperature = -1;
  expect(en.submit(r).status(), "temperature");
  r.sampling = greedy();
  r.stop = {""};
  expect(en.submit(r).status(), "stop string is empty");
  expect(en.cancel(12345), "does not exist");
  std::vector<Event> ev;
  expect(en.poll(12345, &ev), "does not exist");
  expect(en.release(12345), "does not exist");
  EngineOptions bad = eo;
  bad.max_running = 0;
  expect(Engine::create(*m, bad).status(), "max running");
}

TEST(EngineTiny, CallbacksMayCallBackIntoTheEngine) {
  auto m = load(test::data_path("models/tiny-llama-f32-gqa1.gguf"));
  ASSERT_TRUE(m);
  EngineOptions eo;
  eo.session.n_ctx = 64;
  eo.session.kv_blocks = 64;
  auto e = Engine::create(*m, eo);
  ASSERT_TRUE(e.ok());
  Engine& en = **e;
  RequestParams r;
  r.prompt = {1, 2, 3};
  r.sampling = greedy();
  r.max_tokens = 30;
  r.ignore_eos = true;
  int events = 0;
  Status inner_step;
  int64_t self = -1;
  int64_t child = -1;
  auto id = en.submit(r, [&](const Event& ev) {
    ++events;
    if (events == 1) {
      inner_step = en.step();            // re-entering the loop is refused, not a deadlock
      EXPECT_TRUE(en.cancel(self).ok()); // cancelling itself from its own callback works
      auto c = en.submit(r);             // so does submitting
      EXPECT_TRUE(c.ok());
      child = c.ok() ? *c : -1;
      EXPECT_TRUE(en.request_stats(self).ok());
    }
    (void)ev;
  });
  ASSERT_TRUE(id.ok());
  self = *id;
  ASSERT_TRUE(en.run_until_idle().ok());
  EXPECT_FALSE(inner_step.ok());
  EXPECT_NE(inner_step.message().find("already running"), std::string::npos) << inner_step.message();
  EXPECT_LT(events, 30) << "the cancel took effect";
  auto st = en.request_stats(child);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->finished);
  EXPECT_EQ(st->generated, 30);
}

}  // namespace
}  // namespace ember::runtime
