// cse (graph/passes/cse.cpp): a repeated computation (same op, inputs, attributes, weight) is
// computed once and its readers read the first (tests/data/graph/passes/cse.*.txt); nodes
// that differ in an attribute or in their weight's bytes stay apart; kv_writes are never merged.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

TEST(Cse, MergesRepeatsOnly) {
  Weights w;
  Builder b;
  Value x = b.input("x", DType::F32, {2, 64});
  const void* norm = w.make(DType::F32, 1, 64, 1.0f);
  Value w1 = b.weight("norm", DType::F32, {64}, norm);
  Value w2 = b.weight("norm", DType::F32, {64}, norm);                      // same bytes: merges
  Value w3 = b.weight("norm", DType::F32, {64}, w.make(DType::F32, 1, 64));  // other bytes: stays
  Value a1 = b.mul(b.rms_norm(x, 1e-5f), w1);
  Value a2 = b.mul(b.rms_norm(x, 1e-5f), w2);  // the whole chain repeats a1
  Value a3 = b.mul(b.rms_norm(x, 1e-6f), w1);  // other eps
  Value a4 = b.mul(b.rms_norm(x, 1e-5f), w3);
  Value k = b.reshape(x, {2, 2, 32});
  Value cache = b.kv_cache(0, 0, 4, 4, 2, 32);
  Value kw1 = b.kv_write(k, cache);
  Value kw2 = b.kv_write(k, cache);
  Value s12 = b.add(a1, a2);
  Value s34 = b.add(a3, a4);
  b.output(b.add(s12, s34));
  b.output(b.attention(b.reshape(x, {2, 2, 32}), kw1, kw2, 0.125f));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  passtest::expect_graph_text(*g, "cse.in.txt");
  ASSERT_TRUE(run_cse(*g, PassContext{}).ok());
  ASSERT_TRUE(verify(*g).ok()) << verify(*g).message();
  passtest::expect_graph_text(*g, "cse.out.txt");
  EXPECT_EQ(passtest::count_op(*g, OpKind::RmsNorm), 2);  // eps 1e-5 once, eps 1e-6
  EXPECT_EQ(passtest::count_op(*g, OpKind::Weight), 2);
  EXPECT_EQ(passtest::count_op(*g, OpKind::KvWrite), 2);
  EXPECT_EQ(passtest::count_op(*g, OpKind::Reshape), 1);
}

}  // namespace
}  // namespace ember::graph
