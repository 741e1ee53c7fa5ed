#include "kernels/cpu/verbose.h"

#include <cstdlib>
#include <cstring>

namespace ember::kernels {

bool dispatch_verbose() {
  static const bool v = [] {
    const char* e = std::getenv("EMBER_VERBOSE");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return v;
}

}  // namespace ember::kernels
