#include "graph/partition.h"

#include <algorithm>
#include <map>

#include "graph/graph.h"
#include "graph/passes/pass.h"

namespace ember::graph {

std::string xfer_input_name(int id) { return "xfer." + std::to_string(id); }

Expected<std::vector<Partition>> partition_graph(const OpGraph& placed, bool plan_memory, uint64_t alignment) {
  const int N = static_cast<int>(placed.nodes.size());
  EMBER_RETURN_IF_ERROR(verify_placement(placed));
  auto device_of = [&](int i) { return placed.placement.empty() ? 0 : placed.placement.device[i]; };
  // Runs: nodes with storage of their own or views, by device; weights, inputs and kv caches
  // join whichever run reads them.
  std::vector<int> run_of(N, -1);
  std::vector<Partition> parts;
  for (int i = 0; i < N; ++i) {
    if (is_external(placed.nodes[i].op)) continue;
    if (parts.empty() || parts.back().device != device_of(i)) {
      parts.emplace_back();
      parts.back().device = device_of(i);
      parts.back().first = i;
    }
    parts.back().last = i;
    parts.back().n_nodes++;
    run_of[i] = static_cast<int>(parts.size() - 1);
  }
  std::vector<std::vector<int>> needed(parts.size());  // per run: values later runs read
  std::vector<std::vector<int>> locals(parts.size());  // per run: placed id -> its id there
  for (size_t r = 0; r < parts.size(); ++r) {
    Partition& p = parts[r];
    std::vector<int>& local = locals[r];
    local.assign(N, -1);
    std::map<int, int> xfer;  // value id -> its Input node here
    auto external = [&](int j) {
      if (local[j] < 0) {
        p.graph.nodes.push_back(placed.nodes[j]);
        local[j] = static_cast<int>(p.graph.nodes.size() - 1);
      }
      return local[j];
    };
    auto incoming = [&](int v) {  // value v of an earlier run
      auto [it, fresh] = xfer.try_emplace(v, -1);
      if (fresh) {
        const int from = run_of[v];
        if (from < 0 || static_cast<size_t>(from) >= r)
          return it->second;  // cannot happen in a verified placement; caught below
        Node in;
        in.op = OpKind::Input;
        in.out = placed.nodes[v].out;
        in.attrs.name = xfer_input_name(v);
        in.label = placed.nodes[v].label;
        p.graph.nodes.push_back(std::move(in));
        it->second = static_cast<int>(p.graph.nodes.size() - 1);
        p.reads.push_back(v);
        if (std::find(needed[from].begin(), needed[from].end(), v) == needed[from].end()) needed[from].push_back(v);
      }
      return it->second;
    };
    for (int i = p.first; i <= p.last; ++i) {
      if (run_of[i] != static_cast<int>(r)) continue;
      const Node& n = placed.nodes[i];
      if (n.op == OpKind::Transfer) {  // the value arrives through host memory
        const int src = n.inputs[0];
        local[i] = incoming(placed.nodes[src].op == OpKind::Transfer ? placed.nodes[src].inputs[0] : src);
        if (local[i] < 0) return Error("partition: transfer %d reads node %d of no earlier run", i, src);
        continue;
      }
      Node copy = n;
      for (int& in : copy.inputs) {
        const int j = in;
        if (is_external(placed.nodes[j].op)) {
          in = external(j);
        } else if (run_of[j] == static_cast<int>(r)) {
          in = local[j];
        } else if (writes_kv(placed.nodes[j].op)) {
          // The cache an earlier run wrote (of this device: a kv group shares one): read the
          // pool itself, which that run has updated by the time this one starts.
          in = external(placed.nodes[j].inputs[1]);
        } else {  // a value of an earlier run of the same device
          in = incoming(placed.nodes[j].op == OpKind::Transfer ? placed.nodes[j].inputs[0] : j);
          if (in < 0) return Error("partition: node %d reads node %d of no earlier run", i, j);
        }
      }
      p.graph.nodes.push_back(std::move(copy));
      local[i] = static_cast<int>(p.graph.nodes.size() - 1);
    }
    p.graph.outputs.clear();
    for (int o : placed.outputs)
      if (run_of[o] == static_cast<int>(r)) {
        p.graph.outputs.push_back(local[o]);
        p.yields.push_back(o);
      }
  }
  for (size_t r = 0; r < parts.size(); ++r) {
    Partition& p = parts[r];
    for (int v : needed[r]) {  // what later runs read leaves as an output
      p.graph.outputs.push_back(locals[r][v]);
      p.yields.push_back(v);
    }
    EMBER_RETURN_IF_ERROR(verify(p.graph).with_context(strfmt("partition %zu", r)));
    if (plan_memory) {
      PassContext pc;
      pc.alignment = alignment;
      EMBER_RETURN_IF_ERROR(run_plan_memory(p.graph, pc).with_context(strfmt("partition %zu", r)));
    }
  }
  return parts;
}

}  // namespace ember::graph
