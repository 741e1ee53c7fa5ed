// The conformance runner: every op, with every weight type, on every device present (the
// plugins in <build>/plugins and $EMBER_PLUGIN_PATH), against the CPU backend on the same
// inputs and weights. A device that accepts a case must match the CPU within the case's error
// bound; a device that declines it is recorded with its reason. A device that claims a dtype
// (device_props) must run matmul with it. The result is written as the support matrix
// (ops × devices) to docs/support-matrix.md ($EMBER_SUPPORT_MATRIX overrides the path).
//
// Error bounds, per output element, relative to the scale S = Σ_k |x_k · w_k| of the
// products behind it (matmul) or to |want| + 1e-6 (everything else):
//   matmul f32 weights: 1e-5·S   (summation order only)
//   matmul f16 / bf16:  2^-9·S / 2^-6·S  (the CPU rounds activations to the weight type, as
//                       llama.cpp does; a device may keep them f32)
//   matmul quantised:   2^-6·S   (the CPU quantises activations to q8; a device may not)
//   elementwise, norms, rope, softmax, embedding, attention: 1e-5 relative + 1e-5 absolute,
//   attention 2e-3 (the CPU rounds q and probabilities to f16, as llama.cpp does).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/plugin/plugin.h"
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

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                              DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};


std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

// One conformance case: a graph, its inputs, and the bound each output element must meet.
struct Case {
  std::string op;           // row of the matrix: "matmul", "rope (neox)" ...
  DType dtype = DType::F32; // the weight / table type
  OpGraph g;
  std::map<std::string, std::vector<uint8_t>> inputs;
  std::vector<std::vector<uint8_t>> keep;  // weight bytes the graph points at
  std::vector<double> scale;               // per output element: the bound's scale (matmul)
  double rel = 1e-5, abs = 1e-5;
  // KV pools ([2*layer+which]), zero-initialised on each device, and the layout of the step.
  int kv_pools = 0;
  size_t kv_bytes = 0;
  std::vector<int32_t> seq_of_token, positions, blocks;
  int block_size = 4;
  std::string name() const { return op + "(" + dtype_name(dtype) + ")"; }
};

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

OpGraph finish(Builder& b) {
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? std::move(*g) : OpGraph{};
}

