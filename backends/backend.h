// The Backend interface: the one way the graph and the runtime reach hardware.
//
// Designed for devices with their own memory and asynchronous queues: a Backend owns device
// Buffers, a Queue for host<->device copies and execution, and runs OpGraphs in two phases:
//   prepare(graph)  -> Plan   shapes checked, memory planned, kernels chosen (may allocate)
//   execute(plan)             no allocation, no decisions; enqueued on the queue
// The CPU backend implements it in-process; plugins (OpenCL, NPUs) implement it behind the
// C ABI of include/ember/backend_plugin.h (planned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/op.h"
#include "ember/core/status.h"

namespace ember {

struct DeviceInfo {
  std::string name;         // "cpu", "opencl:0 (pocl)"
  std::string vendor;
  uint64_t memory_bytes = 0;
  bool host_visible = true; // buffers can be read/written through host pointers
  int threads = 1;
};

// Device memory. Host-visible buffers expose host_ptr(); others are reached via the Queue.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  virtual void* host_ptr() = 0;  // nullptr when not host-visible
};

// In-order queue of copies and executions. Events mark points in it.
class Queue {
 public:
  virtual ~Queue() = default;
  virtual Status write(Buffer& dst, size_t offset, const void* src, size_t bytes) = 0;
  virtual Status read(const Buffer& src, size_t offset, void* dst, size_t bytes) = 0;
  virtual Status synchronize() = 0;  // waits for everything enqueued so far
};

// Whether a backend can run a node, and why not.
struct Support {
  bool ok = true;
  std::string reason;  // set when !ok: "dtype Q4_K not supported for matmul"
};

// How the tokens of one step map onto KV blocks (the paged layout). Token t belongs to
// sequence seq_of_token[t] (an index into seq_blocks, local to the step) at position
// positions[t]; sequence s keeps its K/V in the blocks listed in seq_blocks[s] (block i holds
// positions [i*block_size, (i+1)*block_size)).
//
// token_style[t] says how attention sums token t's dot products, so that a token's result
// does not depend on which other tokens share its step: kStylePrompt for tokens evaluated as
// part of a multi-token prompt, kStyleDecode for tokens generated one at a time (see
// backends/cpu/ops/attention.cpp for why the two differ).
constexpr uint8_t kStyleDecode = 0;
constexpr uint8_t kStylePrompt = 1;

struct KvLayout {
  int block_size = 16;
  int n_tokens = 0;                       // tokens of this step
  const int32_t* seq_of_token = nullptr;  // [n_tokens]
  const int32_t* positions = nullptr;     // [n_tokens]
  const uint8_t* token_style = nullptr;   // [n_tokens]; nullptr: all kStylePrompt
  std::vector<const int32_t*> seq_blocks; // per sequence: its block table
  std::vector<int32_t> seq_n_blocks;      // per sequence: block table length
};

struct InputBinding {
  std::string name;   // matches an Input node's attrs.name
  const void* data;   // host memory, the node's full tensor
};

struct ExecArgs {
  std::vector<InputBinding> inputs;
  std::vector<Buffer*> kv;     // [2*layer + which]: the layer's K (0) or V (1) pool
  const KvLayout* kv_layout = nullptr;
  std::vector<void*> outputs;  // host destinations for graph.outputs, in order
};

class Plan {
 public:
  virtual ~Plan() = default;
  virtual size_t scratch_bytes() const = 0;  // activation memory the plan holds
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const DeviceInfo& info() const = 0;
  virtual Support supports(const OpGraph& graph, int node) const = 0;
  // supports() for every node of `graph` (what a placement pass asks once per device). A backend
  // that judges a whole graph in one call (a plugin) answers it directly.
  virtual std::vector<Support> supports_all(const OpGraph& graph) const {
    std::vector<Support> out(graph.nodes.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = supports(graph, static_cast<int>(i));
    return out;
  }
  // Weight preparation (graph/passes/prepare_weights.cpp), once at load: the layout in which
  // this backend's kernel for `node` would read its input `k`, a plain weight (Plain: as it
  // lies); and, for a layout it asked for, writing that weight in it to dst. A packed layout
  // has the plain weight's size in bytes (op.h).
  virtual WeightLayout weight_layout(const OpGraph& graph, int node, int k) const {
    (void)graph, (void)node, (void)k;
    return WeightLayout::Plain;
  }
  virtual Status pack_weight(const OpGraph& graph, int node, int k, void* dst) const {
    (void)graph, (void)k, (void)dst;
    return Error("backend %s asks for no weight layout (node %d)", info().name.c_str(), node);
  }
  virtual Expected<std::unique_ptr<Buffer>> alloc(size_t bytes) = 0;
  virtual Queue& queue() = 0;
  virtual Expected<std::unique_ptr<Plan>> prepare(const OpGraph& graph) = 0;
  // Enqueues the plan; results are in args.outputs after queue().synchronize().
  virtual Status execute(Plan& plan, const ExecArgs& args) = 0;
};

struct CpuOptions {
  int threads = 1;
};
Expected<std::unique_ptr<Backend>> make_cpu_backend(const CpuOptions& opts);

}  // namespace ember
