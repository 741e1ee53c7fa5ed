// End-to-end forward pass against llama.cpp goldens (tests/data/goldens, made by
// scripts/golden/make_model_goldens.py): for every case, the prompt is evaluated in one step,
// then 64 greedy tokens are generated one step at a time.
//
// The default model must match exactly: every greedy token equal and every recorded logit
// equal to llama.cpp's within 1e-4 (the JSON's printing precision; the values are bit-equal).
// ember reproduces llama.cpp's x86 arithmetic without copying its code: activations are
// quantised to q8 bit for bit, the AVX2 dot products and attention sums add in llama.cpp's
// lane order (one or four accumulators, as llama.cpp picks per step), rope fuses like
// llama.cpp's build, and silu and softmax use the same published 8-lane exp
// (kernels/cpu/vecmath). Any one of these off by an ulp flips a q8 rounding now and then and
// 30 layers amplify it into logit differences of tenths, so exactness is a sharp test.
//
// That exactness is what EMBER_LLAMA_EXACT=1 selects (.ci/run runs these goldens under it). By
// default q4_1 and q8_0 weights run in the block-sum order instead (kernels/cpu/gemm/gemm.h:
// whole integer block sums, 16 rows per register, about 1.8x the prompt speed), which is
// another rounding of the same sums. On the default model that moves logits by up to ~1
// (measured worst 1.03, the scale of llama.cpp's own batch-vs-token spread, see kNearTie) and
// flips greedy tokens only at near ties (measured: 19 of 640, llama.cpp margins <= 0.14); the
// bound there is kBlockSumTolerance with the near-tie allowance. The tiny q8_0 model matches
// exactly in both modes.
//
// The tiny random-weight models check the other weight types and architectures. q8_0, q4_0,
// q4_K and q6_K match exactly: ember follows the arithmetic llama.cpp's AVX2 build picks per
// matmul, including where a batch is added in another order than single rows (the repacked
// q4_0/q4_K kernels, GEMM for complete groups of 4 prompt rows; the tiled q6_K matmul for 8 rows
// or more; kernels/cpu/gemm/gemm.h). Their prompts are evaluated with every position's logits,
// as llama.cpp was driven for the goldens (logits_all): its q6_K output matmul then saw the whole
// prompt, and ember's sees it too only when it computes every row.
// For f32/f16/bf16 ember follows llama.cpp's two dot orders (llamafile's sgemm for weights whose
// row count is a multiple of 4, ggml's vec_dot otherwise) but not yet every bit (the remaining
// differences are not traced yet), and random weights make near-ties common. There the bound is 0.25 absolute on the recorded logits (measured worst:
// f32 0.00011, f16 0.0029, qwen2 f16 0.0022, bf16 0.014; a wrong op moves logits by several
// units; every greedy token is equal today), and a greedy
// disagreement is accepted only where llama.cpp's own margin between its first and second
// choice is below kNearTie, for at most 5% of the tokens. Greedy tokens are compared under
// teacher forcing (llama.cpp's token is fed next, so one disagreement does not hide the
// rest); with no disagreement at all this equals free-running greedy decoding. Every
// disagreement is printed with its margin.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <gtest/gtest.h>
#include <numeric>

#include "kernels/cpu/gemm/gemm.h"
#include "runtime/session.h"
#include "support/json.h"
#include "support/test_support.h"

namespace ember::runtime {
namespace {

constexpr float kNearTie = 0.6f;        // llama.cpp's own batch-vs-token spread reaches 0.77
constexpr double kMinIdentical = 0.95;  // share of greedy tokens that must be identical
constexpr float kBlockSumTolerance = 1.5f;  // the default model in the block-sum order (above)


struct GoldenFile {
  std::string golden;  // file under tests/data/goldens
  bool default_model;  // the model is the fetched default model, not a tiny test model
  float tolerance;     // largest |logit - llama.cpp| accepted (see above)
  bool exact;          // every greedy token must equal llama.cpp's (no near-tie allowance)
  bool all_logits;     // evaluate the prompt with every position's logits (as the golden was made)
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
  // The default model (q4_1, q8_0 head) in the block-sum order: the looser bound above.
  const bool block_sums = gf.default_model && kernels::find_gemm_x16(kernels::kTypeQ4_1) != nullptr;
  const float tolerance = block_sums ? kBlockSumTolerance : gf.tolerance;
  const bool exact = gf.exact && !block_sums;
  if (block_sums) std::printf("[ forward ] %s: block-sum order (EMBER_LLAMA_EXACT unset)\n", gf.golden.c_str());

