// The `raw` codec: a block is stored as its bytes, unchanged.
#include <cstring>
#include <string>

#include "codec/codec_internal.h"

namespace tqf::codec_internal {
namespace {

class RawCodecImpl final : public Codec {
 public:
  CodecKind kind() const override { return CodecKind::kRaw; }
  const char* name() const override { return "raw"; }
  bool uses_dictionary() const override { return false; }

  Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                std::vector<uint8_t>* out) const override {
    out->insert(out->end(), in, in + size);
    return Status::OK();
  }

  Status Decode(const CodecTables* tables, const uint8_t* in, size_t in_size, uint8_t* out,
                size_t out_size) const override {
    if (in_size != out_size) {
      return Status::Corruption("raw block: stored size " + std::to_string(in_size) +
                                " != decoded size " + std::to_string(out_size));
    }
    if (out_size != 0) std::memcpy(out, in, out_size);
    return Status::OK();
  }
};

}  // namespace

const Codec* RawCodec() {
  static const RawCodecImpl kCodec;
  return &kCodec;
}

}  // namespace tqf::codec_internal
