#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace ember::runtime {

Status SamplerParams::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    return Error("temperature must be >= 0 (got %g)", temperature);
  if (top_k < 0) return Error("top-k must be >= 0 (got %d)", top_k);
  if (!(top_p > 0 && top_p <= 1)) return Error("top-p must be in (0, 1] (got %g)", top_p);
  if (!(min_p >= 0 && min_p < 1)) return Error("min-p must be in [0, 1) (got %g)", min_p);
  if (!(repeat_penalty > 0) || !std::isfinite(repeat_penalty))
    return Error("repeat penalty must be > 0 (got %g)", repeat_penalty);
  if (!std::isfinite(frequency_penalty)) return Error("frequency penalty must be finite");
  if (!std::isfinite(presence_penalty)) return Error("presence penalty must be finite");
  if (penalty_window < 0) return Error("penalty window must be >= 0 (got %d)", penalty_window);
  return Status::Ok();
}

Expected<Sampler> Sampler::create(const SamplerParams& p) {
  EMBER_RETURN_IF_ERROR(p.validate());
  return Sampler(p);
}

void Sampler::accept(int32_t token) {
  if (p_.penalty_window == 0) return;
  history_.push_back(token);
  while (history_.size() > static_cast<size_t>(p_.penalty_window)) history_.pop_front();
}

void Sampler::apply_chain(std::span<const float> logits) {
  cand_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) cand_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};

  // 1. penalties
  if (!history_.empty() && (p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0 || p_.presence_penalty != 0)) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : history_) counts[t]++;
    for (auto [id, count] : counts) {
      if (id < 0 || static_cast<size_t>(id) >= cand_.size()) continue;
      float& l = cand_[id].logit;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
      l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
    }
  }
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (p_.temperature == 0) {  // greedy: only the best survives
    auto best = std::min_element(cand_.begin(), cand_.end(), by_logit);
    Candidate c = *best;
    c.p = 1.0f;
    cand_.assign(1, c);
    return;
  }
  // 2. top-k (sorts the survivors)
  size_t k = p_.top_k > 0 ? std::min(cand_.size(), static_cast<size_t>(p_.top_k)) : cand_.size();
  std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(), by_logit);
  cand_.resize(k);
  auto softmax = [&](float temp) {
    const float mx = cand_.front().logit;
    double sum = 0;
    for (Candidate& c : cand_) {
      c.p = std::exp((c.logit - mx) / temp);
      sum += c.p;
    }
    for (Candidate& c : cand_) c.p = static_cast<float>(c.p / sum);
  };
  // 3. top-p: the smallest prefix whose mass reaches top_p
  if (p_.top_p < 1.0f) {
    softmax(1.0f);
    double cum = 0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += cand_[i].p;
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    cand_.resize(keep);
  }
  // 4. min-p relative to the most likely token
  if (p_.min_p > 0) {
    softmax(1.0f);
    const float floor = cand_.front().p * p_.min_p;
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].p >= floor) ++keep;
    cand_.resize(keep);
  }
  // 5. temperature, then probabilities for the draw
  softmax(p_.temperature);
}

std::vector<Sampler::Candidate> Sampler::candidates(std::span<const float> logits) {
  apply_chain(logits);
  return cand_;
}

int32_t Sampler::sample(std::span<const float> logits) {
  apply_chain(logits);
  if (cand_.size() == 1) return cand_[0].id;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double r = u(rng_), cum = 0;
  for (const Candidate& c : cand_) {
    cum += c.p;
    if (r < cum) return c.id;
  }
  return cand_.back().id;
}

}  // namespace ember::runtime
