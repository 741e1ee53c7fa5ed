// Helpers shared by the rewriting passes (not a pass): use counts, and a Rewriter that
// rebuilds a graph node by node in the old order, so every pass keeps the builder's
// schedule except where it deliberately changes it.
#pragma once

#include <vector>

#include "backends/backend.h"
#include "backends/op.h"
#include "ember/core/status.h"

namespace ember::graph {

// Per node: how many inputs of other nodes refer to it, plus one per graph output.
std::vector<int> count_uses(const OpGraph& g);

// Whether `backend` can run `n` (whose inputs are nodes of g). Asked by appending `n` to g
// for the query and removing it again, so g is unchanged afterwards. False without a backend.
bool backend_runs(const Backend* backend, OpGraph& g, const Node& n);

// The device a node new to a placed graph runs on: that of its first input that is not a
// weight, input or kv cache (a fused node replaces nodes of one device, and an input that
// crossed devices did so through a transfer placed on the reader's device); -1 when the
// graph is not placed or every input is a host value (the device is then unknown, and a
// placed graph's support question for such a node is answered no).
int inherited_device(const OpGraph& g, const Node& n);

// Rebuilds keep the placement: a copied node keeps its device, an appended node inherits one.
class Rewriter {
 public:
  explicit Rewriter(const OpGraph& old) : old_(old), map_(old.nodes.size(), -1) {}

  // The new id standing for an old node (set by copy() or set()); -1 if none yet.
  int map(int old) const { return map_[old]; }
  void set(int old, int new_id) { map_[old] = new_id; }
  // Appends the old node with its inputs mapped; returns and records its new id.
  int copy(int old);
  // Appends a new node whose inputs are already new ids; its type is inferred (Slice and
  // Reshape keep the stored out). Returns the new id, or -1 after recording an error.
  int append(Node n);
  const OpGraph& graph() const { return g_; }
  // The rebuilt graph with outputs mapped; the first error of append or an unmapped output.
  Expected<OpGraph> finish();

 private:
  const OpGraph& old_;
  OpGraph g_;
  std::vector<int> map_;
  Status error_;
};

}  // namespace ember::graph
