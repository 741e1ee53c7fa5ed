// fuse-rope (graph/passes/fuse_rope.cpp): rope(K) feeding kv_write becomes kv_write_rope and
// rope(Q) feeding attention becomes attention_rope (tests/data/graph/passes/fuse_rope.*.txt);
// a rope with a second reader stays, and so does one whose fused form the backend declines. Over a prefill, a decode step and a chunk that crosses a
// KV block, the attention output and the KV pool bytes are bit-identical to the unfused
// graph's, alone and after merge-qkv (whose slices are then strided views the fused ops read
// in place), for normal and NeoX rope, full and partial rotation, f16 and q8_0 caches.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::AttnPools;
using passtest::AttnShape;
using passtest::AttnWeights;
using passtest::Weights;

PassContext cpu_ctx(const Backend* be) {
  PassContext ctx;
  ctx.backend = be;
  return ctx;
}

TEST(FuseRope, FusesRopeIntoKvWriteAndAttention) {
  Weights w;
  const AttnShape s;
  OpGraph g = passtest::attention_graph(AttnWeights(w, s), s, 3);
  passtest::expect_graph_text(g, "fuse_rope.in.txt");
  auto be = passtest::cpu_backend();
  ASSERT_TRUE(run_fuse_rope(g, cpu_ctx(be.get())).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  passtest::expect_graph_text(g, "fuse_rope.out.txt");
  EXPECT_EQ(passtest::count_op(g, OpKind::Rope), 0);
  EXPECT_EQ(passtest::count_op(g, OpKind::KvWriteRope), 1);
  EXPECT_EQ(passtest::count_op(g, OpKind::AttentionRope), 1);
  EXPECT_EQ(passtest::count_op(g, OpKind::KvWrite), 1);  // V has no rope
}

struct Case {
  const char* name;
  AttnShape shape;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class FuseRopeBitIdentical : public ::testing::TestWithParam<Case> {};

TEST_P(FuseRopeBitIdentical, OutputsAndKvPoolsMatchTheUnfusedGraph) {
  const AttnShape& s = GetParam().shape;
  auto be = passtest::cpu_backend();
  const PassContext ctx = cpu_ctx(be.get());
  Weights w;
  const AttnWeights aw(w, s);
  // Variants: as built; fuse-rope alone; merge-qkv, fuse-rope and plan-memory (the pipeline's
  // order), where the fused ops read Q and K through the merged output's strided slices.
  enum { kBuilt, kFused, kMergedFused, kVariants };
  std::vector<AttnPools> pools(kVariants, AttnPools(s));
  const std::vector<std::pair<int64_t, int32_t>> steps = {{5, 0}, {1, 5}, {3, 6}};  // (tokens, first position)
  uint32_t seed = 40;
  for (const auto& [M, first] : steps) {
    SCOPED_TRACE("step of " + std::to_string(M) + " tokens at " + std::to_string(first));
    const OpGraph built = passtest::attention_graph(aw, s, M);
    OpGraph fused = built, merged = built;
    ASSERT_TRUE(run_fuse_rope(fused, ctx).ok());
    ASSERT_TRUE(run_merge_qkv(merged, ctx).ok());
    ASSERT_TRUE(run_fuse_rope(merged, ctx).ok());
    ASSERT_TRUE(run_plan_memory(merged, ctx).ok());
    ASSERT_TRUE(verify(merged).ok() && verify_memory_plan(merged).ok());
    for (const OpGraph* g : {&fused, &merged}) {
      ASSERT_EQ(passtest::count_op(*g, OpKind::Rope), 0);
      ASSERT_EQ(passtest::count_op(*g, OpKind::KvWriteRope), 1);
      ASSERT_EQ(passtest::count_op(*g, OpKind::AttentionRope), 1);
    }
    ASSERT_EQ(passtest::count_op(merged, OpKind::MatMulCat), 1);
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * s.K), seed++);
    const auto want = passtest::run_attention(*be, built, s, pools[kBuilt], x, first);
    ASSERT_EQ(want.size(), 1u);
    EXPECT_TRUE(passtest::bit_equal(want, passtest::run_attention(*be, fused, s, pools[kFused], x, first)));
    EXPECT_TRUE(passtest::bit_equal(want, passtest::run_attention(*be, merged, s, pools[kMergedFused], x, first)));
    for (int v : {kFused, kMergedFused}) {
      EXPECT_EQ(pools[v].k, pools[kBuilt].k) << "variant " << v << ": K pool";
      EXPECT_EQ(pools[v].v, pools[kBuilt].v) << "variant " << v << ": V pool";
    }
  }
  // The steps wrote 9 positions: the slots of positions 0..8 differ from the NaN fill.
  EXPECT_NE(pools[kBuilt].k, AttnPools(s).k);
}

