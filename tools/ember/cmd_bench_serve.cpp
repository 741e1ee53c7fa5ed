// ember bench-serve -m MODEL: a load generator for the serving engine, in the manner of vLLM's
// throughput/serving benchmarks.
//
// N requests with seeded random prompt and output lengths (uniform in the given ranges; the
// prompts are random token ids, the outputs run to their length: end-of-generation is
// ignored, as vLLM's random dataset does). Optionally every prompt starts with the same
// shared prefix (--shared-prefix T). Requests arrive all at once (--rate 0) or as a Poisson
// process of the given rate; the engine is stepped on this thread, so arrivals are
// submitted between steps exactly when due.
//
// Reported: request throughput, output and total tokens/s, TTFT and TPOT p50/p99, peak KV
// blocks used, KV waste (time-averaged unfilled share of the used blocks' slots), prefix-cache
// hit rate, prompt tokens actually computed, preemptions. Progress on stderr while it runs;
// the table (or --json) on stdout.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"
#include "tools/ember/json.h"

namespace ember::cli {
namespace {

struct Range {
  int64_t lo = 0, hi = 0;
};

// "32-512" or "128" -> a range; both ends in [lo_min, hi_max].
Expected<Range> parse_range(const std::string& flag, const std::string& s, int64_t lo_min, int64_t hi_max) {
  Range r;
  char* end = nullptr;
  const size_t dash = s.find('-');
  const std::string a = s.substr(0, dash), b = dash == std::string::npos ? a : s.substr(dash + 1);
  r.lo = a.empty() ? -1 : std::strtoll(a.c_str(), &end, 10);
  bool bad = a.empty() || *end != '\0';
  r.hi = b.empty() ? -1 : std::strtoll(b.c_str(), &end, 10);
  bad = bad || b.empty() || *end != '\0';
  if (bad || r.lo < lo_min || r.hi > hi_max || r.lo > r.hi)
    return Error("%s expects N or MIN-MAX with %lld <= MIN <= MAX <= %lld, got '%s'", flag.c_str(), (long long)lo_min,
                 (long long)hi_max, s.c_str());
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int cmd_bench_serve(int argc, char** argv) {
  Args args("bench-serve",
            "Load-test the serving engine: N requests with random prompt/output lengths, all at once or at a "
            "given rate; throughput, TTFT/TPOT percentiles, KV use and waste, prefix-cache hits.");
  ModelFlags mf;
  mf.batch = 512;
  mf.declare(args);
  int64_t requests = 64, parallel = 16, kv_blocks = 0, shared = 0, seed = 1;
  double rate = 0;
  std::string prompt_len = "32-512", output_len = "32-512", output = "md", prefix = "auto";
  args.option("-n,--requests", &requests, "N", "number of requests (default 64)");
  args.option("--prompt-len", &prompt_len, "MIN-MAX", "prompt lengths in tokens, uniform (default 32-512)");
  args.option("--output-len", &output_len, "MIN-MAX", "output lengths in tokens, uniform (default 32-512)");
  args.option("--rate", &rate, "R", "arrivals per second (Poisson); 0 = all at once (default 0)");
  args.option("-P,--parallel", &parallel, "N", "most sequences running at once (default 16)");
  args.option("--kv-blocks", &kv_blocks, "N",
              "KV pool size in blocks (default: enough for --parallel sequences of the longest request)");
  args.option("--shared-prefix", &shared, "T", "every prompt starts with the same T tokens (default 0)");
  args.option("--prefix-cache", &prefix, "on|off|auto", "prefix caching (default auto: on with --shared-prefix)");
  args.option("--seed", &seed, "N", "seed for lengths, prompts and arrivals (default 1)");
  args.option("-o,--output", &output, "md|json", "report format on stdout (default md)");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  runtime::EngineOptions eo;
  if (Status s = mf.to_options(&eo.session); !s.ok()) return fail("bench-serve", s.message());
  if (eo.session.placement.kind != graph::PlacementPolicy::Kind::None)
    return fail("bench-serve", "--device and --split are not supported by bench-serve yet (the engine runs on the CPU)");
  if (requests < 1 || requests > 100000) return fail("bench-serve", "-n must be between 1 and 100000");
  if (parallel < 1 || parallel > 4096) return fail("bench-serve", "--parallel must be between 1 and 4096");
  if (rate < 0 || !std::isfinite(rate)) return fail("bench-serve", "--rate must be a non-negative number");
  if (shared < 0 || kv_blocks < 0) return fail("bench-serve", "--shared-prefix and --kv-blocks must not be negative");
  if (output != "md" && output != "json") return fail("bench-serve", "-o must be 'md' or 'json' (got '" + output + "')");
  if (prefix != "on" && prefix != "off" && prefix != "auto")
    return fail("bench-serve", "--prefix-cache must be on, off or auto (got '" + prefix + "')");
  auto pl = parse_range("--prompt-len", prompt_len, 1, 1 << 20);
  if (!pl.ok()) return fail("bench-serve", pl.message());
  auto ol = parse_range("--output-len", output_len, 1, 1 << 20);
  if (!ol.ok()) return fail("bench-serve", ol.message());

  double load_ms = 0;
  auto model = load_model_or_report("bench-serve", mf.model, &load_ms);
  if (!model) return 1;
  const auto& cfg = model->config();
  const int64_t longest = shared + pl->hi + ol->hi;
  if (eo.session.n_ctx == 0) eo.session.n_ctx = static_cast<int32_t>(std::min<int64_t>(cfg.n_ctx_train, std::max<int64_t>(longest, 4096)));
  if (longest > eo.session.n_ctx)
    return fail("bench-serve", strfmt("the longest request (%lld tokens) exceeds the context size %d; lower the "
                                      "lengths or raise -c", (long long)longest, eo.session.n_ctx));
  const int64_t B = eo.session.block_size;
  eo.session.kv_blocks = static_cast<int32_t>(kv_blocks ? kv_blocks : parallel * ((longest + B - 1) / B));
  eo.session.prefix_caching = prefix == "on" || (prefix == "auto" && shared > 0);
  eo.max_running = static_cast<int32_t>(parallel);
  auto engine = runtime::Engine::create(*model, eo);
  if (!engine.ok()) return fail("bench-serve", engine.message());
  runtime::Engine& en = **engine;

  // The workload, fully determined by the seed.
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  const int32_t n_vocab = static_cast<int32_t>(cfg.n_vocab);
  auto pick_token = [&] {
    for (;;) {  // ordinary tokens only: no control tokens inside prompts
      int32_t t = static_cast<int32_t>(rng() % static_cast<uint64_t>(n_vocab));
      if (!model->tokenizer().is_eog(t) && t != model->tokenizer().bos()) return t;
    }
  };
  std::vector<int32_t> head(static_cast<size_t>(shared));
  for (int32_t& t : head) t = pick_token();
  struct Job {
    runtime::RequestParams p;
    double arrive = 0;  // seconds after start
    int64_t id = -1;
    runtime::RequestStats st;
  };
  std::vector<Job> jobs(static_cast<size_t>(requests));
  std::exponential_distribution<double> gap(rate > 0 ? rate : 1.0);
  double t_arrive = 0;
  for (Job& j : jobs) {
    const int64_t np = pl->lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(pl->hi - pl->lo + 1));
    const int64_t no = ol->lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(ol->hi - ol->lo + 1));
    j.p.prompt = head;
    for (int64_t k = 0; k < np; ++k) j.p.prompt.push_back(pick_token());
    j.p.max_tokens = static_cast<int32_t>(no);
    j.p.sampling.temperature = 0;
    j.p.ignore_eos = true;
    if (rate > 0) t_arrive += gap(rng);
    j.arrive = t_arrive;
  }

