// The plugin ABI end to end: test plugins written in C from the public header alone
// (tests/backends/plugins/) and the reference NPU plugin (backends/npu-ref/) are loaded
// through the Registry and driven through the Backend adapter. Each broken plugin (wrong ABI
// version, no entry point, failing init, a NULL required entry, an error mid-execution) must
// be refused or fail with its reason, and the CPU backend must keep running afterwards.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/plugin/plugin.h"
#include "graph/graph.h"
#include "kernels/cpu/fp16.h"
#include "support/test_support.h"

namespace ember {
namespace {

using graph::Builder;
using graph::Value;
using plugin::PluginBackend;
using plugin::PluginRecord;
using plugin::Registry;

std::string test_plugin(const char* name) {
  return std::string(EMBER_TEST_PLUGIN_DIR) + "/libember-test-" + name + ".so";
}
std::string npu_ref_path() { return std::string(EMBER_PLUGIN_DIR) + "/libember-npu-ref.so"; }

OpGraph finish(Builder& b) {
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? std::move(*g) : OpGraph{};
}

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

// Runs g with the given inputs; returns the outputs as floats, or the failing Status.
Expected<std::vector<std::vector<float>>> run(Backend& be, const OpGraph& g, const std::vector<InputBinding>& in) {
  EMBER_ASSIGN_OR_RETURN(auto plan, be.prepare(g));
  std::vector<std::vector<float>> outs;
  ExecArgs args;
  args.inputs = in;
  for (int o : g.outputs) outs.emplace_back(g.nodes[o].out.numel(), -12345.0f);
  for (auto& o : outs) args.outputs.push_back(o.data());
  EMBER_RETURN_IF_ERROR(be.execute(*plan, args));
  EMBER_RETURN_IF_ERROR(be.queue().synchronize());
  return outs;
}

// (x + y) * y over [3, 5].
struct AddMul {
  OpGraph g;
  std::vector<float> x, y;
  AddMul() {
    std::mt19937 rng(7);
    x = random_floats(15, rng);
    y = random_floats(15, rng);
    Builder b;
    Value vx = b.input("x", DType::F32, {3, 5}), vy = b.input("y", DType::F32, {3, 5});
    b.output(b.mul(b.add(vx, vy), vy));
    g = finish(b);
  }
  std::vector<InputBinding> inputs() const { return {{"x", x.data()}, {"y", y.data()}}; }
  void check(const std::vector<float>& got) const {
    ASSERT_EQ(got.size(), 15u);
    for (size_t i = 0; i < 15; ++i) EXPECT_EQ(got[i], (x[i] + y[i]) * y[i]) << i;
  }
};

void expect_cpu_still_runs() {
  auto cpu = make_cpu_backend(CpuOptions{1});
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  AddMul t;
  auto out = run(**cpu, t.g, t.inputs());
  ASSERT_TRUE(out.ok()) << out.message();
  t.check((*out)[0]);
}

TEST(PluginAbi, MinimalPluginLoadsAndRuns) {
  Registry reg;
  const PluginRecord& r = reg.load_file(test_plugin("minimal"));
  ASSERT_TRUE(r.loaded) << r.refusal;
  EXPECT_EQ(r.name, "test-min");
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices[0].info.name, "test-min:0");
  EXPECT_EQ(r.devices[0].info.vendor, "ember tests");
  EXPECT_TRUE(r.devices[0].info.host_visible);
  ASSERT_EQ(r.devices[0].dtypes.size(), 1u);
  EXPECT_EQ(r.devices[0].dtypes[0], DType::F32);

  auto be = reg.open("test-min:0");
  ASSERT_TRUE(be.ok()) << be.message();
  AddMul t;
  auto out = run(**be, t.g, t.inputs());
  ASSERT_TRUE(out.ok()) << out.message();
  t.check((*out)[0]);

