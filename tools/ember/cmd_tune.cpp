// ember tune MODEL: runs a device plugin's tuner on the shapes of a model's forward pass now,
// instead of at first use. It prepares the model's decode step (and a prefill step of
// --tokens) on the device; the OpenCL plugin times its matmul candidates for every weight type
// and shape it meets, prints a progress line per shape and caches the winners
// (~/.cache/ember/opencl-tune.txt, or $EMBER_OPENCL_TUNE_CACHE). --force re-times shapes
// already cached.
#include <cstdio>

#include "backends/plugin/plugin.h"
#include "graph/models/llama.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"

namespace ember::cli {

int cmd_tune(int argc, char** argv) {
  std::string path, device = "opencl:0";
  bool force = false;
  int64_t tokens = 1;
  Args args("tune", "Tunes a device plugin's kernels (the OpenCL matmuls) on a model's shapes and caches the choices.");
  args.positional("MODEL", &path, "path to a .gguf file");
  args.option("--device", &device, "NAME", "the device to tune (default opencl:0; see 'ember devices')");
  args.option("--tokens", &tokens, "N", "also prepare a step of N tokens (default 1: decode only)");
  args.flag("--force", &force, "re-time shapes whose choice is already cached");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;
  if (tokens < 1 || tokens > 4096) return fail("tune", "--tokens must be in 1..4096");

  plugin::Registry reg;
  reg.load_default();
  auto be = reg.open(device);
  if (!be.ok()) return fail("tune", be.message());
  using RetuneFn = void (*)(int32_t);
  auto retune = reinterpret_cast<RetuneFn>((*be)->proc("opencl_retune"));
  if (!retune) return fail("tune", "device " + device + " has no tuner (its plugin offers no 'opencl_retune' extra)");
  retune(force ? 1 : 0);

  double load_ms = 0;
  auto model = load_model_or_report("tune", path, &load_ms);
  if (!model) return 1;
  for (int64_t n : {int64_t{1}, tokens}) {
    graph::StepShape shape;
    shape.n_tokens = n;
    shape.n_outputs = 1;
    shape.block_size = 16;
    shape.kv_blocks = (n + 15) / 16 + 1;
    auto g = graph::build_llama(model->config(), *model, shape);
    if (!g.ok()) return fail("tune", g.message());
    auto plan = (*be)->prepare(*g);
    if (!plan.ok()) return fail("tune", plan.message());
    if (n == tokens) break;
  }
  std::printf("tuned %s for %s; the choices are cached for later runs\n", device.c_str(), path.c_str());
  return 0;
}

}  // namespace ember::cli
