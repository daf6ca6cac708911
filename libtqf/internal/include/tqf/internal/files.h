// Reading small input files (eval data sets, prompts, the first bytes of a
// model to detect its format) safely: opened without blocking (a FIFO is
// refused, not waited on), only regular files, and never more than a stated
// number of bytes (/dev/zero or a huge file is an error, not an
// out-of-memory abort). Large inputs (models) are memory-mapped instead
// (tqf/mapped_file.h).
// Thread-safety: reentrant.
#ifndef TQF_INTERNAL_FILES_H_
#define TQF_INTERNAL_FILES_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "tqf/result.h"

namespace tqf {

// The whole of `path` if it is a regular file of at most `max_bytes` bytes.
// kNotFound if it does not exist; kInvalidArgument if it is not a regular
// file or is larger than `max_bytes` (the message gives both sizes);
// kIOError for other failures.
Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes);

// Up to `n` first bytes of `path` (fewer if it is shorter), with the same
// checks as ReadRegularFile except the size limit.
Result<std::string> ReadFileHead(const std::string& path, size_t n);

// kInvalidArgument if `output` exists and is the same file as `input`
// (same device and inode: any spelling, a hard link, a symlink to it);
// OK if it differs or does not exist yet. For commands that write an
// output from an input (`tqf pack`, `tqf unpack`, Python's tqf.pack).
Status CheckOutputIsNotInput(const std::string& input, const std::string& output);

}  // namespace tqf

#endif  // TQF_INTERNAL_FILES_H_
