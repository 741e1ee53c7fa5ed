// Subcommands of the `ember` CLI; each lives in its own cmd_<name>.cpp and returns the exit code.
#pragma once

namespace ember::cli {

int cmd_info(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_graph(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_bench_serve(int argc, char** argv);
int cmd_devices(int argc, char** argv);
int cmd_tune(int argc, char** argv);

}  // namespace ember::cli
