// --device and --split on the command line: `ember graph --dump` shows each node's device, the
// transfers and one summary line per partition; `ember run` generates the same text placed as
// on the CPU (npu-ref, always built, on a tiny f16 model whose matmuls it runs); every bad
// policy is one error line and a non-zero exit, for run, chat, bench and graph (bench-serve
// refuses the flags).
#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace ember {
namespace {

std::string tiny_f16() { return test::shell_quote(test::data_path("models/tiny-llama-f16-gqa4.gguf")); }

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

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(PlacementCli, GraphDumpShowsDevicesTransfersAndPartitions) {
  test::CliResult r = test::run_ember("graph " + tiny_f16() + " --dump --tokens 3 --device npu-ref:0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("= matmul %"), std::string::npos) << "npu-ref runs matmuls unfused";
  EXPECT_GT(count(r.out, " on npu-ref:0"), 0u) << r.out;
  EXPECT_GT(count(r.out, " on cpu"), 0u) << "rope and attention fall back to the CPU";
  EXPECT_GT(count(r.out, "= transfer %"), 0u);
  EXPECT_EQ(count(r.out, "= transfer %"), count(r.out, " to npu-ref:0") + count(r.out, " to cpu"));
  EXPECT_NE(r.out.find("# placement: "), std::string::npos) << r.out;
  const size_t parts = count(r.out, "# partition ");
  EXPECT_GE(parts, 3u);
  EXPECT_NE(r.out.find("# partition 0: "), std::string::npos);
  // Unplaced, the same command shows no devices.
  test::CliResult cpu = test::run_ember("graph " + tiny_f16() + " --dump --tokens 3");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  EXPECT_EQ(cpu.out.find(" on cpu"), std::string::npos);
  EXPECT_EQ(cpu.out.find("# partition"), std::string::npos);
}

TEST(PlacementCli, RunPlacedGivesTheCpuText) {
  setenv("EMBER_NPU_REF_CACHE_DIR", test::tmp_dir().c_str(), 1);
  const std::string args = " -m " + tiny_f16() + " -p 'Once upon a time' -n 12 --temp 0 -q -t 2";
  test::CliResult cpu = test::run_ember("run" + args);
  test::CliResult npu = test::run_ember("run" + args + " --device npu-ref:0");
  test::CliResult split = test::run_ember("run" + args + " --split layers:0=npu-ref:0");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  ASSERT_EQ(npu.code, 0) << npu.err;
  ASSERT_EQ(split.code, 0) << split.err;
  EXPECT_EQ(npu.out, cpu.out);
  EXPECT_EQ(split.out, cpu.out);
}

TEST(PlacementCli, BadPoliciesAreOneErrorLine) {
  const std::string model = tiny_f16();
  struct Bad {
    std::string flags, says;
  };
  const Bad bad[] = {
      {"--device nosuch:0", "unknown device 'nosuch:0' (present: cpu"},
      {"--device 'opencl 0'", "is not a device name"},
      {"--split layers:0-40=cpu", "go beyond the model's last layer"},
      {"--split layers:0-1=cpu,1=npu-ref:0", "overlap"},
      {"--split 0-1=cpu", "must start with 'layers:'"},
      {"--split layers:0-1", "is not RANGE=DEVICE"},
      {"--split layers:x=cpu", "is not a layer range"},
      {"--device npu-ref:0 --split layers:0=cpu", "both given"},
      {"--device npu-ref:0 --passes none", "need the place pass"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.flags);
    expect_one_error(test::run_ember("run -m " + model + " -p hi -n 1 -q " + b.flags), b.says);
    expect_one_error(test::run_ember("graph " + model + " " + b.flags), b.says);
  }
  expect_one_error(test::run_ember("chat -m " + model + " --device nosuch:0", "hi\n"), "unknown device 'nosuch:0'");
  expect_one_error(test::run_ember("bench -m " + model + " -p 0 -n 1 -r 1 --split layers:3-1=cpu"), "runs backwards");
  expect_one_error(test::run_ember("bench-serve -m " + model + " -n 1 --device npu-ref:0"), "not supported by bench-serve");
}

}  // namespace
}  // namespace ember
