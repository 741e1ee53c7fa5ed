#include "graph/passes/rewrite.h"

#include "graph/graph.h"

namespace ember::graph {

std::vector<int> count_uses(const OpGraph& g) {
  std::vector<int> uses(g.nodes.size(), 0);
  for (const Node& n : g.nodes)
    for (int in : n.inputs) ++uses[in];
  for (int o : g.outputs) ++uses[o];
  return uses;
}

bool backend_runs(const Backend* backend, OpGraph& g, const Node& n) {
  if (!backend) return false;
  g.nodes.push_back(n);
  Expected<TensorDesc> d = infer(g, n);
  bool ok = d.ok();
  if (ok) {
    g.nodes.back().out = *d;
    ok = backend->supports(g, static_cast<int>(g.nodes.size() - 1)).ok;
  }
  g.nodes.pop_back();
  return ok;
}

int inherited_device(const OpGraph& g, const Node& n) {
  if (g.placement.devices.empty()) return -1;
  for (int in : n.inputs)
    if (!is_external(g.nodes[in].op) && static_cast<size_t>(in) < g.placement.device.size())
      return g.placement.device[in];
  return -1;
}

int Rewriter::copy(int old) {
  Node n = old_.nodes[old];
  for (int& in : n.inputs) {
    if (map_[in] < 0 && error_.ok())
      error_ = Error("rewrite: node %d (%s %s) reads node %d, which has no replacement yet", old,
                     op_name(n.op), n.label.c_str(), in);
    in = map_[in];
  }
  if (!error_.ok()) return -1;
  if (!old_.placement.empty()) g_.placement.device.push_back(old_.placement.device[old]);
  g_.nodes.push_back(std::move(n));
  map_[old] = static_cast<int>(g_.nodes.size() - 1);
  return map_[old];
}

int Rewriter::append(Node n) {
  if (!error_.ok()) return -1;
  Expected<TensorDesc> d = infer(g_, n);
  if (!d.ok()) {
    error_ = d.status();
    return -1;
  }
  n.out = *d;
  if (!old_.placement.empty()) {
    g_.placement.devices = old_.placement.devices;  // (so inherited_device sees a placed graph)
    g_.placement.device.push_back(inherited_device(g_, n));
  }
  g_.nodes.push_back(std::move(n));
  return static_cast<int>(g_.nodes.size() - 1);
}

Expected<OpGraph> Rewriter::finish() {
  if (!error_.ok()) return error_;
  g_.placement.devices = old_.placement.devices;
  g_.outputs.clear();
  for (int o : old_.outputs) {
    if (map_[o] < 0) return Error("rewrite: output node %d was dropped", o);
    g_.outputs.push_back(map_[o]);
  }
  return std::move(g_);
}

}  // namespace ember::graph
