// fuse-matmul-add (graph/passes/fuse_matmul_add.cpp): a residual add after a matmul (r + x·wᵀ)
// and a bias add (x·wᵀ + b) become matmul_add (tests/data/graph/passes/fuse_matmul_add.*.txt)
// with bit-identical outputs at M = 1 and M = 6; a matmul with a second reader is left alone.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

OpGraph residual_graph(Weights& w, int64_t M) {
  Builder b;
  b.set_label("blk.0");
  Value x = b.input("x", DType::F32, {M, 64});
  Value r = b.add(x, b.matmul(x, w.add(b, "attn_output", DType::Q8_0, {64, 64})));   // residual: fuses
  Value proj = b.matmul(r, w.add(b, "proj", DType::F16, {64, 64}));
  Value y = b.add(proj, w.add(b, "bias", DType::F32, {64}));  // bias
  Value shared = b.matmul(y, w.add(b, "down", DType::Q8_0, {64, 64}));              // two readers: stays
  b.output(b.add(y, shared));
  b.output(shared);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

TEST(FuseMatMulAdd, FusesResidualAndBiasAdds) {
  Weights w;
  OpGraph g = residual_graph(w, 2);
  passtest::expect_graph_text(g, "fuse_matmul_add.in.txt");
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  ASSERT_TRUE(run_fuse_matmul_add(g, ctx).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  passtest::expect_graph_text(g, "fuse_matmul_add.out.txt");
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMulAdd), 2);
  EXPECT_EQ(passtest::count_op(g, OpKind::MatMul), 1);
}

TEST(FuseMatMulAdd, OutputsBitIdentical) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  for (int64_t M : {1, 6}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    Weights w;
    OpGraph before = residual_graph(w, M);
    OpGraph after = before;
    ASSERT_TRUE(run_fuse_matmul_add(after, ctx).ok());
    ASSERT_EQ(passtest::count_op(after, OpKind::MatMulAdd), 2);
    const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 17);
    EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, before, x), passtest::run(*be, after, x)));
  }
}

TEST(FuseMatMulAdd, NothingWithoutABackend) {
  Weights w;
  OpGraph g = residual_graph(w, 2);
  const std::string before = print(g);
  ASSERT_TRUE(run_fuse_matmul_add(g, PassContext{}).ok());
  EXPECT_EQ(print(g), before);
}

}  // namespace
}  // namespace ember::graph
