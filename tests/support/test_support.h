// Helpers shared by the test binaries: where goldens and models live, tiny file I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::test {

// tests/data/<rel>
std::string data_path(const std::string& rel);
// The default model (models/SmolLM2-135M-Instruct.Q4_1.gguf), or "" when it is not fetched.
std::string default_model_path();
std::vector<uint8_t> read_file(const std::string& path);
std::string read_text(const std::string& path);
bool file_exists(const std::string& path);

// A scratch folder for this test process (created once, under /tmp).
std::string tmp_dir();
// Single-quotes `s` for the shell.
std::string shell_quote(const std::string& s);

struct CliResult {
  int code = -1;  // exit status; 128 + signal when killed
  std::string out, err;
};
// Runs the built `ember` binary with `args` (shell words), feeding `stdin_text`.
CliResult run_ember(const std::string& args, const std::string& stdin_text = "");

}  // namespace ember::test
