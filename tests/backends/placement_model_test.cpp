// Whole models placed across devices (graph/passes/place.cpp, Session over per-device runs)
// against the same model on the CPU alone: the prompt in one step, then greedy decoding one
// token at a time, both sessions fed the CPU's pick (teacher forcing), comparing at every
// step the greedy token and the largest |logit difference| over the whole vocabulary.
//
//   - CPU/OpenCL split by layers (first half of the layers on opencl:0, the rest on the CPU):
//     the default model (kDefaultCases prompts x 32 tokens: PoCL is slow) and the tiny golden
//     models (every prompt, every golden token). Skips, visibly, only where no OpenCL platform
//     exists. Tolerances are opencl_model_test.cpp's (1.25 for the default model, 0.25/0.5 for
//     the tiny ones), for the same reason: OpenCL keeps matmul activations in f32 where the CPU
//     quantises them to q8 (or rounds to f16).
//   - CPU + npu-ref (--device npu-ref:0: the NPU takes what it runs, the CPU the rest): the
//     tiny f32/f16 models (the NPU runs their matmuls, norms, muls, adds and silu·mul) and the
//     default model (Q4_1 matmuls stay on the CPU; the NPU runs the f32 element-wise ops).
//     Fails if the npu-ref plugin is missing. npu-ref converts f16 weights to f32 and sums in
//     double, where the CPU rounds activations to f16 (f16 weights) or q8 before the dot
//     product; kNpuTolerance is the bound measured (see below) rounded up.
//
// As in opencl_model_test.cpp: greedy tokens must be the CPU's for the first 32 steps, except
// where the CPU's own top two logits are closer than kNearTie (reported), at least
// kMinIdentical of all steps must agree, and the CPU's top-10 logits must be within the
// tolerance. Measured (this machine, PoCL 5 / npu-ref): default model split 0-14 opencl,
// 15-29 cpu: 2 of 64 tokens differ (cpu margins 0.19, 0.27), 1.06-1.28 on the top 10 (the
// tuner's kernel choice varies; bound 1.75 for this case, see below); tiny models
// split: at most 0.48 (q4_0), 9 of 192 tokens at near ties; default model + npu-ref: 1 of 64
// (margin 0.35), 0.99; tiny f32/f16 + npu-ref: 0 differ, at most 0.045.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "backends/plugin/plugin.h"
#include "runtime/session.h"
#include "support/json.h"
#include "support/test_support.h"

