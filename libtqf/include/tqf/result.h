// tqf::Result<T>: either a value of type T or a non-OK Status, with the
// semantics of absl::StatusOr. Accessing value() of a failed Result is a
// caller bug (checked by assert in debug builds); check ok() first or use
// TQF_ASSIGN_OR_RETURN.
//
// Thread-safety: a Result is a value, like Status.
#ifndef TQF_RESULT_H_
#define TQF_RESULT_H_

#include <cassert>
#include <optional>
#include <utility>

#include "tqf/status.h"

namespace tqf {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value and from a non-OK Status, so functions can
  // `return value;` or `return Status::Corruption(...)`.
  Result(T value) : value_(std::move(value)) {}         // NOLINT
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result constructed from an OK Status");
    if (status_.ok())
      status_ = Status(StatusCode::kInvalidArgument, "Result from OK status without value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;  // OK iff value_ is set
  std::optional<T> value_;
};

}  // namespace tqf

#define TQF_CONCAT_INNER_(a, b) a##b
#define TQF_CONCAT_(a, b) TQF_CONCAT_INNER_(a, b)
#define TQF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// `TQF_ASSIGN_OR_RETURN(auto x, Foo());` declares x from Foo()'s value, or
// returns Foo()'s Status from the enclosing function.
#define TQF_ASSIGN_OR_RETURN(lhs, expr) \
  TQF_ASSIGN_OR_RETURN_IMPL_(TQF_CONCAT_(tqf_result_, __LINE__), lhs, expr)

#endif  // TQF_RESULT_H_
