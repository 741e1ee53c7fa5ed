// The sampler (runtime/sampler.{h,cpp}): greedy cases, seeding, the draw's distribution
// (chi-square), where top-p and min-p cut, the penalties as documented, and invalid settings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "runtime/sampler.h"

namespace ember::runtime {
namespace {

// Every filter off, temperature 1: draws from softmax(logits).
SamplerParams plain(uint64_t seed = 1) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

Sampler make(const SamplerParams& p) {
  Expected<Sampler> s = Sampler::create(p);
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(*s);
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::vector<int32_t> ids_of(const std::vector<Sampler::Candidate>& c) {
  std::vector<int32_t> ids;
  for (const auto& x : c) ids.push_back(x.id);
  return ids;
}

TEST(Sampler, TopKOneIsGreedy) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  SamplerParams p = plain(42);
  p.top_k = 1;
  p.temperature = 1.5f;
  Sampler s = make(p);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> logits(50);
    for (float& l : logits) l = nd(rng);
    ASSERT_EQ(s.sample(logits), argmax(logits)) << "trial " << trial;
  }
}

TEST(Sampler, TemperatureZeroIsGreedy) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (uint64_t seed : {0ull, 1ull, 99ull}) {
    SamplerParams p = plain(seed);
    p.temperature = 0.0f;
    p.top_k = 40;
    p.top_p = 0.9f;
    p.min_p = 0.1f;
    Sampler s = make(p);
    for (int trial = 0; trial < 100; ++trial) {
      std::vector<float> logits(37);
      for (float& l : logits) l = nd(rng);
      ASSERT_EQ(s.sample(logits), argmax(logits));
    }
    // Ties go to the lowest id.
    std::vector<float> tie = {0.0f, 3.0f, -1.0f, 3.0f, 3.0f};
    EXPECT_EQ(s.sample(tie), 1);
    auto c = s.candidates(tie);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].id, 1);
    EXPECT_FLOAT_EQ(c[0].p, 1.0f);
  }
}

std::vector<int32_t> draw(uint64_t seed, int n) {
  Sampler s = make(plain(seed));
  const std::vector<float> logits = {0.1f, 0.3f, -0.2f, 0.0f, 0.25f, 0.05f, -0.1f, 0.2f};
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits));
  return out;
}

TEST(Sampler, SeedDecidesTheSequence) {
  EXPECT_EQ(draw(7, 200), draw(7, 200));
  EXPECT_NE(draw(7, 200), draw(8, 200));
  EXPECT_NE(draw(0, 200), draw(1, 200));
  // Not degenerate: a near-uniform distribution gives many different tokens.
  std::vector<int32_t> d = draw(7, 200);
  std::sort(d.begin(), d.end());
  EXPECT_EQ(std::unique(d.begin(), d.end()) - d.begin(), 8);
}

// With every filter off the draw follows softmax(logits): Pearson's chi-square over 20000 seeded
// draws on 8 tokens of known probabilities stays below the 99.9% critical value for 7 degrees
// of freedom (24.322). The seed is fixed, so this is deterministic; a sampler that is off by a
// token, skips the last candidate or flattens the distribution gives a statistic in the hundreds.
TEST(Sampler, FullDistributionChiSquare) {
  const std::vector<double> probs = {0.30, 0.20, 0.15, 0.10, 0.10, 0.08, 0.05, 0.02};
  const std::vector<float> logits = log_probs(probs);
  for (uint64_t seed : {12345ull, 777ull}) {
    Sampler s = make(plain(seed));
    const int n = 20000;
    std::vector<int> count(8, 0);
    for (int i = 0; i < n; ++i) {
      const int32_t t = s.sample(logits);
      ASSERT_GE(t, 0);
      ASSERT_LT(t, 8);
      ++count[t];
    }
    double chi2 = 0;
    for (int i = 0; i < 8; ++i) {
      const double e = n * probs[i];
      chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    EXPECT_LT(chi2, 24.322) << "seed " << seed;
    RecordProperty("chi2_seed_" + std::to_string(seed), std::to_string(chi2));
    // The candidates carry the same probabilities.
    auto c = s.candidates(logits);
    ASSERT_EQ(c.size(), 8u);
    for (const auto& x : c) EXPECT_NEAR(x.p, probs[x.id], 1e-6) << x.id;
  }
}

TEST(Sampler, TemperatureScalesTheLogits) {
  const std::vector<float> logits = {1.0f, 0.0f, -0.5f, 2.0f};
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplerParams p = plain();
    p.temperature = t;
    Sampler s = make(p);
    auto c = s.candidates(logits);
    ASSERT_EQ(c.size(), 4u);
    double z = 0;
    for (float l : logits) z += std::exp(l / t);
    for (const auto& x : c) EXPECT_NEAR(x.p, std::exp(logits[x.id] / t) / z, 1e-6) << "T=" << t;
    EXPECT_EQ(c[0].id, 3);  // sorted, most likely first
  }
}

