// Status: the outcome of an operation that can fail, as a value.
//
// Kindred never lets an exception cross a component boundary. Anything that
// can fail for reasons outside the program's control (disk, network, user
// input, a peer) returns a Status or a Result<T> (see result.h).
//
// Messages name the problem for a person to read. They never contain key
// material or the plaintext of a user's entry.
#ifndef KINDRED_STATUS_H_
#define KINDRED_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

namespace kindred {

// The kind of failure. Callers branch on the code; the message is for people.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input or usage from the caller or user
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // creating something that is already there
  kFailedPrecondition,  // the system is not in a state to do this (e.g. no device yet)
  kCorruption,          // stored or received bytes failed a check
  kUnauthenticated,     // a key, passphrase or signature did not verify
  kPermissionDenied,    // authenticated but not allowed
  kBusy,                // the resource is held by someone else (e.g. store lock)
  kIOError,             // the operating system refused
  kUnavailable,         // a peer or service could not be reached
  kInternal,            // a bug in Kindred
};

// Returns a short lowercase name for `code`, e.g. "invalid argument".
std::string_view StatusCodeName(StatusCode code);

// An error code and message, or OK. Cheap to copy when OK. Thread-compatible.
class [[nodiscard]] Status {
 public:
  // Constructs OK.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, std::move(msg)}; }
  static Status Busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "code name: message", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is `context + ": " + message()`. OK stays OK.
  Status WithContext(std::string_view context) const;

  // Explicitly discards the status. Use only where failure truly does not matter.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace kindred

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define KINDRED_RETURN_IF_ERROR(expr)               \
  do {                                              \
    ::kindred::Status kindred_status_ = (expr);     \
    if (!kindred_status_.ok()) return kindred_status_; \
  } while (0)

#endif  // KINDRED_STATUS_H_
