// Little-endian loads/stores and overflow-safe range arithmetic.
#ifndef TQF_UTIL_BYTES_H_
#define TQF_UTIL_BYTES_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace tqf {

inline uint16_t LoadLE16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline uint32_t LoadLE32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 and aarch64 Linux are little-endian; see CMake check
}
inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void StoreLE16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void StoreLE32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void StoreLE64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// True iff [offset, offset+size) lies within [begin, end), computed without
// overflow.
inline bool RangeWithin(uint64_t offset, uint64_t size, uint64_t begin, uint64_t end) {
  return begin <= end && offset >= begin && offset <= end && size <= end - offset;
}

inline uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// "0x1f2e..." for messages.
inline std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace tqf

#endif  // TQF_UTIL_BYTES_H_