TEST(Sampler, TopKKeepsTheKHighest) {
  const std::vector<float> logits = {0.5f, 3.0f, -1.0f, 2.0f, 2.5f, 0.0f};
  SamplerParams p = plain();
  p.top_k = 3;
  Sampler s = make(p);
  auto c = s.candidates(logits);
  EXPECT_EQ(ids_of(c), (std::vector<int32_t>{1, 4, 3}));
  double sum = 0;
  for (const auto& x : c) sum += x.p;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  for (int i = 0; i < 300; ++i) {
    const int32_t t = s.sample(logits);
    ASSERT_TRUE(t == 1 || t == 4 || t == 3) << t;
  }
  p.top_k = 100;  // more than the vocabulary: keeps all
  EXPECT_EQ(make(p).candidates(logits).size(), 6u);
}

// Top-k by its one-pass heap against a full sort by (logit desc, id asc), on a vocabulary-sized
// row with many ties (logits on a coarse grid), with and without penalties; greedy picks the
// first of the largest.
TEST(Sampler, TopKMatchesAFullSortWithTies) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> grid(-40, 40);
  std::vector<float> logits(49152);
  for (float& l : logits) l = 0.25f * static_cast<float>(grid(rng));
  for (int32_t k : {1, 2, 40, 1000}) {
    for (bool penalties : {false, true}) {
      SamplerParams p = plain();
      p.top_k = k;
      std::vector<float> eff = logits;
      auto s = Sampler::create(p);
      if (penalties) {
        p.repeat_penalty = 1.3f;
        p.presence_penalty = 0.5f;
        s = Sampler::create(p);
        for (int32_t t : {7, 7, 123, 40000}) {
          s->accept(t);
        }
        for (int32_t t : {7, 123, 40000}) {
          float& l = eff[t];
          l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
          l -= static_cast<float>(t == 7 ? 2 : 1) * p.frequency_penalty + p.presence_penalty;
        }
      }
      ASSERT_TRUE(s.ok());
      std::vector<int32_t> ids(eff.size());
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
      std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return eff[a] > eff[b]; });
      const auto got = s->candidates(logits);
      ASSERT_EQ(got.size(), static_cast<size_t>(k)) << "k " << k;
      for (int32_t i = 0; i < k; ++i) {
        ASSERT_EQ(got[i].id, ids[i]) << "k " << k << " penalties " << penalties << " rank " << i;
        ASSERT_EQ(got[i].logit, eff[ids[i]]);
      }
      if (k == 1) {
        SamplerParams g = p;
        g.temperature = 0;
        auto gs = Sampler::create(g);
        ASSERT_TRUE(gs.ok());
        if (penalties)
          for (int32_t t : {7, 7, 123, 40000}) gs->accept(t);
        EXPECT_EQ(gs->sample(logits), ids[0]);
      }
    }
  }
}