namespace ember::runtime {
namespace {

constexpr float kNearTie = 0.6f;        // as opencl_model_test.cpp
constexpr double kMinIdentical = 0.9;   // likewise, over every step compared
constexpr size_t kDefaultCases = 2;
constexpr size_t kDefaultTokens = 32;

struct PlaceCase {
  const char* name;
  const char* golden;   // tests/data/goldens/<golden>: the prompts (and the model)
  bool default_model;
  const char* device;   // "opencl" (split by layers) or "npu-ref:0" (--device)
  float tolerance;      // largest |logit(placed) - logit(cpu)| accepted
};
std::ostream& operator<<(std::ostream& os, const PlaceCase& c) { return os << c.name; }

class PlacedModel : public ::testing::TestWithParam<PlaceCase> {};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}
float margin(const std::vector<float>& v) {
  const int32_t a = argmax(v);
  float second = -INFINITY;
  for (size_t i = 0; i < v.size(); ++i)
    if (static_cast<int32_t>(i) != a) second = std::max(second, v[i]);
  return v[a] - second;
}

TEST_P(PlacedModel, GreedyTokensAndLogitsMatchTheCpu) {
  const PlaceCase& pc = GetParam();
  setenv("EMBER_OPENCL_TUNE_CACHE", (test::tmp_dir() + "/opencl-tune.txt").c_str(), 0);
  setenv("EMBER_NPU_REF_CACHE_DIR", test::tmp_dir().c_str(), 0);
  const bool opencl = std::string(pc.device) == "opencl";
  plugin::Registry reg;
  const std::string lib = std::string(EMBER_PLUGIN_DIR) + (opencl ? "/libember-opencl.so" : "/libember-npu-ref.so");
  if (opencl && !test::file_exists(lib)) GTEST_SKIP() << "the OpenCL plugin is not built (no OpenCL found)";
  const plugin::PluginRecord& rec = reg.load_file(lib);
  if (opencl && (!rec.loaded || rec.devices.empty()))
    GTEST_SKIP() << "no OpenCL device: " << (rec.loaded ? rec.note : rec.refusal);
  ASSERT_TRUE(rec.loaded) << lib << ": " << rec.refusal;
  ASSERT_FALSE(rec.devices.empty()) << lib << " has no device";
  const std::string dev_name = rec.devices[0].info.name;

  test::Json g;
  std::string err;
  ASSERT_TRUE(test::load_json(test::data_path(std::string("goldens/") + pc.golden), &g, &err)) << err;
  const std::string model_path =
      pc.default_model ? test::default_model_path() : test::data_path("models/" + g["model"].str);
  ASSERT_FALSE(model_path.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  auto model = Model::load(model_path);
  ASSERT_TRUE(model.ok()) << model.message();
  const int64_t n_layer = (*model)->config().n_layer;

  SessionOptions placed_opts;
  if (opencl) {
    const int64_t half = std::max<int64_t>(1, n_layer / 2);
    std::string split = "layers:0-" + std::to_string(half - 1) + "=" + dev_name;
    if (half < n_layer) split += "," + std::to_string(half) + "-" + std::to_string(n_layer - 1) + "=cpu";
    auto p = graph::parse_placement("", split);
    ASSERT_TRUE(p.ok()) << p.message();
    placed_opts.placement = *p;
  } else {
    auto p = graph::parse_placement(dev_name, "");
    ASSERT_TRUE(p.ok()) << p.message();
    placed_opts.placement = *p;
  }

  float worst = 0, worst_all = 0;
  size_t compared = 0, differ = 0;
  double placed_s = 0;
  size_t placed_steps = 0, n_cases = 0;
  for (const test::Json& c : g["cases"].arr) {
    if (pc.default_model && n_cases++ == kDefaultCases) break;
    SCOPED_TRACE("case " + c["name"].str);
    std::vector<int32_t> prompt;
    for (const test::Json& t : c["prompt_ids"].arr) prompt.push_back(static_cast<int32_t>(t.num));
    size_t n_gen = c["greedy_ids"].arr.size();
    if (pc.default_model) n_gen = std::min(n_gen, kDefaultTokens);
    n_gen = std::max<size_t>(n_gen, 32);

    SessionOptions so = placed_opts;
    so.threads = 2;
    so.n_ctx = static_cast<int32_t>(prompt.size() + n_gen + 1);
    so.n_batch = static_cast<int32_t>(prompt.size());
    SessionOptions cpu_opts = so;
    cpu_opts.placement = {};
    auto cpu = Session::create(**model, cpu_opts);
    ASSERT_TRUE(cpu.ok()) << cpu.message();
    std::vector<SessionDevice> devices;
    auto be = reg.open(dev_name);
    ASSERT_TRUE(be.ok()) << be.message();
    devices.push_back({dev_name, std::move(be).value()});
    auto placed = Session::create(**model, so, std::move(devices));
    ASSERT_TRUE(placed.ok()) << placed.message();
    if (opencl) {  // the first half's KV pools live on the device, the rest on the CPU
      EXPECT_EQ((*placed)->kv_devices().front(), 1);
      if (n_layer > 1) {
        EXPECT_EQ((*placed)->kv_devices().back(), 0);
      }
    }

    const int32_t s_cpu = (*cpu)->new_sequence(), s_dev = (*placed)->new_sequence();
    std::vector<float> want, got;
    ASSERT_TRUE((*cpu)->eval(s_cpu, prompt, false, &want).ok());
    Status st = (*placed)->eval(s_dev, prompt, false, &got);
    ASSERT_TRUE(st.ok()) << st.message();
    for (size_t k = 0; k < n_gen; ++k) {
      ASSERT_EQ(want.size(), got.size());
      // The CPU's ten most likely tokens (what the goldens record and the tolerance bounds).
      std::vector<int32_t> top(want.size());
      for (size_t i = 0; i < top.size(); ++i) top[i] = static_cast<int32_t>(i);
      const size_t n_top = std::min<size_t>(10, top.size());
      std::partial_sort(top.begin(), top.begin() + n_top, top.end(),
                        [&](int32_t a, int32_t b) { return want[a] > want[b]; });
      float step_worst = 0;
      for (size_t i = 0; i < n_top; ++i) {  // (written so that a NaN becomes the worst and fails)
        const float d = std::fabs(want[top[i]] - got[top[i]]);
        if (!(d <= step_worst)) step_worst = d;
      }
      for (size_t i = 0; i < want.size(); ++i) worst_all = std::max(worst_all, std::fabs(want[i] - got[i]));
      worst = std::max(worst, step_worst);
      EXPECT_LE(step_worst, pc.tolerance) << "after " << k << " tokens";
      const int32_t w = argmax(want), p = argmax(got);
      ++compared;
      if (w != p) {
        ++differ;
        const float m = margin(want);
        if (k < 32 && m >= kNearTie)
          ADD_FAILURE() << "greedy token " << k << ": placed picked " << p << ", cpu " << w << " (cpu margin " << m << ")";
        std::printf("[ placed ] case %s step %zu: placed %d, cpu %d, cpu margin %.4f\n", c["name"].str.c_str(), k, p,
                    w, m);
      }
      if (k + 1 == n_gen) break;
      ASSERT_TRUE((*cpu)->eval(s_cpu, std::span<const int32_t>(&w, 1), false, &want).ok());
      const auto t0 = std::chrono::steady_clock::now();
      st = (*placed)->eval(s_dev, std::span<const int32_t>(&w, 1), false, &got);
      placed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++placed_steps;
      ASSERT_TRUE(st.ok()) << st.message();
    }
  }
  EXPECT_GE(static_cast<double>(compared - differ), kMinIdentical * static_cast<double>(compared))
      << differ << " of " << compared << " greedy tokens differ";
  std::printf("[ placed ] %s (%s): %zu greedy tokens, %zu differ from the cpu, largest |logit diff| %.4f over "
              "the cpu's top 10 (%.4f over the vocabulary), placed decode %.1f tokens/s\n",
              pc.name, dev_name.c_str(), compared, differ, worst, worst_all,
              placed_s > 0 ? placed_steps / placed_s : 0.0);
}

// Measured on the tiny f32/f16 models: at most 0.045 (f16: the CPU rounds activations to f16
// before the dot product, npu-ref does not). The default model with npu-ref keeps the CPU's
// bound, 1.25: its Q4_1 matmuls stay on the CPU, but npu-ref's rms_norm, silu·mul and adds use
// std::exp and their own summation order, which moves the q8 quantisation of the next matmul's
// activations by a rounding here and there (measured: 0.99 on the top 10, 1.77 on the vocabulary).
constexpr float kNpuTolerance = 0.1f;

// Copy-on-write of KV blocks that live in device memory: a sequence forked in the middle of a
// block, then both branches extended differently, on a session whose first layer's pools are
// OpenCL buffers (copied through the device's queue) and whose second layer's are the CPU's.
// Each branch's logits must be those of the same tokens evaluated on a fresh sequence.
TEST(PlacedSession, ForkedSequencesCopyDeviceKvBlocks) {
  setenv("EMBER_OPENCL_TUNE_CACHE", (test::tmp_dir() + "/opencl-tune.txt").c_str(), 0);
  plugin::Registry reg;
  const std::string lib = std::string(EMBER_PLUGIN_DIR) + "/libember-opencl.so";
  if (!test::file_exists(lib)) GTEST_SKIP() << "the OpenCL plugin is not built (no OpenCL found)";
  const plugin::PluginRecord& rec = reg.load_file(lib);
  if (!rec.loaded || rec.devices.empty()) GTEST_SKIP() << "no OpenCL device: " << (rec.loaded ? rec.note : rec.refusal);
  const std::string dev = rec.devices[0].info.name;
  auto model = Model::load(test::data_path("models/tiny-llama-f32-gqa1.gguf"));
  ASSERT_TRUE(model.ok()) << model.message();
  ASSERT_GE((*model)->config().n_layer, 2);
  SessionOptions so;
  so.n_ctx = 64;
  so.block_size = 4;
  so.kv_blocks = 32;
  auto policy = graph::parse_placement("", "layers:0=" + dev);
  ASSERT_TRUE(policy.ok()) << policy.message();
  so.placement = *policy;
  std::vector<SessionDevice> devices;
  auto be = reg.open(dev);
  ASSERT_TRUE(be.ok()) << be.message();
  devices.push_back({dev, std::move(be).value()});
  auto s = Session::create(**model, so, std::move(devices));
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ((*s)->kv_devices()[0], 1);
  ASSERT_EQ((*s)->kv_devices()[1], 0);

  const std::vector<int32_t> prefix = {1, 17, 42, 99, 7, 3};  // 1.5 blocks: the fork shares a partial block
  const std::vector<int32_t> a = {11, 12, 13}, b = {21, 22, 23};
  const int32_t base = (*s)->new_sequence();
  std::vector<float> la, lb, ref;
  ASSERT_TRUE((*s)->eval(base, prefix, false, &la).ok());
  const int32_t fork = (*s)->fork_sequence(base);
  ASSERT_GE(fork, 0);
  ASSERT_EQ((*s)->blocks().table(base), (*s)->blocks().table(fork));
  Status st = (*s)->eval(base, a, false, &la);
  ASSERT_TRUE(st.ok()) << st.message();
  st = (*s)->eval(fork, b, false, &lb);
  ASSERT_TRUE(st.ok()) << st.message();
  // The partial block was copied for the branch that appended first.
  ASSERT_EQ((*s)->blocks().table(base)[0], (*s)->blocks().table(fork)[0]);
  ASSERT_NE((*s)->blocks().table(base)[1], (*s)->blocks().table(fork)[1]);
  for (const auto* tail : {&a, &b}) {
    std::vector<int32_t> all = prefix;
    all.insert(all.end(), tail->begin(), tail->end());
    const int32_t fresh = (*s)->new_sequence();
    std::vector<int32_t> head(all.begin(), all.begin() + prefix.size());
    ASSERT_TRUE((*s)->eval(fresh, head, false, &ref).ok());
    ASSERT_TRUE((*s)->eval(fresh, *tail, false, &ref).ok());
    const std::vector<float>& got = tail == &a ? la : lb;
    ASSERT_EQ(got.size(), ref.size());
    size_t unequal = 0;  // (a NaN is unequal too)
    for (size_t i = 0; i < ref.size(); ++i) unequal += !(got[i] == ref[i]);
    EXPECT_EQ(unequal, 0u) << "branch " << (tail == &a ? "a" : "b") << ": same tokens, same steps, same logits";
    (*s)->free_sequence(fresh);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Goldens, PlacedModel,
    ::testing::Values(
        // 1.75, not opencl_model_test's 1.25: the tuner picks the OpenCL matmul kernel by timing,
        // so its summation order varies from run to run; measured 1.06 with one choice and 1.28
        // with another (a fresh tuning cache in CI). A wrong kernel moves logits by several units.
        PlaceCase{"SmolLM2_split_opencl_cpu", "SmolLM2-135M-Instruct.Q4_1.json", true, "opencl", 1.75f},
        PlaceCase{"tiny_llama_f32_split_opencl_cpu", "tiny-llama-f32-gqa1.json", false, "opencl", 0.25f},
        PlaceCase{"tiny_llama_f16_split_opencl_cpu", "tiny-llama-f16-gqa4.json", false, "opencl", 0.25f},
        PlaceCase{"tiny_llama_q8_0_split_opencl_cpu", "tiny-llama-q8_0-gqa2.json", false, "opencl", 0.5f},
        PlaceCase{"tiny_llama_q4_0_split_opencl_cpu", "tiny-llama-q4_0-gqa2.json", false, "opencl", 0.5f},
        PlaceCase{"tiny_qwen2_f16_bias_split_opencl_cpu", "tiny-qwen2-f16-bias-gqa2.json", false, "opencl", 0.25f},
        PlaceCase{"SmolLM2_cpu_npu_ref", "SmolLM2-135M-Instruct.Q4_1.json", true, "npu-ref:0", 1.25f},
        PlaceCase{"tiny_llama_f32_cpu_npu_ref", "tiny-llama-f32-gqa1.json", false, "npu-ref:0", kNpuTolerance},
        PlaceCase{"tiny_llama_f16_cpu_npu_ref", "tiny-llama-f16-gqa4.json", false, "npu-ref:0", kNpuTolerance},
        PlaceCase{"tiny_qwen2_f16_bias_cpu_npu_ref", "tiny-qwen2-f16-bias-gqa2.json", false, "npu-ref:0",
                  kNpuTolerance}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ember::runtime
