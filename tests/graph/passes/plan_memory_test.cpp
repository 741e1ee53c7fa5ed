// plan-memory (graph/passes/plan_memory.cpp): offsets and the arena size of a small chain
// (tests/data/graph/passes/plan_memory.*.txt); blocks are reused once dead, a view keeps its
// source alive, outputs live to the end; verify_memory_plan accepts the plan and rejects
// overlapping or misaligned ones; the CPU backend runs the planned graph with the same
// results as the naive layout. Where schedule order would strand a large block above a small
// one (placed early in a freed range), the size-ordered placement reaches the minimum.
#include "tests/graph/passes/pass_test_util.h"

namespace ember::graph {
namespace {

using passtest::Weights;

OpGraph chain(Weights& w) {
  Builder b;
  Value x = b.input("x", DType::F32, {4, 64});         // not in the arena
  Value a = b.silu(x);                                 // 1024 bytes
  Value v = b.reshape(a, {4, 2, 32});                  // view of a: keeps a alive
  Value c = b.silu(b.rms_norm(x, 1e-5f));              // a still live: c cannot reuse it
  Value d = b.matmul(c, w.add(b, "w", DType::F32, {128, 64}));  // 2048 bytes
  Value v2 = b.reshape(v, {4, 64});
  Value e = b.add(v2, b.silu(x));                      // last reader of a (through two views)
  Value f = b.silu(e);                                 // a's block is free again here
  b.output(d);
  b.output(b.add(f, x));
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

TEST(PlanMemory, PlansTheChainAsExpected) {
  Weights w;
  OpGraph g = chain(w);
  passtest::expect_graph_text(g, "plan_memory.in.txt");
  ASSERT_TRUE(run_plan_memory(g, PassContext{}).ok());
  passtest::expect_graph_text(g, "plan_memory.out.txt");
  ASSERT_TRUE(verify_memory_plan(g).ok()) << verify_memory_plan(g).message();
  EXPECT_LT(g.memory.arena_bytes, g.memory.naive_bytes);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const OpKind op = g.nodes[i].op;
    if (op == OpKind::Input || op == OpKind::Weight || op == OpKind::Reshape) EXPECT_EQ(g.memory.offset[i], -1);
    else EXPECT_GE(g.memory.offset[i], 0);
  }
}

TEST(PlanMemory, VerifierRejectsBrokenPlans) {
  Weights w;
  OpGraph g = chain(w);
  ASSERT_TRUE(run_plan_memory(g, PassContext{}).ok());
  // a (node 1) and c's rms_norm (node 3) are live together: give them one block.
  OpGraph overlap = g;
  overlap.memory.offset[3] = overlap.memory.offset[1];
  EXPECT_FALSE(verify_memory_plan(overlap).ok());
  OpGraph misaligned = g;
  misaligned.memory.offset[1] += 4;
  EXPECT_FALSE(verify_memory_plan(misaligned).ok());
  OpGraph short_arena = g;
  short_arena.memory.arena_bytes = 64;
  EXPECT_FALSE(verify_memory_plan(short_arena).ok());
  OpGraph view_offset = g;
  view_offset.memory.offset[2] = 0;  // a reshape has no storage of its own
  EXPECT_FALSE(verify_memory_plan(view_offset).ok());
}

TEST(PlanMemory, BackendRunsPlannedLikeNaive) {
  Weights w;
  OpGraph naive = chain(w);
  OpGraph planned = naive;
  ASSERT_TRUE(run_plan_memory(planned, PassContext{}).ok());
  auto be = passtest::cpu_backend();
  const std::vector<float> x = passtest::random_floats(4 * 64, 23);
  auto want = passtest::run(*be, naive, x);
  auto got = passtest::run(*be, planned, x);
  EXPECT_TRUE(passtest::bit_equal(want, got));
  auto p1 = be->prepare(naive);
  auto p2 = be->prepare(planned);
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_LT((*p2)->scratch_bytes(), (*p1)->scratch_bytes());
}

// In schedule order: p [2 units] dies when q [1] is made, so q goes above it; r [1] then takes
// the bottom of p's freed range and s [2] no longer fits there: 5 units. By size: 4 units,
// the minimum (q, r and s are outputs, live together at the end). A unit is 256 bytes.
OpGraph stranding(Weights& w) {
  Builder b;
  Value big = b.input("x", DType::F32, {2, 64});
  Value small = b.input("s", DType::F32, {1, 64});
  Value p = b.silu(big);
  Value q = b.matmul(p, w.add(b, "w", DType::F32, {32, 64}));
  Value r = b.silu(small);
  Value s = b.silu(big);
  b.output(q);
  b.output(r);
  b.output(s);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

TEST(PlanMemory, SizeOrderAvoidsAStrandedBlock) {
  Weights w;
  OpGraph g = stranding(w);
  ASSERT_TRUE(run_plan_memory(g, PassContext{}).ok());
  ASSERT_TRUE(verify_memory_plan(g).ok()) << verify_memory_plan(g).message();
  EXPECT_EQ(g.memory.naive_bytes, 6u * 256);
  EXPECT_EQ(g.memory.arena_bytes, 4u * 256);
}

}  // namespace
}  // namespace ember::graph
