// The OpenCL plugin below the model level (on CI: PoCL):
//  - every matmul kernel of every weight type (group, per-item with each work-group size, and
//    the subgroup / f16 kernels where the device has them), forced with $EMBER_OPENCL_MATMUL,
//    against the CPU's scalar dequantiser (kernels/cpu/quant) in f64: ragged N, K of several
//    blocks and more 32-element units than a work-group has items;
//  - events through the raw plugin ABI, as a host drives them: copies on two queues ordered
//    only by an event (read after write, write after read), and event_synchronize;
//  - a program that fails to build comes back as an error carrying the compiler's build log
//    (the "opencl_build" extra), and extension kernels the compiler rejects (extensions claimed
//    with $EMBER_OPENCL_ASSUME_EXT) leave a build log on stderr and the core kernels working.
// Without an OpenCL device each test skips, saying so.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/plugin/plugin.h"
#include "ember/backend_plugin.h"
#include "graph/graph.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "support/random_weights.h"
#include "support/test_support.h"

namespace ember {
namespace {

using graph::Builder;
using graph::Value;
namespace ek = ember::kernels;

std::string plugin_path() { return std::string(EMBER_PLUGIN_DIR) + "/libember-opencl.so"; }


// Skips the calling test (visibly) when the plugin has no device; else leaves reg loaded.
#define REQUIRE_OPENCL_DEVICE(reg)                                                              \
  do {                                                                                          \
    const plugin::PluginRecord& rec_ = (reg).load_file(plugin_path());                         \
    if (!rec_.loaded || rec_.devices.empty())                                                   \
      GTEST_SKIP() << "no OpenCL device: " << (rec_.loaded ? rec_.note : rec_.refusal);         \
  } while (0)

// One matmul x[M,K] · w[N,K]ᵀ with its f64 reference and per-element scale Σ|x·w|.
struct MatmulCase {
  DType t;
  int64_t M = 3, K = 2304, N = 19;  // K: 9 super-blocks, 72 units of 32 (more than WG = 64)
  std::vector<float> x;
  std::vector<uint8_t> w;
  std::vector<double> want, scale;
  OpGraph g;
  explicit MatmulCase(DType type, std::mt19937& rng) : t(type) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    x.resize(static_cast<size_t>(M * K));
    for (float& f : x) f = u(rng);
    w = test::random_weights(t, N * K, rng);
    std::vector<float> wf(static_cast<size_t>(N * K));
    ek::find_quant_kernels(static_cast<uint32_t>(t))->dequantize(w.data(), wf.data(), N * K);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0, a = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = static_cast<double>(x[m * K + k]) * wf[n * K + k];
          s += p;
          a += std::fabs(p);
        }
        want.push_back(s);
        scale.push_back(a);
      }
    Builder b;
    b.output(b.matmul(b.input("x", DType::F32, {M, K}), b.weight("w", t, {N, K}, w.data())));
    auto r = b.finish();
    EXPECT_TRUE(r.ok()) << r.message();
    if (r.ok()) g = std::move(*r);
  }
};

Expected<std::vector<float>> run_matmul(Backend& be, const MatmulCase& c) {
  EMBER_ASSIGN_OR_RETURN(auto plan, be.prepare(c.g));
  std::vector<float> out(static_cast<size_t>(c.M * c.N), -1e30f);
  ExecArgs args;
  args.inputs.push_back({"x", c.x.data()});
  args.outputs.push_back(out.data());
  EMBER_RETURN_IF_ERROR(be.execute(*plan, args));
  EMBER_RETURN_IF_ERROR(be.queue().synchronize());
  return out;
}

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(OpenClPlugin, EveryMatmulKernelOfEveryTypeMatchesTheScalarDequantiser) {
  setenv("EMBER_OPENCL_TUNE_CACHE", "off", 1);
  plugin::Registry reg;
  REQUIRE_OPENCL_DEVICE(reg);
  auto be = reg.open("opencl:0");
  ASSERT_TRUE(be.ok()) << be.message();
  std::mt19937 rng(77);
  std::vector<MatmulCase> cases;
  for (DType t : kTypes) cases.emplace_back(t, rng);
  // The first compile builds the programs; then the extension kernels' presence is known.
  unsetenv("EMBER_OPENCL_MATMUL");
  ASSERT_TRUE(run_matmul(**be, cases[0]).ok());
  using FeaturesFn = uint32_t (*)(int32_t);
  auto features = reinterpret_cast<FeaturesFn>((*be)->proc("opencl_features"));
  ASSERT_NE(features, nullptr);
  const uint32_t f = features(0);
  ASSERT_TRUE(f & 1u);
  std::vector<std::string> kinds = {"group", "item", "item:32", "item:64"};
  if (f & 2u) kinds.push_back("sg");
  if (f & 4u) kinds.push_back("f16h");
  std::printf("[ opencl ] matmul kernels tested: ");
  for (const std::string& k : kinds) std::printf("%s ", k.c_str());
  std::printf("(device subgroups %s, fp16 %s)\n", f & 2u ? "yes" : "no", f & 4u ? "yes" : "no");
  for (const std::string& kind : kinds) {
    setenv("EMBER_OPENCL_MATMUL", kind.c_str(), 1);
    for (const MatmulCase& c : cases) {
      if (kind == "f16h" && c.t != DType::F16) continue;
      SCOPED_TRACE(kind + " " + dtype_name(c.t));
      auto got = run_matmul(**be, c);
      ASSERT_TRUE(got.ok()) << got.message();
      // f32 accumulation in another order: far below 1e-4 of Σ|x·w|; f16 products: 2^-10.
      const double rel = kind == "f16h" ? 1.0 / 1024 : 1e-4;
      double worst = 0;
      for (size_t i = 0; i < got->size(); ++i) {
        const double tol = rel * c.scale[i] + 1e-6;
        ASSERT_LE(std::fabs((*got)[i] - c.want[i]), tol) << "element " << i << ": got " << (*got)[i] << ", want "
                                                         << c.want[i];
        worst = std::max(worst, std::fabs((*got)[i] - c.want[i]) / c.scale[i]);
      }
      EXPECT_GT(worst, 0.0) << "bit-exact f64 results from f32 sums are implausible: is the reference the output?";
    }
  }
  // A kernel the device does not have is an error naming it, not a silent substitute.
  setenv("EMBER_OPENCL_MATMUL", "item:48", 1);
  auto bad = (*be)->prepare(cases[0].g);
  unsetenv("EMBER_OPENCL_MATMUL");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("EMBER_OPENCL_MATMUL=item:48"), std::string::npos) << bad.message();
}