  // Buffers: host-visible, and copies go through the plugin's queue.
  auto buf = (*be)->alloc(64);
  ASSERT_TRUE(buf.ok()) << buf.message();
  ASSERT_NE((*buf)->host_ptr(), nullptr);
  const char msg[] = "through the plugin";
  ASSERT_TRUE((*be)->queue().write(**buf, 8, msg, sizeof msg).ok());
  char back[sizeof msg] = {};
  ASSERT_TRUE((*be)->queue().read(**buf, 8, back, sizeof back).ok());
  EXPECT_STREQ(back, msg);
  EXPECT_EQ(std::memcmp(static_cast<char*>((*buf)->host_ptr()) + 8, msg, sizeof msg), 0);
  Status oob = (*be)->queue().write(**buf, 60, msg, sizeof msg);
  EXPECT_FALSE(oob.ok());
  EXPECT_NE(oob.message().find("copy out of range"), std::string::npos) << oob.message();
}

TEST(PluginAbi, DeclinedNodesCarryReasons) {
  Registry reg;
  ASSERT_TRUE(reg.load_file(test_plugin("minimal")).loaded);
  auto be = reg.open("test-min:0");
  ASSERT_TRUE(be.ok()) << be.message();
  Builder b;
  Value x = b.input("x", DType::F32, {2, 8});
  b.set_label("norm");
  b.output(b.rms_norm(b.add(x, x), 1e-5f));
  OpGraph g = finish(b);
  auto sup = (*be)->supports_all(g);
  ASSERT_EQ(sup.size(), 3u);
  EXPECT_TRUE(sup[0].ok);
  EXPECT_TRUE(sup[1].ok);
  EXPECT_FALSE(sup[2].ok);
  EXPECT_NE(sup[2].reason.find("not implemented by the test plugin"), std::string::npos) << sup[2].reason;
  EXPECT_FALSE((*be)->supports(g, 2).ok);
  auto plan = (*be)->prepare(g);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.message().find("rms_norm"), std::string::npos) << plan.message();
  EXPECT_NE(plan.message().find("norm"), std::string::npos) << plan.message();
}

struct Refusal {
  const char* plugin;
  const char* reason;
};

class Refused : public ::testing::TestWithParam<Refusal> {};

TEST_P(Refused, WithItsReasonAndTheCpuKeepsRunning) {
  Registry reg;
  const PluginRecord& r = reg.load_file(test_plugin(GetParam().plugin));
  EXPECT_FALSE(r.loaded);
  EXPECT_TRUE(r.devices.empty());
  EXPECT_NE(r.refusal.find(GetParam().reason), std::string::npos) << r.refusal;
  std::printf("refused %s: %s\n", r.path.c_str(), r.refusal.c_str());
  auto be = reg.open(0, 0);
  ASSERT_FALSE(be.ok());
  EXPECT_NE(be.message().find("refused"), std::string::npos) << be.message();
  expect_cpu_still_runs();
}

INSTANTIATE_TEST_SUITE_P(
    PluginAbi, Refused,
    ::testing::Values(Refusal{"bad_abi", "built for plugin ABI version 999, this ember speaks version 1"},
                      Refusal{"no_entry", "no entry point 'ember_plugin_init'"},
                      Refusal{"init_fail", "initialisation failed: simulated: no device driver is installed"},
                      Refusal{"missing_entry", "required entry 'compile' is NULL"}),
    [](const auto& info) { return std::string(info.param.plugin); });

TEST(PluginAbi, NotALibraryIsRefused) {
  const std::string path = test::tmp_dir() + "/libgarbage.so";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  std::fputs("this is not an ELF file", f);
  std::fclose(f);
  Registry reg;
  const PluginRecord& r = reg.load_file(path);
  EXPECT_FALSE(r.loaded);
  EXPECT_NE(r.refusal.find("cannot load the library"), std::string::npos) << r.refusal;
}

TEST(PluginAbi, ErrorMidExecutionComesBackAsStatus) {
  Registry reg;
  const PluginRecord& r = reg.load_file(test_plugin("exec_fail"));
  ASSERT_TRUE(r.loaded) << r.refusal;
  auto be = reg.open("test-fault:0");
  ASSERT_TRUE(be.ok()) << be.message();
  AddMul t;
  auto out = run(**be, t.g, t.inputs());
  ASSERT_FALSE(out.ok());
  std::printf("execute failed as expected: %s\n", out.message().c_str());
  EXPECT_NE(out.message().find("plugin 'test-fault': execute: simulated device fault while running node 2"),
            std::string::npos)
      << out.message();
  EXPECT_NE(out.message().find("device error"), std::string::npos) << out.message();
  expect_cpu_still_runs();
}

