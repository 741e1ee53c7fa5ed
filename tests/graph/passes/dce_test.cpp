// dce (graph/passes/dce.cpp): nodes nothing reads disappear, kv_write (an effect on the cache)
// stays even when unread, the survivors keep their order (tests/data/graph/passes/dce.*.txt),
// and a second run changes nothing.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

TEST(Dce, RemovesUnreadNodesKeepsKvWrites) {
  Weights w;
  Builder b;
  Value x = b.input("x", DType::F32, {2, 64});
  Value unused_in = b.input("unused", DType::I32, {2});
  (void)unused_in;
  Value dead = b.matmul(x, w.add(b, "dead_w", DType::F32, {8, 64}));
  Value dead2 = b.silu(dead);
  (void)dead2;
  Value k = b.reshape(x, {2, 2, 32});
  Value written = b.kv_write(k, b.kv_cache(0, 0, 4, 4, 2, 32));  // read by nothing: an effect
  (void)written;
  b.output(b.silu(x));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  passtest::expect_graph_text(*g, "dce.in.txt");
  ASSERT_TRUE(run_dce(*g, PassContext{}).ok());
  ASSERT_TRUE(verify(*g).ok()) << verify(*g).message();
  passtest::expect_graph_text(*g, "dce.out.txt");
  EXPECT_EQ(passtest::count_op(*g, OpKind::KvWrite), 1);
  EXPECT_EQ(passtest::count_op(*g, OpKind::MatMul), 0);
  EXPECT_EQ(passtest::count_op(*g, OpKind::Input), 1);
  const std::string once = print(*g);
  ASSERT_TRUE(run_dce(*g, PassContext{}).ok());
  EXPECT_EQ(print(*g), once);
}

}  // namespace
}  // namespace ember::graph
