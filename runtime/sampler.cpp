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

namespace {

// Candidates ordered best first: higher logit, then lower id.
bool by_logit(const Sampler::Candidate& a, const Sampler::Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The k best of v (ids = indices) in by_logit order, by one pass that keeps them in a heap
// whose top is the worst kept: an element enters only if it beats that one. Ids rise along the
// pass, so on a tie with the worst kept the newcomer (higher id) loses, as by_logit says. The
// result is exactly partial_sort's first k, without building a candidate per logit.
void top_k_of(std::span<const float> v, size_t k, std::vector<Sampler::Candidate>* out) {
  out->clear();
  if (k == 0) return;
  out->reserve(k);
  auto worse_on_top = [](const Sampler::Candidate& a, const Sampler::Candidate& b) { return by_logit(a, b); };
  size_t i = 0;
  for (; i < v.size() && out->size() < k; ++i) {
    out->push_back({static_cast<int32_t>(i), v[i], 0.0f});
    std::push_heap(out->begin(), out->end(), worse_on_top);
  }
  float floor = out->front().logit;
  for (; i < v.size(); ++i) {
    if (!(v[i] > floor)) continue;  // most logits stop here
    std::pop_heap(out->begin(), out->end(), worse_on_top);
    out->back() = {static_cast<int32_t>(i), v[i], 0.0f};
    std::push_heap(out->begin(), out->end(), worse_on_top);
    floor = out->front().logit;
  }
  std::sort(out->begin(), out->end(), by_logit);
}

}  // namespace

void Sampler::apply_chain(std::span<const float> logits) {
  // 1. penalties, on a copy of the logits (only where some are on and there is a history)
  std::span<const float> v = logits;
  if (!history_.empty() && (p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0 || p_.presence_penalty != 0)) {
    penalized_.assign(logits.begin(), logits.end());
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : history_) counts[t]++;
    for (auto [id, count] : counts) {
      if (id < 0 || static_cast<size_t>(id) >= penalized_.size()) continue;
      float& l = penalized_[id];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
      l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
    }
    v = penalized_;
  }
  if (p_.temperature == 0) {  // greedy: only the best survives
    top_k_of(v, std::min<size_t>(1, v.size()), &cand_);
    if (!cand_.empty()) cand_[0].p = 1.0f;
    return;
  }
  // 2. top-k (sorts the survivors)
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < v.size()) {
    top_k_of(v, static_cast<size_t>(p_.top_k), &cand_);
  } else {
    cand_.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) cand_[i] = {static_cast<int32_t>(i), v[i], 0.0f};
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
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