std::vector<Case> make_cases() {
  std::mt19937 rng(2026);
  std::vector<Case> cases;
  // matmul: x[M,K] · w[N,K]ᵀ for every weight type; K = 512 holds whole blocks of every type.
  for (DType t : kWeightTypes) {
    const int64_t M = 3, K = 512, N = 16;
    Case c;
    c.op = "matmul";
    c.dtype = t;
    std::vector<float> x = random_floats(M * K, rng);
    c.keep.push_back(test::random_weights(t, N * K, rng));
    Builder b;
    Value vx = b.input("x", DType::F32, {M, K});
    b.output(b.matmul(vx, b.weight("w", t, {N, K}, c.keep.back().data())));
    c.g = finish(b);
    std::vector<float> wf(N * K);
    ek::find_quant_kernels(static_cast<uint32_t>(t))->dequantize(c.keep.back().data(), wf.data(), N * K);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += std::fabs(static_cast<double>(x[m * K + k]) * wf[n * K + k]);
        c.scale.push_back(s);
      }
    c.rel = t == DType::F32 ? 1e-5 : t == DType::F16 ? 1.0 / 512 : t == DType::BF16 ? 1.0 / 64 : 1.0 / 64;
    c.abs = 0;
    c.inputs["x"] = as_bytes(x);
    cases.push_back(std::move(c));
  }
  // embedding: rows of a [V,E] table of every type.
  for (DType t : kWeightTypes) {
    const int64_t V = 10, E = 256;
    Case c;
    c.op = "embedding";
    c.dtype = t;
    c.keep.push_back(test::random_weights(t, V * E, rng));
    Builder b;
    b.output(b.embedding(b.weight("table", t, {V, E}, c.keep.back().data()), b.input("tokens", DType::I32, {4})));
    c.g = finish(b);
    c.inputs["tokens"] = as_bytes(std::vector<int32_t>{3, 0, 9, 3});
    cases.push_back(std::move(c));
  }
  // elementwise and norms on ragged shapes; add/mul also with a broadcast row.
  auto unary = [&](const char* name, auto fn, std::initializer_list<int64_t> shape) {
    Case c;
    c.op = name;
    Builder b;
    Value x = b.input("x", DType::F32, shape);
    b.output(fn(b, x));
    c.g = finish(b);
    c.inputs["x"] = as_bytes(random_floats(static_cast<size_t>(c.g.nodes[0].out.numel()), rng, -3.0f, 3.0f));
    cases.push_back(std::move(c));
  };
  auto binary = [&](const char* name, auto fn, bool bcast) {
    Case c;
    c.op = name;
    Builder b;
    Value x = b.input("x", DType::F32, {5, 67});
    Value y = bcast ? b.input("y", DType::F32, {67}) : b.input("y", DType::F32, {5, 67});
    b.output(fn(b, x, y));
    c.g = finish(b);
    c.inputs["x"] = as_bytes(random_floats(5 * 67, rng, -3.0f, 3.0f));
    c.inputs["y"] = as_bytes(random_floats(bcast ? 67 : 5 * 67, rng, -3.0f, 3.0f));
    cases.push_back(std::move(c));
  };
  binary("add", [](Builder& b, Value x, Value y) { return b.add(x, y); }, false);
  binary("add (row broadcast)", [](Builder& b, Value x, Value y) { return b.add(x, y); }, true);
  binary("mul", [](Builder& b, Value x, Value y) { return b.mul(x, y); }, false);
  binary("mul (row broadcast)", [](Builder& b, Value x, Value y) { return b.mul(x, y); }, true);
  binary("silu_mul", [](Builder& b, Value x, Value y) { return b.silu_mul(x, y); }, false);
  unary("silu", [](Builder& b, Value x) { return b.silu(x); }, {7, 33});
  unary("rms_norm", [](Builder& b, Value x) { return b.rms_norm(x, 1e-5f); }, {4, 576});
  unary("softmax", [](Builder& b, Value x) { return b.softmax(x); }, {3, 100});
  // rope, both modes, at scattered positions.
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX}) {
    Case c;
    c.op = mode == RopeMode::Normal ? "rope" : "rope (neox)";
    Builder b;
    Value x = b.input("x", DType::F32, {3, 4, 64});
    b.output(b.rope(x, b.input("positions", DType::I32, {3}), 64, mode, 10000.0f, 1.0f));
    c.g = finish(b);
    c.inputs["x"] = as_bytes(random_floats(3 * 4 * 64, rng));
    c.inputs["positions"] = as_bytes(std::vector<int32_t>{0, 7, 300});
    cases.push_back(std::move(c));
  }
  {
    Case c;
    c.op = "get_rows";
    Builder b;
    b.output(b.get_rows(b.input("x", DType::F32, {6, 40}), b.input("rows", DType::I32, {2})));
    c.g = finish(b);
    c.inputs["x"] = as_bytes(random_floats(6 * 40, rng));
    c.inputs["rows"] = as_bytes(std::vector<int32_t>{5, 2});
    cases.push_back(std::move(c));
  }
  // kv_write + attention: one sequence, 6 tokens prefilled into 4-token blocks (the second
  // block of the table is pool block 0, the first is pool block 2: non-contiguous on purpose),
  // GQA with 4 query heads over 2 KV heads.
  {
    const int64_t n = 6, H = 4, Hkv = 2, D = 32, nb = 3, B = 4;
    Case c;
    c.op = "kv_write + attention";
    Builder b;
    Value q = b.input("q", DType::F32, {n, H, D});
    Value k = b.input("k", DType::F32, {n, Hkv, D});
    Value v = b.input("v", DType::F32, {n, Hkv, D});
    Value kc = b.kv_write(k, b.kv_cache(0, 0, nb, B, Hkv, D));
    Value vc = b.kv_write(v, b.kv_cache(0, 1, nb, B, Hkv, D));
    b.output(b.attention(q, kc, vc, 1.0f / std::sqrt(static_cast<float>(D))));
    c.g = finish(b);
    c.inputs["q"] = as_bytes(random_floats(n * H * D, rng));
    c.inputs["k"] = as_bytes(random_floats(n * Hkv * D, rng));
    c.inputs["v"] = as_bytes(random_floats(n * Hkv * D, rng));
    c.kv_pools = 2;
    c.kv_bytes = static_cast<size_t>(nb * B * Hkv * D) * 2;
    c.seq_of_token.assign(n, 0);
    for (int i = 0; i < n; ++i) c.positions.push_back(i);
    c.blocks = {2, 0};
    c.block_size = B;
    c.rel = 2e-3;
    c.abs = 2e-3;
    cases.push_back(std::move(c));
  }
  return cases;
}

