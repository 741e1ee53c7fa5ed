// The ember CLI on bad input: every case gets exactly one line on stderr and a non-zero exit,
// never a crash. Also --help everywhere, and the peak-memory bound of `ember run`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>

#include "support/test_support.h"

namespace ember {
namespace {

using Result = test::CliResult;
using test::tmp_dir;

std::string quote(const std::string& s) { return test::shell_quote(s); }

Result ember(const std::string& args, const std::string& stdin_text = "") {
  return test::run_ember(args, stdin_text);
}

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// One clear error: non-zero (but not a signal), one stderr line, containing `what`.
void expect_one_error(const Result& r, const std::string& what) {
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal";
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "stderr: " << r.err;
}

std::string tiny() { return test::data_path("models/tiny-llama-f32-gqa1.gguf"); }

std::string write_copy(const std::string& name, std::vector<uint8_t> bytes) {
  const std::string p = tmp_dir() + "/" + name;
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return p;
}

// Offset of the tensor-info record whose name is `name` (just after the name's bytes).
size_t after_name(const std::vector<uint8_t>& b, const std::string& name) {
  for (size_t i = 8; i + name.size() <= b.size(); ++i) {
    uint64_t len;
    std::memcpy(&len, &b[i - 8], 8);
    if (len == name.size() && std::memcmp(&b[i], name.data(), name.size()) == 0) return i + name.size();
  }
  return 0;
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* cmd : {"info", "tokenize", "run", "chat", "graph", "bench"}) {
    Result r = ember(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: ember"), std::string::npos) << cmd;
  }
  EXPECT_EQ(ember("--help").code, 0);
}

TEST(Cli, UsageErrors) {
  EXPECT_EQ(ember("").code, 2);
  expect_one_error(ember("frobnicate"), "unknown command");
  expect_one_error(ember("run --bogus"), "unknown option '--bogus'");
  expect_one_error(ember("run -m " + tiny() + " -p hi -t many"), "expects an integer");
  expect_one_error(ember("run -m " + tiny() + " -p hi -n"), "needs a value");
  expect_one_error(ember("info"), "missing argument MODEL");
  expect_one_error(ember("tokenize " + tiny()), "missing argument");
}

TEST(Cli, MissingAndBrokenModels) {
  expect_one_error(ember("info /nonexistent/model.gguf"), "cannot open");
  expect_one_error(ember("run -m /nonexistent/model.gguf -p hi"), "cannot open");
  std::vector<uint8_t> bytes = test::read_file(tiny());
  ASSERT_GT(bytes.size(), 1000u);
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
  expect_one_error(ember("info " + write_copy("truncated.gguf", cut)), "beyond the end");
  expect_one_error(ember("run -m " + write_copy("truncated2.gguf", cut) + " -p hi"), "beyond the end");
  std::vector<uint8_t> junk(bytes.begin(), bytes.begin() + 64);
  junk[0] = 'X';
  expect_one_error(ember("info " + write_copy("junk.gguf", junk)), "bad magic");
}

TEST(Cli, ModelWhoseTensorsDoNotMatchItsHyperparameters) {
  std::vector<uint8_t> bytes = test::read_file(tiny());
  // A missing tensor: rename blk.1.ffn_up.weight (same length, so the file stays valid).
  std::vector<uint8_t> renamed = bytes;
  size_t at = after_name(renamed, "blk.1.ffn_up.weight");
  ASSERT_GT(at, 0u);
  renamed[at - 8] = 'X';  // "blk.1.ffn_Xp.weight"
  expect_one_error(ember("run -m " + write_copy("missing.gguf", renamed) + " -p hi"),
                   "tensor 'blk.1.ffn_up.weight' is missing");
  // A wrong shape: halve the second dimension of blk.0.attn_q.weight.
  std::vector<uint8_t> reshaped = bytes;
  at = after_name(reshaped, "blk.0.attn_q.weight");
  ASSERT_GT(at, 0u);
  uint32_t n_dims;
  std::memcpy(&n_dims, &reshaped[at], 4);
  ASSERT_EQ(n_dims, 2u);
  uint64_t d1;
  std::memcpy(&d1, &reshaped[at + 4 + 8], 8);
  d1 /= 2;
  std::memcpy(&reshaped[at + 4 + 8], &d1, 8);
  expect_one_error(ember("run -m " + write_copy("reshaped.gguf", reshaped) + " -p hi"),
                   "tensor 'blk.0.attn_q.weight' has shape");
}

TEST(Cli, RequestsThatCannotFit) {
  const std::string m = "run -m " + tiny() + " --temp 0 ";
  expect_one_error(ember(m + "-p hello -n 0"), "-n must be at least 1");
  expect_one_error(ember(m + "-p hello -c 100000"), "larger than the 256 positions");
  expect_one_error(ember(m + "-p 'a much longer prompt than eight tokens can hold, surely' -c 8"),
                   "the context holds 8");
  expect_one_error(ember(m + "-p hello --top-p 0"), "top-p must be in (0, 1]");
  expect_one_error(ember(m + "-p hello --temp -1"), "temperature must be >= 0");
  expect_one_error(ember(m + "-p ''"), "a prompt is required");
  expect_one_error(ember(m + "-p hello -t 0 -t 100000"), "-t must be between");
}

TEST(Cli, RunGeneratesOnTinyModel) {
  Result r = ember("run -m " + tiny() + " -p hello -n 8 --temp 0 -t 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("hello", 0), 0u);
  EXPECT_NE(r.err.find("generated"), std::string::npos);
}

// `ember chat` keeps the KV cache across turns: the second turn evaluates only the text the
// template adds (the end of the first reply, the new user turn, the assistant header), not
// the whole conversation again.
TEST(Cli, ChatReusesTheKvCacheAcrossTurns) {
  const std::string model = test::default_model_path();
  ASSERT_FALSE(model.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  Result r = ember("chat -m " + quote(model) + " --temp 0 -t 2 -n 24 --stats --system 'You are a helpful AI assistant.'",
                   "What is the capital of France?\nAnd of Germany?\n\n");
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<int> prompts;
  std::regex re("prompt ([0-9]+) tokens");
  for (auto it = std::sregex_iterator(r.err.begin(), r.err.end(), re); it != std::sregex_iterator(); ++it)
    prompts.push_back(std::stoi((*it)[1]));
  ASSERT_EQ(prompts.size(), 2u) << r.err;
  EXPECT_NE(r.out.find("Paris"), std::string::npos) << r.out;
  // Turn 1 holds the system and user turns (27 tokens); a re-evaluation of the whole
  // conversation in turn 2 would take more than that again.
  EXPECT_LT(prompts[1], prompts[0]) << r.err;
  EXPECT_LT(prompts[1], 24) << r.err;
}

// Peak RSS of `ember run` on the default model stays under file size + KV cache + 100 MiB,
// as the program itself reports it.
TEST(Cli, PeakMemoryOfRunOnTheDefaultModel) {
  const std::string model = test::default_model_path();
  ASSERT_FALSE(model.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  Result r = ember("run -m " + quote(model) + " -p 'Tell me about the sea.' -n 16 --temp 0 -t 2 -c 2048");
  ASSERT_EQ(r.code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("kv cache ([0-9.]+) MiB \\| peak memory ([0-9.]+) MiB"))) << r.err;
  const double kv = std::stod(m[1]), peak = std::stod(m[2]);
  const double file = static_cast<double>(test::read_file(model).size()) / 1048576.0;
  EXPECT_LT(peak, file + kv + 100.0) << "file " << file << " MiB, kv " << kv << " MiB";
  std::printf("[ memory ] peak %.1f MiB; bound %.1f MiB (file %.1f + kv %.1f + 100)\n", peak, file + kv + 100, file, kv);
}

}  // namespace
}  // namespace ember
