// Pass fuse-rope — invariant: no rope whose only reader is a kv_write (as its x) or an
// attention (as its q) is left where the backend runs the fused op; each such pair is one
// kv_write_rope (K rotated while it is stored into the KV blocks) or one attention_rope (Q
// rotated as attention loads it).
//
// Why: the rotated K and Q are never written to memory and read back, and each layer loses
// two ops and their barriers. With the merged Q/K/V projection the fused ops read their rows
// straight out of the matmul_cat output (strided slices, backends/op.h), so prefill no longer
// materialises Q or K at all. Bit-identical: the CPU backend's three ops share one rope
// arithmetic (rope_angles / rope_head in backends/cpu/ops/ops.h), and the rotated floats
// meet the f16 or q8_0 conversion exactly as they met it after a separate rope.
// The fused node takes its reader's place in the schedule; the rope's input is ready there
// because it was ready before the rope.
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {
namespace {

// The fused form of reader `r` reading rope `rope` as its x or q (inputs are old ids); false
// when r is not a reader this pass fuses.
bool fused_of(const OpGraph& g, int r, int rope, Node* f) {
  const Node& reader = g.nodes[r];
  const Node& rp = g.nodes[rope];
  if (reader.inputs.empty() || reader.inputs[0] != rope) return false;
  if (reader.op == OpKind::KvWrite) {
    f->op = OpKind::KvWriteRope;
    f->inputs = {rp.inputs[0], reader.inputs[1], rp.inputs[1]};
  } else if (reader.op == OpKind::Attention) {
    f->op = OpKind::AttentionRope;
    f->inputs = {rp.inputs[0], reader.inputs[1], reader.inputs[2], rp.inputs[1]};
  } else {
    return false;
  }
  f->attrs = reader.attrs;  // layer, kv_which, scale
  f->attrs.rope_n_rot = rp.attrs.rope_n_rot;
  f->attrs.rope_mode = rp.attrs.rope_mode;
  f->attrs.rope_base = rp.attrs.rope_base;
  f->attrs.rope_freq_scale = rp.attrs.rope_freq_scale;
  f->label = reader.label;
  return true;
}

}  // namespace

Status run_fuse_rope(OpGraph& g, const PassContext& ctx) {
  const int N = static_cast<int>(g.nodes.size());
  const std::vector<int> uses = count_uses(g);
  std::vector<int> reader_of(N, -1);  // rope -> its only reader
  for (int i = 0; i < N; ++i)
    for (int in : g.nodes[i].inputs)
      if (g.nodes[in].op == OpKind::Rope && uses[in] == 1) reader_of[in] = i;
  std::vector<int> fused_rope(N, -1);  // reader -> the rope it absorbs
  std::vector<bool> absorbed(N, false);
  for (int i = 0; i < N; ++i) {
    if (reader_of[i] < 0) continue;
    Node f;
    if (!fused_of(g, reader_of[i], i, &f) || !backend_runs(ctx.backend, g, f)) continue;
    fused_rope[reader_of[i]] = i;
    absorbed[i] = true;
  }
  Rewriter rw(g);
  for (int i = 0; i < N; ++i) {
    if (absorbed[i]) continue;
    if (fused_rope[i] < 0) {
      rw.copy(i);
      continue;
    }
    Node f;
    fused_of(g, i, fused_rope[i], &f);
    for (int& in : f.inputs) in = rw.map(in);
    rw.set(i, rw.append(std::move(f)));
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
