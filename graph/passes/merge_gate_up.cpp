// Pass merge-gate-up — invariant: no two plain matmuls that read the same activation feed
// the same silu_mul; each such pair (an MLP's gate and up projections) is one matmul_cat
// whose [M, 2F] output the silu_mul reads as its two halves (where gate and up have the same
// width and nothing else reads them), else two slices of it.
//
// The reasons and the conditions of the merge are those of merge-qkv (merge_qkv.cpp). Reading
// the halves in place saves the slices, which copy when M > 1, and their memory.
#include "graph/passes/merge_matmuls.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

Status run_merge_gate_up(OpGraph& g, const PassContext& ctx) {
  EMBER_RETURN_IF_ERROR(merge_matmul_groups(g, ctx, [](const OpGraph& gr, const std::vector<int>& members) {
    if (members.size() != 2) return false;
    for (const Node& n : gr.nodes)
      if (n.op == OpKind::SiluMul && n.inputs.size() == 2 &&
          ((n.inputs[0] == members[0] && n.inputs[1] == members[1]) ||
           (n.inputs[0] == members[1] && n.inputs[1] == members[0])))
        return true;
    return false;
  }));

  // silu_mul(slice(c, 0, F), slice(c, F, F)) -> silu_mul(c) where the slices have no other reader.
  const int N = static_cast<int>(g.nodes.size());
  const std::vector<int> uses = count_uses(g);
  std::vector<bool> absorbed(N, false), halves(N, false);
  for (int i = 0; i < N; ++i) {
    const Node& s = g.nodes[i];
    if (s.op != OpKind::SiluMul || s.inputs.size() != 2) continue;
    const Node& a = g.nodes[s.inputs[0]];
    const Node& b = g.nodes[s.inputs[1]];
    if (a.op != OpKind::Slice || b.op != OpKind::Slice || a.inputs[0] != b.inputs[0]) continue;
    const Node& cat = g.nodes[a.inputs[0]];
    const int64_t F = a.out.shape[1];
    if (cat.op != OpKind::MatMulCat || cat.out.shape[1] != 2 * F || a.attrs.begin != 0 || b.attrs.begin != F) continue;
    if (uses[s.inputs[0]] != 1 || uses[s.inputs[1]] != 1) continue;
    Node fused;
    fused.op = OpKind::SiluMul;
    fused.inputs = {a.inputs[0]};
    if (!backend_runs(ctx.backend, g, fused)) continue;
    halves[i] = true;
    absorbed[s.inputs[0]] = absorbed[s.inputs[1]] = true;
  }
  Rewriter rw(g);
  for (int i = 0; i < N; ++i) {
    if (absorbed[i]) continue;
    if (!halves[i]) {
      rw.copy(i);
      continue;
    }
    Node fused;
    fused.op = OpKind::SiluMul;
    fused.label = g.nodes[i].label;
    fused.inputs = {rw.map(g.nodes[g.nodes[i].inputs[0]].inputs[0])};
    rw.set(i, rw.append(std::move(fused)));
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
