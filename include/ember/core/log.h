// Warnings for the user (a model missing optional metadata, a value ignored). One line on
// stderr each, prefixed "ember: warning: ". Embedders and the fuzzer can silence them.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace ember {

inline std::atomic<bool>& warnings_enabled() {
  static std::atomic<bool> on{true};
  return on;
}

inline void set_warnings_enabled(bool on) { warnings_enabled().store(on); }

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
inline void warn(const char* fmt, ...) {
  if (!warnings_enabled().load(std::memory_order_relaxed)) return;
  std::fputs("ember: warning: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

}  // namespace ember
