// place (graph/passes/place.cpp) and the partitioning the runtime does with its result
// (graph/partition.h). A fake accelerator ("accel:0") runs what the CPU runs except rope, the
// kv cache ops, q8_0 weights and every fused op, so every policy has something to fall back.
//   - --device accel:0 and --split layers:0=cpu,1=accel:0 on a two-layer graph with a kv
//     group give the committed graphs (tests/data/graph/passes/place_*.txt): nodes on their
//     devices, the CPU taking what accel declines, transfers before the first reader;
//   - auto puts the f16 matmuls on accel and leaves cheap ops where their inputs are;
//   - the full pipeline after placement fuses only on the CPU and never across devices;
//   - cut into partitions and run on two backends (accel runs on a CPU backend underneath),
//     a placed graph gives bit-identical outputs to the unplaced graph on the CPU;
//   - every bad policy is one clear error.
#include "tests/graph/passes/pass_test_util.h"

#include <map>

#include "graph/partition.h"
#include "graph/passes/pipeline.h"

namespace ember::graph {
namespace {

using passtest::Weights;

// A device with its own answers to supports(); it executes on a CPU backend.
class FakeAccel final : public Backend {
 public:
  FakeAccel() : cpu_(passtest::cpu_backend(1)) { info_.name = "accel:0"; }
  const DeviceInfo& info() const override { return info_; }
  Support supports(const OpGraph& g, int i) const override {
    const Node& n = g.nodes[i];
    switch (n.op) {
      case OpKind::Rope:
      case OpKind::KvCache:
      case OpKind::KvWrite:
      case OpKind::Attention: return {false, "accel holds no kv cache and has no rope"};
      case OpKind::MatMulCat:
      case OpKind::MatMulAdd:
      case OpKind::RmsNormMul:
      case OpKind::NormMatMul:
      case OpKind::Slice:
      case OpKind::Transfer: return {false, "accel runs no fused ops"};
      case OpKind::Weight:
        if (n.out.dtype == DType::Q8_0) return {false, "accel has no q8_0"};
        break;
      default: break;
    }
    if (declined.count(n.op)) return {false, "declined by the test"};
    return cpu_->supports(g, i);
  }
  Expected<std::unique_ptr<Buffer>> alloc(size_t bytes) override { return cpu_->alloc(bytes); }
  Queue& queue() override { return cpu_->queue(); }
  Expected<std::unique_ptr<Plan>> prepare(const OpGraph& g) override {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (Support s = supports(g, static_cast<int>(i)); !s.ok) return Error("accel: %s", s.reason.c_str());
    ++prepared;
    return cpu_->prepare(g);
  }
  Status execute(Plan& p, const ExecArgs& a) override { return cpu_->execute(p, a); }

  std::map<OpKind, bool> declined;
  int prepared = 0;

