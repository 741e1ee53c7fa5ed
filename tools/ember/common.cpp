#include "tools/ember/common.h"

#include <chrono>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <thread>

#include "backends/plugin/plugin.h"

namespace ember::cli {

void ModelFlags::declare(Args& a) {
  a.option("-m,--model", &model, "PATH", "GGUF model file (required)");
  a.option("-t,--threads", &threads, "N", "worker threads (default: all cores)");
  a.option("-c,--ctx-size", &ctx, "N", "context size in tokens (default: 4096 or the model's, if smaller)");
  a.option("-b,--batch-size", &batch, "N", "most tokens per forward step (default 512)");
  a.option("--kv-block", &block_size, "N", "tokens per KV cache block (default 16)");
  a.option("--kv-type", &kv_type, "f16|q8_0", "KV cache element type (default f16; q8_0 takes about half)");
  a.option("--passes", &passes, "LIST",
           "graph compiler passes: -NAME switches one off, none switches all off (default: all on)");
  declare_placement_flags(a, &device, &split);
}

void declare_placement_flags(Args& a, std::string* device, std::string* split) {
  a.option("--device", device, "DEV",
           "where the graph runs: cpu (default), a device of 'ember devices' (opencl:0, npu-ref:0; the "
           "CPU takes what it declines), or auto (by capability and a cost estimate)");
  a.option("--split", split, "layers:R=DEV,...",
           "layer ranges per device, e.g. layers:0-14=opencl:0,15-29=cpu (layers in no range: cpu)");
}

Expected<std::vector<runtime::SessionDevice>> open_devices(const graph::PlacementPolicy& policy) {
  if (policy.kind == graph::PlacementPolicy::Kind::None) return std::vector<runtime::SessionDevice>{};
  plugin::Registry reg;
  reg.load_default();
  std::vector<std::string> want = policy.named_devices();
  std::string present = "cpu";
  for (const plugin::PluginRecord& p : reg.plugins())
    for (const plugin::PluginDevice& d : p.devices) {
      present += ", " + d.info.name;
      if (policy.kind == graph::PlacementPolicy::Kind::Auto) want.push_back(d.info.name);
    }
  std::vector<runtime::SessionDevice> devices;
  for (const std::string& name : want) {
    auto be = reg.open(name);
    if (!be.ok())
      return Error("unknown device '%s' (present: %s; see 'ember devices')", name.c_str(), present.c_str());
    devices.push_back({name, std::move(be).value()});
  }
  return devices;
}

Expected<std::unique_ptr<runtime::Session>> create_session(const runtime::Model& model,
                                                           const runtime::SessionOptions& so) {
  if (so.placement.kind == graph::PlacementPolicy::Kind::None) return runtime::Session::create(model, so);
  EMBER_ASSIGN_OR_RETURN(std::vector<runtime::SessionDevice> devices, open_devices(so.placement));
  return runtime::Session::create(model, so, std::move(devices));
}

Status ModelFlags::to_options(runtime::SessionOptions* o) const {
  if (model.empty()) return Error("a model is required (-m PATH)");
  int64_t t = threads;
  if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  if (t < 1 || t > 256) return Error("-t must be between 1 and 256 (got %lld)", (long long)threads);
  if (ctx < 0 || ctx > (1 << 24)) return Error("-c must be between 1 and 16777216 (got %lld)", (long long)ctx);
  if (batch < 1 || batch > 8192) return Error("-b must be between 1 and 8192 (got %lld)", (long long)batch);
  if (block_size < 1 || block_size > 1024)
    return Error("--kv-block must be between 1 and 1024 (got %lld)", (long long)block_size);
  EMBER_ASSIGN_OR_RETURN(o->passes.disabled, graph::parse_pass_list(passes));
  EMBER_ASSIGN_OR_RETURN(o->placement, graph::parse_placement(device, split));
  o->threads = static_cast<int>(t);
  o->n_ctx = static_cast<int32_t>(ctx);
  o->n_batch = static_cast<int32_t>(batch);
  o->block_size = static_cast<int32_t>(block_size);
  if (kv_type == "f16") o->kv_type = DType::F16;
  else if (kv_type == "q8_0") o->kv_type = DType::Q8_0;
  else return Error("--kv-type must be f16 or q8_0 (got '%s')", kv_type.c_str());
  return Status::Ok();
}

void SamplingFlags::declare(Args& a) {
  a.option("--temp", &temp, "T", "temperature, 0 = greedy (default 0.8)");
  a.option("--top-k", &top_k, "K", "keep the K most likely tokens, 0 = off (default 40)");
  a.option("--top-p", &top_p, "P", "nucleus sampling mass in (0,1] (default 0.95)");
  a.option("--min-p", &min_p, "P", "drop tokens below P x the best one's probability (default 0.05)");
  a.option("--repeat-penalty", &repeat_penalty, "X", "repetition penalty, 1 = off (default 1.0)");
  a.option("--frequency-penalty", &freq, "X", "frequency penalty (default 0)");
  a.option("--presence-penalty", &presence, "X", "presence penalty (default 0)");
  a.option("--repeat-last-n", &repeat_last_n, "N", "tokens the penalties look back over (default 64)");
  a.option("-s,--seed", &seed, "N", "random seed (default 0)");
}

runtime::SamplerParams SamplingFlags::params() const {
  runtime::SamplerParams p;
  p.temperature = static_cast<float>(temp);
  p.top_k = static_cast<int32_t>(std::clamp<int64_t>(top_k, -1, INT32_MAX));
  p.top_p = static_cast<float>(top_p);
  p.min_p = static_cast<float>(min_p);
  p.repeat_penalty = static_cast<float>(repeat_penalty);
  p.frequency_penalty = static_cast<float>(freq);
  p.presence_penalty = static_cast<float>(presence);
  p.penalty_window = static_cast<int32_t>(std::clamp<int64_t>(repeat_last_n, -1, INT32_MAX));
  p.seed = static_cast<uint64_t>(seed);
  return p;
}

std::unique_ptr<runtime::Model> load_model_or_report(const std::string& cmd, const std::string& path,
                                                     double* load_ms) {
  auto t0 = std::chrono::steady_clock::now();
  auto m = runtime::Model::load(path);
  if (!m.ok()) {
    fail(cmd, m.message());
    return nullptr;
  }
  *load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return std::move(m).value();
}

void print_stats(const runtime::GenerationStats& st, double load_ms, runtime::Session& s) {
  std::fprintf(stderr, "\n[ember] threads %d | load %.1f ms | prompt %d tokens, %.1f ms, %.2f tok/s | "
               "generated %d tokens, %.1f ms, %.2f tok/s | kv cache %.1f MiB | peak memory %.1f MiB\n",
               s.options().threads, load_ms, st.n_prompt, st.prompt_ms, st.prompt_ms > 0 ? st.n_prompt * 1000.0 / st.prompt_ms : 0.0,
               st.n_gen, st.gen_ms, st.gen_ms > 0 ? st.n_gen * 1000.0 / st.gen_ms : 0.0,
               s.kv().bytes() / 1048576.0, runtime::peak_rss_bytes() / 1048576.0);
}

}  // namespace ember::cli
