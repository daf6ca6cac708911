// tqf::Status: the outcome of an operation, a code plus a human-readable
// message. OK carries no allocation. No exception ever crosses the tqf API:
// every failure, including bad bytes in an untrusted file, is a Status.
//
// Messages say what failed, where, and expected vs actual, e.g.
//   "tensor 'blk.0.attn_q.weight' block 3: stored checksum 0x12.. != 0x34.."
//
// Thread-safety: a Status is a value; distinct objects may be used from
// distinct threads freely.
#ifndef TQF_STATUS_H_
#define TQF_STATUS_H_

#include <memory>
#include <string>
#include <utility>

#include "tqf/visibility.h"

namespace tqf {

enum class StatusCode : int {
  kOk = 0,
  kCorruption = 1,         // the bytes of a file are malformed
  kNotSupported = 2,       // well-formed, but a feature/type we do not handle
  kInvalidArgument = 3,    // the caller passed something unusable
  kIOError = 4,            // the operating system said no
  kNotFound = 5,           // a named thing (file, tensor, key) does not exist
  kChecksumMismatch = 6,   // bytes are intact structurally but a hash differs
  kResourceExhausted = 7,  // a size exceeds what we can allocate or a budget
  kCancelled = 8,          // the user interrupted the operation
};

// Short name of a code, e.g. "Corruption".
TQF_EXPORT const char* StatusCodeName(StatusCode code);

class [[nodiscard]] TQF_EXPORT Status {
 public:
  Status() noexcept = default;  // OK
  Status(StatusCode code, std::string message);

  static Status OK() { return Status(); }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status ChecksumMismatch(std::string msg) {
    return {StatusCode::kChecksumMismatch, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message alone (empty for OK).
  const std::string& message() const;
  // "Corruption: message", or "OK".
  std::string ToString() const;

  // Returns a copy with "context: " prepended to the message (OK stays OK).
  Status WithContext(const std::string& context) const;

  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsNotSupported() const { return code() == StatusCode::kNotSupported; }
  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsIOError() const { return code() == StatusCode::kIOError; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsChecksumMismatch() const { return code() == StatusCode::kChecksumMismatch; }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;  // null means OK
};

}  // namespace tqf

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define TQF_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::tqf::Status tqf_status_ = (expr);        \
    if (!tqf_status_.ok()) return tqf_status_; \
  } while (0)

#endif  // TQF_STATUS_H_
