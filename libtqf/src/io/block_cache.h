// BlockCache: verified byte ranges of remote files on local disk, named by
// their checksum and size, so any URL or process that needs the same bytes
// finds them (a model published at two addresses, a re-run, a second
// process). Entries are written atomically (temporary file, then rename)
// and checked again when read: a bad entry is deleted and reported as a
// miss. Best effort: an I/O error only makes a miss or a lost write.
// When the total passes max_bytes, the least recently used entries go.
// Thread-safe.
#ifndef TQF_IO_BLOCK_CACHE_H_
#define TQF_IO_BLOCK_CACHE_H_

#include <cstdint>
#include <mutex>
#include <string>

#include "tqf/status.h"

namespace tqf {

class BlockCache {
 public:
  // Creates `dir` if needed (kIOError if it cannot).
  static Status Prepare(const std::string& dir);
  BlockCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  // The entry's file: DIR/ab/abcdef0123456789-SIZE (ab: the first hex byte).
  std::string PathOf(uint64_t checksum, uint64_t size) const;
  // Reads the entry into out[0..size) if it exists and its bytes check.
  bool Get(uint64_t checksum, uint64_t size, uint8_t* out);
  // Stores data[0..size), which must have `checksum`.
  void Put(uint64_t checksum, uint64_t size, const uint8_t* data);

 private:
  void EvictIfOver(uint64_t added);

  const std::string dir_;
  const uint64_t max_bytes_;
  std::mutex mu_;
  bool scanned_ = false;
  uint64_t total_ = 0;  // bytes in the directory, as of the last scan plus our writes
};

}  // namespace tqf

#endif  // TQF_IO_BLOCK_CACHE_H_
