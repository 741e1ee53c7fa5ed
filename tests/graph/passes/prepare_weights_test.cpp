// prepare-weights (graph/passes/prepare_weights.cpp), in the two modes of the CPU's kernels:
// - block sums (the default): q4_1 and q8_0 weights of matmul, matmul_cat, matmul_add and
//   norm_matmul nodes whose row counts are multiples of 16 are stored as q4_1x16 / q8_0x16
//   (tests/data/graph/passes/prepare_weights.x16.out.txt); a q4_1 embedding table, a 35-row
//   weight and a matmul_cat with a 31-row weight stay plain; a q8_0 table read by both an
//   embedding and a matmul (a tied head) is packed, and the embedding reads it packed.
// - EMBER_LLAMA_EXACT=1: q4_1 weights as q4_1x2 (prepare_weights.out.txt); a weight another
//   reader wants plain (an embedding table), a q8_0 weight, and a matmul_cat whose first
//   weight has an odd row count stay plain.
// Outputs are bit-identical at M = 1 and M = 6 on 1 and 2 threads (a thread's rows start on a
// pair or a group); each weight is packed once per store, however many graphs are compiled,
// and the store reports it; without a store nothing changes; a backend refuses a packed weight
// where its kernel does not read that layout.
#include "tests/graph/passes/pass_test_util.h"

#include "kernels/cpu/gemm/gemm.h"

namespace ember::graph {
namespace {

using passtest::Weights;

bool x16_mode() { return kernels::find_gemm_x16(kernels::kTypeQ4_1) != nullptr; }
bool cpu_packs_q4_1() { return x16_mode() || kernels::find_vec_dot_rows_packed_pairs(kernels::kTypeQ4_1) != nullptr; }
// The layout the matmuls ask for q4_1 weights in this mode.
WeightLayout q4_1_layout() { return x16_mode() ? WeightLayout::Q4_1x16 : WeightLayout::Q4_1x2; }

int count_prepared(const OpGraph& g) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == OpKind::Weight && node.attrs.layout != WeightLayout::Plain;
  return n;
}

struct Data {
  const void *q, *k, *v, *o, *odd, *norm, *table, *head, *uneven_a, *uneven_b;
  explicit Data(Weights& w)
      : q(w.make(DType::Q4_1, 64, 64)), k(w.make(DType::Q4_1, 32, 64)), v(w.make(DType::Q4_1, 32, 64)),
        o(w.make(DType::Q4_1, 64, 128)), odd(w.make(DType::Q4_1, 35, 64)), norm(w.make(DType::F32, 1, 64, 1.0f)),
        table(w.make(DType::Q4_1, 16, 64)), head(w.make(DType::Q8_0, 48, 64)), uneven_a(w.make(DType::Q4_1, 31, 64)),
        uneven_b(w.make(DType::Q4_1, 16, 64)) {}
};

// One node per statement: the order of call arguments differs between g++ and clang, and the
// graph text must not.
OpGraph test_graph(const Data& d, int64_t M) {
  Builder b;
  b.set_label("blk.0");
  Value x = b.input("x", DType::F32, {M, 64});
  Value norm = b.weight("norm", DType::F32, {64}, d.norm);
  Value wq = b.weight("q", DType::Q4_1, {64, 64}, d.q);
  Value wk = b.weight("k", DType::Q4_1, {32, 64}, d.k);
  Value wv = b.weight("v", DType::Q4_1, {32, 64}, d.v);
  Value qkv = b.norm_matmul(x, norm, {wq, wk, wv}, 1e-5f);
  Value wo = b.weight("o", DType::Q4_1, {64, 128}, d.o);
  Value o = b.matmul_add(qkv, wo, x);  // [M,64]
  Value wodd = b.weight("odd", DType::Q4_1, {35, 64}, d.odd);
  Value odd = b.matmul(o, wodd);  // odd last row: packs
  Value table = b.weight("table", DType::Q4_1, {16, 64}, d.table);
  Value tied = b.matmul(o, table);  // also an embedding table: stays plain
  Value ids = b.input("ids", DType::I32, {2});
  Value emb = b.embedding(table, ids);
  Value whead = b.weight("head", DType::Q8_0, {48, 64}, d.head);
  Value head = b.matmul(o, whead);  // not q4_1
  Value ua = b.weight("uneven_a", DType::Q4_1, {31, 64}, d.uneven_a);
  Value ub = b.weight("uneven_b", DType::Q4_1, {16, 64}, d.uneven_b);
  Value uneven = b.matmul_cat(o, {ua, ub});  // a first weight of odd rows: stays plain
  b.output(odd);
  b.output(tied);
  b.output(emb);
  b.output(head);
  b.output(uneven);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

// Runs g with inputs x and ids = {3, 11}.
std::vector<std::vector<float>> run(Backend& be, const OpGraph& g, const std::vector<float>& x) {
  static const int32_t ids[2] = {3, 11};
  return passtest::run(be, g, x, {{"ids", ids}});
}

int count_layout(const OpGraph& g, WeightLayout l) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == OpKind::Weight && node.attrs.layout == l;
  return n;
}

TEST(PrepareWeights, PacksTheQ4_1WeightsOfMatmuls) {
  if (!cpu_packs_q4_1()) GTEST_SKIP() << "this CPU's q4_1 kernel reads plain weights (no AVX2)";
  Weights w;
  Data d(w);
  OpGraph g = test_graph(d, 2);
  passtest::expect_graph_text(g, "prepare_weights.in.txt");
  auto be = passtest::cpu_backend();
  WeightStore store;
  PassContext ctx;
  ctx.backend = be.get();
  ctx.weights = &store;
  ASSERT_TRUE(run_prepare_weights(g, ctx).ok());
  ASSERT_TRUE(verify(g).ok()) << verify(g).message();
  if (x16_mode()) {
    passtest::expect_graph_text(g, "prepare_weights.x16.out.txt");
    EXPECT_EQ(count_layout(g, WeightLayout::Q4_1x16), 4);  // q, k, v, o
    EXPECT_EQ(count_layout(g, WeightLayout::Q8_0x16), 1);  // head
  } else {
    passtest::expect_graph_text(g, "prepare_weights.out.txt");
    EXPECT_EQ(count_layout(g, WeightLayout::Q4_1x2), 5);  // q, k, v, o, odd
  }
  for (const Node& n : g.nodes)
    if (n.op == OpKind::Weight && (n.attrs.name == "table" || n.attrs.name.rfind("uneven", 0) == 0))
      EXPECT_EQ(n.attrs.layout, WeightLayout::Plain) << n.attrs.name;
}

TEST(PrepareWeights, OutputsBitIdentical) {
  if (!cpu_packs_q4_1()) GTEST_SKIP() << "this CPU's q4_1 kernel reads plain weights (no AVX2)";
  Weights w;
  Data d(w);
  for (int threads : {1, 2}) {
    auto be = passtest::cpu_backend(threads);
    WeightStore store;
    PassContext ctx;
    ctx.backend = be.get();
    ctx.weights = &store;
    for (int64_t M : {1, 6}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " M " + std::to_string(M));
      OpGraph before = test_graph(d, M);
      OpGraph after = before;
      ASSERT_TRUE(run_prepare_weights(after, ctx).ok());
      ASSERT_EQ(count_prepared(after), 5);
      const std::vector<float> x = passtest::random_floats(static_cast<size_t>(M * 64), 23);
      const auto want = run(*be, before, x), got = run(*be, after, x);
      EXPECT_TRUE(passtest::bit_equal(want, got));
    }
  }
}

