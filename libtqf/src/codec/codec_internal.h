// Internal declarations shared by the codec implementations: the singleton
// accessors the registry lists, and little-endian load/store helpers.
#ifndef TQF_SRC_CODEC_CODEC_INTERNAL_H_
#define TQF_SRC_CODEC_CODEC_INTERNAL_H_

#include <cstdint>
#include <cstring>

#include "tqf/codec.h"
#include "util/bytes.h"

namespace tqf::codec_internal {

// The singletons, one per CodecKind (see codec_registry.cc).
const Codec* RawCodec();
const Codec* Dict4Codec();
const Codec* RansCodec();
const Codec* RansAliasCodec();
const Codec* RansAliasVqCodec();

// Little-endian loads and stores: LoadLE16/32, StoreLE16/32 from util/bytes.h.

}  // namespace tqf::codec_internal

#endif  // TQF_SRC_CODEC_CODEC_INTERNAL_H_
