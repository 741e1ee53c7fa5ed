#include "support/test_support.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

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

}  // namespace ember::test