TEST(Sampler, TopPCutsAtTheSmallestPrefixReachingP) {
  // Probabilities 0.4, 0.3, 0.2, 0.1 (ids scrambled).
  const std::vector<float> logits = log_probs({0.2, 0.4, 0.1, 0.3});
  struct Case {
    float top_p;
    std::vector<int32_t> ids;
  };
  for (const Case& k : {Case{0.35f, {1}}, Case{0.65f, {1, 3}}, Case{0.75f, {1, 3, 0}}, Case{0.95f, {1, 3, 0, 2}},
                        Case{1.0f, {1, 3, 0, 2}}}) {
    SamplerParams p = plain();
    p.top_p = k.top_p;
    Sampler s = make(p);
    auto c = s.candidates(logits);
    EXPECT_EQ(ids_of(c), k.ids) << "top_p " << k.top_p;
    // The survivors are renormalised, in their original ratios.
    double sum = 0;
    for (const auto& x : c) sum += x.p;
    EXPECT_NEAR(sum, 1.0, 1e-6);
    if (c.size() >= 2) {
      EXPECT_NEAR(c[0].p / c[1].p, 0.4 / 0.3, 1e-5);
    }
    for (int i = 0; i < 200; ++i) {
      const int32_t t = s.sample(logits);
      ASSERT_NE(std::find(k.ids.begin(), k.ids.end(), t), k.ids.end()) << "top_p " << k.top_p << " drew " << t;
    }
  }
}

TEST(Sampler, MinPCutsRelativeToTheMostLikely) {
  // Probabilities 0.5, 0.25, 0.2, 0.05.
  const std::vector<float> logits = log_probs({0.05, 0.5, 0.2, 0.25});
  struct Case {
    float min_p;
    std::vector<int32_t> ids;
  };
  for (const Case& k : {Case{0.0f, {1, 3, 2, 0}}, Case{0.05f, {1, 3, 2, 0}}, Case{0.3f, {1, 3, 2}},
                        Case{0.45f, {1, 3}}, Case{0.6f, {1}}, Case{0.99f, {1}}}) {
    SamplerParams p = plain();
    p.min_p = k.min_p;
    auto c = make(p).candidates(logits);
    EXPECT_EQ(ids_of(c), k.ids) << "min_p " << k.min_p;
  }
}

TEST(Sampler, FiltersApplyInTheDocumentedOrder) {
  // Probabilities 0.4, 0.3, 0.2, 0.1. top-p 0.75 alone keeps three (0.4 + 0.3 < 0.75). After
  // top-k 3 the survivors are renormalised (4/9, 3/9, 2/9) and 4/9 + 3/9 >= 0.75 keeps two.
  const std::vector<float> logits = log_probs({0.1, 0.4, 0.2, 0.3});
  SamplerParams p = plain();
  p.top_p = 0.75f;
  EXPECT_EQ(ids_of(make(p).candidates(logits)), (std::vector<int32_t>{1, 3, 2}));
  p.top_k = 3;
  EXPECT_EQ(ids_of(make(p).candidates(logits)), (std::vector<int32_t>{1, 3}));
}

float logit_of(const std::vector<Sampler::Candidate>& c, int32_t id) {
  for (const auto& x : c)
    if (x.id == id) return x.logit;
  ADD_FAILURE() << "id " << id << " not among the candidates";
  return NAN;
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -0.5f};
  SamplerParams p = plain();
  p.repeat_penalty = 2.0f;
  Sampler s = make(p);
  for (int32_t t : {0, 1, 1, 0}) s.accept(t);  // counts do not matter for this penalty
  auto c = s.candidates(logits);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 1.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -2.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 0.5f);
  EXPECT_FLOAT_EQ(logit_of(c, 3), 3.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 4), -0.5f);
  // Penalties act before greedy selection: token 0 was best without them.
  const std::vector<float> l2 = {2.0f, 1.5f};
  SamplerParams g = p;
  g.temperature = 0;
  Sampler sg = make(g);
  EXPECT_EQ(sg.sample(l2), 0);
  sg.accept(0);
  EXPECT_EQ(sg.sample(l2), 1);  // 2.0 / 2 = 1.0 < 1.5
  sg.reset_history();
  EXPECT_EQ(sg.sample(l2), 0);
}