 private:
  std::unique_ptr<Backend> cpu_;
  DeviceInfo info_;
};

// Two layers of the llama shape family: layer 0 attention (with its kv group), layer 1 mlp.
OpGraph two_layers(Weights& w, int64_t M) {
  Builder b;
  b.set_label("input");
  Value x = b.input("x", DType::F32, {M, 64});
  Value pos = b.input("positions", DType::I32, {M});
  b.set_label("blk.0.attn");
  Value h = b.rms_norm(x, 1e-5f);
  h = b.mul(h, w.add(b, "blk.0.attn_norm", DType::F32, {64}, 1.0f));
  Value q = b.matmul(h, w.add(b, "blk.0.attn_q", DType::F16, {64, 64}));
  Value k = b.matmul(h, w.add(b, "blk.0.attn_k", DType::F16, {32, 64}));
  Value v = b.matmul(h, w.add(b, "blk.0.attn_v", DType::F16, {32, 64}));
  q = b.rope(b.reshape(q, {M, 2, 32}), pos, 32, RopeMode::Normal, 10000.0f, 1.0f);
  k = b.rope(b.reshape(k, {M, 1, 32}), pos, 32, RopeMode::Normal, 10000.0f, 1.0f);
  // One node per statement: the order of a call's arguments is unspecified (g++ and clang
  // differ), and the expected texts depend on the node order.
  Value kcache = b.kv_cache(0, 0, 4, 16, 1, 32);
  Value kc = b.kv_write(k, kcache);
  Value vcache = b.kv_cache(0, 1, 4, 16, 1, 32);
  Value v3 = b.reshape(v, {M, 1, 32});
  Value vc = b.kv_write(v3, vcache);
  Value a = b.attention(q, kc, vc, 0.1767767f);
  x = b.add(x, b.matmul(a, w.add(b, "blk.0.attn_output", DType::Q8_0, {64, 64})));
  b.set_label("blk.1.ffn");
  h = b.rms_norm(x, 1e-5f);
  h = b.mul(h, w.add(b, "blk.1.ffn_norm", DType::F32, {64}, 1.0f));
  Value g = b.matmul(h, w.add(b, "blk.1.ffn_gate", DType::F16, {96, 64}));
  Value u = b.matmul(h, w.add(b, "blk.1.ffn_up", DType::F16, {96, 64}));
  Value down = w.add(b, "blk.1.ffn_down", DType::F16, {64, 96});
  Value gu = b.silu_mul(g, u);
  x = b.add(x, b.matmul(gu, down));
  b.set_label("output");
  Value wout = w.add(b, "output", DType::Q8_0, {128, 64});
  Value xn = b.rms_norm(x, 1e-5f);
  b.output(b.matmul(xn, wout));
  auto r = b.finish();
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

// The mlp alone (no kv cache), for running: accel declines what `declined` says.
OpGraph mlp(Weights& w, int64_t M) {
  Builder b;
  b.set_label("input");
  Value x = b.input("x", DType::F32, {M, 64});
  for (int l = 0; l < 3; ++l) {
    b.set_label("blk." + std::to_string(l) + ".ffn");
    Value h = b.rms_norm(x, 1e-5f);
    h = b.mul(h, w.add(b, "norm", DType::F32, {64}, 1.0f));
    Value g = b.matmul(h, w.add(b, "gate", l == 1 ? DType::Q8_0 : DType::F16, {96, 64}));
    Value u = b.matmul(h, w.add(b, "up", DType::F16, {96, 64}));
    Value down = w.add(b, "down", DType::F16, {64, 96});
    Value gu = b.silu_mul(g, u);
    x = b.add(x, b.matmul(gu, down));
  }
  b.set_label("output");
  b.output(b.rms_norm(x, 1e-5f));
  b.output(x);
  auto r = b.finish();
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

struct Devices {
  std::unique_ptr<Backend> cpu = passtest::cpu_backend();
  FakeAccel accel;
  PassContext ctx(const std::string& device, const std::string& split) {
    PassContext c;
    c.backend = cpu.get();
    c.devices = {{"cpu", cpu.get()}, {"accel:0", &accel}};
    auto p = parse_placement(device, split);
    EXPECT_TRUE(p.ok()) << p.message();
    if (p.ok()) c.placement = *p;
    return c;
  }
};

TEST(Place, DevicePolicyFallsBackToTheCpuAndInsertsTransfers) {
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 2);
  passtest::expect_graph_text(g, "place.in.txt");
  ASSERT_TRUE(run_place(g, d.ctx("accel:0", "")).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  ASSERT_TRUE(verify_placement(g).ok()) << verify_placement(g).message();
  passtest::expect_graph_text(g, "place_device.out.txt");
  // Declined by accel and so on the CPU: both ropes, the kv group (2 caches, 2 writes, the
  // attention), the q8_0 attn_output and output matmuls.
  int on_cpu = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (g.placement.device[i] == 0 && n.op != OpKind::Transfer) ++on_cpu;
    if (n.op == OpKind::Rope || n.op == OpKind::Attention || n.op == OpKind::KvWrite || n.op == OpKind::KvCache) {
      EXPECT_EQ(g.placement.device[i], 0) << i;
    }
    if (n.op == OpKind::Weight || n.op == OpKind::Input) {
      EXPECT_EQ(g.placement.device[i], -1) << i;
    }
  }
  EXPECT_GE(on_cpu, 2 + 2 + 2 + 1 + 2);
  EXPECT_GT(passtest::count_op(g, OpKind::Transfer), 0);
  // One transfer per value and device: no two transfers of the same value to one device.
  std::map<std::pair<int, int>, int> seen;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == OpKind::Transfer) {
      EXPECT_EQ((seen[{g.nodes[i].inputs[0], g.placement.device[i]}]++), 0) << "value moved twice: %" << i;
    }
  }
}

TEST(Place, SplitByLayers) {
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 2);
  ASSERT_TRUE(run_place(g, d.ctx("", "layers:0=cpu,1=accel:0")).ok());
  ASSERT_TRUE(verify_placement(g).ok()) << verify_placement(g).message();
  passtest::expect_graph_text(g, "place_split.out.txt");
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string& label = g.nodes[i].label;
    if (g.nodes[i].op == OpKind::Weight || g.nodes[i].op == OpKind::Input) continue;
    if (label.rfind("blk.0.", 0) == 0 && g.nodes[i].op != OpKind::Transfer) {  // (a transfer has its value's label)
      EXPECT_EQ(g.placement.device[i], 0) << "%" << i << " " << label;
    }
    if (label.rfind("blk.1.", 0) == 0 && g.nodes[i].op != OpKind::Transfer) {  // layer 1 on accel
      EXPECT_EQ(g.placement.device[i], 1) << "%" << i << " " << label;
    }
  }
  const int out = g.outputs[0];
  EXPECT_EQ(g.placement.device[out], 0) << "accel declines the q8_0 output matmul";
}