  const bool tty = isatty(2);
  const double t0 = now_s();
  double last_progress = 0;
  size_t next = 0;
  int64_t done = 0;
  for (;;) {
    const double t = now_s() - t0;
    while (next < jobs.size() && jobs[next].arrive <= t) {
      auto id = en.submit(jobs[next].p, [](const runtime::Event&) {});  // nothing to keep
      if (!id.ok()) return fail("bench-serve", "request " + std::to_string(next) + ": " + id.message());
      jobs[next++].id = *id;
    }
    bool worked = false;
    if (Status s = en.step(&worked); !s.ok()) return fail("bench-serve", s.message());
    runtime::EngineStats es = en.stats();
    done = es.finished;
    if (t - last_progress > 0.5 || done == requests) {
      last_progress = t;
      std::fprintf(stderr, "%sbench-serve: %lld/%lld done, %d running, %d waiting, %lld tokens out, %.1f s%s",
                   tty ? "\r" : "", (long long)done, (long long)requests, es.running_requests, es.waiting,
                   (long long)es.tokens_generated, t, tty ? "   " : "\n");
    }
    if (done == requests) break;
    if (!worked && next < jobs.size()) {  // idle until the next arrival
      const double wait = jobs[next].arrive - (now_s() - t0);
      if (wait > 0) usleep(static_cast<useconds_t>(std::min(wait, 0.05) * 1e6));
    }
  }
  const double elapsed = now_s() - t0;
  if (tty) std::fputc('\n', stderr);

