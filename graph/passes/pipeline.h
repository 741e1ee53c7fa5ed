// The graph compiler's pipeline: the fixed, ordered list of passes (pipeline.cpp) and the
// options that switch passes off, dump the graph after one, and verify between passes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/passes/pass.h"

namespace ember::graph {

// Every pass of the pipeline, in order.
const std::vector<Pass>& pipeline();

struct PipelineOptions {
#ifdef NDEBUG
  static constexpr bool kVerifyByDefault = false;
#else
  static constexpr bool kVerifyByDefault = true;
#endif
  std::vector<std::string> disabled;  // pass names switched off
  // Re-check the graph (verify, and the memory plan when there is one) after every pass.
  // On in debug builds, and wherever EMBER_VERIFY_PASSES=1 is set (ctest sets it for every
  // test, so every graph any test compiles is verified between passes).
  bool verify = kVerifyByDefault;
  // Called after each pass that ran, with its name and the graph it left.
  std::function<void(const Pass&, const OpGraph&)> after_pass;
};

// Parses a --passes value: comma-separated pass names, each prefixed with '-' (switch it off)
// or '+' / nothing (keep it on); "none" switches every pass off, "all" every pass on, and
// later items override earlier ones ("none,+plan-memory"). Returns the names switched off.
// An unknown name is an error that lists the known ones.
Expected<std::vector<std::string>> parse_pass_list(const std::string& spec);

// Whether `name` is a pass of the pipeline.
bool is_pass_name(const std::string& name);

// Runs every pass not disabled, in order. An error names the pass that failed or whose
// result did not verify.
Status run_pipeline(OpGraph& g, const PassContext& ctx, const PipelineOptions& opts);

}  // namespace ember::graph
