// Pass cse — invariant: no two nodes compute the same thing: no two nodes share op, inputs,
// attributes, weight and type (kv_write and kv_write_rope excepted: each is an effect on the
// cache).
//
// The later duplicate is dropped and its readers read the first. Inputs are compared after
// mapping, so chains of duplicates collapse in one pass.
#include <string>
#include <unordered_map>

#include "graph/graph.h"
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {
namespace {

// Everything that determines a node's value, as text. Labels are not part of it.
std::string key_of(const Node& n, const Rewriter& rw) {
  const OpAttrs& a = n.attrs;
  std::string k = op_name(n.op);
  for (int in : n.inputs) k += " %" + std::to_string(rw.map(in));
  k += strfmt(" |%s|%a|%a|%d|%d|%d|%d|%a|%a|%d%d%d%d|%lld|%p|", a.name.c_str(), a.eps, a.scale, a.layer,
              a.kv_which, a.rope_n_rot, static_cast<int>(a.rope_mode), a.rope_base, a.rope_freq_scale, a.perm[0],
              a.perm[1], a.perm[2], a.perm[3], static_cast<long long>(a.begin), n.weight);
  k += desc_string(n.out);
  return k;
}

}  // namespace

Status run_cse(OpGraph& g, const PassContext&) {
  Rewriter rw(g);
  std::unordered_map<std::string, int> seen;  // key -> new id
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const Node& n = g.nodes[i];
    if (writes_kv(n.op)) {
      rw.copy(i);
      continue;
    }
    std::string k = key_of(n, rw);
    auto it = seen.find(k);
    if (it != seen.end()) {
      rw.set(i, it->second);
    } else {
      int id = rw.copy(i);
      seen.emplace(std::move(k), id);
    }
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
