// ember: command-line entry point. Dispatches to one subcommand.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/ember/commands.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"info", ember::cli::cmd_info, "show a model's architecture, tokenizer and tensors"},
    {"run", ember::cli::cmd_run, "generate text from a prompt (--chat for a chat reply)"},
    {"chat", ember::cli::cmd_chat, "interactive chat; the KV cache is kept across turns"},
    {"graph", ember::cli::cmd_graph, "print the forward pass graph (--dump)"},
    {"bench", ember::cli::cmd_bench, "measure prompt (pp) and generation (tg) speed, like llama-bench"},
    {"bench-serve", ember::cli::cmd_bench_serve, "load-test the serving engine (throughput, TTFT/TPOT, KV use)"},
    {"devices", ember::cli::cmd_devices, "list the CPU and plugin devices, what each runs, and refused plugins"},
    {"tune", ember::cli::cmd_tune, "tune a device plugin's kernels (OpenCL matmuls) on a model's shapes"},
    {"tokenize", ember::cli::cmd_tokenize, "turn text into token ids with a model's tokenizer"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: ember <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'ember <command> --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("ember 0.1.0\n");
    return 0;
  }
  for (const Command& c : kCommands)
    if (cmd == c.name) return c.fn(argc - 1, argv + 1);
  std::fprintf(stderr, "ember: unknown command '%s' (see 'ember --help')\n", cmd.c_str());
  return 2;
}
