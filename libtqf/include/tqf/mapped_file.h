// MappedFile: a read-only memory mapping of a whole file (POSIX mmap), with
// page-cache hints, and reads of its bytes that bypass the mapping.
//
// Ownership: the mapping (and the file descriptor Read uses) lives as long
// as the MappedFile; pointers from data() are valid until it is destroyed.
// Thread-safety: immutable after Open; hints and reads may be issued from
// any thread.
#ifndef TQF_MAPPED_FILE_H_
#define TQF_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tqf/result.h"
#include "tqf/visibility.h"

namespace tqf {

class TQF_EXPORT MappedFile {
 public:
  // Maps `path` read-only. kNotFound if it does not exist, kIOError for
  // other failures (with errno text). An empty file maps to size() == 0.
  static Result<std::shared_ptr<const MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // madvise hints over [offset, offset+size) (rounded out to pages; ranges
  // past the end are clipped). Failures are ignored: hints are advisory.
  void WillNeed(size_t offset, size_t size) const;
  void DontNeed(size_t offset, size_t size) const;
  void Sequential() const;
  void Random() const;
  // Copies [offset, offset + size) of the file into out[0..size) with
  // pread: no page of the mapping is touched, so a caller that reads each
  // byte once (decoding a stream block by block) takes no page faults and
  // leaves nothing mapped to release. Reads what the file holds now:
  // kIOError naming the file and range if it ends before offset + size
  // (truncated since Open) or the read fails; kInvalidArgument for a range
  // outside [0, size()).
  Status Read(uint64_t offset, size_t size, uint8_t* out) const;

 private:
  MappedFile() = default;
  void Advise(size_t offset, size_t size, int advice) const;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;  // kept open for Read
  std::string path_;
};

}  // namespace tqf

#endif  // TQF_MAPPED_FILE_H_
