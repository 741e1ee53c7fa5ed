// Flags and set-up shared by the commands that load a model and generate (run, chat, bench).
#pragma once

#include <memory>
#include <string>

#include "runtime/generate.h"
#include "runtime/model/model.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tools/ember/args.h"

namespace ember::cli {

struct ModelFlags {
  std::string model;
  int64_t threads = 0;  // 0: all online cores
  int64_t ctx = 0;  // 0: min(4096, the model's training context)
  int64_t batch = 512;
  int64_t block_size = 16;
  std::string kv_type = "f16";
  std::string passes;  // --passes: graph compiler passes to switch off ("-merge-qkv,..." or "none")
  std::string device, split;  // --device, --split: placement across devices
  void declare(Args& a);
  // Fills session options, checking ranges; the message names the flag.
  Status to_options(runtime::SessionOptions* o) const;
};

// --device and --split (declared by ModelFlags; bench and graph declare them with this).
void declare_placement_flags(Args& a, std::string* device, std::string* split);

// The devices a policy needs, opened from the plugins found (<exe>/../plugins,
// $EMBER_PLUGIN_PATH; auto: every device found). An unknown device is one error naming the
// devices present.
Expected<std::vector<runtime::SessionDevice>> open_devices(const graph::PlacementPolicy& policy);

// A Session for `model` with the devices so.placement needs opened from the plugins found
// (<exe>/../plugins, $EMBER_PLUGIN_PATH; auto: every device found). An unknown device is one
// error naming the devices present.
Expected<std::unique_ptr<runtime::Session>> create_session(const runtime::Model& model,
                                                           const runtime::SessionOptions& so);

struct SamplingFlags {
  double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0, freq = 0, presence = 0;
  int64_t top_k = 40, repeat_last_n = 64, seed = 0;
  void declare(Args& a);
  runtime::SamplerParams params() const;
};

// Loads the model and prints a one-line error with the command name on failure.
std::unique_ptr<runtime::Model> load_model_or_report(const std::string& cmd, const std::string& path,
                                                     double* load_ms);

// One line on stderr: load time, prompt and generation speed, KV cache size, peak memory.
void print_stats(const runtime::GenerationStats& st, double load_ms, runtime::Session& s);

}  // namespace ember::cli