// Runs a case on a backend: outputs as floats, or the Status.
Expected<std::vector<float>> run_case(Backend& be, const Case& c) {
  EMBER_ASSIGN_OR_RETURN(auto plan, be.prepare(c.g));
  ExecArgs args;
  for (const auto& [name, bytes] : c.inputs) args.inputs.push_back({name, bytes.data()});
  std::vector<std::unique_ptr<Buffer>> pools;
  KvLayout layout;
  // Copies may be asynchronous: their host memory must live until the queue is synchronised.
  std::vector<uint8_t> zeros(c.kv_bytes, 0);
  if (c.kv_pools) {
    for (int i = 0; i < c.kv_pools; ++i) {
      EMBER_ASSIGN_OR_RETURN(auto buf, be.alloc(c.kv_bytes));
      EMBER_RETURN_IF_ERROR(be.queue().write(*buf, 0, zeros.data(), zeros.size()));
      pools.push_back(std::move(buf));
      args.kv.push_back(pools.back().get());
    }
    layout.block_size = c.block_size;
    layout.seq_of_token = c.seq_of_token.data();
    layout.positions = c.positions.data();
    layout.seq_blocks = {c.blocks.data()};
    layout.seq_n_blocks = {static_cast<int32_t>(c.blocks.size())};
    layout.n_tokens = static_cast<int>(c.seq_of_token.size());
    args.kv_layout = &layout;
  }
  std::vector<float> out(c.g.nodes[c.g.outputs[0]].out.numel(), -1e30f);
  args.outputs.push_back(out.data());
  EMBER_RETURN_IF_ERROR(be.execute(*plan, args));
  EMBER_RETURN_IF_ERROR(be.queue().synchronize());
  return out;
}

struct Cell {
  bool ok = false;
  std::string text;  // "✓ 3e-07" or the reason
};

