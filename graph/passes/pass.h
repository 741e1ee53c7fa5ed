// The pass interface of the graph compiler. A pass rewrites an OpGraph in place and
// establishes one invariant, stated in one line (and at the top of the pass's file).
// The pipeline (pipeline.h) runs the passes in one fixed, readable order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/op.h"
#include "ember/core/status.h"

namespace ember::graph {

// What passes may consult. Passes never reach hardware: they only ask the backend whether
// it can run a node (Backend::supports).
struct PassContext {
  // The backend that will run the graph. Fusing and merging passes create a node only where
  // it says it can run it; without a backend they create none.
  const Backend* backend = nullptr;
  uint64_t alignment = 64;  // memory planning: offset and size granularity of arena blocks
};

struct Pass {
  const char* name;       // the name --passes and --dump-after use: "merge-qkv"
  const char* invariant;  // one line: what holds after the pass
  Status (*run)(OpGraph& g, const PassContext& ctx);
};

// The passes, each defined in its own file.
Status run_dce(OpGraph& g, const PassContext& ctx);
Status run_cse(OpGraph& g, const PassContext& ctx);
Status run_merge_qkv(OpGraph& g, const PassContext& ctx);
Status run_merge_gate_up(OpGraph& g, const PassContext& ctx);
Status run_fuse_rms_norm_mul(OpGraph& g, const PassContext& ctx);
Status run_fuse_norm_matmul(OpGraph& g, const PassContext& ctx);
Status run_fuse_matmul_add(OpGraph& g, const PassContext& ctx);
Status run_fuse_rope(OpGraph& g, const PassContext& ctx);
Status run_plan_memory(OpGraph& g, const PassContext& ctx);

// Checks a memory plan against the graph: every arena node has an aligned block inside the
// arena, and no two blocks whose lifetimes overlap share a byte. Ok when the graph is unplanned.
Status verify_memory_plan(const OpGraph& g);

}  // namespace ember::graph