  runtime::EngineStats es = en.stats();
  std::vector<double> ttft, tpot;
  int64_t out_tokens = 0, in_tokens = 0;
  for (Job& j : jobs) {
    auto st = en.request_stats(j.id);
    if (!st.ok()) return fail("bench-serve", st.message());
    j.st = *st;
    ttft.push_back(j.st.ttft_ms);
    if (j.st.generated > 1) tpot.push_back((j.st.total_ms - j.st.ttft_ms) / (j.st.generated - 1));
    out_tokens += j.st.generated;
    in_tokens += j.st.prompt_tokens;
  }
  const double req_s = requests / elapsed, out_s = out_tokens / elapsed, tot_s = (in_tokens + out_tokens) / elapsed;
  if (output == "json") {
    std::printf(
        "{\"model\": %s, \"threads\": %d, \"requests\": %lld, \"parallel\": %lld, \"rate\": %g, "
        "\"prompt_len\": %s, \"output_len\": %s, \"shared_prefix\": %lld, \"block_size\": %d, \"kv_blocks\": %d, "
        "\"prefix_caching\": %s, \"elapsed_s\": %.3f, \"request_throughput\": %.4f, \"output_tokens_per_s\": %.2f, "
        "\"total_tokens_per_s\": %.2f, \"prompt_tokens\": %lld, \"output_tokens\": %lld, "
        "\"ttft_ms_p50\": %.2f, \"ttft_ms_p99\": %.2f, \"tpot_ms_p50\": %.2f, \"tpot_ms_p99\": %.2f, "
        "\"kv_blocks_peak_used\": %d, \"kv_waste\": %.5f, \"prefix_cache_hit_rate\": %.4f, "
        "\"prompt_tokens_computed\": %lld, \"preemptions\": %lld, \"steps\": %lld}\n",
        json_str(mf.model).c_str(), eo.session.threads, (long long)requests, (long long)parallel, rate,
        json_str(prompt_len).c_str(), json_str(output_len).c_str(), (long long)shared, eo.session.block_size,
        eo.session.kv_blocks, eo.session.prefix_caching ? "true" : "false", elapsed, req_s, out_s, tot_s,
        (long long)in_tokens, (long long)out_tokens, percentile(ttft, 50), percentile(ttft, 99), percentile(tpot, 50),
        percentile(tpot, 99), es.peak_kv_blocks_used, es.kv_waste, es.prefix_hit_rate,
        (long long)es.prompt_tokens_computed, (long long)es.preemptions, (long long)es.steps);
  } else {
    std::printf("| metric | value |\n| ------ | ----: |\n");
    std::printf("| requests / parallel / rate | %lld / %lld / %s |\n", (long long)requests, (long long)parallel,
                rate > 0 ? strfmt("%g/s", rate).c_str() : "all at once");
    std::printf("| prompt / output lengths | %s / %s (shared prefix %lld) |\n", prompt_len.c_str(), output_len.c_str(),
                (long long)shared);
    std::printf("| threads, block size, KV blocks | %d, %d, %d |\n", eo.session.threads, eo.session.block_size,
                eo.session.kv_blocks);
    std::printf("| elapsed | %.2f s |\n", elapsed);
    std::printf("| request throughput | %.3f req/s |\n", req_s);
    std::printf("| output tokens/s | %.2f |\n", out_s);
    std::printf("| total tokens/s (prompt + output) | %.2f |\n", tot_s);
    std::printf("| TTFT p50 / p99 | %.1f / %.1f ms |\n", percentile(ttft, 50), percentile(ttft, 99));
    std::printf("| TPOT p50 / p99 | %.2f / %.2f ms |\n", percentile(tpot, 50), percentile(tpot, 99));
    std::printf("| KV blocks peak used | %d of %d |\n", es.peak_kv_blocks_used, eo.session.kv_blocks);
    std::printf("| KV waste (time-averaged) | %.2f %% |\n", 100.0 * es.kv_waste);
    std::printf("| prefix cache | %s, hit rate %.1f %% |\n", eo.session.prefix_caching ? "on" : "off",
                100.0 * es.prefix_hit_rate);
    std::printf("| prompt tokens computed / submitted | %lld / %lld |\n", (long long)es.prompt_tokens_computed,
                (long long)in_tokens);
    std::printf("| preemptions | %lld |\n", (long long)es.preemptions);
  }
  return 0;
}

}  // namespace ember::cli