TEST(PrepareWeights, PacksEachWeightOncePerStore) {
  if (!cpu_packs_q4_1()) GTEST_SKIP() << "this CPU's q4_1 kernel reads plain weights (no AVX2)";
  Weights w;
  Data d(w);
  auto be = passtest::cpu_backend();
  WeightStore store;
  std::vector<const void*> released;
  store.on_packed = [&](const void* plain, size_t) { released.push_back(plain); };
  PassContext ctx;
  ctx.backend = be.get();
  ctx.weights = &store;
  OpGraph a = test_graph(d, 1), b = test_graph(d, 7);
  ASSERT_TRUE(run_prepare_weights(a, ctx).ok());
  const size_t bytes = store.packed_bytes();
  // q, k, v (64 + 32 + 32 rows of 64), o (64 of 128): 20 bytes per 32 elements; then odd (35 of
  // 64) in pair mode, head (48 q8_0 rows of 64, 34 bytes per 32) in block-sum mode.
  const size_t q4_1_bytes = (64 + 32 + 32) * 2 * 20 + 64 * 4 * 20;
  EXPECT_EQ(bytes, q4_1_bytes + (x16_mode() ? 48 * 2 * 34 : 35 * 2 * 20));
  ASSERT_TRUE(run_prepare_weights(b, ctx).ok());
  EXPECT_EQ(store.packed_bytes(), bytes) << "a second graph must reuse the packed weights";
  EXPECT_EQ(released.size(), 5u);
  for (size_t i = 0; i < a.nodes.size(); ++i)
    if (a.nodes[i].op == OpKind::Weight) EXPECT_EQ(a.nodes[i].weight, b.nodes[i].weight) << a.nodes[i].attrs.name;
}

