// merge-qkv (graph/passes/merge_qkv.cpp): three q8_0 projections of one activation become one
// matmul_cat and three slices (text in tests/data/graph/passes/merge_qkv.{in,out}.txt); the
// merged graph's outputs equal the unmerged graph's bit for bit at M = 1 (slices are views)
// and M = 5 (slices read by adds copy, the multi-row kernels run); slices read only by rope
// and kv_write (through reshapes) are strided views at any M: no copy, no arena block, and
// the attention output and KV pools equal the unmerged graph's bit for bit. Groups whose
// weight types differ, groups read between their members, and merges without a backend that
// runs them are left alone.
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
    // Adds read contiguous rows: at M > 1 the slices they read are copies.
    for (int i = 0; i < static_cast<int>(after.nodes.size()); ++i) {
      int of = -1;
      uint64_t at = 0;
      if (after.nodes[i].op == OpKind::Slice) {
        EXPECT_EQ(is_view(after, i, &of, &at), M == 1) << "node " << i;
      }
    }
  }
}

TEST(MergeQkv, SlicesReadByRopeAndKvWriteAreStridedViews) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  Weights w;
  const passtest::AttnShape s;
  const passtest::AttnWeights aw(w, s);
  const int64_t cat_row = (s.H + 2 * s.Hkv) * s.D * sizeof(float);
  passtest::AttnPools want_pools(s), got_pools(s);
  for (const auto& [M, first] : std::vector<std::pair<int64_t, int32_t>>{{5, 0}, {1, 5}, {4, 6}}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    const OpGraph before = passtest::attention_graph(aw, s, M);
    OpGraph after = before;
    ASSERT_TRUE(run_merge_qkv(after, ctx).ok());
    ASSERT_TRUE(run_plan_memory(after, ctx).ok());
    ASSERT_TRUE(verify_memory_plan(after).ok()) << verify_memory_plan(after).message();
    ASSERT_EQ(passtest::count_op(after, OpKind::Slice), 3);
    int64_t begin = 0;
    for (int i = 0; i < static_cast<int>(after.nodes.size()); ++i) {
      const Node& n = after.nodes[i];
      int of = -1;
      uint64_t at = 0;
      if (n.op == OpKind::Slice) {
        ASSERT_TRUE(is_view(after, i, &of, &at)) << "slice " << i;
        EXPECT_EQ(at, static_cast<uint64_t>(begin) * sizeof(float));
        EXPECT_EQ(after.memory.offset[i], -1) << "a view has no block of its own";
        EXPECT_EQ(row_stride_bytes(after, i), M == 1 ? static_cast<uint64_t>(n.out.dim(-1)) * sizeof(float)
                                                     : static_cast<uint64_t>(cat_row));
        begin += n.out.dim(-1);
      }
      if (n.op == OpKind::Reshape && M > 1) {
        EXPECT_EQ(row_stride_bytes(after, i), static_cast<uint64_t>(cat_row));
      }
      if (n.op == OpKind::Rope) {
        EXPECT_EQ(row_stride_bytes(after, i), n.out.bytes() / M) << "rope writes contiguously";
      }
    }
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * s.K), 30 + first);
    auto want = passtest::run_attention(*be, before, s, want_pools, x, first);
    auto got = passtest::run_attention(*be, after, s, got_pools, x, first);
    EXPECT_TRUE(passtest::bit_equal(want, got));
    EXPECT_EQ(want_pools.k, got_pools.k);
    EXPECT_EQ(want_pools.v, got_pools.v);
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
