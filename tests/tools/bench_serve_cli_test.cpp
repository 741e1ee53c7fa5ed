// `ember bench-serve` on a tiny model: the JSON report has the fields a reader needs and they
// are consistent (every request finished, tokens add up, prefix hits only when a prefix is
// shared); bad flags give one stderr line and a non-zero exit.
#include <gtest/gtest.h>

#include <string>

#include "support/json.h"
#include "support/test_support.h"

namespace ember {
namespace {

std::string tiny() { return test::data_path("models/tiny-llama-q8_0-gqa2.gguf"); }

test::Json run_json(const std::string& args) {
  test::CliResult r = test::run_ember("bench-serve -m " + tiny() + " -t 2 -o json " + args);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("bench-serve: "), std::string::npos) << "a progress line on stderr";
  test::Json doc;
  std::string error;
  EXPECT_TRUE(test::parse_json(r.out, &doc, &error)) << error << "\n" << r.out;
  return doc;
}

TEST(BenchServeCli, ReportIsConsistent) {
  test::Json d = run_json("-n 12 --prompt-len 8-40 --output-len 4-12 -P 4 --kv-block 8 --seed 3");
  EXPECT_EQ(d["requests"].as_int(), 12);
  EXPECT_GE(d["output_tokens"].as_int(), 12 * 4);
  EXPECT_LE(d["output_tokens"].as_int(), 12 * 12);
  EXPECT_GE(d["prompt_tokens"].as_int(), 12 * 8);
  EXPECT_EQ(d["prompt_tokens_computed"].as_int(), d["prompt_tokens"].as_int()) << "no cache, no preemption";
  EXPECT_GT(d["request_throughput"].num, 0);
  EXPECT_GT(d["output_tokens_per_s"].num, 0);
  EXPECT_LE(d["ttft_ms_p50"].num, d["ttft_ms_p99"].num);
  EXPECT_LE(d["tpot_ms_p50"].num, d["tpot_ms_p99"].num);
  EXPECT_GT(d["kv_blocks_peak_used"].as_int(), 0);
  EXPECT_LE(d["kv_blocks_peak_used"].as_int(), d["kv_blocks"].as_int());
  EXPECT_GE(d["kv_waste"].num, 0);
  EXPECT_LT(d["kv_waste"].num, 0.5);
  EXPECT_EQ(d["prefix_cache_hit_rate"].num, 0);
}

TEST(BenchServeCli, SharedPrefixIsServedFromTheCache) {
  test::Json on = run_json("-n 8 --prompt-len 4-8 --output-len 4 -P 2 --kv-block 4 --shared-prefix 64");
  test::Json off = run_json("-n 8 --prompt-len 4-8 --output-len 4 -P 2 --kv-block 4 --shared-prefix 64 --prefix-cache off");
  EXPECT_EQ(on["prompt_tokens"].as_int(), off["prompt_tokens"].as_int()) << "the same workload";
  EXPECT_GT(on["prefix_cache_hit_rate"].num, 0.5);
  EXPECT_LT(on["prompt_tokens_computed"].as_int() * 2, off["prompt_tokens_computed"].as_int());
}

TEST(BenchServeCli, BadFlags) {
  for (const auto& [args, what] : std::initializer_list<std::pair<std::string, std::string>>{
           {"--prompt-len 9-3", "--prompt-len expects"},
           {"--output-len x", "--output-len expects"},
           {"-n 0", "-n must be between"},
           {"--rate -1", "--rate must be"},
           {"--prefix-cache maybe", "--prefix-cache must be"},
           {"-o yaml", "-o must be"},
           {"--prompt-len 200 --output-len 200", "exceeds the context size"}}) {
    test::CliResult r = test::run_ember("bench-serve -m " + tiny() + " " + args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_LT(r.code, 128) << args;
    EXPECT_NE(r.err.find(what), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace ember
