// Pass fuse-matmul-add — invariant: no plain matmul whose only reader is an add is left where
// the backend runs matmul_add; each such pair (the residual add after a layer's output and
// down projections, or a bias add) is one matmul_add with the add in the matmul's epilogue.
//
// Why: the matmul's output is added while still in cache, saving a pass over the rows and a
// barrier. Bit-identical: each output gets the same single float addition (a + b == b + a).
// Runs after the merges, so a Q/K/V bias add does not keep its matmul out of merge-qkv.
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

Status run_fuse_matmul_add(OpGraph& g, const PassContext& ctx) {
  const int N = static_cast<int>(g.nodes.size());
  const std::vector<int> uses = count_uses(g);
  auto plain_matmul = [&](int i) {
    return g.nodes[i].op == OpKind::MatMul && g.nodes[i].inputs.size() == 2 && uses[i] == 1;
  };
  std::vector<int> fused_mm(N, -1), addend(N, -1);  // add -> its matmul, and the other operand
  std::vector<bool> absorbed(N, false);
  for (int i = 0; i < N; ++i) {
    const Node& a = g.nodes[i];
    if (a.op != OpKind::Add) continue;
    int mm = -1, r = -1;
    if (plain_matmul(a.inputs[1]) && a.inputs[0] != a.inputs[1]) {
      mm = a.inputs[1];  // r + x·wᵀ: a residual add
      r = a.inputs[0];
    } else if (plain_matmul(a.inputs[0])) {
      mm = a.inputs[0];  // x·wᵀ + r: a bias or a residual
      r = a.inputs[1];
    } else {
      continue;
    }
    Node f;
    f.op = OpKind::MatMulAdd;
    f.inputs = {g.nodes[mm].inputs[0], g.nodes[mm].inputs[1], r};
    if (!backend_runs(ctx.backend, g, f)) continue;
    fused_mm[i] = mm;
    addend[i] = r;
    absorbed[mm] = true;
  }
  Rewriter rw(g);
  for (int i = 0; i < N; ++i) {
    if (absorbed[i]) continue;
    if (fused_mm[i] < 0) {
      rw.copy(i);
      continue;
    }
    const Node& mm = g.nodes[fused_mm[i]];
    Node f;
    f.op = OpKind::MatMulAdd;
    f.label = g.nodes[i].label;
    f.inputs = {rw.map(mm.inputs[0]), rw.map(mm.inputs[1]), rw.map(addend[i])};
    rw.set(i, rw.append(std::move(f)));
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
