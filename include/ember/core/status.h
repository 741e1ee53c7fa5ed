// Status and Expected<T>: how every floor of ember reports a failure.
// A Status is either ok or carries one human-readable message that names what was
// bad and where (file offset, tensor name, op, value). Abort only on programmer bugs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace ember {

// A coarse kind, for callers that must react differently (the C API maps it to its status
// codes); most errors leave it at Unspecified and are told apart by their message only.
enum class ErrorCode : unsigned char { Unspecified, InvalidArgument, NotFound, Capacity, State };

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  ErrorCode code() const { return code_; }
  Status&& with_code(ErrorCode c) && {
    code_ = c;
    return std::move(*this);
  }

  // Prefixes the message with context ("loading model.gguf: ...").
  Status& with_context(const std::string& ctx) {
    if (failed_) message_ = ctx + ": " + message_;
    return *this;
  }

 private:
  Status(std::string m, bool failed) : message_(std::move(m)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
  ErrorCode code_ = ErrorCode::Unspecified;
};

// printf-style formatting for error messages.
template <typename... Args>
std::string strfmt(const char* fmt, Args... args) {
  int n = std::snprintf(nullptr, 0, fmt, args...);
  if (n <= 0) return std::string(fmt);
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, fmt, args...);
  return out;
}

template <typename... Args>
Status Error(const char* fmt, Args... args) {
  return Status::Error(strfmt(fmt, args...));
}
inline Status Error(const char* msg) { return Status::Error(msg); }
inline Status Error(const std::string& msg) { return Status::Error(msg); }

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {            // NOLINT
    if (std::get<Status>(v_).ok()) {
      std::fprintf(stderr, "ember: Expected constructed from an ok Status\n");
      std::abort();
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  const std::string& message() const { return std::get<Status>(v_).message(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ember

// Propagates a failed Status out of the current function.
#define EMBER_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::ember::Status _ember_st = (expr);        \
    if (!_ember_st.ok()) return _ember_st;     \
  } while (0)

#define EMBER_CONCAT_INNER(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_INNER(a, b)
// EMBER_ASSIGN_OR_RETURN(auto x, expr): binds x to expr's value or returns its Status.
#define EMBER_ASSIGN_OR_RETURN(lhs, expr) \
  EMBER_ASSIGN_OR_RETURN_IMPL(EMBER_CONCAT(_ember_exp_, __LINE__), lhs, expr)
#define EMBER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
