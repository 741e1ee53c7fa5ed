// Cutting a placed graph (graph/passes/place.cpp) into the subgraphs each device runs: maximal
// runs of nodes of one device in schedule order, each a self-contained OpGraph a backend can
// prepare as it would a whole graph. A value made in one run and read in a later one leaves
// the first as an output and enters the second as an Input named "xfer.<node id>" (the id of
// the value in the placed graph); the runtime carries it through host memory. Weights, step
// inputs and kv caches are repeated in every run that reads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/op.h"
#include "ember/core/status.h"

namespace ember::graph {

struct Partition {
  int device = 0;              // index into the placed graph's placement.devices
  int first = 0, last = 0;     // the placed graph's nodes [first, last] it covers
  OpGraph graph;               // what the device prepares (unplaced; planned when asked)
  std::vector<int> reads;      // per "xfer.<id>" input of graph, in node order: the id
  std::vector<int> yields;     // per graph.outputs entry: the placed graph's node id it carries
  int n_nodes = 0;             // nodes of the placed graph it runs (transfers included)
};

// The name of the Input that carries value `id` of the placed graph into a partition.
std::string xfer_input_name(int id);

// Cuts `placed` into partitions. With plan_memory, each partition's graph gets its own memory
// plan (run_plan_memory with `alignment`). An unplaced graph is one partition on device 0.
Expected<std::vector<Partition>> partition_graph(const OpGraph& placed, bool plan_memory, uint64_t alignment);

}  // namespace ember::graph
