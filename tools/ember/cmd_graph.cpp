// ember graph MODEL --dump: the model's forward pass as the op graph ember executes.
#include <cstdio>

#include "graph/graph.h"
#include "graph/models/llama.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"

namespace ember::cli {

int cmd_graph(int argc, char** argv) {
  std::string path;
  bool dump = false;
  int64_t tokens = 1, outputs = 1, ctx = 256, block = 16;
  Args args("graph", "Builds a model's forward pass for one step and prints it, one node per line.");
  args.positional("MODEL", &path, "path to a .gguf file");
  args.flag("--dump", &dump, "print the graph (the default action)");
  args.option("--tokens", &tokens, "N", "tokens in the step (default 1)");
  args.option("--outputs", &outputs, "N", "rows of logits wanted (default 1)");
  args.option("-c,--ctx-size", &ctx, "N", "context the KV pool holds (default 256)");
  args.option("--kv-block", &block, "N", "tokens per KV block (default 16)");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;
  if (tokens < 1 || outputs < 1 || outputs > tokens)
    return fail("graph", "--tokens and --outputs must satisfy 1 <= outputs <= tokens");
  if (ctx < 1 || block < 1 || block > 1024) return fail("graph", "bad -c or --kv-block");
  double load_ms = 0;
  auto model = load_model_or_report("graph", path, &load_ms);
  if (!model) return 1;
  graph::StepShape shape;
  shape.n_tokens = tokens;
  shape.n_outputs = outputs;
  shape.block_size = block;
  shape.kv_blocks = (ctx + block - 1) / block;
  auto g = graph::build_llama(model->config(), *model, shape);
  if (!g.ok()) return fail("graph", g.message());
  std::fputs(graph::print(*g).c_str(), stdout);
  return 0;
}

}  // namespace ember::cli
