// fuse-norm-matmul (graph/passes/fuse_norm_matmul.cpp): an rms_norm_mul read only by a merged
// or plain matmul becomes one norm_matmul (tests/data/graph/passes/fuse_norm_matmul.*.txt),
// bit-identical at M = 1 and M = 5 for q8_0 and f16 weights; a norm with two readers stays,
// and the CPU backend declines weights whose matmul reads f32 activations (f32 weights).
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

OpGraph norm_graph(Weights& w, int64_t M, DType type) {
  Builder b;
  b.set_label("blk.0");
  Value x = b.input("x", DType::F32, {M, 64});
  Value h = b.rms_norm_mul(x, w.add(b, "attn_norm", DType::F32, {64}, 1.0f), 1e-5f);
  Value wq = w.add(b, "q", type, {64, 64});
  Value wk = w.add(b, "k", type, {32, 64});
  Value qk = b.matmul_cat(h, {wq, wk});                                    // fuses
  Value h2 = b.rms_norm_mul(qk, w.add(b, "out_norm", DType::F32, {96}, 1.0f), 1e-6f);
  Value y = b.matmul(h2, w.add(b, "out", type, {16, 96}));                  // fuses
  Value h3 = b.rms_norm_mul(x, w.add(b, "shared_norm", DType::F32, {64}, 1.0f), 1e-5f);
  Value z = b.matmul(h3, w.add(b, "z", type, {32, 64}));                    // h3 has two readers
  b.output(y);
  b.output(b.add(z, b.slice(h3, 0, 32)));
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

TEST(FuseNormMatMul, FusesSingleReaderNormsAsExpected) {
  Weights w;
  OpGraph g = norm_graph(w, 2, DType::Q8_0);
  passtest::expect_graph_text(g, "fuse_norm_matmul.in.txt");
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  ASSERT_TRUE(run_fuse_norm_matmul(g, ctx).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  passtest::expect_graph_text(g, "fuse_norm_matmul.out.txt");
  EXPECT_EQ(passtest::count_op(g, OpKind::NormMatMul), 2);
  EXPECT_EQ(passtest::count_op(g, OpKind::RmsNormMul), 1);
}

TEST(FuseNormMatMul, OutputsBitIdentical) {
  auto be = passtest::cpu_backend(3);
  PassContext ctx;
  ctx.backend = be.get();
  for (DType type : {DType::Q8_0, DType::F16}) {
    for (int64_t M : {1, 5}) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " M = " + std::to_string(M));
      Weights w;
      OpGraph before = norm_graph(w, M, type);
      OpGraph after = before;
      ASSERT_TRUE(run_fuse_norm_matmul(after, ctx).ok());
      ASSERT_EQ(passtest::count_op(after, OpKind::NormMatMul), 2);
      const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 31);
      EXPECT_TRUE(passtest::bit_equal(passtest::run(*be, before, x), passtest::run(*be, after, x)));
    }
  }
}

TEST(FuseNormMatMul, DeclinedForF32Activations) {
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  Weights w;
  OpGraph g = norm_graph(w, 2, DType::F32);
  const std::string before = print(g);
  ASSERT_TRUE(run_fuse_norm_matmul(g, ctx).ok());
  EXPECT_EQ(print(g), before);
}

}  // namespace
}  // namespace ember::graph
