// The codec registry: every codec this build knows, by kind and by name.
// Adding a codec: one file implementing Codec and one line in kCodecs.
#include <string_view>
#include <vector>

#include "codec/codec_internal.h"
#include "tqf/codec.h"

namespace tqf {
namespace {

// In CodecKind order.
const Codec* const* Codecs(size_t* n) {
  static const Codec* const kCodecs[] = {
      codec_internal::RawCodec(),         codec_internal::Dict4Codec(),
      codec_internal::RansCodec(),        codec_internal::RansAliasCodec(),
      codec_internal::RansAliasVqCodec(),
  };
  *n = sizeof(kCodecs) / sizeof(kCodecs[0]);
  return kCodecs;
}

}  // namespace

const Codec* FindCodec(CodecKind kind) {
  size_t n;
  const Codec* const* codecs = Codecs(&n);
  for (size_t i = 0; i < n; ++i) {
    if (codecs[i]->kind() == kind) return codecs[i];
  }
  return nullptr;
}

const Codec* FindCodecByName(std::string_view name) {
  size_t n;
  const Codec* const* codecs = Codecs(&n);
  for (size_t i = 0; i < n; ++i) {
    if (name == codecs[i]->name()) return codecs[i];
  }
  return nullptr;
}

std::vector<const Codec*> AllCodecs() {
  size_t n;
  const Codec* const* codecs = Codecs(&n);
  return std::vector<const Codec*>(codecs, codecs + n);
}

const Codec* DefaultCodec() { return codec_internal::RansAliasCodec(); }

std::vector<const Codec*> ByteCodecs() {
  std::vector<const Codec*> out;
  for (const Codec* c : AllCodecs()) {
    if (!c->uses_codebook()) out.push_back(c);
  }
  return out;
}

}  // namespace tqf
