// ember graph MODEL --dump: the model's forward pass as the op graph ember executes, after the
// graph compiler's passes (graph/passes/pipeline.cpp), or after one named pass.
#include <cstdio>

#include "graph/graph.h"
#include "graph/models/llama.h"
#include "graph/partition.h"
#include "graph/passes/pipeline.h"
#include "tools/ember/commands.h"
#include "tools/ember/common.h"

namespace ember::cli {

int cmd_graph(int argc, char** argv) {
  std::string path, passes, dump_after, device, split;
  bool dump = false;
  int64_t tokens = 1, outputs = 1, ctx = 256, block = 16;
  Args args("graph", "Builds a model's forward pass for one step, runs the graph compiler's passes and "
                     "prints the graph, one node per line, with its planned activation memory.");
  args.positional("MODEL", &path, "path to a .gguf file");
  args.flag("--dump", &dump, "print the graph (the default action)");
  args.option("--tokens", &tokens, "N", "tokens in the step (default 1)");
  args.option("--outputs", &outputs, "N", "rows of logits wanted (default 1)");
  args.option("-c,--ctx-size", &ctx, "N", "context the KV pool holds (default 256)");
  args.option("--kv-block", &block, "N", "tokens per KV block (default 16)");
  args.option("--passes", &passes, "LIST",
              "passes to switch off: -NAME[,-NAME...], or none (default: all on)");
  args.option("--dump-after", &dump_after, "PASS", "print the graph as PASS left it ('build': before any pass)");
  declare_placement_flags(args, &device, &split);
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;
  if (tokens < 1 || outputs < 1 || outputs > tokens)
    return fail("graph", "--tokens and --outputs must satisfy 1 <= outputs <= tokens");
  if (ctx < 1 || block < 1 || block > 1024) return fail("graph", "bad -c or --kv-block");
  auto off = graph::parse_pass_list(passes);
  if (!off.ok()) return fail("graph", off.message());
  auto placement = graph::parse_placement(device, split);
  if (!placement.ok()) return fail("graph", placement.message());
  if (!dump_after.empty() && dump_after != "build") {
    if (!graph::is_pass_name(dump_after)) {
      std::string known;
      for (const graph::Pass& p : graph::pipeline()) known += std::string(", ") + p.name;
      return fail("graph", "unknown pass '" + dump_after + "' for --dump-after (known: build" + known + ")");
    }
    for (const std::string& o : *off)
      if (o == dump_after) return fail("graph", "--dump-after " + dump_after + ": that pass is switched off");
  }
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
  const size_t built_nodes = g->nodes.size();
  if (dump_after == "build") {
    std::fputs(graph::print(*g).c_str(), stdout);
    return 0;
  }

  // The backend the graph would run on answers the fusion passes' capability questions.
  CpuOptions cpu;
  auto backend = make_cpu_backend(cpu);
  if (!backend.ok()) return fail("graph", backend.message());
  graph::PassContext pctx;
  pctx.backend = backend->get();
  pctx.weights = &model->weight_store();
  auto devices = open_devices(*placement);
  if (!devices.ok()) return fail("graph", devices.message());
  if (placement->kind != graph::PlacementPolicy::Kind::None) {
    for (const std::string& o : *off)
      if (o == "place") return fail("graph", "--device/--split need the place pass, which --passes switched off");
    pctx.placement = *placement;
    pctx.devices.push_back({"cpu", backend->get()});
    for (const runtime::SessionDevice& d : *devices) pctx.devices.push_back({d.name, d.backend.get()});
  }
  graph::PipelineOptions popts;
  popts.disabled = *off;
  popts.verify = true;
  std::string ran;
  popts.after_pass = [&](const graph::Pass& p, const OpGraph& after) {
    ran += std::string(ran.empty() ? "" : ",") + p.name;
    if (dump_after == p.name) std::fputs(graph::print(after).c_str(), stdout);
  };
  if (Status s = graph::run_pipeline(*g, pctx, popts); !s.ok()) return fail("graph", s.message());
  if (!dump_after.empty()) return 0;
  std::fputs(graph::print(*g).c_str(), stdout);

  std::printf("# passes run: %s\n", ran.empty() ? "(none)" : ran.c_str());
  std::printf("# nodes: %zu built, %zu after the passes\n", built_nodes, g->nodes.size());
  size_t n_weights = 0, n_prepared = 0;
  for (const Node& n : g->nodes)
    if (n.op == OpKind::Weight) {
      ++n_weights;
      n_prepared += n.attrs.layout != WeightLayout::Plain;
    }
  std::printf("# weights: %zu of %zu in a prepared layout (%.2f MiB packed once at load)\n", n_prepared, n_weights,
              static_cast<double>(model->weight_store().packed_bytes()) / (1024.0 * 1024.0));
  uint64_t naive = 0;
  for (size_t i = 0; i < g->nodes.size(); ++i) {
    int of = -1;
    uint64_t at = 0;
    if (!is_external(g->nodes[i].op) && !is_view(*g, static_cast<int>(i), &of, &at))
      naive += (g->nodes[i].out.bytes() + 63) / 64 * 64;
  }
  if (placement->kind != graph::PlacementPolicy::Kind::None) {
    if (g->placement.empty()) {
      std::printf("# placement: every node on cpu (the devices named decline the rest or would not gain)\n");
    } else {
      auto parts = graph::partition_graph(*g, !g->memory.empty(), g->memory.alignment);
      if (!parts.ok()) return fail("graph", parts.message());
      int transfers = 0;
      uint64_t moved = 0;
      for (const Node& n : g->nodes)
        if (n.op == OpKind::Transfer) ++transfers, moved += n.out.bytes();
      std::printf("# placement: %zu partitions, %d transfers (%llu bytes) between devices\n", parts->size(),
                  transfers, (unsigned long long)moved);
      for (size_t k = 0; k < parts->size(); ++k) {
        const graph::Partition& p = (*parts)[k];
        uint64_t in_bytes = 0;
        for (int v : p.reads) in_bytes += g->nodes[v].out.bytes();
        std::printf("# partition %zu: %s, nodes %%%d..%%%d (%d nodes), reads %zu values (%llu bytes) from earlier "
                    "partitions, yields %zu, activation peak %llu bytes\n",
                    k, g->placement.devices[p.device].c_str(), p.first, p.last, p.n_nodes, p.reads.size(),
                    (unsigned long long)in_bytes, p.yields.size(), (unsigned long long)p.graph.memory.arena_bytes);
      }
    }
  }
  if (g->memory.empty()) {
    std::printf("# activation memory: not planned (plan-memory is off); naive sum %llu bytes (%.2f MiB)\n",
                (unsigned long long)naive, naive / 1048576.0);
  } else {
    const MemoryPlan& m = g->memory;
    std::printf("# activation memory: peak %llu bytes (%.2f MiB) planned vs naive sum %llu bytes (%.2f MiB): "
                "%.1f%% of naive, %.1fx less\n",
                (unsigned long long)m.arena_bytes, m.arena_bytes / 1048576.0, (unsigned long long)m.naive_bytes,
                m.naive_bytes / 1048576.0, m.naive_bytes ? 100.0 * m.arena_bytes / m.naive_bytes : 0.0,
                m.arena_bytes ? static_cast<double>(m.naive_bytes) / m.arena_bytes : 0.0);
  }
  return 0;
}

}  // namespace ember::cli
