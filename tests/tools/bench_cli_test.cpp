// `ember bench` on the tiny f32 model with tiny sizes: the markdown table and the JSON document
// have the rows and fields the comparison script reads, figures are positive, and bad flags
// give one stderr line and a non-zero exit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/json.h"
#include "support/test_support.h"

namespace ember {
namespace {

using Result = test::CliResult;

Result ember(const std::string& args) { return test::run_ember(args); }

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::string tiny() { return test::data_path("models/tiny-llama-f32-gqa1.gguf"); }

void expect_one_error(const Result& r, const std::string& what) {
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal";
  EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(BenchCli, JsonHasOneResultPerThreadCountAndTest) {
  Result r = ember("bench -m " + tiny() + " -t 1,2 -p 16 -n 4 -r 2 -o json");
  ASSERT_EQ(r.code, 0) << r.err;
  test::Json doc;
  std::string error;
  ASSERT_TRUE(test::parse_json(r.out, &doc, &error)) << error << "\n" << r.out;
  EXPECT_EQ(doc["backend"].str, "CPU");
  EXPECT_GT(doc["size_bytes"].num, 0);
  EXPECT_GT(doc["params"].num, 0);
  const test::Json& res = doc["results"];
  ASSERT_EQ(res.kind, test::Json::Array);
  ASSERT_EQ(res.size(), 4u);
  const char* tests[] = {"pp16", "tg4", "pp16", "tg4"};
  const int threads[] = {1, 1, 2, 2};
  for (size_t i = 0; i < 4; ++i) {
    const test::Json& e = res[i];
    EXPECT_EQ(e["test"].str, tests[i]) << i;
    EXPECT_EQ(e["threads"].as_int(), threads[i]) << i;
    EXPECT_EQ(e["reps"].as_int(), 2) << i;
    ASSERT_EQ(e["samples_ts"].size(), 2u) << i;
    EXPECT_GT(e["ts_mean"].num, 0) << i;
    EXPECT_GE(e["ts_stddev"].num, 0) << i;
    const double lo = std::min(e["samples_ts"][0].num, e["samples_ts"][1].num);
    const double hi = std::max(e["samples_ts"][0].num, e["samples_ts"][1].num);
    EXPECT_GE(e["ts_mean"].num, lo * 0.999) << i;
    EXPECT_LE(e["ts_mean"].num, hi * 1.001) << i;
    // The roofline figure follows from the mean: weight bytes per token for tg.
    if (e["n_gen"].as_int() > 0) {
      EXPECT_NEAR(e["weight_gbps"].num, doc["size_bytes"].num * e["ts_mean"].num / 1e9,
                  1e-3 * e["weight_gbps"].num + 1e-4);
    } else {
      EXPECT_EQ(e["n_prompt"].as_int(), 16);
      EXPECT_GT(e["matmul_gflops"].num, 0);
    }
  }
}

TEST(BenchCli, MarkdownTableHasHeaderAndOneRowPerTest) {
  Result r = ember("bench -m " + tiny() + " -t 1 -p 8 -n 3 -r 1");
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0].rfind("| model | size | params | backend | threads | test | t/s |", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("| --", 0), 0u) << lines[1];
  EXPECT_NE(lines[2].find("| CPU | 1 | pp8 |"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("| CPU | 1 | tg3 |"), std::string::npos) << lines[3];
  EXPECT_NE(lines[3].find("GB/s"), std::string::npos) << lines[3];
  // Progress goes to stderr, never into the table.
  EXPECT_FALSE(r.err.empty());
}

TEST(BenchCli, SkippingATest) {
  Result r = ember("bench -m " + tiny() + " -t 1 -p 0 -n 2 -r 1 -o json");
  ASSERT_EQ(r.code, 0) << r.err;
  test::Json doc;
  std::string error;
  ASSERT_TRUE(test::parse_json(r.out, &doc, &error)) << error;
  ASSERT_EQ(doc["results"].size(), 1u);
  EXPECT_EQ(doc["results"][0]["test"].str, "tg2");
}

TEST(BenchCli, DepthStartsEachTestAfterThatManyTokens) {
  Result r = ember("bench -m " + tiny() + " -t 1 -p 4 -n 2 -d 24 -r 1 -o json");
  ASSERT_EQ(r.code, 0) << r.err;
  test::Json doc;
  std::string error;
  ASSERT_TRUE(test::parse_json(r.out, &doc, &error)) << error;
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["test"].str, "pp4 @ d24");
  EXPECT_EQ(doc["results"][1]["test"].str, "tg2 @ d24");
  EXPECT_GT(doc["results"][1]["ts_mean"].num, 0);
  EXPECT_EQ(doc["results"][1]["n_depth"].as_int(), 24);
  expect_one_error(ember("bench -m " + tiny() + " -d -3"), "-d must be");
  // The depth counts against the context: too deep for the model is one error.
  expect_one_error(ember("bench -m " + tiny() + " -t 1 -p 4 -n 1 -d 1000000 -r 1"), "context size");
}

TEST(BenchCli, BadFlags) {
  expect_one_error(ember("bench -p 8"), "a model is required");
  expect_one_error(ember("bench -m " + tiny() + " --bogus"), "unknown option '--bogus'");
  expect_one_error(ember("bench -m " + tiny() + " -t 1,x"), "-t expects");
  expect_one_error(ember("bench -m " + tiny() + " -t 0"), "-t expects");
  expect_one_error(ember("bench -m " + tiny() + " -t 1,,2"), "-t expects");
  expect_one_error(ember("bench -m " + tiny() + " -p many"), "expects an integer");
  expect_one_error(ember("bench -m " + tiny() + " -p -1"), "-p must be");
  expect_one_error(ember("bench -m " + tiny() + " -p 0 -n 0"), "nothing to measure");
  expect_one_error(ember("bench -m " + tiny() + " -r 0"), "-r must be");
  expect_one_error(ember("bench -m " + tiny() + " -o csv"), "-o must be");
  expect_one_error(ember("bench -m /nonexistent/model.gguf -p 4 -n 1 -r 1"), "cannot open");
}

TEST(BenchCli, PromptLongerThanTheModelsContextIsOneError) {
  // The tiny model was trained for far fewer than a million positions.
  expect_one_error(ember("bench -m " + tiny() + " -t 1 -p 1000000 -n 1 -r 1"), "context size");
}

}  // namespace
}  // namespace ember
