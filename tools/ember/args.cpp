#include "tools/ember/args.h"

#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace ember::cli {

Args::Args(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

static std::vector<std::string> split_names(const char* names) {
  std::vector<std::string> out;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, ',')) out.push_back(n);
  return out;
}

void Args::flag(const char* names, bool* target, const char* help) {
  opts_.push_back({split_names(names), Kind::Flag, target, "", help});
}
void Args::option(const char* names, std::string* target, const char* metavar, const char* help) {
  opts_.push_back({split_names(names), Kind::String, target, metavar, help});
}
void Args::option(const char* names, int64_t* target, const char* metavar, const char* help) {
  opts_.push_back({split_names(names), Kind::Int, target, metavar, help});
}
void Args::option(const char* names, double* target, const char* metavar, const char* help) {
  opts_.push_back({split_names(names), Kind::Double, target, metavar, help});
}
void Args::positional(const char* name, std::string* target, const char* help, bool required) {
  pos_.push_back({name, target, help, required});
}

const Args::Opt* Args::find(const std::string& name) const {
  for (const Opt& o : opts_)
    for (const std::string& n : o.names)
      if (n == name) return &o;
  return nullptr;
}

int fail(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "ember %s: %s\n", command.c_str(), message.c_str());
  return 1;
}

bool Args::parse(int argc, char** argv, int* exit_code) {
  size_t next_pos = 0;
  auto usage_error = [&](const std::string& msg) {
    std::fprintf(stderr, "ember %s: %s (see 'ember %s --help')\n", command_.c_str(), msg.c_str(),
                 command_.c_str());
    *exit_code = 2;
    return false;
  };
  bool only_positionals = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!only_positionals && (a == "-h" || a == "--help")) {
      print_help();
      *exit_code = 0;
      return false;
    }
    if (!only_positionals && a == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && a.size() > 1 && a[0] == '-' &&
        !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      std::string value;
      bool has_inline = false;
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
      const Opt* o = find(a);
      if (!o) return usage_error("unknown option '" + a + "'");
      if (o->kind == Kind::Flag) {
        if (has_inline) return usage_error("option '" + a + "' takes no value");
        *static_cast<bool*>(o->target) = true;
        continue;
      }
      if (!has_inline) {
        if (i + 1 >= argc) return usage_error("option '" + a + "' needs a value (" + o->metavar + ")");
        value = argv[++i];
      }
      if (o->kind == Kind::String) {
        *static_cast<std::string*>(o->target) = value;
      } else if (o->kind == Kind::Int) {
        errno = 0;
        char* end = nullptr;
        long long v = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno == ERANGE)
          return usage_error("option '" + a + "' expects an integer, got '" + value + "'");
        *static_cast<int64_t*>(o->target) = v;
      } else {
        errno = 0;
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
          return usage_error("option '" + a + "' expects a number, got '" + value + "'");
        *static_cast<double*>(o->target) = v;
      }
      continue;
    }
    if (next_pos >= pos_.size()) return usage_error("unexpected argument '" + a + "'");
    *pos_[next_pos++].target = a;
  }
  for (size_t k = next_pos; k < pos_.size(); ++k)
    if (pos_[k].required) return usage_error("missing argument " + pos_[k].name);
  return true;
}

void Args::print_help() const {
  std::printf("usage: ember %s [options]", command_.c_str());
  for (const Pos& p : pos_) std::printf(p.required ? " %s" : " [%s]", p.name.c_str());
  std::printf("\n\n%s\n", summary_.c_str());
  if (!pos_.empty()) {
    std::printf("\narguments:\n");
    for (const Pos& p : pos_) std::printf("  %-24s %s\n", p.name.c_str(), p.help.c_str());
  }
  std::printf("\noptions:\n");
  for (const Opt& o : opts_) {
    std::string n;
    for (const std::string& s : o.names) n += (n.empty() ? "" : ", ") + s;
    if (!o.metavar.empty()) n += " " + o.metavar;
    std::printf("  %-24s %s\n", n.c_str(), o.help.c_str());
  }
  std::printf("  %-24s %s\n", "-h, --help", "show this help");
}

}  // namespace ember::cli