AttnShape shape(int n_rot, RopeMode mode, DType kv, int64_t H = 4, int64_t Hkv = 2) {
  AttnShape s;
  s.n_rot = n_rot;
  s.mode = mode;
  s.kv = kv;
  s.H = H;
  s.Hkv = Hkv;
  return s;
}

INSTANTIATE_TEST_SUITE_P(RopeAndCache, FuseRopeBitIdentical,
                         ::testing::Values(Case{"normal_full_f16", shape(32, RopeMode::Normal, DType::F16)},
                                           Case{"neox_partial_q8_0", shape(16, RopeMode::NeoX, DType::Q8_0)},
                                           Case{"normal_partial_f16_gqa3", shape(8, RopeMode::Normal, DType::F16, 6, 2)},
                                           Case{"neox_full_f16_mha", shape(32, RopeMode::NeoX, DType::F16, 3, 3)}),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(FuseRope, LeavesARopeWithAnotherReader) {
  Weights w;
  const AttnShape s;
  OpGraph g = passtest::attention_graph(AttnWeights(w, s), s, 2, /*k_also_output=*/true);
  auto be = passtest::cpu_backend();
  ASSERT_TRUE(run_fuse_rope(g, cpu_ctx(be.get())).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  EXPECT_EQ(passtest::count_op(g, OpKind::Rope), 1);  // the roped K is also an output
  EXPECT_EQ(passtest::count_op(g, OpKind::KvWriteRope), 0);
  EXPECT_EQ(passtest::count_op(g, OpKind::AttentionRope), 1);
}

// The CPU backend, except that it declines one op (as a plugin that never declared it would).
class Declining final : public Backend {
 public:
  Declining(Backend& cpu, OpKind declined) : cpu_(cpu), declined_(declined) {}
  const DeviceInfo& info() const override { return cpu_.info(); }
  Support supports(const OpGraph& g, int i) const override {
    if (g.nodes[i].op == declined_) return {false, "not declared"};
    return cpu_.supports(g, i);
  }
  Expected<std::unique_ptr<Buffer>> alloc(size_t n) override { return cpu_.alloc(n); }
  Queue& queue() override { return cpu_.queue(); }
  Expected<std::unique_ptr<Plan>> prepare(const OpGraph& g) override { return cpu_.prepare(g); }
  Status execute(Plan& p, const ExecArgs& a) override { return cpu_.execute(p, a); }

 private:
  Backend& cpu_;
  OpKind declined_;
};

TEST(FuseRope, FusesOnlyWhatTheBackendRuns) {
  Weights w;
  const AttnShape s;
  auto cpu = passtest::cpu_backend();
  for (OpKind declined : {OpKind::KvWriteRope, OpKind::AttentionRope}) {
    SCOPED_TRACE(op_name(declined));
    OpGraph g = passtest::attention_graph(AttnWeights(w, s), s, 2);
    Declining be(*cpu, declined);
    ASSERT_TRUE(run_fuse_rope(g, cpu_ctx(&be)).ok());
    ASSERT_TRUE(verify(g).ok()) << verify(g).message();
    EXPECT_EQ(passtest::count_op(g, OpKind::Rope), 1);
    EXPECT_EQ(passtest::count_op(g, declined), 0);
    EXPECT_EQ(passtest::count_op(g, declined == OpKind::KvWriteRope ? OpKind::AttentionRope : OpKind::KvWriteRope), 1);
  }
}

TEST(FuseRope, NothingWithoutABackend) {
  Weights w;
  const AttnShape s;
  OpGraph g = passtest::attention_graph(AttnWeights(w, s), s, 2);
  const std::string before = print(g);
  ASSERT_TRUE(run_fuse_rope(g, PassContext{}).ok());
  EXPECT_EQ(print(g), before);
}

}  // namespace
}  // namespace ember::graph
