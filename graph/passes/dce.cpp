// Pass dce — invariant: every node is an output, a kv_write (or kv_write_rope), or an input of
// a node that is live; nothing else is left in the graph.
//
// kv_write nodes are roots because their effect (the KV cache of later steps) outlives the
// step's outputs. The rewriting passes leave the nodes they replace behind for this pass.
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

Status run_dce(OpGraph& g, const PassContext&) {
  const int N = static_cast<int>(g.nodes.size());
  std::vector<bool> live(N, false);
  for (int o : g.outputs) live[o] = true;
  for (int i = N - 1; i >= 0; --i) {
    if (writes_kv(g.nodes[i].op)) live[i] = true;
    if (!live[i]) continue;
    for (int in : g.nodes[i].inputs) live[in] = true;
  }
  Rewriter rw(g);
  for (int i = 0; i < N; ++i)
    if (live[i]) rw.copy(i);
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
