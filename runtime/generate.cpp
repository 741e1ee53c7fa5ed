#include "runtime/generate.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ember::runtime {

namespace {
double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Status generate(Session& s, int32_t seq, std::span<const int32_t> prompt, int32_t n_predict, Sampler& sampler,
                const std::function<bool(int32_t)>& on_token, GenerationStats* stats) {
  if (n_predict < 1) return Error("the number of tokens to generate must be at least 1 (got %d)", n_predict);
  if (prompt.empty()) return Error("the prompt is empty");
  const int32_t n_ctx = s.options().n_ctx;
  const int32_t have = s.seq_len(seq);
  if (have < 0) return Error("sequence %d does not exist", seq);
  if (have + static_cast<int64_t>(prompt.size()) > n_ctx)
    return Error("the prompt has %zu tokens (%d already in context) but the context holds %d; use a "
                 "larger -c or a shorter prompt", prompt.size(), have, n_ctx);
  const tokenizer::Tokenizer& tok = s.model().tokenizer();
  GenerationStats st;
  st.n_prompt = static_cast<int32_t>(prompt.size());
  std::vector<float> logits;
  double t0 = now_ms();
  EMBER_RETURN_IF_ERROR(s.eval(seq, prompt, false, &logits));
  st.prompt_ms = now_ms() - t0;
  for (int32_t t : prompt) sampler.accept(t);
  t0 = now_ms();
  const size_t n_vocab = static_cast<size_t>(s.model().config().n_vocab);
  for (int32_t i = 0; i < n_predict; ++i) {
    int32_t id = sampler.sample(std::span<const float>(logits.data(), n_vocab));
    sampler.accept(id);
    ++st.n_gen;
    st.last_token = id;
    if (tok.is_eog(id)) {
      st.hit_eog = true;
      break;
    }
    if (!on_token(id)) break;
    if (i + 1 == n_predict) break;
    if (s.seq_len(seq) + 1 > n_ctx) break;  // context full: stop quietly, the caller reports it
    int32_t one = id;
    EMBER_RETURN_IF_ERROR(s.eval(seq, std::span<const int32_t>(&one, 1), false, &logits));
  }
  st.gen_ms = now_ms() - t0;
  if (stats) *stats = st;
  return Status::Ok();
}

uint64_t peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      kb = std::strtoull(line + 6, nullptr, 10);
      break;
    }
  std::fclose(f);
  return kb * 1024;
}

}  // namespace ember::runtime
