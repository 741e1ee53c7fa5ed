#include "graph/passes/merge_matmuls.h"

#include <climits>
#include <map>

#include "graph/passes/rewrite.h"

namespace ember::graph {

Status merge_matmul_groups(OpGraph& g, const PassContext& ctx, MergeSelect select) {
  const int N = static_cast<int>(g.nodes.size());
  std::map<int, std::vector<int>> by_input;  // activation -> plain matmuls reading it, in order
  for (int i = 0; i < N; ++i)
    if (g.nodes[i].op == OpKind::MatMul && g.nodes[i].inputs.size() == 2) by_input[g.nodes[i].inputs[0]].push_back(i);
  std::vector<int> first_reader(N, INT_MAX);
  for (int i = 0; i < N; ++i)
    for (int in : g.nodes[i].inputs) first_reader[in] = std::min(first_reader[in], i);

  std::vector<int> group_of(N, -1);  // member -> index into groups
  std::vector<std::vector<int>> groups;
  for (auto& [x, members] : by_input) {
    if (members.size() < 2 || members.size() > 3 || !select(g, members)) continue;
    const TensorDesc& w0 = g.nodes[g.nodes[members[0]].inputs[1]].out;
    bool ok = true;
    for (int m : members) {
      const TensorDesc& w = g.nodes[g.nodes[m].inputs[1]].out;
      ok &= w.dtype == w0.dtype && w.shape[1] == w0.shape[1] && first_reader[m] > members.back();
    }
    Node cat;
    cat.op = OpKind::MatMulCat;
    cat.inputs = {x};
    for (int m : members) cat.inputs.push_back(g.nodes[m].inputs[1]);
    if (!ok || !backend_runs(ctx.backend, g, cat)) continue;
    for (int m : members) group_of[m] = static_cast<int>(groups.size());
    groups.push_back(members);
  }
  if (groups.empty()) return Status::Ok();

  Rewriter rw(g);
  for (int i = 0; i < N; ++i) {
    if (group_of[i] < 0) {
      rw.copy(i);
      continue;
    }
    const std::vector<int>& members = groups[group_of[i]];
    if (i != members.back()) continue;  // emitted with the last member
    Node cat;
    cat.op = OpKind::MatMulCat;
    cat.label = g.nodes[members[0]].label;
    cat.inputs = {rw.map(g.nodes[members[0]].inputs[0])};
    for (int m : members) cat.inputs.push_back(rw.map(g.nodes[m].inputs[1]));
    const int c = rw.append(std::move(cat));
    int64_t begin = 0;
    for (int m : members) {
      Node s;
      s.op = OpKind::Slice;
      s.label = g.nodes[m].label;
      s.inputs = {c};
      s.attrs.begin = begin;
      s.out = g.nodes[m].out;
      begin += s.out.shape[1];
      rw.set(m, rw.append(std::move(s)));
    }
  }
  EMBER_ASSIGN_OR_RETURN(g, rw.finish());
  return Status::Ok();
}

}  // namespace ember::graph
