#include "support/test_support.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ember::test {

std::string data_path(const std::string& rel) { return std::string(EMBER_TEST_DATA_DIR) + "/" + rel; }

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string default_model_path() {
  if (const char* env = std::getenv("EMBER_TEST_MODEL")) return env;
  std::string p = std::string(EMBER_MODEL_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  return file_exists(p) ? p : std::string();
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string tmp_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ember-test.XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliResult run_ember(const std::string& args, const std::string& stdin_text) {
  const std::string out = tmp_dir() + "/out", err = tmp_dir() + "/err", in = tmp_dir() + "/in";
  {
    std::ofstream f(in, std::ios::binary);
    f << stdin_text;
  }
  const std::string cmd =
      std::string(EMBER_BINARY_DIR) + "/tools/ember " + args + " >" + out + " 2>" + err + " <" + in;
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace ember::test
