// fuse-rms-norm-mul (graph/passes/fuse_rms_norm_mul.cpp): rms_norm followed by a mul by the
// norm's weight becomes rms_norm_mul (tests/data/graph/passes/fuse_rms_norm_mul.*.txt) with
// bit-identical outputs; a norm with a second reader, or a mul by a full tensor, is left alone.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

TEST(FuseRmsNormMul, FusesNormTimesWeightOnly) {
  Weights w;
  Builder b;
  b.set_label("blk.0.attn");
  Value x = b.input("x", DType::F32, {3, 64});
  Value n0 = b.rms_norm(x, 1e-5f);
  Value h = b.mul(n0, w.add(b, "attn_norm", DType::F32, {64}, 1.0f));  // fuses
  Value shared = b.rms_norm(h, 1e-6f);                                                // two readers
  Value a = b.mul(shared, w.add(b, "ffn_norm", DType::F32, {64}, 1.0f));
  Value c = b.mul(b.rms_norm(a, 1e-5f), shared);  // mul by a full tensor, not a weight row
  b.output(b.add(a, b.add(c, shared)));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  passtest::expect_graph_text(*g, "fuse_rms_norm_mul.in.txt");

  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  OpGraph fused = *g;
  ASSERT_TRUE(run_fuse_rms_norm_mul(fused, ctx).ok());
  ASSERT_TRUE(verify(fused).ok()) << verify(fused).message();
  passtest::expect_graph_text(fused, "fuse_rms_norm_mul.out.txt");
  EXPECT_EQ(passtest::count_op(fused, OpKind::RmsNormMul), 1);
  EXPECT_EQ(passtest::count_op(fused, OpKind::RmsNorm), 2);

  const std::vector<float> xv = passtest::random_floats(3 * 64, 3);
  EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, *g, xv), passtest::run(*be, fused, xv)));
}

TEST(FuseRmsNormMul, BitIdenticalOnManyRows) {
  Weights w;
  Builder b;
  Value x = b.input("x", DType::F32, {37, 576});
  Value n = b.rms_norm(x, 1e-5f);
  b.output(b.mul(n, w.add(b, "norm", DType::F32, {576}, 1.0f)));
  auto g = b.finish();
  ASSERT_TRUE(g.ok());
  auto be = passtest::cpu_backend(3);
  PassContext ctx;
  ctx.backend = be.get();
  OpGraph fused = *g;
  ASSERT_TRUE(run_fuse_rms_norm_mul(fused, ctx).ok());
  ASSERT_EQ(passtest::count_op(fused, OpKind::RmsNormMul), 1);
  const std::vector<float> xv = passtest::random_floats(37 * 576, 9);
  EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, *g, xv), passtest::run(*be, fused, xv)));
}

}  // namespace
}  // namespace ember::graph
