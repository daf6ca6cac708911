// Out-of-line members of the codec interfaces: virtual destructors and the
// defaults for codecs that use no dictionary or decode one block at a time.
#include "tqf/codec.h"

#include <string>

namespace tqf {

CodecTables::~CodecTables() = default;
DictionaryBuilder::~DictionaryBuilder() = default;
Codec::~Codec() = default;

std::unique_ptr<DictionaryBuilder> Codec::NewDictionaryBuilder() const { return nullptr; }

Result<std::shared_ptr<const CodecTables>> Codec::LoadDictionary(const uint8_t* data,
                                                                 size_t size) const {
  if (uses_dictionary()) {
    return Status::NotSupported(std::string("codec '") + name() +
                                "' does not implement LoadDictionary");
  }
  return Status::InvalidArgument(std::string("codec '") + name() + "' uses no dictionary");
}

void Codec::DecodeMany(DecodeJob* jobs, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    DecodeJob& j = jobs[i];
    j.status = Decode(j.tables, j.in, j.in_size, j.out, j.out_size);
  }
}

}  // namespace tqf
