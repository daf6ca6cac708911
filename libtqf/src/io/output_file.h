// AtomicOutputFile: writes "<path>.tmp.<random>" (created with O_EXCL |
// O_NOFOLLOW) and renames it onto <path> only on Commit(), after fsync. An
// existing <path> that is not a regular file is refused (kInvalidArgument),
// at Create and again at Commit. If the object is destroyed uncommitted the
// temporary file is removed; while it is open its path is registered for
// RemoveTempFilesForSignal (tqf/cleanup.h), so a program that installs the
// signal cleanup never leaves a half-written output at <path> or beside it.
//
// Thread-safety: one thread uses an AtomicOutputFile.
#ifndef TQF_IO_OUTPUT_FILE_H_
#define TQF_IO_OUTPUT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tqf/result.h"

namespace tqf {

// OK if `path` is absent or a regular file (not followed if a symlink);
// kInvalidArgument naming what it is otherwise.
Status CheckReplaceable(const std::string& path);

class AtomicOutputFile {
 public:
  static Result<std::unique_ptr<AtomicOutputFile>> Create(const std::string& path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  // Appends (buffered).
  Status Append(const void* data, size_t size);
  // Appends zero bytes up to the next multiple of `alignment`.
  Status PadTo(uint64_t alignment);
  // Writes at an absolute offset already written (flushes first).
  Status WriteAt(uint64_t offset, const void* data, size_t size);
  uint64_t offset() const { return offset_; }
  // Flushes, fsyncs, renames onto the final path and fsyncs the directory.
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  AtomicOutputFile() = default;
  Status Flush();
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  int slot_ = -1;  // signal-cleanup registration
  uint64_t offset_ = 0;
  std::vector<uint8_t> buf_;
  bool committed_ = false;
};

}  // namespace tqf

#endif  // TQF_IO_OUTPUT_FILE_H_
