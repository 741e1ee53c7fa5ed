// A small declarative flag parser shared by the subcommands: each command declares its
// flags and positionals, gets --help for free, and any bad flag is one clear error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::cli {

class Args {
 public:
  Args(std::string command, std::string summary);

  // Declare options. `names` is "-m,--model" style. Defaults are whatever the target holds.
  void flag(const char* names, bool* target, const char* help);
  void option(const char* names, std::string* target, const char* metavar, const char* help);
  void option(const char* names, int64_t* target, const char* metavar, const char* help);
  void option(const char* names, double* target, const char* metavar, const char* help);
  void positional(const char* name, std::string* target, const char* help, bool required = true);

  // Parses argv (argv[0] is the command name). Returns false when the caller should exit,
  // with *exit_code set: 0 after --help, 2 after a usage error (already printed on stderr).
  bool parse(int argc, char** argv, int* exit_code);
  void print_help() const;

 private:
  enum class Kind { Flag, String, Int, Double };
  struct Opt {
    std::vector<std::string> names;
    Kind kind;
    void* target;
    std::string metavar, help;
  };
  struct Pos {
    std::string name;
    std::string* target;
    std::string help;
    bool required;
  };
  const Opt* find(const std::string& name) const;

  std::string command_, summary_;
  std::vector<Opt> opts_;
  std::vector<Pos> pos_;
};

// Prints "ember <cmd>: <message>" on stderr and returns 1 (for `return fail(...)`).
int fail(const std::string& command, const std::string& message);

}  // namespace ember::cli