  float worst = 0;
  size_t compared = 0, tie_mismatches = 0;
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
    ASSERT_TRUE((*session)->eval(seq, prompt, gf.all_logits, &logits).ok());
    if (gf.all_logits) {  // keep the last position's row
      ASSERT_EQ(logits.size() % prompt.size(), 0u);
      const size_t n_vocab = logits.size() / prompt.size();
      logits.erase(logits.begin(), logits.end() - static_cast<std::ptrdiff_t>(n_vocab));
    }

    for (size_t k = 0; k < want.size(); ++k) {
      if (auto it = records.find(static_cast<int64_t>(k)); it != records.end()) {
        for (const test::Json& pair : (*it->second)["top"].arr) {
          const int32_t id = static_cast<int32_t>(pair[0].num);
          const float ref = static_cast<float>(pair[1].num);
          ASSERT_LT(static_cast<size_t>(id), logits.size());
          const float diff = std::fabs(logits[id] - ref);
          worst = std::max(worst, diff);
          EXPECT_LE(diff, tolerance) << "after " << k << " generated tokens, token " << id
                                           << ": ember " << logits[id] << ", llama.cpp " << ref;
        }
      }
      const int32_t got = argmax(logits);
      ++compared;
      if (got != want[k]) {
        // Teacher forcing: llama.cpp's token is fed next either way, so one disagreement
        // does not hide the steps after it.
        const bool near_tie = !exact && k < margins.size() && margins[k] < kNearTie;
        if (near_tie) {
          ++tie_mismatches;
        } else {
          ADD_FAILURE() << "greedy token " << k << ": ember picked " << got << " (" << logits[got]
                        << "), llama.cpp " << want[k] << " (ember's logit for it " << logits[want[k]]
                        << ", llama.cpp's margin " << (k < margins.size() ? margins[k] : -1.0f) << ")";
        }
        std::printf("[ forward ]   case %s step %zu: ember %d, llama.cpp %d, llama.cpp margin %.4f%s\n",
                    c["name"].str.c_str(), k, got, want[k], k < margins.size() ? margins[k] : -1.0f,
                    near_tie ? " (near tie)" : "");
      }
      if (k + 1 == want.size()) break;
      int32_t next = want[k];
      ASSERT_TRUE((*session)->eval(seq, std::span<const int32_t>(&next, 1), false, &logits).ok());
    }
  }
  EXPECT_GE(static_cast<double>(compared - tie_mismatches), kMinIdentical * static_cast<double>(compared))
      << tie_mismatches << " of " << compared << " greedy tokens differ from llama.cpp's";
  std::printf("[ forward ] %s: %zu greedy tokens compared, %zu differ at a near tie, "
              "largest |logit - llama.cpp| = %.5f\n",
              gf.golden.c_str(), compared, tie_mismatches, worst);
}

std::vector<GoldenFile> golden_files() {
  return {
      // The default model's prompts (up to 1,386 tokens, 49,152-token vocabulary) are evaluated
      // for the last position only: its output weights have no batch-dependent arithmetic.
      {"SmolLM2-135M-Instruct.Q4_1.json", true, 1e-4f, true, false},
      {"tiny-llama-f32-gqa1.json", false, 0.25f, false, true},
      {"tiny-llama-f16-gqa4.json", false, 0.25f, false, true},
      {"tiny-llama-bf16-gqa8.json", false, 0.25f, false, true},
      {"tiny-llama-q8_0-gqa2.json", false, 1e-4f, true, true},
      {"tiny-llama-q4_0-gqa2.json", false, 1e-4f, true, true},
      {"tiny-llama-q4_k-gqa4-output.json", false, 1e-4f, true, true},
      {"tiny-llama-q6_k-gqa8.json", false, 1e-4f, true, true},
      {"tiny-qwen2-f16-bias-gqa2.json", false, 0.25f, false, true},
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