TEST(Conformance, EveryOpOnEveryDeviceAgainstTheCpu) {
  // Plugin caches (compiled plans, tuning choices) go to this run's scratch folder unless the
  // caller chose a place: a test run leaves nothing in $HOME.
  setenv("EMBER_NPU_REF_CACHE_DIR", (test::tmp_dir() + "/npu-ref-cache").c_str(), 0);
  setenv("EMBER_OPENCL_TUNE_CACHE", (test::tmp_dir() + "/opencl-tune.txt").c_str(), 0);
  plugin::Registry reg;
  reg.load_dir(EMBER_PLUGIN_DIR);
  reg.load_env();
  std::vector<std::unique_ptr<plugin::PluginBackend>> devices;
  std::vector<std::vector<DType>> claimed;
  for (size_t p = 0; p < reg.plugins().size(); ++p) {
    const plugin::PluginRecord& r = reg.plugins()[p];
    if (!r.loaded) {
      std::printf("plugin %s refused: %s\n", r.path.c_str(), r.refusal.c_str());
      continue;
    }
    if (r.devices.empty()) std::printf("plugin %s has no devices: %s\n", r.name.c_str(), r.note.c_str());
    for (size_t d = 0; d < r.devices.size(); ++d) {
      auto be = reg.open(p, static_cast<int>(d));
      ASSERT_TRUE(be.ok()) << be.message();
      devices.push_back(std::move(*be));
      claimed.push_back(r.devices[d].dtypes);
    }
  }
  // The build always has npu-ref; a runner that silently tested no device would prove nothing.
  ASSERT_FALSE(devices.empty()) << "no plugin device found in " << EMBER_PLUGIN_DIR;

  auto cpu = make_cpu_backend(CpuOptions{1});
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  const std::vector<Case> cases = make_cases();
  std::vector<std::vector<Cell>> matrix(cases.size(), std::vector<Cell>(devices.size() + 1));
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    ASSERT_FALSE(c.g.nodes.empty()) << c.name();
    auto want = run_case(**cpu, c);
    if (!want.ok()) {
      matrix[ci][0] = {false, "— " + want.message()};
      continue;
    }
    matrix[ci][0] = {true, "✓ (reference)"};
    for (size_t d = 0; d < devices.size(); ++d) {
      plugin::PluginBackend& be = *devices[d];
      std::vector<Support> sup = be.supports_all(c.g);
      // The reason shown is the op's own where it declines it, else the first declined node.
      std::string declined, first;
      for (size_t i = 0; i < sup.size(); ++i) {
        if (sup[i].ok) continue;
        const OpKind op = c.g.nodes[i].op;
        const std::string why = std::string(op_name(op)) + ": " + sup[i].reason;
        if (first.empty()) first = why;
        if (declined.empty() && op != OpKind::Input && op != OpKind::Weight && op != OpKind::KvCache &&
            op != OpKind::Reshape)
          declined = why;
      }
      if (declined.empty()) declined = first;
      if (!declined.empty()) {
        matrix[ci][d + 1] = {false, "— " + declined};
        continue;
      }
      auto got = run_case(be, c);
      ASSERT_TRUE(got.ok()) << be.info().name << " accepted " << c.name() << " but failed: " << got.message();
      double worst = 0;  // the largest error as a fraction of its bound
      for (size_t i = 0; i < got->size(); ++i) {
        const double w = (*want)[i], g = (*got)[i];
        const double tol = c.scale.empty() ? c.rel * std::fabs(w) + c.abs : c.rel * c.scale[i] + 1e-6;
        ASSERT_LE(std::fabs(g - w), tol) << be.info().name << " " << c.name() << " element " << i << ": got " << g
                                         << ", cpu " << w;
        worst = std::max(worst, std::fabs(g - w) / tol);
      }
      matrix[ci][d + 1] = {true, worst == 0 ? "✓ exact" : strfmt("✓ %.2g", worst)};
    }
  }
  // A device claiming a weight type must run matmul with it.
  for (size_t d = 0; d < devices.size(); ++d)
    for (DType t : claimed[d])
      for (size_t ci = 0; ci < cases.size(); ++ci)
        if (cases[ci].op == "matmul" && cases[ci].dtype == t) {
          EXPECT_TRUE(matrix[ci][d + 1].ok) << devices[d]->info().name << " claims " << dtype_name(t)
                                            << " but declines matmul with it: " << matrix[ci][d + 1].text;
        }

  // The matrix.
  std::string md =
      "# Support matrix\n\n"
      "Written by the conformance runner (`tests/backends/conformance_test.cpp`, run by ctest as\n"
      "`backends_conformance_test`) on the devices present when it ran. Each case runs on the device\n"
      "and on the CPU backend with the same inputs and weights; ✓ gives the largest error as a fraction\n"
      "of its bound (1 = at the bound; the bounds are in the runner's header) or \"exact\", — gives the\n"
      "device's reason for declining. Do not edit by hand.\n\n| op (weight type) | cpu |";
  for (auto& d : devices) md += " " + d->info().name + " |";
  md += "\n|---|---|";
  for (size_t d = 0; d < devices.size(); ++d) md += "---|";
  md += "\n";
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const bool typed = cases[ci].op == "matmul" || cases[ci].op == "embedding";
    md += "| " + (typed ? cases[ci].name() : cases[ci].op) + " |";
    for (const Cell& cell : matrix[ci]) {
      std::string t = cell.text;
      for (size_t p = t.find('|'); p != std::string::npos; p = t.find('|', p + 2)) t.replace(p, 1, "\\|");
      md += " " + t + " |";
    }
    md += "\n";
  }
  const char* env = std::getenv("EMBER_SUPPORT_MATRIX");
  const std::string path = env && *env ? env : std::string(EMBER_SOURCE_DIR) + "/docs/support-matrix.md";
  std::ofstream f(path);
  ASSERT_TRUE(f.good()) << "cannot write " << path;
  f << md;
  std::printf("support matrix written to %s\n%s", path.c_str(), md.c_str());
}

}  // namespace
}  // namespace ember
