// Internal declarations shared by the codec implementations: the singleton
// accessors the registry lists, and little-endian load/store helpers.
#ifndef TQF_SRC_CODEC_CODEC_INTERNAL_H_
#define TQF_SRC_CODEC_CODEC_INTERNAL_H_

#include <cstdint>
#include <cstring>

#include "tqf/codec.h"

namespace tqf::codec_internal {

// The singletons, one per CodecKind (see codec_registry.cc).
const Codec* RawCodec();
const Codec* Dict4Codec();
const Codec* RansCodec();

// Little-endian loads and stores (the library targets little-endian hosts;
// memcpy keeps them alignment-safe).
inline uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void Store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace tqf::codec_internal

#endif  // TQF_SRC_CODEC_CODEC_INTERNAL_H_
