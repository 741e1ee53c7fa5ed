// The compiler on the command line: `ember graph --dump` shows the merged and fused graph and
// the planned vs naive activation memory; --dump-after prints the graph as one pass left it;
// --passes switches passes off; unknown pass names (graph, run, bench) are one error line and
// a non-zero exit.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cpu/gemm/gemm.h"
#include "support/test_support.h"

namespace ember {
namespace {

std::string tiny() { return test::shell_quote(test::data_path("models/tiny-llama-q8_0-gqa2.gguf")); }

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void expect_one_error(const test::CliResult& r, const std::string& what) {
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal";
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "stderr: " << r.err;
}

TEST(GraphCli, DumpShowsCompiledGraphAndMemory) {
  test::CliResult r = test::run_ember("graph " + tiny() + " --dump --tokens 4 --outputs 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("= slice %"), std::string::npos) << "merged projections are sliced";
  EXPECT_NE(r.out.find("norm_matmul"), std::string::npos);
  EXPECT_NE(r.out.find("matmul_add"), std::string::npos);
  EXPECT_EQ(r.out.find("= matmul %"), std::string::npos) << "every matmul is merged or fused";
  EXPECT_EQ(r.out.find("= rms_norm"), std::string::npos) << "every norm is fused into a matmul";
  EXPECT_NE(r.out.find("# activation memory: peak"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("planned vs naive sum"), std::string::npos) << r.out;
}

// prepare-weights on the default model: every q4_1 weight (all 210 are matmul weights) is
// stored as q4_1x16 where the block-sum order is in use (and the tied q8_0 table, read by the
// embedding and the output head, as q8_0x16), or as q4_1x2 under EMBER_LLAMA_EXACT=1 (the
// table stays plain); switched off, none is.
TEST(GraphCli, DefaultModelWeightsArePrepared) {
  const std::string model = test::default_model_path();
  ASSERT_FALSE(model.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  test::CliResult on = test::run_ember("graph '" + model + "' --dump");
  ASSERT_EQ(on.code, 0) << on.err;
  test::CliResult off = test::run_ember("graph '" + model + "' --dump --passes=-prepare-weights");
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_NE(off.out.find("# weights: 0 of 272 in a prepared layout (0.00 MiB"), std::string::npos) << off.out;
  EXPECT_EQ(off.out.find("layout="), std::string::npos);
  const bool x16 = kernels::find_gemm_x16(kernels::kTypeQ4_1) != nullptr;
  if (!x16 && !kernels::find_vec_dot_rows_packed_pairs(kernels::kTypeQ4_1)) {
    EXPECT_NE(on.out.find("# weights: 0 of 272"), std::string::npos);
    GTEST_SKIP() << "this CPU's q4_1 kernel reads plain weights: nothing to prepare";
  }
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = on.out.find(what); at != std::string::npos; at = on.out.find(what, at + 1)) ++n;
    return n;
  };
  if (x16) {
    EXPECT_NE(on.out.find("# weights: 211 of 272 in a prepared layout"), std::string::npos) << on.out;
    EXPECT_EQ(count("layout=q4_1x16"), 210u);
    EXPECT_NE(on.out.find("token_embd.weight\" layout=q8_0x16"), std::string::npos) << "the tied q8_0 table";
  } else {
    EXPECT_NE(on.out.find("# weights: 210 of 272 in a prepared layout"), std::string::npos) << on.out;
    EXPECT_EQ(count("layout=q4_1x2"), 210u);
    EXPECT_EQ(on.out.find("token_embd.weight\" layout="), std::string::npos) << "the tied q8_0 table stays plain";
  }
}

TEST(GraphCli, PassesOffAndDumpAfter) {
  test::CliResult none = test::run_ember("graph " + tiny() + " --passes=none");
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.out.find("matmul_cat"), std::string::npos);
  EXPECT_NE(none.out.find("not planned"), std::string::npos);

  test::CliResult no_qkv = test::run_ember("graph " + tiny() + " --passes=-merge-qkv");
  ASSERT_EQ(no_qkv.code, 0) << no_qkv.err;
  EXPECT_NE(no_qkv.out.find("= norm_matmul %"), std::string::npos) << "gate/up are still merged and fused";
  EXPECT_EQ(no_qkv.out.find("= slice %"), std::string::npos) << "Q/K/V are not merged, gate/up need no slices";
  EXPECT_NE(no_qkv.out.find("= rms_norm_mul %"), std::string::npos) << "a norm read by three matmuls stays";
  EXPECT_NE(no_qkv.out.find("= matmul %"), std::string::npos);

  test::CliResult after = test::run_ember("graph " + tiny() + " --dump-after=merge-qkv");
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_NE(after.out.find("matmul_cat"), std::string::npos);
  EXPECT_EQ(after.out.find("rms_norm_mul"), std::string::npos) << "fusion runs after merge-qkv";
  EXPECT_NE(after.out.find("= rms_norm %"), std::string::npos);

  test::CliResult fused = test::run_ember("graph " + tiny() + " --dump-after=fuse-rms-norm-mul");
  ASSERT_EQ(fused.code, 0) << fused.err;
  EXPECT_NE(fused.out.find("rms_norm_mul"), std::string::npos);
  EXPECT_EQ(fused.out.find("norm_matmul"), std::string::npos);
  EXPECT_EQ(after.out.find("@"), std::string::npos) << "not planned yet";

  test::CliResult built = test::run_ember("graph " + tiny() + " --dump-after=build");
  ASSERT_EQ(built.code, 0) << built.err;
  EXPECT_EQ(built.out.find("matmul_cat"), std::string::npos);
}

TEST(GraphCli, UnknownPassNamesAreOneError) {
  expect_one_error(test::run_ember("graph " + tiny() + " --passes=-fuse-everything"), "unknown pass 'fuse-everything'");
  expect_one_error(test::run_ember("graph " + tiny() + " --dump-after=nope"), "unknown pass 'nope'");
  expect_one_error(test::run_ember("graph " + tiny() + " --passes=-plan-memory --dump-after=plan-memory"),
                   "switched off");
  expect_one_error(test::run_ember("run -m " + tiny() + " -p hi -n 1 --passes=-bogus"), "unknown pass 'bogus'");
  expect_one_error(test::run_ember("bench -m " + tiny() + " -p 4 -n 1 -r 1 --passes=all/-bogus"),
                   "unknown pass 'bogus'");
}

TEST(GraphCli, RunGivesTheSameTextWithPassesOff) {
  const std::string args = "run -m " + tiny() + " -p 'Hello there' -n 12 --temp 0 -t 2";
  test::CliResult on = test::run_ember(args);
  test::CliResult off = test::run_ember(args + " --passes=none");
  ASSERT_EQ(on.code, 0) << on.err;
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_FALSE(on.out.empty());
  EXPECT_EQ(on.out, off.out);
}

}  // namespace
}  // namespace ember