TEST(PluginAbi, DirectoryAndEnvPathLoadEveryPluginOnce) {
  Registry reg;
  reg.load_dir(EMBER_TEST_PLUGIN_DIR);
  int loaded = 0, refused = 0;
  for (const PluginRecord& r : reg.plugins()) (r.loaded ? loaded : refused)++;
  EXPECT_EQ(loaded, 2);   // minimal, exec_fail
  EXPECT_EQ(refused, 4);  // bad_abi, no_entry, init_fail, missing_entry
  const size_t n = reg.plugins().size();
  // The same files again (directly and through the path variable) are not loaded twice.
  (void)reg.load_file(test_plugin("minimal"));
  setenv("EMBER_PLUGIN_PATH", (std::string(EMBER_TEST_PLUGIN_DIR) + "::" + npu_ref_path()).c_str(), 1);
  reg.load_env();
  unsetenv("EMBER_PLUGIN_PATH");
  EXPECT_EQ(reg.plugins().size(), n + 1);  // only npu-ref is new
  EXPECT_TRUE(reg.plugins().back().loaded) << reg.plugins().back().refusal;
  EXPECT_EQ(reg.plugins().back().name, "npu-ref");
  auto be = reg.open("test-min:0");
  ASSERT_TRUE(be.ok()) << be.message();
  AddMul t;
  auto out = run(**be, t.g, t.inputs());
  ASSERT_TRUE(out.ok()) << out.message();
  t.check((*out)[0]);
  EXPECT_FALSE(reg.open("no-such:0").ok());
}

// `ember devices` lists the CPU, every plugin device with what it runs, and each refused plugin
// with its reason — and still exits 0: a broken plugin never stops ember.
TEST(PluginAbi, EmberDevicesListsDevicesAndRefusals) {
  setenv("EMBER_PLUGIN_PATH", npu_ref_path().c_str(), 1);
  test::CliResult r = test::run_ember("devices -v --plugin-dir " + test::shell_quote(EMBER_TEST_PLUGIN_DIR));
  unsetenv("EMBER_PLUGIN_PATH");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* want : {"cpu  (built in)", "npu-ref:0", "runs:     matmul(F32 F16) add mul rms_norm silu_mul",
                           "rope(F32): rope is not in npu-ref's op set", "test-min:0", "test-fault:0",
                           "refused plugins:", "libember-test-bad_abi.so: built for plugin ABI version 999",
                           "libember-test-no_entry.so: no entry point 'ember_plugin_init'",
                           "libember-test-init_fail.so: initialisation failed: simulated: no device driver",
                           "libember-test-missing_entry.so: required entry 'compile' is NULL"})
    EXPECT_NE(r.out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << r.out;
  // CPU line: every weight type the CPU has kernels for shows under matmul.
  EXPECT_NE(r.out.find("matmul(F32 F16 BF16 Q4_0 Q4_1"), std::string::npos) << r.out;
}

