// The pipeline, in the order the passes run. Read top to bottom:
//   1. device-independent clean-up: dce (nothing unread), cse (nothing computed twice);
//   1b. placement (only with a policy: --device/--split): each node on a device, transfers
//      between devices; every later pass asks the node's own device what it runs;
//   2. merges that make fewer, wider matmuls (they must see plain matmuls, so they run
//      before the fusions that absorb an add into a matmul);
//   3. fusions, each only where the backend says it runs the fused op (the rewrites drop
//      the nodes they absorb, so they leave nothing dead behind); fuse-norm-matmul fuses
//      what fuse-rms-norm-mul made, so it comes after it;
//   4. weight preparation: each weight repacked once into the layout its node's kernel reads
//      (it asks the backend about the final, fused nodes);
//   5. memory planning last, over the final schedule.
// Every pass is optional: the graph the builder makes runs as it is, and a backend gives an
// unplanned graph a naive memory layout.
#include "graph/passes/pipeline.h"

#include <algorithm>
#include <cstdlib>

#include "graph/graph.h"

namespace ember::graph {

const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {"dce", "every node is an output, a kv_write (kv_write_rope) or read by a live node", run_dce},
      {"cse", "no two nodes compute the same value", run_cse},
      {"place", "every node has a device that runs it; values cross devices only through transfers", run_place},
      {"merge-qkv", "no three plain matmuls read one activation (Q/K/V are one matmul_cat)", run_merge_qkv},
      {"merge-gate-up", "no gate/up matmul pair feeding a silu_mul (one matmul_cat, halves read in place)",
       run_merge_gate_up},
      {"fuse-rms-norm-mul", "no rms_norm read only by a mul by its weight (one rms_norm_mul)",
       run_fuse_rms_norm_mul},
      {"fuse-norm-matmul", "no rms_norm_mul read only by a matmul (one norm_matmul, normed while converted)",
       run_fuse_norm_matmul},
      {"fuse-matmul-add", "no matmul read only by an add (one matmul_add, the add in the epilogue)",
       run_fuse_matmul_add},
      {"fuse-rope", "no rope read only by a kv_write or an attention (rotated while stored or loaded)",
       run_fuse_rope},
      {"prepare-weights", "every weight is in the layout its backend's kernels ask for (packed once, at load)",
       run_prepare_weights},
      {"plan-memory", "every arena node has a block; blocks overlap only if lifetimes do not", run_plan_memory},
  };
  return passes;
}

bool is_pass_name(const std::string& name) {
  for (const Pass& p : pipeline())
    if (name == p.name) return true;
  return false;
}

Expected<std::vector<std::string>> parse_pass_list(const std::string& spec) {
  std::vector<std::string> off;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    if (item == "none" || item == "all") {
      off.clear();
      if (item == "none")
        for (const Pass& p : pipeline()) off.push_back(p.name);
      continue;
    }
    const bool disable = item[0] == '-';
    const std::string name = item[0] == '-' || item[0] == '+' ? item.substr(1) : item;
    if (!is_pass_name(name)) {
      std::string known;
      for (const Pass& p : pipeline()) known += std::string(known.empty() ? "" : ", ") + p.name;
      return Error("unknown pass '%s' in --passes (known: %s; or none, all)", name.c_str(), known.c_str());
    }
    off.erase(std::remove(off.begin(), off.end(), name), off.end());
    if (disable) off.push_back(name);
  }
  return off;
}

Status run_pipeline(OpGraph& g, const PassContext& ctx, const PipelineOptions& opts) {
  static const bool env_verify = [] {
    const char* v = std::getenv("EMBER_VERIFY_PASSES");
    return v && *v && std::string(v) != "0";
  }();
  const bool verify_each = opts.verify || env_verify;
  for (const std::string& name : opts.disabled)
    if (!is_pass_name(name)) return Error("unknown pass '%s'", name.c_str());
  // Once the graph is placed, support questions go to each node's own device.
  PassContext cur = ctx;
  std::unique_ptr<Backend> placed;
  for (const Pass& p : pipeline()) {
    if (std::find(opts.disabled.begin(), opts.disabled.end(), p.name) != opts.disabled.end()) continue;
    if (!g.placement.empty() && !placed) {
      placed = make_placed_support(ctx);
      cur.backend = placed.get();
    }
    Status s = p.run(g, cur);
    if (!s.ok()) return s.with_context(std::string("pass ") + p.name);
    if (verify_each) {
      if (Status v = verify(g); !v.ok()) return v.with_context(std::string("after pass ") + p.name);
      if (Status v = verify_placement(g); !v.ok()) return v.with_context(std::string("after pass ") + p.name);
      if (Status v = verify_memory_plan(g); !v.ok()) return v.with_context(std::string("after pass ") + p.name);
    }
    if (opts.after_pass) opts.after_pass(p, g);
  }
  return Status::Ok();
}

}  // namespace ember::graph
