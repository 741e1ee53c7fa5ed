// The generation loop shared by `ember run`, `ember chat` and the benchmarks: evaluate a
// prompt, then sample, stream and feed back tokens until end-of-generation or a limit.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "ember/core/status.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace ember::runtime {

struct GenerationStats {
  int32_t n_prompt = 0;
  double prompt_ms = 0;
  int32_t n_gen = 0;     // tokens sampled (the end-of-generation token included)
  double gen_ms = 0;
  bool hit_eog = false;
  int32_t last_token = -1;  // the final sampled token; it is NOT yet in the KV cache
};

// Appends `prompt` to `seq`, then samples up to n_predict tokens. Each sampled token goes to
// on_token (return false to stop) unless it is end-of-generation, which stops the loop.
// Every sampled token except the last is fed back into the KV cache.
Status generate(Session& s, int32_t seq, std::span<const int32_t> prompt, int32_t n_predict, Sampler& sampler,
                const std::function<bool(int32_t)>& on_token, GenerationStats* stats);

// Peak resident set size of this process, in bytes (VmHWM), or 0 when unknown.
uint64_t peak_rss_bytes();

}  // namespace ember::runtime
