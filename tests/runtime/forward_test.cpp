// End-to-end forward pass against llama.cpp goldens (tests/data/goldens, made by
// scripts/golden/make_model_goldens.py): for every case, the prompt is evaluated in one step,
// then 64 greedy tokens are generated one step at a time. Every greedy token must equal
// llama.cpp's, and the recorded top-10 logits must agree within kLogitTolerance.
//
// Why a tolerance, and why this one: ember and llama.cpp quantise activations identically
// (q8_0 / q8_1 / q8_K, bit for bit) and use the same f16 KV cache, so what differs is the
// order of f32 accumulation (SIMD lanes, FMA contraction, llama.cpp's repacked GEMMs) and
// transcendental approximations (expf in silu/softmax). llama.cpp itself moves by as much
// when only its own configuration changes: on tiny-llama-q4_k-gqa4-output, case ids_long,
// the top logit is 9.889 (repacked weights, one batch), 9.985 (no repack, one batch) and
// 9.966 (no repack, token by token), a spread of 0.095; ember gives 9.913. So the bound is
// relative: |ember - llama.cpp| <= kAbsTol + kRelTol * |logit|.
//
// Greedy tokens must be identical. The one exception is a near tie: when llama.cpp's own
// margin between its best and second-best logit is below twice the bound, both engines
// are within noise of either choice, the continuations may legitimately part, and the case
// stops being compared there. The test prints how many tokens each file compared, and for
// the default model every case must be compared to the end.
#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <numeric>

#include "runtime/session.h"
#include "support/json.h"
#include "support/test_support.h"

namespace ember::runtime {
namespace {

constexpr float kAbsTol = 0.02f;
constexpr float kRelTol = 0.01f;
float bound(float logit) { return kAbsTol + kRelTol * std::fabs(logit); }

struct GoldenFile {
  std::string golden;  // file under tests/data/goldens
  bool default_model;  // the model is the fetched default model, not a tiny test model
};

std::ostream& operator<<(std::ostream& os, const GoldenFile& g) { return os << g.golden; }

class ForwardGolden : public ::testing::TestWithParam<GoldenFile> {};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST_P(ForwardGolden, GreedyTokensAndLogitsMatchLlamaCpp) {
  const GoldenFile& gf = GetParam();
  test::Json g;
  std::string err;
  ASSERT_TRUE(test::load_json(test::data_path("goldens/" + gf.golden), &g, &err)) << err;
  std::string model_path;
  if (gf.default_model) {
    model_path = test::default_model_path();
    ASSERT_FALSE(model_path.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  } else {
    model_path = test::data_path("models/" + g["model"].str);
  }
  auto model = Model::load(model_path);
  ASSERT_TRUE(model.ok()) << model.message();

  float worst = 0;
  size_t compared = 0, total = 0, stopped_cases = 0;
  for (const test::Json& c : g["cases"].arr) {
    SCOPED_TRACE("case " + c["name"].str);
    std::vector<int32_t> prompt;
    for (const test::Json& t : c["prompt_ids"].arr) prompt.push_back(static_cast<int32_t>(t.num));
    std::vector<int32_t> want;
    for (const test::Json& t : c["greedy_ids"].arr) want.push_back(static_cast<int32_t>(t.num));
    std::vector<float> margins;
    for (const test::Json& t : c["greedy_margins"].arr) margins.push_back(static_cast<float>(t.num));
    std::map<int64_t, const test::Json*> records;
    for (const test::Json& r : c["top_logits"].arr) records[r["after_n_generated"].as_int()] = &r;

    SessionOptions so;
    so.threads = 2;
    so.n_ctx = static_cast<int32_t>(prompt.size() + want.size() + 1);
    so.n_batch = static_cast<int32_t>(prompt.size());
    auto session = Session::create(**model, so);
    ASSERT_TRUE(session.ok()) << session.message();
    int32_t seq = (*session)->new_sequence();
    std::vector<float> logits;
    ASSERT_TRUE((*session)->eval(seq, prompt, false, &logits).ok());

    for (size_t k = 0; k < want.size(); ++k) {
      if (auto it = records.find(static_cast<int64_t>(k)); it != records.end()) {
        for (const test::Json& pair : (*it->second)["top"].arr) {
          const int32_t id = static_cast<int32_t>(pair[0].num);
          const float ref = static_cast<float>(pair[1].num);
          ASSERT_LT(static_cast<size_t>(id), logits.size());
          const float diff = std::fabs(logits[id] - ref);
          worst = std::max(worst, diff);
          EXPECT_LE(diff, bound(ref)) << "after " << k << " generated tokens, token " << id
                                           << ": ember " << logits[id] << ", llama.cpp " << ref;
        }
      }
      total += want.size() - k;
      const float top_logit = *std::max_element(logits.begin(), logits.end());
      if (k < margins.size() && margins[k] < 2 * bound(top_logit)) {
        ++stopped_cases;
        break;  // a near tie in llama.cpp itself: see the header comment
      }
      total -= want.size() - k;
      ++compared;
      ++total;
      const int32_t got = argmax(logits);
      if (got != want[k]) {
        std::vector<float> sorted = logits;
        std::sort(sorted.rbegin(), sorted.rend());
        ADD_FAILURE() << "largest logit difference so far " << worst;
        FAIL() << "greedy token " << k << ": ember picked " << got << " (" << logits[got] << "), llama.cpp "
               << want[k] << " (ember's logit for it " << logits[want[k]] << "; ember's top-2 margin "
               << sorted[0] - sorted[1] << ")";
      }
      if (k + 1 == want.size()) break;
      int32_t next = want[k];
      ASSERT_TRUE((*session)->eval(seq, std::span<const int32_t>(&next, 1), false, &logits).ok());
    }
  }
  std::printf("[ forward ] %s: %zu of %zu greedy tokens compared (%zu cases stopped at a near tie), "
              "largest |logit - llama.cpp| = %.5f\n",
              gf.golden.c_str(), compared, total, stopped_cases, worst);
  if (gf.default_model) {
    EXPECT_EQ(stopped_cases, 0u) << "every default-model case must be compared to the end";
  }
}

std::vector<GoldenFile> golden_files() {
  return {
      {"SmolLM2-135M-Instruct.Q4_1.json", true},
      {"tiny-llama-f32-gqa1.json", false},
      {"tiny-llama-f16-gqa4.json", false},
      {"tiny-llama-bf16-gqa8.json", false},
      {"tiny-llama-q8_0-gqa2.json", false},
      {"tiny-llama-q4_0-gqa2.json", false},
      {"tiny-llama-q4_k-gqa4-output.json", false},
      {"tiny-llama-q6_k-gqa8.json", false},
      {"tiny-qwen2-f16-bias-gqa2.json", false},
  };
}

INSTANTIATE_TEST_SUITE_P(Goldens, ForwardGolden, ::testing::ValuesIn(golden_files()),
                         [](const ::testing::TestParamInfo<GoldenFile>& i) {
                           std::string n = i.param.golden.substr(0, i.param.golden.find(".json"));
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ember::runtime
