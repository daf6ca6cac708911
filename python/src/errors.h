// tqf.Error and its subclasses, one per tqf::StatusCode, and the helpers
// the bindings use to turn a Status into a Python exception.
//
// Every binding reports a failure by throwing StatusError (Check, Unwrap);
// a translator registered by BindErrors raises the matching Python class
// with str(e) == Status::ToString() ("Corruption: ..."), the text `tqf CMD:`
// prints after its prefix, and e.code (the StatusCode number) and e.message
// (the message alone). No other C++ exception is thrown on purpose; any
// that escapes (std::bad_alloc) becomes pybind11's MemoryError/RuntimeError,
// never a crash.
//
// Thread-safety: throwing needs no GIL; translation happens with it held.
#ifndef TQF_PYTHON_ERRORS_H_
#define TQF_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include <exception>
#include <string>
#include <utility>

#include "tqf/result.h"
#include "tqf/status.h"

namespace tqf::python {

class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)), what_(status_.ToString()) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Status status_;
  std::string what_;
};

// Throws StatusError unless `status` is OK.
inline void Check(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

// The value of `result`, or throws StatusError.
template <typename T>
T Unwrap(Result<T> result) {
  if (!result.ok()) throw StatusError(result.status());
  return std::move(result).value();
}

// Throws InvalidArgumentError(message): for bad arguments from Python.
[[noreturn]] inline void ThrowInvalidArgument(std::string message) {
  throw StatusError(Status::InvalidArgument(std::move(message)));
}

// Creates tqf.Error and its subclasses in `m` and registers the translator.
void BindErrors(pybind11::module_& m);

}  // namespace tqf::python

#endif  // TQF_PYTHON_ERRORS_H_
