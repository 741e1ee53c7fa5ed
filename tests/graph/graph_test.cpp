// Graph IR: Builder shape inference and its error messages, verify() on hand-edited graphs,
// and the stable text form print() gives (graph/graph.{h,cpp}).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph/graph.h"

namespace ember::graph {
namespace {

// Keeps finish()'s error text; fails the test when the build unexpectedly succeeds.
std::string build_error(Builder& b) {
  Expected<OpGraph> g = b.finish();
  EXPECT_FALSE(g.ok()) << "the graph was expected to be rejected";
  return g.ok() ? std::string() : g.message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define EXPECT_HAS(msg, part) EXPECT_TRUE(contains(msg, part)) << "message: \"" << (msg) << "\" lacks \"" << (part) << "\""

const float kW[64] = {};  // any non-null weight bytes (never read by the builder)

TEST(GraphBuilder, InfersShapesOfAValidGraph) {
  Builder b;
  Value x = b.input("x", DType::F32, {7, 32});
  Value w = b.weight("w", DType::Q4_0, {5, 32}, kW);
  Value y = b.matmul(x, w);
  EXPECT_EQ(desc_string(y.desc()), "f32[7,5]");
  Value z = b.add(y, b.weight("bias", DType::F32, {5}, kW));
  EXPECT_EQ(desc_string(z.desc()), "f32[7,5]");
  Value r = b.reshape(b.input("q", DType::F32, {3, 8}), {3, 2, 4});
  EXPECT_EQ(desc_string(r.desc()), "f32[3,2,4]");
  Value p = b.permute(r, {2, 0, 1, 3});
  EXPECT_EQ(desc_string(p.desc()), "f32[4,3,2]");
  Value c = b.copy(p, DType::F16);
  EXPECT_EQ(desc_string(c.desc()), "f16[4,3,2]");
  Value kc = b.kv_cache(0, 0, 6, 4, 2, 4);
  EXPECT_EQ(desc_string(kc.desc()), "f16[6,4,2,4]");
  Value e = b.embedding(b.weight("tok", DType::Q8_0, {10, 64}, kW), b.input("ids", DType::I32, {3}));
  EXPECT_EQ(desc_string(e.desc()), "f32[3,64]");
  b.output(z);
  Expected<OpGraph> g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(verify(*g).ok());
  EXPECT_EQ(g->outputs, std::vector<int>{z.id()});
}

TEST(GraphBuilder, MatmulInnerDimensionMismatchNamesNodeAndOp) {
  Builder b;
  Value x = b.input("x", DType::F32, {3, 8});
  b.set_label("blk.0.attn_q");
  Value w = b.weight("blk.0.attn_q.weight", DType::F32, {5, 7}, kW);
  b.matmul(x, w);
  std::string m = build_error(b);
  EXPECT_HAS(m, "node 2");
  EXPECT_HAS(m, "matmul");
  EXPECT_HAS(m, "blk.0.attn_q");
  EXPECT_HAS(m, "inner dimensions");
  EXPECT_HAS(m, "f32[3,8]");
  EXPECT_HAS(m, "f32[5,7]");
}

TEST(GraphBuilder, MatmulNeedsF32Activations) {
  Builder b;
  b.matmul(b.input("x", DType::F16, {3, 8}), b.weight("w", DType::F32, {5, 8}, kW));
  std::string m = build_error(b);
  EXPECT_HAS(m, "matmul");
  EXPECT_HAS(m, "x must be f32");
}

TEST(GraphBuilder, RopeWithBadPositions) {
  {
    Builder b;
    Value x = b.input("x", DType::F32, {3, 2, 8});
    b.set_label("blk.1.attn");
    b.rope(x, b.input("positions", DType::I32, {2}), 8, RopeMode::Normal, 10000, 1);
    std::string m = build_error(b);
    EXPECT_HAS(m, "rope");
    EXPECT_HAS(m, "blk.1.attn");
    EXPECT_HAS(m, "positions");
    EXPECT_HAS(m, "n = 3");
  }
  {  // positions of the wrong type
    Builder b;
    b.rope(b.input("x", DType::F32, {3, 2, 8}), b.input("positions", DType::F32, {3}), 8, RopeMode::Normal,
           10000, 1);
    EXPECT_HAS(build_error(b), "positions must be i32");
  }
}

TEST(GraphBuilder, RopeRejectsBadRotationWidth) {
  for (int n_rot : {0, 3, 10, -2}) {
    Builder b;
    b.rope(b.input("x", DType::F32, {3, 2, 8}), b.input("p", DType::I32, {3}), n_rot, RopeMode::NeoX, 10000,
           1);
    std::string m = build_error(b);
    EXPECT_HAS(m, "rope");
    EXPECT_HAS(m, "n_rot");
  }
  Builder ok;
  ok.rope(ok.input("x", DType::F32, {3, 2, 8}), ok.input("p", DType::I32, {3}), 4, RopeMode::NeoX, 10000, 1);
  EXPECT_TRUE(ok.finish().ok());
}

TEST(GraphBuilder, ReshapeWithWrongElementCount) {
  Builder b;
  Value x = b.input("x", DType::F32, {3, 8});
  b.set_label("blk.2.attn");
  b.reshape(x, {3, 3, 3});
  std::string m = build_error(b);
  EXPECT_HAS(m, "node 1");
  EXPECT_HAS(m, "reshape");
  EXPECT_HAS(m, "blk.2.attn");
  EXPECT_HAS(m, "f32[3,8]");
  EXPECT_HAS(m, "f32[3,3,3]");
}

TEST(GraphBuilder, ElementwiseShapeMismatch) {
  {
    Builder b;
    b.add(b.input("a", DType::F32, {3, 8}), b.input("b", DType::F32, {3, 7}));
    std::string m = build_error(b);
    EXPECT_HAS(m, "add");
    EXPECT_HAS(m, "do not match");
  }
  {  // broadcast of a row is allowed for add/mul ...
    Builder b;
    b.mul(b.input("a", DType::F32, {3, 8}), b.input("b", DType::F32, {8}));
    EXPECT_TRUE(b.finish().ok());
  }
  {  // ... but not of the wrong length, and never for silu_mul
    Builder b;
    b.mul(b.input("a", DType::F32, {3, 8}), b.input("b", DType::F32, {3}));
    EXPECT_HAS(build_error(b), "mul");
    Builder c;
    c.silu_mul(c.input("a", DType::F32, {3, 8}), c.input("b", DType::F32, {8}));
    EXPECT_HAS(build_error(c), "silu_mul");
  }
}

TEST(GraphBuilder, RmsNormNeedsPositiveEps) {
  Builder b;
  b.rms_norm(b.input("x", DType::F32, {3, 8}), 0.0f);
  std::string m = build_error(b);
  EXPECT_HAS(m, "rms_norm");
  EXPECT_HAS(m, "eps");
}

TEST(GraphBuilder, AttentionChecks) {
  {  // 5 query heads over 2 kv heads
    Builder b;
    Value q = b.input("q", DType::F32, {3, 5, 4});
    Value kc = b.kv_cache(0, 0, 4, 4, 2, 4), vc = b.kv_cache(0, 1, 4, 4, 2, 4);
    b.attention(q, kc, vc, 0.5f);
    std::string m = build_error(b);
    EXPECT_HAS(m, "attention");
    EXPECT_HAS(m, "multiple of kv heads");
  }
  {  // head dims differ
    Builder b;
    Value q = b.input("q", DType::F32, {3, 4, 8});
    b.attention(q, b.kv_cache(0, 0, 4, 4, 2, 4), b.kv_cache(0, 1, 4, 4, 2, 4), 0.5f);
    EXPECT_HAS(build_error(b), "head dimensions");
  }
  {  // zero scale
    Builder b;
    Value q = b.input("q", DType::F32, {3, 4, 4});
    b.attention(q, b.kv_cache(0, 0, 4, 4, 2, 4), b.kv_cache(0, 1, 4, 4, 2, 4), 0.0f);
    EXPECT_HAS(build_error(b), "scale");
  }
  {  // k and v pools of different shapes
    Builder b;
    Value q = b.input("q", DType::F32, {3, 4, 4});
    b.attention(q, b.kv_cache(0, 0, 4, 4, 2, 4), b.kv_cache(0, 1, 5, 4, 2, 4), 0.5f);
    EXPECT_HAS(build_error(b), "same 4-D shape");
  }
}

TEST(GraphBuilder, KvWriteChecks) {
  {  // the second input must be a cache
    Builder b;
    b.kv_write(b.input("k", DType::F32, {3, 2, 4}), b.input("c", DType::F16, {4, 4, 2, 4}));
    std::string m = build_error(b);
    EXPECT_HAS(m, "kv_write");
    EXPECT_HAS(m, "kv cache");
  }
  {  // rows that do not fit the pool
    Builder b;
    b.kv_write(b.input("k", DType::F32, {3, 3, 4}), b.kv_cache(1, 0, 4, 4, 2, 4));
    std::string m = build_error(b);
    EXPECT_HAS(m, "kv_write");
    EXPECT_HAS(m, "does not fit cache");
  }
}

TEST(GraphBuilder, KvWriteAndAttentionCarryTheCacheLayer) {
  Builder b;
  Value k = b.input("k", DType::F32, {3, 2, 4}), v = b.input("v", DType::F32, {3, 2, 4});
  Value q = b.input("q", DType::F32, {3, 4, 4});
  Value kc = b.kv_write(k, b.kv_cache(5, 0, 4, 4, 2, 4));
  Value vc = b.kv_write(v, b.kv_cache(5, 1, 4, 4, 2, 4));
  Value a = b.attention(q, kc, vc, 0.5f);
  b.output(a);
  Expected<OpGraph> g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(g->nodes[kc.id()].attrs.layer, 5);
  EXPECT_EQ(g->nodes[kc.id()].attrs.kv_which, 0);
  EXPECT_EQ(g->nodes[vc.id()].attrs.layer, 5);
  EXPECT_EQ(g->nodes[vc.id()].attrs.kv_which, 1);
  EXPECT_EQ(g->nodes[a.id()].attrs.layer, 5);
}

TEST(GraphBuilder, OtherOpChecks) {
  {
    Builder b;
    b.permute(b.input("x", DType::F32, {2, 3, 4}), {0, 0, 1, 3});
    std::string m = build_error(b);
    EXPECT_HAS(m, "permute");
    EXPECT_HAS(m, "not a permutation");
  }
  {
    Builder b;
    b.copy(b.input("x", DType::F32, {2, 32}), DType::Q4_0);
    std::string m = build_error(b);
    EXPECT_HAS(m, "copy");
    EXPECT_HAS(m, "f32 or f16");
  }
  {
    Builder b;
    b.get_rows(b.input("x", DType::F32, {4, 8}), b.input("rows", DType::F32, {2}));
    EXPECT_HAS(build_error(b), "get_rows");
  }
  {
    Builder b;
    b.embedding(b.weight("tok", DType::F32, {10, 8}, kW), b.input("ids", DType::I32, {2, 2}));
    std::string m = build_error(b);
    EXPECT_HAS(m, "embedding");
    EXPECT_HAS(m, "ids");
  }
}

TEST(GraphBuilder, LeafChecks) {
  {
    Builder b;
    b.weight("blk.0.attn_q.weight", DType::F32, {4, 4}, nullptr);
    std::string m = build_error(b);
    EXPECT_HAS(m, "weight");
    EXPECT_HAS(m, "no data");
  }
  {
    Builder b;
    b.weight("huge", DType::F32, {1, 2, 3, 4, 5}, kW);
    std::string m = build_error(b);
    EXPECT_HAS(m, "'huge'");
    EXPECT_HAS(m, "5 dimensions");
  }
  {
    Builder b;
    b.input("tokens", DType::I32, {0});
    EXPECT_HAS(build_error(b), "positive");
  }
}

TEST(GraphBuilder, KeepsTheFirstError) {
  Builder b;
  Value x = b.input("x", DType::F32, {3, 8});
  b.set_label("first");
  Value bad = b.reshape(x, {5});
  EXPECT_FALSE(bad.valid());
  b.set_label("second");
  Value after = b.silu(bad);
  EXPECT_FALSE(after.valid());
  b.matmul(x, b.weight("w", DType::F32, {2, 9}, kW));  // would fail on its own, too
  b.output(after);
  std::string m = build_error(b);
  EXPECT_HAS(m, "reshape");
  EXPECT_HAS(m, "first");
  EXPECT_FALSE(contains(m, "second"));
  EXPECT_EQ(b.graph().nodes.size(), 1u);  // nothing was appended after the failure
}

// ---- verify() ---------------------------------------------------------------------------------

OpGraph small_graph() {
  Builder b;
  b.set_label("blk.0");
  Value x = b.input("x", DType::F32, {3, 8});
  Value w = b.weight("w", DType::F32, {5, 8}, kW);
  Value y = b.matmul(b.rms_norm(x, 1e-5f), w);
  b.output(b.silu(y));
  Expected<OpGraph> g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? std::move(*g) : OpGraph{};
}

TEST(GraphVerify, AcceptsWhatTheBuilderMade) { EXPECT_TRUE(verify(small_graph()).ok()); }

TEST(GraphVerify, CatchesAStoredTypeThatDisagrees) {
  OpGraph g = small_graph();
  ASSERT_EQ(g.nodes[3].op, OpKind::MatMul);
  g.nodes[3].out.shape[1] = 6;  // matmul really gives f32[3,5]
  Status s = verify(g);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "node 3");
  EXPECT_HAS(s.message(), "matmul");
  EXPECT_HAS(s.message(), "f32[3,6]");
  EXPECT_HAS(s.message(), "f32[3,5]");

  OpGraph h = small_graph();
  h.nodes[4].out.dtype = DType::F16;  // silu gives f32
  s = verify(h);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "node 4");
  EXPECT_HAS(s.message(), "silu");
}

TEST(GraphVerify, CatchesAnEditThatBreaksALaterNode) {
  OpGraph g = small_graph();
  g.nodes[1].out.shape[1] = 9;  // the weight is now [5,9]: the matmul no longer type-checks
  Status s = verify(g);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "node 3");
  EXPECT_HAS(s.message(), "inner dimensions");
}

