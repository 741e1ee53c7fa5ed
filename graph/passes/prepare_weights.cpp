// Pass prepare-weights — invariant: every weight whose readers all run on a backend that asks
// for it in another layout (Backend::weight_layout) is stored in that layout.
//
// Why: a kernel streams a weight faster in the layout it is written for (the CPU's q4_1 pair
// kernels read q4_1x2, kernels/cpu/gemm/pack.h: both rows' scales and nibbles in one load
// each); the rearrangement is done here, once at load, and not hidden inside a kernel or
// repeated per step. The weight node keeps its name, dtype and shape; its bytes point into the
// WeightStore and attrs.layout names the layout, which `ember graph --dump` prints. A weight
// that some reader wants plain (the tied embedding table, read by embedding) or that two
// readers want in different layouts stays as it is. Nothing is packed without a store.
//
// Runs after the merges and fusions (the backend answers for the node that will run) and
// before memory planning (weights are outside the arena). Results are bit-identical: a layout
// moves bytes, the kernel's arithmetic stays that of the plain weight.
#include <cstdlib>
#include <cstring>

#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

void WeightStore::Freer::operator()(void* p) const { std::free(p); }

Expected<const void*> WeightStore::get(const void* plain, size_t bytes, WeightLayout layout,
                                       const std::function<Status(void*)>& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = packed_.find({plain, layout});
  if (it != packed_.end()) return static_cast<const void*>(it->second.get());
  void* mem = std::aligned_alloc(64, (bytes + 63) & ~size_t{63});
  if (!mem) return Error("prepare-weights: out of memory for %zu bytes", bytes);
  std::unique_ptr<void, Freer> owned(mem);
  EMBER_RETURN_IF_ERROR(pack(mem));
  bytes_ += bytes;
  packed_.emplace(std::make_pair(plain, layout), std::move(owned));
  if (on_packed) on_packed(plain, bytes);
  return static_cast<const void*>(mem);
}

size_t WeightStore::packed_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

Status run_prepare_weights(OpGraph& g, const PassContext& ctx) {
  if (!ctx.weights || !ctx.backend) return Status::Ok();
  const int N = static_cast<int>(g.nodes.size());
  // Per weight node: the layout its readers agree on so far, and one reader (node, input) that
  // asked for it; `wanted` false once some reader wants it plain or readers disagree.
  struct Want {
    bool seen = false, wanted = true;
    WeightLayout layout = WeightLayout::Plain;
    int node = -1, k = -1;
  };
  std::vector<Want> want(N);
  for (int out : g.outputs)
    if (g.nodes[out].op == OpKind::Weight) want[out].wanted = false;  // read as it lies
  for (int i = 0; i < N; ++i) {
    const Node& n = g.nodes[i];
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int w = n.inputs[k];
      if (g.nodes[w].op != OpKind::Weight) continue;
      Want& ww = want[w];
      const WeightLayout l = g.nodes[w].attrs.layout == WeightLayout::Plain
                                 ? ctx.backend->weight_layout(g, i, static_cast<int>(k))
                                 : WeightLayout::Plain;  // already prepared
      if (l == WeightLayout::Plain || (ww.seen && l != ww.layout)) ww.wanted = false;
      if (!ww.seen) ww = {true, ww.wanted, l, i, static_cast<int>(k)};
    }
  }
  for (int w = 0; w < N; ++w) {
    const Want& ww = want[w];
    if (!ww.seen || !ww.wanted) continue;
    Node& n = g.nodes[w];
    EMBER_ASSIGN_OR_RETURN(const void* packed,
                           ctx.weights->get(n.weight, n.out.bytes(), ww.layout, [&](void* dst) {
                             return ctx.backend->pack_weight(g, ww.node, ww.k, dst);
                           }));
    n.weight = packed;
    n.attrs.layout = ww.layout;
  }
  return Status::Ok();
}

}  // namespace ember::graph
