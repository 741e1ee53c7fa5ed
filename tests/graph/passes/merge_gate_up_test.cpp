// merge-gate-up (graph/passes/merge_gate_up.cpp): an MLP's gate and up projections feeding one
// silu_mul become one matmul_cat whose two halves the silu_mul reads in place (no slices;
// tests/data/graph/passes/merge_gate_up.*.txt), bit-identical at M = 1 and M = 4; two
// projections of one activation that do not feed a silu_mul together are left alone.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

OpGraph mlp_graph(Weights& w, int64_t M, bool feed_silu_mul = true) {
  Builder b;
  b.set_label("blk.0.ffn");
  Value x = b.input("x", DType::F32, {M, 64});
  Value g = b.matmul(x, w.add(b, "gate", DType::Q8_0, {96, 64}));
  Value u = b.matmul(x, w.add(b, "up", DType::Q8_0, {96, 64}));
  if (feed_silu_mul) {
    Value m = b.silu_mul(g, u);
    b.output(b.matmul(m, w.add(b, "down", DType::Q8_0, {64, 96})));
  } else {
    b.output(b.add(g, u));
  }
  auto r = b.finish();
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

TEST(MergeGateUp, MergesThePairAsExpected) {
  Weights w;
  OpGraph g = mlp_graph(w, 2);
  passtest::expect_graph_text(g, "merge_gate_up.in.txt");
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  ASSERT_TRUE(run_merge_gate_up(g, ctx).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  passtest::expect_graph_text(g, "merge_gate_up.out.txt");
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMulCat), 1);
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMul), 1);  // down stays
  EXPECT_EQ(passtest::count_op(g, OpKind::Slice), 0);
}

TEST(MergeGateUp, OutputsBitIdentical) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  for (int64_t M : {1, 4}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    Weights w;
    OpGraph before = mlp_graph(w, M);
    OpGraph after = before;
    ASSERT_TRUE(run_merge_gate_up(after, ctx).ok());
    ASSERT_EQ(passtest::count_op(after, OpKind::MatMulCat), 1);
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 5);
    EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, before, x), passtest::run(*be, after, x)));
  }
}

TEST(MergeGateUp, LeavesPairsNotFeedingSiluMul) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  Weights w;
  OpGraph g = mlp_graph(w, 2, false);
  const std::string before = print(g);
  ASSERT_TRUE(run_merge_gate_up(g, ctx).ok());
  EXPECT_EQ(print(g), before);
}

}  // namespace
}  // namespace ember::graph
