// ember bench -m MODEL: prompt-processing and generation throughput in the manner of llama-bench,
// so the two can be read side by side (bench/compare-llamacpp.sh does exactly that).
//
// pp<P>: P random valid token ids evaluated in one fresh sequence (chunked by n_batch, logits of
//        the last token only); t/s = P / time.
// tg<N>: after a one-token prompt (untimed), N single-token decode steps, each returning the
//        logits of its token; t/s = N / time. Next tokens are random, so sampling costs nothing.
// -d D:  both tests start after D tokens already in the sequence (evaluated untimed first), as
//        llama-bench's -d: "tg128 @ d4096" is decode speed at a context of 4096 tokens.
// Each test runs once to warm up (plans prepared, pages touched), then R timed repetitions;
// the figure is mean ± sample stddev. Beside it, a roofline figure: for tg the weight bytes
// read per token × t/s (every weight is read once per decode step), for pp an estimate of the
// matmul rate, 2 × params × t/s.
// --passes "all/none/-merge-qkv" runs every test once per graph-compiler variant, in one run,
// and adds a passes column.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tools/ember/commands.h"
#include "tools/ember/common.h"
#include "tools/ember/json.h"

namespace ember::cli {
namespace {

struct TestResult {
  int threads = 0;
  std::string test;        // "pp512", "tg128"
  int64_t n_prompt = 0;    // tokens evaluated as a prompt (pp); 0 for tg
  int64_t n_gen = 0;       // decode steps (tg); 0 for pp
  int64_t n_depth = 0;     // tokens in the context before the test
  std::vector<double> ts;  // tokens/s of each timed repetition
  double mean = 0, stddev = 0;
  double roofline = 0;     // tg: weight GB/s; pp: GFLOP/s (matmul estimate)
  std::string passes;      // the --passes variant ("" when --passes was not given)
};

// "1,2,4" -> {1,2,4}; every entry an integer in [1, 256].
Expected<std::vector<int>> parse_thread_list(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    char* end = nullptr;
    long v = item.empty() ? 0 : std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 256)
      return Error("-t expects a comma-separated list of thread counts in 1..256, got '%s'", s.c_str());
    out.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  return out;
}

uint64_t count_params(const runtime::Model& m) {
  uint64_t n = 0;
  for (const auto& t : m.file().tensors()) n += static_cast<uint64_t>(t.n_elements);
  return n;
}

std::string human_params(uint64_t n) {
  if (n >= 1000000000ull) return strfmt("%.2f B", n / 1e9);
  if (n >= 1000000ull) return strfmt("%.2f M", n / 1e6);
  return strfmt("%.2f K", n / 1e3);
}

std::string human_size(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return strfmt("%.2f GiB", bytes / 1073741824.0);
  if (bytes >= (1ull << 20)) return strfmt("%.2f MiB", bytes / 1048576.0);
  return strfmt("%.2f KiB", bytes / 1024.0);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class Progress {
 public:
  Progress() : tty_(::isatty(2) != 0) {}
  void show(int threads, const std::string& test, int rep, int reps) {
    std::string what = rep == 0 ? std::string("warm-up") : strfmt("rep %d/%d", rep, reps);
    if (tty_) {
      std::fprintf(stderr, "\r[ember bench] threads %d, %s, %s\033[K", threads, test.c_str(), what.c_str());
    } else if (rep == 0) {
      std::fprintf(stderr, "[ember bench] threads %d, %s: %d repetitions\n", threads, test.c_str(), reps);
    }
    std::fflush(stderr);
  }
  void done() {
    if (tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool tty_;
};

// Times one pp or tg run in a fresh sequence of `s`; returns tokens/s.
Expected<double> run_once(runtime::Session& s, bool pp, int64_t n, int64_t depth, std::mt19937& rng,
                          std::vector<float>* logits) {
  const int64_t n_vocab = s.model().config().n_vocab;
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
  const int32_t seq = s.new_sequence();
  double secs = 0;
  Status st = Status::Ok();
  if (depth > 0) {  // the context the test starts from, untimed
    std::vector<int32_t> ids(static_cast<size_t>(depth));
    for (int32_t& id : ids) id = pick(rng);
    st = s.eval(seq, ids, false, logits);
  }
  if (!st.ok()) {
  } else if (pp) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t& id : ids) id = pick(rng);
    auto t0 = std::chrono::steady_clock::now();
    st = s.eval(seq, ids, false, logits);
    secs = seconds_since(t0);
  } else {
    int32_t tok = pick(rng);
    if (depth == 0) st = s.eval(seq, std::span<const int32_t>(&tok, 1), false, logits);
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n && st.ok(); ++i) {
      tok = pick(rng);
      st = s.eval(seq, std::span<const int32_t>(&tok, 1), false, logits);
    }
    secs = seconds_since(t0);
  }
  s.free_sequence(seq);
  if (!st.ok()) return st;
  return static_cast<double>(n) / std::max(secs, 1e-9);
}

void print_markdown(const runtime::Model& m, uint64_t params, const std::vector<TestResult>& rs, bool passes,
                    const std::string& backend) {
  const std::string model = m.config().name.empty() ? m.config().arch : m.config().name;
  std::printf("| model | size | params | backend | threads |%s test | t/s | roofline |\n", passes ? " passes |" : "");
  std::printf("| ----- | ---: | -----: | ------- | ------: |%s ---- | --: | -------: |\n", passes ? " ------ |" : "");
  for (const TestResult& r : rs) {
    std::string roof = r.n_gen ? strfmt("%.2f GB/s", r.roofline) : strfmt("%.2f GFLOP/s", r.roofline);
    std::string pcol = passes ? " " + r.passes + " |" : "";
    std::printf("| %s | %s | %s | %s | %d |%s %s | %.2f ± %.2f | %s |\n", model.c_str(),
                human_size(m.weight_bytes()).c_str(), human_params(params).c_str(), backend.c_str(), r.threads, pcol.c_str(),
                r.test.c_str(), r.mean, r.stddev, roof.c_str());
  }
}

void print_json(const runtime::Model& m, uint64_t params, const std::vector<TestResult>& rs, const std::string& backend) {
  std::printf("{\n  \"model\": %s,\n  \"arch\": %s,\n  \"path\": %s,\n  \"size_bytes\": %llu,\n"
              "  \"params\": %llu,\n  \"backend\": %s,\n  \"results\": [",
              json_str(m.config().name).c_str(), json_str(m.config().arch).c_str(),
              json_str(m.file().path()).c_str(), (unsigned long long)m.weight_bytes(), (unsigned long long)params,
              json_str(backend).c_str());
  for (size_t i = 0; i < rs.size(); ++i) {
    const TestResult& r = rs[i];
    std::string samples;
    for (size_t k = 0; k < r.ts.size(); ++k) samples += strfmt("%s%.4f", k ? ", " : "", r.ts[k]);
    std::string pfield = r.passes.empty() ? "" : ", \"passes\": " + json_str(r.passes);
    std::printf("%s\n    {\"threads\": %d%s, \"test\": %s, \"n_prompt\": %lld, \"n_gen\": %lld, "
                "\"n_depth\": %lld, \"reps\": %zu, \"ts_mean\": %.4f, \"ts_stddev\": %.4f, \"samples_ts\": [%s], \"%s\": %.4f}",
                i ? "," : "", r.threads, pfield.c_str(), json_str(r.test).c_str(), (long long)r.n_prompt, (long long)r.n_gen,
                (long long)r.n_depth, r.ts.size(), r.mean, r.stddev, samples.c_str(), r.n_gen ? "weight_gbps" : "matmul_gflops",
                r.roofline);
  }
  std::printf("\n  ]\n}\n");
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string model_path, threads_list, output = "md";
  int64_t n_prompt = 512, n_gen = 128, reps = 5, batch = 512, seed = 1234, depth = 0;
  threads_list = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  Args args("bench", "Measures prompt processing (pp) and generation (tg) speed, like llama-bench. "
                     "Results go to stdout, progress to stderr.");
  args.option("-m,--model", &model_path, "PATH", "GGUF model file (required)");
  args.option("-t,--threads", &threads_list, "N[,N...]", "thread counts to test (default: all cores)");
  args.option("-p,--n-prompt", &n_prompt, "P", "prompt tokens for the pp test, 0 = skip (default 512)");
  args.option("-n,--n-gen", &n_gen, "N", "generated tokens for the tg test, 0 = skip (default 128)");
  args.option("-d,--depth", &depth, "D", "tokens already in the context when each test starts (default 0)");
  args.option("-r,--repetitions", &reps, "R", "timed repetitions of each test (default 5)");
  args.option("-b,--batch-size", &batch, "N", "most tokens per forward step (default 512)");
  args.option("-o,--output", &output, "md|json", "output format (default md)");
  args.option("-s,--seed", &seed, "N", "seed of the random token ids (default 1234)");
  std::string passes_list, device, split;
  declare_placement_flags(args, &device, &split);
  args.option("--passes", &passes_list, "SPEC[/SPEC...]",
              "graph compiler variants to compare, each a --passes value as for run (\"all\", \"none\", "
              "\"-merge-qkv,...\"), separated by '/' (default: all passes on)");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  if (model_path.empty()) return fail("bench", "a model is required (-m PATH)");
  auto threads = parse_thread_list(threads_list);
  if (!threads.ok()) return fail("bench", threads.message());
  if (n_prompt < 0 || n_prompt > (1 << 20))
    return fail("bench", strfmt("-p must be between 0 and 1048576 (got %lld)", (long long)n_prompt));
  if (n_gen < 0 || n_gen > (1 << 20))
    return fail("bench", strfmt("-n must be between 0 and 1048576 (got %lld)", (long long)n_gen));
  if (n_prompt == 0 && n_gen == 0) return fail("bench", "-p and -n are both 0: nothing to measure");
  if (depth < 0 || depth > (1 << 20))
    return fail("bench", strfmt("-d must be between 0 and 1048576 (got %lld)", (long long)depth));
  if (reps < 1 || reps > 1000) return fail("bench", strfmt("-r must be between 1 and 1000 (got %lld)", (long long)reps));
  if (batch < 1 || batch > 8192) return fail("bench", strfmt("-b must be between 1 and 8192 (got %lld)", (long long)batch));
  if (output != "md" && output != "json")
    return fail("bench", "-o must be 'md' or 'json' (got '" + output + "')");
  auto placement = graph::parse_placement(device, split);
  if (!placement.ok()) return fail("bench", placement.message());

  std::vector<std::pair<std::string, std::vector<std::string>>> variants;  // spec, passes switched off
  if (passes_list.empty()) {
    variants.push_back({"", {}});
  } else {
    size_t pos = 0;
    while (pos <= passes_list.size()) {
      size_t slash = passes_list.find('/', pos);
      if (slash == std::string::npos) slash = passes_list.size();
      std::string spec = passes_list.substr(pos, slash - pos);
      pos = slash + 1;
      auto off = graph::parse_pass_list(spec);
      if (!off.ok()) return fail("bench", off.message());
      variants.push_back({spec.empty() ? "all" : spec, *off});
    }
  }

  double load_ms = 0;
  auto model = load_model_or_report("bench", model_path, &load_ms);
  if (!model) return 1;
  const uint64_t params = count_params(*model);

  std::vector<TestResult> results;
  Progress progress;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<float> logits;
  for (int t : *threads) {
    for (const auto& [spec, off] : variants) {
      runtime::SessionOptions so;
      so.threads = t;
      so.passes.disabled = off;
      so.placement = *placement;
      so.n_batch = static_cast<int32_t>(batch);
      so.n_ctx = static_cast<int32_t>(depth + std::max<int64_t>(n_prompt, 1 + n_gen));
      auto session = create_session(*model, so);
      if (!session.ok()) {
        progress.done();
        return fail("bench", session.message());
      }
      for (int kind = 0; kind < 2; ++kind) {
        const bool pp = kind == 0;
        const int64_t n = pp ? n_prompt : n_gen;
        if (n == 0) continue;
        TestResult r;
        r.threads = t;
        r.passes = spec;
        r.test = strfmt("%s%lld", pp ? "pp" : "tg", (long long)n);
        if (depth > 0) r.test += strfmt(" @ d%lld", (long long)depth);
        r.n_depth = depth;
        (pp ? r.n_prompt : r.n_gen) = n;
        for (int rep = 0; rep <= reps; ++rep) {
          progress.show(t, spec.empty() ? r.test : r.test + " [" + spec + "]", rep, static_cast<int>(reps));
          auto ts = run_once(**session, pp, n, depth, rng, &logits);
          if (!ts.ok()) {
            progress.done();
            return fail("bench", r.test + ": " + ts.message());
          }
          if (rep > 0) r.ts.push_back(*ts);
        }
        double sum = 0, sq = 0;
        for (double v : r.ts) sum += v;
        r.mean = sum / static_cast<double>(r.ts.size());
        for (double v : r.ts) sq += (v - r.mean) * (v - r.mean);
        r.stddev = r.ts.size() > 1 ? std::sqrt(sq / static_cast<double>(r.ts.size() - 1)) : 0.0;
        r.roofline = pp ? 2.0 * static_cast<double>(params) * r.mean / 1e9
                        : static_cast<double>(model->weight_bytes()) * r.mean / 1e9;
        results.push_back(std::move(r));
      }
    }
  }
  progress.done();
  // The backend column: CPU, or the placement asked for ("split layers:0-14=opencl:0,...").
  const std::string backend = !split.empty() ? "split " + split : !device.empty() && device != "cpu" ? device : "CPU";
  if (output == "json")
    print_json(*model, params, results, backend);
  else
    print_markdown(*model, params, results, !passes_list.empty(), backend);
  return 0;
}

}  // namespace ember::cli
