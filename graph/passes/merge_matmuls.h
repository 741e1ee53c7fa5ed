// Shared by merge_qkv.cpp and merge_gate_up.cpp (not a pass itself): merging plain matmuls
// that read the same activation into one matmul_cat followed by one slice per former matmul.
#pragma once

#include <vector>

#include "graph/passes/pass.h"

namespace ember::graph {

// `select(g, members)` says whether a group (2 or 3 matmuls reading one activation, in node
// order) should merge. A selected group merges only if its weights share one type and row
// length (so one activation conversion serves all), every reader of a member comes after the
// last member (the merged node takes the last member's place in the schedule), and the
// backend can run the merged node.
using MergeSelect = bool (*)(const OpGraph& g, const std::vector<int>& members);
Status merge_matmul_groups(OpGraph& g, const PassContext& ctx, MergeSelect select);

}  // namespace ember::graph