// Without any OpenCL platform (the ICD loader pointed at an empty vendors folder) the OpenCL
// plugin loads with no devices and `ember devices` says so plainly; without the plugin built,
// `ember devices` says that instead. Either way the CPU is listed and the exit status is 0.
TEST(PluginAbi, EmberDevicesWithoutAnOpenClPlatform) {
  const std::string empty = test::tmp_dir() + "/no-opencl-vendors";
  ASSERT_EQ(system(("mkdir -p " + test::shell_quote(empty)).c_str()), 0);
  setenv("OCL_ICD_VENDORS", empty.c_str(), 1);
  test::CliResult r = test::run_ember("devices");
  unsetenv("OCL_ICD_VENDORS");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("cpu  (built in)"), std::string::npos) << r.out;
  if (test::file_exists(std::string(EMBER_PLUGIN_DIR) + "/libember-opencl.so")) {
    EXPECT_NE(r.out.find("opencl  (plugin "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no devices: no OpenCL platform found"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("opencl:0"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(r.out.find("opencl: no OpenCL plugin was found"), std::string::npos) << r.out;
  }
}

// ---- npu-ref --------------------------------------------------------------------------------

using CacheStatsFn = void (*)(uint64_t*, uint64_t*, uint64_t*);

struct Stats {
  uint64_t hits = 0, misses = 0, stores = 0;
};
Stats stats(PluginBackend& be) {
  Stats s;
  auto fn = reinterpret_cast<CacheStatsFn>(be.proc("npu_ref_cache_stats"));
  EXPECT_NE(fn, nullptr);
  if (fn) fn(&s.hits, &s.misses, &s.stores);
  return s;
}

// An MLP block: y = x + down(silu(gate(n)) * up(n)) with n = rms_norm(x) * g, f16 weights.
struct Mlp {
  static constexpr int64_t M = 3, E = 32, F = 48;
  OpGraph g;
  std::vector<float> x, norm;
  std::vector<uint16_t> wg, wu, wd;
  explicit Mlp(DType wt = DType::F16) {
    std::mt19937 rng(11);
    x = random_floats(M * E, rng);
    norm = random_floats(E, rng);
    auto half = [&](size_t n) {
      std::vector<uint16_t> h(n);
      for (uint16_t& v : h) v = kernels::f32_to_fp16(random_floats(1, rng)[0] * 0.3f);
      return h;
    };
    wg = half(F * E);
    wu = half(F * E);
    wd = half(E * F);
    Builder b;
    b.set_label("mlp");
    Value vx = b.input("x", DType::F32, {M, E});
    Value n = b.mul(b.rms_norm(vx, 1e-5f), b.weight("norm", DType::F32, {E}, norm.data()));
    Value gate = b.matmul(n, b.weight("gate", wt, {F, E}, wg.data()));
    Value up = b.matmul(n, b.weight("up", wt, {F, E}, wu.data()));
    Value down = b.matmul(b.silu_mul(gate, up), b.weight("down", wt, {E, F}, wd.data()));
    b.output(b.add(vx, down));
    g = finish(b);
  }
};

class NpuRef : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = test::tmp_dir() + "/npu-cache-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    setenv("EMBER_NPU_REF_CACHE_DIR", cache_.c_str(), 1);
    const PluginRecord& r = reg_.load_file(npu_ref_path());
    ASSERT_TRUE(r.loaded) << r.refusal;
    ASSERT_EQ(r.devices.size(), 1u);
    auto be = reg_.open("npu-ref:0");
    ASSERT_TRUE(be.ok()) << be.message();
    be_ = std::move(*be);
  }
  void TearDown() override { unsetenv("EMBER_NPU_REF_CACHE_DIR"); }
  Registry reg_;
  std::unique_ptr<PluginBackend> be_;
  std::string cache_;
};

TEST_F(NpuRef, DescribesItsDevice) {
  const plugin::PluginDevice& d = reg_.plugins()[0].devices[0];
  EXPECT_EQ(d.info.name, "npu-ref:0");
  EXPECT_FALSE(d.info.host_visible);
  EXPECT_GT(d.info.memory_bytes, 0u);
  EXPECT_EQ(d.dtypes, (std::vector<DType>{DType::F32, DType::F16}));
  // Device memory is reached through copies only.
  auto buf = be_->alloc(256);
  ASSERT_TRUE(buf.ok()) << buf.message();
  EXPECT_EQ((*buf)->host_ptr(), nullptr);
  std::vector<uint8_t> in(256), out(256, 0);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(be_->queue().write(**buf, 0, in.data(), in.size()).ok());
  ASSERT_TRUE(be_->queue().read(**buf, 0, out.data(), out.size()).ok());
  ASSERT_TRUE(be_->queue().synchronize().ok());
  EXPECT_EQ(in, out);
  EXPECT_FALSE(be_->queue().read(**buf, 200, out.data(), 100).ok());
  // Beyond its memory: a clear out-of-memory error, not a crash.
  auto huge = be_->alloc(size_t{1} << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.message().find("device memory exhausted"), std::string::npos) << huge.message();
}

TEST_F(NpuRef, RunsAWholeSubgraphLikeTheCpu) {
  Mlp m;
  auto cpu = make_cpu_backend(CpuOptions{1});
  ASSERT_TRUE(cpu.ok());
  auto want = run(**cpu, m.g, {{"x", m.x.data()}});
  ASSERT_TRUE(want.ok()) << want.message();
  auto got = run(*be_, m.g, {{"x", m.x.data()}});
  ASSERT_TRUE(got.ok()) << got.message();
  // The CPU rounds matmul activations to f16 (as llama.cpp does); npu-ref keeps them f32.
  // Outputs are O(1): 2e-3 absolute covers f16 rounding of K=48 products.
  for (size_t i = 0; i < (*want)[0].size(); ++i) EXPECT_NEAR((*got)[0][i], (*want)[0][i], 2e-3) << i;
}

