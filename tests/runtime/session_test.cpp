// Session and generation error paths: every bad request is an error naming what was wrong,
// and the session stays usable afterwards.
#include <gtest/gtest.h>

#include "runtime/generate.h"
#include "runtime/session.h"
#include "support/test_support.h"

namespace ember::runtime {
namespace {

std::unique_ptr<Model> tiny() {
  auto m = Model::load(test::data_path("models/tiny-llama-f32-gqa1.gguf"));
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? std::move(m).value() : nullptr;
}

void expect_error(const Status& s, const std::string& what) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

TEST(Session, CreateRefusesBadOptions) {
  auto m = tiny();
  ASSERT_TRUE(m);
  SessionOptions o;
  o.n_ctx = 100000;
  expect_error(Session::create(*m, o).status(), "larger than the 256 positions");
  o.n_ctx = -3;
  expect_error(Session::create(*m, o).status(), "context size must be positive");
  o.n_ctx = 64;
  o.n_batch = 0;
  expect_error(Session::create(*m, o).status(), "batch size must be positive");
  o.n_batch = 16;
  o.threads = 0;
  expect_error(Session::create(*m, o).status(), "thread count");
  o.threads = 1;
  o.block_size = 0;
  EXPECT_FALSE(Session::create(*m, o).ok());
}

TEST(Session, StepRefusesBadBatchesAndStaysUsable) {
  auto m = tiny();
  ASSERT_TRUE(m);
  SessionOptions o;
  o.n_ctx = 32;
  o.n_batch = 8;
  o.block_size = 4;
  auto s = Session::create(*m, o);
  ASSERT_TRUE(s.ok()) << s.message();
  Session& ss = **s;
  const int32_t seq = ss.new_sequence();
  std::vector<float> logits;
  expect_error(ss.step({}, &logits), "empty batch");
  std::vector<BatchToken> bad_id = {{static_cast<int32_t>(m->config().n_vocab), seq, true}};
  expect_error(ss.step(bad_id, &logits), "out of range");
  std::vector<BatchToken> neg_id = {{-1, seq, true}};
  expect_error(ss.step(neg_id, &logits), "out of range");
  std::vector<BatchToken> bad_seq = {{1, seq + 5, true}};
  expect_error(ss.step(bad_seq, &logits), "sequence " + std::to_string(seq + 5) + " does not exist");
  std::vector<BatchToken> too_many(9, BatchToken{1, seq, false});
  expect_error(ss.step(too_many, &logits), "exceeds n_batch");
  EXPECT_EQ(ss.seq_len(seq), 0) << "a refused step must not change the sequence";

  // Fill the context exactly, then one more token is refused.
  std::vector<int32_t> ids(32, 5);
  ASSERT_TRUE(ss.eval(seq, ids, false, &logits).ok());
  EXPECT_EQ(ss.seq_len(seq), 32);
  int32_t one = 5;
  expect_error(ss.eval(seq, std::span<const int32_t>(&one, 1), false, &logits), "beyond the context size");
  // Freeing returns the blocks; a new sequence can use the whole context again.
  ss.free_sequence(seq);
  EXPECT_EQ(ss.blocks().available(), ss.blocks().n_blocks());
  const int32_t seq2 = ss.new_sequence();
  EXPECT_TRUE(ss.eval(seq2, ids, true, &logits).ok());
  EXPECT_EQ(logits.size(), 32u * static_cast<size_t>(m->config().n_vocab));
}

TEST(Session, KvPoolFullIsAnErrorNotACrash) {
  auto m = tiny();
  ASSERT_TRUE(m);
  SessionOptions o;
  o.n_ctx = 16;  // 4 blocks of 4, shared by all sequences
  o.block_size = 4;
  auto s = Session::create(*m, o);
  ASSERT_TRUE(s.ok());
  Session& ss = **s;
  const int32_t a = ss.new_sequence(), b = ss.new_sequence();
  std::vector<float> logits;
  std::vector<int32_t> ids(12, 7);
  ASSERT_TRUE(ss.eval(a, ids, false, &logits).ok());
  std::vector<int32_t> more(8, 7);
  expect_error(ss.eval(b, more, false, &logits), "kv cache is full");
}

TEST(Generate, RefusesBadRequests) {
  auto m = tiny();
  ASSERT_TRUE(m);
  SessionOptions o;
  o.n_ctx = 16;
  auto s = Session::create(*m, o);
  ASSERT_TRUE(s.ok());
  auto sampler = Sampler::create(SamplerParams{});
  ASSERT_TRUE(sampler.ok());
  const int32_t seq = (*s)->new_sequence();
  auto sink = [](int32_t) { return true; };
  std::vector<int32_t> prompt = {1, 2, 3};
  expect_error(generate(**s, seq, prompt, 0, *sampler, sink, nullptr), "at least 1");
  expect_error(generate(**s, seq, {}, 4, *sampler, sink, nullptr), "the prompt is empty");
  std::vector<int32_t> long_prompt(17, 3);
  expect_error(generate(**s, seq, long_prompt, 4, *sampler, sink, nullptr), "the context holds 16");
  expect_error(generate(**s, seq + 9, prompt, 4, *sampler, sink, nullptr), "does not exist");
  GenerationStats st;
  EXPECT_TRUE(generate(**s, seq, prompt, 4, *sampler, sink, &st).ok());
  EXPECT_EQ(st.n_prompt, 3);
  EXPECT_GE(st.n_gen, 1);
}

}  // namespace
}  // namespace ember::runtime
