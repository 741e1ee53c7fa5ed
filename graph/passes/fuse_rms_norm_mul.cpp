// Pass fuse-rms-norm-mul — invariant: no rms_norm whose only reader is a mul by one row
// (the norm's weight) is left; each such pair is one rms_norm_mul, where the backend runs it.
//
// Why: the normalised rows are written and read back once less. The fused op does the same
// float operations in the same order ((x * scale) rounded, then * w), so it is bit-identical.
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

Status run_fuse_rms_norm_mul(OpGraph& g, const PassContext& ctx) {
  const int N = static_cast<int>(g.nodes.size());
  const std::vector<int> uses = count_uses(g);
  std::vector<int> fused_norm(N, -1);  // mul -> its rms_norm, where they fuse
  std::vector<bool> absorbed(N, false);
  for (int i = 0; i < N; ++i) {
    const Node& m = g.nodes[i];
    if (m.op != OpKind::Mul) continue;
    const int h = m.inputs[0], w = m.inputs[1];
    if (g.nodes[h].op != OpKind::RmsNorm || uses[h] != 1 || g.nodes[w].out.rank != 1) continue;
    Node f;
    f.op = OpKind::RmsNormMul;
    f.inputs = {g.nodes[h].inputs[0], w};
    f.attrs.eps = g.nodes[h].attrs.eps;
    if (!backend_runs(ctx.backend, g, f)) continue;
    fused_norm[i] = h;
    absorbed[h] = true;
  }
  Rewriter rw(g);
  for (int i = 0; i < N; ++i) {
    if (absorbed[i]) continue;
    if (fused_norm[i] < 0) {
      rw.copy(i);
      continue;
    }
    const Node& norm = g.nodes[fused_norm[i]];
    Node f;
    f.op = OpKind::RmsNormMul;
    f.label = g.nodes[i].label;
    f.inputs = {rw.map(norm.inputs[0]), rw.map(g.nodes[i].inputs[1])};
    f.attrs.eps = norm.attrs.eps;
    rw.set(i, rw.append(std::move(f)));
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