TEST(GraphVerify, CatchesBadEdgesAndOutputs) {
  OpGraph g = small_graph();
  g.nodes[2].inputs[0] = 4;  // rms_norm reading a later node
  Status s = verify(g);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "node 2");
  EXPECT_HAS(s.message(), "input 4");

  OpGraph h = small_graph();
  h.outputs.push_back(17);
  s = verify(h);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "output 17");

  OpGraph k = small_graph();
  k.nodes[3].inputs.pop_back();  // matmul with one input
  s = verify(k);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "matmul");
}

// ---- print() ----------------------------------------------------------------------------------

TEST(GraphPrint, IsStable) {
  Builder b;
  b.set_label("in");
  Value x = b.input("x", DType::F32, {3, 8});
  Value pos = b.input("positions", DType::I32, {3});
  b.set_label("");
  Value w = b.weight("blk.0.w", DType::Q8_0, {4, 8 * 4}, kW);
  (void)w;
  Value r = b.reshape(x, {3, 2, 4});
  b.set_label("blk.0.attn");
  Value q = b.rope(r, pos, 4, RopeMode::NeoX, 500000.0f, 0.25f);
  Value kc = b.kv_write(q, b.kv_cache(0, 1, 2, 4, 2, 4));
  Value a = b.attention(q, kc, kc, 0.5f);
  Value p = b.permute(q, {1, 0, 2, 3});
  Value n = b.rms_norm(a, 1e-6f);
  b.output(n);
  b.output(p);
  Expected<OpGraph> g = b.finish();
  ASSERT_TRUE(g.ok()) << g.message();
  const std::string want =
      "%0 = input \"x\" : f32[3,8]  # in\n"
      "%1 = input \"positions\" : i32[3]  # in\n"
      "%2 = weight \"blk.0.w\" : q8_0[4,32]\n"
      "%3 = reshape %0 : f32[3,2,4]\n"
      "%4 = rope %3, %1 n_rot=4 neox base=500000 scale=0.25 : f32[3,2,4]  # blk.0.attn\n"
      "%5 = kv_cache layer=0 v : f16[2,4,2,4]  # blk.0.attn\n"
      "%6 = kv_write %4, %5 : f16[2,4,2,4]  # blk.0.attn\n"
      "%7 = attention %4, %6, %6 scale=0.5 : f32[3,8]  # blk.0.attn\n"
      "%8 = permute %4 perm=1023 : f32[2,3,4]  # blk.0.attn\n"
      "%9 = rms_norm %7 eps=1e-06 : f32[3,8]  # blk.0.attn\n"
      "outputs: %9 %8\n";
  EXPECT_EQ(print(*g), want);
  EXPECT_EQ(print(*g), print(*g));  // no hidden state
  OpGraph copy = *g;
  EXPECT_EQ(print(copy), want);
}

TEST(GraphPrint, EmptyGraph) { EXPECT_EQ(print(OpGraph{}), "outputs:\n"); }

TEST(GraphDesc, MakeAndFormat) {
  TensorDesc d = make_desc(DType::BF16, {2, 3, 4, 5});
  EXPECT_EQ(d.rank, 4);
  EXPECT_EQ(d.numel(), 120);
  EXPECT_EQ(d.rows(), 24);
  EXPECT_EQ(d.dim(-1), 5);
  EXPECT_EQ(d.bytes(), 240u);
  EXPECT_EQ(desc_string(d), "bf16[2,3,4,5]");
  EXPECT_EQ(desc_string(make_desc(DType::Q4_K, {7, 512})), "q4_k[7,512]");
  EXPECT_EQ(make_desc(DType::Q4_K, {7, 512}).bytes(), 7u * 2 * 144);
}

}  // namespace
}  // namespace ember::graph