TEST_F(NpuRef, DeclinesWhatItCannotRunWithReasons) {
  Mlp q4(DType::Q4_1);
  auto sup = be_->supports_all(q4.g);
  int declined = 0;
  for (size_t i = 0; i < sup.size(); ++i)
    if (!sup[i].ok) {
      ++declined;
      EXPECT_TRUE(sup[i].reason.find("Q4_1") != std::string::npos) << i << ": " << sup[i].reason;
    }
  EXPECT_EQ(declined, 6);  // three Q4_1 weights and the three matmuls reading them

  Builder b;
  Value x = b.input("x", DType::F32, {2, 2, 8});
  Value pos = b.input("positions", DType::I32, {2});
  b.output(b.rope(x, pos, 8, RopeMode::Normal, 10000.0f, 1.0f));
  OpGraph g = finish(b);
  sup = be_->supports_all(g);
  ASSERT_EQ(sup.size(), 3u);
  EXPECT_TRUE(sup[0].ok);
  EXPECT_NE(sup[1].reason.find("f32 inputs only"), std::string::npos) << sup[1].reason;
  EXPECT_NE(sup[2].reason.find("rope is not in npu-ref's op set"), std::string::npos) << sup[2].reason;

  Builder a;
  Value q = a.input("q", DType::F32, {1, 2, 8});
  Value k = a.kv_cache(0, 0, 2, 4, 2, 8), v = a.kv_cache(0, 1, 2, 4, 2, 8);
  a.output(a.attention(q, k, v, 0.35f));
  g = finish(a);
  sup = be_->supports_all(g);
  EXPECT_NE(sup.back().reason.find("attention needs the paged KV cache"), std::string::npos) << sup.back().reason;
}

TEST_F(NpuRef, CompiledPlansAreCachedOnDisk) {
  Mlp m;
  const Stats s0 = stats(*be_);
  auto first = run(*be_, m.g, {{"x", m.x.data()}});
  ASSERT_TRUE(first.ok()) << first.message();
  const Stats s1 = stats(*be_);
  EXPECT_EQ(s1.misses, s0.misses + 1);
  EXPECT_EQ(s1.stores, s0.stores + 1);
  EXPECT_EQ(s1.hits, s0.hits);
  auto second = run(*be_, m.g, {{"x", m.x.data()}});
  ASSERT_TRUE(second.ok()) << second.message();
  const Stats s2 = stats(*be_);
  EXPECT_EQ(s2.hits, s1.hits + 1);
  EXPECT_EQ(s2.misses, s1.misses);
  EXPECT_EQ((*first)[0], (*second)[0]);

  // Other weights of the same shapes: the same program, bound to the new weights.
  Mlp other;
  for (uint16_t& h : other.wd) h ^= 0x8000;  // negate down: the result must change
  auto third = run(*be_, other.g, {{"x", other.x.data()}});
  ASSERT_TRUE(third.ok()) << third.message();
  EXPECT_EQ(stats(*be_).hits, s2.hits + 1);
  EXPECT_NE((*third)[0], (*first)[0]);

  // A corrupted cache file is a miss and a recompile, never a crash or a wrong result.
  int files = 0;
  FILE* ls = popen(("ls " + test::shell_quote(cache_) + "/*.nrp").c_str(), "r");
  ASSERT_TRUE(ls);
  char line[4096];
  while (std::fgets(line, sizeof line, ls)) {
    std::string p(line);
    p.erase(p.find_last_not_of("\n") + 1);
    FILE* f = std::fopen(p.c_str(), "r+b");
    ASSERT_TRUE(f);
    std::fseek(f, 40, SEEK_SET);
    const uint32_t junk = 0xffffffffu;
    std::fwrite(&junk, 4, 1, f);
    std::fwrite(&junk, 4, 1, f);
    std::fclose(f);
    ++files;
  }
  pclose(ls);
  EXPECT_EQ(files, 1);
  auto fourth = run(*be_, m.g, {{"x", m.x.data()}});
  ASSERT_TRUE(fourth.ok()) << fourth.message();
  EXPECT_EQ(stats(*be_).misses, s2.misses + 1);
  EXPECT_EQ((*fourth)[0], (*first)[0]);
}

}  // namespace
}  // namespace ember
