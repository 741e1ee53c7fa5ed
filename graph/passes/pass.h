// The pass interface of the graph compiler. A pass rewrites an OpGraph in place and
// establishes one invariant, stated in one line (and at the top of the pass's file).
// The pipeline (pipeline.h) runs the passes in one fixed, readable order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "backends/op.h"
#include "ember/core/status.h"

namespace ember::graph {

// Which device should run what (the place pass, graph/passes/place.cpp). From the CLI:
//   --device cpu | DEVICE | auto     --split layers:0-14=opencl:0,15-29=cpu
struct PlacementPolicy {
  enum class Kind : uint8_t {
    None,    // no placement: the whole graph runs on PassContext::backend (today's path)
    Device,  // every node on `device`, the CPU taking what it declines
    Split,   // each layer on the device of the range holding it; layers in no range on the CPU
    Auto,    // per node, the device with the lowest estimated time (place.cpp states the estimate)
  };
  struct Range {
    int64_t first = 0, last = 0;  // layers, inclusive
    std::string device;
  };
  Kind kind = Kind::None;
  std::string device;        // Device
  std::vector<Range> split;  // Split, in the order given
  // Every device name the policy mentions (not "cpu"); Auto mentions none (it takes all present).
  std::vector<std::string> named_devices() const;
};

// Parses --device and --split (either may be empty; both set is an error). "cpu" and "" give
// Kind::None. Each malformed value is one error naming the flag and what is wrong; layer
// ranges are checked against the model by the place pass (it knows the layer count).
Expected<PlacementPolicy> parse_placement(const std::string& device, const std::string& split);

// A device placement may use. devices[0] of a PassContext is the CPU, the fallback.
struct PlacementDevice {
  std::string name;  // "cpu", "opencl:0", "npu-ref:0"
  const Backend* backend = nullptr;
};

// What passes may consult. Passes never reach hardware: they only ask the backend whether
// it can run a node (Backend::supports).
// The weights prepare-weights has packed, kept for as long as any graph compiled with them may
// run (the model owns one): keyed by the plain bytes and the layout, so a weight is packed once
// however many step shapes are compiled. Thread-safe.
class WeightStore {
 public:
  // Called with a weight's plain bytes once they are packed (the model releases the file pages
  // behind them, so the packed copy does not add to resident memory). May be empty.
  std::function<void(const void* plain, size_t bytes)> on_packed;

  // The weight at `plain` (`bytes` long) in `layout`, packed by `pack` into fresh memory the
  // first time it is asked for. The memory is 64-byte aligned and lives as long as the store.
  Expected<const void*> get(const void* plain, size_t bytes, WeightLayout layout,
                            const std::function<Status(void* dst)>& pack);
  size_t packed_bytes() const;  // all packed weights together

 private:
  struct Freer {
    void operator()(void* p) const;
  };
  mutable std::mutex mu_;
  std::map<std::pair<const void*, WeightLayout>, std::unique_ptr<void, Freer>> packed_;
  size_t bytes_ = 0;
};

struct PassContext {
  // The backend that will run the graph. Fusing and merging passes create a node only where
  // it says it can run it; without a backend they create none. Once the graph is placed, the
  // pipeline answers for each node with the backend of the device it is placed on.
  const Backend* backend = nullptr;
  uint64_t alignment = 64;  // memory planning: offset and size granularity of arena blocks
  // Placement: the devices present ([0] the CPU) and the policy. Kind::None: place does nothing.
  std::vector<PlacementDevice> devices;
  PlacementPolicy placement;
  // Where prepare-weights keeps packed weights; without one it packs nothing.
  WeightStore* weights = nullptr;
};

struct Pass {
  const char* name;       // the name --passes and --dump-after use: "merge-qkv"
  const char* invariant;  // one line: what holds after the pass
  Status (*run)(OpGraph& g, const PassContext& ctx);
};

// The passes, each defined in its own file.
Status run_dce(OpGraph& g, const PassContext& ctx);
Status run_cse(OpGraph& g, const PassContext& ctx);
Status run_place(OpGraph& g, const PassContext& ctx);
Status run_merge_qkv(OpGraph& g, const PassContext& ctx);
Status run_merge_gate_up(OpGraph& g, const PassContext& ctx);
Status run_fuse_rms_norm_mul(OpGraph& g, const PassContext& ctx);
Status run_fuse_norm_matmul(OpGraph& g, const PassContext& ctx);
Status run_fuse_matmul_add(OpGraph& g, const PassContext& ctx);
Status run_fuse_rope(OpGraph& g, const PassContext& ctx);
Status run_prepare_weights(OpGraph& g, const PassContext& ctx);
Status run_plan_memory(OpGraph& g, const PassContext& ctx);

// Checks a placement against the graph: one device per node, weights and inputs on none, and
// every value read on another device than its writer's read through a transfer. Ok when unplaced.
Status verify_placement(const OpGraph& g);

// After placement: a Backend that only answers supports(), each node with the backend of the
// device it is placed on (a node new to the graph: the device it would inherit, rewrite.h).
std::unique_ptr<Backend> make_placed_support(const PassContext& ctx);

// Checks a memory plan against the graph: every arena node has an aligned block inside the
// arena, and no two blocks whose lifetimes overlap share a byte. Ok when the graph is unplanned.
Status verify_memory_plan(const OpGraph& g);

}  // namespace ember::graph
