// Pass merge-gate-up — invariant: no two plain matmuls that read the same activation feed
// the same silu_mul; each such pair (an MLP's gate and up projections) is one matmul_cat
// followed by two slices.
//
// The reasons and the conditions are those of merge-qkv (merge_qkv.cpp).
#include "graph/passes/merge_matmuls.h"

namespace ember::graph {

Status run_merge_gate_up(OpGraph& g, const PassContext& ctx) {
  return merge_matmul_groups(g, ctx, [](const OpGraph& gr, const std::vector<int>& members) {
    if (members.size() != 2) return false;
    for (const Node& n : gr.nodes)
      if (n.op == OpKind::SiluMul && ((n.inputs[0] == members[0] && n.inputs[1] == members[1]) ||
                                      (n.inputs[0] == members[1] && n.inputs[1] == members[0])))
        return true;
    return false;
  });
}

}  // namespace ember::graph