TEST(Place, AutoSendsMatmulsToTheAcceleratorAndKeepsCheapOpsWhereTheirInputsAre) {
  Weights w;
  Devices d;
  OpGraph g = mlp(w, 1);
  ASSERT_TRUE(run_place(g, d.ctx("auto", "")).ok());
  ASSERT_TRUE(verify_placement(g).ok()) << verify_placement(g).message();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != OpKind::MatMul) continue;
    const bool q8 = g.nodes[n.inputs[1]].out.dtype == DType::Q8_0;
    EXPECT_EQ(g.placement.device[i], q8 ? 0 : 1) << "%" << i << " " << n.label;
  }
  // The first rms_norm reads the step input (host memory, on no device): cheapest on the CPU
  // (ties stay there); the silu_mul after two accel matmuls stays on accel.
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == OpKind::SiluMul && g.nodes[i].label == "blk.0.ffn") {
      EXPECT_EQ(g.placement.device[i], 1);
    }
  }
}

TEST(Place, EverythingOnTheCpuLeavesTheGraphUnplaced) {
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 2);
  const std::string before = print(g);
  ASSERT_TRUE(run_place(g, d.ctx("", "layers:0-1=cpu")).ok());
  EXPECT_TRUE(g.placement.empty());
  EXPECT_EQ(print(g), before);
  ASSERT_TRUE(run_place(g, d.ctx("cpu", "")).ok());
  EXPECT_EQ(print(g), before);
  ASSERT_TRUE(run_place(g, PassContext{}).ok());
  EXPECT_EQ(print(g), before);
}

TEST(Place, PipelineFusesOnlyWithinADeviceThatRunsTheFusedOp) {
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 2);
  PipelineOptions o;
  o.verify = true;
  Status ps = run_pipeline(g, d.ctx("accel:0", ""), o);
  ASSERT_TRUE(ps.ok()) << ps.message();
  ASSERT_TRUE(verify_placement(g).ok());
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const OpKind op = g.nodes[i].op;
    const bool is_fused = op == OpKind::MatMulCat || op == OpKind::MatMulAdd || op == OpKind::RmsNormMul ||
                          op == OpKind::NormMatMul || op == OpKind::Slice;
    if (is_fused) {
      ++fused;
      EXPECT_EQ(g.placement.device[i], 0) << "%" << i << " " << op_name(op) << " on accel, which declines it";
    }
  }
  // On the CPU: the attention output matmul + residual add would fuse, but the add runs on
  // accel (a transfer stands between), so it stays unfused; the final rms_norm has no mul.
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMulAdd), 0);
  EXPECT_EQ(fused, 0);
  // With the CPU taking everything (layers 0-1 on cpu) the same pipeline fuses as always.
  OpGraph h = two_layers(w, 2);
  ASSERT_TRUE(run_pipeline(h, d.ctx("", "layers:0-1=cpu"), o).ok());
  EXPECT_GT(passtest::count_op(h, OpKind::MatMulAdd) + passtest::count_op(h, OpKind::RmsNormMul), 0);
}