// The plugin as a host sees it: dlopen, ember_plugin_init, the function table.
class RawPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = dlopen(plugin_path().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) GTEST_SKIP() << "the OpenCL plugin is not built: " << dlerror();
    auto init = reinterpret_cast<ember_plugin_init_fn>(dlsym(handle_, EMBER_PLUGIN_INIT_SYMBOL));
    ASSERT_NE(init, nullptr);
    char err[512] = "";
    ASSERT_EQ(init(EMBER_PLUGIN_ABI_VERSION, &api_, err, sizeof err), EMBER_STATUS_OK) << err;
    inited_ = true;
    if (api_.device_count(api_.ctx) < 1) GTEST_SKIP() << "no OpenCL device: " << api_.last_error(api_.ctx);
  }
  void TearDown() override {
    if (inited_) api_.shutdown(api_.ctx);
    if (handle_) dlclose(handle_);
  }
  std::string error() const { return api_.last_error(api_.ctx); }
  void* handle_ = nullptr;
  bool inited_ = false;
  ember_plugin_api api_{};
};

TEST_F(RawPlugin, EventsOrderCopiesAcrossQueues) {
  ASSERT_NE(api_.event_record, nullptr);
  ASSERT_NE(api_.event_wait, nullptr);
  ASSERT_NE(api_.event_synchronize, nullptr);
  ASSERT_NE(api_.event_destroy, nullptr);
  void* ctx = api_.ctx;
  // 16 MiB: copies long enough that an unordered pair of queues would show it.
  const size_t n = 4u << 20, bytes = n * 4;
  std::vector<uint32_t> a(n), b(n), c(n), out(n, 0), out2(n, 0), out3(n, 0);
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<uint32_t>(i * 2654435761u);
    b[i] = ~a[i];
    c[i] = a[i] ^ 0x5a5a5a5au;
  }
  ember_buffer buf = nullptr;
  ember_queue qa = nullptr, qb = nullptr;
  ASSERT_EQ(api_.buffer_alloc(ctx, 0, bytes, &buf), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_create(ctx, 0, &qa), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_create(ctx, 0, &qb), EMBER_STATUS_OK) << error();

  // Read after write: queue B reads what queue A wrote, ordered only by A's event.
  ember_event written = nullptr;
  ASSERT_EQ(api_.copy_to_device(ctx, qa, buf, 0, a.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_record(ctx, qa, &written), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_wait(ctx, qb, written), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.copy_to_host(ctx, qb, buf, 0, out.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_synchronize(ctx, qb), EMBER_STATUS_OK) << error();
  EXPECT_TRUE(out == a) << "queue B's read did not see queue A's write before it";

  // Write after read: queue A overwrites only after queue B's read, ordered by B's event.
  ember_event read = nullptr;
  ASSERT_EQ(api_.copy_to_host(ctx, qb, buf, 0, out2.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_record(ctx, qb, &read), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_wait(ctx, qa, read), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.copy_to_device(ctx, qa, buf, 0, b.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_synchronize(ctx, qa), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_synchronize(ctx, qb), EMBER_STATUS_OK) << error();
  EXPECT_TRUE(out2 == a) << "queue A's write overtook queue B's read";

  // event_synchronize: once the host has waited for A's event, B reads without waiting.
  ember_event done = nullptr;
  ASSERT_EQ(api_.copy_to_device(ctx, qa, buf, 0, c.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_record(ctx, qa, &done), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.event_synchronize(ctx, done), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.copy_to_host(ctx, qb, buf, 0, out3.data(), bytes), EMBER_STATUS_OK) << error();
  ASSERT_EQ(api_.queue_synchronize(ctx, qb), EMBER_STATUS_OK) << error();
  EXPECT_TRUE(out3 == c) << "the write was not complete when event_synchronize returned";

  // An event waited for twice, and a wait without an event: the latter is an error.
  EXPECT_EQ(api_.event_wait(ctx, qb, written), EMBER_STATUS_OK) << error();
  EXPECT_EQ(api_.event_wait(ctx, qb, nullptr), EMBER_STATUS_INVALID_ARGUMENT);
  EXPECT_FALSE(error().empty());
  ASSERT_EQ(api_.queue_synchronize(ctx, qb), EMBER_STATUS_OK) << error();
  for (ember_event e : {written, read, done}) api_.event_destroy(ctx, e);
  api_.event_destroy(ctx, nullptr);
  api_.queue_destroy(ctx, qa);
  api_.queue_destroy(ctx, qb);
  api_.buffer_free(ctx, buf);
}

TEST_F(RawPlugin, AFailedBuildReturnsTheBuildLog) {
  using BuildFn = ember_status (*)(int32_t, const char*, char*, size_t);
  auto build = reinterpret_cast<BuildFn>(api_.get_proc_address(api_.ctx, "opencl_build"));
  ASSERT_NE(build, nullptr);
  char log[8192] = "";
  EXPECT_EQ(build(0, "__kernel void fine(__global float* y) { y[get_global_id(0)] = WG; }", log, sizeof log),
            EMBER_STATUS_OK)
      << log;
  const char* broken = "__kernel void broken(__global float* y) { y[0] = ember_no_such_identifier; }";
  EXPECT_EQ(build(0, broken, log, sizeof log), EMBER_STATUS_DEVICE_ERROR);
  EXPECT_NE(std::string(log).find("ember_no_such_identifier"), std::string::npos) << "build log: " << log;
  EXPECT_NE(error().find("build log"), std::string::npos) << error();
  EXPECT_NE(error().find("ember_no_such_identifier"), std::string::npos) << error();
  EXPECT_EQ(build(7, broken, log, sizeof log), EMBER_STATUS_INVALID_ARGUMENT);
}

// Extension kernels claimed for a device: where its compiler rejects them (PoCL has neither
// subgroups nor fp16) their build log is shown and the core kernels run; where it accepts them
// they must be right.
TEST(OpenClPlugin, ExtensionKernelsTheCompilerRejectsFallBackWithTheirLog) {
  setenv("EMBER_OPENCL_TUNE_CACHE", "off", 1);
  setenv("EMBER_OPENCL_ASSUME_EXT", "cl_khr_subgroups cl_khr_fp16", 1);
  plugin::Registry reg;
  const plugin::PluginRecord& rec = reg.load_file(plugin_path());
  unsetenv("EMBER_OPENCL_ASSUME_EXT");
  if (!rec.loaded || rec.devices.empty()) GTEST_SKIP() << "no OpenCL device: " << (rec.loaded ? rec.note : rec.refusal);
  auto be = reg.open("opencl:0");
  ASSERT_TRUE(be.ok()) << be.message();
  std::mt19937 rng(5);
  MatmulCase c(DType::F16, rng);
  ::testing::internal::CaptureStderr();
  auto got = run_matmul(**be, c);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(got.ok()) << got.message();
  for (size_t i = 0; i < got->size(); ++i) ASSERT_LE(std::fabs((*got)[i] - c.want[i]), 1.0 / 1024 * c.scale[i] + 1e-6);
  auto features = reinterpret_cast<uint32_t (*)(int32_t)>((*be)->proc("opencl_features"));
  ASSERT_NE(features, nullptr);
  const uint32_t f = features(0);
  std::printf("[ opencl ] extension kernels: subgroups %s, fp16 %s\n", f & 2u ? "built" : "rejected",
              f & 4u ? "built" : "rejected");
  if ((f & 6u) != 6u) {
    std::printf("[ opencl ] what the plugin said:\n%.2000s\n", err.c_str());
    EXPECT_NE(err.find("did not build"), std::string::npos) << err;
    EXPECT_NE(err.find("build log"), std::string::npos) << err;
    EXPECT_NE(err.find("error"), std::string::npos) << "the log should hold the compiler's errors:\n" << err;
  }
}

}  // namespace
}  // namespace ember
