// merge-qkv (graph/passes/merge_qkv.cpp): three q8_0 projections of one activation become one
// matmul_cat and three slices (text in tests/data/graph/passes/merge_qkv.{in,out}.txt); the
// merged graph's outputs equal the unmerged graph's bit for bit at M = 1 (slices are views)
// and M = 5 (slices copy, the multi-row kernels run); groups whose weight types differ, groups
// read between their members, and merges without a backend that runs them are left alone.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

// x -> q, k, v projections (q8_0) -> three outputs (q and k through an add, like a bias).
OpGraph qkv_graph(Weights& w, int64_t M, DType k_type = DType::Q8_0, bool read_between = false) {
  Builder b;
  b.set_label("blk.0.attn");
  Value x = b.input("x", DType::F32, {M, 64});
  Value q = b.matmul(x, w.add(b, "q", DType::Q8_0, {64, 64}));
  Value early = read_between ? b.add(q, q) : Value();
  Value k = b.matmul(x, w.add(b, "k", k_type, {32, 64}));
  Value v = b.matmul(x, w.add(b, "v", DType::Q8_0, {32, 64}));
  b.output(b.add(q, w.add(b, "q_bias", DType::F32, {64})));
  b.output(b.add(k, w.add(b, "k_bias", DType::F32, {32})));
  b.output(read_between ? early : v);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

TEST(MergeQkv, MergesThreeProjectionsAsExpected) {
  Weights w;
  OpGraph g = qkv_graph(w, 3);
  passtest::expect_graph_text(g, "merge_qkv.in.txt");
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  ASSERT_TRUE(run_merge_qkv(g, ctx).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  passtest::expect_graph_text(g, "merge_qkv.out.txt");
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMul), 0);
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMulCat), 1);
  EXPECT_EQ(passtest::count_op(g, OpKind::Slice), 3);
}

TEST(MergeQkv, OutputsBitIdenticalAtDecodeAndPrefill) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  for (int64_t M : {1, 5}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    Weights w;
    OpGraph before = qkv_graph(w, M);
    OpGraph after = before;
    ASSERT_TRUE(run_merge_qkv(after, ctx).ok());
    ASSERT_EQ(passtest::count_op(after, OpKind::MatMulCat), 1);
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 11);
    auto want = passtest::run(*be, before, x);
    auto got = passtest::run(*be, after, x);
    EXPECT_TRUE(passtest::bit_equal(want, got));
    EXPECT_FALSE(want[0].empty());
  }
}

TEST(MergeQkv, LeavesGroupsItCannotMerge) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  Weights w;
  for (OpGraph g : {qkv_graph(w, 2, DType::F16), qkv_graph(w, 2, DType::Q8_0, true)}) {
    const std::string before = print(g);
    ASSERT_TRUE(run_merge_qkv(g, ctx).ok());
    EXPECT_EQ(print(g), before);
  }
  OpGraph g = qkv_graph(w, 2);
  const std::string before = print(g);
  ASSERT_TRUE(run_merge_qkv(g, PassContext{}).ok());  // no backend: no merged node is made
  EXPECT_EQ(print(g), before);
}

}  // namespace
}  // namespace ember::graph
