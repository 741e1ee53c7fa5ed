// Pass merge-qkv — invariant: no three plain matmuls read the same activation; each such
// trio (a layer's Q, K and V projections) is one matmul_cat over the three weights followed
// by three slices.
//
// Why: one activation conversion (x to q8) instead of three, and one sweep of the threads
// over ΣN weight rows instead of three sweeps with a barrier each; at decode the slices are
// views. Outputs are bit-identical: each is the same dot product of the same converted row.
// Merged only where the weights share type and row length and the backend runs matmul_cat.
#include "graph/passes/merge_matmuls.h"

namespace ember::graph {

Status run_merge_qkv(OpGraph& g, const PassContext& ctx) {
  return merge_matmul_groups(g, ctx, [](const OpGraph&, const std::vector<int>& members) {
    return members.size() == 3;
  });
}

}  // namespace ember::graph
