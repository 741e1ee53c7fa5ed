// Pass fuse-norm-matmul — invariant: no rms_norm_mul whose only reader is a plain or merged
// matmul (as its activation) is left where the backend runs norm_matmul; each such pair is one
// norm_matmul that normalises the rows while converting them for the dot products.
//
// Why: the normalised rows are never written and read back, and one op with its barrier
// goes (at decode: the attention and MLP norms of every layer and the final norm). Bit-
// identical: each converted value is the same float expression as rms_norm_mul's. Runs after
// fuse-rms-norm-mul (it fuses what that pass made) and after the merges (one norm_matmul then
// serves Q, K and V). A backend whose matmul reads f32 activations for the weight type
// declines, since there is no conversion to fuse into.
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

Status run_fuse_norm_matmul(OpGraph& g, const PassContext& ctx) {
  const int N = static_cast<int>(g.nodes.size());
  const std::vector<int> uses = count_uses(g);
  std::vector<int> fused_norm(N, -1);  // matmul -> its rms_norm_mul, where they fuse
  std::vector<bool> absorbed(N, false);
  for (int i = 0; i < N; ++i) {
    const Node& mm = g.nodes[i];
    const bool plain = mm.op == OpKind::MatMul && mm.inputs.size() == 2;
    if (!plain && mm.op != OpKind::MatMulCat) continue;
    const int h = mm.inputs[0];
    if (g.nodes[h].op != OpKind::RmsNormMul || uses[h] != 1) continue;
    Node f;
    f.op = OpKind::NormMatMul;
    f.inputs = {g.nodes[h].inputs[0], g.nodes[h].inputs[1]};
    f.inputs.insert(f.inputs.end(), mm.inputs.begin() + 1, mm.inputs.end());
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
    const Node& mm = g.nodes[i];
    Node f;
    f.op = OpKind::NormMatMul;
    f.label = mm.label;
    f.inputs = {rw.map(norm.inputs[0]), rw.map(norm.inputs[1])};
    for (size_t k = 1; k < mm.inputs.size(); ++k) f.inputs.push_back(rw.map(mm.inputs[k]));
    f.attrs.eps = norm.attrs.eps;
    rw.set(i, rw.append(std::move(f)));
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
