// The graph compiler end to end: for every forward golden (tests/data/goldens: the tiny test
// models and the default model), the prompt and a teacher-forced continuation are evaluated
// with the full pipeline and again with the passes of one variant switched off ("none": every
// pass off; "-NAME": one pass off). Every logit must be bit-identical to the full pipeline's
// (merges and fusions compute the same float operations in the same order), and the greedy
// tokens must match llama.cpp's wherever llama.cpp's own margin is not a near tie, as in
// tests/runtime/forward_test.cpp. The pipeline verifies the graph after every pass here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "graph/passes/pipeline.h"
#include "runtime/session.h"
#include "support/json.h"
#include "support/test_support.h"

namespace ember {
namespace {

constexpr float kNearTie = 0.6f;  // as in tests/runtime/forward_test.cpp
constexpr size_t kSteps = 12;     // teacher-forced decode steps per case

struct Variant {
  std::string golden;
  bool default_model;
  std::string passes;  // the --passes value of the variant
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.golden << " " << v.passes; }

struct StepLogits {
  std::vector<std::vector<float>> logits;  // per evaluated step
};

// Evaluates each case's prompt in one step, then kSteps of llama.cpp's greedy tokens.
StepLogits run_cases(const runtime::Model& model, const test::Json& g, const std::string& passes, bool default_model) {
  StepLogits out;
  auto off = graph::parse_pass_list(passes);
  EXPECT_TRUE(off.ok()) << off.message();
  size_t n_cases = 0;
  for (const test::Json& c : g["cases"].arr) {
    if (default_model && n_cases++ == 2) break;  // two prompts of the default model keep it short
    std::vector<int32_t> prompt, want;
    for (const test::Json& t : c["prompt_ids"].arr) prompt.push_back(static_cast<int32_t>(t.num));
    for (const test::Json& t : c["greedy_ids"].arr) want.push_back(static_cast<int32_t>(t.num));
    runtime::SessionOptions so;
    so.threads = 2;
    so.n_ctx = static_cast<int32_t>(prompt.size() + kSteps + 1);
    so.n_batch = static_cast<int32_t>(prompt.size());
    so.passes.disabled = *off;
    so.passes.verify = true;
    auto session = runtime::Session::create(model, so);
    EXPECT_TRUE(session.ok()) << session.message();
    if (!session.ok()) return out;
    const int32_t seq = (*session)->new_sequence();
    std::vector<float> logits;
    Status s = (*session)->eval(seq, prompt, false, &logits);
    EXPECT_TRUE(s.ok()) << s.message();
    out.logits.push_back(logits);
    for (size_t k = 0; k + 1 < std::min(kSteps, want.size()); ++k) {
      s = (*session)->eval(seq, std::span<const int32_t>(&want[k], 1), false, &logits);
      EXPECT_TRUE(s.ok()) << s.message();
      out.logits.push_back(logits);
    }
  }
  return out;
}

class PipelineForward : public ::testing::TestWithParam<Variant> {};

TEST_P(PipelineForward, LogitsBitIdenticalToFullPipelineAndGreedyMatchesLlamaCpp) {
  const Variant& v = GetParam();
  test::Json g;
  std::string err;
  ASSERT_TRUE(test::load_json(test::data_path("goldens/" + v.golden), &g, &err)) << err;
  std::string path = v.default_model ? test::default_model_path() : test::data_path("models/" + g["model"].str);
  ASSERT_FALSE(path.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  auto model = runtime::Model::load(path);
  ASSERT_TRUE(model.ok()) << model.message();

  const StepLogits full = run_cases(**model, g, "all", v.default_model);
  const StepLogits variant = run_cases(**model, g, v.passes, v.default_model);
  ASSERT_EQ(full.logits.size(), variant.logits.size());
  ASSERT_FALSE(full.logits.empty());
  for (size_t s = 0; s < full.logits.size(); ++s) {
    ASSERT_EQ(full.logits[s].size(), variant.logits[s].size());
    size_t differ = 0;
    for (size_t i = 0; i < full.logits[s].size(); ++i)
      differ += std::memcmp(&full.logits[s][i], &variant.logits[s][i], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0u) << "step " << s << ": " << differ << " logits differ from the full pipeline's";
  }

  // Greedy tokens of the variant against llama.cpp's (the logits are those of the full
  // pipeline when the check above passed, so this is the golden check for both).
  size_t step = 0, n_cases = 0;
  for (const test::Json& c : g["cases"].arr) {
    if (v.default_model && n_cases++ == 2) break;
    const auto& ids = c["greedy_ids"].arr;
    const auto& margins = c["greedy_margins"].arr;
    for (size_t k = 0; k < std::min(kSteps, ids.size()); ++k, ++step) {
      const std::vector<float>& l = variant.logits[step];
      const int32_t got = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      const int32_t want = static_cast<int32_t>(ids[k].num);
      const float margin = k < margins.size() ? static_cast<float>(margins[k].num) : 0.0f;
      if (margin >= kNearTie) {
        EXPECT_EQ(got, want) << "case " << c["name"].str << " greedy token " << k;
      }
    }
  }
}

std::vector<Variant> variants() {
  const std::vector<std::pair<std::string, bool>> goldens = {
      {"SmolLM2-135M-Instruct.Q4_1.json", true},  {"tiny-llama-f32-gqa1.json", false},
      {"tiny-llama-f16-gqa4.json", false},         {"tiny-llama-bf16-gqa8.json", false},
      {"tiny-llama-q8_0-gqa2.json", false},        {"tiny-llama-q4_0-gqa2.json", false},
      {"tiny-llama-q4_k-gqa4-output.json", false}, {"tiny-llama-q6_k-gqa8.json", false},
      {"tiny-qwen2-f16-bias-gqa2.json", false},
  };
  std::vector<Variant> out;
  for (const auto& [golden, def] : goldens) {
    out.push_back({golden, def, "none"});
    for (const graph::Pass& p : graph::pipeline()) out.push_back({golden, def, std::string("-") + p.name});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Goldens, PipelineForward, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& i) {
                           std::string n = i.param.golden.substr(0, i.param.golden.find(".json")) + "_" +
                                           (i.param.passes == "none" ? "none" : "no" + i.param.passes);
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ember