TEST(Sampler, FrequencyAndPresencePenalties) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f};
  SamplerParams p = plain();
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s = make(p);
  for (int32_t t : {2, 0, 2, 2, 1}) s.accept(t);
  auto c = s.candidates(logits);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 2.0f - 1 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -1.0f - 1 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 0.5f - 3 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 3), 3.0f);  // never seen
  // With the repetition penalty too: divide/multiply first, then subtract.
  p.repeat_penalty = 1.25f;
  Sampler s2 = make(p);
  for (int32_t t : {2, 2, 1}) s2.accept(t);
  c = s2.candidates(logits);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 0.5f / 1.25f - 2 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -1.0f * 1.25f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 2.0f);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f};
  SamplerParams p = plain();
  p.presence_penalty = 1.0f;
  p.penalty_window = 2;
  Sampler s = make(p);
  for (int32_t t : {0, 1, 2}) s.accept(t);  // 0 has left the window
  auto c = s.candidates(logits);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 1.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), 0.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 0.0f);
  // Window 0: no history at all. Out-of-vocabulary history is ignored.
  p.penalty_window = 0;
  Sampler s0 = make(p);
  s0.accept(1);
  EXPECT_FLOAT_EQ(logit_of(s0.candidates(logits), 1), 1.0f);
  p.penalty_window = 8;
  Sampler s1 = make(p);
  s1.accept(-3);
  s1.accept(100);
  for (const auto& x : s1.candidates(logits)) EXPECT_FLOAT_EQ(x.logit, 1.0f);
}

TEST(Sampler, InvalidSettingsAreNamed) {
  struct Case {
    const char* name;
    void (*edit)(SamplerParams&);
  };
  const Case cases[] = {
      {"temperature", [](SamplerParams& p) { p.temperature = -0.1f; }},
      {"temperature", [](SamplerParams& p) { p.temperature = NAN; }},
      {"temperature", [](SamplerParams& p) { p.temperature = INFINITY; }},
      {"top-p", [](SamplerParams& p) { p.top_p = 0.0f; }},
      {"top-p", [](SamplerParams& p) { p.top_p = 1.5f; }},
      {"top-p", [](SamplerParams& p) { p.top_p = NAN; }},
      {"min-p", [](SamplerParams& p) { p.min_p = 1.0f; }},
      {"min-p", [](SamplerParams& p) { p.min_p = -0.1f; }},
      {"top-k", [](SamplerParams& p) { p.top_k = -1; }},
      {"repeat penalty", [](SamplerParams& p) { p.repeat_penalty = 0.0f; }},
      {"repeat penalty", [](SamplerParams& p) { p.repeat_penalty = -1.0f; }},
      {"frequency penalty", [](SamplerParams& p) { p.frequency_penalty = NAN; }},
      {"presence penalty", [](SamplerParams& p) { p.presence_penalty = INFINITY; }},
      {"penalty window", [](SamplerParams& p) { p.penalty_window = -1; }},
  };
  for (const Case& c : cases) {
    SamplerParams p;
    c.edit(p);
    Status v = p.validate();
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_NE(v.message().find(c.name), std::string::npos) << "\"" << v.message() << "\" lacks " << c.name;
    Expected<Sampler> s = Sampler::create(p);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.message(), v.message());
  }
  // The defaults and the edges of the valid ranges are accepted.
  EXPECT_TRUE(SamplerParams{}.validate().ok());
  SamplerParams edge = plain();
  edge.top_p = 1.0f;
  edge.min_p = 0.0f;
  edge.temperature = 0.0f;
  edge.top_k = 0;
  edge.penalty_window = 0;
  EXPECT_TRUE(edge.validate().ok());
  // The value is in the message.
  SamplerParams bad;
  bad.top_k = -7;
  EXPECT_NE(bad.validate().message().find("-7"), std::string::npos) << bad.validate().message();
}

}  // namespace
}  // namespace ember::runtime
