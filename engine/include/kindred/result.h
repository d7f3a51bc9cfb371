// Result<T>: a value of type T, or the Status saying why there is none.
#ifndef KINDRED_RESULT_H_
#define KINDRED_RESULT_H_

#include <cassert>
#include <utility>
#include <variant>

#include "kindred/status.h"

namespace kindred {

// Holds either a T or a non-OK Status. Accessing value() on an error is a
// programming bug (debug assert). Thread-compatible.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or from an error status, so functions can
  // `return value;` or `return Status::NotFound(...)`.
  Result(T value) : v_(std::move(value)) {}  // NOLINT
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }

  // The error, or OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kindred

#define KINDRED_CONCAT_INNER_(a, b) a##b
#define KINDRED_CONCAT_(a, b) KINDRED_CONCAT_INNER_(a, b)

// KINDRED_ASSIGN_OR_RETURN(auto x, Expr()); declares x from a Result's value,
// or returns the Result's status from the enclosing function.
#define KINDRED_ASSIGN_OR_RETURN(lhs, expr) \
  KINDRED_ASSIGN_OR_RETURN_IMPL_(KINDRED_CONCAT_(kindred_result_, __LINE__), lhs, expr)
#define KINDRED_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // KINDRED_RESULT_H_
