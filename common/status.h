// Status and Result<T>: the one error type of hostca (STYLE.md rule 4).
//
// A Status carries a generic Code (which the HTTP layer maps to a status in
// one table) and a stable, more specific `reason` string that is shown to API
// clients as the error code (for example "token_expired"). When no reason is
// given the reason is the code's name ("invalid_argument").
//
// Thread safety: value types; distinct objects may be used concurrently.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hostca {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kResourceExhausted,
  kUnavailable,
  kInternal,
};

// Stable snake_case name of a code ("invalid_argument").
std::string_view CodeName(Code code);

// The code an HTTP status of hostca's API stands for: the inverse of the
// server's HttpStatusFor (server/http_util.h), for clients of the API.
Code CodeForHttpStatus(int http_status);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message, std::string reason = {})
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The stable error code shown to clients: the reason if set, else CodeName(code).
  std::string reason() const { return reason_.empty() ? std::string(CodeName(code_)) : reason_; }
  // "code: message" for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

  // Marks a status as deliberately unchecked.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string reason_;
};

inline Status InvalidArgument(std::string msg, std::string reason = {}) {
  return Status(Code::kInvalidArgument, std::move(msg), std::move(reason));
}
inline Status Unauthenticated(std::string msg, std::string reason = {}) {
  return Status(Code::kUnauthenticated, std::move(msg), std::move(reason));
}
inline Status PermissionDenied(std::string msg, std::string reason = {}) {
  return Status(Code::kPermissionDenied, std::move(msg), std::move(reason));
}
inline Status NotFound(std::string msg, std::string reason = {}) {
  return Status(Code::kNotFound, std::move(msg), std::move(reason));
}
inline Status AlreadyExists(std::string msg, std::string reason = {}) {
  return Status(Code::kAlreadyExists, std::move(msg), std::move(reason));
}
inline Status Conflict(std::string msg, std::string reason = {}) {
  return Status(Code::kConflict, std::move(msg), std::move(reason));
}
inline Status ResourceExhausted(std::string msg, std::string reason = {}) {
  return Status(Code::kResourceExhausted, std::move(msg), std::move(reason));
}
inline Status Unavailable(std::string msg, std::string reason = {}) {
  return Status(Code::kUnavailable, std::move(msg), std::move(reason));
}
inline Status Internal(std::string msg, std::string reason = {}) {
  return Status(Code::kInternal, std::move(msg), std::move(reason));
}

// Result<T>: either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK status when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hostca

// Propagation helpers. HOSTCA_RETURN_IF_ERROR(expr) returns the Status of a
// failed Status-returning expression; HOSTCA_ASSIGN_OR_RETURN(lhs, expr)
// unwraps a Result or returns its Status.
#define HOSTCA_CONCAT_INNER(a, b) a##b
#define HOSTCA_CONCAT(a, b) HOSTCA_CONCAT_INNER(a, b)

#define HOSTCA_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::hostca::Status hostca_st_ = (expr);    \
    if (!hostca_st_.ok()) return hostca_st_; \
  } while (0)

#define HOSTCA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define HOSTCA_ASSIGN_OR_RETURN(lhs, expr) \
  HOSTCA_ASSIGN_OR_RETURN_IMPL(HOSTCA_CONCAT(hostca_res_, __LINE__), lhs, expr)