TEST(PrepareWeights, NothingWithoutAStore) {
  Weights w;
  Data d(w);
  OpGraph g = test_graph(d, 2);
  const std::string before = print(g);
  auto be = passtest::cpu_backend();
  PassContext ctx;
  ctx.backend = be.get();
  ASSERT_TRUE(run_prepare_weights(g, ctx).ok());
  EXPECT_EQ(print(g), before);
}

TEST(PrepareWeights, BackendRefusesALayoutItsKernelDoesNotRead) {
  Weights w;
  Data d(w);
  OpGraph g = test_graph(d, 2);
  auto be = passtest::cpu_backend();
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == OpKind::Weight && g.nodes[i].attrs.name == "table") g.nodes[i].attrs.layout = q4_1_layout();
  ASSERT_TRUE(verify(g).ok());
  int refused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Support s = be->supports(g, static_cast<int>(i));
    if (!s.ok) {
      ++refused;
      EXPECT_EQ(g.nodes[i].op, OpKind::Embedding);
      EXPECT_NE(s.reason.find(layout_name(q4_1_layout())), std::string::npos) << s.reason;
    }
  }
  EXPECT_EQ(refused, 1);
  // And a q8_0 weight marked q4_1x2 is not a valid graph.
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == OpKind::Weight && g.nodes[i].attrs.name == "head") g.nodes[i].attrs.layout = WeightLayout::Q4_1x2;
  EXPECT_FALSE(verify(g).ok());
  // Nor a 35-row weight marked q4_1x16 (groups of 16 rows), nor a q4_1 one marked q8_0x16.
  OpGraph h = test_graph(d, 2);
  for (Node& n : h.nodes)
    if (n.op == OpKind::Weight && n.attrs.name == "odd") n.attrs.layout = WeightLayout::Q4_1x16;
  EXPECT_FALSE(verify(h).ok());
  OpGraph h2 = test_graph(d, 2);
  for (Node& n : h2.nodes)
    if (n.op == OpKind::Weight && n.attrs.name == "q") n.attrs.layout = WeightLayout::Q8_0x16;
  EXPECT_FALSE(verify(h2).ok());
}

// A q8_0 table read by an embedding and by a matmul (a tied output head): in block-sum mode it
// is packed once as q8_0x16, the embedding reads its rows back from that layout, and both
// outputs are bit-identical to the plain graph's.
TEST(PrepareWeights, TiedQ8_0TableIsPackedAndEmbeddingReadsIt) {
  if (!x16_mode()) GTEST_SKIP() << "the block-sum order is off (EMBER_LLAMA_EXACT=1 or no AVX2): the table stays plain";
  Weights w;
  const void* table = w.make(DType::Q8_0, 48, 64);
  for (int threads : {1, 2}) {
    for (int64_t M : {1, 5}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " M " + std::to_string(M));
      Builder b;
      Value x = b.input("x", DType::F32, {M, 64});
      Value t = b.weight("table", DType::Q8_0, {48, 64}, table);
      Value head = b.matmul(x, t);
      Value ids = b.input("ids", DType::I32, {2});
      Value emb = b.embedding(t, ids);
      b.output(head);
      b.output(emb);
      auto built = b.finish();
      ASSERT_TRUE(built.ok()) << built.message();
      OpGraph before = std::move(built).value();
      OpGraph after = before;
      auto be = passtest::cpu_backend(threads);
      WeightStore store;
      PassContext ctx;
      ctx.backend = be.get();
      ctx.weights = &store;
      ASSERT_TRUE(run_prepare_weights(after, ctx).ok());
      ASSERT_TRUE(verify(after).ok()) << verify(after).message();
      ASSERT_EQ(count_layout(after, WeightLayout::Q8_0x16), 1);
      for (size_t i = 0; i < after.nodes.size(); ++i) ASSERT_TRUE(be->supports(after, static_cast<int>(i)).ok) << i;
      const std::vector<float> xs = passtest::random_floats(static_cast<size_t>(M * 64), 5);
      const auto want = run(*be, before, xs), got = run(*be, after, xs);
      EXPECT_TRUE(passtest::bit_equal(want, got));
    }
  }
}

}  // namespace
}  // namespace ember::graph
