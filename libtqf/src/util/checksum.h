// XXH3-64 with seed 0: the one checksum of the .tqf format.
#ifndef TQF_UTIL_CHECKSUM_H_
#define TQF_UTIL_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

namespace tqf {

uint64_t Checksum64(const void* data, size_t size);

// Incremental form, for bytes that arrive in pieces.
class Checksum64Stream {
 public:
  Checksum64Stream();
  ~Checksum64Stream();
  Checksum64Stream(const Checksum64Stream&) = delete;
  Checksum64Stream& operator=(const Checksum64Stream&) = delete;
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  void* state_;
};

}  // namespace tqf

#endif  // TQF_UTIL_CHECKSUM_H_