// Runs the partitions of a placed graph in order, values crossing through host memory, as
// the Session does.
std::vector<std::vector<float>> run_placed(const OpGraph& g, std::vector<Backend*> devs, const std::vector<float>& x,
                                           int* n_parts) {
  std::vector<std::vector<float>> outs(g.outputs.size());
  auto parts = partition_graph(g, true, 64);
  EXPECT_TRUE(parts.ok()) << parts.message();
  if (!parts.ok()) return outs;
  *n_parts = static_cast<int>(parts->size());
  std::map<int, std::vector<float>> staged;  // every value a partition yields
  for (const Partition& p : *parts) {
    auto plan = devs[p.device]->prepare(p.graph);
    EXPECT_TRUE(plan.ok()) << plan.message();
    if (!plan.ok()) return outs;
    ExecArgs a;
    a.inputs = {{"x", x.data()}};
    for (int v : p.reads) a.inputs.push_back({xfer_input_name(v), staged.at(v).data()});
    for (int v : p.yields) {
      staged[v].resize(static_cast<size_t>(g.nodes[v].out.numel()));
      a.outputs.push_back(staged[v].data());
    }
    Status s = devs[p.device]->execute(**plan, a);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  for (size_t o = 0; o < g.outputs.size(); ++o) outs[o] = staged[g.outputs[o]];
  return outs;
}

TEST(Place, PartitionedRunIsBitIdenticalToTheCpu) {
  Devices d;
  d.accel.declined[OpKind::SiluMul] = true;  // so layers go back and forth
  for (int64_t M : {1, 5}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    Weights w;
    OpGraph plain = mlp(w, M);
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 5);
    const auto want = passtest::run(*d.cpu, plain, x);
    for (const char* dev : {"accel:0", "auto"}) {
      OpGraph g = plain;
      PipelineOptions o;
      o.verify = true;
      ASSERT_TRUE(run_pipeline(g, d.ctx(dev, ""), o).ok());
      ASSERT_FALSE(g.placement.empty());
      int n_parts = 0;
      const auto got = run_placed(g, {d.cpu.get(), &d.accel}, x, &n_parts);
      EXPECT_GT(n_parts, 3) << dev;
      EXPECT_TRUE(passtest::bit_equal(want, got)) << dev;
    }
  }
}

TEST(Place, PartitionsAreMaximalRunsInScheduleOrder) {
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 3);
  ASSERT_TRUE(run_place(g, d.ctx("accel:0", "")).ok());
  auto parts = partition_graph(g, false, 64);
  ASSERT_TRUE(parts.ok()) << parts.message();
  for (size_t k = 0; k < parts->size(); ++k) {
    const Partition& p = (*parts)[k];
    if (k) {
      EXPECT_NE(p.device, (*parts)[k - 1].device) << "two neighbouring partitions on one device";
      EXPECT_GT(p.first, (*parts)[k - 1].last);
    }
    for (int i = p.first; i <= p.last; ++i) {
      if (!is_external(g.nodes[i].op)) {
        EXPECT_EQ(g.placement.device[i], p.device) << i;
      }
    }
    EXPECT_TRUE(verify(p.graph).ok());
    for (const Node& n : p.graph.nodes) EXPECT_NE(n.op, OpKind::Transfer) << "transfers are not handed to a backend";
  }
}

TEST(Place, BadPoliciesAreOneClearError) {
  struct Bad {
    const char* device;
    const char* split;
    const char* says;
  };
  for (const Bad& b : {Bad{"accel:0", "layers:0=cpu", "both given"}, Bad{"", "0-3=cpu", "must start with 'layers:'"},
                       Bad{"", "layers:0-3", "is not RANGE=DEVICE"}, Bad{"", "layers:a-3=cpu", "not a layer range"},
                       Bad{"", "layers:5-3=cpu", "runs backwards"},
                       Bad{"", "layers:0-3=cpu,3-5=accel:0", "overlap layers 0-3"},
                       Bad{"", "layers:0-3=", "not a device name"}, Bad{"opencl 0", "", "not a device name"},
                       Bad{"", "layers:0-3=cpu,,", "not RANGE=DEVICE"}}) {
    auto p = parse_placement(b.device, b.split);
    ASSERT_FALSE(p.ok()) << b.device << " " << b.split;
    EXPECT_NE(p.message().find(b.says), std::string::npos) << p.message();
  }
  // Checked against the graph and the devices present by the pass.
  Weights w;
  Devices d;
  OpGraph g = two_layers(w, 2);
  Status s = run_place(g, d.ctx("", "layers:0-2=accel:0"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("go beyond the model's last layer 1"), std::string::npos) << s.message();
  s = run_place(g, d.ctx("gpu:3", ""));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown device 'gpu:3' (present: cpu, accel:0)"), std::string::npos) << s.message();
  EXPECT_TRUE(g.placement.empty()) << "a failed placement leaves the graph as it was";
}

}  // namespace
}  // namespace ember::graph
