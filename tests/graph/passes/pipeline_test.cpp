// The pass manager (graph/passes/pipeline.{h,cpp}): --passes parsing and its errors, the
// fixed order, switching passes off, the after-pass hook, and verification between passes on
// the llama graph of the default model's shape family (a tiny config).
#include "tests/graph/passes/pass_test_util.h"

#include <set>

#include "graph/passes/pipeline.h"

namespace ember::graph {
namespace {

TEST(Pipeline, NamesAreUniqueAndEveryPassStatesItsInvariant) {
  std::set<std::string> names;
  for (const Pass& p : pipeline()) {
    EXPECT_TRUE(names.insert(p.name).second) << p.name;
    EXPECT_GT(std::string(p.invariant).size(), 10u) << p.name;
    EXPECT_NE(p.run, nullptr);
  }
  EXPECT_EQ(std::string(pipeline().back().name), "plan-memory");  // plans the final schedule
}

TEST(Pipeline, ParsesPassLists) {
  auto none = parse_pass_list("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->size(), pipeline().size());
  auto all = parse_pass_list("");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  auto two = parse_pass_list("-merge-qkv,-plan-memory");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<std::string>{"merge-qkv", "plan-memory"}));
  auto back_on = parse_pass_list("none,+plan-memory,dce");
  ASSERT_TRUE(back_on.ok());
  EXPECT_EQ(back_on->size(), pipeline().size() - 2);
  auto bad = parse_pass_list("-merge-qkv,-fuse-everything");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("unknown pass 'fuse-everything'"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("merge-qkv"), std::string::npos) << "the error lists the known passes";
}

TEST(Pipeline, RunsInOrderSkipsDisabledAndVerifies) {
  passtest::Weights w;
  Builder b;
  Value x = b.input("x", DType::F32, {2, 64});
  Value n = b.rms_norm(x, 1e-5f);
  Value h = b.mul(n, w.add(b, "norm", DType::F32, {64}, 1.0f));
  Value q = b.matmul(h, w.add(b, "q", DType::Q8_0, {64, 64}));
  Value k = b.matmul(h, w.add(b, "k", DType::Q8_0, {32, 64}));
  Value v = b.matmul(h, w.add(b, "v", DType::Q8_0, {32, 64}));
  b.output(b.add(x, b.matmul(q, w.add(b, "o", DType::Q8_0, {64, 64}))));
  b.output(b.add(k, v));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();

  PipelineOptions o;
  o.verify = true;
  o.disabled = {"merge-qkv"};
  std::vector<std::string> ran;
  o.after_pass = [&](const Pass& p, const OpGraph& after) {
    ran.push_back(p.name);
    EXPECT_TRUE(verify(after).ok());
  };
  OpGraph planned = *g;
  Status s = run_pipeline(planned, ctx, o);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<std::string> want;
  for (const Pass& p : pipeline())
    if (std::string(p.name) != "merge-qkv") want.push_back(p.name);
  EXPECT_EQ(ran, want);
  EXPECT_EQ(passtest::count_op(planned, OpKind::MatMulCat), 0);
  EXPECT_EQ(passtest::count_op(planned, OpKind::RmsNormMul), 1);
  EXPECT_EQ(passtest::count_op(planned, OpKind::MatMulAdd), 2);  // o + residual, k + v·w
  EXPECT_FALSE(planned.memory.empty());

  const std::vector<float> xv = passtest::random_floats(2 * 64, 1);
  EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, *g, xv), passtest::run(*be, planned, xv)));

  o.disabled = {"no-such-pass"};
  OpGraph again = *g;
  EXPECT_FALSE(run_pipeline(again, ctx, o).ok());
}

}  // namespace
}  // namespace ember::graph
